"""Per-call work langchain-core and langchain-aws repeat that ``ChatBedrockCRIS`` does once.

Issue #20 asks the residency layer to cost no more CPU per call than plain
``ChatBedrockConverse`` (``benchmarks/bench_overhead.py``). Part of the budget comes from here:
three things every ``invoke`` of any chat model pays, whose answer for ``ChatBedrockCRIS`` is
known without the general machinery. Each shortcut gives exactly the general path's result
(``tests/unit_tests/test_core_shortcuts.py`` holds them against it), and each falls back to
the general path where it cannot know:

* ``_generate_with_cache`` asks ``inspect.signature(self._generate)`` on every call whether
  ``_generate`` takes a ``run_manager`` (``_agenerate_with_cache`` the same of
  ``_agenerate``). For a bound method inspect finds the function's signature and then builds
  a new one without ``self`` (a ``Signature`` validated parameter by parameter), ~40 µs per
  call inside a real call, more than the rest of the package's per-call work. The answer is
  fixed by the function's source, so :func:`sign_methods` makes the method a descriptor whose
  bound form (a ``functools.partial`` of the function on the instance) carries that bound
  signature as ``__signature__``, which ``inspect`` returns as is. The class attribute is
  still the plain function, and a subclass that overrides the method defines a new function,
  inspected as before.
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

import functools
import inspect
import types
from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

__all__ = ["handlers_may_stream", "invocation_params", "sign_methods"]

#: The attribute every ``_StreamingCallbackHandler`` has (the protocol's members).
_STREAMING_MEMBER = "tap_output_iter"
_DICT_FOR_COMPAT = BaseChatModel._dict_for_compat


class _SignedBound(functools.partial):
    """A method bound to an instance, with the bound signature as ``__signature__``.

    Behaves as the bound method would: called, it calls the function with the instance
    first (in C, as a partial); it has ``__self__`` and ``__func__``, compares and hashes
    as bound methods do, and pickles as ``getattr(instance, name)``.
    """

    __slots__ = ()
    __signature__: inspect.Signature  # each signed method's own subclass sets it

    @property
    def __self__(self) -> Any:
        return self.args[0]

    @property
    def __func__(self) -> Any:
        return self.func

    @property
    def __name__(self) -> str:
        return str(self.func.__name__)

    def __repr__(self) -> str:
        return f"<bound method {self.func.__qualname__} of {self.args[0]!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _SignedBound | types.MethodType):
            return NotImplemented
        return other.__func__ is self.func and other.__self__ is self.args[0]

    def __hash__(self) -> int:
        return hash((id(self.args[0]), self.func))

    def __reduce__(self) -> tuple[Any, ...]:
        return (getattr, (self.args[0], self.func.__name__))


class _SignedMethod:
    """The descriptor :func:`sign_methods` installs: the function on the class, a
    :class:`_SignedBound` on an instance."""

    __slots__ = ("__func__", "_bound")

    def __init__(self, function: types.FunctionType) -> None:
        self.__func__ = function
        unbound = inspect.signature(function)
        params = tuple(unbound.parameters.values())[1:]  # what inspect drops for a bound method
        self._bound = type(
            f"_Signed_{function.__name__}",
            (_SignedBound,),
            {"__slots__": (), "__signature__": unbound.replace(parameters=params)},
        )

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self.__func__
        return self._bound(self.__func__, instance)


def sign_methods(cls: type, *names: str) -> None:
    """Make ``cls``'s own methods ``names`` carry their bound signature (see the module doc).

    Applied after the class is created: a pydantic model reads a non-function class
    attribute whose name starts with an underscore as a private attribute.
    """
    for name in names:
        function = cls.__dict__[name]
        if not isinstance(function, types.FunctionType):
            raise TypeError(f"{cls.__name__}.{name} is not a plain function")
        setattr(cls, name, _SignedMethod(function))


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
