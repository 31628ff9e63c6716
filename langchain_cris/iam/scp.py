"""Service control policies: Deny statements that keep Bedrock inside a policy's Regions.

An SCP cannot grant, only fence: it denies global CRIS, every Region a granted route does not
need, and optionally direct (non-CRIS) model calls, so it holds for a whole account or OU even
where identity policies are too broad.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.iam.arns import (
    INVOKE_ACTIONS,
    PROFILE_ARN_KEY,
    REGION_KEY,
    UNSPECIFIED_REGION,
    one_or_many,
    region_partitions,
)
from langchain_cris.iam.document import (
    IamDocument,
    StatementBuilder,
    doc_name,
    document_description,
)
from langchain_cris.iam.plan import GrantPlan, plan_grants
from langchain_cris.policy import ResidencyPolicy

__all__ = ["build_scp"]


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
    builder = StatementBuilder()
    partitions = region_partitions(policy.regions | policy.allowed_sources)
    if not policy.allows_global:
        builder.add(
            "DenyGlobalCrossRegionInference",
            {
                "Effect": "Deny",
                "Action": "bedrock:*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {REGION_KEY: UNSPECIFIED_REGION},
                    "ArnLike": {PROFILE_ARN_KEY: "arn:aws:bedrock:*:*:inference-profile/global.*"},
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
            "Condition": {"StringNotEquals": {REGION_KEY: sorted(allowed)}},
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
        name=doc_name(name, policy, "scp"),
        description=document_description(policy, "SCP"),
        statements=tuple(builder.statements),
        info=tuple(builder.info),
        plan=plan,
    )


def _direct_deny(partitions: Sequence[str], regions: Sequence[str] | None) -> dict[str, Any]:
    condition: dict[str, Any] = {"Null": {PROFILE_ARN_KEY: "true"}}
    if regions:
        condition["StringEquals"] = {REGION_KEY: one_or_many(regions)}
    return {
        "Effect": "Deny",
        "Action": list(INVOKE_ACTIONS),
        "Resource": one_or_many(f"arn:{p}:bedrock:*::foundation-model/*" for p in partitions),
        "Condition": condition,
    }
