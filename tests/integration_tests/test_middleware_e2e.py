"""``ResidencyMiddleware`` end to end: real agents against the embedded local Bedrock.

The emulator's wire log and invocation logs (what AWS records, plus the served Region) prove
where every model call of the agent, its tool sub-chains and its failovers went.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import BaseTool, tool

from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.emulator.local import FAKE_CREDENTIALS
from langchain_cris.errors import ResidencyViolation
from langchain_cris.middleware import ResidencyMiddleware
from langchain_cris.policy import ResidencyPolicy

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
EU = ResidencyPolicy.preset("eu")
QUESTION = "Look up order A-1001 and convert its price to USD."


@dataclass(frozen=True)
class Tenant:
    name: str
    cris_policy: str


def model(bedrock: LocalBedrock, model_id: str = SONNET) -> ChatBedrockCRIS:
    return ChatBedrockCRIS(
        model=model_id,
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        failover_backoff=0.0,
    )


def tools(bedrock: LocalBedrock) -> list[BaseTool]:
    summarizer = (
        ChatPromptTemplate.from_messages([("human", "Summarize: {text}")])
        | model(bedrock, HAIKU)
        | StrOutputParser()
    )

    @tool
    def lookup_order(order_id: str) -> str:
        """Look up an order by id."""
        return json.dumps({"order_id": "A-1001", "price_eur": 120})

    @tool
    def convert_price(amount_eur: float) -> str:
        """Convert a EUR price to USD and describe it (uses a sub-chain)."""
        return summarizer.invoke({"text": f"{amount_eur} EUR is {amount_eur * 1.1:.2f} USD"})

    return [lookup_order, convert_price]


def agent(bedrock: LocalBedrock) -> Any:
    return create_agent(
        model(bedrock),
        tools=tools(bedrock),
        middleware=[ResidencyMiddleware()],
        context_schema=Tenant,
    )


def ask(text: str = QUESTION) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def script_tool_loop(bedrock: LocalBedrock) -> None:
    """Two tool steps then an answer; the convert_price tool's sub-chain takes one reply."""
    bedrock.script.tool_call("lookup_order", {"order_id": "A-1001"})
    bedrock.script.tool_call("convert_price", {"amount_eur": 120})
    bedrock.script.reply("120 EUR is 132.00 USD.")  # the tool's sub-chain
    bedrock.script.reply("Order A-1001 costs 132.00 USD.")  # the agent's final answer


def assert_all_in_policy(bedrock: LocalBedrock, policy: ResidencyPolicy) -> None:
    records = bedrock.wire_log.runtime()
    assert records
    for record in records:
        assert record.source_region in policy.allowed_sources, record
        assert set(record.attempted_regions) <= policy.regions, record
        if record.served_region is not None:
            assert record.served_region in policy.regions, record
        assert str(record.model_id).startswith("eu."), record


def test_throttled_source_fails_over_inside_the_tenant_policy(local_bedrock: LocalBedrock) -> None:
    # The whole first send is throttled (every destination full), and one EU Region stays
    # throttled for the rest of the run, so CRIS has to route around it too.
    local_bedrock.script.fault("throttle")
    script_tool_loop(local_bedrock)
    local_bedrock.throttle("eu-west-3")

    result = agent(local_bedrock).invoke(ask(), context=Tenant("acme-eu", "eu"))

    ai = [m for m in result["messages"] if isinstance(m, AIMessage)]
    assert [len(m.tool_calls) for m in ai] == [1, 1, 0]
    assert ai[-1].text == "Order A-1001 costs 132.00 USD."
    first = ai[0].response_metadata["cris"]["attempts"]
    assert [a["outcome"] for a in first] == ["ThrottlingException", "ok"]
    assert first[0]["source_region"] == "eu-central-1"
    assert first[1]["source_region"] != "eu-central-1"
    assert first[1]["source_region"] in EU.allowed_sources

    records = local_bedrock.wire_log.runtime()
    assert [r.outcome for r in records][:2] == ["ThrottlingException", "ok"]
    assert len(records) == 5  # throttled + 3 agent calls + 1 tool sub-chain call
    assert {r.model_id for r in records} == {f"eu.{SONNET}", f"eu.{HAIKU}"}
    assert all(r.served_region != "eu-west-3" for r in records)
    assert_all_in_policy(local_bedrock, EU)


async def test_async_tool_loop_with_failover_stays_in_policy(local_bedrock: LocalBedrock) -> None:
    local_bedrock.script.fault("throttle")
    script_tool_loop(local_bedrock)

    result = await agent(local_bedrock).ainvoke(ask(), context=Tenant("acme-eu", "eu"))

    assert result["messages"][-1].text == "Order A-1001 costs 132.00 USD."
    outcomes = [r.outcome for r in local_bedrock.wire_log.runtime()]
    assert outcomes == ["ThrottlingException", "ok", "ok", "ok", "ok"]
    assert_all_in_policy(local_bedrock, EU)


def test_concurrent_tenants_each_stay_in_their_policy(local_bedrock: LocalBedrock) -> None:
    graph = agent(local_bedrock)
    tenants = [Tenant(f"eu-{i}", "eu") for i in range(3)] + [
        Tenant(f"global-{i}", "global") for i in range(3)
    ]
    # the deterministic model calls convert_price (named in the text), then answers
    text = "Please convert the price of 120 EUR with convert_price."
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda t: graph.invoke(ask(text), context=t), tenants))
    assert all(r["messages"][-1].text for r in results)

    # Model invocation logs carry the policy each call was stamped with (requestMetadata).
    logs = local_bedrock.invocation_logs("eu-central-1") + [
        rec
        for region in sorted(EU.regions - {"eu-central-1"})
        for rec in local_bedrock.invocation_logs(region)
    ]
    by_policy: dict[str, list[dict[str, Any]]] = {}
    for rec in logs:
        by_policy.setdefault(rec["requestMetadata"]["cris_policy"], []).append(rec)
    assert sorted(by_policy) == ["eu", "global"]
    assert len(by_policy["eu"]) == len(by_policy["global"]) == 9  # 3 x (2 agent + 1 tool)
    for rec in by_policy["eu"]:
        assert rec["modelId"].startswith("eu.")
        assert rec.get("inferenceRegion", rec["region"]) in EU.regions
    global_models = {rec["modelId"] for rec in by_policy["global"]}
    assert global_models == {f"global.{SONNET}", f"global.{HAIKU}"}


def test_context_policy_refuses_a_non_compliant_profile_before_sending(
    local_bedrock: LocalBedrock,
) -> None:
    graph = create_agent(
        model(local_bedrock, f"global.{SONNET}"), middleware=[ResidencyMiddleware()]
    )
    with pytest.raises(ResidencyViolation, match="eu"):
        graph.invoke(ask("hello"), context={"cris_policy": "eu"})
    assert local_bedrock.wire_log.runtime() == []
