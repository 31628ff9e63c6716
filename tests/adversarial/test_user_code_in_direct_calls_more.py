"""More ways user code can run inside a direct ``with_residency(ChatBedrockCRIS)`` call.

Written by an adversarial review of a ``_guard_free`` shortcut (issue #20) that left the
``ModelGuard`` off direct calls it judged to run only library code. Each attack places a user
object somewhere such a check does not look (values nested in accepted inputs, config contents
other than ``callbacks``, model fields mutated after construction, the library's own botocore
clients, configure hooks, instance attributes) and that object starts a model no policy can
route. Against the shortcut 47 cases per wire got through; it was withdrawn, and with the guard
on every run they are refused. The secure outcome: refused, never generated, and what reached
the wire stays inside the policy. An attack whose user code is not reached on a path (e.g. a
sync client's hook under native async) is skipped there, not passed.

``config-runtime-context-property`` is a strict xfail: ``_runtime_spec`` reads the user's
``runtime.context`` (an agent's tenant policy) while the binding enters its scope, before the
guard is published, so a property there runs unguarded, as code before the call would.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import botocore.handlers
import pytest
from langchain_core.callbacks import CallbackManager
from langchain_core.messages import HumanMessage
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue
from langchain_core.tracers.context import register_configure_hook

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from tests.adversarial.conftest import EU, Wire, assert_inside
from tests.adversarial.test_leak_classes import cris
from tests.adversarial.test_user_code_in_direct_calls import (
    OUTCOMES,
    Foreign,
    StartsForeign,
    _clean,  # noqa: F401  (autouse fixture: resets the records and the global cache)
    start_foreign,
)

REACHED: list[str] = []


def hit() -> None:
    REACHED.append("user code")
    start_foreign()


@pytest.fixture(autouse=True)
def _reset_reached() -> Iterator[None]:
    REACHED.clear()
    yield


@pytest.fixture
def guard() -> str:
    """The package as shipped (the review ran each case also with the shortcut forced off)."""
    return "shipped"


# -- user objects -------------------------------------------------------------------------
class Role(str):
    """A role / provider name whose comparison is user code."""

    def __eq__(self, other: object) -> bool:
        hit()
        return str.__eq__(self, other)

    __hash__ = str.__hash__


class Text(str):
    """Text whose truth, length and whitespace test are user code."""

    def __bool__(self) -> bool:
        hit()
        return True

    def __len__(self) -> int:
        hit()
        return str.__len__(self)

    def isspace(self) -> bool:
        hit()
        return False


class Header(str):
    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        hit()
        return str.encode(self, *args, **kwargs)

    def __len__(self) -> int:
        hit()
        return str.__len__(self)


class CopyDict(dict):  # type: ignore[type-arg]
    """A mapping whose copy / iteration is user code."""

    def copy(self) -> dict[Any, Any]:
        hit()
        return dict(self)

    def __iter__(self) -> Iterator[Any]:
        hit()
        return dict.__iter__(self)

    def keys(self) -> Any:
        hit()
        return dict.keys(self)

    def items(self) -> Any:
        hit()
        return dict.items(self)


class CopyList(list):  # type: ignore[type-arg]
    def copy(self) -> list[Any]:
        hit()
        return list(self)

    def __iter__(self) -> Iterator[Any]:
        hit()
        return list.__iter__(self)


class FalsyList(list):  # type: ignore[type-arg]
    """Holds handlers, yet reads as empty to a truth test."""

    def __bool__(self) -> bool:
        return False


class FalsyManager(CallbackManager):
    def __bool__(self) -> bool:
        return False


class Count(int):
    def __lt__(self, other: object) -> bool:
        hit()
        return int.__lt__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        hit()
        return int.__gt__(self, other)  # type: ignore[operator]

    def __bool__(self) -> bool:
        hit()
        return True


class Secret:
    def get_secret_value(self) -> str:
        hit()
        return "AKIAEXAMPLE"


class Runtime:
    @property
    def context(self) -> Any:
        hit()
        return None


def core_message_class() -> type[HumanMessage]:
    """A HumanMessage subclass that claims to live in langchain-core's messages package."""

    class Posing(HumanMessage):
        def __getattribute__(self, name: str) -> Any:
            if name == "content":
                hit()
            return super().__getattribute__(name)

    Posing.__module__ = "langchain_core.messages.human"
    return Posing


# -- attacks ------------------------------------------------------------------------------
Attack = Callable[[Wire], tuple[Any, Any, dict[str, Any]]]


def _direct(value: Any, **call: Any) -> Attack:
    return lambda w: (with_residency(cris(w), EU), value, call)


def _mutated_message(w: Wire) -> tuple[Any, Any, dict[str, Any]]:
    message = HumanMessage("hi")
    message.content = Text("hi")  # no validation on assignment
    return with_residency(cris(w), EU), [message], {}


