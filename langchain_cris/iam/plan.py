"""Which routes a residency policy allows for some models: the input of every IAM document.

Planning is kept apart from statement writing so that the identity policy and the SCP are
derived from one answer, and so that refusals raise the same errors, with the same messages,
as routing does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from langchain_cris.catalog import InferenceProfile, ProfileCatalog, default_catalog
from langchain_cris.errors import (
    InvalidModelIdentifierError,
    ResidencyError,
    ResidencyViolation,
    SourceRegionNotAllowedError,
    UnknownModelError,
)
from langchain_cris.iam.arns import UNSPECIFIED_REGION, short_regions
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.routing import parse_model_identifier, resolve_route

__all__ = ["Grant", "GrantKind", "GrantPlan", "plan_grants"]

GrantKind = Literal["geo", "global", "in_region"]
# (subject, source Region, reason) of a route that exists but is not granted
_Skip = tuple[str, str, str]


@dataclass(frozen=True)
class Grant:
    """One compliant route: a profile (or in-Region call) from one source Region.

    Attributes:
        model: The model string as the caller gave it.
        base_model_id: The foundation model the route serves.
        kind: ``geo`` (geographic profile), ``global`` or ``in_region``.
        source_region: The Region the client calls.
        destination_regions: Where AWS may process the call from that source.
        profile_id: The inference profile id (``None`` for in-Region).
    """

    model: str
    base_model_id: str
    kind: GrantKind
    source_region: str
    destination_regions: frozenset[str]
    profile_id: str | None = None


@dataclass(frozen=True)
class GrantPlan:
    """The compliant routes for some models under a policy, and why others were left out.

    Attributes:
        policy: The residency policy the plan follows.
        source_regions: The source Regions considered.
        grants: Every compliant route, deterministic order.
        skipped: Human-readable reasons for routes that exist but were not granted.
    """

    policy: ResidencyPolicy
    source_regions: tuple[str, ...]
    grants: tuple[Grant, ...]
    skipped: tuple[str, ...] = ()

    def regions_needed(self) -> frozenset[str]:
        """Every ``aws:RequestedRegion`` value the granted calls are evaluated with."""
        out: set[str] = set()
        for g in self.grants:
            out.add(g.source_region)
            if g.kind == "global":
                out.add(UNSPECIFIED_REGION)  # the global model half, not the real destination
            else:
                out |= g.destination_regions
        return frozenset(out)


def plan_grants(
    policy: ResidencyPolicy,
    models: Iterable[str],
    *,
    source_regions: Iterable[str] | None = None,
    catalog: ProfileCatalog | None = None,
) -> GrantPlan:
    """Work out which routes the policy allows for ``models`` (the input of both documents).

    A route is granted when its source Region is an allowed source and every destination Region
    from that source is inside the policy (the rule ``resolve_route`` applies); in-Region routes
    also need ``policy.allow_in_region`` and on-demand throughput in that Region. The policy's
    ``mode`` does not widen anything: an ``audit`` policy yields the same documents as ``enforce``.

    Args:
        policy: The residency policy.
        models: Base model ids, system profile ids or ARNs, or foundation-model ARNs
            (in-Region only, in the ARN's Region).
        source_regions: Source Regions to grant; default every allowed source of the policy
            (each profile is then granted where it is callable).
        catalog: Profile data; the process-wide catalog by default.

    Returns:
        The plan; ``grants`` is never empty for a model that was asked for.

    Raises:
        UnknownRegionError: a source Region that does not exist.
        SourceRegionNotAllowedError: a source Region outside the policy's allowed sources.
        UnknownModelError / InvalidModelIdentifierError: a model the catalog does not know.
        RouteRefusedError: a model with no compliant route at all (same message as routing).
    """
    cat = catalog or default_catalog()
    model_list = list(dict.fromkeys(models))
    sources = _check_sources(policy, source_regions, model_list, cat)
    grants: list[Grant] = []
    skipped: list[_Skip] = []
    for model in model_list:
        found = _grants_for_model(model, policy, sources, cat, skipped)
        if not found:
            raise _refusal(model, policy, sources, cat)
        grants.extend(found)
    unique = sorted(set(grants), key=_grant_key)
    return GrantPlan(policy, sources, tuple(unique), _group_skipped(skipped))


def _group_skipped(skipped: Iterable[_Skip]) -> tuple[str, ...]:
    """One line per (subject, reason), naming every source Region it applies to."""
    grouped: dict[tuple[str, str], set[str]] = {}
    for subject, source, reason in skipped:
        grouped.setdefault((subject, reason), set()).add(source)
    return tuple(
        f"{subject} from {', '.join(sorted(sources))}: {reason}"
        for (subject, reason), sources in sorted(grouped.items())
    )


def _grant_key(g: Grant) -> tuple[str, int, str, str, str]:
    order = {"geo": 0, "global": 1, "in_region": 2}[g.kind]
    return (g.base_model_id, order, g.profile_id or "", g.source_region, g.model)


def _check_sources(
    policy: ResidencyPolicy,
    requested: Iterable[str] | None,
    models: Sequence[str],
    cat: ProfileCatalog,
) -> tuple[str, ...]:
    if requested is None:
        return tuple(sorted(policy.allowed_sources))
    sources = sorted(cat.regions.check_all(requested))
    outside = [s for s in sources if s not in policy.allowed_sources]
    if outside:
        raise SourceRegionNotAllowedError(
            f"source Region(s) {', '.join(outside)} are outside policy {policy.name!r}, which "
            f"allows calls only from {', '.join(sorted(policy.allowed_sources))}.",
            model=", ".join(models),
            source_region=outside[0],
            policy_name=policy.name,
            outside_regions=outside,
            alternatives=[f"--source-region {s}" for s in sorted(policy.allowed_sources)[:5]],
        )
    if not sources:
        raise SourceRegionNotAllowedError(
            "no source Region given.",
            model=", ".join(models),
            source_region="",
            policy_name=policy.name,
            alternatives=sorted(policy.allowed_sources)[:5],
        )
    return tuple(sources)


def _grants_for_model(
    model: str,
    policy: ResidencyPolicy,
    sources: Sequence[str],
    cat: ProfileCatalog,
    skipped: list[_Skip],
) -> list[Grant]:
    parsed = parse_model_identifier(model)
    if parsed.kind == "application":
        raise InvalidModelIdentifierError(
            f"{model!r} is an application inference profile; its copy-from source and Regions "
            "are not modelled for IAM generation. Pass the system profile id or base model id "
            "it was copied from"
        )
    if parsed.region is not None and parsed.region not in sources:
        raise SourceRegionNotAllowedError(
            f"{model} is an ARN in {parsed.region}, which is not among the source Regions "
            f"considered ({', '.join(sources)}).",
            model=model,
            source_region=parsed.region,
            policy_name=policy.name,
            outside_regions={parsed.region},
            alternatives=[f"--source-region {s}" for s in sources[:5]],
        )
    here = (parsed.region,) if parsed.region else tuple(sources)
    if parsed.kind == "profile":
        profile = cat.get(parsed.model_id)
        if profile is None:
            raise UnknownModelError(model, cat.suggest(parsed.model_id))
        if profile.profile_type == "APPLICATION":  # found by id rather than ARN
            raise InvalidModelIdentifierError(
                f"{model!r} is an application inference profile; pass the system profile id "
                "or base model id it was copied from"
            )
        return _profile_grants(model, profile, policy, here, skipped)
    base = parsed.model_id
    if base not in cat.model_ids():
        raise UnknownModelError(model, cat.suggest(base))
    out: list[Grant] = []
    if parsed.kind == "base":
        for profile in cat.profiles_for_model(base):
            out.extend(_profile_grants(model, profile, policy, here, skipped))
    for source in here:
        if source not in cat.on_demand_regions(base):
            continue
        if not policy.allow_in_region:
            skipped.append((f"{base} in-Region", source, "the policy refuses in-Region calls"))
        elif source not in policy.regions:
            skipped.append((f"{base} in-Region", source, "the Region is outside the policy"))
        else:
            out.append(Grant(model, base, "in_region", source, frozenset({source})))
    return out


def _profile_grants(
    model: str,
    profile: InferenceProfile,
    policy: ResidencyPolicy,
    sources: Iterable[str],
    skipped: list[_Skip],
) -> list[Grant]:
    kind: GrantKind = "global" if profile.geography == "global" else "geo"
    out: list[Grant] = []
    for source in sources:
        dest = profile.destinations(source)
        if not dest:
            continue  # not callable from there: nothing to grant, nothing to explain
        outside = policy.outside(dest)
        if outside:
            skipped.append(
                (
                    profile.profile_id,
                    source,
                    f"may be processed in {short_regions(outside)}, outside the policy",
                )
            )
            continue
        out.append(Grant(model, profile.model_id, kind, source, dest, profile.profile_id))
    return out


def _refusal(
    model: str, policy: ResidencyPolicy, sources: Sequence[str], cat: ProfileCatalog
) -> ResidencyError:
    """The routing error for a model with no compliant route, so both layers say the same."""
    enforcing = (
        policy if policy.mode == "enforce" else policy.model_copy(update={"mode": "enforce"})
    )
    region = parse_model_identifier(model).region
    for source in (region,) if region else sources:
        try:
            resolve_route(model, enforcing, source, cat, failover=False)
        except ResidencyError as exc:
            return exc
    return ResidencyViolation(
        f"no compliant route for {model} from {', '.join(sources)}.",
        model=model,
        source_region=sources[0] if sources else "",
        policy_name=policy.name,
    )
