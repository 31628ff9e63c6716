"""Prices times usage: the arithmetic, the data, the overlay and the cost on every call shape.

The call-shape tests drive ``ChatBedrockCRIS`` through langchain-aws's own Converse parsing with
a fake bedrock-runtime client (the transport seam) that reports prompt-cache tokens the way
Bedrock does (``cacheReadInputTokens`` / ``cacheWriteInputTokens``), which the embedded local
Bedrock does not model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from langchain_core.messages import AIMessageChunk

from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.data import PRICES_ENV, load_data_file, load_prices
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.pricing import (
    USAGE_COSTS_ENV,
    PriceTable,
    TokenUsage,
    base_model_of,
    call_cost,
    langsmith_usage_costs,
    pricing_kind,
)
from langchain_cris.transport.clients import RuntimeClientPool

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS = "anthropic.claude-opus-4-5-20251101-v1:0"
EU = ResidencyPolicy.preset("eu")
GLOBAL = ResidencyPolicy.preset("global")
M = Decimal(1_000_000)


def usage(inp: int, out: int, read: int = 0, write: int = 0) -> dict[str, Any]:
    """``usage_metadata`` as langchain-aws builds it (input_tokens includes cache tokens)."""
    return {
        "input_tokens": inp + read + write,
        "output_tokens": out,
        "total_tokens": inp + read + write + out,
        "input_token_details": {"cache_read": read, "cache_creation": write},
    }


# -- the bundled data -----------------------------------------------------------------------
def test_bundled_prices_are_sourced_and_every_number_parses() -> None:
    data = load_data_file("prices.json")
    assert {"version", "source", "retrieved", "currency", "unit", "sources"} <= set(data)
    assert data["currency"] == "USD" and "1,000,000" in data["unit"]
    table = PriceTable(data)
    for model_id, entry in data["models"].items():
        assert isinstance(entry["global_discount"], bool), model_id
        assert entry["global_discount_source"], model_id
        for price in entry["prices"]:
            assert price["source"], (model_id, price)
        # Every bundled model is priced on every route kind it has somewhere.
        for kind in ("geo", "global", "in_region"):
            assert table.lookup(model_id, kind, "eu-west-3") is not None, (model_id, kind)


@pytest.mark.parametrize("model_id", [SONNET, HAIKU, OPUS])
def test_geo_and_in_region_are_ten_percent_above_global_where_aws_discounts(model_id: str) -> None:
    table = PriceTable.load()
    assert table.global_discount(model_id) is True
    g = table.lookup(model_id, "global", "eu-central-1")
    geo = table.lookup(model_id, "geo", "eu-central-1")
    here = table.lookup(model_id, "in_region", "eu-central-1")
    assert g is not None and geo is not None and geo == here
    for key in ("input", "output", "cache_read", "cache_write", "cache_write_1h"):
        assert getattr(geo, key) == getattr(g, key) * Decimal("1.1"), key


def test_models_without_a_traceable_price_are_unknown_not_guessed() -> None:
    for model in ("eu.amazon.nova-pro-v1:0", "eu.anthropic.claude-sonnet-4-20250514-v1:0"):
        cost = call_cost(model, "geo", "eu-central-1", usage(100, 10))
        assert cost["pricing"] == "unknown" and cost["total"] is None
        assert cost["input"] is None and "no price data" in cost["reason"]
        assert cost["tokens"]["input"] == 100  # still says what was used


# -- arithmetic -----------------------------------------------------------------------------
def test_geo_call_with_cache_reads_and_writes_is_priced_per_token_type() -> None:
    cost = call_cost(
        "eu." + SONNET, "geo", "eu-central-1", usage(1000, 500, read=20_000, write=3000)
    )
    expected = {
        "input": Decimal(1000) * Decimal("3.30") / M,
        "output": Decimal(500) * Decimal("16.50") / M,
        "cache_read": Decimal(20_000) * Decimal("0.33") / M,
        "cache_write": Decimal(3000) * Decimal("4.125") / M,
    }
    for key, value in expected.items():
        assert Decimal(str(cost[key])) == value, key
    assert Decimal(str(cost["total"])) == sum(expected.values())
    assert cost["total"] == pytest.approx(0.0033 + 0.00825 + 0.0066 + 0.012375)
    assert (cost["currency"], cost["pricing"], cost["source_region"]) == (
        "USD",
        "geo",
        "eu-central-1",
    )
    assert cost["tokens"] == {
        "input": 1000,
        "output": 500,
        "cache_read": 20_000,
        "cache_write": 3000,
        "cache_write_1h": 0,
    }


def test_global_is_cheaper_than_geo_for_the_same_usage() -> None:
    u = usage(10_000, 2000, read=5000)
    geo = call_cost("eu." + SONNET, "geo", "eu-west-3", u)["total"]
    glob = call_cost("global." + SONNET, "global", "eu-west-3", u)["total"]
    assert glob == pytest.approx(0.03 + 0.03 + 0.0015)
    assert geo == pytest.approx(glob * 1.1)


def test_one_hour_cache_writes_use_their_own_price() -> None:
    u = {
        "input_tokens": 100 + 1000 + 400,
        "output_tokens": 10,
        "input_token_details": {
            "cache_read": 0,
            "cache_creation": 0,
            "ephemeral_5m_input_tokens": 400,
            "ephemeral_1h_input_tokens": 1000,
        },
    }
    tokens = TokenUsage.from_usage_metadata(u)
    assert (tokens.input, tokens.cache_write, tokens.cache_write_1h) == (100, 400, 1000)
    cost = call_cost(HAIKU, "global", "us-east-1", u)
    assert Decimal(str(cost["cache_write"])) == (400 * Decimal("1.25") + 1000 * Decimal(2)) / M


def test_long_context_prices_apply_above_200k_input_tokens() -> None:
    short = call_cost("global." + SONNET, "global", "us-east-1", usage(200_000, 1000))
    long = call_cost("global." + SONNET, "global", "us-east-1", usage(150_000, 1000, read=50_001))
    assert Decimal(str(short["input"])) == Decimal("0.6")
    assert Decimal(str(long["input"])) == Decimal(150_000) * 6 / M
    assert Decimal(str(long["cache_read"])) == Decimal(50_001) * Decimal("0.6") / M


def test_a_used_token_type_without_a_price_makes_the_cost_unknown() -> None:
    table = PriceTable(
        {
            "version": 1,
            "source": "t",
            "retrieved": "x",
            "models": {
                SONNET: {
                    "prices": [
                        {
                            "route_kinds": ["geo"],
                            "source_regions": "*",
                            "input": "3",
                            "output": "15",
                            "source": "t",
                        }
                    ]
                }
            },
        }
    )
    assert call_cost(SONNET, "geo", "eu-west-1", usage(10, 10), table)["total"] is not None
    cost = call_cost(SONNET, "geo", "eu-west-1", usage(10, 10, read=5), table)
    assert cost["pricing"] == "unknown" and "cache_read" in cost["reason"]


def test_route_kinds_and_base_models() -> None:
    assert pricing_kind("profile", "eu") == "geo"
    assert pricing_kind("profile", "global") == "global"
    assert pricing_kind("in_region", "in-region") == "in_region"
    assert pricing_kind("application", "application") is None
    assert base_model_of("eu." + SONNET) == SONNET
    assert base_model_of(SONNET) == SONNET
    assert base_model_of(f"arn:aws:bedrock:eu-west-1:1:inference-profile/eu.{SONNET}") == SONNET
    assert base_model_of(f"arn:aws:bedrock:eu-west-1::foundation-model/{SONNET}") == SONNET
    assert base_model_of("arn:aws:bedrock:eu-west-1:1:application-inference-profile/abc") is None
    cost = call_cost("arn:aws:bedrock:eu-west-1:1:application-inference-profile/abc", None, "x", {})
    assert cost["pricing"] == "unknown"


def test_langsmith_cost_keys_cover_every_input_token_type() -> None:
    cost = call_cost("eu." + SONNET, "geo", "eu-central-1", usage(1000, 500, read=2000, write=100))
    keys = langsmith_usage_costs(cost)
    assert keys["input_cost"] == pytest.approx(
        cost["input"] + cost["cache_read"] + cost["cache_write"]
    )
    assert keys["output_cost"] == cost["output"] and keys["total_cost"] == cost["total"]
    assert keys["input_cost_details"] == {
        "cache_read": cost["cache_read"],
        "cache_creation": cost["cache_write"],
    }
    assert langsmith_usage_costs(call_cost("amazon.nova-pro-v1:0", "geo", "x", {})) == {}


def test_bad_price_data_fails_when_loaded() -> None:
    def table(price: dict[str, Any]) -> PriceTable:
        return PriceTable({"models": {SONNET: {"prices": [price]}}})

    with pytest.raises(ValueError, match="not a decimal"):
        table({"route_kinds": ["geo"], "input": "three"})
    with pytest.raises(ValueError, match="non-negative"):
        table({"route_kinds": ["geo"], "input": "-1"})
    with pytest.raises(ValueError, match="route_kinds"):
        table({"route_kinds": ["cheap"], "input": "1"})


# -- the overlay ----------------------------------------------------------------------------
def write_overlay(path: Path, prices: list[dict[str, Any]], model: str = SONNET) -> Path:
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "source": "negotiated contract 2026-11",
                "retrieved": "2026-11-30",
                "models": {model: {"prices": prices}},
            }
        ),
        encoding="utf-8",
    )
    return path


EU_WEST_1_DEAL = {
    "route_kinds": ["geo"],
    "source_regions": ["eu-west-1"],
    "input": "2",
    "output": "10",
    "cache_read": "0.2",
    "cache_write": "2.5",
}


def test_overlay_prices_win_for_their_region_and_bundled_prices_remain(tmp_path: Path) -> None:
    path = write_overlay(tmp_path / "deal.json", [EU_WEST_1_DEAL])
    table = PriceTable.load(path)
    deal = table.lookup(SONNET, "geo", "eu-west-1")
    assert deal is not None and deal.input == 2 and deal.source == "negotiated contract 2026-11"
    listed = table.lookup(SONNET, "geo", "eu-central-1")
    assert listed is not None and listed.input == Decimal("3.30")
    assert table.lookup(HAIKU, "global", "eu-west-1") is not None
    assert load_prices(path)["overlay"]["source"] == "negotiated contract 2026-11"


def test_overlay_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRICES_ENV, str(write_overlay(tmp_path / "deal.json", [EU_WEST_1_DEAL])))
    cost = call_cost("eu." + SONNET, "geo", "eu-west-1", usage(1_000_000, 0))
    assert cost["total"] == 2.0 and cost["source"] == "negotiated contract 2026-11"


def test_a_broken_overlay_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="version, source, retrieved"):
        load_prices(bad)
    with pytest.raises(ValueError, match="price overlay"):
        load_prices(tmp_path / "missing.json")


# -- cost on every call shape -----------------------------------------------------------------
class CacheRuntime:
    """bedrock-runtime fake for one Region: throttles if told, reports cache tokens."""

    def __init__(self, region: str, throttled: set[str], sent: list[str]) -> None:
        self.region = region
        self.meta = type("Meta", (), {"region_name": region})()
        self._throttled = throttled
        self._sent = sent

    USAGE = {
        "inputTokens": 1000,
        "outputTokens": 200,
        "cacheReadInputTokens": 8000,
        "cacheWriteInputTokens": 500,
        "totalTokens": 9700,
    }

    def _check(self, op: str) -> None:
        self._sent.append(self.region)
        if self.region in self._throttled:
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Too many requests"},
                    "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 429},
                },
                op,
            )

    def converse(self, **params: Any) -> dict[str, Any]:
        self._check("Converse")
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
            "stopReason": "end_turn",
            "usage": dict(self.USAGE),
            "metrics": {"latencyMs": 1},
            "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200},
        }

    def converse_stream(self, **params: Any) -> dict[str, Any]:
        self._check("ConverseStream")

        def events() -> Iterator[dict[str, Any]]:
            yield {"messageStart": {"role": "assistant"}}
            yield {"contentBlockDelta": {"delta": {"text": "hi"}, "contentBlockIndex": 0}}
            yield {"contentBlockStop": {"contentBlockIndex": 0}}
            yield {"messageStop": {"stopReason": "end_turn"}}
            yield {"metadata": {"usage": dict(self.USAGE), "metrics": {"latencyMs": 1}}}

        return {"stream": events(), "ResponseMetadata": {"RequestId": str(uuid.uuid4())}}


def cache_llm(
    throttled: set[str] | None = None, **kwargs: Any
) -> tuple[ChatBedrockCRIS, list[str]]:
    sent: list[str] = []
    llm = ChatBedrockCRIS(model=SONNET, region_name="eu-central-1", failover_backoff=0.0, **kwargs)
    llm._cris.pool = RuntimeClientPool(lambda r: CacheRuntime(r, throttled or set(), sent))
    return llm, sent


def expected_geo_total(
    read_price: str = "0.33", price: tuple[str, str, str] = ("3.30", "16.50", "4.125")
) -> Decimal:
    inp, out, write = (Decimal(p) for p in price)
    return (1000 * inp + 200 * out + 8000 * Decimal(read_price) + 500 * write) / M


def test_invoke_carries_cost_from_cache_tokens_and_langsmith_keys() -> None:
    llm, _ = cache_llm(residency_policy=EU)
    reply = llm.invoke("hi")
    cost = reply.response_metadata["cris"]["cost"]
    assert cost["pricing"] == "geo" and cost["source_region"] == "eu-central-1"
    assert Decimal(str(cost["total"])) == expected_geo_total()
    assert cost["tokens"]["cache_read"] == 8000 and cost["tokens"]["cache_write"] == 500
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["total_cost"] == cost["total"]
    assert reply.usage_metadata["input_tokens"] == 9500  # tokens stay tokens
    assert reply.response_metadata["model_name"] == "eu." + SONNET


def test_usage_costs_can_be_kept_out_of_usage_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USAGE_COSTS_ENV, "0")
    llm, _ = cache_llm(residency_policy=EU)
    reply = llm.invoke("hi")
    assert reply.response_metadata["cris"]["cost"]["total"] is not None
    assert reply.usage_metadata is not None and "total_cost" not in reply.usage_metadata


def test_failover_to_another_source_region_is_priced_by_that_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eu-central-1 throttles; the call moves to eu-west-1, where another price applies."""
    monkeypatch.setenv(PRICES_ENV, str(write_overlay(tmp_path / "deal.json", [EU_WEST_1_DEAL])))
    llm, sent = cache_llm({"eu-central-1"}, residency_policy=EU, failover=["eu-west-1"])
    reply = llm.invoke("hi")
    cris = reply.response_metadata["cris"]
    assert sent == ["eu-central-1", "eu-west-1"]
    assert cris["source_region"] == "eu-west-1"
    cost = cris["cost"]
    assert cost["source_region"] == "eu-west-1" and cost["source"] == "negotiated contract 2026-11"
    assert Decimal(str(cost["total"])) == expected_geo_total("0.2", ("2", "10", "2.5"))


