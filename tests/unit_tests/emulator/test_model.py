"""The deterministic model: replies, limits, tool choice, token counts, embeddings."""

from __future__ import annotations

import math
from typing import Any

from langchain_cris.emulator.converse import converse_body, stream_events
from langchain_cris.emulator.model import (
    TextBlock,
    ToolUse,
    count_tokens,
    embed,
    generate,
    split_for_stream,
)

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather for a place",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            }
        },
    }
}


def _request(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], **extra}


def test_same_request_same_reply_and_streamed_text_matches() -> None:
    request = _request("Hello, how are you?", system=[{"text": "Be brief."}])
    first = generate(request, model_id=MODEL)
    assert first.text() == generate(request, model_id=MODEL).text()
    assert "Be brief." in first.text()
    body = converse_body(first, latency_ms=5)
    events = list(stream_events(first, latency_ms=5))
    streamed = "".join(p["delta"]["text"] for name, p, _ in events if name == "contentBlockDelta")
    assert streamed == body["output"]["message"]["content"][0]["text"]
    metadata = events[-1][1]
    assert metadata["usage"] == body["usage"]
    assert sum(tokens for *_, tokens in events) == first.output_tokens


def test_max_tokens_cuts_and_reports_max_tokens() -> None:
    reply = generate(_request("Hello", inferenceConfig={"maxTokens": 3}), model_id=MODEL)
    assert reply.stop_reason == "max_tokens"
    assert reply.output_tokens == 3 == count_tokens(reply.text())


def test_stop_sequence_cuts_before_the_sequence() -> None:
    reply = generate(
        _request("Hello", inferenceConfig={"stopSequences": ["deterministic"]}), model_id=MODEL
    )
    assert reply.stop_reason == "stop_sequence"
    assert "deterministic" not in reply.text()


def test_auto_tool_choice_calls_a_mentioned_tool_and_answers_after_the_result() -> None:
    request = _request("What is the weather in San Francisco?", toolConfig={"tools": [WEATHER]})
    reply = generate(request, model_id=MODEL)
    assert reply.stop_reason == "tool_use"
    use = reply.blocks[-1]
    assert isinstance(use, ToolUse)
    assert use.name == "get_weather"
    assert use.input == {"location": "San Francisco"}
    follow_up = {
        "messages": [
            *request["messages"],
            {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": use.tool_use_id,
                            "name": use.name,
                            "input": use.input,
                        }
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": use.tool_use_id,
                            "content": [{"text": "Sunny, 21C"}],
                        }
                    }
                ],
            },
        ],
        "toolConfig": {"tools": [WEATHER]},
    }
    answer = generate(follow_up, model_id=MODEL)
    assert answer.stop_reason == "end_turn"
    assert "get_weather" in answer.text() and "Sunny, 21C" in answer.text()


def test_auto_does_not_call_unrelated_tools_but_any_must() -> None:
    tools = {"tools": [WEATHER]}
    assert (
        generate(_request("Hi there", toolConfig=tools), model_id=MODEL).stop_reason == "end_turn"
    )
    forced = generate(
        _request("Hi there", toolConfig={**tools, "toolChoice": {"any": {}}}), model_id=MODEL
    )
    assert forced.stop_reason == "tool_use"
    assert not any(isinstance(b, TextBlock) for b in forced.blocks)  # "any": no text


def test_split_for_stream_reassembles() -> None:
    text = "Hello, world! This is — a test of 12 tokens."
    assert "".join(split_for_stream(text)) == text


def test_embeddings_are_normalised_and_similar_texts_are_closer() -> None:
    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    base = embed("the cat sat on the mat", 256)
    assert math.isclose(math.sqrt(cos(base, base)), 1.0)
    assert cos(base, embed("a cat sat on a mat", 256)) > cos(base, embed("stock prices fell", 256))
    assert len(embed("x", 1024)) == 1024
