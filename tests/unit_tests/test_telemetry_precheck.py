"""The trace gate's pre-check against the full ``CallbackManager.configure`` path (issue #20).

``telemetry._configured_handlers`` skips ``CallbackManager.configure`` when no callbacks are
given and ``_tracer_may_be_added()`` is False. Each test computes the destinations both ways —
the shortcut, and the reference with ``_tracer_may_be_added`` forced True so langchain-core
configures the run's handlers — in every way LangChain turns tracing or configure hooks on:
nothing set, ``LANGSMITH_TRACING=true``, ``tracing_v2_enabled``, ``tracing_context``,
langsmith's global ``configure(enabled=True)``, mid-trace under a parent run, a residency
scope's ``ModelGuard`` hook, a foreign hook holding a tracer or a handler class switched on by
its environment variable, debug/verbose printers. And ``_tracer_may_be_added()`` is False only
where configure adds nothing that traces.

Every LangSmith client points at 127.0.0.1 (nothing runs traced, nothing is posted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any

import langsmith
import langsmith.run_trees as ls_run_trees
import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManager, StdOutCallbackHandler
from langchain_core.globals import set_debug, set_verbose
from langchain_core.tracers import context as tracer_context
from langchain_core.tracers.context import register_configure_hook, tracing_v2_enabled
from langchain_core.tracers.langchain import LangChainTracer
from langchain_core.tracers.stdout import ConsoleCallbackHandler
from langsmith import utils as ls_utils
from langsmith._internal import _context as ls_context
from langsmith.run_helpers import tracing_context

import langchain_cris.telemetry as telemetry
from langchain_cris._model_guard import ModelGuard, model_guard_var
from langchain_cris.telemetry import TraceDestination, trace_destinations

LOCAL_SMITH = "http://127.0.0.1:9"
OTHER_SMITH = "http://127.0.0.1:10"


def _client(url: str = LOCAL_SMITH, **kwargs: Any) -> langsmith.Client:
    return langsmith.Client(api_url=url, api_key="x", auto_batch_tracing=False, **kwargs)


def _general(monkeypatch: pytest.MonkeyPatch, callbacks: Any = None) -> tuple[Any, ...]:
    """The destinations langchain-core's full configure gives (the pre-check forced off)."""
    with monkeypatch.context() as m:
        m.setattr(telemetry, "_tracer_may_be_added", lambda: True)
        return trace_destinations(callbacks)


def _configured(callbacks: Any = None) -> list[Any]:
    return list(CallbackManager.configure(inheritable_callbacks=callbacks).handlers)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Own copy of langchain-core's hook list; langsmith's env cache and client forgotten."""
    monkeypatch.setattr(tracer_context, "_configure_hooks", list(tracer_context._configure_hooks))
    monkeypatch.setattr(ls_run_trees, "_CLIENT", None)
    ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]
    yield
    ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]


@contextmanager
def _env(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], unset: tuple[str, ...] = ()
) -> Iterator[None]:
    with monkeypatch.context() as m:
        for key in unset:
            m.delenv(key, raising=False)
        for key, value in values.items():
            m.setenv(key, value)
        ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]
        try:
            yield
        finally:
            ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]


@contextmanager
def _env_tracing(monkeypatch: pytest.MonkeyPatch, flag: str, endpoint: str) -> Iterator[None]:
    """Tracing on from the environment (``flag=true``, the other flag unset), the LangSmith
    client built from the environment (``LANGSMITH_ENDPOINT``) but without its background
    batch thread, so nothing is ever posted."""
    other = {"LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2"} - {flag}
    values = {flag: "true", "LANGSMITH_ENDPOINT": endpoint, "LANGSMITH_API_KEY": "x"}
    with _env(monkeypatch, values, tuple(other)), monkeypatch.context() as m:
        m.setattr(ls_run_trees, "_CLIENT", langsmith.Client(auto_batch_tracing=False))
        yield


@contextmanager
def _var(var: Any, value: Any) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


@contextmanager
def _flag(setter: Callable[[bool], None]) -> Iterator[None]:
    setter(True)
    try:
        yield
    finally:
        setter(False)


def _guard() -> ModelGuard:
    return ModelGuard(allow_non_bedrock=False, where="with_residency(test)")


class _EnvTracer(LangChainTracer):
    """A hook's handler class, built by configure when the hook's env var is set."""

    def __init__(self) -> None:
        super().__init__(client=_client(OTHER_SMITH))


class _GuardLookalike(ModelGuard):
    """A subclass of the guard: not the scope's own handler, so configure must be asked."""


def _foreign_hook(value: Any) -> AbstractContextManager[None]:
    from contextvars import ContextVar

    var: ContextVar[Any] = ContextVar("foreign_hook", default=None)
    register_configure_hook(var, inheritable=True)
    return _var(var, value)


