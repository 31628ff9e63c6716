"""Where a call's Bedrock guardrail evaluates the prompt, and whether that is inside the policy.

A guardrail is a regional resource. Without cross-Region config it runs in its own (the
source) Region. With a *guardrail profile* (``crossRegionConfig.guardrailProfileIdentifier``,
e.g. ``eu.guardrail.v1:0``) AWS may evaluate the prompt and the reply in any destination Region
of that profile for the source Region ("your input prompts and output results might move
outside of your primary Region"), whatever the model's own route is. So a call that carries a
guardrail is inside the policy only if::

    destinations(guardrail profile, source Region) ⊆ policy.regions

Two kinds of facts, with the profile catalog's rules (bundled data, live wins, TTL, thread-safe):

* the guardrail profiles' route tables, bundled in ``data/guardrail_profiles.json`` (AWS has
  no API listing them; transcribed from "Supported Regions for cross-Region guardrail
  inference");
* which profile a guardrail uses, read live with ``GetGuardrail`` → ``crossRegionDetails`` and
  cached per (Region, guardrail id, version), or declared with :meth:`GuardrailCatalog.declare`
  where the caller may not call ``GetGuardrail``.

Fail closed: a guardrail that cannot be looked up, or a profile (or source Region) the table
does not know, may be evaluated anywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from langchain_cris.data import load_data_file
from langchain_cris.errors import GuardrailLookupError, GuardrailResidencyViolation
from langchain_cris.policy import ResidencyPolicy

__all__ = [
    "DEFAULT_GUARDRAIL_TTL_SECONDS",
    "GuardrailCatalog",
    "GuardrailInfo",
    "GuardrailProfile",
    "GuardrailRef",
    "GuardrailRoute",
    "check_guardrail",
    "default_guardrail_catalog",
    "guardrail_ref",
]

DEFAULT_GUARDRAIL_TTL_SECONDS = 3600.0
"""How long a ``GetGuardrail`` answer stays fresh (the profile catalog's default TTL)."""

_NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})


@dataclass(frozen=True)
class GuardrailProfile:
    """One system-defined guardrail profile and its source → destination Regions."""

    profile_id: str
    geography: str
    partition: str
    name: str
    routes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def source_regions(self) -> frozenset[str]:
        return frozenset(self.routes)

    def destinations(self, source_region: str) -> frozenset[str]:
        """Where the guardrail may run when called from ``source_region`` (empty: not callable)."""
        return self.routes.get(source_region, frozenset())

    def arn_for(self, region: str, account_id: str | None = None) -> str:
        return (
            f"arn:{self.partition}:bedrock:{region}:{account_id or '*'}:"
            f"guardrail-profile/{self.profile_id}"
        )


@dataclass(frozen=True)
class GuardrailRef:
    """The guardrail a Converse call carries (``guardrailConfig``)."""

    identifier: str
    """``guardrailIdentifier``: an id (``abc123xyz``) or a guardrail ARN."""
    version: str
    """``guardrailVersion``: ``DRAFT`` or a version number."""

    @property
    def arn_region(self) -> str | None:
        """The Region named by an ARN identifier (a guardrail lives in exactly one Region)."""
        if self.identifier.startswith("arn:"):
            parts = self.identifier.split(":")
            return parts[3] if len(parts) > 5 else None
        return None

    @property
    def guardrail_id(self) -> str:
        if self.identifier.startswith("arn:") and "/" in self.identifier:
            return self.identifier.rsplit("/", 1)[1]
        return self.identifier


@dataclass(frozen=True)
class GuardrailInfo:
    """What ``GetGuardrail`` says about one guardrail version in one Region."""

    guardrail_id: str
    version: str
    region: str
    guardrail_arn: str | None = None
    profile_id: str | None = None
    """``crossRegionDetails.guardrailProfileId``; ``None`` = no cross-Region inference."""
    profile_arn: str | None = None


