"""``_core_shortcuts`` against the general langchain-core / langchain-aws path (issue #20).

Each shortcut skips work langchain-core repeats per call. These tests compute the general
path's answer beside the shortcut's and fail when they ever differ:

* ``invocation_params`` against ``ChatBedrockConverse._get_invocation_params`` (which reads
  ``self.dict()`` under langchain-core's deprecation-warning context), key order included;
  a subclass overriding the deprecated ``dict()`` falls back and keeps the override's output.
* The signed ``_generate`` / ``_agenerate`` (their bound form carries the bound signature)
  against ``inspect`` of the same function bound as an ordinary method, and the bound form
  against a bound method (call, ``__self__``/``__func__``, equality, hash, pickling,
  coroutine detection); a subclass overriding ``_generate`` without ``run_manager`` is still
  called without it.
* ``handlers_may_stream`` against langchain-core's own
  ``isinstance(h, _StreamingCallbackHandler)``, and end to end on the local Bedrock's wire:
  a streaming handler (astream_events, astream_log, a LogStreamCallbackHandler in the
  callbacks) still makes an ``invoke`` use ConverseStream, inside ``with_residency`` (its
  ModelGuard on every run) and outside, while a plain ``invoke`` uses Converse; the same calls
  with the shortcut disabled send exactly the same operations.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import pickle
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import langsmith
import pytest
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from langchain_core.tracers.event_stream import _AstreamEventsCallbackHandler
from langchain_core.tracers.langchain import LangChainTracer
from langchain_core.tracers.log_stream import LogStreamCallbackHandler
from langchain_core.utils._signature import _signature_parameters
from pytest_socket import enable_socket, socket_allow_hosts

import langchain_cris.chat_models as chat_models
from langchain_cris._core_shortcuts import (
    _SignedMethod,
    handlers_may_stream,
    invocation_params,
    sign_methods,
)
from langchain_cris._model_guard import ModelGuard
from langchain_cris.binding import with_residency
from langchain_cris.callbacks import CRISCallbackHandler
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.transport.clients import RuntimeClientPool
from tests.unit_tests.test_chat_models import HAIKU, SONNET, FakeBedrock

EU = ResidencyPolicy.preset("eu")


def general_params(llm: BaseChatModel, stop: list[str] | None, /, **kwargs: Any) -> dict[str, Any]:
    """What langchain-aws + langchain-core compute (``self.dict()`` in the warnings context)."""
    return ChatBedrockConverse._get_invocation_params(llm, stop, **kwargs)  # type: ignore[arg-type]


class Subclass(ChatBedrockCRIS):
    """A user subclass that keeps langchain-core's ``dict()``."""

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {**super()._identifying_params, "team": "search"}


class LegacyDict(ChatBedrockCRIS):
    """A user subclass that still overrides the deprecated ``dict()``."""

    def dict(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().dict(**kwargs), "legacy": True, "model": "from-dict"}


