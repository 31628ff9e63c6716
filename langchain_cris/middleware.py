"""``ResidencyMiddleware``: a residency policy for every model call of a LangChain 1.x agent.

``create_agent`` calls its model as ``model.bind_tools(...).invoke(messages)`` with no config,
so the call inherits the config of the running graph node through LangChain's context variable.
The middleware works on that seam:

* **model calls** (``wrap_model_call`` / ``awrap_model_call``): the request's model must be a
  ``ChatBedrockCRIS`` (kept) or a ``ChatBedrockConverse`` (replaced by an equivalent
  ``ChatBedrockCRIS``: same model id, Region, endpoint, credentials, clients; no network
  call). Any other model is refused with :class:`UnroutableModelError` unless
  ``allow_non_bedrock=True``. The call then runs with the invocation's policy in the config
  metadata (``cris_policy`` …, the contract of :mod:`langchain_cris.binding`), so the model
  routes by it and the callback handler and LangSmith see it.
* **tool calls** (``wrap_tool_call`` / ``awrap_tool_call``): the tool runs with the same policy
  in its config, so a tool that invokes a sub-chain with a ``ChatBedrockCRIS`` routes that
  sub-call under the tenant's policy too.

Where the invocation's policy comes from, first match wins:

1. ``policy_from_context(runtime.context)`` when given (e.g. a tenant → policy lookup);
2. ``runtime.context.<context_key>`` or ``runtime.context[context_key]`` (default
   ``"cris_policy"``): a ``ResidencyPolicy``, a preset name, a policy file path or a
   ``to_dict()`` dict;
3. the middleware's own ``policy`` (the agent's default).

That policy is then combined, strictest wins, with any policy already bound to the running
chain (``with_residency(agent, ...)`` or ``config={"metadata": {"cris_policy": ...}}``): an
outer binding is a ceiling the context can only narrow, never widen. When no source names a
policy the call goes ahead unchanged and the model applies its own lookup (model-level
``residency_policy``, ``$LANGCHAIN_CRIS_POLICY``, else ``NoPolicyError``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from langchain.agents.middleware.types import (
    AgentMiddleware,
    AgentState,
    ModelCallResult,
    ModelRequest,
    ModelResponse,
)
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from langchain_cris._plain_bedrock import converted, to_cris_model
from langchain_cris.binding import (
    PolicySpec,
    parse_policy,
    policy_in_force,
    residency_metadata,
    residency_scope,
)
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.errors import PolicyError, UnroutableModelError
from langchain_cris.policy import ResidencyPolicy

__all__ = [
    "DEFAULT_CONTEXT_KEY",
    "ContextPolicyResolver",
    "ResidencyMiddleware",
    "UnroutableModelError",
    "to_cris_model",
]

#: Attribute or key of the agent's runtime context that names the invocation's policy.
DEFAULT_CONTEXT_KEY = "cris_policy"

#: ``context -> policy`` (any form ``parse_policy`` reads), or None when the context names none.
ContextPolicyResolver = Callable[[Any], PolicySpec | None]

_ToolResult = ToolMessage | Command[Any]
_CONVERTED_CACHE_SIZE = 32


class ResidencyMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Applies a data-residency policy to every model call (and tool sub-chain) of an agent.

    Args:
        policy: The agent's policy for invocations whose runtime context names none: a
            ``ResidencyPolicy``, a preset name or a policy file path (parsed here, so a typo
            fails at construction).
        context_key: Attribute or mapping key of ``runtime.context`` holding the invocation's
            policy (``None`` to ignore the context).
        policy_from_context: ``context -> policy or None``; replaces the ``context_key``
            lookup, e.g. to map a tenant id to a policy file.
        allow_non_bedrock: Let models other than ``ChatBedrockCRIS``/``ChatBedrockConverse``
            through unrouted instead of raising :class:`UnroutableModelError`.

    Raises:
        PolicyError: ``policy`` is not a known preset or readable file.

    Example:
        .. code-block:: python

            from dataclasses import dataclass

            from langchain.agents import create_agent
            from langchain_cris import ChatBedrockCRIS
            from langchain_cris.middleware import ResidencyMiddleware


            @dataclass
            class Tenant:
                name: str
                cris_policy: str  # "eu", "global", or a policy file


            llm = ChatBedrockCRIS(
                model="anthropic.claude-sonnet-4-5-20250929-v1:0", region_name="eu-central-1"
            )
            agent = create_agent(
                llm, tools=[...], middleware=[ResidencyMiddleware()], context_schema=Tenant
            )
            agent.invoke({"messages": [...]}, context=Tenant("acme-eu", "eu"))  # eu. profile
            agent.invoke({"messages": [...]}, context=Tenant("acme-us", "global"))  # global.
    """

    def __init__(
        self,
        policy: ResidencyPolicy | str | os.PathLike[str] | None = None,
        *,
        context_key: str | None = DEFAULT_CONTEXT_KEY,
        policy_from_context: ContextPolicyResolver | None = None,
        allow_non_bedrock: bool = False,
    ) -> None:
        super().__init__()
        self.policy = parse_policy(policy) if policy is not None else None
        self.context_key = context_key
        self.policy_from_context = policy_from_context
        self.allow_non_bedrock = allow_non_bedrock

    def __repr__(self) -> str:
        policy = self.policy.name if self.policy is not None else None
        return (
            f"ResidencyMiddleware(policy={policy!r}, context_key={self.context_key!r}, "
            f"allow_non_bedrock={self.allow_non_bedrock})"
        )

    # -- the policy of one invocation ----------------------------------------------------------
    def policy_for(
        self, context: Any, config: RunnableConfig | Mapping[str, Any] | None = None
    ) -> ResidencyPolicy | None:
        """The policy a call runs under: context (or default), narrowed by any bound policy.

        Args:
            context: The agent's runtime context (``runtime.context``), or None.
            config: The running chain's config; its ``cris_policy`` is the outer ceiling.

        Returns:
            The effective policy, or None when neither the context, the middleware nor the
            config names one.

        Raises:
            PolicyError: the context names an unreadable policy.
            PolicyConflictError: the context's policy and the bound one share no Region.
        """
        own = self._own_policy(context)
        bound = policy_in_force(config)
        if own is None or bound is None:
            return own or bound
        return _narrow(bound, own)

    def _own_policy(self, context: Any) -> ResidencyPolicy | None:
        spec: Any = None
        where = ""
        if self.policy_from_context is not None:
            spec, where = self.policy_from_context(context), "policy_from_context(context)"
        elif self.context_key is not None and context is not None:
            spec, where = _lookup(context, self.context_key), f"context {self.context_key!r}"
        if spec is None:
            return self.policy
        try:
            return parse_policy(spec)
        except PolicyError as exc:
            raise PolicyError(f"the agent's {where} names no usable policy: {exc}") from exc

    # -- the model -----------------------------------------------------------------------------
    def routable_model(self, model: BaseChatModel) -> BaseChatModel:
        """The model to call: ChatBedrockCRIS as is, ChatBedrockConverse converted (cached).

        Raises:
            UnroutableModelError: any other model, unless ``allow_non_bedrock``.
        """
        if isinstance(model, ChatBedrockCRIS):
            return model
        if isinstance(model, ChatBedrockConverse):
            return self._convert(model)
        if self.allow_non_bedrock:
            return model
        raise UnroutableModelError(type(model).__name__)

    def _convert(self, model: ChatBedrockConverse) -> ChatBedrockCRIS:
        return converted(model)

    def _prepare(
        self, request: ModelRequest[Any]
    ) -> tuple[ModelRequest[Any], ResidencyPolicy | None]:
        model = self.routable_model(request.model)
        if model is not request.model:
            request = request.override(model=model)
        context = request.runtime.context if request.runtime is not None else None
        return request, self.policy_for(context, ensure_config())

    # -- hooks ----------------------------------------------------------------------------------
    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelCallResult[Any]:
        """Route the model call under the invocation's policy (refusals raise before sending)."""
        request, policy = self._prepare(request)
        if policy is None:
            return handler(request)
        with _policy_in_context(policy, self.allow_non_bedrock):
            return handler(request)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelCallResult[Any]:
        """Async twin of :meth:`wrap_model_call` (the context variable follows the task)."""
        request, policy = self._prepare(request)
        if policy is None:
            return await handler(request)
        with _policy_in_context(policy, self.allow_non_bedrock):
            return await handler(request)

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], _ToolResult],
    ) -> _ToolResult:
        """Run the tool with the invocation's policy in its config (sub-chains inherit it)."""
        with self._tool_policy(request):
            return handler(request)

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[_ToolResult]],
    ) -> _ToolResult:
        """Async twin of :meth:`wrap_tool_call`."""
        with self._tool_policy(request):
            return await handler(request)

    @contextmanager
    def _tool_policy(self, request: ToolCallRequest) -> Iterator[None]:
        runtime = request.runtime
        config: Any = getattr(runtime, "config", None)
        if not isinstance(config, dict):
            yield
            return
        policy = self.policy_for(getattr(runtime, "context", None), config)
        if policy is None:
            yield
            return
        # ToolNode passes this per-call config dict to tool.invoke explicitly (overriding the
        # context variable), so the policy has to go into it; the old metadata is restored.
        previous = config.get("metadata")
        config["metadata"] = {**(previous or {}), **residency_metadata(policy)}
        try:
            with residency_scope(
                policy, allow_non_bedrock=self.allow_non_bedrock, where="ResidencyMiddleware"
            ):
                yield
        finally:
            config["metadata"] = previous


@lru_cache(maxsize=256)
def _narrow(bound: ResidencyPolicy, own: ResidencyPolicy) -> ResidencyPolicy:
    """``bound`` combined with ``own``; ``bound`` itself when ``own`` narrows nothing."""
    combined = bound.combine(own)
    return bound if combined.digest == bound.digest else combined


def _lookup(context: Any, key: str) -> Any:
    if isinstance(context, Mapping):
        return context.get(key)
    return getattr(context, key, None)


@contextmanager
def _policy_in_context(policy: ResidencyPolicy, allow_non_bedrock: bool) -> Iterator[None]:
    """Make ``policy`` the config metadata, and the ceiling, of everything called inside.

    The metadata reaches the model call (and the callback handler); the ceiling (a residency
    scope) also reaches calls made inside with a config of their own (another middleware's
    own model call) and refuses models no policy can route, unless ``allow_non_bedrock``.
    """
    config = ensure_config()
    config["metadata"] = {**config.get("metadata", {}), **residency_metadata(policy)}
    token = var_child_runnable_config.set(config)
    try:
        with residency_scope(
            policy, allow_non_bedrock=allow_non_bedrock, where="ResidencyMiddleware"
        ):
            yield
    finally:
        var_child_runnable_config.reset(token)
