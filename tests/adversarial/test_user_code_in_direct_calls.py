"""User code inside a direct ``with_residency(ChatBedrockCRIS)`` call cannot start another model.

The residency scope's ``ModelGuard`` refuses a model no policy can route when it starts inside
the scope. A direct binding around a routed model is where one is tempted to leave it off
(issue #20: the guard is a callback handler on the run, ~5-28 µs a call; a ``_guard_free``
shortcut that left it off "library-only" calls was built and withdrawn this round, see
``test_user_code_in_direct_calls_more.py`` for the ways an adversarial review got through its
checks). The attack: every way user code can run inside such a call, each starting a model
no policy can route (a fake other provider that records whether it generated). The guard
must refuse it before it generates, in ``invoke`` and ``ainvoke``, on both wires; and what the
routed model sent stays inside the policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import RunnableLambda

from langchain_cris._model_guard import current_model_guard
from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.errors import UnroutableModelError
from tests.adversarial.conftest import EU, Wire, assert_inside
from tests.adversarial.test_leak_classes import EU_SONNET, cris


class Foreign(FakeListChatModel):
    """Another provider's model: records every generation it was let to make."""

    generated: ClassVar[list[str]] = []

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        Foreign.generated.append("generated")
        return super()._generate(*args, **kwargs)


OUTCOMES: list[str] = []


def start_foreign() -> None:
    """What the attacking user code does: start the other provider's model."""
    try:
        Foreign(responses=["leaked"]).invoke("leak")
    except UnroutableModelError:
        OUTCOMES.append("refused")
    else:
        OUTCOMES.append("ran")


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    Foreign.generated.clear()
    OUTCOMES.clear()
    cache = get_llm_cache()
    yield
    set_llm_cache(cache)


class StartsForeign(BaseCallbackHandler):
    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        start_foreign()


class StartsForeignAtTheEnd(BaseCallbackHandler):
    """Starts the other model when the routed run ends (after the guard left its handlers)."""

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        start_foreign()


class ForeignCache(InMemoryCache):
    def lookup(self, prompt: str, llm_string: str) -> Any:
        start_foreign()
        return None


class ForeignLimiter(InMemoryRateLimiter):
    def acquire(self, *, blocking: bool = True) -> bool:
        start_foreign()
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        start_foreign()
        return True


class ForeignPrompt(ChatPromptValue):
    def to_messages(self) -> list[BaseMessage]:
        start_foreign()
        return super().to_messages()


class ForeignMessage(HumanMessage):
    def __getattribute__(self, name: str) -> Any:
        if name == "content":  # read while the request is built
            start_foreign()
        return super().__getattribute__(name)


class ForeignSubclass(ChatBedrockCRIS):
    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        start_foreign()
        return super()._generate(*args, **kwargs)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        start_foreign()
        return await super()._agenerate(*args, **kwargs)


def _model(wire: Wire, **kwargs: Any) -> ChatBedrockCRIS:
    return cris(wire, **kwargs)


#: name -> (the bound runnable, how it is called: (runnable, input) -> call)
Attack = Callable[[Wire], tuple[Any, Any, dict[str, Any]]]
ATTACKS: dict[str, Attack] = {
    "config-callback": lambda w: (
        with_residency(_model(w), EU),
        "hi",
        {"config": {"callbacks": [StartsForeign()]}},
    ),
    "config-callback-at-the-end": lambda w: (
        with_residency(_model(w), EU),
        "hi",
        {"config": {"callbacks": [StartsForeignAtTheEnd()]}},
    ),
    "model-callbacks": lambda w: (
        with_residency(_model(w, callbacks=[StartsForeign()]), EU),
        "hi",
        {},
    ),
    "binding-with_config-callbacks": lambda w: (
        with_residency(_model(w), EU).with_config(callbacks=[StartsForeign()]),
        "hi",
        {},
    ),
    "model-with_config-callbacks": lambda w: (
        with_residency(_model(w).with_config(callbacks=[StartsForeign()]), EU),
        "hi",
        {},
    ),
    "with_listeners": lambda w: (
        with_residency(_model(w), EU).with_listeners(on_start=lambda run: start_foreign()),
        "hi",
        {},
    ),
    "model-cache": lambda w: (with_residency(_model(w, cache=ForeignCache()), EU), "hi", {}),
    "global-cache": lambda w: (
        set_llm_cache(ForeignCache()) or with_residency(_model(w), EU),
        "hi",
        {},
    ),
    "rate-limiter": lambda w: (
        with_residency(_model(w, rate_limiter=ForeignLimiter(requests_per_second=100)), EU),
        "hi",
        {},
    ),
    "prompt-value-subclass": lambda w: (
        with_residency(_model(w), EU),
        ForeignPrompt(messages=[HumanMessage("hi")]),
        {},
    ),
    "message-subclass": lambda w: (with_residency(_model(w), EU), [ForeignMessage("hi")], {}),
    "model-subclass": lambda w: (
        with_residency(
            ForeignSubclass(
                model=EU_SONNET.split(".", 1)[1],
                region_name="eu-central-1",
                endpoint_url=w.endpoint_url,
                failover_backoff=0.0,
            ),
            EU,
        ),
        "hi",
        {},
    ),
}


def _inherited(w: Wire) -> tuple[Any, Any, dict[str, Any]]:
    """The binding called from a chain step whose run has the handler: it is inherited."""
    bound = with_residency(_model(w), EU)
    step = RunnableLambda(lambda x, config: bound.invoke(x))
    return step, "hi", {"config": {"callbacks": [StartsForeign()]}}


ATTACKS["inherited-callback"] = _inherited


@pytest.mark.parametrize("form", ["invoke", "ainvoke"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_user_code_inside_the_call_cannot_start_an_unroutable_model(
    wire: Wire, attack: str, form: str
) -> None:
    runnable, value, call = ATTACKS[attack](wire)
    before = len(wire.sent())
    if form == "invoke":
        runnable.invoke(value, **call)
    else:
        asyncio.run(runnable.ainvoke(value, **call))
    assert OUTCOMES and set(OUTCOMES) == {"refused"}, OUTCOMES
    assert Foreign.generated == []
    assert_inside(wire, EU, before)


def test_the_guard_is_published_inside_a_plain_direct_call(wire: Wire) -> None:
    """No shortcut: inside the routed model's send of the plainest direct call the scope's
    guard is published (and the call is sent inside the policy)."""
    seen: list[Any] = []
    model = _model(wire)
    original = type(model)._check_live_candidate

    def spy(self: Any, plan: Any, cand: Any) -> None:
        seen.append(current_model_guard())
        original(self, plan, cand)

    type(model)._check_live_candidate = spy  # type: ignore[method-assign]
    try:
        with_residency(model, EU).invoke("hi")
        asyncio.run(with_residency(model, EU).ainvoke("hi"))
    finally:
        type(model)._check_live_candidate = original  # type: ignore[method-assign]
    assert len(seen) == 2 and all(guard is not None for guard in seen)
    sent = assert_inside(wire, EU)
    assert [s.model_id for s in sent] == [EU_SONNET, EU_SONNET]
