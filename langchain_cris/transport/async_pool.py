"""Native async bedrock-runtime transport: one lazily built client per (event loop, Region).

Why this exists: langchain-aws runs ``ainvoke``/``astream`` on the loop's default thread pool
(min(32, cores + 4) threads), so async concurrency is capped by threads, not by Bedrock. This
module sends Converse / ConverseStream from the event loop itself; the chat model's single
decision path (route, policy, failover, metadata) calls it exactly where the sync path calls
its boto3 client.

Transport choice, prototyped before the emulator existed (2-core box, Python 3.11, botocore
1.43.117, aiohttp 3.14, a minimal aiohttp Converse server in a separate process; calls/s,
completions counted over fixed batches):

=====================================  ===========  ============  =====================
approach                               64 @ 200 ms  256 @ 200 ms  64 @ 0 ms (CPU bound)
=====================================  ===========  ============  =====================
limit (concurrency / latency)          320          1280          n/a
aiobotocore 3.10 client                299 (93 %)   792           2355
botocore serializer+signer+parser,     290 (91 %)   748           2013
aiohttp send (prototype, no retries)
ChatBedrockConverse.ainvoke (threads)  28.7         28.7          1106
=====================================  ===========  ============  =====================

This module against the embedded local Bedrock (``benchmarks/bench_async.py``: emulator in a
child process, 200 ms per call, steady state by Little's law, best of three windows, load
average ~1): 64 in flight, ``converse`` 316 calls/s (99 % of 320, 10.8x
``ChatBedrockConverse.ainvoke`` at 29.4) and ``converse_stream`` 316 (99 %, 10.6x
``astream`` at 29.8); 256 in flight, 1204 and 1149 calls/s (94 % / 90 % of 1280, 41x / 40x).
Python heap per in-flight call: ~18.5 KiB (thread pool: 11-15 KiB per queued call).
Through ``ChatBedrockCRIS`` (routing, policy, metadata; see :mod:`.async_send`): 64 in flight,
``ainvoke`` 314 and ``astream`` 310 calls/s (98 % / 97 %, 10.7x / 10.4x plain), ~35 KiB heap
per in-flight call.

Both async approaches reach the service limit at 64 in flight; aiobotocore is no slower and
is *the same code* as the sync path for everything but the socket: botocore's serializers,
SigV4/bearer signers, endpoint rules, retry handlers (with ``asyncio.sleep`` between
attempts), parsers, ``ClientError`` codes and event-stream decoding. The hand-rolled
alternative needs botocore's private request-preparation and retry plumbing plus our own
event-stream loop, i.e. a second, subtly different copy of the sync behaviour. So the
transport is **aiobotocore, as the optional extra** ``langchain-cris[async]``.

The price is aiobotocore's narrow botocore pin (3.10.0 requires
``botocore>=1.43.115,<1.43.118``) against langchain-aws 1.9.1's ``boto3>=1.43.64`` floor: the
two are compatible, but installing the extra holds boto3/botocore inside aiobotocore's window.
That is why it is optional: without it (or with a botocore outside aiobotocore's pin),
:func:`native_async_available` is ``False`` and the chat model keeps the thread-pool path,
warning once via :func:`warn_native_async_unavailable`.

The first aiobotocore release whose pin overlaps langchain-aws 1.9.1's floor is 3.9.1
(``botocore>=1.43.66,<1.43.76``); older ones (3.9.0: ``<1.43.57``) cannot be co-installed.

Loop safety: an aiohttp session is bound to the loop it was created on, so clients are keyed by
``(running loop, Region)`` and never shared across loops. Each loop's clients are closed by an
async generator parked on that loop: ``asyncio.run`` / ``asyncio.Runner`` close it in
``loop.shutdown_asyncgens()``, which closes the clients on their own loop (repeated
``asyncio.run`` leaves no unclosed sessions). Call :meth:`AsyncBedrockRuntimePool.aclose` for
loops closed by hand without ``shutdown_asyncgens``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Mapping
from types import TracebackType
from typing import Any, Final

from botocore.config import Config
from pydantic import SecretStr

from langchain_cris.regions import region_table
from langchain_cris.transport.async_stream import ConverseStream
from langchain_cris.transport.async_support import (
    ASYNC_EXTRA_INSTALL,
    NativeAsyncUnavailableWarning,
    native_async_available,
    native_async_unavailable_reason,
    warn_native_async_unavailable,
)
from langchain_cris.transport.guard import guard_client
from langchain_cris.transport.user_agent import memoize_user_agent

__all__ = [
    "ASYNC_EXTRA_INSTALL",
    "DEFAULT_MAX_POOL_CONNECTIONS",
    "AsyncBedrockRuntimePool",
    "ConverseStream",
    "NativeAsyncUnavailableWarning",
    "native_async_available",
    "native_async_unavailable_reason",
    "warn_native_async_unavailable",
]

#: Connections per (loop, Region) client unless the caller or its botocore Config says
#: otherwise. botocore's own default (10) would cap async concurrency at 10 calls.
DEFAULT_MAX_POOL_CONNECTIONS: Final = 256

_SERVICE: Final = "bedrock-runtime"


# -- the pool -------------------------------------------------------------------------------


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(value)


def _reveal(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class _LoopClients:
    """The clients of one event loop; only ever touched from that loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.clients: dict[str, Any] = {}
        self.lock = asyncio.Lock()
        self.stack = contextlib.AsyncExitStack()
        self.session: Any = None
        self.closed = False
        # Parked async generator whose ``finally`` closes the clients; it keeps the loop's
        # shutdown_asyncgens() informed of us. Set right after construction.
        self.guard: AsyncGenerator[None, None] | None = None

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.clients.clear()
        await self.stack.aclose()


