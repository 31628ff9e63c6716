"""What reconciliation matches: pending calls, findings (where AWS says a call ran), the index.

Shared by the live :class:`~.reconciler.ServedRegionReconciler`, the batch
:func:`~.batch.reconcile_audit_log` and the lookup sources in :mod:`.sources`; it imports none
of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langchain_cris.audit.records import Evidence, parse_ts, reconciliation_record
from langchain_cris.audit.strength import Strength, is_stronger

__all__ = ["EvidenceIndex", "Finding", "PendingCall", "stronger", "utc_now"]


@dataclass(frozen=True)
class PendingCall:
    """A call whose serving Region is not known yet.

    Attributes:
        request_id: ``x-amzn-RequestId`` (``None`` only if the response had none; then only the
            invocation-log ``lc_run_id`` fallback can match).
        run_id: LangChain run id, stamped into ``requestMetadata.lc_run_id``.
        source_region: Region the client called; CloudTrail and the logs live there.
        call_time: When the call was made (UTC).
        allowed_regions: The policy's destination Regions (empty: no policy).
        policy: Policy name, copied into the reconciliation record.
    """

    request_id: str | None
    run_id: str | None
    source_region: str
    call_time: datetime
    allowed_regions: frozenset[str] = frozenset()
    policy: str | None = None

    @classmethod
    def from_call_record(
        cls, record: Mapping[str, Any], *, clock: Callable[[], datetime] | None = None
    ) -> PendingCall:
        """The pending call of an audit-log ``call`` record (``clock`` dates one without ``ts``)."""
        return cls(
            request_id=record.get("request_id"),
            run_id=record.get("run_id"),
            source_region=str(record.get("source_region")),
            call_time=parse_ts(str(record["ts"])) if record.get("ts") else (clock or utc_now)(),
            allowed_regions=frozenset(record.get("allowed_regions") or ()),
            policy=record.get("policy"),
        )

    def record_for(self, finding: Finding) -> dict[str, Any]:
        """The audit ``reconciliation`` record for this call and its evidence."""
        return reconciliation_record(
            request_id=self.request_id or finding.request_id,
            run_id=self.run_id,
            source_region=self.source_region,
            served_region=finding.served_region,
            evidence=finding.evidence,
            strength=finding.strength,
            event_id=finding.event_id,
            policy=self.policy,
            allowed_regions=self.allowed_regions,
        )


@dataclass(frozen=True)
class Finding:
    """Where AWS says one call was served, and how strongly it says so.

    Attributes:
        request_id: The call's request id.
        served_region: The served Region.
        evidence: Which field it comes from, e.g. ``cloudtrail:completion:inferenceRegion``
            (:mod:`langchain_cris.audit.strength`).
        event_id: The CloudTrail ``eventID`` it was read from.
        run_id: ``requestMetadata.lc_run_id`` (invocation logs).
        strength: ``confirmed``, ``documented`` or ``assumed``; an assumed finding is kept
            pending while stronger evidence may still arrive.
    """

    request_id: str
    served_region: str
    evidence: Evidence
    event_id: str | None = None
    run_id: str | None = None
    strength: Strength = "confirmed"

    @property
    def assumed(self) -> bool:
        return self.strength == "assumed"


def stronger(a: Finding | None, b: Finding | None) -> Finding | None:
    """The finding to keep of two (stronger wins; CloudTrail at equal strength; else ``a``)."""
    if a is None or b is None:
        return a or b
    return b if is_stronger(b.strength, b.evidence, a.strength, a.evidence) else a


def utc_now() -> datetime:
    """The wall clock in UTC: the default wherever a ``clock`` can be injected."""
    return datetime.now(UTC)


class EvidenceIndex:
    """Findings indexed by request id and by ``lc_run_id`` (the strongest evidence wins; at
    equal strength CloudTrail beats invocation logs)."""

    def __init__(self) -> None:
        self.by_request: dict[str, Finding] = {}
        self.by_run: dict[str, Finding] = {}

    def __len__(self) -> int:
        return len(self.by_request)

    def add(self, finding: Finding) -> None:
        current = self.by_request.get(finding.request_id)
        self.by_request[finding.request_id] = stronger(current, finding) or finding
        if finding.run_id:
            self.by_run[finding.run_id] = (
                stronger(self.by_run.get(finding.run_id), finding) or finding
            )

    def add_cloudtrail(self, calls: Iterable[Any]) -> None:
        """Add :class:`~langchain_cris.audit.cloudtrail.CloudTrailCall` values (failed calls,
        which nothing served, are skipped)."""
        for call in calls:
            if call.error_code:
                continue
            self.add(
                Finding(
                    call.request_id,
                    call.served_region,
                    call.evidence,
                    call.event_id or None,
                    strength=call.strength,
                )
            )

    def add_invocation_logs(self, entries: Iterable[Any]) -> None:
        """Add :class:`~langchain_cris.audit.invocation_logs.InvocationLogEntry` values."""
        for entry in entries:
            run_id = (entry.request_metadata or {}).get("lc_run_id")
            self.add(
                Finding(
                    entry.request_id,
                    entry.served_region,
                    entry.evidence,
                    None,
                    run_id,
                    strength=entry.strength,
                )
            )

    def match(self, call: PendingCall) -> Finding | None:
        """The strongest finding for the call, by request id or by run id."""
        by_id = self.by_request.get(call.request_id) if call.request_id else None
        by_run = self.by_run.get(call.run_id) if call.run_id else None
        return stronger(by_id, by_run)
