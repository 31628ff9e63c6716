"""Read one ``ListInferenceProfiles`` / ``GetInferenceProfile`` answer without trusting its shape.

A profile's ``models[].modelArn`` list is AWS's word on where a call from the asking Region
may be processed. Anything in it that does not name a known Region cannot be read as
"nowhere": it is read as "may be anywhere" (fail closed), so a policy check that follows can
only get stricter, never looser:

* the Region-less global foundation-model ARN (``arn:aws:bedrock:::foundation-model/ID``, which
  AWS uses for global cross-Region inference) means every Region of the caller's partition;
* an ARN that does not parse, names a Region this library does not know (a Region AWS opened
  after this release), or an answer with no ``models`` at all means every known Region of
  every partition, which no policy short of "anything goes" allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_cris.regions import RegionTable

__all__ = ["LiveDestinations", "read_destinations"]


@dataclass(frozen=True)
class LiveDestinations:
    """What one profile answer says about one source Region.

    Attributes:
        regions: Where a call may be processed (widened to "anywhere" where unreadable).
        model_ids: Base model ids named by the readable ARNs (may be empty).
        unreadable: The ``modelArn`` values (or ``"<no models>"``) that forced a widening.
    """

    regions: frozenset[str]
    model_ids: frozenset[str]
    unreadable: tuple[str, ...] = ()

    @property
    def widened(self) -> bool:
        """True when part of the answer could not be read and was taken as "anywhere"."""
        return bool(self.unreadable)


def _split_model_arn(value: object) -> tuple[str, str, str] | None:
    """``(partition, region, model_id)`` of a foundation-model ARN, or ``None``."""
    if not isinstance(value, str):
        return None
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "bedrock":
        return None
    rtype, slash, model_id = parts[5].partition("/")
    if rtype != "foundation-model" or not slash or not model_id:
        return None
    return parts[1], parts[3], model_id


def read_destinations(
    summary: Mapping[str, Any], source_region: str, regions: RegionTable
) -> LiveDestinations:
    """Destinations of ``summary`` (one profile answer) when called from ``source_region``."""
    source = regions.regions.get(source_region)
    partition = source.partition if source else "aws"
    everywhere = frozenset(regions.regions)
    found: set[str] = set()
    model_ids: set[str] = set()
    unreadable: list[str] = []
    models = summary.get("models")
    if not isinstance(models, list) or not models:
        return LiveDestinations(everywhere, frozenset(), ("<no models>",))
    for entry in models:
        arn = entry.get("modelArn") if isinstance(entry, Mapping) else None
        parsed = _split_model_arn(arn)
        if parsed is None:
            unreadable.append(repr(arn))
            found |= everywhere
            continue
        arn_partition, region, model_id = parsed
        model_ids.add(model_id)
        if not region:
            # AWS's global foundation-model ARN: any Region of the partition.
            found |= regions.partition_regions(arn_partition or partition)
            if not regions.partition_regions(arn_partition or partition):
                unreadable.append(str(arn))
                found |= everywhere
        elif region in regions.regions:
            found.add(region)
        else:
            unreadable.append(str(arn))
            found |= everywhere
    return LiveDestinations(frozenset(found), frozenset(model_ids), tuple(unreadable))
