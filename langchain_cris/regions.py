"""AWS Regions and the geography presets built from them (data, not if-chains)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from langchain_cris.data import load_data_file
from langchain_cris.errors import UnknownRegionError

__all__ = ["GeographyPreset", "Region", "RegionTable", "region_table"]


@dataclass(frozen=True)
class Region:
    """One AWS Region as the bundled table describes it."""

    code: str
    name: str
    country: str
    partition: str
    eu_member_state: bool


@dataclass(frozen=True)
class GeographyPreset:
    """A named set of Regions (``eu``, ``europe``, ``global`` …) with its routing preference."""

    name: str
    description: str
    regions: frozenset[str]
    prefer: str


class RegionTable:
    """Read-only view over ``data/regions.json``; validates Region names up front."""

    def __init__(
        self,
        regions: Mapping[str, Region],
        presets: Mapping[str, GeographyPreset],
        profile_prefixes: Iterable[str] = (),
    ):
        self.regions = dict(regions)
        self.presets = dict(presets)
        #: Inference-profile id prefixes AWS uses (``eu``, ``global`` …).
        self.profile_prefixes = frozenset(profile_prefixes)
        for preset in self.presets.values():
            unknown = preset.regions - self.regions.keys()
            if unknown:
                raise ValueError(f"preset {preset.name!r} names unknown Regions {sorted(unknown)}")

    def __contains__(self, code: object) -> bool:
        return code in self.regions

    def partition_regions(self, partition: str = "aws") -> frozenset[str]:
        """All Regions of one partition (``aws`` = every commercial Region)."""
        return frozenset(r.code for r in self.regions.values() if r.partition == partition)

    def check(self, code: str) -> str:
        """Return ``code`` if it is a known Region, else raise ``UnknownRegionError``."""
        if code in self.regions:
            return code
        raise UnknownRegionError(
            code, sorted(self.regions), difflib.get_close_matches(code, self.regions, n=3)
        )

    def check_all(self, codes: Iterable[str]) -> frozenset[str]:
        return frozenset(self.check(c) for c in codes)

    def describe_set(self, codes: Iterable[str]) -> str:
        """``"all 34 commercial Regions"`` for a whole partition, else the sorted list."""
        codes = frozenset(codes)
        commercial = self.partition_regions("aws")
        if codes == commercial:
            return f"all {len(codes)} commercial Regions"
        return ", ".join(sorted(codes))

    def describe(self, code: str) -> str:
        region = self.regions.get(code)
        return f"{code} ({region.name})" if region else code


@lru_cache(maxsize=1)
def region_table() -> RegionTable:
    """The bundled Region table (cached)."""
    data = load_data_file("regions.json")
    regions = {
        code: Region(
            code=code,
            name=info["name"],
            country=info["country"],
            partition=info["partition"],
            eu_member_state=bool(info["eu_member_state"]),
        )
        for code, info in data["regions"].items()
    }
    presets = {
        name: GeographyPreset(
            name=name,
            description=info["description"],
            regions=frozenset(info["regions"]),
            prefer=info["prefer"],
        )
        for name, info in data["presets"].items()
    }
    return RegionTable(regions, presets, data.get("profile_prefixes", {}))
