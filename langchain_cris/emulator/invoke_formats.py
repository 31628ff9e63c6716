"""InvokeModel bodies of the model families the emulator serves, in and out.

Text families are translated into the Converse shape the deterministic model reads, and its
:class:`~langchain_cris.emulator.model.Reply` back into the family's native response, so
InvokeModel and Converse answer identically. Embedding families are answered directly.

Malformed bodies get AWS's schema-validation wording ("Malformed input request: …").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from langchain_cris.emulator.aws_errors import AwsError, validation
from langchain_cris.emulator.model import Reply, TextBlock, ToolUse, count_tokens, embed

__all__ = ["Family", "family_of", "from_converse_reply", "to_converse_request", "embed_response"]

Family = Literal["anthropic", "nova", "llama", "titan-text", "titan-embed", "cohere-embed"]

_TITAN_DIMENSIONS = (256, 512, 1024)
_STOP_REASONS = {
    "anthropic": {"end_turn": "end_turn", "max_tokens": "max_tokens", "tool_use": "tool_use"},
    "llama": {"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop"},
    "titan-text": {"end_turn": "FINISH", "max_tokens": "LENGTH", "stop_sequence": "FINISH"},
}


def family_of(model_id: str) -> Family | None:
    """The body format of base model ``model_id`` (``None`` = not served by InvokeModel here)."""
    if "titan-embed-text" in model_id:
        return "titan-embed"
    if "cohere.embed" in model_id:
        return "cohere-embed"
    if model_id.startswith("anthropic."):
        return "anthropic"
    if model_id.startswith("amazon.nova"):
        return "nova"
    if model_id.startswith("meta.llama"):
        return "llama"
    if model_id.startswith("amazon.titan-text"):
        return "titan-text"
    return None


def _malformed(detail: str) -> AwsError:
    return validation(
        f"Malformed input request: {detail}, please reformat your input and try again."
    )


def _require(body: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        if key not in body:
            raise _malformed(f"#: required key [{key}] not found")


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise _malformed("#: expected type: JSONObject, found: String") from exc
    if not isinstance(body, dict):
        raise _malformed("#: expected type: JSONObject")
    return body


# -- text families ---------------------------------------------------------------------------
def _anthropic_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    blocks: list[dict[str, Any]] = []
    for block in content or []:
        kind = block.get("type")
        if kind == "text":
            blocks.append({"text": block.get("text", "")})
        elif kind == "tool_use":
            blocks.append(
                {
                    "toolUse": {
                        "toolUseId": block["id"],
                        "name": block["name"],
                        "input": block["input"],
                    }
                }
            )
        elif kind == "tool_result":
            inner = block.get("content", "")
            blocks.append(
                {
                    "toolResult": {
                        "toolUseId": block.get("tool_use_id", ""),
                        "content": _anthropic_blocks(inner),
                        **({"status": "error"} if block.get("is_error") else {}),
                    }
                }
            )
        elif kind == "image":
            data = (block.get("source") or {}).get("data", "")
            blocks.append({"image": {"format": "png", "source": {"bytes": data}}})
    return blocks


def to_converse_request(family: Family, body: Mapping[str, Any]) -> dict[str, Any]:
    """A Converse-shaped request equivalent to the native ``body``."""
    if family == "anthropic":
        _require(body, "anthropic_version", "max_tokens", "messages")
        system = body.get("system")
        system_blocks = (
            [{"text": system}] if isinstance(system, str) else _anthropic_blocks(system or [])
        )
        request: dict[str, Any] = {
            "messages": [
                {"role": m.get("role"), "content": _anthropic_blocks(m.get("content"))}
                for m in body["messages"]
            ],
            "system": system_blocks,
            "inferenceConfig": {
                "maxTokens": body["max_tokens"],
                "stopSequences": body.get("stop_sequences") or [],
            },
        }
        if body.get("tools"):
            choice = body.get("tool_choice") or {"type": "auto"}
            kind = choice.get("type", "auto")
            request["toolConfig"] = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": t["name"],
                            "description": t.get("description", ""),
                            "inputSchema": {"json": t.get("input_schema", {})},
                        }
                    }
                    for t in body["tools"]
                ],
                "toolChoice": {"tool": {"name": choice.get("name")}}
                if kind == "tool"
                else {kind: {}},
            }
        return request
    if family == "nova":
        _require(body, "messages")
        return {
            "messages": body["messages"],
            "system": body.get("system") or [],
            "inferenceConfig": {
                "maxTokens": (body.get("inferenceConfig") or {}).get("maxTokens")
                or (body.get("inferenceConfig") or {}).get("max_new_tokens"),
                "stopSequences": (body.get("inferenceConfig") or {}).get("stopSequences") or [],
            },
            "toolConfig": body.get("toolConfig"),
        }
    if family == "llama":
        _require(body, "prompt")
        return {
            "messages": [{"role": "user", "content": [{"text": str(body["prompt"])}]}],
            "inferenceConfig": {"maxTokens": body.get("max_gen_len")},
        }
    if family == "titan-text":
        _require(body, "inputText")
        config = body.get("textGenerationConfig") or {}
        return {
            "messages": [{"role": "user", "content": [{"text": str(body["inputText"])}]}],
            "inferenceConfig": {
                "maxTokens": config.get("maxTokenCount"),
                "stopSequences": config.get("stopSequences") or [],
            },
        }
    raise AssertionError(f"{family} is not a text family")


def from_converse_reply(family: Family, reply: Reply, *, model_id: str) -> dict[str, Any]:
    """The native response body for ``reply``."""
    text = reply.text()
    if family == "anthropic":
        content: list[dict[str, Any]] = []
        for block in reply.blocks:
            if isinstance(block, TextBlock):
                content.append({"type": "text", "text": block.text})
            elif isinstance(block, ToolUse):
                content.append(
                    {
                        "type": "tool_use",
                        "id": block.tool_use_id,
                        "name": block.name,
                        "input": block.input,
                    }
                )
        return {
            "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model_id.split(".", 1)[-1].rsplit("-v", 1)[0],
            "content": content,
            "stop_reason": _STOP_REASONS["anthropic"].get(reply.stop_reason, reply.stop_reason),
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }
    if family == "nova":
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": reply.stop_reason,
            "usage": {
                "inputTokens": reply.input_tokens,
                "outputTokens": reply.output_tokens,
                "totalTokens": reply.total_tokens,
            },
        }
    if family == "llama":
        return {
            "generation": text,
            "prompt_token_count": reply.input_tokens,
            "generation_token_count": reply.output_tokens,
            "stop_reason": _STOP_REASONS["llama"].get(reply.stop_reason, "stop"),
        }
    return {
        "inputTextTokenCount": reply.input_tokens,
        "results": [
            {
                "tokenCount": reply.output_tokens,
                "outputText": text,
                "completionReason": _STOP_REASONS["titan-text"].get(reply.stop_reason, "FINISH"),
            }
        ],
    }


# -- embeddings ------------------------------------------------------------------------------
def embed_response(family: Family, body: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The embedding response and its input token count."""
    if family == "titan-embed":
        _require(body, "inputText")
        dims = body.get("dimensions", 1024)
        if dims not in _TITAN_DIMENSIONS:
            raise _malformed(f"#/dimensions: {dims} is not a valid enum value")
        text = str(body["inputText"])
        vector = embed(text, int(dims), normalize=bool(body.get("normalize", True)))
        tokens = count_tokens(text)
        return {
            "embedding": vector,
            "embeddingsByType": {"float": vector},
            "inputTextTokenCount": tokens,
        }, tokens
    _require(body, "input_type")
    texts = [str(t) for t in body.get("texts") or []]
    if not texts:
        raise _malformed("#: required key [texts] not found")
    dims = int(body.get("output_dimension", 1536))
    vectors = [embed(t, dims) for t in texts]
    tokens = sum(count_tokens(t) for t in texts)
    return {
        "id": str(uuid.uuid4()),
        "embeddings": {"float": vectors},
        "texts": texts,
        "response_type": "embeddings_by_type",
    }, tokens
