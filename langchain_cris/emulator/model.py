"""The deterministic model behind every simulated Region.

Replies depend only on the request, so a Converse and a ConverseStream call with the same body
produce the same text, tool calls and token counts. The model

* answers text with a short echo of the last user turn (mentioning the system prompt, images and
  documents it received), cut at ``maxTokens`` (``max_tokens``) or a stop sequence
  (``stop_sequence``);
* calls a tool when ``toolChoice`` is ``any``/``tool``, or ``auto`` and the message mentions the
  tool, with arguments valid for the tool's schema (see :mod:`.schema_args`);
* after a ``toolResult`` turn, answers in text quoting the result;
* follows ``outputConfig.textFormat`` JSON schemas with schema-valid JSON text;
* embeds text with a hashed bag of words, so texts sharing words are close.

The tokenizer (words and punctuation marks) is deliberately simple; it is the single source of
every token count the emulator reports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_cris.emulator.schema_args import generate_arguments

__all__ = [
    "Reply",
    "TextBlock",
    "ToolUse",
    "count_tokens",
    "embed",
    "generate",
    "max_output_tokens",
    "split_for_stream",
]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_GENERIC_WORDS = frozenset({"tool", "tools", "function", "get", "set", "make", "run", "call"})
_SNIPPET_CHARS = 160


def tokens(text: str) -> list[re.Match[str]]:
    return list(_TOKEN.finditer(text))


def count_tokens(text: str) -> int:
    """Number of tokens in ``text``: words and punctuation marks."""
    return sum(1 for _ in _TOKEN.finditer(text))


def max_output_tokens(model_id: str) -> int:
    """The model's output limit (AWS rejects larger ``maxTokens`` with ValidationException)."""
    if "anthropic" in model_id:
        return 64000
    if "nova" in model_id:
        return 10000
    if "llama" in model_id or "titan-text" in model_id:
        return 8192
    return 4096


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ToolUse:
    tool_use_id: str
    name: str
    input: Any


@dataclass
class Reply:
    """What the model produced, before any wire encoding."""

    blocks: list[TextBlock | ToolUse] = field(default_factory=list)
    stop_reason: str = "end_turn"
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def text(self) -> str:
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))


# -- reading the request ---------------------------------------------------------------------
def _block_text(block: Mapping[str, Any]) -> str:
    if "text" in block and isinstance(block["text"], str):
        return block["text"]
    if "json" in block:
        return json.dumps(block["json"], ensure_ascii=False)
    return ""


def _tool_result_text(block: Mapping[str, Any]) -> str:
    return " ".join(_block_text(c) for c in block.get("content", []) if isinstance(c, Mapping))


def _binary_len(source: Any) -> int:
    if isinstance(source, Mapping):
        raw = source.get("bytes")
        if isinstance(raw, str):
            return len(raw) * 3 // 4
    return 0


def count_input_tokens(request: Mapping[str, Any]) -> int:
    """Deterministic input token count of a Converse-shaped request."""
    total = sum(count_tokens(_block_text(s)) for s in request.get("system", []))
    for message in request.get("messages", []):
        total += 3  # role and turn markers
        for block in message.get("content", []):
            total += count_tokens(_block_text(block))
            if "toolUse" in block:
                total += count_tokens(json.dumps(block["toolUse"].get("input", {})))
            if "toolResult" in block:
                total += count_tokens(_tool_result_text(block["toolResult"]))
            if "image" in block:
                total += 85 + _binary_len(block["image"].get("source")) // 750
            if "document" in block:
                total += 50 + _binary_len(block["document"].get("source")) // 400
    for tool in (request.get("toolConfig") or {}).get("tools", []):
        if "toolSpec" in tool:
            total += count_tokens(json.dumps(tool["toolSpec"]))
    return max(total, 1)