@dataclass(frozen=True)
class GuardrailRoute:
    """Where the guardrail of one call runs (JSON form in ``response_metadata["cris"]``)."""

    guardrail_id: str
    version: str
    source_region: str
    destination_regions: frozenset[str]
    profile_id: str | None = None
    profile_arn: str | None = None
    violations: tuple[str, ...] = ()

    def as_metadata(self) -> dict[str, Any]:
        return {
            "guardrail_id": self.guardrail_id,
            "guardrail_version": self.version,
            "guardrail_profile_id": self.profile_id,
            "guardrail_profile_arn": self.profile_arn,
            "source_region": self.source_region,
            "destination_regions": sorted(self.destination_regions),
            "violations": list(self.violations),
        }


def guardrail_ref(config: Mapping[str, Any] | None) -> GuardrailRef | None:
    """Read ``guardrailConfig`` (Converse's shape, as langchain-aws sends it); None if absent.

    Raises:
        GuardrailLookupError: never; a config without an identifier returns None and Bedrock
            itself rejects it (nothing is evaluated anywhere).
    """
    if not config:
        return None
    identifier = config.get("guardrailIdentifier") or config.get("guardrail_identifier")
    if not identifier:
        return None
    version = config.get("guardrailVersion") or config.get("guardrail_version") or "DRAFT"
    return GuardrailRef(str(identifier), str(version))


def check_guardrail(
    guardrail_profile: GuardrailProfile | str | None,
    policy: ResidencyPolicy,
    source_region: str,
    *,
    guardrail_id: str = "(unnamed)",
    guardrail_version: str = "DRAFT",
    model: str = "",
    profile_arn: str | None = None,
) -> GuardrailRoute:
    """Where the guardrail runs from ``source_region``; refuse if that leaves the policy.

    Args:
        guardrail_profile: The guardrail's profile, ``None`` when it has no cross-Region config,
            or a profile id the catalog does not know (then it may run anywhere).
        policy: The policy in force.
        source_region: The Region the call is sent to.
        guardrail_id: Named in the error and the metadata.
        guardrail_version: Likewise.
        model: The model id of the call (named in the error).
        profile_arn: The profile ARN ``GetGuardrail`` reported, for the metadata.

    Returns:
        The guardrail's route; in ``audit`` mode a non-compliant route carries ``violations``.

    Raises:
        GuardrailResidencyViolation: in ``enforce`` mode, when a destination is outside the
            policy (or unknown); names the guardrail, its profile and the Regions outside.
    """
    if guardrail_profile is None:
        return GuardrailRoute(
            guardrail_id, guardrail_version, source_region, frozenset({source_region})
        )
    profile_id = (
        guardrail_profile if isinstance(guardrail_profile, str) else guardrail_profile.profile_id
    )
    known = isinstance(guardrail_profile, GuardrailProfile)
    destinations = (
        guardrail_profile.destinations(source_region)
        if isinstance(guardrail_profile, GuardrailProfile)
        else frozenset()
    )
    if known and not destinations:
        reason = (
            f"guardrail profile {profile_id!r} lists no destinations for source Region "
            f"{source_region} in the bundled table"
        )
    elif not known:
        reason = f"guardrail profile {profile_id!r} is not in the bundled guardrail-profile table"
    else:
        reason = ""
    outside = policy.outside(destinations)
    route = GuardrailRoute(
        guardrail_id,
        guardrail_version,
        source_region,
        destinations,
        profile_id,
        profile_arn or (guardrail_profile.arn_for(source_region) if known else None),  # type: ignore[union-attr]
    )
    if not outside and not reason:
        return route
    what = (
        f"it may be evaluated in {', '.join(sorted(outside))}"
        if outside
        else f"where it runs is unknown ({reason}), so it may be evaluated anywhere"
    )
    message = (
        f"guardrail {guardrail_id!r} (version {guardrail_version}) uses guardrail profile "
        f"{profile_id!r}: called from {source_region}, {what}, outside policy "
        f"{policy.name!r}"
    )
    if policy.mode == "audit":
        return GuardrailRoute(
            route.guardrail_id,
            route.version,
            route.source_region,
            route.destination_regions,
            route.profile_id,
            route.profile_arn,
            (message,),
        )
    raise GuardrailResidencyViolation(
        message + ".",
        guardrail_id=guardrail_id,
        guardrail_version=guardrail_version,
        guardrail_profile_id=profile_id,
        model=model,
        source_region=source_region,
        policy_name=policy.name,
        outside_regions=outside,
        alternatives=_alternatives(policy, source_region),
    )


