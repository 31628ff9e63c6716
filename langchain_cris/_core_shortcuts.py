"""Per-call work langchain-core and langchain-aws repeat that ``ChatBedrockCRIS`` does once.

Issue #20 asks the residency layer to cost no more CPU per call than plain
``ChatBedrockConverse`` (``benchmarks/bench_overhead.py``). Part of the budget comes from here:
three things every ``invoke`` of any chat model pays, whose answer for ``ChatBedrockCRIS`` is
known without the general machinery. Each shortcut gives exactly the general path's result
(``tests/unit_tests/test_core_shortcuts.py`` holds them against it), and each falls back to
the general path where it cannot know:

* ``_generate_with_cache`` asks ``inspect.signature(self._generate)`` on every call whether
  ``_generate`` takes a ``run_manager`` (~40 µs here). The answer is fixed by the function's
  source, so the signature is computed once and pinned as ``__signature__``
  (:func:`pin_signatures`), which ``inspect`` returns as is. A subclass that overrides the
  method defines a new function without one and is inspected as before.
* ``_should_stream`` asks ``isinstance(handler, _StreamingCallbackHandler)`` of every
  handler, a runtime ``Protocol`` check that typing recomputes from the protocol's members on
  each call before Python 3.12 (~20 µs per handler). Inside ``with_residency`` every run
  carries the residency scope's ``ModelGuard`` handler. A handler without
  ``tap_output_iter`` cannot pass that check (a nominal subclass inherits the method, a
  structural match needs it), so :func:`handlers_may_stream` answers ``False`` for it
  without asking typing.
* ``_get_invocation_params`` (twice per call: the run's params and, through
  ``_get_ls_params``, LangSmith's) reads ``self.dict()`` under
  ``suppress_langchain_deprecation_warning``, i.e. a ``warnings.catch_warnings`` per read,
  to honour subclasses that still override the deprecated ``dict()``.
  :func:`invocation_params` builds the same dict from ``asdict()`` directly when ``dict`` and
  ``_dict_for_compat`` are langchain-core's own.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

__all__ = ["handlers_may_stream", "invocation_params", "pin_signatures"]

#: The attribute every ``_StreamingCallbackHandler`` has (the protocol's members).
_STREAMING_MEMBER = "tap_output_iter"
_DICT_FOR_COMPAT = BaseChatModel._dict_for_compat


def pin_signatures(cls: type, *names: str) -> None:
    """Compute the signature of ``cls``'s own methods ``names`` once (``__signature__``)."""
    for name in names:
        function = cls.__dict__[name]
        function.__signature__ = inspect.signature(function)


def handlers_may_stream(handlers: Iterable[Any]) -> bool:
    """False when no handler can be a ``_StreamingCallbackHandler`` (see the module doc).

    The member is looked for on the instance and on its class: typing's check finds it in
    the class's namespace too (an unfilled ``__slots__`` entry, a property that raises).
    """
    return any(
        hasattr(type(handler), _STREAMING_MEMBER) or hasattr(handler, _STREAMING_MEMBER)
        for handler in handlers
    )


def invocation_params(
    model: Any, stop: list[str] | None, kwargs: Mapping[str, Any]
) -> dict[str, Any] | None:
    """``ChatBedrockConverse._get_invocation_params(stop, **kwargs)`` without the warnings
    context, or ``None`` when ``model`` overrides the deprecated ``dict()`` or langchain-core's
    ``_dict_for_compat`` that reads it (then only the general path knows)."""
    cls = type(model)
    if cls.dict is not BaseChatModel.dict or cls._dict_for_compat is not _DICT_FOR_COMPAT:
        return None
    params: dict[str, Any] = {"model": model.base_model_id or model.model_id}
    params.update(model.asdict())
    params["stop"] = stop
    params.update(kwargs)
    return params
