"""Where LangChain would send a call's trace, and whether that is inside the policy.

A traced chat-model run carries the prompt and the reply: LangSmith's ``LangChainTracer`` POSTs
every run's inputs and PATCHes its outputs to its client's API URL — the US SaaS
(``https://api.smith.langchain.com``) unless the client points at the EU instance
(``https://eu.api.smith.langchain.com``) or a self-hosted one. A chain whose policy keeps data
in the EU but is traced to the US moves the same personal data the policy keeps in.

What is read, the way langchain-core decides (no guess of our own):

* **LangSmith**: the callback manager langchain-core would build for the config
  (``CallbackManager.configure`` itself: ``LANGSMITH_TRACING`` / ``LANGCHAIN_TRACING_V2``,
  ``tracing_context(enabled=…)``, ``tracing_v2_enabled(...)``, a ``LangChainTracer`` in the
  callbacks); for each tracer its client's write URLs (``api_url``, or ``LANGSMITH_ENDPOINT``
  when the client was built from the environment). A client that hides both inputs and
  outputs (``hide_inputs=True``/``hide_outputs=True``, or ``LANGSMITH_HIDE_INPUTS`` /
  ``LANGSMITH_HIDE_OUTPUTS=true`` when it was built) sends no content and is compliant; a
  redaction *function* may let content through, so it counts as content (fail closed).
* **OpenTelemetry**: a ``CRISCallbackHandler`` exporting spans sends them to its tracer's
  exporters (``_endpoint``) or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_ENDPOINT``. Its own spans hold routing facts only; they count as content
  when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` (GenAI semantic-convention
  opt-in, which makes other instrumentations put prompts on spans of the same exporter).

The policy decides with ``telemetry`` (``warn`` / ``refuse`` / ``ignore``) and
``telemetry_endpoints`` (URL prefixes allowed to receive content).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from langchain_cris.errors import ResidencyWarning, TelemetryResidencyError
from langchain_cris.policy import ResidencyPolicy

__all__ = [
    "TraceDestination",
    "check_telemetry",
    "outside_destinations",
    "trace_destinations",
]

_GENAI_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_V1_TRACING_ENV = ("LANGCHAIN_TRACING", "LANGCHAIN_HANDLER")
_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()


@dataclass(frozen=True)
class TraceDestination:
    """One endpoint that would receive a call's trace."""

    kind: Literal["langsmith", "otel"]
    endpoint: str
    content: bool
    """Whether prompt/reply content would be sent (False: inputs and outputs hidden)."""

    def as_metadata(self) -> dict[str, Any]:
        return {"kind": self.kind, "endpoint": self.endpoint, "content": self.content}


def trace_destinations(
    callbacks: Any = None, *, handlers: Iterable[Any] | None = None, local_callbacks: Any = None
) -> tuple[TraceDestination, ...]:
    """Every endpoint a run started with ``callbacks`` would be traced to (sorted, unique).

    Args:
        callbacks: A config's ``callbacks``: a list of handlers, a callback manager, or None.
            langchain-core adds the tracers its environment and context enable (as it would
            for the run).
        handlers: Instead, the handlers of a run already started (its run manager's): they
            are the configured set, so nothing is added.
        local_callbacks: The runnable's own callbacks (a chat model's ``callbacks`` field),
            configured with ``callbacks`` as langchain-core does for the run.
    """
    guard_class = _configure_parts()[1]
    if handlers is None:
        handlers = _configured_handlers(callbacks, local_callbacks)
    found: set[TraceDestination] = set()
    for handler in handlers:
        if type(handler) is guard_class:  # the residency scope's own handler traces nothing
            continue
        found.update(_langsmith(handler))
        found.update(_otel(handler))
    if not found:
        return ()
    return tuple(sorted(found, key=lambda d: (d.kind, d.endpoint, d.content)))


def outside_destinations(
    policy: ResidencyPolicy, destinations: Iterable[TraceDestination]
) -> tuple[TraceDestination, ...]:
    """The destinations that would receive content at an endpoint the policy does not allow."""
    return tuple(d for d in destinations if d.content and not policy.allows_endpoint(d.endpoint))


