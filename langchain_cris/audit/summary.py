"""What an audit found, as plain data: violations, call groups, discrepancies, the summary.

Both the auditor (which fills these in) and the renderer (which writes them out) read this
module, and it reads neither of them: the shared pieces live here so the two never import
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_cris.policy import ResidencyPolicy

__all__ = [
    "AuditSummary",
    "CallGroup",
    "ChainGroup",
    "Discrepancy",
    "DiscrepancyKind",
    "OutputFormat",
    "RouteClass",
    "Violation",
    "ViolationKind",
    "iso_utc",
]

OutputFormat = Literal["table", "json", "markdown", "html"]
ViolationKind = Literal["served_outside", "source_outside", "route_outside", "in_region"]
DiscrepancyKind = Literal["aws_only", "audit_log_only", "served_region_differs"]
RouteClass = Literal["profile", "global", "in_region", "application", "unknown"]


def iso_utc(when: datetime) -> str:
    """``2026-11-26T12:00:00Z``: the one timestamp spelling every format uses."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Violation:
    """One call that broke the policy, with everything needed to find it in AWS.

    Attributes:
        request_id: ``requestID`` / ``requestId`` of the call.
        event_time: When AWS recorded it.
        source_region: Region the client called.
        served_region: Region that processed it.
        model_id: What was sent as ``modelId``.
        account_id: Account that made the call.
        evidence: Where the served Region comes from, e.g.
            ``cloudtrail:completion:inferenceRegion`` (:mod:`langchain_cris.audit.strength`).
        kinds: Which rules it broke.
        reasons: One readable sentence per rule.
        strength: ``confirmed``, ``documented`` or ``assumed``.
    """

    request_id: str
    event_time: datetime
    source_region: str
    served_region: str
    model_id: str | None
    account_id: str | None
    evidence: str
    kinds: tuple[ViolationKind, ...]
    reasons: tuple[str, ...]
    strength: str = "confirmed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "event_time": iso_utc(self.event_time),
            "source_region": self.source_region,
            "served_region": self.served_region,
            "model_id": self.model_id,
            "account_id": self.account_id,
            "evidence": self.evidence,
            "strength": self.strength,
            "kinds": list(self.kinds),
            "why": "; ".join(self.reasons),
        }


@dataclass(slots=True)
class CallGroup:
    """Counters for one (model id, source Region, served Region) combination."""

    model_id: str
    route: RouteClass
    source_region: str
    served_region: str
    calls: int = 0
    failed: int = 0
    violations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "route": self.route,
            "source_region": self.source_region,
            "served_region": self.served_region,
            "calls": self.calls,
            "failed": self.failed,
            "violations": self.violations,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass(slots=True)
class ChainGroup:
    """The audit log's calls of one LangChain chain (parent run) under one policy.

    Filled from the package's own audit log (AWS evidence knows no runs): ``served_regions``
    are the latest reconciled Regions, else what the call record said (``pending`` included).
    """

    policy: str
    chain: str
    calls: int = 0
    refused: int = 0
    violations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    models: set[str] = field(default_factory=set)
    served_regions: dict[str, int] = field(default_factory=dict)
    first_ts: str | None = None
    last_ts: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "chain": self.chain,
            "calls": self.calls,
            "refused": self.refused,
            "violations": self.violations,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "models": sorted(self.models),
            "served_regions": dict(sorted(self.served_regions.items())),
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A call one side of the cross-check has and the other lacks (or disagrees on)."""

    kind: DiscrepancyKind
    request_id: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "request_id": self.request_id, "detail": self.detail}


@dataclass
class AuditSummary:
    """What an audit found: counts, violations, cross-check and input problems.

    The data of :class:`~langchain_cris.audit.result.AuditReport`, which adds the renderings;
    the renderer reads this class, so it never needs the report (no import circle).

    ``exit_code`` is what the CLI returns: 1 when any violation was found (or, with
    ``strict``, any cross-check discrepancy), else 0.
    """

    policy: ResidencyPolicy
    events_read: int
    calls: int
    failed_calls: int
    violations_total: int
    violations: list[Violation]
    violations_by_kind: dict[str, int]
    bypassed_cris: int
    global_calls: int
    groups: list[CallGroup]
    first_event: datetime | None
    last_event: datetime | None
    evidence: dict[str, int]
    problems_total: int
    problems_by_kind: dict[str, int]
    problem_samples: list[str]
    skipped_outside_window: int
    cross_checked: bool = False
    audit_log_calls: int = 0
    matched: int = 0
    aws_only_total: int = 0
    audit_log_only_total: int = 0
    served_region_differs_total: int = 0
    not_covered_by_window: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    strict: bool = False
    #: Calls per evidence of their served Region (``cloudtrail:inferenceRegion`` …).
    served_evidence: dict[str, int] = field(default_factory=dict)
    #: Calls whose served Region is only an assumption (no AWS record names it).
    assumed_calls: int = 0
    #: Hash-chain verification of each audit log read (``ChainVerification.to_dict()`` plus
    #: ``summary``, one sentence); filled by the CLI, empty when no audit log was given.
    audit_log_checks: list[dict[str, Any]] = field(default_factory=list)
    #: Calls per chain and policy from the audit log (for the HTML report); may be empty.
    chains: list[ChainGroup] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.violations_total:
            return 1
        if self.strict and (
            self.aws_only_total or self.audit_log_only_total or self.served_region_differs_total
        ):
            return 1
        return 0
