"""IAM identity policies and SCPs generated from a ``ResidencyPolicy``.

Routing refuses non-compliant calls inside the process; these documents make AWS refuse them too,
so a client that bypasses the package (or an older build of it) still cannot leave the policy.

The rules come from the Bedrock user guide (see ``shared/cris-facts.md`` §4):

* A geographic profile needs the profile ARN in the source Region plus the foundation-model
  ARN in the source Region and in every destination Region, the latter bound to the profile with
  ``bedrock:InferenceProfileArn`` (``GrantGeoCris…`` statements).
* A ``global.`` profile needs the official three-part form: the profile and the in-Region model
  with ``aws:RequestedRegion`` = the source Region, and the Region-less foundation-model ARN with
  ``aws:RequestedRegion`` = ``unspecified`` (``GrantGlobalCris…`` statements). It is only ever
  granted when the policy allows every commercial Region.
* An in-Region (non-CRIS) call needs the foundation-model ARN in the source Region; it is granted
  only when the policy allows in-Region calls and the model has on-demand throughput there, and
  it is restricted with ``"Null": {"bedrock:InferenceProfileArn": "true"}`` so that it cannot
  stand in for the model half of a profile that was not granted.
* SCPs: the official deny of global CRIS, a Region allow-list covering every Region the allowed
  routes touch (a blocked destination Region fails the whole CRIS call), and optionally a deny
  of direct foundation-model calls.

Only ``bedrock:InvokeModel`` and ``bedrock:InvokeModelWithResponseStream`` are granted: Converse
and ConverseStream are authorized as these two actions.

Example:
    .. code-block:: python

        from langchain_cris import ResidencyPolicy
        from langchain_cris.iam import build_identity_policy, build_scp

        eu = ResidencyPolicy.preset("eu")
        doc = build_identity_policy(
            eu, ["anthropic.claude-sonnet-4-5-20250929-v1:0"], account_id="111122223333"
        )
        doc.to_json()       # {"Version": "2012-10-17", "Statement": [...]}
        print(doc.explain())
        build_scp(eu).to_terraform()
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_cris.catalog import InferenceProfile, ProfileCatalog, default_catalog
from langchain_cris.errors import (
    InvalidModelIdentifierError,
    ResidencyError,
    ResidencyViolation,
    SourceRegionNotAllowedError,
    UnknownModelError,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table
from langchain_cris.routing import describe_regions, parse_model_identifier, resolve_route

__all__ = [
    "IAM_POLICY_VERSION",
    "IDENTITY_POLICY_MAX_CHARS",
    "INVOKE_ACTIONS",
    "SCP_MAX_CHARS",
    "Grant",
    "GrantKind",
    "GrantPlan",
    "IamDocument",
    "InvalidAccountIdError",
    "StatementInfo",
    "build_identity_policy",
    "build_scp",
    "plan_grants",
]

IAM_POLICY_VERSION = "2012-10-17"
#: The actions Converse, ConverseStream, InvokeModel and its streaming twin authorize as.
INVOKE_ACTIONS: tuple[str, ...] = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
#: AWS quotas: a customer-managed policy (whitespace not counted) and an SCP document.
IDENTITY_POLICY_MAX_CHARS = 6144
SCP_MAX_CHARS = 5120

#: ``aws:RequestedRegion`` as SCPs and IAM see it for the global half of a ``global.`` call.
UNSPECIFIED_REGION = "unspecified"
_PROFILE_ARN_KEY = "bedrock:InferenceProfileArn"
_REGION_KEY = "aws:RequestedRegion"
_ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9+=,.@_-]+")

GrantKind = Literal["geo", "global", "in_region"]
DocumentKind = Literal["identity", "scp"]
# (subject, source Region, reason) of a route that exists but is not granted
_Skip = tuple[str, str, str]


class InvalidAccountIdError(ResidencyError):
    """The AWS account id is not 12 digits (profile ARNs would never match)."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        super().__init__(
            f"invalid AWS account id {account_id!r}: expected exactly 12 digits, "
            "e.g. '111122223333'"
        )


# -- the routes a document grants ---------------------------------------------------------
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
                    f"may be processed in {_short_regions(outside)}, outside the policy",
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


