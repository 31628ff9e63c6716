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

Metadata is merged key by key with the inner value winning, so a plain inner
``metadata={"cris_policy": "global"}`` would replace an outer policy. ``with_residency`` does
not rely on that merge: it reads the policy already in force and combines it with its own
(``ResidencyPolicy.combine``), so an inner binding can only narrow an outer one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig

from langchain_cris.errors import PolicyError
from langchain_cris.policy import ResidencyPolicy

__all__ = [
    "POLICY_DIGEST_KEY",
    "POLICY_KEY",
    "POLICY_NAME_KEY",
    "PolicySpec",
    "parse_policy",
    "policy_from_config",
    "policy_spec_from_config",
    "residency_metadata",
    "with_residency",
]

POLICY_KEY = "cris_policy"
POLICY_NAME_KEY = "cris_policy_name"
POLICY_DIGEST_KEY = "cris_policy_digest"

#: What may stand for a policy in config: an object, a preset name or file path, or a dict.
PolicySpec = ResidencyPolicy | str | os.PathLike[str] | Mapping[str, Any]


def parse_policy(spec: PolicySpec) -> ResidencyPolicy:
    """Turn any accepted form of a policy into a ``ResidencyPolicy`` (cached by content).

    Raises:
        PolicyError: the preset is unknown, the file unreadable, or the dict invalid; the
            message names the valid choices.
    """
    if isinstance(spec, ResidencyPolicy):
        return spec
    if isinstance(spec, str | os.PathLike):
        return _load_cached(os.fspath(spec))
    if isinstance(spec, Mapping):
        # Bindings hand the same dict object down every call: an identity hit skips hashing.
        hit = _BY_IDENTITY.get(id(spec))
        if hit is not None and hit[0] is spec:
            return hit[1]
        try:
            key = json.dumps(spec, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"cris_policy dict is not JSON-ready: {exc}") from exc
        policy = _from_dict_cached(key)
        if len(_BY_IDENTITY) >= 512:
            _BY_IDENTITY.clear()
        _BY_IDENTITY[id(spec)] = (spec, policy)  # holds ``spec``, so its id is not reused
        return policy
    raise PolicyError(
        f"cris_policy must be a ResidencyPolicy, a preset name, a policy file path or a dict "
        f"from ResidencyPolicy.to_dict(); got {type(spec).__name__}"
    )


_BY_IDENTITY: dict[int, tuple[Mapping[str, Any], ResidencyPolicy]] = {}


def _json_default(value: Any) -> Any:
    if isinstance(value, frozenset | set | tuple):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


@lru_cache(maxsize=256)
def _load_cached(text: str) -> ResidencyPolicy:
    return ResidencyPolicy.load(text)


@lru_cache(maxsize=256)
def _from_dict_cached(key: str) -> ResidencyPolicy:
    return ResidencyPolicy.from_dict(json.loads(key), origin="cris_policy in RunnableConfig")


def policy_spec_from_config(config: RunnableConfig | Mapping[str, Any] | None) -> Any:
    """The raw policy value in ``config`` (metadata first, then configurable), or None."""
    if not config:
        return None
    metadata = config.get("metadata")
    if metadata:
        spec = metadata.get(POLICY_KEY)
        if spec is not None:
            return spec
    configurable = config.get("configurable")
    if configurable:
        return configurable.get(POLICY_KEY)
    return None


def policy_from_config(config: RunnableConfig | Mapping[str, Any] | None) -> ResidencyPolicy | None:
    """The residency policy carried by ``config``, or None when it carries none.

    This is the one reader of the config contract; the chat model, the callback handler and
    the agent middleware all go through it.

    Raises:
        PolicyError: the config names a policy that cannot be read.
    """
    spec = policy_spec_from_config(config)
    return None if spec is None else parse_policy(spec)


@lru_cache(maxsize=256)
def residency_metadata(policy: ResidencyPolicy) -> Mapping[str, Any]:
    """The config metadata that carries ``policy`` (cached; treat the result as read-only)."""
    return {
        POLICY_KEY: policy.to_dict(),
        POLICY_NAME_KEY: policy.name,
        POLICY_DIGEST_KEY: policy.digest,
    }


@lru_cache(maxsize=256)
def _combine(outer: ResidencyPolicy, inner: ResidencyPolicy) -> ResidencyPolicy:
    return outer.combine(inner)


class _ResidencyConfig:
    """Config factory of one binding: the policy in force, narrowed by this binding's policy."""

    __slots__ = ("policy",)

    def __init__(self, policy: ResidencyPolicy) -> None:
        self.policy = policy

    def __call__(self, config: RunnableConfig) -> RunnableConfig:
        outer = policy_from_config(config)
        effective = self.policy if outer is None else _combine(outer, self.policy)
        return {"metadata": dict(residency_metadata(effective))}

    def __repr__(self) -> str:
        return f"with_residency({self.policy.name!r})"


def with_residency(
    runnable: Runnable[Any, Any], policy: ResidencyPolicy | str | os.PathLike[str]
) -> Runnable[Any, Any]:
    """Bind ``policy`` to ``runnable`` and everything it calls.

    Every ``ChatBedrockCRIS`` reached by the runnable (directly, in parallel branches, in
    LangGraph nodes, agents, or tools that call sub-chains) routes its calls under the policy.
    Works for invoke/ainvoke/stream/astream/batch/abatch/astream_events. Bindings nest:
    the effective policy is the strictest combination of all enclosing ones.

    Args:
        runnable: Any LangChain runnable (chain, graph, agent, model, retriever pipeline).
        policy: A ``ResidencyPolicy``, a preset name (``"eu"``) or a policy file path.

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
    return RunnableBinding(bound=runnable, config_factories=[_ResidencyConfig(resolved)])
