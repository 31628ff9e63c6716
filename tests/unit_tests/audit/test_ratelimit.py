"""The cross-process token bucket that keeps LookupEvents within 2 requests/s per Region."""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import pytest

from langchain_cris.audit.ratelimit import (
    LOOKUP_EVENTS_RATE,
    SharedRateLimiter,
    lookup_events_limiter,
)


class FakeClock:
    """Time that moves only when someone sleeps (shared by every limiter of a test)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_burst_then_two_per_second(tmp_path: Path) -> None:
    clock = FakeClock()
    bucket = SharedRateLimiter(tmp_path / "b", rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(6):
        bucket.acquire()
        starts.append(clock.now)
    base = starts[0]
    assert [round(t - base, 6) for t in starts] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


def test_two_limiters_on_one_file_share_the_budget(tmp_path: Path) -> None:
    # Two instances = two open file descriptions, exactly as two processes would hold them.
    clock = FakeClock()
    path = tmp_path / "lookup-events.bucket"
    one = SharedRateLimiter(path, rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    two = SharedRateLimiter(path, rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    start = clock.now
    for limiter in (one, two, one, two, one, two):
        limiter.acquire()
    # 6 requests at 2/s with a burst of 2 need 2 s, however they are split between callers.
    assert clock.now - start == pytest.approx(2.0)


def test_idle_time_refills_only_up_to_the_burst(tmp_path: Path) -> None:
    clock = FakeClock()
    bucket = SharedRateLimiter(tmp_path / "b", rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 3600  # an hour idle
    for _ in range(3):
        bucket.acquire()
    assert clock.slept == [pytest.approx(0.5)]


def test_a_clock_that_went_backwards_does_not_block_forever(tmp_path: Path) -> None:
    clock = FakeClock()
    bucket = SharedRateLimiter(tmp_path / "b", rate=2.0, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        bucket.acquire()
    clock.now -= 10_000  # e.g. the state file survived a clock reset
    bucket.acquire()
    assert sum(clock.slept) <= 1.0


def test_damaged_state_file_is_reset_not_trusted(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "b"
    path.write_text("{not json")
    SharedRateLimiter(path, rate=2.0, burst=2, clock=clock, sleep=clock.sleep).acquire()
    assert clock.slept == []


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rate"):
        SharedRateLimiter(tmp_path / "b", rate=0)
    with pytest.raises(ValueError, match="burst"):
        SharedRateLimiter(tmp_path / "b", burst=0.5)


def test_lookup_events_limiter_is_one_file_per_endpoint_and_region(tmp_path: Path) -> None:
    a = lookup_events_limiter("eu-central-1", cache_dir=tmp_path)
    b = lookup_events_limiter("eu-central-1", cache_dir=tmp_path)
    c = lookup_events_limiter("eu-west-1", cache_dir=tmp_path)
    d = lookup_events_limiter("eu-central-1", cache_dir=tmp_path, endpoint_url="http://127.0.0.1:5")
    assert a.path == b.path != c.path != d.path
    assert a.rate == LOOKUP_EVENTS_RATE == 2.0
    assert a.path.parent == tmp_path


def test_cache_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGCHAIN_CRIS_CACHE_DIR", str(tmp_path / "c"))
    assert lookup_events_limiter("eu-west-3").path.parent == tmp_path / "c"


def _child(path: str, n: int, out: str) -> None:  # pragma: no cover - runs in a child process
    import time

    limiter = SharedRateLimiter(Path(path), rate=50.0, burst=1)
    stamps = []
    for _ in range(n):
        limiter.acquire()
        stamps.append(time.time())
    Path(out).write_text("\n".join(map(repr, stamps)))


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl locks are POSIX only")
def test_processes_really_share_the_bucket(tmp_path: Path) -> None:
    """Grants across two processes never exceed burst + rate x elapsed (real clock, no timing
    assertion: only the order-independent budget is checked)."""
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    path = tmp_path / "bucket"
    outs = [tmp_path / f"out{i}" for i in range(2)]
    procs = [ctx.Process(target=_child, args=(str(path), 10, str(o))) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    stamps = sorted(float(x) for o in outs for x in o.read_text().split())
    assert len(stamps) == 20
    first = stamps[0]
    for count, stamp in enumerate(stamps, start=1):
        # at most burst (1) + rate (50/s) x elapsed grants by any instant, with slack for
        # the time between the grant and the stamp
        assert count <= 1 + 50.0 * (stamp - first) + 1.5
