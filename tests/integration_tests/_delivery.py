"""Deliver the emulator's CloudTrail/invocation logs at a moment the test picks, never by sleeping.

The local Bedrock measures its delivery delays on a :class:`ManualClock`; these helpers wait
(event-driven, through the wire log) until a client has looked once — and, the clock not having
moved, found nothing — then advance the clock past the delay, so every later look finds the
record. How fast the machine runs changes how long that takes, never whether it passes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from langchain_cris.emulator import LocalBedrock, ManualClock

__all__ = ["DELIVERY_S", "PATIENT_S", "deliver_after_first_look", "delivering_after_first_look"]

#: Delivery delay on the manual clock (CloudTrail takes minutes on AWS).
DELIVERY_S = 300.0
#: A reconcile deadline (real seconds) far beyond any wait in the tests: where the test decides
#: when the emulator delivers, the client must not give up first on a slow machine.
PATIENT_S = 3600.0
#: Bound on each wait (generous: a bound, not a timing assertion).
BOUND_S = 120.0


def deliver_after_first_look(
    bedrock: LocalBedrock, clock: ManualClock, operation: str = "LookupEvents"
) -> None:
    """Block until one ``operation`` request was answered, then move ``clock`` past the delay."""
    assert bedrock.wire_log.wait_for(operation, timeout=BOUND_S), f"no {operation} request seen"
    clock.advance(DELIVERY_S)


@contextmanager
def delivering_after_first_look(
    bedrock: LocalBedrock, clock: ManualClock, operation: str = "LookupEvents"
) -> Iterator[None]:
    """Run :func:`deliver_after_first_look` beside a blocking block (e.g. a CLI run)."""
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            deliver_after_first_look(bedrock, clock, operation)
        except BaseException as exc:  # reported by the test thread below
            failures.append(exc)

    thread = threading.Thread(target=deliver, name="deliver-after-first-look")
    thread.start()
    try:
        yield
    finally:
        thread.join(BOUND_S)
    assert not thread.is_alive() and not failures, failures