def test_stream_carries_cost_on_the_chunk_with_usage_and_merges() -> None:
    llm, _ = cache_llm(residency_policy=GLOBAL)
    chunks = list(llm.stream("hi"))
    priced = [c for c in chunks if "cost" in c.response_metadata.get("cris", {})]
    assert len(priced) == 1 and priced[0].usage_metadata is not None
    cost = priced[0].response_metadata["cris"]["cost"]
    assert cost["pricing"] == "global"
    total = (1000 * 3 + 200 * 15 + 8000 * Decimal("0.30") + 500 * Decimal("3.75")) / M
    assert Decimal(str(cost["total"])) == total
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk  # langchain-core's add_usage: ints only on chunks
    assert isinstance(merged, AIMessageChunk)
    assert merged.response_metadata["cris"]["cost"]["total"] == cost["total"]


async def test_async_and_batch_carry_cost() -> None:
    llm, _ = cache_llm(residency_policy=EU)
    reply = await llm.ainvoke("hi")
    assert Decimal(str(reply.response_metadata["cris"]["cost"]["total"])) == expected_geo_total()
    replies = llm.batch(["a", "b", "c"])
    assert {r.response_metadata["cris"]["cost"]["pricing"] for r in replies} == {"geo"}
    async_chunks = [c async for c in llm.astream("hi")]
    assert any("cost" in c.response_metadata.get("cris", {}) for c in async_chunks)
