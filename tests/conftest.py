"""Shared test set-up: offline by default, real AWS only under ``tests/aws``."""

from __future__ import annotations

import os
import sys
import threading

import pytest
from hypothesis import settings

import langchain_cris.transport.async_support as transport

# No test may fail on timing: hypothesis's per-example deadline (200 ms by default) would turn a
# loaded machine into a failure, so it is off for every property test.
settings.register_profile("langchain-cris", deadline=None)
settings.load_profile("langchain-cris")

# The embedded local Bedrock's fixtures (``local_bedrock`` …), shipped with the package.
pytest_plugins = ["langchain_cris.emulator.pytest_plugin"]

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDLOCALBEDROCK",
    "AWS_SECRET_ACCESS_KEY": "local-bedrock-secret",
    "AWS_DEFAULT_REGION": "eu-central-1",
}


@pytest.fixture(autouse=True)
def _offline_aws_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give botocore fake credentials so nothing offline ever signs with a real key."""
    if "tests/aws" in str(request.node.path).replace(os.sep, "/"):
        return
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in _FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    monkeypatch.delenv("LANGCHAIN_API_KEY", raising=False)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "false")


@pytest.fixture(autouse=True)
def _fresh_live_catalogs() -> None:
    """Each test's local Bedrock is another "AWS": its port may be one an earlier test's used,
    and live answers are keyed by URL; without this, a test can route on an earlier
    emulator's still-fresh answer (a widened profile judged by the unwidened rows)."""
    from langchain_cris.catalog.live import forget_live_catalogs

    forget_live_catalogs()


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own LookupEvents token bucket (never the user's ~/.cache)."""
    monkeypatch.setenv("LANGCHAIN_CRIS_CACHE_DIR", os.path.join(str(tmp_path), "cris-cache"))


@pytest.fixture
def unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a missing extra: aiobotocore cannot be imported, fresh once-only flags."""
    monkeypatch.setattr(transport, "_reason_cache", [])
    monkeypatch.setattr(transport, "_warned", threading.Event())
    monkeypatch.setitem(sys.modules, "aiobotocore.session", None)


# -- a shifted wall clock: `pytest --clock-shift-days=400` -----------------------------------
# Every test must pass whatever the calendar says. CI runs the suite a second time with the wall
# clock (time.time, datetime.now …; not the monotonic clocks) moved far ahead, so a fixed date
# compared with "now" deep inside a test or the library shows up as a failure today, not in a
# year's time.
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-shift-days",
        type=int,
        default=0,
        help="run with the wall clock moved this many days ahead (needs time-machine)",
    )


def pytest_configure(config: pytest.Config) -> None:
    days = int(config.getoption("--clock-shift-days") or 0)
    if not days:
        return
    import datetime as dt

    import time_machine

    traveller = time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=days), tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)
