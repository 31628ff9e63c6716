"""Converse / ConverseStream wire shapes: request validation, response body, stream events.

Validation mirrors the checks Bedrock itself makes (and their wording) for the cases clients hit
in practice: a conversation that does not start with a user turn or does not alternate, empty
content, blank text, tool blocks without ``toolConfig``, ``maxTokens`` beyond the model's limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from langchain_cris.emulator.aws_errors import validation
from langchain_cris.emulator.model import (
    Reply,
    TextBlock,
    ToolUse,
    count_tokens,
    max_output_tokens,
    split_for_stream,
)

__all__ = ["converse_body", "stream_events", "validate_converse"]

_START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts "
    "with a user message."
)
_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation "
    "alternates between user and assistant roles and try again."
)


def _constraint(value: Any, path: str, constraint: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: "
        f"{constraint}"
    )


def validate_converse(request: Mapping[str, Any], *, model_id: str) -> None:
    """Raise ValidationException where Bedrock would reject ``request``."""
    messages = request.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        raise validation(_START_WITH_USER)
    uses_tools = False
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise validation(
                _constraint(
                    role,
                    f"messages.{i}.member.role",
                    "Member must satisfy enum value set: [user, assistant]",
                )
            )
        if i and role == messages[i - 1].get("role"):
            raise validation(_ALTERNATE)
        content = message.get("content") or []
        if not content:
            raise validation(
                f"The content field in the Message object at messages.{i} is empty. Add a "
                "ContentBlock object to the content field and try again."
            )
        for j, block in enumerate(content):
            if "text" in block and not str(block["text"]).strip():
                raise validation(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is "
                    "blank. Add text to the text field, and try again."
                )
            uses_tools = uses_tools or "toolUse" in block or "toolResult" in block
    if uses_tools and not request.get("toolConfig"):
        raise validation(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    config = request.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens")
    if max_tokens is not None:
        limit = max_output_tokens(model_id)
        if int(max_tokens) < 1:
            raise validation(
                _constraint(
                    max_tokens,
                    "inferenceConfig.maxTokens",
                    "Member must have value greater than or equal to 1",
                )
            )
        if int(max_tokens) > limit:
            raise validation(
                f"The maximum tokens you requested exceeds the model limit of {limit}. Try again "
                f"with a maximum tokens value that is lower than {limit}."
            )
    temperature = config.get("temperature")
    if temperature is not None and not 0 <= float(temperature) <= 1:
        raise validation(
            _constraint(
                temperature,
                "inferenceConfig.temperature",
                "Member must have value less than or equal to 1",
            )
        )


def _content(reply: Reply) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in reply.blocks:
        if isinstance(block, TextBlock):
            out.append({"text": block.text})
        else:
            out.append(
                {
                    "toolUse": {
                        "toolUseId": block.tool_use_id,
                        "name": block.name,
                        "input": block.input,
                    }
                }
            )
    return out


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "inputTokens": reply.input_tokens,
        "outputTokens": reply.output_tokens,
        "totalTokens": reply.total_tokens,
    }


def converse_body(reply: Reply, latency_ms: int) -> dict[str, Any]:
    """The ConverseResponse (output, stopReason, usage, metrics); nothing names a Region."""
    return {
        "output": {"message": {"role": "assistant", "content": _content(reply)}},
        "stopReason": reply.stop_reason,
        "usage": _usage(reply),
        "metrics": {"latencyMs": latency_ms},
    }


def stream_events(reply: Reply, latency_ms: int) -> Iterator[tuple[str, dict[str, Any], int]]:
    """ConverseStream events as ``(event type, payload, output tokens it carries)``.

    Text blocks get no ``contentBlockStart`` (as Bedrock sends them); tool blocks announce id
    and name in ``contentBlockStart`` and stream their input as a JSON string.
    """
    yield "messageStart", {"role": "assistant"}, 0
    for index, block in enumerate(reply.blocks):
        if isinstance(block, ToolUse):
            start = {"toolUse": {"toolUseId": block.tool_use_id, "name": block.name}}
            yield "contentBlockStart", {"start": start, "contentBlockIndex": index}, 0
            raw = json.dumps(block.input, ensure_ascii=False)
            for piece in _json_pieces(raw):
                delta = {"toolUse": {"input": piece}}
                yield "contentBlockDelta", {"delta": delta, "contentBlockIndex": index}, 0
        else:
            for piece in split_for_stream(block.text) or [""]:
                payload = {"delta": {"text": piece}, "contentBlockIndex": index}
                yield "contentBlockDelta", payload, count_tokens(piece)
        yield "contentBlockStop", {"contentBlockIndex": index}, 0
    yield "messageStop", {"stopReason": reply.stop_reason}, 0
    yield "metadata", {"usage": _usage(reply), "metrics": {"latencyMs": latency_ms}}, 0


def _json_pieces(raw: str, size: int = 16) -> list[str]:
    return [raw[i : i + size] for i in range(0, len(raw), size)] or ["{}"]