def check_telemetry(
    policy: ResidencyPolicy, destinations: Iterable[TraceDestination], *, stacklevel: int = 3
) -> tuple[TraceDestination, ...]:
    """Apply the policy's ``telemetry`` rule; return the destinations outside it.

    Raises:
        TelemetryResidencyError: ``telemetry="refuse"`` and content would reach an endpoint
            outside ``telemetry_endpoints`` (raised before anything is sent).
    """
    outside = outside_destinations(policy, destinations)
    if not outside or policy.telemetry == "ignore":
        return outside
    endpoints = sorted({d.endpoint for d in outside})
    allowed = ", ".join(sorted(policy.telemetry_endpoints or ())) or "none"
    fix = (
        "point the LangSmith client at an allowed endpoint (LANGSMITH_ENDPOINT, e.g. the EU "
        "instance https://eu.api.smith.langchain.com for an EU workspace), hide inputs and "
        "outputs (LANGSMITH_HIDE_INPUTS=true and LANGSMITH_HIDE_OUTPUTS=true, or "
        "Client(hide_inputs=True, hide_outputs=True)), turn tracing off for this chain, or "
        "add the endpoint to the policy's telemetry_endpoints"
    )
    if policy.telemetry == "refuse":
        raise TelemetryResidencyError(
            f"policy {policy.name!r} refuses this call: it would be traced with its inputs and "
            f"outputs to {', '.join(endpoints)}, outside the allowed telemetry endpoints "
            f"({allowed}). Nothing was sent to Bedrock or to the trace endpoint. To comply, "
            f"{fix}.",
            policy_name=policy.name,
            endpoints=endpoints,
        )
    for endpoint in endpoints:
        key = (endpoint, policy.digest)
        with _WARNED_LOCK:
            if key in _WARNED:
                continue
            _WARNED.add(key)
        warnings.warn(
            f"calls under residency policy {policy.name!r} are traced with their inputs and "
            f"outputs to {endpoint}, outside the policy's telemetry endpoints ({allowed}); "
            f"to comply, {fix}. (Set telemetry='refuse' to block such calls, or 'ignore'.)",
            ResidencyWarning,
            stacklevel=stacklevel,
        )
    return outside


def _reset_warnings() -> None:
    """Forget which warnings were emitted (tests)."""
    with _WARNED_LOCK:
        _WARNED.clear()


# -- the callback manager langchain-core would build --------------------------------------------
def _configured_handlers(callbacks: Any, local_callbacks: Any = None) -> list[Any]:
    from langchain_core.callbacks.manager import CallbackManager

    if not callbacks and not local_callbacks and not _tracer_may_be_added():
        return []  # configure() could add none that traces: no manager needs building
    manager = CallbackManager.configure(
        inheritable_callbacks=callbacks, local_callbacks=local_callbacks
    )
    return list(manager.handlers)


def _tracer_may_be_added() -> bool:
    """Whether ``CallbackManager.configure()`` without callbacks may add a handler that traces.

    Without callbacks, configure adds handlers from three places only: tracing enabled (the
    environment, ``tracing_context`` / ``tracing_v2_enabled``), verbose/debug printers (they
    send nothing anywhere), and its configure hooks (a context variable's handler, or a
    handler class built when the hook's environment variable is set). ``False`` only when
    tracing is off and every hook is unset or holds the residency scope's ``ModelGuard``;
    anything else (another hook's handler may be a tracer) means configure must be asked.
    """
    context, guard_class = _configure_parts()
    if context._tracing_v2_is_enabled():
        return True
    environ = os.environ
    for name in _V1_TRACING_ENV:
        if _env_on(environ.get(name)):
            return True  # (v1 variables: configure refuses them, and must be let to say so)
    for var, _inheritable, handler_class, env_var in context._configure_hooks:
        value = var.get()
        if value is not None and type(value) is not guard_class:
            return True
        if handler_class is not None and env_var is not None and _env_on(environ.get(env_var)):
            return True
    return False


def _env_on(value: str | None) -> bool:
    """langchain-core's ``env_var_is_set`` on a value already read (one environ look-up)."""
    return value is not None and value not in ("", "0", "false", "False")


