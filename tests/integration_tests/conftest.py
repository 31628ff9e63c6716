"""Integration tests talk only to servers on 127.0.0.1 (the embedded local Bedrock)."""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Iterator

import pytest
from pytest_socket import socket_allow_hosts

from langchain_cris.emulator import LocalBedrock


@pytest.fixture(autouse=True)
def _loopback_only() -> None:
    socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)


@pytest.fixture
def slow_stream() -> Iterator[LocalBedrock]:
    """Stream events 40 ms apart, so a test can act in the middle of a stream."""
    with LocalBedrock(seed=0, default_region={"ms_per_output_token": 40}) as bedrock:
        yield bedrock


@pytest.fixture
def no_leaks() -> Iterator[list[str]]:
    """Warnings are errors; collects ResourceWarnings and unraisable ``__del__`` errors."""
    found: list[str] = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: found.append(f"unraisable: {u.exc_value!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        warnings.simplefilter("always", ResourceWarning)  # recorded, then asserted on
        yield found
        gc.collect()
        found.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    sys.unraisablehook = old_hook
