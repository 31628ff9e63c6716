"""Bind a residency policy to any runnable; read back the policy of the running chain.

A policy travels in the ``RunnableConfig`` metadata, which LangChain already propagates to
every child run: chain steps, ``RunnableParallel`` branches, retrievers, LangGraph nodes,
``create_agent`` model calls, tools (and the sub-chains they invoke), across threads of the
executor and asyncio tasks. Metadata keys (the contract shared with the callback handler and
the agent middleware)::

    "cris_policy":        policy.to_dict()  (JSON-ready; ResidencyPolicy.from_dict reads it)
    "cris_policy_name":   policy.name        (readable traces)
    "cris_policy_digest": policy.digest

Three ways to set it, all read by :func:`policy_from_config`:

1. ``with_residency(runnable, policy)`` (recommended; nested bindings combine strictest-wins);
2. ``config={"metadata": {"cris_policy": "eu"}}``: a preset name, a policy file path, a dict
   as written by ``to_dict()``, or a ``ResidencyPolicy``;
3. ``config={"configurable": {"cris_policy": ...}}``: same forms, read when metadata has none.

Metadata is merged key by key with the inner value winning, and a call that passes its own
``config={"metadata": ...}`` replaces the inherited metadata altogether. ``with_residency``
does not rely on either: for the duration of the bound call it also publishes the policy in
force in a context variable (the *ceiling*), and every policy found for a call inside it is
combined with that ceiling, strictest wins (:func:`policy_in_force`). So an inner binding, an
inner raw ``cris_policy`` value or an inner config without one can only narrow the binding,
never widen or drop it. The ceiling follows LangChain's own context propagation (chain steps,
its executors, asyncio tasks); a bare ``threading.Thread`` does not inherit it.

Policy values are cached by content, never by identity or path alone: a file by its path and
``stat`` (mtime, ctime, size, inode), a dict by its JSON text; the dicts ``with_residency``
puts into metadata are read-only and carry their parsed policy.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import Any, cast

from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig
from langchain_core.runnables.config import merge_configs, var_child_runnable_config

from langchain_cris._model_guard import ModelGuard, model_guard_var
from langchain_cris._policy_values import (
    POLICY_DIGEST_KEY,
    POLICY_KEY,
    POLICY_NAME_KEY,
    RUNTIME_KEY,
    PolicySpec,
    parse_policy,
    policy_from_config,
    policy_spec_from_config,
    residency_metadata,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.side_channels import gate_bound_chain

__all__ = [
    "POLICY_DIGEST_KEY",
    "POLICY_KEY",
    "POLICY_NAME_KEY",
    "PolicySources",
    "PolicySpec",
    "bound_policy",
    "parse_policy",
    "policy_from_config",
    "policy_in_force",
    "policy_sources",
    "policy_spec_from_config",
    "residency_metadata",
    "residency_scope",
    "with_residency",
]


# -- the policy in force ----------------------------------------------------------------
_CEILING: ContextVar[ResidencyPolicy | None] = ContextVar("langchain_cris_ceiling", default=None)


def bound_policy() -> ResidencyPolicy | None:
    """The policy of the innermost enclosing residency scope (already combined), if any."""
    return _CEILING.get()


@lru_cache(maxsize=256)
def _combine(outer: ResidencyPolicy, inner: ResidencyPolicy) -> ResidencyPolicy:
    """``outer`` narrowed by ``inner`` (strictest wins); a policy met again is itself."""
    if outer == inner:
        return outer
    return outer.combine(inner)


def _runtime_spec(*configs: Mapping[str, Any] | None) -> Any:
    """``cris_policy`` of the running LangGraph run's context (an agent's tenant), if any."""
    for config in configs:
        configurable = (config or {}).get("configurable") or {}
        runtime = configurable.get(RUNTIME_KEY)
        context = getattr(runtime, "context", None)
        if context is None:
            continue
        if isinstance(context, Mapping):
            return context.get(POLICY_KEY)
        return getattr(context, POLICY_KEY, None)
    return None


class PolicySources:
    """Where a call's policy may come from, read when the call starts (cheap; parsed later).

    In order: the call's own config (``metadata``, then ``configurable``), the config it
    inherits from the running chain, the running agent's context; whatever is found is then
    combined, strictest wins, with the enclosing binding's ceiling.
    """

    __slots__ = ("ceiling", "spec")

    def __init__(self, spec: Any, ceiling: ResidencyPolicy | None) -> None:
        self.spec = spec
        self.ceiling = ceiling

    def resolve(self) -> ResidencyPolicy | None:
        """The policy in force, or None (then the model's own default applies).

        Raises:
            PolicyError: a policy value cannot be read.
            PolicyConflictError: the value found and the ceiling share no Region.
        """
        found = None if self.spec is None else parse_policy(self.spec)
        if self.ceiling is None or found is None:
            return found or self.ceiling
        return _combine(self.ceiling, found)


def policy_sources(config: Mapping[str, Any] | None = None) -> PolicySources:
    """The policy sources of a call made now with ``config`` (see :class:`PolicySources`)."""
    inherited = var_child_runnable_config.get()
    spec = policy_spec_from_config(config)
    if spec is None:
        spec = policy_spec_from_config(inherited)
    if spec is None:
        spec = _runtime_spec(config, inherited)
    return PolicySources(spec, _CEILING.get())


def policy_in_force(config: Mapping[str, Any] | None = None) -> ResidencyPolicy | None:
    """The policy a call made now with ``config`` runs under, before any model default.

    Raises:
        PolicyError: a policy value cannot be read.
        PolicyConflictError: nested policies share no Region.
    """
    return policy_sources(config).resolve()


_Tokens = tuple[Token[ResidencyPolicy | None], Token[ModelGuard | None]]


@lru_cache(maxsize=64)
def _outermost_guard(allow_non_bedrock: bool, where: str) -> ModelGuard:
    """The guard of an outermost scope (immutable, so one per setting serves every call)."""
    return ModelGuard(allow_non_bedrock=allow_non_bedrock, where=where)


def _enter(policy: ResidencyPolicy, allow_non_bedrock: bool, where: str) -> _Tokens:
    guard = model_guard_var.get()
    guard = (
        guard.narrowed(allow_non_bedrock=allow_non_bedrock, where=where)
        if guard is not None
        else _outermost_guard(allow_non_bedrock, where)
    )
    return _CEILING.set(policy), model_guard_var.set(guard)


def _exit(tokens: _Tokens) -> None:
    model_guard_var.reset(tokens[1])
    _CEILING.reset(tokens[0])


@contextmanager
def residency_scope(
    policy: ResidencyPolicy, *, allow_non_bedrock: bool = False, where: str = "with_residency"
) -> Iterator[ResidencyPolicy]:
    """Make ``policy`` the ceiling of every call inside the block (narrowing any outer one).

    Also refuses, inside the block, models no policy can route (see ``_model_guard``) unless
    ``allow_non_bedrock``. Yields the effective (combined) policy.
    """
    outer = _CEILING.get()
    effective = policy if outer is None else _combine(outer, policy)
    tokens = _enter(effective, allow_non_bedrock, where)
    try:
        yield effective
    finally:
        _exit(tokens)


# -- the binding ------------------------------------------------------------------------
class _ResidencyConfig:
    """Config factory of one binding: the policy in force, narrowed by this binding's policy."""

    __slots__ = ("allow_non_bedrock", "model_checks_traces", "policy")

    def __init__(
        self,
        policy: ResidencyPolicy,
        allow_non_bedrock: bool = False,
        *,
        model_checks_traces: bool = False,
    ) -> None:
        self.policy = policy
        self.allow_non_bedrock = allow_non_bedrock
        #: The bound runnable is a ``ChatBedrockCRIS`` itself: its plan checks the run's own
        #: trace handlers before it sends (the same check, on a superset of these handlers).
        self.model_checks_traces = model_checks_traces

    def effective(self, config: Mapping[str, Any] | None) -> ResidencyPolicy:
        if config is None and _CEILING.get() is None and var_child_runnable_config.get() is None:
            return self.policy  # a top-level call: policy_in_force(None) finds nothing
        outer = policy_in_force(config)
        return self.policy if outer is None else _combine(outer, self.policy)

    def metadata(self, config: RunnableConfig) -> Mapping[str, Any]:
        """The three metadata keys of the effective policy (read-only), after the trace gate."""
        decided = _DECIDED.get()  # the binding's own scope already combined it
        policy = decided[1] if decided is not None and decided[0] is self else None
        effective = policy or self.effective(config)
        # traces: refuse before the chain's first run starts. A warning (telemetry="warn")
        # for a binding directly around a ChatBedrockCRIS is left to the model's plan, which
        # emits the same once-per-endpoint warning from the run's own handlers.
        if not (self.model_checks_traces and effective.telemetry == "warn"):
            gate_bound_chain(config, effective)
        return residency_metadata(effective)

    def __call__(self, config: RunnableConfig) -> RunnableConfig:
        return {"metadata": dict(self.metadata(config))}

    def __repr__(self) -> str:
        return f"with_residency({self.policy.name!r})"


#: The policy a binding's scope decided, read back by that binding's own config factory.
_DECIDED: ContextVar[tuple[_ResidencyConfig, ResidencyPolicy] | None] = ContextVar(
    "langchain_cris_decided_policy", default=None
)
_ScopeTokens = tuple[_Tokens, Token[tuple[_ResidencyConfig, ResidencyPolicy] | None]]


def _leave(tokens: _ScopeTokens) -> None:
    _DECIDED.reset(tokens[1])
    _exit(tokens[0])


class _Scoped:
    """The binding's scope as a re-enterable context manager: entered around each call and
    each step of a stream (one instance per call; entries never nest)."""

    __slots__ = ("_binding", "_config", "_tokens")

    def __init__(self, binding: _ResidencyBinding, config: Any) -> None:
        self._binding = binding
        self._config = config

    def __enter__(self) -> None:
        self._tokens = self._binding._scope(self._config)

    def __exit__(self, *exc: object) -> None:
        _leave(self._tokens)


class _ResidencyBinding(RunnableBinding[Any, Any]):  # type: ignore[no-redef]
    """A ``RunnableBinding`` that also holds the residency scope while its bound runnable runs.

    The scope (ceiling and model guard) is set around each call, and around each step of a
    stream, never across a ``yield``: the consumer's own code between chunks runs outside it.
    """

    def _factory(self) -> _ResidencyConfig:
        factories = self.config_factories
        if factories and type(factories[0]) is _ResidencyConfig:  # as with_residency made it
            return factories[0]
        for factory in factories:
            if isinstance(factory, _ResidencyConfig):
                return factory
        raise AssertionError("a residency binding without its config factory")

    def _scope(self, config: Any) -> _ScopeTokens:
        """Enter the scope of a call made with ``config`` (one config, or a batch's list)."""
        if type(config) is not dict and config is not None:
            config = config[0] if isinstance(config, Sequence) and config else config
            config = config if isinstance(config, Mapping) else None
        factory = self._factory()
        policy = factory.effective(config)
        # ``.with_config(metadata={"cris_policy": ...})`` on this binding: langchain-core
        # would let the factory's metadata replace it; it narrows the binding instead.
        own = policy_spec_from_config(self.config) if self.config else None
        if own is not None:
            policy = _combine(policy, parse_policy(own))
        decided = _DECIDED.set((factory, policy))
        return _enter(policy, factory.allow_non_bedrock, "with_residency"), decided

    def _merge_configs(self, *configs: RunnableConfig | None) -> RunnableConfig:
        """``RunnableBinding._merge_configs``, with this binding's metadata laid on by hand.

        langchain-core merges each factory's output with a second ``merge_configs``, which
        re-ensures both configs (and the inherited one) on every call; the residency factory
        only adds three metadata keys to a config that is already merged, so they are set
        directly (same result: metadata merges key by key, the factory's keys win).
        """
        if not self.config and configs == (None,) and var_child_runnable_config.get() is None:
            config = _top_level_merge()  # what merge_configs({}, None) gives outside any run
        else:
            config = merge_configs(self.config, *configs)
        factories = self.config_factories
        if len(factories) == 1 and type(factories[0]) is _ResidencyConfig:
            config["metadata"] = {
                **(config.get("metadata") or {}),
                **factories[0].metadata(config),
            }
            return config
        extras = [
            f.metadata(config) if isinstance(f, _ResidencyConfig) else f(config) for f in factories
        ]
        for factory, extra in zip(factories, extras, strict=True):
            if isinstance(factory, _ResidencyConfig):
                config["metadata"] = {**(config.get("metadata") or {}), **extra}
            else:
                config = merge_configs(config, cast(RunnableConfig, extra))
        return config

    def _run(self, config: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with _Scoped(self, config):
            return fn(*args, **kwargs)

    async def _arun(self, config: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with _Scoped(self, config):
            return await fn(*args, **kwargs)

    def _iter(self, config: Any, make: Any) -> Iterator[Any]:
        scoped = _Scoped(self, config)
        with scoped:
            iterator = iter(make())
        try:
            while True:
                with scoped:
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                with scoped:
                    close()

    async def _aiter(self, config: Any, make: Any) -> AsyncIterator[Any]:
        scoped = _Scoped(self, config)
        with scoped:
            iterator = make().__aiter__()
        try:
            while True:
                with scoped:
                    try:
                        item = await iterator.__anext__()
                    except StopAsyncIteration:
                        return
                yield item
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with scoped:
                    await aclose()

    # invoke / ainvoke: ``RunnableBinding.invoke`` / ``ainvoke`` inside the scope, written out
    # (the per-call path of every bound call, so no extra frames on it).
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        tokens = self._scope(config)
        try:
            return self.bound.invoke(
                input, self._merge_configs(config), **{**self.kwargs, **kwargs}
            )
        finally:
            _leave(tokens)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        tokens = self._scope(config)
        try:
            return await self.bound.ainvoke(
                input, self._merge_configs(config), **{**self.kwargs, **kwargs}
            )
        finally:
            _leave(tokens)

    def batch(self, inputs: list[Any], config: Any = None, **kwargs: Any) -> list[Any]:
        if _mixed(config):  # items under different policies: one scope per item
            return Runnable.batch(self, inputs, config, **kwargs)
        result: list[Any] = self._run(config, super().batch, inputs, config, **kwargs)
        return result

    async def abatch(self, inputs: list[Any], config: Any = None, **kwargs: Any) -> list[Any]:
        if _mixed(config):
            return await Runnable.abatch(self, inputs, config, **kwargs)
        result: list[Any] = await self._arun(config, super().abatch, inputs, config, **kwargs)
        return result

    def batch_as_completed(self, inputs: Any, config: Any = None, **kwargs: Any) -> Iterator[Any]:
        if _mixed(config):
            return Runnable.batch_as_completed(self, inputs, config, **kwargs)
        return self._iter(
            config,
            lambda: super(_ResidencyBinding, self).batch_as_completed(inputs, config, **kwargs),
        )

    def abatch_as_completed(
        self, inputs: Any, config: Any = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        if _mixed(config):
            return Runnable.abatch_as_completed(self, inputs, config, **kwargs)
        return self._aiter(
            config,
            lambda: super(_ResidencyBinding, self).abatch_as_completed(inputs, config, **kwargs),
        )

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        return self._iter(
            config, lambda: super(_ResidencyBinding, self).stream(input, config, **kwargs)
        )

    def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        return self._aiter(
            config, lambda: super(_ResidencyBinding, self).astream(input, config, **kwargs)
        )

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        return self._iter(
            config, lambda: super(_ResidencyBinding, self).transform(input, config, **kwargs)
        )

    def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        return self._aiter(
            config, lambda: super(_ResidencyBinding, self).atransform(input, config, **kwargs)
        )

    def astream_events(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        if kwargs.get("version") not in (None, "v1", "v2"):  # v3 returns an awaitable
            return self._arun(config, super().astream_events, input, config, **kwargs)
        return self._aiter(
            config, lambda: super(_ResidencyBinding, self).astream_events(input, config, **kwargs)
        )


def _top_level_merge() -> RunnableConfig:
    """``merge_configs({}, None)`` with no run in progress, built directly (a new dict each
    call): ``ensure_config({})``'s defaults as ``merge_configs`` keeps them (no callbacks,
    the default recursion limit dropped). ``tests/unit_tests/test_binding.py`` holds it
    equal to langchain-core's own answer."""
    return {"tags": [], "metadata": {}, "configurable": {}}


def _mixed(config: Any) -> bool:
    """Whether a batch's per-item configs name different policies."""
    if not isinstance(config, Sequence) or len(config) < 2:
        return False
    first = policy_spec_from_config(config[0])
    return any(policy_spec_from_config(c) is not first for c in config[1:])


def with_residency(
    runnable: Runnable[Any, Any],
    policy: ResidencyPolicy | str | os.PathLike[str],
    *,
    allow_non_bedrock: bool = False,
) -> Runnable[Any, Any]:
    """Bind ``policy`` to ``runnable`` and everything it calls.

    Every ``ChatBedrockCRIS`` and ``BedrockEmbeddingsCRIS`` reached by the runnable (directly,
    in parallel branches, in retrievers, LangGraph nodes, agents, or tools that call sub-chains,
    and calls that pass a config of their own) routes its calls under the policy; a plain
    ``ChatBedrockConverse`` inside is routed the same way; any other chat model or LLM is
    refused with ``UnroutableModelError`` unless ``allow_non_bedrock=True``. Works for
    invoke/ainvoke/stream/astream/batch/abatch/astream_events. Bindings nest: the effective
    policy is the strictest combination of all enclosing ones.

    Args:
        runnable: Any LangChain runnable (chain, graph, agent, model, retriever pipeline).
        policy: A ``ResidencyPolicy``, a preset name (``"eu"``) or a policy file path.
        allow_non_bedrock: Let chat models and LLMs that are not Bedrock Converse models run
            inside (unchecked: outside any residency guarantee). An enclosing binding that
            does not allow them still refuses them.

    Returns:
        A runnable with the same input and output, carrying the policy in its config.

    Raises:
        PolicyError: ``policy`` names no preset or readable file (raised here, at bind time).
        PolicyConflictError: at call time, when nesting leaves no Region in common.

    Example:
        .. code-block:: python

            from langchain_cris import ChatBedrockCRIS, ResidencyPolicy, with_residency

            llm = ChatBedrockCRIS(
                model="anthropic.claude-sonnet-4-5-20250929-v1:0", region_name="eu-central-1"
            )
            eu_chain = with_residency(prompt | llm | parser, ResidencyPolicy.preset("eu"))
            cheap_chain = with_residency(prompt | llm | parser, "global")
    """
    resolved = parse_policy(policy)
    factory = _ResidencyConfig(
        resolved,
        allow_non_bedrock,
        model_checks_traces=getattr(type(runnable), "_checks_traces_before_sending", False),
    )
    return _ResidencyBinding(bound=runnable, config_factories=[factory])