def _env_hook(monkeypatch: pytest.MonkeyPatch, on: bool) -> AbstractContextManager[None]:
    from contextvars import ContextVar

    var: ContextVar[Any] = ContextVar("env_hook", default=None)
    register_configure_hook(var, inheritable=True, handle_class=_EnvTracer, env_var="CRIS_HOOK")
    return _env(monkeypatch, {"CRIS_HOOK": "true" if on else "false"})


def _parent_run() -> AbstractContextManager[None]:
    parent = ls_run_trees.RunTree(name="parent", client=_client(OTHER_SMITH))
    return tracing_context(parent=parent)


@contextmanager
def _stack(*managers: AbstractContextManager[Any]) -> Iterator[None]:
    with ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        yield


@contextmanager
def _global_enabled(monkeypatch: pytest.MonkeyPatch, client: langsmith.Client) -> Iterator[None]:
    """langsmith's process-wide ``configure(enabled=True, client=…)`` fallback."""
    with monkeypatch.context() as m:
        m.setattr(ls_context, "_GLOBAL_TRACING_ENABLED", True)
        m.setattr(ls_run_trees, "_CLIENT", client)
        yield


#: name -> (context around the check, whether a tracer may be added, destinations expected).
Scenario = tuple[Callable[[pytest.MonkeyPatch], AbstractContextManager[Any]], bool, set[str]]

SCENARIOS: dict[str, Scenario] = {
    "nothing": (lambda m: nullcontext(), False, set()),
    "env-tracing-false": (lambda m: _env(m, {"LANGSMITH_TRACING": "false"}), False, set()),
    "env-tracing": (
        lambda m: _env_tracing(m, "LANGSMITH_TRACING", LOCAL_SMITH),
        True,
        {LOCAL_SMITH},
    ),
    "env-langchain-tracing-v2": (
        lambda m: _env_tracing(m, "LANGCHAIN_TRACING_V2", OTHER_SMITH),
        True,
        {OTHER_SMITH},
    ),
    "tracing_v2_enabled": (lambda m: tracing_v2_enabled(client=_client()), True, {LOCAL_SMITH}),
    "tracing_context-enabled": (
        lambda m: tracing_context(enabled=True, client=_client(OTHER_SMITH)),
        True,
        {OTHER_SMITH},
    ),
    "tracing_context-disabled-over-env": (
        lambda m: _stack(
            _env_tracing(m, "LANGSMITH_TRACING", LOCAL_SMITH),
            tracing_context(enabled=False),
        ),
        False,
        set(),
    ),
    "langsmith-global-enabled": (
        lambda m: _global_enabled(m, _client(OTHER_SMITH)),
        True,
        {OTHER_SMITH},
    ),
    "mid-trace-parent": (lambda m: _parent_run(), True, {OTHER_SMITH}),
    "residency-scope-guard": (lambda m: _var(model_guard_var, _guard()), False, set()),
    "guard-and-tracing_v2_enabled": (
        lambda m: _stack(_var(model_guard_var, _guard()), tracing_v2_enabled(client=_client())),
        True,
        {LOCAL_SMITH},
    ),
    "guard-subclass-in-scope": (
        lambda m: _var(model_guard_var, _GuardLookalike(allow_non_bedrock=True, where="x")),
        True,
        set(),
    ),
    "foreign-hook-tracer": (
        lambda m: _foreign_hook(LangChainTracer(client=_client(OTHER_SMITH))),
        True,
        {OTHER_SMITH},
    ),
    "foreign-hook-other-handler": (lambda m: _foreign_hook(StdOutCallbackHandler()), True, set()),
    "foreign-hook-unset": (lambda m: _foreign_hook(None), False, set()),
    "env-hook-on": (lambda m: _env_hook(m, on=True), True, {OTHER_SMITH}),
    "env-hook-off": (lambda m: _env_hook(m, on=False), False, set()),
    "debug": (lambda m: _flag(set_debug), False, set()),
    "verbose": (lambda m: _flag(set_verbose), False, set()),
}