def _mutated_prompt_value(w: Wire) -> tuple[Any, Any, dict[str, Any]]:
    message = HumanMessage("hi")
    message.content = [{"type": "text", "text": Text("hi")}]
    return with_residency(cris(w), EU), ChatPromptValue(messages=[message]), {}


def _mutated_string_prompt(w: Wire) -> tuple[Any, Any, dict[str, Any]]:
    value = StringPromptValue(text="hi")
    value.text = Text("hi")
    return with_residency(cris(w), EU), value, {}


def _model_field(**fields: Any) -> Attack:
    def make(w: Wire) -> tuple[Any, Any, dict[str, Any]]:
        model = cris(w)
        for name, value in fields.items():
            setattr(model, name, value)
        return with_residency(model, EU), "hi", {}

    return make


def _instance_override(w: Wire) -> tuple[Any, Any, dict[str, Any]]:
    model = cris(w)

    def _generate(*args: Any, **kwargs: Any) -> Any:
        hit()
        return ChatBedrockCRIS._generate(model, *args, **kwargs)

    async def _agenerate(*args: Any, **kwargs: Any) -> Any:
        hit()
        return await ChatBedrockCRIS._agenerate(model, *args, **kwargs)

    object.__setattr__(model, "_generate", _generate)
    object.__setattr__(model, "_agenerate", _agenerate)
    return with_residency(model, EU), "hi", {}


def _client_event_hook(w: Wire) -> tuple[Any, Any, dict[str, Any]]:
    model = cris(w)
    client = model.runtime_client("eu-central-1")  # the library's own client, not a user one
    client.meta.events.register("before-send.bedrock-runtime", lambda **_: hit())
    return with_residency(model, EU), "hi", {}


ATTACKS: dict[str, Attack] = {
    # input: accepted containers holding user objects
    "core-module-posing-message": lambda w: (
        with_residency(cris(w), EU),
        [core_message_class()("hi")],
        {},
    ),
    "tuple-role-str-subclass": _direct([(Role("human"), "hi")]),
    "dict-role-str-subclass": _direct([{"role": Role("user"), "content": "hi"}]),
    "dict-message-text-block-str-subclass": _direct(
        [{"role": "user", "content": [{"type": "text", "text": Text("hi")}]}]
    ),
    "core-message-text-block-str-subclass": _direct(
        [HumanMessage(content=[{"type": "text", "text": Text("hi")}])]
    ),
    "core-message-bedrock-format-block": _direct([HumanMessage(content=[{"text": Text("hi")}])]),
    "core-message-mutated-content": _mutated_message,
    "prompt-value-mutated-message": _mutated_prompt_value,
    "string-prompt-value-mutated-text": _mutated_string_prompt,
    # config contents other than callbacks
    "config-dict-subclass": _direct("hi", config=CopyDict()),
    "config-metadata-dict-subclass": _direct("hi", config={"metadata": CopyDict(a=1)}),
    "config-tags-list-subclass": _direct("hi", config={"tags": CopyList(["t"])}),
    "config-configurable-dict-subclass": _direct("hi", config={"configurable": CopyDict(a=1)}),
    "config-run_name-str-subclass": _direct("hi", config={"run_name": Role("name")}),
    "config-runtime-context-property": _direct(
        "hi", config={"configurable": {"__pregel_runtime": Runtime()}}
    ),
    "config-falsy-callbacks-list": _direct(
        "hi", config={"callbacks": FalsyList([StartsForeign()])}
    ),
    "config-falsy-callback-manager": _direct(
        "hi", config={"callbacks": FalsyManager(handlers=[StartsForeign()])}
    ),
    # model fields set after construction (pydantic does not validate assignment)
    "model-provider-str-subclass": _model_field(provider=Role("anthropic")),
    "model-max_tokens-int-subclass": _model_field(max_tokens=Count(100)),
    "model-tags-list-subclass": _model_field(tags=CopyList(["t"])),
    "model-metadata-dict-subclass": _model_field(metadata=CopyDict(a=1)),
    "model-aws_access_key_id-object": _model_field(aws_access_key_id=Secret()),
    "model-default_headers-value": _model_field(default_headers={"x-evil": Header("v")}),
    "model-additional_model_request_fields": lambda w: (
        with_residency(cris(w, additional_model_request_fields={"k": CopyDict(a=1)}), EU),
        "hi",
        {},
    ),
    "model-custom_get_token_ids": lambda w: (
        with_residency(cris(w, custom_get_token_ids=lambda t: (hit(), [1])[1]), EU),
        "hi",
        {},
    ),
    # code on the model instance / its own clients
    "instance-attribute-override": _instance_override,
    "library-client-event-hook": _client_event_hook,
}


