"""A local Bedrock in a child process for benchmarks, so its threads never share our GIL.

With ``pin=True`` (and two CPUs or more) the child runs on the machine's last CPU and the caller
on the others, as a remote Bedrock would run on other hardware: the two no longer compete for
one core or migrate between cores mid-measurement, which on a small VM is most of the noise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["local_bedrock_process"]

_CHILD = """
import os, sys
if {cpu} >= 0:
    os.sched_setaffinity(0, {{{cpu}}})
from langchain_cris.emulator import LocalBedrock
with LocalBedrock(seed=0, default_region={{"latency_ms": {latency_ms}}}) as lb:
    print(lb.endpoint_url, flush=True)
    sys.stdin.read()
"""


def _split_cpus() -> tuple[int, set[int]] | None:
    """(the child's CPU, the caller's CPUs), or None where affinity cannot be set."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    cpus = sorted(getter(0))
    if len(cpus) < 2:
        return None
    return cpus[-1], set(cpus[:-1])


@contextmanager
def local_bedrock_process(latency_ms: float, *, pin: bool = False) -> Iterator[str]:
    """Start a local Bedrock with ``latency_ms`` per call in a child; yield its endpoint."""
    split = _split_cpus() if pin else None
    before = os.sched_getaffinity(0) if split is not None else None
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD.format(latency_ms=latency_ms, cpu=split[0] if split else -1),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        endpoint = child.stdout.readline().strip()
        if split is not None:
            os.sched_setaffinity(0, split[1])
        yield endpoint
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
        assert child.stdin is not None
        child.stdin.close()  # the child exits when its stdin closes
        child.wait(10)
