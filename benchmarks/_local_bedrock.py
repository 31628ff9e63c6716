"""A local Bedrock in a child process for benchmarks, so its threads never share our GIL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["local_bedrock_process"]

_CHILD = """
import sys
from langchain_cris.emulator import LocalBedrock
with LocalBedrock(seed=0, default_region={{"latency_ms": {latency_ms}}}) as lb:
    print(lb.endpoint_url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def local_bedrock_process(latency_ms: float) -> Iterator[str]:
    """Start a local Bedrock with ``latency_ms`` per call in a child; yield its endpoint."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(latency_ms=latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the child exits when its stdin closes
        child.wait(10)