@contextmanager
def _builtin_handler() -> Iterator[None]:
    entry = ("before-send.bedrock-runtime", lambda **_: hit())
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)


_HOOK: ContextVar[Any] = ContextVar("adv_guard_free_hook", default=None)
register_configure_hook(_HOOK, True)
_ENV_HOOK: ContextVar[Any] = ContextVar("adv_guard_free_env_hook", default=None)


class EnvHandler(StartsForeign):
    pass


register_configure_hook(_ENV_HOOK, True, EnvHandler, "ADV_GUARD_FREE_ENV_HOOK")


@contextmanager
def _configure_hook() -> Iterator[None]:
    token = _HOOK.set(StartsForeign())
    try:
        yield
    finally:
        _HOOK.reset(token)


@contextmanager
def _env_configure_hook() -> Iterator[None]:
    os.environ["ADV_GUARD_FREE_ENV_HOOK"] = "1"
    try:
        yield
    finally:
        del os.environ["ADV_GUARD_FREE_ENV_HOOK"]


#: Attacks that need a process-wide setting around the call (the model is built inside it).
AROUND: dict[str, Callable[[], Any]] = {
    "botocore-builtin-handlers": _builtin_handler,
    "configure-hook-contextvar": _configure_hook,
    "configure-hook-env-var": _env_configure_hook,
}


def _run(runnable: Any, value: Any, call: dict[str, Any], form: str) -> None:
    try:
        if form == "invoke":
            runnable.invoke(value, **call)
        else:
            asyncio.run(runnable.ainvoke(value, **call))
    except Exception as exc:  # the routed call failing is fine; the foreign model is the point
        REACHED.append(f"call failed: {type(exc).__name__}")


def _judge(wire: Wire, before: int) -> None:
    ran = [o for o in OUTCOMES if o in ("ran", "refused")]
    if not ran:
        pytest.skip(f"user code not reached on this path ({OUTCOMES or REACHED})")
    assert set(ran) == {"refused"}, OUTCOMES
    assert Foreign.generated == []
    assert_inside(wire, EU, before)


_BEFORE_THE_SCOPE = pytest.mark.xfail(
    strict=True,
    reason="read while the binding enters its scope, before the guard is published",
)


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(name, marks=_BEFORE_THE_SCOPE)
        if name == "config-runtime-context-property"
        else name
        for name in ATTACKS
    ],
)
@pytest.mark.parametrize("form", ["invoke", "ainvoke"])
def test_more_user_code_inside_the_call_cannot_start_an_unroutable_model(
    wire: Wire, guard: str, attack: str, form: str
) -> None:
    runnable, value, call = ATTACKS[attack](wire)
    before = len(wire.sent())
    _run(runnable, value, call, form)
    _judge(wire, before)


@pytest.mark.parametrize("form", ["invoke", "ainvoke"])
@pytest.mark.parametrize("attack", list(AROUND))
def test_process_wide_user_code_cannot_start_an_unroutable_model(
    wire: Wire, guard: str, attack: str, form: str
) -> None:
    with AROUND[attack]():
        runnable = with_residency(cris(wire), EU)
        before = len(wire.sent())
        _run(runnable, "hi", {}, form)
    _judge(wire, before)


#: Wrappers around the binding: each still passes the caller's callbacks down.
WRAPPED: dict[str, Callable[[Any], Any]] = {
    "with_retry": lambda b: b.with_retry(stop_after_attempt=1),
    "with_fallbacks": lambda b: b.with_fallbacks([b]),
    "bind": lambda b: b.bind(),
    "with_config-run_name": lambda b: b.with_config(run_name="x"),
    "with_config-configurable": lambda b: b.with_config(configurable={"a": 1}),
}


@pytest.mark.parametrize("form", ["invoke", "ainvoke"])
@pytest.mark.parametrize("wrap", list(WRAPPED))
def test_wrapped_binding_with_config_callbacks(
    wire: Wire, guard: str, wrap: str, form: str
) -> None:
    runnable = WRAPPED[wrap](with_residency(cris(wire), EU))
    before = len(wire.sent())
    _run(runnable, "hi", {"config": {"callbacks": [StartsForeign()]}}, form)
    _judge(wire, before)


def test_run_id_subclass(wire: Wire, guard: str) -> None:
    """A ``run_id`` of a UUID subclass whose hash / str is user code."""

    class RunId(uuid.UUID):
        def __str__(self) -> str:
            hit()
            return uuid.UUID.__str__(self)

        def __hash__(self) -> int:
            hit()
            return uuid.UUID.__hash__(self)

    runnable = with_residency(cris(wire), EU)
    before = len(wire.sent())
    _run(runnable, "hi", {"config": {"run_id": RunId(int=uuid.uuid4().int)}}, "invoke")
    _judge(wire, before)
