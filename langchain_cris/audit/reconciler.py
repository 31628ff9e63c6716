"""Served-Region reconciliation: learn where each CRIS call ran, minutes after it ran.

Bedrock's response does not name the Region that served a cross-Region call. AWS records it
in the **source** Region's CloudTrail (``additionalEventData.inferenceRegion``; absent means
the source Region served it) and in Model Invocation Logs (``inferenceRegion``), after a
delivery delay of minutes. This module matches pending calls to that evidence:

* by request id (``x-amzn-RequestId`` = CloudTrail ``requestID`` = the log's ``requestId``);
* failing that, by the ``lc_run_id`` the chat model stamps into Converse ``requestMetadata``
  (invocation logs only; CloudTrail does not record request metadata).

Two modes:

* **live** — :class:`ServedRegionReconciler`, one daemon thread polling CloudTrail
  ``LookupEvents`` (and optionally CloudWatch Logs ``FilterLogEvents``) with exponential
  backoff and jitter until a per-call deadline. Pending calls are batched per source Region,
  so N calls cost one paginated lookup per Region per round. ``submit`` only enqueues, so a
  chain is never blocked or slowed.
* **batch** — :func:`reconcile_audit_log` fills in every pending served Region of an audit log
  from CloudTrail / invocation-log files (as delivered to S3) and/or live lookups, appending
  reconciliation records (the log is append-only; the latest record wins).

A served Region outside the call's policy is a violation: ``compliant`` is false in the
record, and ``on_violation`` receives a :class:`~langchain_cris.audit.records.ViolationEvent`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from langchain_cris.audit.records import (
    CallState,
    Evidence,
    ViolationEvent,
    parse_ts,
    pending_calls,
    reconciliation_record,
    summarize_records,
)
from langchain_cris.audit.sink import AuditSink, read_audit_log

__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_FIRST_POLL_S",
    "DEFAULT_MAX_INTERVAL_S",
    "AwsClients",
    "CloudTrailLookup",
    "EvidenceIndex",
    "Finding",
    "InvocationLogLookup",
    "PendingCall",
    "ReconcileReport",
    "ServedRegionReconciler",
    "Source",
    "reconcile_audit_log",
]

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 15 * 60.0
"""Give up on a call after this long: CloudTrail usually delivers within ~5, at most ~15 min."""
DEFAULT_FIRST_POLL_S = 5.0
"""First look after this long; nothing is ever there sooner on real AWS."""
DEFAULT_MAX_INTERVAL_S = 60.0
"""Cap on the backoff between looks (LookupEvents allows 2 requests/s per account+Region)."""
DEFAULT_BACKOFF = 2.0
DEFAULT_JITTER = 0.2
WINDOW_MARGIN = timedelta(minutes=5)
"""Slack around the call time when searching (client and AWS clocks differ)."""


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
            call_time=parse_ts(str(record["ts"])) if record.get("ts") else (clock or _now)(),
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
            event_id=finding.event_id,
            policy=self.policy,
            allowed_regions=self.allowed_regions,
        )


@dataclass(frozen=True)
class Finding:
    """Where AWS says one call was served."""

    request_id: str
    served_region: str
    evidence: Evidence
    event_id: str | None = None
    run_id: str | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


class EvidenceIndex:
    """Findings indexed by request id and by ``lc_run_id`` (CloudTrail wins over logs)."""

    def __init__(self) -> None:
        self.by_request: dict[str, Finding] = {}
        self.by_run: dict[str, Finding] = {}

    def __len__(self) -> int:
        return len(self.by_request)

    def add(self, finding: Finding) -> None:
        current = self.by_request.get(finding.request_id)
        if current is None or (
            current.evidence != "cloudtrail" and finding.evidence == "cloudtrail"
        ):
            self.by_request[finding.request_id] = finding
        if finding.run_id and finding.run_id not in self.by_run:
            self.by_run[finding.run_id] = finding

    def add_cloudtrail(self, calls: Iterable[Any]) -> None:
        """Add :class:`~langchain_cris.audit.cloudtrail.CloudTrailCall` values (failed calls,
        which nothing served, are skipped)."""
        for call in calls:
            if call.error_code:
                continue
            self.add(
                Finding(call.request_id, call.served_region, "cloudtrail", call.event_id or None)
            )

    def add_invocation_logs(self, entries: Iterable[Any]) -> None:
        """Add :class:`~langchain_cris.audit.invocation_logs.InvocationLogEntry` values."""
        for entry in entries:
            run_id = (entry.request_metadata or {}).get("lc_run_id")
            self.add(Finding(entry.request_id, entry.served_region, "invocation_log", None, run_id))

    def match(self, call: PendingCall) -> Finding | None:
        if call.request_id and call.request_id in self.by_request:
            return self.by_request[call.request_id]
        if call.run_id and call.run_id in self.by_run:
            return self.by_run[call.run_id]
        return None


class Source(Protocol):
    """Somewhere findings can be looked up for a batch of pending calls of one source Region."""

    name: str

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex: ...


class AwsClients:
    """Creates and caches boto3 clients the way boto3 normally would.

    Credentials, profiles and ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_CLOUDTRAIL`` are honoured
    by boto3 itself; ``endpoint_url`` overrides them all; a factory overrides everything.

    Args:
        boto3_session: Session to build clients from (default: a new ``boto3.Session()``).
        endpoint_url: Endpoint for every client (e.g. a local Bedrock).
        cloudtrail_client_factory: ``factory(region) -> client`` for CloudTrail.
        logs_client_factory: ``factory(region) -> client`` for CloudWatch Logs.
    """

    def __init__(
        self,
        *,
        boto3_session: Any = None,
        endpoint_url: str | None = None,
        cloudtrail_client_factory: Callable[[str], Any] | None = None,
        logs_client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self._session = boto3_session
        self._endpoint_url = endpoint_url
        self._factories: dict[str, Callable[[str], Any] | None] = {
            "cloudtrail": cloudtrail_client_factory,
            "logs": logs_client_factory,
        }
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._cache:
                factory = self._factories.get(service)
                self._cache[key] = factory(region) if factory else self._build(service, region)
            return self._cache[key]

    def _build(self, service: str, region: str) -> Any:
        from botocore.config import Config

        if self._session is None:
            import boto3

            self._session = boto3.Session()
        kwargs: dict[str, Any] = {
            "region_name": region,
            "config": Config(retries={"mode": "standard", "max_attempts": 3}),
        }
        if self._endpoint_url:
            kwargs["endpoint_url"] = self._endpoint_url
        return self._session.client(service, **kwargs)


def _window(calls: Sequence[PendingCall]) -> tuple[datetime, datetime]:
    times = [c.call_time for c in calls]
    return min(times) - WINDOW_MARGIN, max(times) + WINDOW_MARGIN


class CloudTrailLookup:
    """CloudTrail ``LookupEvents`` in each call's source Region (paginated, by request id).

    Args:
        clients: Where the ``cloudtrail`` clients come from.
        clock: What "now" is (default: the wall clock), for LookupEvents' 90-day horizon: a call
            older than that is not looked up (it can no longer be found live); if every call
            asked for is, :class:`~langchain_cris.audit.cloudtrail.LookupHorizonError` says so,
            so the call stays pending with a reason rather than silently "not found".
    """

    name = "cloudtrail"

    def __init__(self, clients: AwsClients, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clients = clients
        self._clock = clock or _now

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
        from langchain_cris.audit.cloudtrail import (
            LOOKUP_EVENTS_HORIZON,
            LookupHorizonError,
            lookup_cloudtrail_calls,
        )

        index = EvidenceIndex()
        horizon = self._clock() - LOOKUP_EVENTS_HORIZON
        visible = [c for c in calls if c.call_time + WINDOW_MARGIN >= horizon]
        if len(visible) < len(calls):
            too_old = [c.request_id or f"run:{c.run_id}" for c in calls if c not in visible]
            message = (
                f"{len(too_old)} call(s) in {region} ({', '.join(too_old[:3])}"
                f"{', …' if len(too_old) > 3 else ''}) are older than CloudTrail LookupEvents' "
                f"90-day horizon ({horizon.isoformat()}): reconcile them from the trail's S3 "
                "files (langchain-cris reconcile --cloudtrail FILE…)"
            )
            if not visible:
                raise LookupHorizonError(message)
            logger.warning(message)
        calls = visible
        wanted = {c.request_id for c in calls if c.request_id}
        if not wanted:
            return index
        start, end = _window(calls)
        client = self._clients.client("cloudtrail", region)
        index.add_cloudtrail(
            lookup_cloudtrail_calls(client, start_time=start, end_time=end, request_ids=wanted)
        )
        return index


class InvocationLogLookup:
    """Model Invocation Logs in CloudWatch Logs (``FilterLogEvents``) of the source Region."""

    name = "invocation_log"

    def __init__(self, clients: AwsClients, log_group: str) -> None:
        self._clients = clients
        self.log_group = log_group

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
        from langchain_cris.audit.invocation_logs import filter_invocation_logs

        index = EvidenceIndex()
        start, end = _window(calls)
        client = self._clients.client("logs", region)
        index.add_invocation_logs(
            filter_invocation_logs(client, log_group=self.log_group, start_time=start, end_time=end)
        )
        return index


def find_in_sources(
    sources: Sequence[Source], calls: Sequence[PendingCall], errors: list[str] | None = None
) -> dict[PendingCall, Finding]:
    """One round: look every call up, per source Region, source by source until all found.

    A failing source (throttled, access denied) is logged and skipped for this round.
    """
    found: dict[PendingCall, Finding] = {}
    by_region: dict[str, list[PendingCall]] = defaultdict(list)
    for call in calls:
        by_region[call.source_region].append(call)
    for region, group in by_region.items():
        remaining = list(group)
        for source in sources:
            if not remaining:
                break
            try:
                index = source.lookup(region, remaining)
            except Exception as exc:  # retried next round
                message = f"{source.name} lookup in {region} failed: {type(exc).__name__}: {exc}"
                logger.warning(message)
                if errors is not None:
                    errors.append(message)
                continue
            still = []
            for call in remaining:
                finding = index.match(call)
                if finding is None:
                    still.append(call)
                else:
                    found[call] = finding
            remaining = still
    return found


ResultCallback = Callable[[PendingCall, Finding], None]


@dataclass(order=True)
class _Item:
    due: float
    seq: int
    call: PendingCall = field(compare=False)
    give_up_at: float = field(compare=False)
    attempt: int = field(default=0, compare=False)


class ServedRegionReconciler:
    """Background reconciler: one daemon thread, a queue, polling with backoff until a deadline.

    ``submit`` never blocks on AWS; results arrive through ``on_result(call, finding)`` on the
    reconciler thread, and calls that reach their deadline unresolved through ``on_give_up``.

    Args:
        sources: Where to look, in order (e.g. ``[CloudTrailLookup(...)]``).
        on_result: Called once per reconciled call.
        on_give_up: Called once per call that stayed unresolved until its deadline.
        deadline: Seconds after submission to keep looking.
        first_poll: Seconds before the first look.
        max_interval: Cap on the backoff between looks.
        backoff: Multiplier between looks.
        jitter: Random extra fraction of each interval (spreads load across processes).

    Example:
        .. code-block:: python

            clients = AwsClients()
            rec = ServedRegionReconciler([CloudTrailLookup(clients)], on_result=print)
            rec.submit(PendingCall("req-id", None, "eu-central-1", call_time))
            rec.wait(timeout=60)
            rec.close()
    """

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        on_result: ResultCallback,
        on_give_up: Callable[[PendingCall], None] | None = None,
        deadline: float = DEFAULT_DEADLINE_S,
        first_poll: float = DEFAULT_FIRST_POLL_S,
        max_interval: float = DEFAULT_MAX_INTERVAL_S,
        backoff: float = DEFAULT_BACKOFF,
        jitter: float = DEFAULT_JITTER,
    ) -> None:
        if not sources:
            raise ValueError("a reconciler needs at least one source (CloudTrail or logs)")
        for name, value in (("deadline", deadline), ("max_interval", max_interval)):
            if value <= 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
        if first_poll < 0 or backoff < 1 or jitter < 0:
            raise ValueError(
                f"need first_poll >= 0, backoff >= 1 and jitter >= 0; "
                f"got {first_poll}, {backoff}, {jitter}"
            )
        self.sources = list(sources)
        self._on_result = on_result
        self._on_give_up = on_give_up
        self.deadline = deadline
        self.first_poll = first_poll
        self.max_interval = max_interval
        self.backoff = backoff
        self.jitter = jitter
        self._items: list[_Item] = []
        self._seq = 0
        self._busy = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        #: Lookup failures seen (most recent last, capped), for diagnostics.
        self.errors: list[str] = []
        self.given_up: list[PendingCall] = []

    # -- public -----------------------------------------------------------------------------
    def submit(self, call: PendingCall) -> None:
        """Queue a call for reconciliation (returns at once; starts the thread on first use)."""
        if call.request_id is None and call.run_id is None:
            raise ValueError("a pending call needs a request id or a run id to be matched")
        now = time.monotonic()
        with self._cond:
            if self._closed:
                raise RuntimeError("the reconciler is closed")
            self._seq += 1
            self._items.append(
                _Item(now + self.first_poll, self._seq, call, give_up_at=now + self.deadline)
            )
            self._items.sort()
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cris-reconciler", daemon=True
                )
                self._thread.start()

    @property
    def pending(self) -> int:
        """Calls queued or being looked up right now."""
        with self._cond:
            return len(self._items) + self._busy

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted call is reconciled or given up; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop polling; calls still pending stay pending (batch mode can finish them later)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- thread -----------------------------------------------------------------------------
    def _next_batch(self) -> list[_Item] | None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._items and self._items[0].due <= now:
                    due = [i for i in self._items if i.due <= now]
                    self._items = [i for i in self._items if i.due > now]
                    self._busy += len(due)
                    return due
                timeout = (self._items[0].due - now) if self._items else None
                self._cond.wait(timeout)
            return None

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._poll(batch)
            except Exception:  # the thread must survive anything
                logger.exception("served-Region reconciliation round failed")
                self._requeue(batch)
            finally:
                with self._cond:
                    self._busy -= len(batch)
                    self._cond.notify_all()

    def _poll(self, batch: list[_Item]) -> None:
        errors: list[str] = []
        found = find_in_sources(self.sources, [i.call for i in batch], errors)
        if errors:
            self.errors = (self.errors + errors)[-50:]
        for item in batch:
            finding = found.get(item.call)
            if finding is not None:
                self._deliver(item.call, finding)
        self._requeue([i for i in batch if i.call not in found])

    def _deliver(self, call: PendingCall, finding: Finding) -> None:
        try:
            self._on_result(call, finding)
        except Exception:  # a faulty callback must not stop the others
            logger.exception("on_result failed for request %s", call.request_id)

    def _requeue(self, items: Iterable[_Item]) -> None:
        now = time.monotonic()
        gave_up: list[PendingCall] = []
        with self._cond:
            for item in items:
                if now >= item.give_up_at or self._closed:
                    if not self._closed:
                        gave_up.append(item.call)
                    continue
                item.attempt += 1
                interval = min(
                    self.max_interval, max(self.first_poll, 0.01) * self.backoff**item.attempt
                )
                interval *= 1 + self.jitter * self._rng.random()
                item.due = min(now + interval, item.give_up_at)
                self._items.append(item)
            self._items.sort()
        for call in gave_up:
            self.given_up.append(call)
            logger.info(
                "gave up reconciling request %s after %.0fs", call.request_id, self.deadline
            )
            if self._on_give_up is not None:
                try:
                    self._on_give_up(call)
                except Exception:
                    logger.exception("on_give_up failed")


# -- batch mode -------------------------------------------------------------------------------
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
        clock: What "now" is for a call record without a timestamp (default: the wall clock).

    Returns:
        A :class:`ReconcileReport`; ``report.exit_code`` is 1 when the log holds violations.
    """
    from langchain_cris.audit.cloudtrail import iter_cloudtrail_files
    from langchain_cris.audit.invocation_logs import iter_invocation_log_files

    report = ReconcileReport()
    log = read_audit_log(path)
    report.problems += [f"{os.fspath(path)}:{line}: {why}" for line, why in log.problems]
    states = summarize_records(log.records)
    report.calls = len(states)
    waiting = [
        PendingCall.from_call_record(s.call, clock=clock) for s in pending_calls(states) if s.call
    ]
    report.pending_before = len(waiting)

    def on_error(where: str, exc: Exception) -> None:
        report.problems.append(f"{where}: {exc}")

    index = EvidenceIndex()
    index.add_cloudtrail(iter_cloudtrail_files(cloudtrail_files, on_error=on_error))
    index.add_invocation_logs(iter_invocation_log_files(invocation_log_files, on_error=on_error))

    results: list[tuple[PendingCall, Finding]] = []
    unresolved: list[PendingCall] = []
    for call in waiting:
        finding = index.match(call)
        if finding is None:
            unresolved.append(call)
        else:
            results.append((call, finding))

    if sources and unresolved:
        end = time.monotonic() + max(deadline, 0.0)
        while unresolved:
            errors: list[str] = []
            found = find_in_sources(sources, unresolved, errors)
            report.problems += errors
            results += list(found.items())
            unresolved = [c for c in unresolved if c not in found]
            if not unresolved or time.monotonic() + poll_interval > end:
                break
            time.sleep(poll_interval)

    if results:
        with AuditSink(path, fsync=fsync) as sink:
            for call, finding in results:
                record = call.record_for(finding)
                sink.append(record)
                report.reconciled.append(record)
                if not record["compliant"] and on_violation is not None:
                    on_violation(ViolationEvent.from_reconciliation(record))
    report.still_pending = [c.request_id or f"run:{c.run_id}" for c in unresolved]
    final = summarize_records([*log.records, *report.reconciled])
    report.violations = [s for s in final if s.violation]
    return report
