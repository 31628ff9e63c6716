"""``resolve_route``: which profile (or plain model id) a call may use, and from where.

The rule is set arithmetic, never a prefix match::

    destinations(profile, source Region) ⊆ policy.regions   and   source Region ∈ policy sources

A ``global.`` id under an EU policy is refused because its destinations include every commercial
Region; an ``eu.`` Claude profile called from eu-west-2 is refused under ``eu`` (it may be served
in London) and allowed under ``europe``.

Resolution is cached per (model, policy, source Region, failover, catalog generation), so a
repeated call costs a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from langchain_cris.catalog import InferenceProfile, ProfileCatalog, default_catalog
from langchain_cris.data import model_providers
from langchain_cris.errors import (
    InvalidModelIdentifierError,
    ProfileNotAvailableError,
    ResidencyError,
    ResidencyViolation,
    SourceRegionNotAllowedError,
    UnknownModelError,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table

__all__ = ["Route", "RouteCandidate", "base_model_of", "parse_model_identifier", "resolve_route"]

RouteKind = Literal["profile", "in_region", "application"]
Failover = bool | Sequence[str]

# Which route kind wins under each preference (lower is better).
_TIERS: dict[str, dict[str, int]] = {
    "geo": {"geo": 0, "global": 1, "in_region": 2},
    "global": {"global": 0, "geo": 1, "in_region": 2},
    "in_region": {"in_region": 0, "geo": 1, "global": 2},
}


@dataclass(frozen=True)
class RouteCandidate:
    """One way to send the call: what id to send, from which Region, served where."""

    model_id: str
    """The ``modelId`` to send (profile id, application profile ARN or plain model id)."""
    source_region: str
    destination_regions: frozenset[str]
    kind: RouteKind
    profile_id: str | None = None
    geography: str = "in-region"

    def describe(self) -> str:
        return f"{self.model_id} from {self.source_region}"


@dataclass(frozen=True)
class Route:
    """The decision for one call, plus the in-policy failover candidates.

    Attributes:
        model_id: What to send as Converse ``modelId``.
        profile_id: The inference profile id (``None`` for an in-Region call).
        profile_arn: The profile ARN as seen from ``source_region`` (account ``*`` if unknown).
        base_model_id: The foundation model behind it.
        geography: ``eu``, ``global``, …, ``application`` or ``in-region``.
        source_region: The Region the client calls.
        destination_regions: Every Region that may process the call.
        candidates: Ordered failover routes, each also inside the policy; the first is this route.
        violations: Only in audit mode: why the route is outside the policy.
    """

    model_id: str
    profile_id: str | None
    profile_arn: str | None
    base_model_id: str
    geography: str
    kind: RouteKind
    source_region: str
    destination_regions: frozenset[str]
    policy_name: str
    policy_digest: str
    mode: str
    candidates: tuple[RouteCandidate, ...] = field(default=())
    violations: tuple[str, ...] = ()

    @property
    def compliant(self) -> bool:
        return not self.violations

    def as_metadata(self) -> dict[str, object]:
        """JSON-ready summary for traces (no prompt data)."""
        return {
            "policy": self.policy_name,
            "policy_digest": self.policy_digest,
            "mode": self.mode,
            "model_id": self.model_id,
            "profile_id": self.profile_id,
            "profile_arn": self.profile_arn,
            "base_model_id": self.base_model_id,
            "geography": self.geography,
            "route_kind": self.kind,
            "source_region": self.source_region,
            "destination_regions": sorted(self.destination_regions),
            "violations": list(self.violations),
        }


# -- parsing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedModel:
    """What a model string names."""

    kind: Literal["base", "profile", "application", "foundation_arn"]
    text: str
    model_id: str  # base model id or profile id (or the ARN for application profiles)
    region: str | None = None  # Region embedded in an ARN


def _geo_prefixes() -> frozenset[str]:
    return region_table().profile_prefixes


def parse_model_identifier(model: str) -> ParsedModel:
    """Classify a model string; raise ``InvalidModelIdentifierError`` on malformed input."""
    text = model.strip()
    if not text:
        raise InvalidModelIdentifierError("the model id is empty")
    if text.startswith("arn:"):
        return _parse_arn(text)
    head, dot, _ = text.partition(".")
    if not dot:
        raise InvalidModelIdentifierError(
            f"{text!r} is not a Bedrock model id: expected 'provider.model' (e.g. "
            "'anthropic.claude-sonnet-4-5-20250929-v1:0'), a profile id "
            "('eu.anthropic…') or an ARN"
        )
    if head in model_providers():
        return ParsedModel("base", text, text)
    prefixes = _geo_prefixes()
    if head in prefixes:
        return ParsedModel("profile", text, text)
    raise InvalidModelIdentifierError(
        f"unknown prefix {head!r} in model id {text!r}; allowed profile prefixes: "
        f"{', '.join(sorted(prefixes))}; providers: {', '.join(sorted(model_providers()))}"
    )


def _parse_arn(arn: str) -> ParsedModel:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[1] not in ("aws", "aws-us-gov", "aws-cn") or parts[2] != "bedrock":
        raise InvalidModelIdentifierError(
            f"malformed Bedrock ARN {arn!r}: expected "
            "'arn:aws:bedrock:REGION:ACCOUNT:inference-profile/ID', "
            "'arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID' or "
            "'arn:aws:bedrock:REGION::foundation-model/ID'"
        )
    region, account, resource = parts[3], parts[4], parts[5]
    rtype, slash, rid = resource.partition("/")
    if not slash or not rid:
        raise InvalidModelIdentifierError(f"malformed Bedrock ARN {arn!r}: no resource id")
    if region:
        region_table().check(region)
    if rtype == "foundation-model":
        return ParsedModel("foundation_arn", arn, rid, region or None)
    if not account.isdigit() or len(account) != 12:
        raise InvalidModelIdentifierError(
            f"malformed Bedrock ARN {arn!r}: account must be 12 digits, got {account!r}"
        )
    if rtype == "inference-profile":
        inner = parse_model_identifier(rid)
        if inner.kind != "profile":
            raise InvalidModelIdentifierError(
                f"{arn!r} names {rid!r}, which is not an inference profile id"
            )
        return ParsedModel("profile", arn, rid, region)
    if rtype == "application-inference-profile":
        return ParsedModel("application", arn, arn, region)
    raise InvalidModelIdentifierError(
        f"unsupported Bedrock resource type {rtype!r} in {arn!r}; allowed: inference-profile, "
        "application-inference-profile, foundation-model"
    )


def base_model_of(model: str, catalog: ProfileCatalog | None = None) -> str | None:
    """The foundation model behind any model string, or ``None`` if it cannot be known offline.

    A profile id or ARN is looked up in the catalog (``eu.anthropic.claude-sonnet-4-6`` ->
    ``anthropic.claude-sonnet-4-6``); a profile of a known prefix the catalog lacks loses its
    prefix; an application-profile ARN is known only once loaded. Malformed ids give ``None``
    (routing refuses them with the reason when the model is called).
    """
    try:
        parsed = parse_model_identifier(model)
    except ResidencyError:
        return None
    if parsed.kind in ("base", "foundation_arn"):
        return parsed.model_id
    profile = (catalog or default_catalog()).get(parsed.model_id)
    if profile is not None:
        return profile.model_id
    if parsed.kind == "profile":
        return parsed.model_id.split(".", 1)[1]
    return None


# -- resolution ---------------------------------------------------------------------------
def resolve_route(
    model: str,
    policy: ResidencyPolicy,
    source_region: str,
    catalog: ProfileCatalog | None = None,
    *,
    failover: Failover = True,
) -> Route:
    """Resolve ``model`` under ``policy`` when calling from ``source_region``.

    Args:
        model: A base model id, a profile id with any prefix, a system or application profile
            ARN, or a foundation-model ARN.
        policy: The residency policy in force for this call.
        source_region: The Region the client calls (``region_name``).
        catalog: Profile data; the process-wide bundled/refreshed catalog by default.
        failover: ``True`` = any other allowed source Region may be tried, ``False`` = none,
            or an explicit list of source Regions.

    Returns:
        A ``Route`` whose destination Regions, and those of every candidate, lie inside the
        policy (in ``audit`` mode a non-compliant route is returned with ``violations`` set).

    Raises:
        ResidencyError: a subclass naming the model, the source Region, the Regions outside
            the policy and what would comply — always before any network call.
    """
    cat = catalog or default_catalog()
    fo: bool | tuple[str, ...] = failover if isinstance(failover, bool) else tuple(failover)
    return _resolve_cached(model, policy, source_region, cat, cat.generation, fo)


@lru_cache(maxsize=4096)
def _resolve_cached(
    model: str,
    policy: ResidencyPolicy,
    source_region: str,
    catalog: ProfileCatalog,
    generation: int,
    failover: bool | tuple[str, ...],
) -> Route:
    return _Resolver(model, policy, source_region, catalog, failover).resolve()


class _Resolver:
    def __init__(
        self,
        model: str,
        policy: ResidencyPolicy,
        source: str,
        catalog: ProfileCatalog,
        failover: bool | tuple[str, ...],
    ) -> None:
        self.model = model
        self.policy = policy
        self.source = catalog.regions.check(source)
        self.catalog = catalog
        if failover is True:
            self.failover_sources = tuple(sorted(policy.allowed_sources - {source}))
        elif failover is False:
            self.failover_sources = ()
        else:
            catalog.regions.check_all(failover)
            self.failover_sources = tuple(r for r in failover if r != source)

    # options ---------------------------------------------------------------------------
    def _profile_option(self, profile: InferenceProfile, source: str) -> RouteCandidate | None:
        dest = profile.destinations(source)
        if not dest:
            return None
        kind: RouteKind = "application" if profile.profile_type == "APPLICATION" else "profile"
        model_id = profile.arn if profile.profile_type == "APPLICATION" and profile.arn else None
        return RouteCandidate(
            model_id=model_id or profile.profile_id,
            source_region=source,
            destination_regions=dest,
            kind=kind,
            profile_id=profile.profile_id,
            geography=profile.geography,
        )

    def _in_region_option(self, base: str, source: str) -> RouteCandidate | None:
        if source not in self.catalog.on_demand_regions(base):
            return None
        return RouteCandidate(base, source, frozenset({source}), "in_region")

    def _complies(self, option: RouteCandidate) -> bool:
        if option.source_region not in self.policy.allowed_sources:
            return False
        if option.kind == "in_region" and not self.policy.allow_in_region:
            return False
        return option.destination_regions <= self.policy.regions

    def _rank(self, option: RouteCandidate) -> tuple[int, int, str]:
        kind = (
            "in_region"
            if option.kind == "in_region"
            else ("global" if option.geography == "global" else "geo")
        )
        return (_TIERS[self.policy.prefer][kind], len(option.destination_regions), option.model_id)

    def _options_for_base(self, base: str, source: str) -> list[RouteCandidate]:
        options: list[RouteCandidate] = []
        for profile in self.catalog.profiles_for_model(base):
            opt = self._profile_option(profile, source)
            if opt is not None:
                options.append(opt)
        in_region = self._in_region_option(base, source)
        if in_region is not None:
            options.append(in_region)
        return sorted(options, key=self._rank)

    # entry -----------------------------------------------------------------------------
    def resolve(self) -> Route:
        parsed = parse_model_identifier(self.model)
        if parsed.region and parsed.region != self.source and parsed.kind != "application":
            raise InvalidModelIdentifierError(
                f"{self.model!r} names Region {parsed.region} but the client calls from "
                f"{self.source}; use the ARN of {self.source} or set region_name="
                f"{parsed.region!r}"
            )
        if parsed.kind == "base":
            return self._resolve_base(parsed.model_id, explicit_in_region=False)
        if parsed.kind == "foundation_arn":
            return self._resolve_base(parsed.model_id, explicit_in_region=True)
        if parsed.kind == "application":
            profile = self.catalog.get(parsed.model_id)
            if profile is None:
                raise UnknownModelError(
                    self.model,
                    hint="application profile ARNs hide their model and Regions: load it first "
                    "with ProfileCatalog.load_application_profile(arn) or "
                    "`langchain-cris profiles --refresh`",
                )
            if parsed.region and parsed.region != self.source:
                raise ProfileNotAvailableError(
                    f"application profile {self.model} lives in {parsed.region} and cannot be "
                    f"called from {self.source}.",
                    model=self.model,
                    source_region=self.source,
                    policy_name=self.policy.name,
                    alternatives=[f"set region_name={parsed.region!r}"],
                )
            return self._resolve_explicit(profile)
        profile = self.catalog.get(parsed.model_id)
        if profile is None:
            raise UnknownModelError(self.model, self.catalog.suggest(parsed.model_id))
        return self._resolve_explicit(profile)

    def _route(self, chosen: RouteCandidate, base: str, violations: tuple[str, ...]) -> Route:
        candidates = [chosen]
        if not violations:
            candidates.extend(self._failover(chosen, base))
        profile = self.catalog.get(chosen.profile_id) if chosen.profile_id else None
        return Route(
            model_id=chosen.model_id,
            profile_id=chosen.profile_id,
            profile_arn=profile.arn_for(chosen.source_region) if profile else None,
            base_model_id=base,
            geography=chosen.geography,
            kind=chosen.kind,
            source_region=chosen.source_region,
            destination_regions=chosen.destination_regions,
            policy_name=self.policy.name,
            policy_digest=self.policy.digest,
            mode=self.policy.mode,
            candidates=tuple(candidates),
            violations=violations,
        )

    def _failover(self, chosen: RouteCandidate, base: str) -> list[RouteCandidate]:
        """Same route from other allowed sources first, then other compliant routes."""
        out: list[RouteCandidate] = []
        seen = {(chosen.model_id, chosen.source_region)}
        sources = self.failover_sources
        profile = self.catalog.get(chosen.profile_id) if chosen.profile_id else None

        def add(opt: RouteCandidate | None) -> None:
            if opt is None or (opt.model_id, opt.source_region) in seen:
                return
            if self._complies(opt):
                seen.add((opt.model_id, opt.source_region))
                out.append(opt)

        for source in sources:
            if profile is not None and profile.profile_type == "SYSTEM_DEFINED":
                add(self._profile_option(profile, source))
            elif chosen.kind == "in_region":
                add(self._in_region_option(base, source))
        if chosen.kind != "application":
            for opt in self._options_for_base(base, self.source):
                add(opt)
        return out

    def _violation(
        self, chosen: RouteCandidate, base: str, alternatives: list[str]
    ) -> ResidencyViolation:
        outside = self.policy.outside(chosen.destination_regions)
        return ResidencyViolation(
            f"{chosen.model_id} called from {self.source} may be processed in "
            f"{describe_regions(chosen.destination_regions, self.catalog)}; "
            f"{', '.join(sorted(outside))} {'is' if len(outside) == 1 else 'are'} outside "
            f"policy {self.policy.name!r} (allowed: {', '.join(sorted(self.policy.regions))}).",
            model=self.model,
            source_region=self.source,
            policy_name=self.policy.name,
            outside_regions=outside,
            alternatives=alternatives,
        )

    def _alternatives(self, base: str, exclude: RouteCandidate | None = None) -> list[str]:
        """Compliant options, from this source first, then from other allowed sources."""
        found: list[str] = []
        for opt in self._options_for_base(base, self.source):
            if opt != exclude and self._complies(opt):
                found.append(f"{opt.model_id} from {self.source}")
        for source in sorted(self.policy.allowed_sources - {self.source}):
            for opt in self._options_for_base(base, source):
                if self._complies(opt):
                    found.append(f"{opt.model_id} with region_name={source!r}")
        return found[:5]

    def _check_source(self, base: str) -> None:
        if self.source in self.policy.allowed_sources:
            return
        err = SourceRegionNotAllowedError(
            f"calling {self.model} from {self.source} is outside policy "
            f"{self.policy.name!r}, which allows calls only from "
            f"{', '.join(sorted(self.policy.allowed_sources))}.",
            model=self.model,
            source_region=self.source,
            policy_name=self.policy.name,
            outside_regions={self.source},
            alternatives=self._alternatives(base),
        )
        raise err

    def _resolve_explicit(self, profile: InferenceProfile) -> Route:
        base = profile.model_id
        option = self._profile_option(profile, self.source)
        if option is None:
            sources = sorted(profile.source_regions & self.policy.allowed_sources)
            raise ProfileNotAvailableError(
                f"{profile.profile_id} cannot be called from {self.source}; it can be called "
                f"from {', '.join(sorted(profile.source_regions))}.",
                model=self.model,
                source_region=self.source,
                policy_name=self.policy.name,
                alternatives=[f"region_name={s!r}" for s in sources[:5]]
                or self._alternatives(base),
            )
        if self._complies(option):
            return self._route(option, base, ())
        if self.policy.mode == "audit":
            return self._route(option, base, self._describe_violation(option))
        self._check_source(base)
        raise self._violation(option, base, self._alternatives(base, exclude=option))

    def _describe_violation(self, option: RouteCandidate) -> tuple[str, ...]:
        out: list[str] = []
        if option.source_region not in self.policy.allowed_sources:
            out.append(f"source Region {option.source_region} is outside the policy")
        outside = self.policy.outside(option.destination_regions)
        if outside:
            out.append(f"may be processed in {', '.join(sorted(outside))}, outside the policy")
        if option.kind == "in_region" and not self.policy.allow_in_region:
            out.append("in-Region (non-CRIS) calls are not allowed by the policy")
        return tuple(out)

    def _resolve_base(self, base: str, *, explicit_in_region: bool) -> Route:
        known = base in self.catalog.model_ids()
        if not known:
            raise UnknownModelError(self.model, self.catalog.suggest(base))
        if explicit_in_region:
            option = self._in_region_option(base, self.source)
            if option is None:
                raise ProfileNotAvailableError(
                    f"{base} has no on-demand (in-Region) throughput in {self.source}; Bedrock "
                    "needs an inference profile for it.",
                    model=self.model,
                    source_region=self.source,
                    policy_name=self.policy.name,
                    alternatives=self._alternatives(base),
                )
            options = [option]
        else:
            options = self._options_for_base(base, self.source)
        compliant = [o for o in options if self._complies(o)]
        if compliant:
            return self._route(compliant[0], base, ())
        if self.policy.mode == "audit" and options:
            return self._route(options[0], base, self._describe_violation(options[0]))
        self._check_source(base)
        if not options:
            raise ProfileNotAvailableError(
                f"no inference profile of {base} can be called from {self.source}, and it has "
                f"no in-Region throughput there.",
                model=self.model,
                source_region=self.source,
                policy_name=self.policy.name,
                alternatives=self._alternatives(base),
            )
        if all(o.kind == "in_region" for o in options) and not self.policy.allow_in_region:
            raise ResidencyViolation(
                f"{base} can only be called in-Region from {self.source}, and policy "
                f"{self.policy.name!r} does not allow in-Region (non-CRIS) calls.",
                model=self.model,
                source_region=self.source,
                policy_name=self.policy.name,
                alternatives=self._alternatives(base),
            )
        raise self._violation(options[0], base, self._alternatives(base))


def describe_regions(regions: Iterable[str], catalog: ProfileCatalog | None = None) -> str:
    """``"all 34 commercial Regions"`` for a whole partition, else the sorted list."""
    return (catalog.regions if catalog else region_table()).describe_set(regions)


def route_destinations(routes: Iterable[Route]) -> frozenset[str]:
    """Union of every destination Region of ``routes`` and their candidates."""
    out: set[str] = set()
    for route in routes:
        out |= route.destination_regions
        for cand in route.candidates:
            out |= cand.destination_regions
    return frozenset(out)
