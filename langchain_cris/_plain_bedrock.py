"""Plain ``ChatBedrockConverse`` models are routed too, wherever a residency policy is in force.

A ``with_residency`` binding (or an agent under ``ResidencyMiddleware``) can reach a plain
``ChatBedrockConverse`` the package never sees being built: a ``with_fallbacks`` target, a
``configurable_alternatives`` branch, the model of another agent middleware. The choice made
here (fail closed, and as the middleware does for the agent's own model): such a call is
*routed*, i.e. sent by an equivalent ``ChatBedrockCRIS`` (same id, Region, endpoint,
credentials, settings; :func:`to_cris_model`) under the policy in force, so it is resolved,
checked, refused before sending if nothing complies, and guarded on the wire. Outside any
policy a plain model is left exactly as it is.

The same holds for plain ``BedrockEmbeddings`` (e.g. a vector store's embeddings inside a
bound retriever): under a policy in force, ``_invoke_model`` (every embeddings call goes
through it) is sent by an equivalent ``BedrockEmbeddingsCRIS``.

How: on import, ``ChatBedrockConverse._generate``, ``_stream`` and
``get_num_tokens_from_messages`` are wrapped (once; ``ChatBedrockCRIS`` and its delegates go
straight through). A wrapped call asks :func:`~langchain_cris.binding.policy_in_force` (the run's
metadata, the inherited config, the agent's context, the binding's ceiling); only when it
names a policy is the call handed to the converted model. Async calls of a plain model run
``_generate`` / ``_stream`` in LangChain's executor, which copies the context, so they are
covered by the same two wrappers.

Clients: the converted model builds its own clients (guarded) from the same settings, unless
the plain model was given a ``client=`` explicitly; that client stays the user's and gets the
*lenient* wire guard, which checks only the requests the package sends through it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from langchain_aws import BedrockEmbeddings, ChatBedrockConverse
from langchain_core.runnables import ensure_config

from langchain_cris.binding import policy_in_force
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.embeddings import BedrockEmbeddingsCRIS
from langchain_cris.transport.guard import guard_client

__all__ = ["converted", "install", "to_cris_embeddings", "to_cris_model"]

_CACHE_SIZE = 64
_cache: OrderedDict[int, tuple[ChatBedrockConverse, ChatBedrockCRIS]] = OrderedDict()
_lock = threading.Lock()
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def to_cris_model(model: ChatBedrockConverse) -> ChatBedrockCRIS:
    """An equivalent ``ChatBedrockCRIS`` of a ``ChatBedrockConverse`` (no network call).

    Every field is carried over (model id, Region, endpoint, credentials, botocore config,
    inference settings, guardrails, callbacks), so only the routing is added. Clients are
    carried over only if the user passed them (``client=`` / ``bedrock_client=``); a carried
    runtime client gets the lenient wire guard (it stays usable for the user's own calls).
    """
    if isinstance(model, ChatBedrockCRIS):
        return model
    given = model.model_fields_set
    # Unset (None) fields are left out: langchain-aws's validators read "absent", not None.
    fields = {
        name: value
        for name in ChatBedrockConverse.model_fields
        if (value := getattr(model, name)) is not None
        and (name not in ("client", "bedrock_client") or name in given)
    }
    if "client" in fields:
        guard_client(fields["client"], strict=False)
    return ChatBedrockCRIS(**fields)


def converted(model: ChatBedrockConverse) -> ChatBedrockCRIS:
    """:func:`to_cris_model`, cached per model object (the cache holds the source model)."""
    key = id(model)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is model:
            _cache.move_to_end(key)
            return hit[1]
    cris = to_cris_model(model)
    with _lock:
        _cache[key] = (model, cris)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return cris


def _routed(model: Any, run_manager: Any) -> ChatBedrockCRIS | None:
    if isinstance(model, ChatBedrockCRIS):
        return None
    metadata = getattr(run_manager, "metadata", None)
    config = {"metadata": metadata} if metadata else None
    if policy_in_force(config) is None:
        return None
    return converted(model)


def _generate(
    self: Any, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
) -> Any:
    cris = _routed(self, run_manager)
    if cris is None:
        return _ORIGINAL["_generate"](self, messages, stop, run_manager, **kwargs)
    return cris._generate(messages, stop, run_manager, **kwargs)


def _stream(
    self: Any, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
) -> Iterator[Any]:
    cris = _routed(self, run_manager)
    if cris is None:
        return _ORIGINAL["_stream"](self, messages, stop, run_manager, **kwargs)
    return cris._stream(messages, stop, run_manager, **kwargs)


_emb_cache: OrderedDict[int, tuple[BedrockEmbeddings, BedrockEmbeddingsCRIS]] = OrderedDict()


def to_cris_embeddings(embeddings: BedrockEmbeddings) -> BedrockEmbeddingsCRIS:
    """An equivalent ``BedrockEmbeddingsCRIS`` (the client carried over only if user-given)."""
    if isinstance(embeddings, BedrockEmbeddingsCRIS):
        return embeddings
    given = embeddings.model_fields_set
    fields = {
        name: value
        for name in BedrockEmbeddings.model_fields
        if (value := getattr(embeddings, name)) is not None and (name != "client" or name in given)
    }
    if "client" in fields:
        guard_client(fields["client"], strict=False)
    return BedrockEmbeddingsCRIS(**fields)


def _invoke_model(self: Any, input_body: Any = None) -> Any:
    body = {} if input_body is None else input_body
    if isinstance(self, BedrockEmbeddingsCRIS) or policy_in_force(ensure_config()) is None:
        return _ORIGINAL["_invoke_model"](self, body)
    key = id(self)
    with _lock:
        hit = _emb_cache.get(key)
    if hit is None or hit[0] is not self:
        hit = (self, to_cris_embeddings(self))
        with _lock:
            _emb_cache[key] = hit
            while len(_emb_cache) > _CACHE_SIZE:
                _emb_cache.popitem(last=False)
    return hit[1]._invoke_model(body)


def _get_num_tokens_from_messages(self: Any, messages: Any, tools: Any = None) -> int:
    cris = _routed(self, None)
    if cris is None:
        return _ORIGINAL["get_num_tokens_from_messages"](self, messages, tools)
    return cris.get_num_tokens_from_messages(messages, tools)


def install() -> None:
    """Wrap ``ChatBedrockConverse``'s and ``BedrockEmbeddings``' send methods (idempotent)."""
    with _lock:
        if _ORIGINAL:
            return
        for name, wrapper in (
            ("_generate", _generate),
            ("_stream", _stream),
            ("get_num_tokens_from_messages", _get_num_tokens_from_messages),
        ):
            _ORIGINAL[name] = getattr(ChatBedrockConverse, name)
            wrapper.__doc__ = _ORIGINAL[name].__doc__
            setattr(ChatBedrockConverse, name, wrapper)
        _ORIGINAL["_invoke_model"] = BedrockEmbeddings._invoke_model
        _invoke_model.__doc__ = BedrockEmbeddings._invoke_model.__doc__
        BedrockEmbeddings._invoke_model = _invoke_model  # type: ignore[method-assign]


install()