def _endpoints(destinations: tuple[TraceDestination, ...]) -> set[str]:
    return {d.endpoint for d in destinations}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_trace_destinations_equal_the_full_configure_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enter, _may_add, expected = SCENARIOS[name]
    with enter(monkeypatch):
        shortcut = trace_destinations(None)
        general = _general(monkeypatch)
        empty_list = trace_destinations([])
    assert shortcut == general
    assert empty_list == general
    assert _endpoints(general) == expected  # the scenario really did (not) turn tracing on
    assert all(d.kind == "langsmith" and d.content for d in general)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_tracer_may_be_added_is_false_only_where_configure_adds_nothing_that_traces(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enter, may_add, _expected = SCENARIOS[name]
    with enter(monkeypatch):
        answer = telemetry._tracer_may_be_added()
        handlers = _configured()
    assert answer is may_add
    if not answer:
        harmless = (ModelGuard, ConsoleCallbackHandler, StdOutCallbackHandler)
        assert all(type(h) in harmless for h in handlers), handlers  # printers and the guard
        assert not any(isinstance(h, LangChainTracer) for h in handlers)


@pytest.mark.parametrize("name", ["nothing", "residency-scope-guard", "env-tracing"])
def test_given_callbacks_are_always_configured(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With callbacks the pre-check is never consulted: a tracer in them is found."""
    enter = SCENARIOS[name][0]
    tracer = LangChainTracer(client=_client(OTHER_SMITH))
    manager = CallbackManager(handlers=[tracer], inheritable_handlers=[tracer])
    with enter(monkeypatch):
        monkeypatch.setattr(telemetry, "_tracer_may_be_added", lambda: False)
        as_list = trace_destinations([tracer])
        as_manager = trace_destinations(manager)
        local = trace_destinations(None, local_callbacks=[tracer])
        empty_manager = trace_destinations(CallbackManager(handlers=[]))
        general_empty_manager = _general(monkeypatch, CallbackManager(handlers=[]))
    assert OTHER_SMITH in _endpoints(as_list)
    assert as_list == as_manager == local
    assert empty_manager == general_empty_manager


def test_a_hidden_client_is_judged_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    with tracing_v2_enabled(client=_client(hide_inputs=True, hide_outputs=True)):
        shortcut = trace_destinations(None)
        general = _general(monkeypatch)
    assert shortcut == general == (TraceDestination("langsmith", LOCAL_SMITH, False),)


def test_the_scope_guard_alone_is_skipped_but_a_second_hook_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A guard in its own hook is not a tracer, but it does not hide another hook's tracer."""
    with _var(model_guard_var, _guard()):
        assert telemetry._tracer_may_be_added() is False
        with _foreign_hook(LangChainTracer(client=_client(OTHER_SMITH))):
            assert telemetry._tracer_may_be_added() is True
            assert _endpoints(trace_destinations(None)) == {OTHER_SMITH}
            assert trace_destinations(None) == _general(monkeypatch)


@pytest.mark.parametrize("var", ["LANGCHAIN_TRACING", "LANGCHAIN_HANDLER"])
def test_v1_tracing_env_raises_as_configure_does(var: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _env(monkeypatch, {var: "true"}):
        with pytest.raises(RuntimeError, match="LangChainTracerV1"):
            _general(monkeypatch)
        with pytest.raises(RuntimeError, match="LangChainTracerV1"):
            trace_destinations(None)


def test_v1_tracing_env_still_fails_the_run_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From the outside the v1 variables were never a hole either: langchain-core's own configure
    refuses the run before the model sends a request."""
    from langchain_cris.binding import with_residency
    from langchain_cris.chat_models import ChatBedrockCRIS
    from langchain_cris.transport.clients import RuntimeClientPool
    from tests.unit_tests.test_chat_models import SONNET, FakeBedrock

    fake = FakeBedrock()
    llm = ChatBedrockCRIS(model_id=SONNET, region_name="eu-central-1", failover_backoff=0.0)
    llm._cris.pool = RuntimeClientPool(fake.client)
    with (
        _env(monkeypatch, {"LANGCHAIN_TRACING": "true"}),
        pytest.raises(RuntimeError, match="LangChainTracerV1"),
    ):
        with_residency(llm, "eu").invoke("hi")
    assert fake.sent == []
    with_residency(llm, "eu").invoke("hi")  # and it sends once the variable is gone
    assert [op for _, op, _ in fake.sent] == ["Converse"]


class _Recorder(BaseCallbackHandler):
    """A non-tracing handler: configure is asked for it, nothing is found."""


def test_a_foreign_hook_with_a_plain_handler_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with _foreign_hook(_Recorder()):
        assert telemetry._tracer_may_be_added() is True
        assert trace_destinations(None) == _general(monkeypatch) == ()


@pytest.mark.parametrize(
    "value", [None, "", "0", "false", "False", "FALSE", "1", "true", "no", " "]
)
def test_env_on_reads_a_value_as_langchain_core_does(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_core.utils.env import env_var_is_set

    from langchain_cris.telemetry import _env_on

    if value is None:
        monkeypatch.delenv("LANGCHAIN_CRIS_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("LANGCHAIN_CRIS_TEST_FLAG", value)
    assert _env_on(value) is env_var_is_set("LANGCHAIN_CRIS_TEST_FLAG")
