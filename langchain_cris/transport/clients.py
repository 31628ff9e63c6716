"""boto3 clients for ``ChatBedrockCRIS``: one bedrock-runtime client per source Region, lazily.

Why not let langchain-aws build them: its after-validator creates a runtime and a control-plane
client in the constructor (resolving credentials, which can mean an IMDS round-trip) and calls
``GetInferenceProfile`` for application-profile ARNs. ``ChatBedrockCRIS`` must construct without
any network call and may send from several source Regions, so it parks two placeholders in the
``client`` / ``bedrock_client`` fields (the validator then skips client creation) and builds real
clients here on first use, once per Region, shared by every copy of the model.

Retries: unless the user configures retries (``config=`` or ``max_retries=``), runtime clients
get ``max_attempts=0`` (one attempt, in whatever retry mode the environment selects). Retrying
is done by the in-policy failover loop instead, which moves to another allowed source Region
at once rather than sleeping on the throttled one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.transport.guard import guard_client

__all__ = [
    "DEFAULT_RETRIES",
    "DeferredControlClient",
    "DeferredRuntimeClient",
    "RuntimeClientPool",
    "default_source_region",
]

#: botocore retry settings for runtime clients when the user sets none (see module docstring).
DEFAULT_RETRIES: Mapping[str, Any] = {"max_attempts": 0}


class _Events:
    """Records ``meta.events.register`` calls made on a placeholder (they are replayed)."""

    def __init__(self) -> None:
        self.registered: list[tuple[str, Callable[..., Any]]] = []

    def register(self, event_name: str, handler: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.registered.append((event_name, handler))


class _Meta:
    def __init__(self, region_name: str | None) -> None:
        self.region_name = region_name
        self.events = _Events()


class DeferredRuntimeClient:
    """Stands in the ``client`` field until a call picks a source Region.

    Calling it directly is a programming error: the chat model always sends through the
    per-Region pool, so any attribute other than ``meta`` raises with a pointer to that.
    """

    def __init__(self, region_name: str | None = None) -> None:
        self.meta = _Meta(region_name)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"ChatBedrockCRIS creates its bedrock-runtime clients per source Region on first "
            f"use; {name!r} is not available on the placeholder client. Use "
            "ChatBedrockCRIS.runtime_client(region) to get a real client."
        )


class DeferredControlClient:
    """Stands in the ``bedrock_client`` field; answers ``GetInferenceProfile`` from the catalog.

    langchain-aws calls ``get_inference_profile`` in its constructor to learn the base model of
    an application-profile ARN. The catalog already knows loaded application profiles, so the
    answer comes from there; an unknown ARN gets an empty answer (no network) and the call is
    refused later by routing with a hint to load the profile. Any other attribute builds the
    real control-plane client on first use.
    """

    def __init__(
        self,
        catalog: Callable[[], ProfileCatalog],
        factory: Callable[[], Any] | None = None,
        region_name: str | None = None,
    ) -> None:
        self._catalog = catalog
        self._factory = factory
        self._real: Any = None
        self._lock = threading.Lock()
        self.meta = _Meta(region_name)

    def get_inference_profile(self, *, inferenceProfileIdentifier: str) -> dict[str, Any]:
        profile = self._catalog().get(inferenceProfileIdentifier)
        if profile is None:
            return {"models": []}
        return {
            "inferenceProfileId": profile.profile_id,
            "models": [
                {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{profile.model_id}"}
                for region in sorted(profile.all_destinations())
            ],
        }

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self._factory is None:
            raise AttributeError(name)
        with self._lock:
            if self._real is None:
                self._real = self._factory()
        return getattr(self._real, name)


class RuntimeClientPool:
    """One bedrock-runtime client per source Region, created once under a lock, then shared.

    boto3 clients are thread-safe; creating them from the default session is not, hence the
    lock around creation (reads take the lock-free fast path).
    """

    def __init__(self, factory: Callable[[str], Any], preset: Mapping[str, Any] | None = None):
        self._factory = factory
        # Every client held here carries the wire guard (the user's own clients included).
        self._clients: dict[str, Any] = {r: guard_client(c) for r, c in (preset or {}).items()}
        self._lock = threading.Lock()
        self.created = 0  # clients built by this pool (tests check reuse)

    def get(self, region: str) -> Any:
        """The client for ``region``, created on first use."""
        client = self._clients.get(region)
        if client is None:
            with self._lock:
                client = self._clients.get(region)
                if client is None:
                    client = guard_client(self._factory(region))
                    self._clients[region] = client
                    self.created += 1
        return client

    def regions(self) -> list[str]:
        """Source Regions that have a client so far."""
        return sorted(self._clients)


def default_source_region(credentials_profile_name: str | None = None) -> str | None:
    """The Region boto3 would use: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile.

    Reads environment and config files only; never the network.
    """
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    import boto3

    try:
        return boto3.Session(profile_name=credentials_profile_name).region_name
    except Exception:  # a missing profile is reported when the client is built
        return None