def _last_user(messages: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message
    return {"role": "user", "content": []}


def _tool_name_for(messages: Sequence[Mapping[str, Any]], tool_use_id: str) -> str:
    for message in messages:
        for block in message.get("content", []):
            use = block.get("toolUse")
            if use and use.get("toolUseId") == tool_use_id:
                return str(use.get("name", "tool"))
    return "tool"


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "\u2026"


# -- tool choice -------------------------------------------------------------------------------
def _tools(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    config = request.get("toolConfig") or {}
    return [t["toolSpec"] for t in config.get("tools", []) if "toolSpec" in t]


def _name_words(name: str) -> set[str]:
    words = re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name)
    return {w.lower() for w in words if len(w) >= 4 and w.lower() not in _GENERIC_WORDS}


def _score(tool: Mapping[str, Any], text: str) -> int:
    lowered = text.lower()
    name = str(tool.get("name", ""))
    score = 10 if name.lower() in lowered else 0
    return score + sum(1 for w in _name_words(name) if w in lowered)


def _pick_tool(request: Mapping[str, Any], text: str) -> Mapping[str, Any] | None:
    tools = _tools(request)
    if not tools:
        return None
    choice = (request.get("toolConfig") or {}).get("toolChoice") or {"auto": {}}
    if "tool" in choice:
        wanted = choice["tool"].get("name")
        return next((t for t in tools if t.get("name") == wanted), tools[0])
    best = max(tools, key=lambda t: _score(t, text))  # max keeps the first on ties
    if "any" in choice:
        return best
    mentions_tool = re.search(r"\btools?\b", text, re.IGNORECASE) is not None
    return best if _score(best, text) > 0 or mentions_tool else None


def _tool_use_id(seed: str, index: int) -> str:
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return "tooluse_" + base64.urlsafe_b64encode(digest).decode("ascii")[:22].replace("-", "x")


# -- generation --------------------------------------------------------------------------------
def _compose_text(request: Mapping[str, Any], user: Mapping[str, Any]) -> str:
    messages = request.get("messages", [])
    results = [b["toolResult"] for b in user.get("content", []) if "toolResult" in b]
    if results:
        parts = []
        for result in results:
            name = _tool_name_for(messages, str(result.get("toolUseId", "")))
            text = _snippet(_tool_result_text(result)) or "(empty)"
            verb = "reported an error" if result.get("status") == "error" else "returned"
            parts.append(f"The {name} tool {verb}: {text}.")
        return " ".join(parts) + " That is the answer based on the tool result."
    text = " ".join(_block_text(b) for b in user.get("content", [])).strip()
    out = [f"You said: \u201c{_snippet(text) or '(no text)'}\u201d."]
    system = " ".join(_block_text(s) for s in request.get("system", [])).strip()
    if system:
        out.append(f"Following the instructions \u201c{_snippet(system)}\u201d.")
    images = sum(1 for b in user.get("content", []) if "image" in b)
    docs = sum(1 for b in user.get("content", []) if "document" in b)
    if images:
        out.append(f"I received {images} image(s).")
    if docs:
        out.append(f"I received {docs} document(s).")
    out.append("This is a deterministic reply from the local Bedrock emulator.")
    return " ".join(out)


def _apply_limits(text: str, max_tokens: int, stop_sequences: Sequence[str]) -> tuple[str, str]:
    stop_reason = "end_turn"
    cut = min((i for i in (text.find(s) for s in stop_sequences if s) if i >= 0), default=-1)
    if cut >= 0:
        text, stop_reason = text[:cut], "stop_sequence"
    found = tokens(text)
    if len(found) > max_tokens:
        text = text[: found[max_tokens - 1].end()] if max_tokens > 0 else ""
        stop_reason = "max_tokens"
    return text, stop_reason


def _json_output_schema(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    fmt = (request.get("outputConfig") or {}).get("textFormat") or {}
    if fmt.get("type") != "json_schema":
        return None
    raw = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
    if isinstance(raw, str):
        parsed: Mapping[str, Any] = json.loads(raw)
        return parsed
    return raw if isinstance(raw, Mapping) else None


def generate(request: Mapping[str, Any], *, model_id: str, call_id: str = "") -> Reply:
    """Produce the reply to a Converse-shaped ``request`` (already validated).

    Args:
        request: ``messages``, ``system``, ``inferenceConfig``, ``toolConfig``, ``outputConfig``.
        model_id: Base model id (for its output limit).
        call_id: Makes tool-use ids unique per call; the content never depends on it.
    """
    config = request.get("inferenceConfig") or {}
    max_tokens = int(config.get("maxTokens") or max_output_tokens(model_id))
    stops = list(config.get("stopSequences") or [])
    messages = request.get("messages", [])
    user = _last_user(messages)
    user_text = " ".join(_block_text(b) for b in user.get("content", [])).strip()
    reply = Reply(input_tokens=count_input_tokens(request))
    has_result = any("toolResult" in b for b in user.get("content", []))
    choice = (request.get("toolConfig") or {}).get("toolChoice") or {"auto": {}}
    forced = "any" in choice or "tool" in choice
    tool = _pick_tool(request, user_text) if forced or not has_result else None
    if tool is not None:
        schema = (tool.get("inputSchema") or {}).get("json") or {"type": "object"}
        args = generate_arguments(schema, user_text)
        if not forced:
            reply.blocks.append(TextBlock(f"I will use the {tool.get('name')} tool."))
        seed = json.dumps(request, sort_keys=True, default=str) + call_id
        reply.blocks.append(ToolUse(_tool_use_id(seed, 0), str(tool.get("name")), args))
        reply.stop_reason = "tool_use"
    else:
        schema = _json_output_schema(request)
        if schema is not None:
            text = json.dumps(generate_arguments(schema, user_text), ensure_ascii=False)
        else:
            text = _compose_text(request, user)
        text, reply.stop_reason = _apply_limits(text, max_tokens, stops)
        reply.blocks.append(TextBlock(text))
    reply.output_tokens = sum(
        count_tokens(b.text) if isinstance(b, TextBlock) else count_tokens(json.dumps(b.input))
        for b in reply.blocks
    )
    return reply


def split_for_stream(text: str, tokens_per_delta: int = 4) -> list[str]:
    """Cut ``text`` into deltas of a few tokens each; ``"".join`` gives ``text`` back."""
    found = tokens(text)
    if not found:
        return [text] if text else []
    pieces: list[str] = []
    start = 0
    for i in range(tokens_per_delta - 1, len(found), tokens_per_delta):
        end = found[i].end()
        pieces.append(text[start:end])
        start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def embed(text: str, dimensions: int, *, normalize: bool = True) -> list[float]:
    """Hashed bag-of-words vector: each lower-cased word adds ±1 to one hashed coordinate."""
    vector = [0.0] * dimensions
    for match in _TOKEN.finditer(text.lower()):
        word = match.group(0)
        if not word[0].isalnum():
            continue
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    if normalize:
        norm = math.sqrt(sum(v * v for v in vector))
        if norm:
            vector = [v / norm for v in vector]
    return vector
