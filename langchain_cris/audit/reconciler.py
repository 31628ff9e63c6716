"""Served-Region reconciliation: learn where each CRIS call ran, minutes after it ran.

Bedrock's response does not name the Region that served a cross-Region call. AWS records it
in the **source** Region's CloudTrail, after a delivery delay of minutes: on the API-call event
(``additionalEventData.inferenceRegion``, only when re-routed) and, for a streamed call, on the
stream-completion event written after the stream ended; Model Invocation Logs may carry a
top-level ``inferenceRegion`` (not in AWS's documented format). Each finding carries its
evidence and strength (:mod:`langchain_cris.audit.strength`); an **assumed** one (a stream
whose completion event has not arrived, a log record without the field) is kept while polling
goes on and recorded only when the call's deadline passes. This module matches pending calls:

* by request id (``x-amzn-RequestId`` = CloudTrail ``requestID`` = the log's ``requestId``; a
  completion event's ``parentRequestId``);
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

This module holds the live reconciler and is the public face of the family; the rest lives by
concern and is re-exported here: :mod:`.evidence` (:class:`PendingCall`, :class:`Finding`,
:class:`EvidenceIndex`), :mod:`.sources` (:class:`AwsClients`, :class:`Source`,
:class:`CloudTrailLookup`, :class:`InvocationLogLookup`, :func:`find_in_sources`) and
:mod:`.batch` (:func:`reconcile_audit_log`, :class:`ReconcileReport`).

A served Region outside the call's policy is a violation: ``compliant`` is false in the
record, and ``on_violation`` receives a :class:`~langchain_cris.audit.records.ViolationEvent`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from langchain_cris.audit.batch import ReconcileReport, reconcile_audit_log
from langchain_cris.audit.evidence import EvidenceIndex, Finding, PendingCall, stronger
from langchain_cris.audit.sources import WINDOW_MARGIN as WINDOW_MARGIN
from langchain_cris.audit.sources import (
    AwsClients,
    CloudTrailLookup,
    InvocationLogLookup,
    Source,
)
from langchain_cris.audit.sources import find_in_sources as find_in_sources

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
    "Timer",
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


ResultCallback = Callable[[PendingCall, Finding], None]


class Timer(Protocol):
    """The reconciler's time: when each look is due, and how its thread waits for it.

    Scheduling (first look, backoff, deadline) is measured on ``now()``; the thread waits for
    the next due look with ``wait()``, on a condition that ``submit``/``close`` notify. The
    default is the monotonic clock and a real wait; a test passes a virtual timer whose
    ``wait`` moves its clock instead of sleeping, so the schedule is exact and instant.
    """

    def now(self) -> float:
        """Seconds; only differences between readings matter."""
        ...

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Wait on ``condition`` (held by the caller) for up to ``timeout`` seconds (``None``:
        until notified)."""
        ...


class _MonotonicTimer:
    """Real time: :func:`time.monotonic` and a real condition wait."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        condition.wait(timeout)


@dataclass(order=True)
class _Item:
    due: float
    seq: int
    call: PendingCall = field(compare=False)
    give_up_at: float = field(compare=False)
    attempt: int = field(default=0, compare=False)
    #: The best assumption found so far; delivered if nothing stronger comes by the deadline.
    tentative: Finding | None = field(default=None, compare=False)


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
        timer: What the schedule is measured on and how the thread waits (default: the
            monotonic clock); a test seam, see :class:`Timer`. :meth:`wait`'s ``timeout``
            stays real seconds.

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
        timer: Timer | None = None,
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
        self._timer: Timer = timer if timer is not None else _MonotonicTimer()
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
        now = self._timer.now()
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
                now = self._timer.now()
                if self._items and self._items[0].due <= now:
                    due = [i for i in self._items if i.due <= now]
                    self._items = [i for i in self._items if i.due > now]
                    self._busy += len(due)
                    return due
                timeout = (self._items[0].due - now) if self._items else None
                self._timer.wait(self._cond, timeout)
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
        again = []
        for item in batch:
            finding = found.get(item.call)
            if finding is not None and finding.assumed:
                item.tentative = stronger(item.tentative, finding)
                finding = None
            if finding is None:
                again.append(item)
            else:
                self._deliver(item.call, finding)
        self._requeue(again)

    def _deliver(self, call: PendingCall, finding: Finding) -> None:
        try:
            self._on_result(call, finding)
        except Exception:  # a faulty callback must not stop the others
            logger.exception("on_result failed for request %s", call.request_id)

    def _requeue(self, items: Iterable[_Item]) -> None:
        now = self._timer.now()
        gave_up: list[_Item] = []
        assumed: list[_Item] = []
        with self._cond:
            for item in items:
                if now >= item.give_up_at or self._closed:
                    if not self._closed:
                        (assumed if item.tentative is not None else gave_up).append(item)
                    continue
                item.attempt += 1
                interval = min(
                    self.max_interval, max(self.first_poll, 0.01) * self.backoff**item.attempt
                )
                interval *= 1 + self.jitter * self._rng.random()
                item.due = min(now + interval, item.give_up_at)
                self._items.append(item)
            self._items.sort()
        for item in assumed:  # the deadline passed: the assumption is all AWS gave
            assert item.tentative is not None
            self._deliver(item.call, item.tentative)
        for call in (i.call for i in gave_up):
            self.given_up.append(call)
            logger.info(
                "gave up reconciling request %s after %.0fs", call.request_id, self.deadline
            )
            if self._on_give_up is not None:
                try:
                    self._on_give_up(call)
                except Exception:
                    logger.exception("on_give_up failed")