# -- documents ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StatementInfo:
    """Why one statement exists, for ``--explain`` and reviews.

    Attributes:
        sid: The statement's ``Sid``.
        effect: ``Allow`` or ``Deny``.
        purpose: One sentence: what the statement enables or blocks and why AWS needs it.
        subject: The profile, model or ``*`` the statement is about.
        source_regions: Source Regions involved.
        regions: Regions named in the statement (resources or ``aws:RequestedRegion``).
    """

    sid: str
    effect: Literal["Allow", "Deny"]
    purpose: str
    subject: str
    source_regions: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class IamDocument:
    """A generated IAM identity policy or SCP with its explanation.

    Attributes:
        kind: ``identity`` or ``scp``.
        name: A policy name safe for IAM/Organizations.
        description: Names the residency policy and its digest (traceable back to the source).
        statements: The ``Statement`` list, in a stable order.
        info: One ``StatementInfo`` per statement, same order.
        plan: The routes behind the document (``None`` for a policy-wide SCP).
    """

    kind: DocumentKind
    name: str
    description: str
    statements: tuple[dict[str, Any], ...]
    info: tuple[StatementInfo, ...]
    plan: GrantPlan | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The policy document: ``{"Version": "2012-10-17", "Statement": [...]}``."""
        return {"Version": IAM_POLICY_VERSION, "Statement": [dict(s) for s in self.statements]}

    def dumps(self, *, indent: int | None = 2) -> str:
        """JSON text; ``indent=None`` gives the compact form AWS counts against its quota."""
        seps = (",", ":") if indent is None else (",", ": ")
        return json.dumps(self.to_json(), indent=indent, separators=seps)

    @property
    def size(self) -> int:
        """Characters of the compact document (what the AWS size quotas count)."""
        return len(self.dumps(indent=None))

    @property
    def max_size(self) -> int:
        return IDENTITY_POLICY_MAX_CHARS if self.kind == "identity" else SCP_MAX_CHARS

    @property
    def over_limit(self) -> bool:
        """True when AWS would reject the document as too large (split it by model)."""
        return self.size > self.max_size

    def to_terraform(self) -> dict[str, Any]:
        """A Terraform/CDK-friendly wrapper (also valid as a ``.tfvars.json`` file).

        ``policy_document`` is the compact JSON *string*, because that is what Terraform's
        ``aws_iam_policy.policy`` / ``aws_organizations_policy.content`` take and what CDK's
        ``PolicyDocument.fromJson(JSON.parse(...))`` reads; compact keeps SCPs under quota.
        """
        return {
            "policy_name": self.name,
            "policy_type": "IDENTITY" if self.kind == "identity" else "SERVICE_CONTROL_POLICY",
            "description": self.description,
            "policy_document": self.dumps(indent=None),
        }

    def explain(self) -> str:
        """A plain-text table: per statement, why it exists and which Regions it names."""
        headers = ("Sid", "Effect", "Subject", "Sources", "Regions", "Why")
        rows = [
            (
                i.sid,
                i.effect,
                i.subject,
                _short_regions(i.source_regions),
                _short_regions(i.regions),
                i.purpose,
            )
            for i in self.info
        ]
        lines = [_table(headers, rows)]
        lines.append("")
        lines.append(
            f"{self.kind} policy {self.name}: {len(self.statements)} statement(s), "
            f"{self.size}/{self.max_size} characters compact"
        )
        if self.over_limit:
            lines.append(
                "WARNING: larger than the AWS quota; split it by model or by source Region."
            )
        if self.plan is not None:
            if self.kind == "scp":
                lines.extend(f"allow-list: {need}" for need in _route_needs(self.plan))
            for reason in self.plan.skipped:
                lines.append(f"not granted: {reason}")
        return "\n".join(lines)


def build_identity_policy(
    policy: ResidencyPolicy,
    models: Iterable[str],
    *,
    account_id: str,
    source_regions: Iterable[str] | None = None,
    catalog: ProfileCatalog | None = None,
    name: str | None = None,
) -> IamDocument:
    """The least-privilege identity policy that lets ``models`` be called within ``policy``.

    Args:
        policy: The residency policy to enforce in IAM.
        models: Base model ids, profile ids/ARNs or foundation-model ARNs (see
            :func:`plan_grants`).
        account_id: The 12-digit account that calls Bedrock (profile ARNs include it).
        source_regions: Restrict the source Regions (each must be allowed by the policy).
        catalog: Profile data; the process-wide catalog by default.
        name: Policy name; default ``langchain-cris-<policy>-identity``.

    Returns:
        The document, its explanation and the plan behind it.

    Raises:
        InvalidAccountIdError: ``account_id`` is not 12 digits.
        ResidencyError: see :func:`plan_grants`; all raised before anything is generated.
    """
    if not _ACCOUNT_RE.match(account_id):
        raise InvalidAccountIdError(account_id)
    plan = plan_grants(policy, models, source_regions=source_regions, catalog=catalog)
    builder = _StatementBuilder()
    by_profile: dict[str, list[Grant]] = {}
    in_region: dict[str, list[Grant]] = {}
    for g in plan.grants:
        if g.profile_id is None:
            in_region.setdefault(g.base_model_id, []).append(g)
        else:
            by_profile.setdefault(g.profile_id, []).append(g)
    for profile_id in sorted(by_profile):
        grants = by_profile[profile_id]
        if grants[0].kind == "global":
            _global_statements(builder, profile_id, grants, account_id)
        else:
            _geo_statements(builder, profile_id, grants, account_id)
    for base in sorted(in_region):
        _in_region_statement(builder, base, in_region[base])
    return IamDocument(
        kind="identity",
        name=_doc_name(name, policy, "identity"),
        description=_description(policy, "identity policy"),
        statements=tuple(builder.statements),
        info=tuple(builder.info),
        plan=plan,
    )


def build_scp(
    policy: ResidencyPolicy,
    models: Iterable[str] = (),
    *,
    source_regions: Iterable[str] | None = None,
    catalog: ProfileCatalog | None = None,
    deny_in_region: bool | None = None,
    name: str | None = None,
) -> IamDocument:
    """A service control policy that keeps Bedrock inside ``policy`` for a whole account/OU.

    Statements, in order:

    1. ``DenyGlobalCrossRegionInference``: the official statement, when the policy does not
       allow every commercial Region.
    2. ``DenyBedrockOutsideResidencyRegions``: ``bedrock:*`` denied where
       ``aws:RequestedRegion`` is not in the allow-list. With ``models`` the allow-list is the
       union of every source and destination Region of every allowed route (AWS fails a CRIS
       call if *any* destination Region is blocked); without, it is all policy Regions and
       allowed sources. ``unspecified`` is listed only when global routes are allowed.
    3. ``DenyDirectFoundationModelInvocation`` when in-Region calls are denied (default: when the
       policy refuses them), else ``DenyDirectFoundationModelInvocationInSourceOnlyRegions``
       if some allowed source Region is not itself a policy Region.

    Args:
        policy: The residency policy.
        models: Narrow the Region allow-list to what these models' allowed routes need.
        source_regions: Restrict the source Regions (with ``models``).
        catalog: Profile data; the process-wide catalog by default.
        deny_in_region: Force (``True``) or omit (``False``) the deny of direct calls; ``None``
            follows ``policy.allow_in_region``.
        name: Policy name; default ``langchain-cris-<policy>-scp``.

    Raises:
        ResidencyError: see :func:`plan_grants`.
    """
    model_list = list(models)
    plan: GrantPlan | None = None
    builder = _StatementBuilder()
    partitions = _partitions(policy.regions | policy.allowed_sources)
    if not policy.allows_global:
        builder.add(
            "DenyGlobalCrossRegionInference",
            {
                "Effect": "Deny",
                "Action": "bedrock:*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {_REGION_KEY: UNSPECIFIED_REGION},
                    "ArnLike": {_PROFILE_ARN_KEY: "arn:aws:bedrock:*:*:inference-profile/global.*"},
                },
            },
            "Deny",
            "the policy does not allow every commercial Region, so global CRIS is denied "
            "(official statement; global calls evaluate with aws:RequestedRegion=unspecified)",
            "global.*",
        )
    if model_list:
        plan = plan_grants(policy, model_list, source_regions=source_regions, catalog=catalog)
        allowed = plan.regions_needed()
        why = (
            "Region allow-list: every source and destination Region of every allowed route "
            "(a blocked destination fails the whole CRIS call)"
        )
        sources: tuple[str, ...] = tuple(sorted({g.source_region for g in plan.grants}))
    else:
        allowed = policy.regions | policy.allowed_sources
        if policy.allows_global:
            allowed |= {UNSPECIFIED_REGION}
        why = "Region allow-list: every Region of the policy (allowed profiles never go beyond it)"
        sources = tuple(sorted(policy.allowed_sources))
    if UNSPECIFIED_REGION in allowed:
        why += "; 'unspecified' admits the global model half of allowed global. routes"
    builder.add(
        "DenyBedrockOutsideResidencyRegions",
        {
            "Effect": "Deny",
            "Action": "bedrock:*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {_REGION_KEY: sorted(allowed)}},
        },
        "Deny",
        why,
        "bedrock:*",
        sources,
        tuple(sorted(allowed)),
    )
    direct = (not policy.allow_in_region) if deny_in_region is None else deny_in_region
    source_only = sorted(allowed - policy.regions - {UNSPECIFIED_REGION})
    if direct:
        builder.add(
            "DenyDirectFoundationModelInvocation",
            _direct_deny(partitions, None),
            "Deny",
            "in-Region (non-CRIS) calls are refused: a direct call has no "
            "bedrock:InferenceProfileArn",
            "foundation-model/*",
        )
    elif source_only:
        builder.add(
            "DenyDirectFoundationModelInvocationInSourceOnlyRegions",
            _direct_deny(partitions, source_only),
            "Deny",
            "these Regions are allowed as CRIS sources only; a direct call would be processed "
            "there, outside the policy",
            "foundation-model/*",
            (),
            tuple(source_only),
        )
    return IamDocument(
        kind="scp",
        name=_doc_name(name, policy, "scp"),
        description=_description(policy, "SCP"),
        statements=tuple(builder.statements),
        info=tuple(builder.info),
        plan=plan,
    )


# -- statement construction ---------------------------------------------------------------
class _StatementBuilder:
    """Collects statements with unique Sids and their explanations."""

    def __init__(self) -> None:
        self.statements: list[dict[str, Any]] = []
        self.info: list[StatementInfo] = []
        self._sids: set[str] = set()

    def add(
        self,
        sid: str,
        body: dict[str, Any],
        effect: Literal["Allow", "Deny"],
        purpose: str,
        subject: str,
        source_regions: Sequence[str] = (),
        regions: Sequence[str] = (),
    ) -> None:
        unique, n = sid, 2
        while unique in self._sids:
            unique, n = f"{sid}{n}", n + 1
        self._sids.add(unique)
        self.statements.append({"Sid": unique, **body})
        self.info.append(
            StatementInfo(unique, effect, purpose, subject, tuple(source_regions), tuple(regions))
        )


def _one_or_many(values: Iterable[str]) -> str | list[str]:
    """A scalar for one value (the shape of AWS's examples), else a sorted list."""
    items = sorted(set(values))
    return items[0] if len(items) == 1 else items


def _allow(resources: Iterable[str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Effect": "Allow",
        "Action": list(INVOKE_ACTIONS),
        "Resource": _one_or_many(resources),
    }
    if condition:
        body["Condition"] = condition
    return body


def _geo_statements(
    builder: _StatementBuilder, profile_id: str, grants: Sequence[Grant], account: str
) -> None:
    sources = sorted({g.source_region for g in grants})
    base = grants[0].base_model_id
    profile_arns = [_profile_arn(s, account, profile_id) for s in sources]
    # AWS evaluates the model in the source Region and in every destination Region.
    model_regions = sorted({r for g in grants for r in g.destination_regions} | set(sources))
    suffix = _sid_suffix(profile_id)
    builder.add(
        f"GrantGeoCrisInferenceProfileAccess{suffix}",
        _allow(profile_arns),
        "Allow",
        "call the geographic profile from each allowed source Region",
        profile_id,
        sources,
        sources,
    )
    builder.add(
        f"GrantGeoCrisModelAccess{suffix}",
        _allow(
            (_fm_arn(r, base) for r in model_regions),
            {"StringEquals": {_PROFILE_ARN_KEY: _one_or_many(profile_arns)}},
        ),
        "Allow",
        "the model in the source and every destination Region, only through this profile",
        profile_id,
        sources,
        model_regions,
    )


def _global_statements(
    builder: _StatementBuilder, profile_id: str, grants: Sequence[Grant], account: str
) -> None:
    sources = sorted({g.source_region for g in grants})
    base = grants[0].base_model_id
    profile_arns = _one_or_many(_profile_arn(s, account, profile_id) for s in sources)
    suffix = _sid_suffix(profile_id)
    builder.add(
        f"GrantGlobalCrisInferenceProfileRegionAccess{suffix}",
        _allow(
            (_profile_arn(s, account, profile_id) for s in sources),
            {"StringEquals": {_REGION_KEY: _one_or_many(sources)}},
        ),
        "Allow",
        "global three-part form 1/3: the global profile in each allowed source Region",
        profile_id,
        sources,
        sources,
    )
    builder.add(
        f"GrantGlobalCrisInferenceProfileInRegionModelAccess{suffix}",
        _allow(
            (_fm_arn(s, base) for s in sources),
            {
                "StringEquals": {
                    _REGION_KEY: _one_or_many(sources),
                    _PROFILE_ARN_KEY: profile_arns,
                }
            },
        ),
        "Allow",
        "global three-part form 2/3: the model in the source Region through the profile",
        profile_id,
        sources,
        sources,
    )
    builder.add(
        f"GrantGlobalCrisInferenceProfileGlobalModelAccess{suffix}",
        _allow(
            [_global_fm_arn(base)],
            {"StringEquals": {_REGION_KEY: UNSPECIFIED_REGION, _PROFILE_ARN_KEY: profile_arns}},
        ),
        "Allow",
        "global three-part form 3/3: the Region-less model ARN (aws:RequestedRegion="
        "unspecified); the policy allows every commercial Region",
        profile_id,
        sources,
        (UNSPECIFIED_REGION,),
    )


def _in_region_statement(builder: _StatementBuilder, base: str, grants: Sequence[Grant]) -> None:
    regions = sorted({g.source_region for g in grants})
    builder.add(
        f"GrantInRegionModelAccess{_sid_suffix(base)}",
        _allow((_fm_arn(r, base) for r in regions), {"Null": {_PROFILE_ARN_KEY: "true"}}),
        "Allow",
        "direct (non-CRIS) calls served in the source Region; the Null condition keeps this "
        "grant from serving as the model half of a profile that was not granted",
        base,
        regions,
        regions,
    )


def _direct_deny(partitions: Sequence[str], regions: Sequence[str] | None) -> dict[str, Any]:
    condition: dict[str, Any] = {"Null": {_PROFILE_ARN_KEY: "true"}}
    if regions:
        condition["StringEquals"] = {_REGION_KEY: _one_or_many(regions)}
    return {
        "Effect": "Deny",
        "Action": list(INVOKE_ACTIONS),
        "Resource": _one_or_many(f"arn:{p}:bedrock:*::foundation-model/*" for p in partitions),
        "Condition": condition,
    }


# -- ARNs and names -----------------------------------------------------------------------
def _partition(region: str) -> str:
    return region_table().regions[region].partition


def _partitions(regions: Iterable[str]) -> list[str]:
    return sorted({_partition(r) for r in regions})


def _profile_arn(region: str, account: str, profile_id: str) -> str:
    return f"arn:{_partition(region)}:bedrock:{region}:{account}:inference-profile/{profile_id}"


def _fm_arn(region: str, model_id: str) -> str:
    return f"arn:{_partition(region)}:bedrock:{region}::foundation-model/{model_id}"


def _global_fm_arn(model_id: str) -> str:
    # Region- and account-less by design: AWS's required form for global CRIS.
    return f"arn:aws:bedrock:::foundation-model/{model_id}"


def _sid_suffix(text: str) -> str:
    """``eu.anthropic.claude-sonnet-4-5-20250929-v1:0`` -> ``EuAnthropicClaudeSonnet4520250929V10``
    (Sids allow only ASCII letters and digits)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text))


def _doc_name(name: str | None, policy: ResidencyPolicy, kind: str) -> str:
    raw = name or f"langchain-cris-{policy.name}-{kind}"
    return _NAME_UNSAFE.sub("-", raw).strip("-")[:128] or f"langchain-cris-{kind}"


def _description(policy: ResidencyPolicy, what: str) -> str:
    return (
        f"langchain-cris {what} for residency policy {policy.name!r} ({policy.digest}): "
        f"processing only in {describe_regions(policy.regions)}"
    )[:512]


def _short_regions(regions: Iterable[str]) -> str:
    """Full list up to eight Regions, else a count with the first and last (the JSON has all)."""
    items = sorted(regions)
    if not items:
        return "-"
    real = [r for r in items if r != UNSPECIFIED_REGION]
    if len(real) > 8:
        text = f"{len(real)} Regions ({real[0]} … {real[-1]})"
        if frozenset(real) == region_table().partition_regions("aws"):
            text = f"all {len(real)} commercial Regions"
    else:
        text = ", ".join(real)
    if UNSPECIFIED_REGION in items:
        text = f"{text}, {UNSPECIFIED_REGION}" if text else UNSPECIFIED_REGION
    return text


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(headers)] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _route_needs(plan: GrantPlan) -> list[str]:
    """Why each Region is on the SCP allow-list: the routes that need it, grouped."""
    grouped: dict[tuple[str, frozenset[str]], set[str]] = {}
    for g in plan.grants:
        subject = g.profile_id or f"{g.base_model_id} in-Region"
        needs = (
            frozenset({g.source_region, UNSPECIFIED_REGION})
            if g.kind == "global"
            else g.destination_regions | {g.source_region}
        )
        grouped.setdefault((subject, needs), set()).add(g.source_region)
    return [
        f"{subject} from {_short_regions(sources)} needs {_short_regions(needs)}"
        for (subject, needs), sources in sorted(grouped.items(), key=lambda kv: kv[0][0])
    ]
