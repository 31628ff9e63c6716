"""IAM for guardrails with cross-Region inference: grant only guardrail profiles inside the policy.

AWS's "Permissions for using cross-Region inference with Amazon Bedrock Guardrails": invoking
a guardrail that uses a guardrail profile needs ``bedrock:ApplyGuardrail`` on the guardrail in
the source Region **and** on the guardrail profile in every destination Region of that profile
(``arn:aws:bedrock:<destination>:<account>:guardrail-profile/<id>``). So a profile whose
destinations from a source Region leave the policy is simply not granted, and AWS refuses a
guardrail using it even for a client that bypasses this package. ``bedrock:GetGuardrail`` on
the guardrails is granted too: it is how the library learns a guardrail's profile.

The statements are a separate document (:func:`build_guardrail_policy`) to attach next to the
model identity policy from :func:`~langchain_cris.iam.build_identity_policy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_cris.errors import SourceRegionNotAllowedError
from langchain_cris.guardrails import GuardrailProfile, bundled_guardrail_profiles
from langchain_cris.iam.arns import one_or_many, partition_of, sid_suffix
from langchain_cris.iam.document import (
    IamDocument,
    StatementBuilder,
    doc_name,
    document_description,
)
from langchain_cris.iam.statements import InvalidAccountIdError
from langchain_cris.policy import ResidencyPolicy

__all__ = ["APPLY_GUARDRAIL", "GET_GUARDRAIL", "build_guardrail_policy"]

APPLY_GUARDRAIL = "bedrock:ApplyGuardrail"
GET_GUARDRAIL = "bedrock:GetGuardrail"


def build_guardrail_policy(
    policy: ResidencyPolicy,
    guardrail_ids: Iterable[str] = ("*",),
    *,
    account_id: str,
    source_regions: Iterable[str] | None = None,
    profiles: Iterable[GuardrailProfile] | None = None,
    name: str | None = None,
) -> IamDocument:
    """Identity-policy statements for guardrails used within ``policy``.

    Args:
        policy: The residency policy.
        guardrail_ids: Guardrail ids (``*`` for every guardrail of the account).
        account_id: The 12-digit account owning the guardrails.
        source_regions: Restrict the source Regions (each must be allowed by the policy).
        profiles: Guardrail profiles; the bundled table by default.
        name: Policy name; default ``langchain-cris-<policy>-guardrails``.

    Raises:
        InvalidAccountIdError: ``account_id`` is not 12 digits.
        SourceRegionNotAllowedError: a requested source Region is outside the policy.
    """
    if not (account_id.isdigit() and len(account_id) == 12):
        raise InvalidAccountIdError(account_id)
    sources = (
        sorted(source_regions) if source_regions is not None else sorted(policy.allowed_sources)
    )
    for region in sources:
        if region not in policy.allowed_sources:
            raise SourceRegionNotAllowedError(
                f"source Region {region} is not allowed by policy {policy.name!r}",
                model="(guardrails)",
                source_region=region,
                policy_name=policy.name,
                alternatives=sorted(policy.allowed_sources),
            )
    table = list(profiles if profiles is not None else bundled_guardrail_profiles().values())
    ids = sorted(set(guardrail_ids)) or ["*"]
    builder = StatementBuilder()
    for source in sources:
        guardrails = [_guardrail_arn(source, account_id, g) for g in ids]
        builder.add(
            f"GuardrailsIn{sid_suffix(source)}",
            _allow([APPLY_GUARDRAIL, GET_GUARDRAIL], guardrails),
            "Allow",
            "Apply and read the guardrails in their own Region (a guardrail without "
            "cross-Region config is evaluated there only).",
            ", ".join(ids),
            [source],
            [source],
        )
        for profile in sorted(table, key=lambda p: p.profile_id):
            destinations = profile.destinations(source)
            if not destinations or not destinations <= policy.regions:
                continue  # not granted: AWS then refuses guardrails that use this profile
            arns = [
                f"arn:{partition_of(r)}:bedrock:{r}:{account_id}:guardrail-profile/"
                f"{profile.profile_id}"
                for r in sorted(destinations)
            ]
            builder.add(
                f"GuardrailProfile{sid_suffix(profile.profile_id)}From{sid_suffix(source)}",
                _allow([APPLY_GUARDRAIL], [*guardrails, *arns]),
                "Allow",
                f"Evaluate guardrails through guardrail profile {profile.profile_id} from "
                f"{source}: AWS authorizes the profile in every destination Region.",
                profile.profile_id,
                [source],
                sorted(destinations),
            )
    return IamDocument(
        kind="identity",
        name=doc_name(name, policy, "guardrails"),
        description=document_description(policy, "guardrail identity policy"),
        statements=tuple(builder.statements),
        info=tuple(builder.info),
    )


def _guardrail_arn(region: str, account_id: str, guardrail_id: str) -> str:
    return f"arn:{partition_of(region)}:bedrock:{region}:{account_id}:guardrail/{guardrail_id}"


def _allow(actions: list[str], resources: Iterable[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": one_or_many(actions), "Resource": one_or_many(resources)}
