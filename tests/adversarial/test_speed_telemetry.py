"""``telemetry="refuse"`` in every way LangChain can turn tracing on, after the per-call speed-up.

The model's own trace check now reads the started run's handlers (``run_manager.handlers``)
instead of configuring a second callback manager on them; with no run manager it still asks
langchain-core which handlers a run started now would get. These tests enable tracing each way
LangChain offers (environment, ``tracing_context``, ``tracing_v2_enabled``, a ``LangChainTracer``
in the config's callbacks as a list or as a manager, on the model itself, through
``with_config``, inside an inner call, under a ``@traceable`` parent) to a LangSmith client
pointed at a fake LangSmith on 127.0.0.1 (never an external host), once on a model called
directly (its own policy) and once inside ``with_residency``, in every call form, on both wires.

Each test fails when a request reaches Bedrock although the policy refuses the trace endpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import langsmith
import pytest
from langchain_core.callbacks import CallbackManager
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import tracing_v2_enabled
from langchain_core.tracers.langchain import LangChainTracer, wait_for_all_tracers
from langsmith import utils as ls_utils
from langsmith.run_helpers import traceable, tracing_context

from langchain_cris.binding import with_residency
from langchain_cris.errors import TelemetryResidencyError
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.telemetry import _reset_warnings
from tests.adversarial.conftest import FORMS, Wire, inner_call, run_form
from tests.adversarial.test_leak_classes import cris

SECRET = "personal-data-0815"
REFUSE = ResidencyPolicy.preset("eu", telemetry="refuse")


class FakeLangSmith:
    """Records what a real ``langsmith.Client`` sends (method, path); answers ``{}``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                owner.requests.append((self.command, self.path, raw.decode("utf-8", "replace")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self) -> langsmith.Client:
        return langsmith.Client(api_url=self.url, api_key="fake", auto_batch_tracing=False)

    def traced_secret(self) -> bool:
        return SECRET in json.dumps([body for _, _, body in self.requests])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smith() -> Iterator[FakeLangSmith]:
    _reset_warnings()
    server = FakeLangSmith()
    yield server
    wait_for_all_tracers()
    server.close()
    _reset_warnings()


@pytest.fixture
def env_tracing(smith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangSmith]:
    """``LANGSMITH_TRACING=true`` with ``LANGSMITH_ENDPOINT`` at the fake server."""
    import langsmith.run_trees as rt

    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.delenv("LANGCHAIN_TRACING_V2", raising=False)
    monkeypatch.setenv("LANGSMITH_ENDPOINT", smith.url)
    monkeypatch.setenv("LANGSMITH_API_KEY", "fake")
    monkeypatch.setattr(rt, "_CLIENT", None)
    ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]
    yield smith
    wait_for_all_tracers()
    monkeypatch.setattr(rt, "_CLIENT", None)
    monkeypatch.undo()
    ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]


_inner = inner_call


#: How tracing is turned on: (context around the call, config passed, model kwargs, wrap).
Setup = tuple[AbstractContextManager[Any], dict[str, Any] | None, dict[str, Any], Any]


def _setup(way: str, smith: FakeLangSmith, form: str, wire: Wire) -> Setup:
    tracer = LangChainTracer(client=smith.client())
    none: Callable[[Any], Any] = lambda r: r  # noqa: E731
    if way == "env":
        return nullcontext(), None, {}, none
    if way == "tracing_context":
        return tracing_context(enabled=True, client=smith.client()), None, {}, none
    if way == "tracing_v2_enabled":
        return tracing_v2_enabled(client=smith.client()), None, {}, none
    if way == "callbacks-list":
        return nullcontext(), {"callbacks": [tracer]}, {}, none
    if way == "callbacks-manager":
        manager = CallbackManager(handlers=[tracer], inheritable_handlers=[tracer])
        return nullcontext(), {"callbacks": manager}, {}, none
    if way == "model-callbacks":
        return nullcontext(), None, {"callbacks": [tracer]}, none
    if way == "with_config":
        return nullcontext(), None, {}, lambda r: r.with_config(callbacks=[tracer])
    if way == "inner-call":
        return nullcontext(), None, {}, lambda r: _inner(r, form, {"callbacks": [tracer]})
    if way == "traceable-parent":
        return tracing_context(enabled=True, client=smith.client()), None, {}, none
    if way == "parent-chain":  # the model is a step of a chain traced from its config
        return nullcontext(), {"callbacks": [tracer]}, {}, lambda r: RunnableLambda(_echo) | r
    raise AssertionError(way)


