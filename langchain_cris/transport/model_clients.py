"""The clients one chat model (and every copy of it) sends through, built from its settings.

``ChatBedrockCRIS`` delegates each call to a ``model_copy`` of itself, and copies must share one
set of clients: :class:`ModelTransport` is that shared state. Clients are built the way
langchain-aws builds them (``create_aws_client``: same credentials, endpoint and bearer-token
rules), with our botocore ``Config`` underneath the user's (:func:`client_config`).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from langchain_aws.utils import create_aws_client

from langchain_cris.transport.async_pool import AsyncBedrockRuntimePool
from langchain_cris.transport.async_send import AsyncRuntime
from langchain_cris.transport.async_support import (
    native_async_available,
    warn_native_async_unavailable,
)
from langchain_cris.transport.clients import DEFAULT_RETRIES, RuntimeClientPool
from langchain_cris.transport.user_agent import memoize_user_agent

__all__ = [
    "ModelTransport",
    "add_default_headers",
    "client_config",
    "new_async_pool",
    "new_client",
]


class ModelTransport:
    """Shared by a model and every copy of it: clients, source Region, native async pool."""

    def __init__(self, pool: RuntimeClientPool, *, user_client: bool) -> None:
        self.pool = pool
        self.own_pool = pool  # replaced only by tests; then async follows the replacement
        self.user_client = user_client
        self.lock = threading.Lock()
        self.source_region: str | None = None
        #: The native async transport, built on the first async call (``None`` until then).
        self.apool: AsyncRuntime | None = None
        #: ``(endpoint and identity, live-catalog key)`` of the last call (see ``_live``).
        #: (endpoint/identity fields, their digest, base catalog, its LiveCatalog): see
        #: ``ChatBedrockCRIS._live``; recomputed only when a field or the catalog changed.
        self.live_key: tuple[tuple[Any, ...], str, Any, Any] | None = None
        #: The last call's ``FailoverSettings`` (frozen; see ``_failover_settings``).
        self.failover_settings: Any = None

    def async_runtime(self, build: Callable[[], AsyncRuntime]) -> AsyncRuntime | None:
        """The native async transport, or ``None`` when async must use the thread pool.

        Built once per model (copies share it) by ``build`` with the same endpoint, credentials,
        botocore Config and default headers as the sync clients; it opens clients per (event
        loop, Region) lazily and closes them when their loop shuts down.
        """
        if self.apool is not None:
            return self.apool
        if self.user_client or self.pool is not self.own_pool:
            return None  # the sync transport was chosen explicitly: follow it
        if not native_async_available():
            warn_native_async_unavailable()
            return None
        with self.lock:
            if self.apool is None:
                self.apool = build()
        return self.apool


@lru_cache(maxsize=1)
def _default_config() -> Any:
    from botocore.config import Config

    return Config(retries=dict(DEFAULT_RETRIES))  # type: ignore[arg-type]


def client_config(user: Any) -> Any:
    """The botocore Config of every client: ours (no botocore retries) under the user's.

    Options the user left unset are dropped before merging: langchain-aws's ``timeout=`` alone
    yields ``Config(retries=None, ...)``, which would otherwise replace ``DEFAULT_RETRIES`` and
    let botocore retry a timed-out call in the same Region before failover could move it.

    Fresh and deep-copied each time: botocore rewrites a client's ``retries`` dict in place
    while building the client, which must not leak into the next client.
    """
    from botocore.config import Config

    options = dict(_default_config()._user_provided_options)
    user_options = getattr(user, "_user_provided_options", None) or {}
    options.update({k: v for k, v in user_options.items() if v is not None})
    return Config(**copy.deepcopy(options))


def new_client(model: Any, service: str, region: str | None, config: Any) -> Any:
    """A boto3 client of ``service`` in ``region`` with the model's credentials and endpoint
    (its User-Agent built once per feature set: :mod:`~langchain_cris.transport.user_agent`)."""
    client = create_aws_client(
        service_name=service,
        region_name=region,
        credentials_profile_name=model.credentials_profile_name,
        aws_access_key_id=model.aws_access_key_id,
        aws_secret_access_key=model.aws_secret_access_key,
        aws_session_token=model.aws_session_token,
        endpoint_url=model.endpoint_url,
        config=config,
        api_key=model.bedrock_api_key,
    )
    return memoize_user_agent(client)


def add_default_headers(client: Any, headers: Mapping[str, str] | None) -> None:
    """Send the model's ``default_headers`` on every Converse/ConverseStream request."""
    if not headers:
        return
    fixed = dict(headers)

    def _add_headers(request: Any, **_: Any) -> None:
        for key, value in fixed.items():
            request.headers[key] = value

    for op in ("Converse", "ConverseStream"):
        client.meta.events.register(f"before-send.bedrock-runtime.{op}", _add_headers)


def new_async_pool(model: Any, config: Any) -> AsyncRuntime:
    """The native async pool with the same settings as the model's sync clients."""
    return AsyncBedrockRuntimePool(
        endpoint_url=model.endpoint_url,
        credentials_profile_name=model.credentials_profile_name,
        aws_access_key_id=model.aws_access_key_id,
        aws_secret_access_key=model.aws_secret_access_key,
        aws_session_token=model.aws_session_token,
        api_key=model.bedrock_api_key,
        config=config,
        default_headers=model.default_headers,
    )
