"""Pure parts of the native async transport: availability, config, loop keying and closing.

Sockets are blocked here; building an aiobotocore client opens none (credentials come from the
fake environment of ``tests/conftest.py``), so loop safety is tested without a server.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError, ResponseStreamingError

from langchain_cris.errors import UnknownRegionError
from langchain_cris.transport import async_stream, async_support
from langchain_cris.transport.async_pool import (
    ASYNC_EXTRA_INSTALL,
    DEFAULT_MAX_POOL_CONNECTIONS,
    AsyncBedrockRuntimePool,
    NativeAsyncUnavailableWarning,
    native_async_available,
    native_async_unavailable_reason,
    warn_native_async_unavailable,
)
from langchain_cris.transport.guard import decided_route

ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture
def leaks() -> Iterator[list[str]]:
    """Collects ResourceWarnings and unraisable exceptions (e.g. "Unclosed client session")."""
    found: list[str] = []
    old_hook = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        found.append(f"unraisable: {unraisable.exc_value!r}")

    sys.unraisablehook = hook
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield found
        gc.collect()
        found.extend(
            f"{w.category.__name__}: {w.message}"
            for w in caught
            if issubclass(w.category, ResourceWarning) or "nclosed" in str(w.message)
        )
    sys.unraisablehook = old_hook


@pytest.fixture
def closed_clients(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Ids of aiobotocore clients whose ``__aexit__`` ran (their HTTP sessions are closed).

    Without a server no aiohttp session is ever opened, so a leak would be silent here; this
    spy makes "closed" observable. The integration tests check for real unclosed sockets.
    """
    from aiobotocore.client import AioBaseClient

    closed: set[int] = set()
    real_aexit = AioBaseClient.__aexit__

    async def spy(self: Any, *exc: Any) -> Any:
        closed.add(id(self))
        return await real_aexit(self, *exc)

    monkeypatch.setattr(AioBaseClient, "__aexit__", spy)
    return closed