def _alternatives(policy: ResidencyPolicy, source_region: str) -> list[str]:
    out = [
        f"a guardrail without cross-Region config (it runs in {source_region})"
        if source_region in policy.regions
        else ""
    ]
    for profile in bundled_guardrail_profiles().values():
        dest = profile.destinations(source_region)
        if dest and dest <= policy.regions:
            out.append(f"a guardrail using guardrail profile {profile.profile_id!r}")
    return [a for a in out if a]


# -- the catalog --------------------------------------------------------------------------------
class GuardrailCatalog:
    """Guardrail profiles (bundled) and which profile each guardrail uses (live, cached).

    Example:
        .. code-block:: python

            catalog = GuardrailCatalog.bundled()
            catalog.profile("eu.guardrail.v1:0").destinations("eu-central-1")
            catalog.declare("gr-123", "1", region="eu-central-1", profile_id="eu.guardrail.v1:0")
    """

    def __init__(
        self,
        profiles: Iterable[GuardrailProfile],
        *,
        ttl: float = DEFAULT_GUARDRAIL_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._profiles = {p.profile_id: p for p in profiles}
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.RLock()
        # (region, guardrail id, version) -> (info or None = not found there, fetched at or None)
        self._guardrails: dict[tuple[str, str, str], tuple[GuardrailInfo | None, float | None]] = {}

    @classmethod
    def bundled(cls, **kwargs: Any) -> GuardrailCatalog:
        return cls(bundled_guardrail_profiles().values(), **kwargs)

    # -- profiles -------------------------------------------------------------------------------
    def profile(self, profile_id_or_arn: str) -> GuardrailProfile | None:
        """A guardrail profile by id or ARN (``…:guardrail-profile/<id>``)."""
        key = profile_id_or_arn
        if ":guardrail-profile/" in key:
            key = key.rsplit("/", 1)[1]
        return self._profiles.get(key)

    def profiles(self) -> list[GuardrailProfile]:
        return [self._profiles[k] for k in sorted(self._profiles)]

    # -- guardrails -----------------------------------------------------------------------------
    def declare(
        self, guardrail_id: str, version: str, *, region: str, profile_id: str | None
    ) -> None:
        """State which profile a guardrail uses without ``GetGuardrail`` (never expires).

        A later live answer wins over a declaration (live data wins, as in the profile
        catalog).
        """
        info = GuardrailInfo(guardrail_id, version, region, profile_id=profile_id)
        with self._lock:
            self._guardrails[(region, guardrail_id, version)] = (info, None)

    def clear(self) -> None:
        with self._lock:
            self._guardrails.clear()

    def lookup(
        self,
        ref: GuardrailRef,
        region: str,
        client_factory: Callable[[str], Any] | None,
        *,
        force: bool = False,
    ) -> GuardrailInfo | None:
        """What the guardrail is in ``region``; ``None`` when it does not exist there.

        Args:
            ref: The guardrail the call carries.
            region: The source Region the call would be sent to.
            client_factory: ``region -> bedrock control-plane client`` for ``GetGuardrail``;
                ``None`` allows only cached or declared answers.
            force: Ignore the TTL.

        Raises:
            LookupError: ``GetGuardrail`` failed for another reason than "not found" (the
                caller turns it into a refusal: fail closed).
        """
        arn_region = ref.arn_region
        if arn_region is not None and arn_region != region:
            return None  # an ARN names one Region's guardrail; it does not exist elsewhere
        key = (region, ref.guardrail_id, ref.version)
        with self._lock:
            cached = self._guardrails.get(key)
        if cached is not None and not force:
            info, fetched = cached
            if fetched is None or self._clock() - fetched < self.ttl:
                return info
        if client_factory is None:
            if cached is not None:
                return cached[0]
            raise LookupError(f"no bedrock client to call GetGuardrail in {region}")
        info = self._fetch(ref, region, client_factory)
        with self._lock:
            self._guardrails[key] = (info, self._clock())
        return info

    def _fetch(
        self, ref: GuardrailRef, region: str, client_factory: Callable[[str], Any]
    ) -> GuardrailInfo | None:
        try:
            client = client_factory(region)
            resp = client.get_guardrail(
                guardrailIdentifier=ref.identifier, guardrailVersion=ref.version
            )
        except Exception as exc:
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
            if code in _NOT_FOUND_CODES:
                return None
            raise LookupError(f"GetGuardrail failed in {region}: {code or exc}") from exc
        details = resp.get("crossRegionDetails") or {}
        return GuardrailInfo(
            guardrail_id=str(resp.get("guardrailId") or ref.guardrail_id),
            version=str(resp.get("version") or ref.version),
            region=region,
            guardrail_arn=resp.get("guardrailArn"),
            profile_id=details.get("guardrailProfileId"),
            profile_arn=details.get("guardrailProfileArn"),
        )

    def route(
        self,
        ref: GuardrailRef,
        policy: ResidencyPolicy,
        source_region: str,
        client_factory: Callable[[str], Any] | None,
        *,
        model: str = "",
    ) -> GuardrailRoute:
        """Look the guardrail up in ``source_region`` and check it (see :func:`check_guardrail`).

        Raises:
            GuardrailLookupError: the guardrail does not exist in that Region, or
                ``GetGuardrail`` failed: where it runs cannot be told.
            GuardrailResidencyViolation: its profile reaches outside the policy.
        """
        try:
            info = self.lookup(ref, source_region, client_factory)
        except LookupError as exc:
            raise GuardrailLookupError(
                f"cannot tell where guardrail {ref.identifier!r} (version {ref.version}) runs "
                f"for a call from {source_region}: {exc}. Grant bedrock:GetGuardrail on it, or "
                "declare it with GuardrailCatalog.declare(...)",
                guardrail_id=ref.guardrail_id,
                guardrail_version=ref.version,
                model=model,
                source_region=source_region,
                policy_name=policy.name,
            ) from exc
        if info is None:
            raise GuardrailLookupError(
                f"guardrail {ref.identifier!r} (version {ref.version}) does not exist in "
                f"{source_region}; a guardrail is used from the Region it was created in",
                guardrail_id=ref.guardrail_id,
                guardrail_version=ref.version,
                model=model,
                source_region=source_region,
                policy_name=policy.name,
            )
        profile: GuardrailProfile | str | None = None
        if info.profile_id or info.profile_arn:
            key = info.profile_id or str(info.profile_arn)
            profile = self.profile(key) or key
        return check_guardrail(
            profile,
            policy,
            source_region,
            guardrail_id=info.guardrail_id,
            guardrail_version=info.version,
            model=model,
            profile_arn=info.profile_arn,
        )


@lru_cache(maxsize=1)
def bundled_guardrail_profiles() -> dict[str, GuardrailProfile]:
    """The bundled guardrail profiles by id (from ``data/guardrail_profiles.json``)."""
    data = load_data_file("guardrail_profiles.json")
    out: dict[str, GuardrailProfile] = {}
    for raw in data["guardrail_profiles"]:
        out[raw["guardrail_profile_id"]] = GuardrailProfile(
            profile_id=raw["guardrail_profile_id"],
            geography=raw["geography"],
            partition=raw["partition"],
            name=raw.get("name", ""),
            routes={src: frozenset(dst) for src, dst in raw["routes"].items()},
        )
    return out


_DEFAULT: GuardrailCatalog | None = None
_DEFAULT_LOCK = threading.Lock()


def default_guardrail_catalog() -> GuardrailCatalog:
    """The process-wide guardrail catalog used when a model is given none."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = GuardrailCatalog.bundled()
    return _DEFAULT
