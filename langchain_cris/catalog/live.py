"""Live answers by default: routes refreshed from AWS per source Region, layered on a catalog.

The bundled snapshot is a transcription of AWS's pages; the control plane is AWS's word. A
``LiveCatalog`` sits between a model and its base catalog (the bundle, or the user's own):
the first call from a source Region asks that Region's ``ListInferenceProfiles`` (both
``SYSTEM_DEFINED`` and ``APPLICATION``) and every row the answer covers replaces the base row —
a widening included, so a profile AWS widened beyond the policy is refused before sending.

* **Per Region, never blocking the others**: one refresh in flight per Region; concurrent first
  calls from that Region wait for it (using the old rows meanwhile could let through what the
  answer refuses), calls from other Regions do not.
* **TTL**: an answer stays fresh for ``ttl`` seconds (injected clock); an unknown model id
  forces a refresh before refusing (at most once per ``min_forced_interval``).
* **Fallback**: when the control plane cannot be reached or the role may not call
  ``bedrock:ListInferenceProfiles``, the base rows stay in force and ONE
  ``CatalogFallbackWarning`` says so (per endpoint); the Region is retried after
  ``retry_after_failure`` seconds.
* **Offline**: ``LANGCHAIN_CRIS_OFFLINE=1`` (or ``ChatBedrockCRIS(live_catalog=False)``) keeps
  every call on the base catalog, with no control-plane traffic at all.

Answers are kept per endpoint and identity (``live_catalog_for``), so two local Bedrocks — or
two AWS accounts — never see each other's profiles.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_cris.catalog.profiles import DEFAULT_TTL_SECONDS, ProfileCatalog
from langchain_cris.errors import CatalogFallbackWarning

__all__ = [
    "OFFLINE_ENV",
    "CatalogFallbackWarning",
    "forget_live_catalogs",
    "LiveCatalog",
    "live_catalog_for",
    "offline_mode",
]

OFFLINE_ENV = "LANGCHAIN_CRIS_OFFLINE"
DEFAULT_RETRY_AFTER_FAILURE = 60.0
DEFAULT_MIN_FORCED_INTERVAL = 60.0
_REGISTRY_SIZE = 64


def offline_mode() -> bool:
    """True when ``$LANGCHAIN_CRIS_OFFLINE`` turns live refresh off (``1``/``true``/``yes``)."""
    value = os.environ.get(OFFLINE_ENV)
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class _RegionState:
    expires: float | None = None  # clock time after which the Region is asked again
    fetched: float | None = None  # clock time of the last successful answer
    inflight: threading.Event | None = None
    summaries: list[Mapping[str, Any]] = field(default_factory=list)
    ok: bool = False


class LiveCatalog:
    """Live ``ListInferenceProfiles`` answers layered over ``base``, refreshed per Region.

    Example:
        .. code-block:: python

            live = LiveCatalog(ProfileCatalog.bundled(), lambda r: boto3.client("bedrock", r))
            catalog = live.ensure("eu-central-1")  # asks eu-central-1 once per TTL
            resolve_route("eu.anthropic.claude-sonnet-4-6", policy, "eu-central-1", catalog)

    Args:
        base: The catalog whose rows hold until a live answer replaces them.
        client_factory: ``region -> bedrock control-plane client``.
        ttl: Seconds an answer stays fresh.
        retry_after_failure: Seconds before a Region whose refresh failed is asked again.
        min_forced_interval: Least seconds between two refreshes forced by unknown model ids.
        clock: Monotonic clock (injected in tests).
        label: Names the endpoint in the fallback warning.
    """

    def __init__(
        self,
        base: ProfileCatalog,
        client_factory: Callable[[str], Any],
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        retry_after_failure: float = DEFAULT_RETRY_AFTER_FAILURE,
        min_forced_interval: float = DEFAULT_MIN_FORCED_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        label: str = "AWS",
    ) -> None:
        self.base = base
        self._factory = client_factory
        self.ttl = ttl
        self.retry_after_failure = retry_after_failure
        self.min_forced_interval = min_forced_interval
        self._clock = clock
        self.label = label
        self._lock = threading.Lock()
        self._regions: dict[str, _RegionState] = {}
        self._view: ProfileCatalog | None = None
        self._view_key: tuple[int, int] = (-1, -1)
        self._view_base: ProfileCatalog | None = None
        self._answers_version = 0
        self._warned = False
        #: Every failed refresh as ``(region, reason)``, for diagnostics.
        self.failures: list[tuple[str, str]] = []

    # -- reading ----------------------------------------------------------------------------
    def catalog(self) -> ProfileCatalog:
        """The base catalog with every live answer so far applied (rebuilt when either moves)."""
        with self._lock:
            return self._current_view()

    def refreshed_regions(self) -> frozenset[str]:
        """Source Regions whose live answer is in force (successful and not yet expired)."""
        now = self._clock()
        with self._lock:
            return frozenset(
                r
                for r, s in self._regions.items()
                if s.ok and s.expires is not None and now < s.expires
            )

    def is_fresh(self, region: str) -> bool:
        now = self._clock()
        with self._lock:
            state = self._regions.get(region)
            return state is not None and state.expires is not None and now < state.expires

    def fresh_view(self, region: str) -> ProfileCatalog | None:
        """The catalog :meth:`ensure` would return, if that needs no request now; else None."""
        now = self._clock()
        with self._lock:
            state = self._regions.get(region)
            if state is None or state.expires is None or now >= state.expires:
                return None
            return self._current_view()

    # -- refreshing ---------------------------------------------------------------------------
    def ensure(self, region: str, *, force: bool = False) -> ProfileCatalog:
        """Refresh ``region`` unless its answer is fresh; return the catalog to route with."""
        self.base.regions.check(region)
        while True:
            with self._lock:
                state = self._regions.get(region)
                if state is None:
                    state = self._regions[region] = _RegionState()
                now = self._clock()
                fresh = state.expires is not None and now < state.expires
                if fresh and not force:
                    return self._current_view()
                event = state.inflight
                if event is None:
                    event = state.inflight = threading.Event()
                    break
            event.wait()  # the refresh in flight answers for us, too
            force = False
        error: Exception | None = None
        summaries: list[Mapping[str, Any]] = []
        try:
            summaries = list(_list_profiles(self._factory(region)))
        except Exception as exc:  # unreachable, AccessDenied, throttled, no credentials …
            error = exc
        with self._lock:
            now = self._clock()
            if error is None:
                state.summaries, state.ok, state.fetched = summaries, True, now
                state.expires = now + self.ttl
                self._answers_version += 1
            else:
                state.expires = now + self.retry_after_failure
                self.failures.append((region, _describe(error)))
            state.inflight = None
            event.set()
            warn = error is not None and not self._warned
            if warn:
                self._warned = True
            view = self._current_view()
        if warn and error is not None:
            warnings.warn(_fallback_message(self.label, region, error), CatalogFallbackWarning, 3)
        return view

    def ensure_unknown(self, region: str) -> ProfileCatalog:
        """Refresh before refusing an unknown model id (rate-limited per Region)."""
        now = self._clock()
        with self._lock:
            state = self._regions.get(region)
            recent = (
                state is not None
                and state.fetched is not None
                and now - state.fetched < self.min_forced_interval
            )
        return self.ensure(region, force=not recent)

    # -- internals ----------------------------------------------------------------------------
    def _current_view(self) -> ProfileCatalog:
        key = (self.base.generation, self._answers_version)
        if self._view is None or key != self._view_key or self._view_base is not self.base:
            view = self.base.copy()
            for region, state in self._regions.items():
                if state.ok:
                    view.merge_answers(region, state.summaries)
            if self._view is not None:
                # routing caches on (catalog, generation): never reuse a generation number
                view.generation = max(view.generation, self._view.generation + 1)
            self._view, self._view_key, self._view_base = view, key, self.base
        return self._view


def _list_profiles(client: Any) -> Iterator[Mapping[str, Any]]:
    paginator = client.get_paginator("list_inference_profiles")
    for type_equals in ("SYSTEM_DEFINED", "APPLICATION"):
        for page in paginator.paginate(typeEquals=type_equals):
            yield from page.get("inferenceProfileSummaries", [])


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, Mapping) else None
    return f"{code}: {error}" if code else f"{type(error).__name__}: {error}"


def _fallback_message(label: str, region: str, error: Exception) -> str:
    reason = _describe(error)
    hint = (
        "allow bedrock:ListInferenceProfiles for this role"
        if "AccessDenied" in reason
        else "check the endpoint and network"
    )
    return (
        f"live inference-profile refresh from {label} failed in {region} ({reason}); routes "
        f"are judged by the bundled catalog until it succeeds ({hint}, or set "
        f"{OFFLINE_ENV}=1 to stay offline without this warning)"
    )


# -- one LiveCatalog per (base catalog, endpoint, identity) ----------------------------------
_REGISTRY: OrderedDict[tuple[int, Hashable], LiveCatalog] = OrderedDict()
_REGISTRY_LOCK = threading.Lock()


def endpoint_key(*parts: object) -> str:
    """A stable, secret-free key for an endpoint and identity (values are hashed)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()
    return digest[:32]


def live_catalog_for(
    base: ProfileCatalog,
    key: Hashable,
    client_factory: Callable[[str], Any],
    *,
    label: str = "AWS",
) -> LiveCatalog:
    """The shared ``LiveCatalog`` for ``base`` seen through one endpoint and identity."""
    registry_key = (id(base), key)
    with _REGISTRY_LOCK:
        live = _REGISTRY.get(registry_key)
        if live is not None and live.base is base:
            _REGISTRY.move_to_end(registry_key)
            return live
        live = LiveCatalog(base, client_factory, label=label)
        _REGISTRY[registry_key] = live
        while len(_REGISTRY) > _REGISTRY_SIZE:
            _REGISTRY.popitem(last=False)
        return live


def forget_live_catalogs() -> None:
    """Drop every shared ``LiveCatalog`` (the next call per endpoint asks AWS again).

    The live answers are keyed by endpoint URL and identity, which is right for AWS: one URL,
    one service. A process that points the same URL at a different service (a local Bedrock
    restarted on a reused port, a test suite) calls this between them.
    """
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
