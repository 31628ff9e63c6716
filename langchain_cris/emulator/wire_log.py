"""The wire log: one record per request, so tests can prove where every call went.

It holds what no AWS response reveals (the served Region) and is therefore emulator-only: it is
read in-process (``bedrock.wire_log``) or over ``GET /_local/wire-log``, never through an AWS API.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["WireLog", "WireRecord"]


@dataclass(frozen=True)
class WireRecord:
    """One request as the emulator saw it.

    Attributes:
        time: Epoch seconds when the request arrived.
        source_region: Region of the SigV4 credential scope (``None`` if unsigned).
        service: ``bedrock-runtime``, ``bedrock``, ``cloudtrail`` or ``logs``.
        operation: AWS operation name (``Converse``, ``ConverseStream``, ``LookupEvents`` …).
        model_id: Model or profile id/ARN exactly as sent (runtime and profile calls).
        served_region: Region that processed the call (``None`` if not served).
        request_id: The ``x-amzn-RequestId`` returned.
        outcome: ``ok``, an AWS error code, or ``fault:<kind>`` for hangs, resets and stream faults.
        status: HTTP status sent (0 when no response was sent).
        input_tokens: Input tokens (0 if not served).
        output_tokens: Output tokens (0 if not served).
        attempted_regions: Regions tried in order, including full or throttled ones.
        guardrail_id: The guardrail applied on the call (``None`` without ``guardrailConfig``).
        guardrail_region: The Region that guardrail evaluated the call in.
    """

    time: float
    source_region: str | None
    service: str
    operation: str
    model_id: str | None
    served_region: str | None
    request_id: str
    outcome: str
    status: int
    input_tokens: int = 0
    output_tokens: int = 0
    attempted_regions: tuple[str, ...] = ()
    guardrail_id: str | None = None
    guardrail_region: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["attempted_regions"] = list(self.attempted_regions)
        return out


class WireLog:
    """Thread-safe, append-only list of :class:`WireRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._records: list[WireRecord] = []

    def append(self, record: WireRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._appended.notify_all()

    def wait_for(self, operation: str, count: int = 1, timeout: float = 60.0) -> bool:
        """Block until ``count`` ``operation`` requests were answered; ``False`` after ``timeout``.

        A record is appended once its answer is decided, so after this returns the
        ``count``-th request's answer reflects the emulator's state before the call returned
        (e.g. what was delivered on the delivery clock). Lets a test act *between* a client's
        background polls without sleeping.
        """
        with self._appended:
            return self._appended.wait_for(
                lambda: sum(r.operation == operation for r in self._records) >= count, timeout
            )

    def records(
        self, *, operation: str | None = None, service: str | None = None
    ) -> list[WireRecord]:
        """A snapshot, optionally only one operation or service."""
        with self._lock:
            snapshot = list(self._records)
        return [
            r
            for r in snapshot
            if (operation is None or r.operation == operation)
            and (service is None or r.service == service)
        ]

    def runtime(self) -> list[WireRecord]:
        """Only bedrock-runtime calls (Converse, ConverseStream, InvokeModel …)."""
        return self.records(service="bedrock-runtime")

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[WireRecord]:
        return iter(self.records())

    def __getitem__(self, index: int) -> WireRecord:
        with self._lock:
            return self._records[index]
