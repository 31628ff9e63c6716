"""A token bucket shared by every process on a machine, for CloudTrail ``LookupEvents``.

AWS allows ``LookupEvents`` two requests per second per account and Region, and that budget is
shared by every caller: each background reconciler of each worker process, every
``langchain-cris reconcile --live``, and anything else in the account. A per-process limiter
would let N processes send 2N requests/s and get throttled, so the bucket lives in a small file
that every process on the machine reads and updates under an exclusive ``fcntl.flock``:

* the file holds ``{"tokens": float, "updated": float}`` (seconds since the epoch);
* ``acquire`` locks it, refills ``rate`` tokens per second since ``updated`` (capped at
  ``burst``), takes one token if there is one, writes the state back and unlocks; otherwise it
  unlocks and sleeps until a token is due, then tries again;
* a missing or damaged file means a full bucket; a clock that went backwards resets ``updated``.

The clock is wall time (``time.time``) because it must mean the same in every process; both the
clock and ``sleep`` are injectable, so tests run on a fake clock. On platforms without ``fcntl``
(Windows) the bucket is still honoured within one process (a ``threading.Lock``) but not across
processes. Processes on *different machines* do not share a file: give each machine its share
(``rate=``) or keep one reconciler per account and Region.

Example:
    .. code-block:: python

        limiter = lookup_events_limiter("eu-central-1")
        limiter.acquire()  # blocks until this machine may send one more LookupEvents
        client.lookup_events(...)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CACHE_DIR_ENV",
    "LOOKUP_EVENTS_BURST",
    "LOOKUP_EVENTS_RATE",
    "SharedRateLimiter",
    "default_cache_dir",
    "lookup_events_limiter",
]

LOOKUP_EVENTS_RATE = 2.0
"""LookupEvents requests per second per account and Region (AWS CloudTrail quota)."""
LOOKUP_EVENTS_BURST = 2.0
"""Tokens a full bucket holds: at most this many requests back to back."""
CACHE_DIR_ENV = "LANGCHAIN_CRIS_CACHE_DIR"
"""Environment variable naming the directory of the shared bucket files."""

_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


def default_cache_dir() -> Path:
    """``$LANGCHAIN_CRIS_CACHE_DIR``, else ``$XDG_CACHE_HOME/langchain-cris``, else
    ``~/.cache/langchain-cris``: one directory per user, so that user's processes share it."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "langchain-cris"


class SharedRateLimiter:
    """Token bucket in a lock file (see the module docstring).

    Args:
        path: The state file; every process using the same path shares one budget.
        rate: Tokens added per second.
        burst: Capacity of the bucket (at least 1).
        clock: Seconds since the epoch, the same in every process (default ``time.time``).
        sleep: How to wait (default ``time.sleep``).

    Raises:
        ValueError: ``rate`` is not positive or ``burst`` is below 1.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rate: float = LOOKUP_EVENTS_RATE,
        burst: float = LOOKUP_EVENTS_BURST,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        if not burst >= 1:
            raise ValueError(f"burst must be >= 1 request, got {burst}")
        self.path = Path(path)
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        with _local_locks_guard:
            self._local = _local_locks.setdefault(os.fspath(self.path), threading.Lock())

    def __repr__(self) -> str:
        return f"SharedRateLimiter({os.fspath(self.path)!r}, rate={self.rate}, burst={self.burst})"

    def acquire(self) -> None:
        """Block until one request may be sent, then take its token."""
        while True:
            wait = self._try_take()
            if wait <= 0:
                return
            self._sleep(wait)

    def _try_take(self) -> float:
        """Take a token and return 0, or return the seconds until one is due."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._local, open(self.path, "a+", encoding="utf-8") as fh:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                now = self._clock()
                tokens, updated = self._read(fh, now)
                tokens = min(self.burst, tokens + max(0.0, now - updated) * self.rate)
                if tokens >= 1.0:
                    self._write(fh, tokens - 1.0, now)
                    return 0.0
                self._write(fh, tokens, now)
                return (1.0 - tokens) / self.rate
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read(self, fh: IO[str], now: float) -> tuple[float, float]:
        fh.seek(0)
        try:
            state: Any = json.loads(fh.read() or "null")
            tokens = float(state["tokens"])
            updated = float(state["updated"])
        except (ValueError, TypeError, KeyError):
            return self.burst, now  # missing or damaged: start full
        if updated > now:  # the clock went backwards (or the file came from elsewhere)
            updated = now
        return max(0.0, min(tokens, self.burst)), updated

    @staticmethod
    def _write(fh: IO[str], tokens: float, now: float) -> None:
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"tokens": tokens, "updated": now}))
        fh.flush()


def lookup_events_limiter(
    region: str,
    *,
    endpoint_url: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    rate: float = LOOKUP_EVENTS_RATE,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SharedRateLimiter:
    """The machine-wide LookupEvents bucket of one Region (and endpoint).

    The account is not part of the key: finding it costs an STS call, and sharing one bucket
    between accounts only makes the limit stricter, never looser. A custom ``endpoint_url``
    (a local Bedrock, a VPC endpoint) gets a bucket of its own.
    """
    where = endpoint_url or "aws"
    digest = hashlib.sha256(f"{where}|{region}".encode()).hexdigest()[:16]
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return SharedRateLimiter(
        directory / f"lookup-events-{region}-{digest}.bucket", rate=rate, clock=clock, sleep=sleep
    )