class AsyncBedrockRuntimePool:
    """Async bedrock-runtime clients, one per (running event loop, source Region), built lazily.

    Credentials, endpoint and botocore ``Config`` are resolved exactly as langchain-aws's sync
    ``create_aws_client`` does (bearer ``api_key`` first, then a named profile, then explicit
    keys, else botocore's default chain; ``AWS_ENDPOINT_URL`` honoured by botocore), so one
    chat model can hold a boto3 client and this pool side by side. Errors are botocore's own:
    ``ClientError`` (``.response["Error"]["Code"]``, e.g. ``ThrottlingException`` after
    botocore's retries), ``EventStreamError`` mid-stream, ``ReadTimeoutError`` /
    ``EndpointConnectionError`` for the network, ``ParamValidationError`` before sending.

    Args:
        endpoint_url: Bedrock runtime endpoint (e.g. the local Bedrock); ``None`` = AWS.
        credentials_profile_name: Named profile from the shared config files.
        aws_access_key_id: Explicit access key (needs ``aws_secret_access_key``).
        aws_secret_access_key: Explicit secret key.
        aws_session_token: Optional session token for temporary credentials.
        api_key: Bedrock API key (HTTP bearer); wins over the other credentials, as in
            langchain-aws.
        config: botocore ``Config`` shared with the sync client (retries, timeouts …).
        default_headers: Extra HTTP headers on every Converse/ConverseStream request, as
            ``ChatBedrockConverse.default_headers`` adds them to its sync client.
        max_pool_connections: Open connections per (loop, Region); further calls wait for
            one. Default: the ``Config``'s value if the caller set one, else
            :data:`DEFAULT_MAX_POOL_CONNECTIONS`.

    Raises:
        ValueError: for half-given explicit keys or a non-positive pool size.
        ImportError: if native async is unavailable (see :func:`native_async_available`).

    Example:
        .. code-block:: python

            pool = AsyncBedrockRuntimePool(endpoint_url="http://127.0.0.1:8000")
            response = await pool.converse(
                "eu-west-1",
                modelId="eu.amazon.nova-lite-v1:0",
                messages=[{"role": "user", "content": [{"text": "hi"}]}],
            )
            response["ResponseMetadata"]["RequestId"]
            async with pool.converse_stream("eu-west-1", modelId=..., messages=...) as stream:
                async for event in stream:  # the dicts boto3's EventStream yields
                    ...
            await pool.aclose()
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        credentials_profile_name: str | None = None,
        aws_access_key_id: SecretStr | str | None = None,
        aws_secret_access_key: SecretStr | str | None = None,
        aws_session_token: SecretStr | str | None = None,
        api_key: SecretStr | str | None = None,
        config: Config | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_pool_connections: int | None = None,
    ) -> None:
        reason = native_async_unavailable_reason()
        if reason is not None:
            raise ImportError(f"native async is unavailable: {reason}. {ASYNC_EXTRA_INSTALL}")
        self.endpoint_url = endpoint_url
        self.credentials_profile_name = credentials_profile_name
        self._access_key = _secret(aws_access_key_id)
        self._secret_key = _secret(aws_secret_access_key)
        self._session_token = _secret(aws_session_token)
        self._api_key = _secret(api_key)
        if self._api_key is not None and not self._api_key.get_secret_value():
            self._api_key = None
        uses_keys = self._api_key is None and credentials_profile_name is None
        if uses_keys and (self._access_key is None) != (self._secret_key is None):
            given = "aws_access_key_id" if self._access_key else "aws_secret_access_key"
            raise ValueError(
                f"only {given} was given; explicit credentials need both aws_access_key_id "
                "and aws_secret_access_key (or neither, to use the default credential chain)"
            )
        self.default_headers = dict(default_headers or {})
        self.max_pool_connections = _pool_size(config, max_pool_connections)
        self._config = _aio_config(config, self.max_pool_connections, bearer=bool(self._api_key))
        self._states: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
        self._states_lock = threading.Lock()

    def __repr__(self) -> str:
        auth = (
            "api_key=**********"
            if self._api_key
            else f"profile={self.credentials_profile_name!r}"
            if self.credentials_profile_name
            else "explicit keys=**********"
            if self._access_key
            else "default credential chain"
        )
        return (
            f"{type(self).__name__}(endpoint_url={self.endpoint_url!r}, {auth}, "
            f"max_pool_connections={self.max_pool_connections}, loops={len(self._states)})"
        )

    # -- public calls ----------------------------------------------------------------------

    async def converse(self, region: str, **kwargs: Any) -> dict[str, Any]:
        """Call Converse from source ``region``; returns boto3's response dict.

        Args:
            region: Source Region (the client's Region, i.e. the SigV4 scope).
            **kwargs: Converse parameters exactly as for boto3 (``modelId``, ``messages`` …).

        Returns:
            The parsed response, including ``ResponseMetadata["RequestId"]``.

        Raises:
            UnknownRegionError: ``region`` is not a known AWS Region (before any network call).
        """
        client = await self._client(region)
        response: dict[str, Any] = await client.converse(**kwargs)
        return response

    def converse_stream(self, region: str, **kwargs: Any) -> ConverseStream:
        """Open ConverseStream from ``region``; use as ``async with ... as stream``.

        The request is sent on ``__aenter__`` (HTTP errors raise there, like boto3's call);
        events are decoded as bytes arrive. Leaving the block early, by ``break``, an error or
        task cancellation, closes the stream and drops its connection.
        """
        return ConverseStream(self._client, region, kwargs)

    async def aclose(self) -> None:
        """Close every client; later calls open new ones lazily.

        Clients of the running loop are closed here; those of a loop running in another thread
        are closed on that loop (awaited); those of loops already closed are dropped. Clients
        of an idle loop (neither running nor closed) are kept: close them from that loop.
        """
        current = asyncio.get_running_loop()
        with self._states_lock:
            states = list(self._states.values())
            for state in states:
                if state.loop is current or state.loop.is_running() or state.loop.is_closed():
                    del self._states[state.loop]
        for state in states:
            if state.loop is current:
                await _close_state(state)
            elif state.loop.is_running() and not state.loop.is_closed():
                fut = asyncio.run_coroutine_threadsafe(_close_state(state), state.loop)
                await asyncio.wrap_future(fut)

    async def __aenter__(self) -> AsyncBedrockRuntimePool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals -------------------------------------------------------------------------

    def open_regions(self) -> list[str]:
        """Regions with an open client on the running loop (for tests and diagnostics)."""
        loop = _running_loop()
        with self._states_lock:
            state = self._states.get(loop) if loop is not None else None
        return sorted(state.clients) if state is not None else []

    async def _client(self, region: str) -> Any:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)  # lock-free fast path: dict reads are atomic
        if state is not None and not state.closed:
            client = state.clients.get(region)
            if client is not None:
                return client
        region_table().check(region)  # typed error before any network call
        state = await self._state(loop)
        async with state.lock:  # one creation per (loop, Region) even under a burst
            if region not in state.clients:
                state.clients[region] = await self._open_client(state, region)
            return state.clients[region]

    async def _open_client(self, state: _LoopClients, region: str) -> Any:
        if state.session is None:
            state.session = self._new_session()
        client = await state.stack.enter_async_context(
            state.session.create_client(_SERVICE, **self._client_kwargs(region))
        )
        guard_client(client)  # the last check before signing, as on the sync clients
        memoize_user_agent(client)
        if self.default_headers:
            for operation in ("Converse", "ConverseStream"):
                client.meta.events.register(
                    f"before-send.{_SERVICE}.{operation}", self._add_default_headers
                )
        return client

    async def _state(self, loop: asyncio.AbstractEventLoop) -> _LoopClients:
        with self._states_lock:
            state = self._states.get(loop)
            if state is not None and not state.closed:
                return state
            # Forget loops that were closed without shutdown_asyncgens (nothing to await on).
            for dead in [lp for lp in self._states if lp.is_closed()]:
                del self._states[dead]
            state = _LoopClients(loop)
            self._states[loop] = state
        state.guard = self._close_with_loop(state)
        await state.guard.__anext__()  # parks it; the loop now tracks it
        return state

    async def _close_with_loop(self, state: _LoopClients) -> AsyncGenerator[None, None]:
        """Parked until the loop's shutdown_asyncgens() (or aclose()) resumes it to clean up."""
        try:
            yield
        finally:
            with self._states_lock:
                if self._states.get(state.loop) is state:
                    del self._states[state.loop]
            await state.aclose()

    def _add_default_headers(self, request: Any, **_: Any) -> None:
        for name, value in self.default_headers.items():
            request.headers[name] = value

    def _new_session(self) -> Any:
        from aiobotocore.session import AioSession

        session = AioSession(profile=self.credentials_profile_name)
        if self._api_key is not None:
            # Same injection as langchain-aws's create_aws_client: botocore has no public API
            # to add a token provider, so the static one goes first in the chain.
            chain = session.get_component("token_provider")
            chain._providers.insert(0, _StaticTokenProvider(self._api_key))
        return session

    def _client_kwargs(self, region: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self._api_key is None and self.credentials_profile_name is None and self._access_key:
            kwargs["aws_access_key_id"] = _reveal(self._access_key)
            kwargs["aws_secret_access_key"] = _reveal(self._secret_key)
            kwargs["aws_session_token"] = _reveal(self._session_token)
        return kwargs


async def _close_state(state: _LoopClients) -> None:
    if state.guard is not None:
        await state.guard.aclose()  # runs its finally: forget + close clients
    else:
        await state.aclose()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _pool_size(config: Config | None, explicit: int | None) -> int:
    size = explicit
    if size is None and config is not None:
        size = getattr(config, "_user_provided_options", {}).get("max_pool_connections")
    size = DEFAULT_MAX_POOL_CONNECTIONS if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"max_pool_connections must be a positive int, got {size!r}")
    return size


def _aio_config(config: Config | None, pool_size: int, *, bearer: bool) -> Any:
    """The caller's botocore Config as an AioConfig (same retries/timeouts), pool size set."""
    from aiobotocore.config import AioConfig

    options: dict[str, Any] = dict(getattr(config, "_user_provided_options", {}) or {})
    options["max_pool_connections"] = pool_size
    if bearer:
        options["auth_scheme_preference"] = "httpBearerAuth"
    return AioConfig(**options)


class _StaticTokenProvider:
    """A bearer token provider returning the configured Bedrock API key."""

    METHOD = "static"

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def load_token(self, **kwargs: Any) -> Any:
        from botocore.tokens import FrozenAuthToken

        return FrozenAuthToken(self._token.get_secret_value())
