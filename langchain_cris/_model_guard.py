"""Refuse chat models and LLMs that no residency policy can route, wherever a policy is in force.

Inside ``with_residency`` (and inside the model and tool calls ``ResidencyMiddleware`` wraps),
a Bedrock Converse model is routed: ``ChatBedrockCRIS`` routes itself, a plain
``ChatBedrockConverse`` is routed by the package (see ``_plain_bedrock``). Every other model,
another provider, a legacy ``ChatBedrock`` (InvokeModel), an LLM, would send the prompt
somewhere the policy cannot see, so it is refused before it runs, unless the binding says
``allow_non_bedrock=True``.

How: a callback handler (``raise_error=True``, run inline) is published in a context variable
registered with LangChain's ``register_configure_hook``, so every callback manager configured
while it is set (every run in the scope, including calls that pass their own ``callbacks``)
carries it; ``on_chat_model_start`` / ``on_llm_start`` fire before the model is called and
identify it by its ``_type`` in the invocation params.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from langchain_cris.errors import UnroutableModelError

__all__ = [
    "ROUTED_MODEL_TYPES",
    "ModelGuard",
    "current_model_guard",
    "model_guard_var",
    "release_started_run",
]

#: ``_llm_type`` of the models the package routes (``ChatBedrockCRIS``, ``ChatBedrockConverse``).
ROUTED_MODEL_TYPES = frozenset(
    {"amazon_bedrock_converse_cris_chat", "amazon_bedrock_converse_chat"}
)


class ModelGuard(BaseCallbackHandler):
    """Raises :class:`UnroutableModelError` when an unroutable model starts (unless allowed)."""

    raise_error = True
    run_inline = True
    # Plain attributes, not BaseCallbackHandler's properties: langchain-core reads one per
    # event of every run in the scope. Model starts only; nothing to do for the rest.
    ignore_llm = False  # on_llm_start: an LLM starting
    ignore_chat_model = False
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    def __init__(self, *, allow_non_bedrock: bool, where: str) -> None:
        self.allow_non_bedrock = allow_non_bedrock
        self.where = where

    def __repr__(self) -> str:
        return f"ModelGuard(allow_non_bedrock={self.allow_non_bedrock}, where={self.where!r})"

    def narrowed(self, *, allow_non_bedrock: bool, where: str) -> ModelGuard:
        """The guard of a scope nested in this one: strictest wins."""
        if self.allow_non_bedrock and not allow_non_bedrock:
            return ModelGuard(allow_non_bedrock=False, where=where)
        return self

    def _check(self, serialized: Any, invocation_params: Any) -> None:
        if self.allow_non_bedrock:
            return
        params = invocation_params if isinstance(invocation_params, dict) else {}
        if params.get("_type") in ROUTED_MODEL_TYPES:
            return
        ident = serialized.get("id") if isinstance(serialized, dict) else None
        name = ident[-1] if isinstance(ident, list) and ident else str(params.get("_type"))
        raise UnroutableModelError(str(name), self.where)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._check(serialized, kwargs.get("invocation_params"))

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._check(serialized, kwargs.get("invocation_params"))


model_guard_var: ContextVar[ModelGuard | None] = ContextVar(
    "langchain_cris_model_guard", default=None
)
register_configure_hook(model_guard_var, inheritable=True)


def current_model_guard() -> ModelGuard | None:
    """The guard of the innermost residency scope, if any."""
    return model_guard_var.get()


def release_started_run(run_manager: Any) -> None:
    """Take the scope's guards off the handlers of a routed model's run that has started.

    A guard acts on a run's start event only; the run's later events (tokens, end, error)
    are no-ops for it, yet langchain-core dispatches each of them to every handler (issue
    #20: a few µs per event). Only this run manager's own ``handlers`` list is replaced: its
    ``inheritable_handlers`` and every other manager keep the guard, and the guard stays
    published in its context variable, so a model started by any handler during the rest of
    the run is configured with it and refused as before.
    """
    handlers = getattr(run_manager, "handlers", None)
    if handlers and any(type(h) is ModelGuard for h in handlers):
        run_manager.handlers = [h for h in handlers if type(h) is not ModelGuard]