@pytest.fixture
def fresh_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the cached availability answer and the once-only warning flag."""
    monkeypatch.setattr(async_support, "_reason_cache", [])
    monkeypatch.setattr(async_support, "_warned", threading.Event())


# -- availability -----------------------------------------------------------------------------


def test_native_async_is_available_in_the_test_environment() -> None:
    assert native_async_unavailable_reason() is None
    assert native_async_available() is True


@pytest.mark.usefixtures("fresh_availability")
def test_missing_aiobotocore_makes_native_async_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiobotocore.session", None)  # import now raises
    assert native_async_available() is False
    assert "aiobotocore cannot be imported" in (native_async_unavailable_reason() or "")
    with pytest.raises(ImportError, match=r"langchain-cris\[async\]"):
        AsyncBedrockRuntimePool()


@pytest.mark.usefixtures("fresh_availability")
def test_botocore_outside_aiobotocore_pin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = async_support.importlib.metadata.version

    def fake_version(name: str) -> str:
        return "1.99.0" if name == "botocore" else real_version(name)

    monkeypatch.setattr(async_support.importlib.metadata, "version", fake_version)
    reason = native_async_unavailable_reason() or ""
    assert "requires botocore" in reason
    assert "botocore 1.99.0 is installed" in reason
    assert native_async_available() is False


@pytest.mark.usefixtures("fresh_availability")
def test_fallback_warning_is_given_once_and_says_how_to_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(async_support, "_reason_cache", ["aiobotocore cannot be imported (test)"])
    with pytest.warns(NativeAsyncUnavailableWarning) as record:
        assert warn_native_async_unavailable() is True
    message = str(record[0].message)
    assert ASYNC_EXTRA_INSTALL in message
    assert "aiobotocore cannot be imported (test)" in message
    assert "thread pool" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_native_async_unavailable() is False


@pytest.mark.usefixtures("fresh_availability")
def test_no_warning_when_native_async_is_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_native_async_unavailable() is False


# -- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["aws_access_key_id", "aws_secret_access_key"])
def test_half_given_explicit_keys_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match=f"only {given} was given"):
        kwargs: dict[str, Any] = {given: "x"}
        AsyncBedrockRuntimePool(**kwargs)


def test_api_key_and_profile_win_over_half_given_keys() -> None:
    # As in langchain-aws's create_aws_client: keys are only read when neither is given.
    assert "api_key=**" in repr(AsyncBedrockRuntimePool(api_key="k", aws_access_key_id="x"))
    pool = AsyncBedrockRuntimePool(credentials_profile_name="dev", aws_access_key_id="x")
    assert "profile='dev'" in repr(pool)


class _Captured(Exception):
    def __init__(self, authorization: str) -> None:
        super().__init__(authorization)
        self.authorization = authorization


async def _authorization_sent(pool: AsyncBedrockRuntimePool, region: str) -> str:
    """The ``Authorization`` header a Converse call would carry, captured before sending."""

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request.headers["Authorization"].decode())

    client = await pool._client(region)
    client.meta.events.register("before-send.bedrock-runtime.Converse", capture)
    # The pool's clients carry the wire guard: the send needs a decided route.
    with decided_route("Converse", "m", region, "test"), pytest.raises(_Captured) as info:
        await pool.converse(region, modelId="m", messages=[])
    return info.value.authorization


async def test_named_profile_credentials_sign_the_request(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[dev]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    async with AsyncBedrockRuntimePool(
        endpoint_url=ENDPOINT, credentials_profile_name="dev"
    ) as pool:
        auth = await _authorization_sent(pool, "eu-west-1")
    assert "Credential=AKIDFROMPROFILE/" in auth
    assert "/eu-west-1/bedrock/aws4_request" in auth


async def test_explicit_keys_sign_the_request() -> None:
    async with AsyncBedrockRuntimePool(
        endpoint_url=ENDPOINT, aws_access_key_id="AKIDEXPLICIT", aws_secret_access_key="s"
    ) as pool:
        auth = await _authorization_sent(pool, "eu-north-1")
    assert "Credential=AKIDEXPLICIT/" in auth
    assert "/eu-north-1/bedrock/aws4_request" in auth


async def test_default_headers_are_added_to_runtime_calls() -> None:
    seen: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        seen.append(request.headers["X-Team"])
        raise _Captured("")

    headers = {"X-Team": "residency"}
    async with AsyncBedrockRuntimePool(endpoint_url=ENDPOINT, default_headers=headers) as pool:
        client = await pool._client("eu-west-1")
        # Registered after the pool's own handler, so it sees the header already set.
        client.meta.events.register("before-send.bedrock-runtime.Converse", capture)
        with decided_route("Converse", "m", "eu-west-1", "test"), pytest.raises(_Captured):
            await pool.converse("eu-west-1", modelId="m", messages=[])
    assert seen == ["residency"]


async def test_api_key_is_sent_as_bearer() -> None:
    async with AsyncBedrockRuntimePool(endpoint_url=ENDPOINT, api_key="bedrock-key") as pool:
        auth = await _authorization_sent(pool, "eu-west-1")
    assert auth == "Bearer bedrock-key"


@pytest.mark.parametrize(
    ("config", "explicit", "expected"),
    [
        (None, None, DEFAULT_MAX_POOL_CONNECTIONS),
        (Config(read_timeout=5), None, DEFAULT_MAX_POOL_CONNECTIONS),
        (Config(max_pool_connections=32), None, 32),
        (Config(max_pool_connections=32), 64, 64),
    ],
)
def test_pool_size_precedence(config: Config | None, explicit: int | None, expected: int) -> None:
    pool = AsyncBedrockRuntimePool(config=config, max_pool_connections=explicit)
    assert pool.max_pool_connections == expected


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_non_positive_pool_size_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_pool_connections must be a positive int"):
        AsyncBedrockRuntimePool(max_pool_connections=bad)


def test_repr_masks_secrets() -> None:
    pool = AsyncBedrockRuntimePool(
        aws_access_key_id="AKIDSECRET", aws_secret_access_key="s3cr3t", aws_session_token="tok"
    )
    text = repr(pool)
    for secret in ("AKIDSECRET", "s3cr3t", "tok"):
        assert secret not in text
    assert "explicit keys=**" in text
    assert "secret-api-key" not in repr(AsyncBedrockRuntimePool(api_key="secret-api-key"))


async def test_client_carries_the_sync_config_and_pool_size() -> None:
    config = Config(
        read_timeout=7,
        connect_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 1},
        user_agent_extra="cris-test",
    )
    async with AsyncBedrockRuntimePool(endpoint_url=ENDPOINT, config=config) as pool:
        client = await pool._client("eu-west-1")
        meta = client.meta
        assert meta.region_name == "eu-west-1"
        assert meta.endpoint_url == ENDPOINT
        assert meta.config.read_timeout == 7
        assert meta.config.connect_timeout == 3
        assert meta.config.retries["total_max_attempts"] == 1
        assert meta.config.user_agent_extra == "cris-test"
        assert meta.config.max_pool_connections == DEFAULT_MAX_POOL_CONNECTIONS


async def test_aws_endpoint_url_env_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    async with AsyncBedrockRuntimePool() as pool:
        client = await pool._client("eu-central-1")
        assert client.meta.endpoint_url == "http://127.0.0.1:4566"


async def test_unknown_region_is_refused_before_any_client_exists() -> None:
    async with AsyncBedrockRuntimePool(endpoint_url=ENDPOINT) as pool:
        with pytest.raises(UnknownRegionError, match="eu-wset-1") as info:
            await pool.converse("eu-wset-1", modelId="m", messages=[])
        assert "eu-west-1" in str(info.value)  # suggestion
        assert pool.open_regions() == []


async def test_stream_must_be_entered_before_iterating() -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=ENDPOINT)
    stream = pool.converse_stream("eu-west-1", modelId="m", messages=[])
    with pytest.raises(RuntimeError, match="async with"):
        await stream.__anext__()
    await pool.aclose()


# -- loop keying and closing --------------------------------------------------------------------


async def test_concurrent_first_calls_build_one_client_per_region() -> None:
    async with AsyncBedrockRuntimePool(endpoint_url=ENDPOINT) as pool:
        clients = await asyncio.gather(
            *(pool._client(r) for r in ["eu-west-1", "eu-central-1"] * 32)
        )
        assert len({id(c) for c in clients}) == 2
        assert pool.open_regions() == ["eu-central-1", "eu-west-1"]


def test_each_asyncio_run_gets_its_own_clients_closed_at_loop_shutdown(
    leaks: list[str], closed_clients: set[int]
) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=ENDPOINT)
    seen: list[tuple[asyncio.AbstractEventLoop, Any]] = []

    async def use() -> None:
        client = await pool._client("eu-west-1")
        assert await pool._client("eu-west-1") is client
        seen.append((asyncio.get_running_loop(), client))

    for _ in range(5):
        asyncio.run(use())
        assert pool._states == {}  # closed and forgotten by shutdown_asyncgens
    assert len({id(c) for _, c in seen}) == 5
    assert len({id(lp) for lp, _ in seen}) == 5
    assert {id(c) for _, c in seen} <= closed_clients
    seen.clear()
    assert leaks == []


def test_manual_loop_with_explicit_aclose_leaks_nothing(
    leaks: list[str], closed_clients: set[int]
) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=ENDPOINT)
    loop = asyncio.new_event_loop()
    try:
        client = loop.run_until_complete(pool._client("eu-north-1"))
        loop.run_until_complete(pool.aclose())
        assert pool._states == {}
        assert id(client) in closed_clients
    finally:
        loop.close()
    assert leaks == []


async def test_reuse_after_aclose_opens_a_new_client(closed_clients: set[int]) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=ENDPOINT)
    first = await pool._client("eu-west-3")
    await pool.aclose()
    assert id(first) in closed_clients
    assert pool.open_regions() == []
    second = await pool._client("eu-west-3")
    assert second is not first
    await pool.aclose()


def test_loops_in_two_threads_never_share_a_client(
    leaks: list[str], closed_clients: set[int]
) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=ENDPOINT)
    clients: list[Any] = []
    barrier = threading.Barrier(2)

    async def use() -> None:
        clients.append(await pool._client("eu-west-1"))
        await asyncio.to_thread(barrier.wait)  # both loops hold their client at once

    threads = [threading.Thread(target=asyncio.run, args=(use(),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(clients) == 2 and clients[0] is not clients[1]
    assert {id(c) for c in clients} <= closed_clients
    assert pool._states == {}
    clients.clear()
    assert leaks == []


def test_aclose_closes_clients_of_a_loop_running_in_another_thread(
    leaks: list[str], closed_clients: set[int]
) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=ENDPOINT)
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever)
    thread.start()
    try:
        client = asyncio.run_coroutine_threadsafe(pool._client("eu-west-1"), other).result(10)
        asyncio.run(pool.aclose())  # from a different loop, in this thread
        assert id(client) in closed_clients
        assert pool._states == {}
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(10)
        other.close()
    assert leaks == []


def test_dropping_the_pool_closes_its_clients_on_the_running_loop(
    leaks: list[str], closed_clients: set[int]
) -> None:
    client_ids: list[int] = []

    async def use() -> None:
        pool = AsyncBedrockRuntimePool(endpoint_url=ENDPOINT)
        client_ids.append(id(await pool._client("eu-west-1")))
        del pool
        gc.collect()  # the guard generator is finalised: the loop schedules its aclose()
        for _ in range(5):
            await asyncio.sleep(0)

        assert client_ids[0] in closed_clients  # closed while the loop still runs

    asyncio.run(use())
    assert leaks == []


# -- mid-stream transport errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (aiohttp.ClientPayloadError("cut"), ResponseStreamingError),
        (aiohttp.ServerDisconnectedError(), ResponseStreamingError),
        (ConnectionResetError("reset"), ResponseStreamingError),
        (aiohttp.SocketTimeoutError("read"), ReadTimeoutError),
        (TimeoutError(), ReadTimeoutError),
    ],
)
def test_mid_stream_transport_errors_map_to_botocore_types(
    raised: Exception, expected: type[Exception]
) -> None:
    assert isinstance(async_stream._stream_transport_error(raised, None), expected)


def test_other_mid_stream_errors_are_not_remapped() -> None:
    assert async_stream._stream_transport_error(ValueError("bad frame"), None) is None
