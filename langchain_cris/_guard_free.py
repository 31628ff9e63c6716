"""When a residency scope may leave its ``ModelGuard`` off a call: nothing but library code runs.

The guard (``_model_guard``) refuses chat models and LLMs that no policy can route when they
start inside a residency scope. It rides on every run configured in the scope as a callback
handler, which langchain-core pays for on every run (configure, the start and end events:
~25 µs of a ~1.5 ms call at zero service latency, issue #20). Around a direct
``with_residency(ChatBedrockCRIS(...)).invoke(...)`` there is one run, the routed model's own,
where the guard has nothing to refuse, unless code other than langchain-core's,
langchain-aws's, botocore's and this package's runs inside that call and starts a model.
Such code can only come in through:

* callback handlers: the call's config (its own or inherited from a running chain), the
  model's ``callbacks``, ``verbose`` / langchain's debug printer, a tracer or another
  configure hook langchain-core would add;
* the model's ``rate_limiter`` and LLM cache (the model's ``cache`` or the global one);
* a subclass of ``ChatBedrockCRIS`` (its overrides), call kwargs (tools and schemas are
  inspected), a client the user passed in (its botocore event hooks);
* the input: anything but text, tuples, dicts, langchain-core messages and prompt values.

:func:`runs_only_library_code` answers ``True`` only when none of these is present; anything
it does not recognise keeps the guard on. The ceiling (the policy in force) is set either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.globals import get_debug, get_llm_cache
from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import ChatPromptValue, ChatPromptValueConcrete, StringPromptValue

from langchain_cris.telemetry import _tracer_may_be_added

__all__ = ["runs_only_library_code"]

_PROMPT_VALUES = (ChatPromptValue, ChatPromptValueConcrete)
_CORE_MESSAGES = "langchain_core.messages."


def runs_only_library_code(
    model: Any, input: Any, callbacks: Any, kwargs: Mapping[str, Any], *, user_client: bool
) -> bool:
    """Whether ``model.invoke(input, config, **kwargs)`` runs library code only (module doc).

    Args:
        model: A ``ChatBedrockCRIS`` itself (the caller checks the exact type).
        input: The call's input.
        callbacks: Every ``callbacks`` value the call's config carries or inherits (truthy
            when any is set, whatever its handlers).
        kwargs: The call's kwargs (bound and passed).
        user_client: The model sends through a client the user passed in.
    """
    if kwargs or callbacks or user_client:
        return False
    if model.callbacks or model.verbose or model.rate_limiter is not None:
        return False
    cache = model.cache
    if cache is not False and (cache is not None or get_llm_cache() is not None):
        return False
    if get_debug() or _tracer_may_be_added():
        return False
    return _library_input(input)


def _library_input(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return True
    if kind is list or kind is tuple:
        return all(_library_message(item) for item in value)
    if kind is StringPromptValue:
        return True
    if kind in _PROMPT_VALUES:
        return all(_library_message(item) for item in value.messages)
    return False


def _library_message(item: Any) -> bool:
    kind = type(item)
    if kind is str or kind is dict or kind is tuple:
        return True  # langchain-core converts these to its own message classes
    return isinstance(item, BaseMessage) and kind.__module__.startswith(_CORE_MESSAGES)
