"""pytest fixtures for the local Bedrock.

Enable with ``pytest_plugins = ["langchain_cris.emulator.pytest_plugin"]``.

* ``local_bedrock`` (function scope): a fresh emulator per test, seed 0, free port.
* ``local_bedrock_session`` (session scope): one shared emulator; it is ``reset()`` by nobody, so
  tests using it must not depend on empty logs (filter by request id instead).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_cris.emulator.local import LocalBedrock

__all__ = ["local_bedrock", "local_bedrock_session"]


@pytest.fixture
def local_bedrock() -> Iterator[LocalBedrock]:
    """A running emulator with fresh state, stopped (threads joined) after the test."""
    with LocalBedrock(seed=0) as bedrock:
        yield bedrock


@pytest.fixture(scope="session")
def local_bedrock_session() -> Iterator[LocalBedrock]:
    """One running emulator shared by the whole session."""
    with LocalBedrock(seed=0) as bedrock:
        yield bedrock
