"""Per-call kwargs that would change what is routed, judged by the key langchain-aws sends.

langchain-aws turns every per-call (and ``.bind``) kwarg into a Converse parameter with
``_snake_to_camel``: ``model_ID``, ``model__id`` and ``model_id_`` all become ``modelId`` and
would replace the routed id on the wire. So keys are normalised the same way before anything
is sent:

* ``model``, ``model_id``, ``modelId``: a model override, routed under the policy exactly like
  the constructor's model (the langchain-tests contract, ``supports_model_override``);
* any other key that becomes ``modelId`` (or ``model``), several overrides with different
  values, or a value that is not a non-empty string: refused with ``ModelOverrideError``
  (fail closed: an id in an unusual spelling is more likely a mistake or an attempt to get
  past the check than a wish to be routed);
* keys that become ``requestMetadata``: the user's Converse ``requestMetadata``, merged under
  ours (the package's keys win), in any spelling.

Everything else is left to langchain-aws.
"""

from __future__ import annotations

from typing import Any

from langchain_aws.chat_models.bedrock_converse import _snake_to_camel

from langchain_cris.errors import ModelOverrideError

__all__ = ["CANONICAL_MODEL_KEYS", "pop_routing_kwargs", "requested_model"]

#: Spellings honoured as a per-call model override.
CANONICAL_MODEL_KEYS = frozenset({"model", "model_id", "modelId"})
_MODEL_TARGETS = frozenset({"modelId", "model"})


def _target(key: str) -> str:
    return _snake_to_camel(key) if isinstance(key, str) else key


def requested_model(kwargs: dict[str, Any]) -> str | None:
    """The per-call model override in ``kwargs`` (not removed), or None.

    Raises:
        ModelOverrideError: an override in a refused spelling, conflicting overrides, or a
            non-string value.
    """
    found: str | None = None
    for key, value in kwargs.items():
        if _target(key) not in _MODEL_TARGETS:
            continue
        if key not in CANONICAL_MODEL_KEYS:
            raise ModelOverrideError(key, value, f"would reach Converse as {_target(key)}")
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ModelOverrideError(key, value, "is not a model id")
        if found is not None and value != found:
            raise ModelOverrideError(key, value, f"disagrees with another override {found!r}")
        found = value
    return found


def pop_routing_kwargs(kwargs: dict[str, Any]) -> tuple[str | None, dict[str, str] | None]:
    """Remove model overrides and ``requestMetadata`` (any spelling) from ``kwargs``.

    Returns:
        ``(model override or None, the user's requestMetadata or None)``.

    Raises:
        ModelOverrideError: see :func:`requested_model` (nothing is removed then).
    """
    model = requested_model(kwargs)
    user_rm: dict[str, str] | None = None
    for key in list(kwargs):
        target = _target(key)
        if target in _MODEL_TARGETS:
            del kwargs[key]
        elif target == "requestMetadata":
            value = kwargs.pop(key)
            if value:
                user_rm = {**(user_rm or {}), **value}
    return model, user_rm