@lru_cache(maxsize=1)
def _configure_parts() -> tuple[Any, type[Any]]:
    """langchain-core's ``tracers.context`` module and the residency scope's guard class,
    imported on first use (they load langchain-core). The module's hook list and tracing
    switch are read from it on every call, as ``CallbackManager.configure`` reads them."""
    from langchain_core.tracers import context

    from langchain_cris._model_guard import ModelGuard

    return context, ModelGuard


@lru_cache(maxsize=1)
def _tracer_class() -> type[Any]:
    """``LangChainTracer``, imported on first use (importing it loads langsmith)."""
    from langchain_core.tracers.langchain import LangChainTracer

    return LangChainTracer


# -- LangSmith ------------------------------------------------------------------------------------
def _langsmith(handler: Any) -> list[TraceDestination]:
    if not isinstance(handler, _tracer_class()):
        return []
    client = handler.client
    content = not (_hides(client, "_hide_inputs") and _hides(client, "_hide_outputs"))
    urls = _write_urls(client)
    return [TraceDestination("langsmith", url, content) for url in urls]


def _hides(client: Any, attribute: str) -> bool:
    return getattr(client, attribute, False) is True


def _write_urls(client: Any) -> list[str]:
    write = getattr(client, "_write_api_urls", None)
    urls = [str(u) for u in write] if isinstance(write, Mapping) and write else []
    api_url = getattr(client, "api_url", None)
    if not urls and api_url:
        urls = [str(api_url)]
    replicas = os.environ.get("LANGSMITH_RUNS_ENDPOINTS")
    if replicas:
        urls += _replica_urls(replicas)
    return [u.rstrip("/") for u in urls] or ["(unknown LangSmith endpoint)"]


def _replica_urls(value: str) -> list[str]:
    """``LANGSMITH_RUNS_ENDPOINTS`` (JSON: ``{url: key}`` or ``[{"api_url": …}]``)."""
    import json

    try:
        data = json.loads(value)
    except ValueError:
        return ["(unparseable LANGSMITH_RUNS_ENDPOINTS)"]
    if isinstance(data, Mapping):
        return [str(u) for u in data]
    if isinstance(data, list):
        return [str(item.get("api_url")) for item in data if isinstance(item, Mapping)]
    return ["(unparseable LANGSMITH_RUNS_ENDPOINTS)"]


# -- OpenTelemetry --------------------------------------------------------------------------------
def _otel(handler: Any) -> list[TraceDestination]:
    if type(handler).__name__ != "CRISCallbackHandler":
        return []
    spans = getattr(handler, "_spans", None)
    if spans is None:
        return []
    content = os.environ.get(_GENAI_CONTENT_ENV, "").strip().lower() == "true"
    endpoints = _exporter_endpoints(getattr(spans, "_tracer", None))
    return [TraceDestination("otel", e, content) for e in endpoints]


def _exporter_endpoints(tracer: Any) -> list[str]:
    """The remote endpoints of the tracer's span exporters (in-process exporters have none)."""
    real = getattr(tracer, "_tracer", None) or tracer  # a ProxyTracer wraps the real one
    processor = getattr(real, "span_processor", None) or getattr(real, "_span_processor", None)
    if processor is None:
        try:
            from opentelemetry import trace

            processor = getattr(trace.get_tracer_provider(), "_active_span_processor", None)
        except ImportError:  # pragma: no cover - the handler needs opentelemetry for spans
            processor = None
    processors = getattr(processor, "_span_processors", None)
    processors = list(processors) if processors is not None else [processor]
    found: list[str] = []
    for proc in processors:
        exporter = getattr(proc, "span_exporter", None)
        endpoint = getattr(exporter, "_endpoint", None)
        if isinstance(endpoint, str) and endpoint:
            found.append(endpoint)
        elif exporter is not None and "otlp" in type(exporter).__module__.lower():
            found.append(_env_otlp_endpoint())
    return found


def _env_otlp_endpoint() -> str:
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return base.rstrip("/") + "/v1/traces" if base else "http://localhost:4318/v1/traces"
