"""A dependency-free, one-line progress indicator for long audits (stderr, TTY only).

Why not a library: the audit must stay installable with the package's four dependencies, and
all it needs is a throttled carriage-return line that disappears when done.
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Throttled ``\\r``-redrawn status line: events read, rate, current input.

    Args:
        stream: Where to draw (the CLI passes ``sys.stderr``).
        enabled: Draw at all; defaults to ``stream.isatty()`` so pipes and CI logs stay clean.
        interval: Minimum seconds between redraws.
    """

    def __init__(
        self, stream: TextIO, *, enabled: bool | None = None, interval: float = 0.2
    ) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.interval = interval
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._width = 0

    def update(self, events: int, where: str) -> None:
        """Record progress; redraws at most every ``interval`` seconds."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self.interval:
            return
        self._last_draw = now
        rate = events / max(now - self._start, 1e-9)
        name = where if len(where) <= 40 else "…" + where[-39:]
        line = f"audit: {events:,} records · {rate:,.0f}/s · {name}"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        """Erase the line so the report starts on a clean terminal line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