def _echo(x: Any) -> Any:
    return x


WAYS = [
    "env",
    "tracing_context",
    "tracing_v2_enabled",
    "callbacks-list",
    "callbacks-manager",
    "model-callbacks",
    "with_config",
    "inner-call",
    "traceable-parent",
    "parent-chain",
]


def _params() -> list[Any]:
    out = []
    for way in WAYS:
        for placement in ("direct", "bound"):
            for form in FORMS:
                out.append(pytest.param(way, placement, form))
    return out


@pytest.mark.parametrize(("way", "placement", "form"), _params())
def test_refuse_before_bedrock_whatever_turns_tracing_on(
    wire: Wire,
    smith: FakeLangSmith,
    request: pytest.FixtureRequest,
    way: str,
    placement: str,
    form: str,
) -> None:
    if way == "env":
        request.getfixturevalue("env_tracing")
    context, config, model_kwargs, wrap = _setup(way, smith, form, wire)
    if placement == "direct":
        runnable = wrap(cris(wire, residency_policy=REFUSE, **model_kwargs))
    else:
        runnable = with_residency(wrap(cris(wire, **model_kwargs)), REFUSE)
    if way == "traceable-parent":
        inner = runnable

        @traceable(name="parent")
        def parent(x: str) -> Any:
            return run_form(form, inner, x)

        def call() -> Any:
            return parent(SECRET)
    else:

        def call() -> Any:
            return run_form(form, runnable, SECRET, config=config)

    with context:
        try:
            result: Any = call()
        except TelemetryResidencyError as exc:
            result = exc
    wait_for_all_tracers()
    sent = wire.sent()
    assert sent == [], f"{way}/{placement}/{form}: sent to Bedrock under refuse: {sent}"
    assert isinstance(result, TelemetryResidencyError), result
    assert smith.url in str(result)


@pytest.mark.parametrize("form", FORMS)
def test_allowed_endpoint_is_not_refused(wire: Wire, smith: FakeLangSmith, form: str) -> None:
    """The control: the same tracer at an allowed endpoint lets the call through (and traces).

    Catches a check that refuses everything once a tracer is present (which would make the
    refusal tests above pass for the wrong reason).
    """
    policy = ResidencyPolicy.preset("eu", telemetry="refuse", telemetry_endpoints=[smith.url])
    runnable = with_residency(cris(wire), policy)
    tracer = LangChainTracer(client=smith.client())
    run_form(form, runnable, SECRET, config={"callbacks": [tracer]})
    wait_for_all_tracers()
    assert wire.sent(), "nothing was sent"
    assert smith.traced_secret(), "the allowed endpoint received no trace"


@pytest.mark.parametrize(
    "placement",
    [
        "bound-config",
        "direct",
        "bound-model",
    ],
)
def test_astream_events_with_a_tracer(wire: Wire, smith: FakeLangSmith, placement: str) -> None:
    """``astream_events`` streams the model (``_astream``, no run manager) like ``astream``."""
    import asyncio

    tracer = LangChainTracer(client=smith.client())
    config: Any = None
    if placement == "direct":
        runnable: Any = cris(wire, residency_policy=REFUSE)
        config = {"callbacks": [tracer]}
    elif placement == "bound-config":
        runnable = with_residency(cris(wire), REFUSE)
        config = {"callbacks": [tracer]}
    else:
        runnable = with_residency(cris(wire, callbacks=[tracer]), REFUSE)

    async def events() -> list[Any]:
        return [e async for e in runnable.astream_events(SECRET, config=config, version="v2")]

    with pytest.raises(TelemetryResidencyError):
        asyncio.run(events())
    wait_for_all_tracers()
    assert wire.sent() == []
