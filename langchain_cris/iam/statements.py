"""The least-privilege identity policy: Allow statements for each granted route.

AWS authorizes a cross-Region call several times (profile, model in the source Region, model
in each destination Region, and for ``global.`` a Region-less model ARN), so each kind of route
gets its own statement shapes here; see the rules in :mod:`langchain_cris.iam`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.errors import ResidencyError
from langchain_cris.iam.arns import (
    INVOKE_ACTIONS,
    PROFILE_ARN_KEY,
    REGION_KEY,
    UNSPECIFIED_REGION,
    fm_arn,
    global_fm_arn,
    one_or_many,
    profile_arn,
    sid_suffix,
)
from langchain_cris.iam.document import (
    IamDocument,
    StatementBuilder,
    doc_name,
    document_description,
)
from langchain_cris.iam.plan import Grant, plan_grants
from langchain_cris.policy import ResidencyPolicy

__all__ = ["InvalidAccountIdError", "build_identity_policy"]

_ACCOUNT_RE = re.compile(r"^[0-9]{12}$")


class InvalidAccountIdError(ResidencyError):
    """The AWS account id is not 12 digits (profile ARNs would never match)."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        super().__init__(
            f"invalid AWS account id {account_id!r}: expected exactly 12 digits, "
            "e.g. '111122223333'"
        )


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
    builder = StatementBuilder()
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
        name=doc_name(name, policy, "identity"),
        description=document_description(policy, "identity policy"),
        statements=tuple(builder.statements),
        info=tuple(builder.info),
        plan=plan,
    )


def _allow(resources: Iterable[str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Effect": "Allow",
        "Action": list(INVOKE_ACTIONS),
        "Resource": one_or_many(resources),
    }
    if condition:
        body["Condition"] = condition
    return body


def _geo_statements(
    builder: StatementBuilder, profile_id: str, grants: Sequence[Grant], account: str
) -> None:
    sources = sorted({g.source_region for g in grants})
    base = grants[0].base_model_id
    profile_arns = [profile_arn(s, account, profile_id) for s in sources]
    # AWS evaluates the model in the source Region and in every destination Region.
    model_regions = sorted({r for g in grants for r in g.destination_regions} | set(sources))
    suffix = sid_suffix(profile_id)
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
            (fm_arn(r, base) for r in model_regions),
            {"StringEquals": {PROFILE_ARN_KEY: one_or_many(profile_arns)}},
        ),
        "Allow",
        "the model in the source and every destination Region, only through this profile",
        profile_id,
        sources,
        model_regions,
    )


def _global_statements(
    builder: StatementBuilder, profile_id: str, grants: Sequence[Grant], account: str
) -> None:
    sources = sorted({g.source_region for g in grants})
    base = grants[0].base_model_id
    profile_arns = one_or_many(profile_arn(s, account, profile_id) for s in sources)
    suffix = sid_suffix(profile_id)
    builder.add(
        f"GrantGlobalCrisInferenceProfileRegionAccess{suffix}",
        _allow(
            (profile_arn(s, account, profile_id) for s in sources),
            {"StringEquals": {REGION_KEY: one_or_many(sources)}},
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
            (fm_arn(s, base) for s in sources),
            {
                "StringEquals": {
                    REGION_KEY: one_or_many(sources),
                    PROFILE_ARN_KEY: profile_arns,
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
            [global_fm_arn(base)],
            {"StringEquals": {REGION_KEY: UNSPECIFIED_REGION, PROFILE_ARN_KEY: profile_arns}},
        ),
        "Allow",
        "global three-part form 3/3: the Region-less model ARN (aws:RequestedRegion="
        "unspecified); the policy allows every commercial Region",
        profile_id,
        sources,
        (UNSPECIFIED_REGION,),
    )


def _in_region_statement(builder: StatementBuilder, base: str, grants: Sequence[Grant]) -> None:
    regions = sorted({g.source_region for g in grants})
    builder.add(
        f"GrantInRegionModelAccess{sid_suffix(base)}",
        _allow((fm_arn(r, base) for r in regions), {"Null": {PROFILE_ARN_KEY: "true"}}),
        "Allow",
        "direct (non-CRIS) calls served in the source Region; the Null condition keeps this "
        "grant from serving as the model half of a profile that was not granted",
        base,
        regions,
        regions,
    )
