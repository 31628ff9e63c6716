"""``with_residency`` end to end: agents, graphs and tools on the local Bedrock's wire."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableParallel
from langchain_core.tools import tool

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.policy import ResidencyPolicy

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
GLOBAL = ResidencyPolicy.preset("global")
PROMPT = ChatPromptTemplate.from_messages([("human", "{question}")])


def make_llm(bedrock: LocalBedrock) -> ChatBedrockCRIS:
    return ChatBedrockCRIS(
        model=SONNET,
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        failover_backoff=0.0,
    )


def sent(bedrock: LocalBedrock) -> list[str]:
    return [str(r.model_id) for r in bedrock.wire_log.runtime()]


def test_agent_with_a_tool_that_calls_a_sub_chain(local_bedrock: LocalBedrock) -> None:
    from langchain.agents import create_agent

    llm = make_llm(local_bedrock)
    sub_chain = PROMPT | llm | StrOutputParser()

    @tool
    def ask_expert(question: str) -> str:
        """Ask the expert a question."""
        return sub_chain.invoke({"question": question})

    local_bedrock.script.tool_call("ask_expert", {"question": "Where is Frankfurt?"})
    local_bedrock.script.reply("Frankfurt is in Germany.")  # the sub-chain's answer
    local_bedrock.script.reply("Done: Frankfurt is in Germany.")  # the agent's final answer
    agent = create_agent(llm, tools=[ask_expert])
    result = with_residency(agent, EU).invoke({"messages": [("human", "Where is Frankfurt?")]})
    assert result["messages"][-1].text == "Done: Frankfurt is in Germany."
    assert sent(local_bedrock) == ["eu." + SONNET] * 3  # agent, tool's sub-chain, agent
    assert all(r.served_region in EU.regions for r in local_bedrock.wire_log.runtime())


async def test_async_agent_and_events(local_bedrock: LocalBedrock) -> None:
    from langchain.agents import create_agent

    @tool
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return f"Sunny in {city}"

    local_bedrock.script.tool_call("get_weather", {"city": "Paris"})
    local_bedrock.script.reply("It is sunny in Paris.")
    agent = with_residency(create_agent(make_llm(local_bedrock), tools=[get_weather]), GLOBAL)
    events = [
        e
        async for e in agent.astream_events(
            {"messages": [("human", "Weather in Paris?")]}, version="v2"
        )
    ]
    ends = [e for e in events if e["event"] == "on_chat_model_end"]
    assert len(ends) == 2
    assert all(e["data"]["output"].response_metadata["cris"]["policy"] == "global" for e in ends)
    assert sent(local_bedrock) == ["global." + SONNET] * 2


def test_langgraph_parallel_nodes_with_different_policies(local_bedrock: LocalBedrock) -> None:
    from langgraph.graph import END, START, StateGraph

    llm = make_llm(local_bedrock)

    class State(TypedDict, total=False):
        question: str
        eu_answer: str
        cheap_answer: str

    eu_chain = with_residency(PROMPT | llm | StrOutputParser(), EU)
    cheap_chain = with_residency(PROMPT | llm | StrOutputParser(), GLOBAL)

    def eu_node(state: State) -> dict[str, Any]:
        return {"eu_answer": eu_chain.invoke({"question": state["question"]})}

    def cheap_node(state: State) -> dict[str, Any]:
        return {"cheap_answer": cheap_chain.invoke({"question": state["question"]})}

    builder = StateGraph(State)
    builder.add_node("eu", eu_node)
    builder.add_node("cheap", cheap_node)
    builder.add_edge(START, "eu")
    builder.add_edge(START, "cheap")
    builder.add_edge("eu", END)
    builder.add_edge("cheap", END)
    graph = builder.compile()
    out = graph.invoke({"question": "hello"})
    assert out["eu_answer"] and out["cheap_answer"]
    assert sorted(sent(local_bedrock)) == sorted(["eu." + SONNET, "global." + SONNET])


async def test_many_concurrent_tasks_keep_their_policies(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock)
    eu_chain = with_residency(PROMPT | llm | StrOutputParser(), EU)
    cheap_chain = with_residency(PROMPT | llm | StrOutputParser(), GLOBAL)
    q = {"question": "hi"}
    await asyncio.gather(*[eu_chain.ainvoke(q) for _ in range(10)], cheap_chain.abatch([q] * 10))
    records = local_bedrock.wire_log.runtime()
    assert sum(r.model_id == "eu." + SONNET for r in records) == 10
    assert sum(r.model_id == "global." + SONNET for r in records) == 10
    assert all(r.served_region in EU.regions for r in records if r.model_id == "eu." + SONNET)


def test_parallel_branches_stream(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock)
    both = RunnableParallel(
        eu=with_residency(PROMPT | llm | StrOutputParser(), EU),
        cheap=with_residency(PROMPT | llm | StrOutputParser(), GLOBAL),
    )
    chunks = list(both.stream({"question": "hi"}))
    assert {k for c in chunks for k in c} == {"eu", "cheap"}
    assert sorted(sent(local_bedrock)) == sorted(["eu." + SONNET, "global." + SONNET])
