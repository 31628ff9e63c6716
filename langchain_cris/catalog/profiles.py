"""Inference profiles and where they may send a request, per source Region.

The catalog is the single source of AWS routing facts for routing, IAM generation, the audit and
the embedded local Bedrock. It starts from a bundled snapshot (``data/profiles.json``, transcribed
from the Bedrock user guide) and can be refreshed live from ``ListInferenceProfiles`` /
``GetInferenceProfile``, whose ``models[].modelArn`` list is the authoritative destination set.

Per-source differences are modelled exactly: ``eu.anthropic.claude-sonnet-4-5-20250929-v1:0``
called from eu-west-2 may be served in eu-west-2, but not when called from eu-central-1.
"""

from __future__ import annotations

import difflib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from langchain_cris.catalog._live_answers import read_destinations
from langchain_cris.data import load_data_file
from langchain_cris.errors import UnknownModelError
from langchain_cris.regions import RegionTable, region_table

__all__ = [
    "InferenceProfile",
    "ProfileCatalog",
    "parse_model_arn_region",
]

ProfileType = Literal["SYSTEM_DEFINED", "APPLICATION"]

DEFAULT_TTL_SECONDS = 3600.0


def parse_model_arn_region(model_arn: str) -> tuple[str, str]:
    """Split ``arn:aws:bedrock:REGION::foundation-model/ID`` into ``(REGION, ID)``.

    The Region is empty for the global foundation-model ARN (``arn:aws:bedrock:::…``).
    """
    parts = model_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or "/" not in parts[5]:
        raise ValueError(f"not a Bedrock foundation-model ARN: {model_arn!r}")
    resource_type, _, model_id = parts[5].partition("/")
    if resource_type != "foundation-model":
        raise ValueError(f"not a Bedrock foundation-model ARN: {model_arn!r}")
    return parts[3], model_id


@dataclass(frozen=True)
class InferenceProfile:
    """One inference profile and its routing table.

    Attributes:
        profile_id: ``eu.anthropic.claude-sonnet-4-5-20250929-v1:0`` (system) or the opaque id of
            an application profile.
        model_id: The base foundation model id the profile serves.
        geography: ``eu``, ``us``, ``apac``, ``jp``, ``au``, ``ca``, ``us-gov``, ``global`` or
            ``application`` (then see ``routes``).
        routes: source Region -> destination Regions. A source Region absent here cannot call the
            profile (Bedrock answers ValidationException).
        profile_type: ``SYSTEM_DEFINED`` or ``APPLICATION``.
        arn: Set for application profiles (their ARN is fixed); system profile ARNs depend on the
            caller's Region and account, see :meth:`arn_for`.
        name: ``inferenceProfileName`` as AWS reports it.
        embedding: True for embedding models (not callable with Converse).
    """

    profile_id: str
    model_id: str
    geography: str
    routes: Mapping[str, frozenset[str]]
    profile_type: ProfileType = "SYSTEM_DEFINED"
    arn: str | None = None
    name: str = ""
    embedding: bool = False
    account_id: str | None = field(default=None, compare=False)

    @property
    def source_regions(self) -> frozenset[str]:
        """Regions this profile can be called from."""
        return frozenset(self.routes)

    def destinations(self, source_region: str) -> frozenset[str]:
        """Where a call from ``source_region`` may be processed (empty if not callable)."""
        return self.routes.get(source_region, frozenset())

    def all_destinations(self) -> frozenset[str]:
        return frozenset().union(*self.routes.values()) if self.routes else frozenset()

    def arn_for(self, source_region: str, account_id: str | None = None) -> str:
        """The profile ARN as seen from ``source_region`` (``*`` when the account is unknown)."""
        if self.arn:
            return self.arn
        account = account_id or self.account_id or "*"
        region = region_table().regions.get(source_region)
        partition = region.partition if region else "aws"
        return (
            f"arn:{partition}:bedrock:{source_region}:{account}:inference-profile/{self.profile_id}"
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.profile_id,
            "model": self.model_id,
            "geography": self.geography,
            "type": self.profile_type,
            "routes": {s: sorted(d) for s, d in sorted(self.routes.items())},
        }
        if self.arn:
            out["arn"] = self.arn
        if self.name:
            out["name"] = self.name
        if self.embedding:
            out["embedding_model"] = True
        return out


