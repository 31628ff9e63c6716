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

This package is the public face; the work is split by concern into modules:
``plan`` (which routes are allowed), ``statements`` (identity policy),
``scp`` (SCP), ``guardrails`` (guardrail profiles: ``ApplyGuardrail`` on the profile in every
destination Region, granted only inside the policy), ``document`` (the document type),
``explain`` (``explain()`` text) and ``arns`` (ARN, action and condition-key spellings, Region
lists for people). Imports run one way: ``arns`` ← ``plan`` ← ``explain`` ← ``document`` ←
``statements``/``scp`` ← ``guardrails``.

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

from langchain_cris.iam.arns import INVOKE_ACTIONS
from langchain_cris.iam.arns import UNSPECIFIED_REGION as UNSPECIFIED_REGION
from langchain_cris.iam.document import (
    IAM_POLICY_VERSION,
    IDENTITY_POLICY_MAX_CHARS,
    SCP_MAX_CHARS,
    IamDocument,
    StatementInfo,
)
from langchain_cris.iam.document import DocumentKind as DocumentKind
from langchain_cris.iam.guardrails import build_guardrail_policy
from langchain_cris.iam.plan import Grant, GrantKind, GrantPlan, plan_grants
from langchain_cris.iam.scp import build_scp
from langchain_cris.iam.statements import InvalidAccountIdError, build_identity_policy

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
    "build_guardrail_policy",
    "build_identity_policy",
    "build_scp",
    "plan_grants",
]
