"""The delivery clock: what decides when a CloudTrail event or invocation log is delivered.

AWS delivers CloudTrail events and Model Invocation Logs minutes after the call; until then
``LookupEvents`` and ``FilterLogEvents`` do not return them. The local Bedrock reproduces that
with ``cloudtrail_delay`` / ``invocation_log_delay``, measured on a :data:`Clock`: a zero-argument
callable returning seconds. Each record is stamped ``visible_at = clock() + delay`` when it is
written and is delivered once ``clock() >= visible_at``.

The default clock is :func:`time.monotonic` (a wall-clock jump never delivers or withholds a
record early). Tests pass a :class:`ManualClock` instead, so "the delay has not passed" and
"now it has" are statements the test makes, not races it hopes to win. The clock decides
*delivery* only: event times (``eventTime``, ``EventTime``, log ``timestamp``) stay wall-clock
epochs, as AWS stamps them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

__all__ = ["Clock", "ManualClock"]

Clock = Callable[[], float]
"""A zero-argument callable returning seconds; only differences between readings matter."""


class ManualClock:
    """A clock that moves only when told to: deterministic delivery delays in tests.

    Thread-safe: the emulator's handler threads read it while the test thread advances it.
    It works in-process only (a child-process emulator keeps its own default clock).

    Args:
        start: The first reading (any value; only differences matter).

    Example:
        .. code-block:: python

            clock = ManualClock()
            with LocalBedrock(cloudtrail_delay=300, clock=clock) as bedrock:
                ...  # a call
                trail.lookup_events()["Events"]  # [] - not delivered yet
                clock.advance(300)
                trail.lookup_events()["Events"]  # [the call's event]
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = _finite("start", start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` ahead (``>= 0``) and return the new reading.

        Raises:
            ValueError: ``seconds`` is negative, NaN or infinite (a clock never runs back).
        """
        step = _finite("seconds", seconds)
        if step < 0:
            raise ValueError(f"a clock only moves forward; advance() got {seconds!r} seconds")
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self():g})"


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    return float(value)
