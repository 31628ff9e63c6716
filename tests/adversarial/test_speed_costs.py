"""LangSmith cost keys computed from the exact Decimal cost (no float round trip) must not drift.

``stamp_cost`` used to write ``langsmith_usage_costs(cost_dict)`` into ``usage_metadata``; it
now writes ``CallCost.langsmith_costs()``. The documented contract stays: the keys equal
``langsmith_usage_costs(response_metadata["cris"]["cost"])``. Tried on the wire (both wires,
and a recorder variant whose Converse reply reports cache-read and cache-write tokens), and as
a property over every bundled price row and token counts up to a billion of each type.
A test fails when one key differs, is missing, or appears for an unknown cost.

(Beyond about USD 100,000 for one call, e.g. 4.4e12 cache-write tokens, the float round trip
and the exact sum differ in the last bit of ``input_cost``; the exact one is the right one.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.pricing import (
    PriceKind,
    PriceTable,
    TokenUsage,
    compute_cost,
    langsmith_usage_costs,
)
from tests.adversarial._recorder import Recorder, _Handler
from tests.adversarial.conftest import EU, GLOBAL, SONNET, Wire

COST_KEYS = ("input_cost", "output_cost", "total_cost", "input_cost_details")


class _CacheHandler(_Handler):
    """The recorder's Converse answer, with prompt-cache usage (as Bedrock reports it)."""

    def do_POST(self) -> None:
        rec = self._record()
        if rec.operation != "Converse":
            self._unknown()
            return
        usage = {
            "inputTokens": 1234,
            "outputTokens": 567,
            "cacheReadInputTokens": 89012,
            "cacheWriteInputTokens": 3456,
            "totalTokens": 1234 + 567 + 89012 + 3456,
        }
        self._send_json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "cached"}]}},
                "stopReason": "end_turn",
                "usage": usage,
                "metrics": {"latencyMs": 1},
            },
        )


@pytest.fixture
def cache_wire() -> Iterator[Wire]:
    rec = Recorder()
    rec._server.RequestHandlerClass = _CacheHandler
    thread = threading.Thread(target=rec._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Wire("cache-recorder", rec.endpoint_url, lambda: [])
    finally:
        rec._server.shutdown()
        rec._server.server_close()
        thread.join(timeout=5)


def _llm(wire: Wire, model: str, **kwargs: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {
        "model": model,
        "region_name": "eu-central-1",
        "endpoint_url": wire.endpoint_url,
        **kwargs,
    }
    return ChatBedrockCRIS(**params)


def _keys_match(message: Any) -> dict[str, Any]:
    cost = message.response_metadata["cris"]["cost"]
    usage: dict[str, Any] = dict(message.usage_metadata or {})
    expected = langsmith_usage_costs(cost)
    got = {k: usage[k] for k in COST_KEYS if k in usage}
    assert got == expected, f"LangSmith keys {got} != langsmith_usage_costs(cost) {expected}"
    return cost


@pytest.mark.parametrize("policy", [EU, GLOBAL], ids=["geo", "global"])
def test_cost_keys_on_the_wire(wire: Wire, policy: Any) -> None:
    llm = _llm(wire, SONNET)
    message = llm.invoke("hi", config={"metadata": {"cris_policy": policy}})
    cost = _keys_match(message)
    assert cost["total"] is not None and cost["total"] > 0


@pytest.mark.parametrize("policy", [EU, GLOBAL], ids=["geo", "global"])
def test_cost_keys_with_cache_read_and_write(cache_wire: Wire, policy: Any) -> None:
    llm = _llm(cache_wire, SONNET)
    message = llm.invoke("hi", config={"metadata": {"cris_policy": policy}})
    cost = _keys_match(message)
    assert cost["cache_read"] > 0 and cost["cache_write"] > 0
    details = dict(message.usage_metadata or {})["input_cost_details"]
    assert details == {"cache_read": cost["cache_read"], "cache_creation": cost["cache_write"]}


def test_unknown_cost_writes_no_keys(wire: Wire) -> None:
    """A model without a bundled price: ``pricing: unknown`` and no LangSmith keys at all."""
    llm = _llm(wire, "amazon.nova-lite-v1:0", residency_policy=EU)
    message = llm.invoke("hi")
    assert message.response_metadata["cris"]["cost"]["pricing"] == "unknown"
    assert message.usage_metadata and message.usage_metadata["input_tokens"] > 0
    assert not [k for k in COST_KEYS if k in message.usage_metadata]


_TABLE = PriceTable.load()
_KINDS: tuple[PriceKind, ...] = ("geo", "global", "in_region")
_ROWS = [
    (model, kind, region, prices)
    for model in sorted(_TABLE.models())
    for kind in _KINDS
    for region in ("eu-central-1", "us-east-1", "ap-northeast-1", "eu-west-2")
    if (prices := _TABLE.lookup(model, kind, region)) is not None
]


@settings(max_examples=400, deadline=None)
@given(
    row=st.sampled_from(_ROWS),
    counts=st.tuples(*(st.integers(min_value=0, max_value=10**9) for _ in range(5))),
)
def test_exact_keys_equal_the_float_round_trip(row: Any, counts: tuple[int, ...]) -> None:
    _model, kind, region, prices = row
    usage = TokenUsage(*counts)
    cost = compute_cost(prices, usage, kind, region)
    if cost is None:  # a token type used without a price: no number (checked elsewhere)
        return
    assert cost.langsmith_costs() == langsmith_usage_costs(cost.to_dict())
