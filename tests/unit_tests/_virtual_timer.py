"""A virtual :class:`~langchain_cris.audit.reconciler.Timer`: the reconciler's schedule, instantly.

Its ``wait`` jumps the clock to the end of the timeout instead of sleeping, so the reconciler
thread runs each look at exactly its due time on this clock, as fast as the machine allows:
tests read the schedule off the clock (exact gaps, deadlines) and never race real time.
"""

from __future__ import annotations

import threading

__all__ = ["VirtualTimer"]


class VirtualTimer:
    """Time that passes only when the reconciler waits for it."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        #: Every timed wait the reconciler asked for, in order.
        self.waits: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        if timeout is None:  # nothing scheduled: a real wait until submit() or close()
            condition.wait()
            return
        with self._lock:
            self.waits.append(timeout)
            self._now += max(timeout, 0.0)