def _profile_from_json(raw: Mapping[str, Any], commercial: frozenset[str]) -> InferenceProfile:
    routes: dict[str, frozenset[str]] = {}
    for source, dest in raw["routes"].items():
        # Global rows read "commercial": every commercial Region (which always includes the source).
        routes[source] = commercial if dest == "commercial" else frozenset(dest)
    return InferenceProfile(
        profile_id=raw["id"],
        model_id=raw["model"],
        geography=raw["geography"],
        routes=routes,
        profile_type=raw.get("type", "SYSTEM_DEFINED"),
        arn=raw.get("arn"),
        name=raw.get("name", ""),
        embedding=bool(raw.get("embedding_model", False)),
    )


class ProfileCatalog:
    """All known inference profiles, indexed for fast lookup; thread-safe and refreshable.

    Example:
        .. code-block:: python

            catalog = ProfileCatalog.bundled()
            profile = catalog.get("eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
            profile.destinations("eu-west-2")  # includes eu-west-2 itself
    """

    def __init__(
        self,
        profiles: Iterable[InferenceProfile],
        *,
        on_demand: Mapping[str, frozenset[str]] | None = None,
        regions: RegionTable | None = None,
        source: str = "custom",
        retrieved: str = "",
    ) -> None:
        self.regions = regions or region_table()
        self.source = source
        self.retrieved = retrieved
        self._lock = threading.RLock()
        self._by_id: dict[str, InferenceProfile] = {}
        self._by_arn: dict[str, InferenceProfile] = {}
        self._by_model: dict[str, list[InferenceProfile]] = {}
        self._on_demand: dict[str, frozenset[str]] = dict(on_demand or {})
        self._fetched_at: dict[str, float] = {}
        #: Bumped on every change; routing caches are keyed on it.
        self.generation = 0
        for p in profiles:
            self._add(p)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def bundled(cls) -> ProfileCatalog:
        """The catalog built from the bundled snapshot (a fresh, independent object)."""
        return _bundled_copy()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ProfileCatalog:
        """Load a snapshot written by :meth:`to_file` or ``langchain-cris profiles -o``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls._from_data(data, on_demand_data=data.get("on_demand"), source=str(path))

    @classmethod
    def _from_data(
        cls,
        data: Mapping[str, Any],
        *,
        on_demand_data: Mapping[str, Any] | None,
        source: str,
    ) -> ProfileCatalog:
        regions = region_table()
        commercial = frozenset(data.get("commercial_regions") or regions.partition_regions("aws"))
        profiles = [_profile_from_json(p, commercial) for p in data["profiles"]]
        on_demand: dict[str, frozenset[str]] = {}
        for model_id, info in (on_demand_data or {}).items():
            regions_list = info["on_demand_regions"] if isinstance(info, Mapping) else info
            on_demand[model_id] = frozenset(regions_list)
        return cls(
            profiles,
            on_demand=on_demand,
            regions=regions,
            source=source,
            retrieved=str(data.get("retrieved", "")),
        )

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write the catalog as a snapshot with ``version``/``source``/``retrieved`` keys."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": 1,
                "source": self.source,
                "retrieved": self.retrieved or time.strftime("%Y-%m-%d"),
                "profiles": [p.to_json() for p in sorted(self._by_id.values(), key=_sort_key)],
                "on_demand": {m: sorted(r) for m, r in sorted(self._on_demand.items())},
            }

    # -- lookup -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[InferenceProfile]:
        with self._lock:
            return iter(sorted(self._by_id.values(), key=_sort_key))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, profile_id_or_arn: str) -> InferenceProfile | None:
        """Look a profile up by id or (application or system) ARN."""
        found = self._by_id.get(profile_id_or_arn) or self._by_arn.get(profile_id_or_arn)
        if found is None and ":inference-profile/" in profile_id_or_arn:
            found = self._by_id.get(profile_id_or_arn.rsplit("/", 1)[1])
        return found

    def require(self, profile_id_or_arn: str) -> InferenceProfile:
        """Like :meth:`get` but raise ``UnknownModelError`` with close matches."""
        profile = self.get(profile_id_or_arn)
        if profile is None:
            raise UnknownModelError(profile_id_or_arn, self.suggest(profile_id_or_arn))
        return profile

    def profiles_for_model(self, model_id: str) -> tuple[InferenceProfile, ...]:
        """System profiles serving base model ``model_id`` (application profiles excluded)."""
        return tuple(self._by_model.get(model_id, ()))

    def model_ids(self) -> frozenset[str]:
        """Every base model the catalog knows (through a profile or on-demand)."""
        return frozenset(self._by_model) | frozenset(self._on_demand)

    def on_demand_regions(self, model_id: str) -> frozenset[str]:
        """Regions where ``model_id`` can be called directly (no profile)."""
        return self._on_demand.get(model_id, frozenset())

    def suggest(self, text: str, n: int = 3) -> list[str]:
        """Close matches among profile ids and base model ids, for error messages."""
        pool = list(self._by_id) + sorted(self.model_ids())
        return difflib.get_close_matches(text, pool, n=n, cutoff=0.6)

    # -- mutation -----------------------------------------------------------------------
    def _add(self, profile: InferenceProfile) -> None:
        old = self._by_id.get(profile.profile_id)
        if old is not None and old.profile_type == "SYSTEM_DEFINED":
            self._by_model[old.model_id] = [
                p for p in self._by_model.get(old.model_id, []) if p.profile_id != old.profile_id
            ]
        self._by_id[profile.profile_id] = profile
        if profile.arn:
            self._by_arn[profile.arn] = profile
        if profile.profile_type == "SYSTEM_DEFINED":
            self._by_model.setdefault(profile.model_id, []).append(profile)

    def add(self, profile: InferenceProfile) -> None:
        """Add or replace a profile (thread-safe; invalidates routing caches)."""
        with self._lock:
            self._add(profile)
            self.generation += 1

    def set_on_demand(self, model_id: str, regions: Iterable[str]) -> None:
        with self._lock:
            self._on_demand[model_id] = frozenset(regions)
            self.generation += 1

    def copy(self) -> ProfileCatalog:
        """An independent catalog with the same profiles and on-demand data."""
        with self._lock:
            return ProfileCatalog(
                list(self._by_id.values()),
                on_demand=dict(self._on_demand),
                regions=self.regions,
                source=self.source,
                retrieved=self.retrieved,
            )

    def merge_answers(self, source_region: str, summaries: Iterable[Mapping[str, Any]]) -> int:
        """Apply live ``ListInferenceProfiles``/``GetInferenceProfile`` answers from one Region.

        Each answer replaces that profile's row for ``source_region`` (other rows stay). An
        answer is never dropped: what cannot be read widens the row to "may be anywhere" (see
        ``_live_answers``). Returns the number of profiles added or changed.
        """
        self.regions.check(source_region)
        with self._lock:
            changed = sum(self._merge_summary(source_region, s) for s in summaries)
            self.generation += 1
        return changed

    # -- live refresh -------------------------------------------------------------------
    def refresh(
        self,
        regions: Iterable[str],
        *,
        client_factory: Callable[[str], Any] | None = None,
        ttl: float = DEFAULT_TTL_SECONDS,
        force: bool = False,
        include_on_demand: bool = False,
    ) -> int:
        """Refresh routes from AWS for each source Region (cached for ``ttl`` seconds).

        For every Region, ``ListInferenceProfiles`` is paginated (``typeEquals`` both
        ``SYSTEM_DEFINED`` and ``APPLICATION``) and each ``models[].modelArn`` yields one
        destination Region of that profile *when called from that Region*.

        Args:
            regions: Source Regions to query.
            client_factory: ``region -> bedrock client``; defaults to ``boto3.client("bedrock")``
                with the usual credential and ``AWS_ENDPOINT_URL`` resolution.
            ttl: Seconds a Region's answer stays fresh.
            force: Ignore the TTL.
            include_on_demand: Also read ``ListFoundationModels(byInferenceType="ON_DEMAND")``.

        Returns:
            The number of profiles added or updated.
        """
        factory = client_factory or _default_bedrock_client
        changed = 0
        for region in regions:
            self.regions.check(region)
            with self._lock:
                fetched = self._fetched_at.get(region)
            if not force and fetched is not None and time.monotonic() - fetched < ttl:
                continue
            client = factory(region)
            summaries = list(_list_profiles(client))
            with self._lock:
                for summary in summaries:
                    changed += self._merge_summary(region, summary)
                if include_on_demand:
                    self._merge_on_demand(region, client)
                self._fetched_at[region] = time.monotonic()
                self.generation += 1
        return changed

    def load_application_profile(
        self, arn: str, *, client_factory: Callable[[str], Any] | None = None
    ) -> InferenceProfile:
        """Fetch one application profile with ``GetInferenceProfile`` (its ARN hides the model)."""
        region = arn.split(":")[3]
        self.regions.check(region)
        client = (client_factory or _default_bedrock_client)(region)
        summary = client.get_inference_profile(inferenceProfileIdentifier=arn)
        with self._lock:
            self._merge_summary(region, summary)
            self.generation += 1
        return self.require(arn)

    def _merge_summary(self, source_region: str, summary: Mapping[str, Any]) -> int:
        profile_id = summary.get("inferenceProfileId")
        if not isinstance(profile_id, str) or not profile_id:
            return 0  # nothing to key it by: no call can name it either
        live = read_destinations(summary, source_region, self.regions)
        existing = self._by_id.get(profile_id)
        if live.model_ids:
            model_id = sorted(live.model_ids)[0]
        elif existing is not None:
            model_id = existing.model_id
        else:
            model_id = profile_id.split(".", 1)[1] if "." in profile_id else profile_id
        profile_type: ProfileType = (
            "APPLICATION" if summary.get("type") == "APPLICATION" else "SYSTEM_DEFINED"
        )
        if profile_type == "APPLICATION":
            geography = "application"
            arn: str | None = str(summary.get("inferenceProfileArn") or "") or None
            routes = {source_region: live.regions}
        else:
            geography = profile_id.split(".", 1)[0] if "." in profile_id else "in-region"
            arn = None
            routes = dict(existing.routes) if existing else {}
            routes[source_region] = live.regions
        updated = InferenceProfile(
            profile_id=profile_id,
            model_id=model_id,
            geography=geography,
            routes=routes,
            profile_type=profile_type,
            arn=arn,
            name=str(summary.get("inferenceProfileName", "")),
            embedding=existing.embedding if existing else False,
        )
        if existing == updated:
            return 0
        self._add(updated)
        return 1

    def _merge_on_demand(self, region: str, client: Any) -> None:
        resp = client.list_foundation_models(byInferenceType="ON_DEMAND")
        for summary in resp.get("modelSummaries", []):
            model_id = summary["modelId"]
            self._on_demand[model_id] = self._on_demand.get(model_id, frozenset()) | {region}


def _list_profiles(client: Any) -> Iterator[Mapping[str, Any]]:
    paginator = client.get_paginator("list_inference_profiles")
    for type_equals in ("SYSTEM_DEFINED", "APPLICATION"):
        for page in paginator.paginate(typeEquals=type_equals):
            yield from page.get("inferenceProfileSummaries", [])


def _default_bedrock_client(region: str) -> Any:
    import boto3

    return boto3.client("bedrock", region_name=region)


def _sort_key(p: InferenceProfile) -> tuple[str, str]:
    return (p.model_id, p.profile_id)


@lru_cache(maxsize=1)
def _bundled_data() -> tuple[dict[str, Any], dict[str, Any]]:
    return load_data_file("profiles.json"), load_data_file("models.json")


def _bundled_copy() -> ProfileCatalog:
    profiles, models = _bundled_data()
    return ProfileCatalog._from_data(
        profiles,
        on_demand_data=models["models"],
        source="bundled:data/profiles.json",
    )


_DEFAULT: ProfileCatalog | None = None
_DEFAULT_LOCK = threading.Lock()


def default_catalog() -> ProfileCatalog:
    """The process-wide catalog used when none is passed (bundled snapshot, refreshable)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = _bundled_copy()
    return _DEFAULT
