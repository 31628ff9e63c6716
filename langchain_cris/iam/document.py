"""A generated IAM document, the statement builder behind it, and how it is named.

Both generators (:mod:`.statements` for identity policies, :mod:`.scp` for SCPs)
produce an :class:`IamDocument` through a :class:`StatementBuilder`, so every document carries
its explanation and size checks the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_cris.iam.explain import explain_document
from langchain_cris.iam.plan import GrantPlan
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.routing import describe_regions

__all__ = [
    "IAM_POLICY_VERSION",
    "IDENTITY_POLICY_MAX_CHARS",
    "SCP_MAX_CHARS",
    "DocumentKind",
    "IamDocument",
    "StatementBuilder",
    "StatementInfo",
    "doc_name",
    "document_description",
]

IAM_POLICY_VERSION = "2012-10-17"
#: AWS quotas: a customer-managed policy (whitespace not counted) and an SCP document.
IDENTITY_POLICY_MAX_CHARS = 6144
SCP_MAX_CHARS = 5120
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9+=,.@_-]+")

DocumentKind = Literal["identity", "scp"]


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
        return explain_document(self)


class StatementBuilder:
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


def doc_name(name: str | None, policy: ResidencyPolicy, kind: str) -> str:
    """``name`` (default ``langchain-cris-<policy>-<kind>``) cut to what IAM accepts."""
    raw = name or f"langchain-cris-{policy.name}-{kind}"
    return _NAME_UNSAFE.sub("-", raw).strip("-")[:128] or f"langchain-cris-{kind}"


def document_description(policy: ResidencyPolicy, what: str) -> str:
    """Names the policy and its digest, so a deployed document traces back to its source."""
    return (
        f"langchain-cris {what} for residency policy {policy.name!r} ({policy.digest}): "
        f"processing only in {describe_regions(policy.regions)}"
    )[:512]