def _model(cls: type[ChatBedrockCRIS] = ChatBedrockCRIS, **kwargs: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {"model": SONNET, "region_name": "eu-central-1", **kwargs}
    params.setdefault("residency_policy", EU)
    return cls(**params)


MODELS: dict[str, Callable[[], ChatBedrockCRIS]] = {
    "plain": lambda: _model(),
    "tuned": lambda: _model(temperature=0.2, max_tokens=77, top_p=0.9, stop=["Human:"]),
    "base_model_id": lambda: _model(
        model="arn:aws:bedrock:eu-central-1:123456789012:application-inference-profile/abc",
        base_model_id=HAIKU,
        provider="anthropic",
    ),
    "additional_fields": lambda: _model(additional_model_request_fields={"top_k": 5}),
    "subclass": lambda: _model(Subclass),
}

CALLS: dict[str, tuple[list[str] | None, dict[str, Any]]] = {
    "nothing": (None, {}),
    "stop": (["\n\nHuman:", "END"], {}),
    "empty-stop": ([], {}),
    "temperature": (None, {"temperature": 0.7}),
    "model-override": (["x"], {"model": HAIKU}),
    "tools": (
        None,
        {
            "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {}}}}],
            "tool_choice": {"auto": {}},
            "ls_structured_output_format": {"schema": {"type": "object"}},
        },
    ),
    "stop-kwarg-collision": (["a"], {"max_tokens": 5, "_type": "overridden"}),
}


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("call_name", sorted(CALLS))
def test_invocation_params_equal_the_general_path(model_name: str, call_name: str) -> None:
    model = MODELS[model_name]()
    stop, kwargs = CALLS[call_name]
    general = general_params(model, stop, **kwargs)

    shortcut = invocation_params(model, stop, dict(kwargs))
    assert shortcut is not None
    assert list(shortcut.items()) == list(general.items())  # same keys, values and order
    # the model's own method (it also drops the private call kwarg) gives the same dict
    own = model._get_invocation_params(stop, **kwargs)
    assert list(own.items()) == list(general.items())


def test_invocation_params_do_not_share_state_with_the_model() -> None:
    """Mutating one call's params (the model does: ``region_name`` for tracing) leaves the
    next call's alone, as on the general path where each call builds a fresh dict."""
    model = _model(temperature=0.3)
    first = model._get_invocation_params(None, temperature=0.9)
    first["region_name"] = "mutated"
    assert model._get_invocation_params(None) == general_params(model, None)


def test_the_private_call_kwarg_never_reaches_the_params() -> None:
    model = _model()
    call_key = chat_models._CALL_KEY
    params = model._get_invocation_params(["s"], **{call_key: object(), "temperature": 0.1})
    assert call_key not in params
    assert params == general_params(model, ["s"], temperature=0.1)


def test_a_deprecated_dict_override_falls_back_and_keeps_its_output() -> None:
    model = _model(LegacyDict, temperature=0.4)
    assert invocation_params(model, None, {}) is None  # only the general path knows

    params = model._get_invocation_params(["stop"], top_k=3)
    assert params == general_params(model, ["stop"], top_k=3)
    assert list(params.items()) == list(general_params(model, ["stop"], top_k=3).items())
    assert params["legacy"] is True and params["model"] == "from-dict"  # the override's output


class OwnAsdict(ChatBedrockCRIS):
    """Overrides the non-deprecated ``asdict()``: both paths read it."""

    def asdict(self) -> dict[str, Any]:
        return {**super().asdict(), "owner": "team-a", "temperature": 0.01}


def test_an_asdict_override_is_read_by_both_paths() -> None:
    model = _model(OwnAsdict, temperature=0.5)
    shortcut = invocation_params(model, ["s"], {"top_k": 1})
    assert shortcut is not None
    assert list(shortcut.items()) == list(general_params(model, ["s"], top_k=1).items())
    assert shortcut["owner"] == "team-a" and shortcut["temperature"] == 0.01


class CompatHook(ChatBedrockCRIS):
    """Overrides langchain-core's private ``_dict_for_compat`` (what the general path reads)."""

    def _dict_for_compat(self) -> dict[str, Any]:
        return {**super()._dict_for_compat(), "compat": True}


def test_a_dict_for_compat_override_is_kept() -> None:
    model = _model(CompatHook)
    assert model._get_invocation_params(None) == general_params(model, None)


def test_the_shortcut_is_taken_only_for_langchain_cores_own_dict() -> None:
    """The fall-back test reads the class's ``dict``: langchain-core's for ours and a subclass
    that keeps it, anything else for a class overriding it."""
    assert ChatBedrockCRIS.dict is BaseChatModel.dict
    assert Subclass.dict is BaseChatModel.dict
    assert invocation_params(_model(Subclass), None, {}) is not None
    assert LegacyDict.dict is not BaseChatModel.dict


# -- signed methods -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["_generate", "_agenerate"])
def test_the_signed_signature_equals_inspecting_the_bound_method(name: str) -> None:
    descriptor = ChatBedrockCRIS.__dict__[name]
    assert isinstance(descriptor, _SignedMethod)  # the shortcut is in place
    function = descriptor.__func__
    assert getattr(ChatBedrockCRIS, name) is function  # the class still holds the function
    assert "__signature__" not in function.__dict__
    model = _model()

    signed = _signature_parameters(getattr(model, name))
    general = _signature_parameters(types.MethodType(function, model))
    assert list(signed.items()) == list(general.items())
    assert "run_manager" in signed  # langchain-core then passes the run manager
    assert inspect.signature(getattr(model, name)) == inspect.signature(
        types.MethodType(function, model)
    )


def test_the_signed_bound_form_behaves_as_a_bound_method() -> None:
    model = _model()
    bound, method = model._generate, types.MethodType(ChatBedrockCRIS._generate, model)
    assert bound.__self__ is model and bound.__func__ is ChatBedrockCRIS._generate
    assert bound.__name__ == "_generate"
    assert bound == method and method == bound and bound == model._generate
    assert hash(bound) == hash(model._generate)
    assert bound != _model()._generate  # another instance's
    assert bound != types.MethodType(ChatBedrockCRIS._agenerate, model)
    assert repr(bound).startswith("<bound method ChatBedrockCRIS._generate of ")
    assert inspect.iscoroutinefunction(model._agenerate)
    assert asyncio.iscoroutinefunction(model._agenerate)
    assert not inspect.iscoroutinefunction(model._generate)


class _Pickled:
    """A picklable class with a signed method (a chat model's clients do not pickle)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def method(self, extra: int, *, scale: int = 1) -> int:
        return (self.value + extra) * scale

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Pickled) and other.value == self.value

    __hash__ = object.__hash__


sign_methods(_Pickled, "method")


def test_a_signed_method_calls_pickles_and_inspects_as_a_method() -> None:
    obj = _Pickled(2)
    assert obj.method(3, scale=2) == 10
    assert list(inspect.signature(obj.method).parameters) == ["extra", "scale"]
    again = pickle.loads(pickle.dumps(obj.method))
    assert again(3) == 5 and again.__self__ == obj
    with pytest.raises(TypeError, match="not a plain function"):
        sign_methods(_Pickled, "__hash__")


def test_a_subclass_override_is_inspected_afresh() -> None:
    class NoRunManager(ChatBedrockCRIS):
        def _generate(  # type: ignore[override]
            self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
        ) -> ChatResult:
            return super()._generate(messages, stop, **kwargs)

    params = _signature_parameters(_model(NoRunManager)._generate)
    assert "run_manager" not in params
    assert list(params) == ["messages", "stop", "kwargs"]


def test_a_wraps_decorated_override_sees_the_function() -> None:
    """``functools.wraps(ChatBedrockCRIS._generate)`` wraps the plain function (the class
    attribute), so inspect follows ``__wrapped__`` to its parameters as without the shortcut."""
    original = ChatBedrockCRIS._generate

    @functools.wraps(original)
    def wrapper(self: Any, messages: Any, stop: Any = None, **kwargs: Any) -> Any:
        return original(self, messages, stop, **kwargs)

    assert wrapper.__wrapped__ is original  # type: ignore[attr-defined]
    assert list(_signature_parameters(wrapper)) == [
        "self",
        "messages",
        "stop",
        "run_manager",
        "kwargs",
    ]


class _RecordsGenerate(ChatBedrockCRIS):
    """Overrides ``_generate`` without ``run_manager``: langchain-core must not pass one."""

    seen: list[dict[str, Any]] = []

    def _generate(  # type: ignore[override]
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> ChatResult:
        type(self).seen.append(dict(kwargs))
        return super()._generate(messages, stop, **kwargs)


def test_langchain_core_calls_an_override_without_run_manager_as_it_declares() -> None:
    fake = FakeBedrock()
    model = _model(_RecordsGenerate, failover_backoff=0.0)
    model._cris.pool = RuntimeClientPool(fake.client)
    _RecordsGenerate.seen = []

    reply = model.invoke("hi")
    assert reply.content == "hello from eu-central-1"
    assert [op for _, op, _ in fake.sent] == ["Converse"]
    assert len(_RecordsGenerate.seen) == 1
    assert "run_manager" not in _RecordsGenerate.seen[0]


# -- handlers_may_stream ------------------------------------------------------------------
class _BothTaps:
    """Structural: both protocol members, no inheritance (the protocol matches it)."""

    def tap_output_aiter(self, run_id: UUID, output: Any) -> Any:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        return output


class _OnlyAiter:
    def tap_output_aiter(self, run_id: UUID, output: Any) -> Any:
        return output


class _OnlyIter:
    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        return output


class _NoneIter(_BothTaps):
    """A member set to ``None`` blocks the protocol; ``hasattr`` still sees it (it may
    stream: the general check is then asked and says no)."""

    tap_output_iter = None  # type: ignore[assignment]


class _DynamicTaps:
    """Members from ``__getattr__`` (Python 3.11 checks instances with ``hasattr``)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("tap_output_"):
            return lambda run_id, output: output
        raise AttributeError(name)


def _tracer() -> LangChainTracer:
    client = langsmith.Client(api_url="http://127.0.0.1:9", api_key="x", auto_batch_tracing=False)
    return LangChainTracer(client=client)


def _event_handler() -> _AstreamEventsCallbackHandler:
    return _AstreamEventsCallbackHandler()


HANDLERS: dict[str, Callable[[], list[Any]]] = {
    "empty": lambda: [],
    "model-guard": lambda: [ModelGuard(allow_non_bedrock=False, where="test")],
    "cris-handler": lambda: [CRISCallbackHandler()],
    "langsmith-tracer": lambda: [_tracer()],
    "astream-events": lambda: [_event_handler()],
    "astream-log": lambda: [LogStreamCallbackHandler(auto_close=False)],
    "structural-both": lambda: [_BothTaps()],
    "structural-aiter-only": lambda: [_OnlyAiter()],
    "structural-iter-only": lambda: [_OnlyIter()],
    "none-member": lambda: [_NoneIter()],
    "dynamic": lambda: [_DynamicTaps()],
    "guard-then-events": lambda: [
        ModelGuard(allow_non_bedrock=False, where="test"),
        CRISCallbackHandler(),
        _event_handler(),
    ],
    "guard-tracer-cris": lambda: [
        ModelGuard(allow_non_bedrock=True, where="test"),
        _tracer(),
        CRISCallbackHandler(),
    ],
}

#: What langchain-core's protocol check answers (so a change in it shows up here too).
STREAMS = {"astream-events", "astream-log", "structural-both", "dynamic", "guard-then-events"}
if sys.version_info >= (3, 12):  # typing reads members with getattr_static: __getattr__'s miss
    STREAMS.discard("dynamic")


def _general_streams(handlers: list[Any]) -> bool:
    return any(isinstance(h, _StreamingCallbackHandler) for h in handlers)


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_handlers_may_stream_never_misses_a_streaming_handler(name: str) -> None:
    handlers = HANDLERS[name]()
    general = _general_streams(handlers)
    assert general is (name in STREAMS)
    if general:  # the shortcut may only answer False where the general check does
        assert handlers_may_stream(handlers) is True
    if not handlers_may_stream(handlers):
        assert general is False


class _RunManager:
    """A unit seam: the only attribute ``_should_stream`` reads of a run manager."""

    def __init__(self, handlers: list[Any]) -> None:
        self.handlers = handlers


@pytest.mark.parametrize("name", sorted(HANDLERS))
@pytest.mark.parametrize("async_api", [False, True])
@pytest.mark.parametrize("model_kwargs", [{}, {"disable_streaming": "tool_calling"}])
def test_should_stream_equals_langchain_cores_answer(
    name: str, async_api: bool, model_kwargs: dict[str, Any]
) -> None:
    model = _model(**model_kwargs)
    rm: Any = _RunManager(HANDLERS[name]())
    for call_kwargs in ({}, {"tools": [{"toolSpec": {"name": "t"}}]}, {"stream": True}):
        ours = model._should_stream(async_api=async_api, run_manager=rm, **call_kwargs)
        general = BaseChatModel._should_stream(
            model, async_api=async_api, run_manager=rm, **call_kwargs
        )
        assert ours is general, (name, call_kwargs)


def test_should_stream_with_streaming_true_streams_whatever_the_handlers() -> None:
    model = _model(streaming=True)
    rm: Any = _RunManager([ModelGuard(allow_non_bedrock=False, where="test")])
    assert model._should_stream(async_api=False, run_manager=rm) is True
    assert BaseChatModel._should_stream(model, async_api=False, run_manager=rm) is True


class _UnsetSlot:
    """Declares ``tap_output_iter`` as a slot it never fills (and the other member)."""

    __slots__ = ("tap_output_iter",)

    def tap_output_aiter(self, run_id: UUID, output: Any) -> Any:
        return output


class _RaisingProperty:
    """``tap_output_iter`` is a property that raises ``AttributeError`` on the instance."""

    @property
    def tap_output_iter(self) -> Any:
        raise AttributeError("tap_output_iter is not available")

    def tap_output_aiter(self, run_id: UUID, output: Any) -> Any:
        return output


@pytest.mark.parametrize("cls", [_UnsetSlot, _RaisingProperty], ids=["slot", "property"])
def test_class_level_members_the_instance_cannot_read(cls: type) -> None:
    handlers = [cls()]
    assert _general_streams(handlers) is True
    model, rm = _model(), _RunManager(handlers)
    general = BaseChatModel._should_stream(model, async_api=False, run_manager=rm)  # type: ignore[arg-type]
    assert general is True
    assert model._should_stream(async_api=False, run_manager=rm) is general  # type: ignore[arg-type]


# -- end to end on the local Bedrock's wire -----------------------------------------------
@pytest.fixture
def bedrock() -> Iterator[LocalBedrock]:
    """The emulator on 127.0.0.1; connections to any other host stay blocked."""
    enable_socket()  # the unit conftest blocks every socket; allow loopback only
    socket_allow_hosts(["127.0.0.1", "::1"], allow_unix_socket=True)
    with LocalBedrock(seed=0) as local:
        yield local


def _operations(bedrock: LocalBedrock) -> list[str]:
    return [str(r.operation) for r in bedrock.wire_log.records(service="bedrock-runtime")]


def _llm(bedrock: LocalBedrock, policy: ResidencyPolicy | None) -> ChatBedrockCRIS:
    params: dict[str, Any] = {
        "model": SONNET,
        "region_name": "eu-central-1",
        "endpoint_url": bedrock.endpoint_url,
        "failover_backoff": 0.0,
    }
    if policy is not None:
        params["residency_policy"] = policy
    return ChatBedrockCRIS(**params)


def _calls(llm: ChatBedrockCRIS, bound: bool) -> list[tuple[str, Callable[[], Any]]]:
    """Each call form, inside ``with_residency`` (bound) or on the model's own policy."""

    def wrap(runnable: Any) -> Any:
        return with_residency(runnable, EU) if bound else runnable

    def invoke_step(text: str, config: RunnableConfig) -> Any:
        return llm.invoke([HumanMessage(text)], config)

    async def ainvoke_step(text: str, config: RunnableConfig) -> Any:
        return await llm.ainvoke([HumanMessage(text)], config)

    sync_step = wrap(RunnableLambda(invoke_step))
    async_step = wrap(RunnableLambda(invoke_step, afunc=ainvoke_step))

    async def events() -> list[Any]:
        return [e async for e in async_step.astream_events("hi", version="v2")]

    async def log() -> list[Any]:
        return [p async for p in async_step.astream_log("hi")]

    def log_handler() -> Any:
        return sync_step.invoke("hi", {"callbacks": [LogStreamCallbackHandler(auto_close=False)]})

    return [
        ("invoke", lambda: sync_step.invoke("hi")),
        ("ainvoke", lambda: asyncio.run(async_step.ainvoke("hi"))),
        ("astream_events", lambda: asyncio.run(events())),
        ("astream_log", lambda: asyncio.run(log())),
        ("invoke+log-handler", log_handler),
    ]


#: The operation each form must send (a streaming handler turns an invoke into a stream).
EXPECTED = {
    "invoke": ["Converse"],
    "ainvoke": ["Converse"],
    "astream_events": ["ConverseStream"],
    "astream_log": ["ConverseStream"],
    "invoke+log-handler": ["ConverseStream"],
}


@pytest.mark.filterwarnings("ignore:astream_log is deprecated")
@pytest.mark.parametrize("bound", [True, False], ids=["with_residency", "model-policy"])
def test_streaming_handlers_still_stream_on_the_wire(
    bedrock: LocalBedrock, bound: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = _llm(bedrock, None if bound else EU)

    def sent() -> dict[str, list[str]]:
        operations: dict[str, list[str]] = {}
        for form, call in _calls(llm, bound):
            bedrock.reset()
            call()
            operations[form] = _operations(bedrock)
        return operations

    seen = sent()
    assert seen == EXPECTED

    # the general path (every handler asked langchain-core's protocol check) sends the same
    monkeypatch.setattr(chat_models, "handlers_may_stream", lambda handlers: True)
    assert sent() == seen


def test_the_guard_is_on_the_run_the_shortcut_judges(
    bedrock: LocalBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside ``with_residency`` (directly around the model or in a chain) the model's run
    carries the ModelGuard, and it alone is what the shortcut sees on a plain invoke (so the
    test above exercises the shortcut)."""
    llm = _llm(bedrock, None)
    judged: list[list[str]] = []
    real = handlers_may_stream

    def spy(handlers: Any) -> bool:
        handlers = list(handlers)
        judged.append([type(h).__name__ for h in handlers])
        return real(handlers)

    monkeypatch.setattr(chat_models, "handlers_may_stream", spy)
    with_residency(RunnableLambda(lambda x: x) | llm, EU).invoke("hi")
    assert _operations(bedrock) == ["Converse"]
    assert judged == [["ModelGuard"]]
    judged.clear()
    with_residency(llm, EU).invoke("hi")
    assert judged == [["ModelGuard"]]
