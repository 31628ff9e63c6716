"""Batch reconciliation: fill in every pending served Region of an audit log at once.

From CloudTrail / invocation-log files (as delivered to S3) and/or live :mod:`.sources`,
appending reconciliation records (the log is append-only; the latest record wins).

An *assumed* finding (a stream without its completion event, an invocation-log record without
``inferenceRegion``) is recorded only for a call older than ``assume_after`` at ``clock()``:
until then CloudTrail may still deliver, and the call stays pending. Calls whose latest record
is an assumption are looked up again on every run, and a stronger finding is appended.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from langchain_cris.audit.evidence import EvidenceIndex, Finding, PendingCall, stronger, utc_now
from langchain_cris.audit.records import (
    CallState,
    ViolationEvent,
    pending_calls,
    summarize_records,
)
from langchain_cris.audit.sink import AuditSink, read_audit_log
from langchain_cris.audit.sources import Source, find_in_sources
from langchain_cris.audit.strength import strength_rank

DEFAULT_ASSUME_AFTER = timedelta(minutes=15)
"""How old a call must be before an assumption is recorded for it (CloudTrail delivers events
within about 5 minutes, trail files within about 15)."""

__all__ = ["ReconcileReport", "reconcile_audit_log"]


@dataclass
class ReconcileReport:
    """What :func:`reconcile_audit_log` did.

    Attributes:
        calls: Calls in the log (after folding records).
        pending_before: Calls waiting for a served Region before this run.
        reconciled: Reconciliation records appended by this run.
        still_pending: Calls still unresolved (request id or run id).
        violations: Every call of the log that is a violation after this run.
        problems: Damaged log lines and unreadable evidence, as ``"where: why"`` strings.
    """

    calls: int = 0
    pending_before: int = 0
    reconciled: list[dict[str, Any]] = field(default_factory=list)
    still_pending: list[str] = field(default_factory=list)
    violations: list[CallState] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when no violation was found, 1 otherwise (the CLI's exit code)."""
        return 1 if self.violations else 0


def reconcile_audit_log(
    path: str | os.PathLike[str],
    *,
    cloudtrail_files: Iterable[str | os.PathLike[str]] = (),
    invocation_log_files: Iterable[str | os.PathLike[str]] = (),
    sources: Sequence[Source] = (),
    deadline: float = 0.0,
    poll_interval: float = 5.0,
    on_violation: Callable[[ViolationEvent], None] | None = None,
    fsync: bool = True,
    clock: Callable[[], datetime] | None = None,
    assume_after: timedelta = DEFAULT_ASSUME_AFTER,
) -> ReconcileReport:
    """Fill in every pending served Region of an audit log, appending reconciliation records.

    Args:
        path: The JSONL audit log written by ``CRISCallbackHandler``.
        cloudtrail_files: CloudTrail files as delivered to S3 (``.json``/``.json.gz``).
        invocation_log_files: Model Invocation Log files (S3 JSON or JSON Lines, gzip ok).
        sources: Live sources (e.g. ``[CloudTrailLookup(AwsClients())]``) for what the files
            did not answer.
        deadline: Seconds to keep polling live sources for calls AWS has not delivered yet
            (``0`` = one round).
        poll_interval: Seconds between live rounds.
        on_violation: Called for each newly reconciled call served outside its policy.
        fsync: ``fsync`` each appended record.
        clock: What "now" is (default: the wall clock): for a call record without a
            timestamp, and for ``assume_after``.
        assume_after: Record an assumed served Region only for calls at least this old; younger
            ones stay pending (CloudTrail may still name the Region).

    Returns:
        A :class:`ReconcileReport`; ``report.exit_code`` is 1 when the log holds violations.
    """
    from langchain_cris.audit.cloudtrail import iter_cloudtrail_files
    from langchain_cris.audit.invocation_logs import iter_invocation_log_files

    report = ReconcileReport()
    now = (clock or utc_now)()
    log = read_audit_log(path)
    report.problems += [f"{os.fspath(path)}:{line}: {why}" for line, why in log.problems]
    states = summarize_records(log.records)
    report.calls = len(states)
    # Calls without a served Region, and calls whose served Region is only an assumption.
    rechecked: dict[str, str | None] = {}
    waiting = []
    for state in pending_calls(states, include_assumed=True):
        assert state.call is not None
        call = PendingCall.from_call_record(state.call, clock=clock)
        waiting.append(call)
        if state.assumed and state.reconciliation is not None:
            rechecked[_key(call)] = state.reconciliation.get("strength")
    report.pending_before = len(waiting) - len(rechecked)

    def on_error(where: str, exc: Exception) -> None:
        report.problems.append(f"{where}: {exc}")

    index = EvidenceIndex()
    index.add_cloudtrail(iter_cloudtrail_files(cloudtrail_files, on_error=on_error))
    index.add_invocation_logs(iter_invocation_log_files(invocation_log_files, on_error=on_error))

    best: dict[PendingCall, Finding] = {}
    for call in waiting:
        finding = index.match(call)
        if finding is not None:
            best[call] = finding

    def unsettled() -> list[PendingCall]:
        return [c for c in waiting if c not in best or best[c].assumed]

    if sources and unsettled():
        end = time.monotonic() + max(deadline, 0.0)
        while True:
            errors: list[str] = []
            open_calls = unsettled()
            found = find_in_sources(sources, open_calls, errors)
            report.problems += errors
            for call, finding in found.items():
                best[call] = stronger(best.get(call), finding) or finding
            if not unsettled() or time.monotonic() + poll_interval > end:
                break
            time.sleep(poll_interval)

    results: list[tuple[PendingCall, Finding]] = []
    unresolved: list[PendingCall] = []
    for call in waiting:
        finding = best.get(call)
        key = _key(call)
        if key in rechecked:  # already recorded as assumed: append only stronger evidence
            if finding is not None and strength_rank(finding.strength) > strength_rank(
                rechecked[key]
            ):
                results.append((call, finding))
            continue
        if finding is None or (finding.assumed and now - call.call_time < assume_after):
            unresolved.append(call)
        else:
            results.append((call, finding))

    if results:
        with AuditSink(path, fsync=fsync) as sink:
            for call, finding in results:
                record = call.record_for(finding)
                sink.append(record)
                report.reconciled.append(record)
                if not record["compliant"] and on_violation is not None:
                    on_violation(ViolationEvent.from_reconciliation(record))
    report.still_pending = [_key(c) for c in unresolved]
    final = summarize_records([*log.records, *report.reconciled])
    report.violations = [s for s in final if s.violation]
    return report


def _key(call: PendingCall) -> str:
    return call.request_id or f"run:{call.run_id}"
