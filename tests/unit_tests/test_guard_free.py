"""``_guard_free.runs_only_library_code``: each source of other code keeps the guard on.

The adversarial suite (``tests/adversarial/test_guard_free_calls.py``) attacks the paths that
run user code; this table covers the rest of the decision, including sources that run only
library code but are still treated as "may run anything" (verbose, debug, tracing, another
configure hook, kwargs, a user-given client).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManager
from langchain_core.globals import set_debug
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompt_values import ChatPromptValue, StringPromptValue
from langchain_core.tracers.context import _configure_hooks, register_configure_hook
from langsmith import utils as ls_utils
from langsmith.run_helpers import tracing_context

from langchain_cris._guard_free import runs_only_library_code
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.policy import ResidencyPolicy

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def _model(**kwargs: Any) -> ChatBedrockCRIS:
    return ChatBedrockCRIS(
        model=SONNET,
        region_name="eu-central-1",
        residency_policy=ResidencyPolicy.preset("eu"),
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        **kwargs,
    )


@pytest.fixture(autouse=True)
def _no_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"):
        monkeypatch.delenv(var, raising=False)
    yield
    set_debug(False)


def _decide(model: ChatBedrockCRIS | None = None, **overrides: Any) -> bool:
    call: dict[str, Any] = {"input": "hi", "callbacks": None, "kwargs": {}, "user_client": False}
    call.update(overrides)
    return runs_only_library_code(
        model or _model(),
        call["input"],
        call["callbacks"],
        call["kwargs"],
        user_client=call["user_client"],
    )


LIBRARY_INPUTS: dict[str, Any] = {
    "text": "hi",
    "messages": [HumanMessage("hi"), AIMessage("yes"), HumanMessage("and?")],
    "tuples-and-dicts": [("human", "hi"), {"role": "user", "content": "hi"}, "hi"],
    "chat-prompt-value": ChatPromptValue(messages=[HumanMessage("hi")]),
    "string-prompt-value": StringPromptValue(text="hi"),
}


@pytest.mark.parametrize("name", list(LIBRARY_INPUTS))
def test_library_input_without_other_code_needs_no_guard(name: str) -> None:
    assert _decide(input=LIBRARY_INPUTS[name]) is True
    assert _model()._runs_only_library_code(LIBRARY_INPUTS[name], None, {}) is True


class _Text(str):
    pass


KEEPS_THE_GUARD: dict[str, Callable[[], bool]] = {
    "config-callbacks": lambda: _decide(callbacks=[BaseCallbackHandler()]),
    "empty-callback-manager": lambda: _decide(callbacks=CallbackManager(handlers=[])),
    "kwargs": lambda: _decide(kwargs={"stop": ["x"]}),
    "user-client": lambda: _decide(user_client=True),
    "model-callbacks": lambda: _decide(_model(callbacks=[BaseCallbackHandler()])),
    "verbose": lambda: _decide(_model(verbose=True)),
    "str-subclass-input": lambda: _decide(input=_Text("hi")),
    "unknown-input": lambda: _decide(input=object()),
    "list-with-an-object": lambda: _decide(input=["hi", object()]),
}


@pytest.mark.parametrize("name", list(KEEPS_THE_GUARD))
def test_each_source_of_other_code_keeps_the_guard(name: str) -> None:
    assert KEEPS_THE_GUARD[name]() is False


def test_debug_tracing_and_other_hooks_keep_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    set_debug(True)
    assert _decide() is False
    set_debug(False)
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]  # langsmith caches it
    try:
        assert _decide() is False
    finally:
        monkeypatch.delenv("LANGSMITH_TRACING")
        ls_utils.get_env_var.cache_clear()  # type: ignore[attr-defined]
    with tracing_context(enabled=True):
        assert _decide() is False
    other: ContextVar[Any] = ContextVar("someone_elses_hook", default=None)
    register_configure_hook(other, inheritable=True)
    try:
        token = other.set(BaseCallbackHandler())
        assert _decide() is False
        other.reset(token)
        assert _decide() is True
    finally:
        _configure_hooks[:] = [h for h in _configure_hooks if h[0] is not other]


def test_a_subclass_keeps_the_guard() -> None:
    class Sub(ChatBedrockCRIS):
        pass

    sub = Sub(
        model=SONNET,
        region_name="eu-central-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    assert sub._runs_only_library_code("hi", None, {}) is False


def test_a_user_given_client_keeps_the_guard() -> None:
    import boto3

    control = boto3.client(
        "bedrock",
        region_name="eu-central-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    runtime = boto3.client(
        "bedrock-runtime",
        region_name="eu-central-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    assert _model()._runs_only_library_code("hi", None, {}) is True
    assert _model(bedrock_client=control)._runs_only_library_code("hi", None, {}) is False
    assert _model(client=runtime)._runs_only_library_code("hi", None, {}) is False
