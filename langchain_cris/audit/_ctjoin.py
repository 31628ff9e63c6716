"""Fold CloudTrail records into calls: one call counted once, a stream joined to its completion.

AWS: "Counting both as invocations overstates your call volume", and a trail with data events
adds a copy of each record. :class:`CallAssembler` takes records in any order (CloudTrail files
"aren't an ordered stack trace"; LookupEvents returns newest first, so a completion comes before
its call) and emits each call exactly once:

* a Converse / InvokeModel API call at once;
* a streamed API call when its completion event arrives (joined on ``parentRequestId``; the
  completion's ``inferenceRegion`` and token counts complete the call), or at :meth:`finish`
  without one (its served Region then an assumption unless the API call named it);
* a completion whose API call never came, at :meth:`finish`, as a call with no ``modelId``
  (``api_call_seen`` false): it still shows where a call ran.

Memory: the request ids of emitted calls are kept (that is what drops a copy arriving later),
plus the streams and completions still waiting for each other. A stream still waiting when the
evidence of its account and source Region has moved :data:`STREAM_HORIZON` past its start is
emitted then, with what it has (a trail's files are delivered in time order, and a completion is
written when the stream ends), so streams whose completion never comes do not pile up.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from langchain_cris.audit._ctevents import CloudTrailCall, StreamCompletion
from langchain_cris.audit.strength import CLOUDTRAIL_COMPLETION

__all__ = ["CallAssembler"]

CloudTrailRecord = CloudTrailCall | StreamCompletion

STREAM_HORIZON = timedelta(hours=2)
"""How far the evidence of one account and source Region may move past a stream's start before
the stream stops waiting for its completion event."""
_SWEEP_EVERY = 4096


def join(call: CloudTrailCall, done: StreamCompletion) -> CloudTrailCall:
    """The API call completed by its stream-completion event."""
    served = done.served_region
    changes: dict[str, object] = {
        "input_tokens": done.input_tokens if call.input_tokens is None else call.input_tokens,
        "output_tokens": done.output_tokens if call.output_tokens is None else call.output_tokens,
        "completion_event_id": done.event_id,
    }
    if served is not None:  # the completion is where AWS reports a stream's Region
        changes.update(
            served_region=served,
            rerouted=served != call.source_region,
            evidence=CLOUDTRAIL_COMPLETION,
            strength="confirmed",
        )
    return dataclasses.replace(call, **changes)  # type: ignore[arg-type]


class CallAssembler:
    """Turns CloudTrail records (see the module docstring) into one :class:`CloudTrailCall` each.

    Attributes:
        copies_dropped: Records dropped as a copy of a call already seen (data-event copies,
            the same event read twice).
        orphan_completions: Completions emitted without their API call.
    """

    def __init__(self) -> None:
        self._done: set[str] = set()
        self._open: dict[str, CloudTrailCall] = {}
        self._early: dict[str, StreamCompletion] = {}
        self.copies_dropped = 0
        self.orphan_completions = 0
        self._latest: dict[tuple[str | None, str], datetime] = {}
        self._added = 0

    def seen(self, request_id: str) -> bool:
        """True once a call with this request id was emitted or is waiting for its completion."""
        return request_id in self._done or request_id in self._open

    @property
    def waiting(self) -> int:
        """Streams and completions still waiting for each other."""
        return len(self._open) + len(self._early)

    def add(self, record: CloudTrailRecord) -> list[CloudTrailCall]:
        """Take one record; return the calls it completes (and streams that stopped waiting)."""
        key = (record.account_id, record.source_region)
        latest = self._latest.get(key)
        if latest is None or record.event_time > latest:
            self._latest[key] = record.event_time
        self._added += 1
        out = self._expired() if self._added % _SWEEP_EVERY == 0 else []
        return out + self._add(record)

    def _expired(self) -> list[CloudTrailCall]:
        # Oldest first (insertion order is close to time order in delivered files); stop at
        # the first stream still within the horizon, the rest is checked next sweep.
        out: list[CloudTrailCall] = []
        while self._open:
            request_id, call = next(iter(self._open.items()))
            latest = self._latest.get((call.account_id, call.source_region))
            if latest is None or latest - call.event_time <= STREAM_HORIZON:
                break
            del self._open[request_id]
            out += self._emit(call)
        return out

    def _add(self, record: CloudTrailRecord) -> list[CloudTrailCall]:
        if isinstance(record, StreamCompletion):
            return self._add_completion(record)
        request_id = record.request_id
        waiting = self._open.get(request_id)
        if waiting is not None and waiting.data_copy and not record.data_copy:
            self._open[request_id] = record  # keep the management event's ids
            self.copies_dropped += 1
            return []
        if request_id in self._done or waiting is not None:
            self.copies_dropped += 1
            return []
        early = self._early.pop(request_id, None)
        if early is not None:
            return self._emit(join(record, early))
        if record.streamed and record.error_code is None and record.completion_event_id is None:
            self._open[request_id] = record
            return []
        return self._emit(record)

    def _add_completion(self, done: StreamCompletion) -> list[CloudTrailCall]:
        parent = done.parent_request_id
        early = self._early.get(parent)
        if early is not None and early.data_copy and not done.data_copy:
            self._early[parent] = done  # keep the management event's ids
        if parent in self._done or early is not None:
            self.copies_dropped += 1
            return []
        call = self._open.pop(parent, None)
        if call is None:
            self._early[parent] = done
            return []
        return self._emit(join(call, done))

    def _emit(self, call: CloudTrailCall) -> list[CloudTrailCall]:
        self._done.add(call.request_id)
        return [call]

    def finish(self) -> list[CloudTrailCall]:
        """Emit every call still waiting (streams without completion, orphan completions).

        The assembler stays usable: a completion that arrives later for a call emitted here is
        dropped as a copy.
        """
        out = list(self._open.values())
        orphans = [done.as_call() for done in self._early.values()]
        self.orphan_completions += len(orphans)
        self._open.clear()
        self._early.clear()
        out += orphans
        for call in out:
            self._done.add(call.request_id)
        return out
