"""Socket checks shared by the async transport and async chat-model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["established_to", "needs_proc"]


def established_to(port: int) -> int:
    """Client sockets of this process ESTABLISHED to 127.0.0.1:``port`` (Linux /proc)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01":
            count += 1
    return count


needs_proc = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="counts sockets through Linux /proc/net/tcp"
)
