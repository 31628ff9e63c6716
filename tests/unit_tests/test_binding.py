"""Unit tests of ``with_residency`` and the config contract, over fake Bedrock clients."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import (
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from langchain_core.runnables.config import get_executor_for_config
from langchain_core.tools import tool

from langchain_cris.binding import (
    POLICY_DIGEST_KEY,
    POLICY_KEY,
    POLICY_NAME_KEY,
    parse_policy,
    policy_from_config,
    with_residency,
)
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.errors import NoPolicyError, PolicyConflictError, PolicyError
from langchain_cris.policy import ResidencyPolicy
from tests.unit_tests.test_chat_models import SONNET, FakeBedrock, make_llm

EU = ResidencyPolicy.preset("eu")
EUROPE = ResidencyPolicy.preset("europe")
GLOBAL = ResidencyPolicy.preset("global")
PROMPT = ChatPromptTemplate.from_messages([("human", "{question}")])


@pytest.fixture
def fake() -> FakeBedrock:
    return FakeBedrock()


@pytest.fixture
def llm(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> ChatBedrockCRIS:
    monkeypatch.delenv("LANGCHAIN_CRIS_POLICY", raising=False)
    return make_llm(fake)  # no model-level default: every policy must come from the chain


def sent_prefixes(fake: FakeBedrock) -> list[str]:
    return [m.split(".", 1)[0] for m in fake.model_ids]


# -- the config contract --------------------------------------------------------------------
def test_policy_from_config_forms() -> None:
    assert policy_from_config(None) is None
    assert policy_from_config({"metadata": {}}) is None
    assert policy_from_config({"metadata": {POLICY_KEY: "eu"}}) == EU
    assert policy_from_config({"metadata": {POLICY_KEY: EU.to_dict()}}) == EU
    assert policy_from_config({"metadata": {POLICY_KEY: EU}}) is EU
    assert policy_from_config({"configurable": {POLICY_KEY: "global"}}) == GLOBAL
    both = {"metadata": {POLICY_KEY: "eu"}, "configurable": {POLICY_KEY: "global"}}
    assert policy_from_config(both) == EU  # metadata (bindings) wins over configurable
    with pytest.raises(PolicyError, match="allowed presets"):
        policy_from_config({"metadata": {POLICY_KEY: "europa"}})
    with pytest.raises(PolicyError, match="regions"):
        policy_from_config({"metadata": {POLICY_KEY: {"name": "x", "regions": ["mars-1"]}}})
    with pytest.raises(PolicyError, match="must be a ResidencyPolicy"):
        parse_policy(42)  # type: ignore[arg-type]


def test_parsed_policies_are_cached() -> None:
    assert parse_policy(EU.to_dict()) is parse_policy(dict(EU.to_dict()))
    assert parse_policy("eu") is parse_policy("eu")


def test_binding_writes_the_metadata_contract(llm: ChatBedrockCRIS) -> None:
    seen: list[dict[str, Any]] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            seen.append(kw["metadata"])

    chain = with_residency(PROMPT | llm, EU)
    chain.invoke({"question": "q"}, config={"callbacks": [Spy()]})
    meta = seen[0]
    assert meta[POLICY_KEY] == EU.to_dict()
    assert meta[POLICY_NAME_KEY] == "eu" and meta[POLICY_DIGEST_KEY] == EU.digest
    assert meta["ls_model_name"] == "eu." + SONNET


def test_bad_policy_is_refused_at_bind_time(llm: ChatBedrockCRIS) -> None:
    with pytest.raises(PolicyError, match="allowed presets"):
        with_residency(llm, "europa")


# -- one model, many chains -----------------------------------------------------------------
def test_one_model_two_chains_two_policies(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    eu_chain = with_residency(PROMPT | llm | StrOutputParser(), EU)
    cheap_chain = with_residency(PROMPT | llm | StrOutputParser(), GLOBAL)
    eu_chain.invoke({"question": "q"})
    cheap_chain.invoke({"question": "q"})
    eu_chain.invoke({"question": "q"})
    assert fake.model_ids == ["eu." + SONNET, "global." + SONNET, "eu." + SONNET]


def test_unbound_chain_fails_closed(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    with pytest.raises(NoPolicyError):
        (PROMPT | llm).invoke({"question": "q"})
    assert fake.sent == []


# -- nesting --------------------------------------------------------------------------------
def test_inner_binding_cannot_widen(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    inner = with_residency(PROMPT | llm, GLOBAL)
    outer = with_residency(RunnablePassthrough() | inner, EU)
    msg = outer.invoke({"question": "q"})
    assert fake.model_ids == ["eu." + SONNET]
    cris = msg.response_metadata["cris"]
    assert set(cris["allowed_regions"]) == EU.regions
    assert cris["policy"] == "eu+global"


def test_inner_binding_narrows(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    paris = ResidencyPolicy(name="paris", regions={"eu-west-3"}, allow_in_region=True)
    outer = with_residency(with_residency(PROMPT | llm, paris), EUROPE)
    # No profile stays inside Paris alone: the narrowed policy refuses before sending.
    with pytest.raises(Exception, match="paris"):
        outer.invoke({"question": "q"})
    assert fake.sent == []


def test_disjoint_nesting_is_a_conflict(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    chain = with_residency(with_residency(PROMPT | llm, EU), ResidencyPolicy.preset("us"))
    with pytest.raises(PolicyConflictError, match="never replace"):
        chain.invoke({"question": "q"})
    assert fake.sent == []


def test_plain_metadata_inside_a_binding_cannot_widen(
    llm: ChatBedrockCRIS, fake: FakeBedrock
) -> None:
    """A binding inside a plain-metadata config narrows it; audit cannot relax enforce."""
    chain = with_residency(PROMPT | llm, ResidencyPolicy.preset("global", mode="audit"))
    msg = chain.invoke({"question": "q"}, config={"metadata": {POLICY_KEY: "eu"}})
    assert fake.model_ids == ["eu." + SONNET]
    assert msg.response_metadata["cris"]["mode"] == "enforce"


# -- every entry point ----------------------------------------------------------------------
async def test_every_entry_point_carries_the_policy(
    llm: ChatBedrockCRIS, fake: FakeBedrock
) -> None:
    chain = with_residency(PROMPT | llm | StrOutputParser(), EU)
    q = {"question": "q"}
    chain.invoke(q)
    await chain.ainvoke(q)
    assert "".join(chain.stream(q))
    assert "".join([c async for c in chain.astream(q)])
    chain.batch([q, q, q], config={"max_concurrency": 3})
    await chain.abatch([q, q])
    events = [e async for e in chain.astream_events(q, version="v2")]
    ends = [e for e in events if e["event"] == "on_chat_model_end"]
    assert ends and ends[0]["data"]["output"].response_metadata["cris"]["policy"] == "eu"
    assert len(fake.sent) == 10
    assert set(fake.model_ids) == {"eu." + SONNET}


def test_direct_model_binding_and_bound_tools(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    with_residency(llm, EU).invoke("hi")
    with_residency(llm.bind_tools([]), GLOBAL).invoke("hi")
    assert fake.model_ids == ["eu." + SONNET, "global." + SONNET]


# -- composition ----------------------------------------------------------------------------
def test_parallel_branches_each_their_own_policy(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    both = RunnableParallel(
        eu=with_residency(PROMPT | llm | StrOutputParser(), EU),
        cheap=with_residency(PROMPT | llm | StrOutputParser(), GLOBAL),
    )
    both.invoke({"question": "q"})
    assert sorted(fake.model_ids) == sorted(["eu." + SONNET, "global." + SONNET])


def test_parallel_branches_inherit_an_outer_binding(
    llm: ChatBedrockCRIS, fake: FakeBedrock
) -> None:
    chain = with_residency(RunnableParallel(a=PROMPT | llm, b=PROMPT | llm), EU)
    chain.invoke({"question": "q"})
    assert fake.model_ids == ["eu." + SONNET] * 2


def test_retriever_then_llm_pipeline(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    docs = [Document(page_content="Frankfurt is in Germany.")]
    retriever = RunnableLambda(lambda q: docs).with_config(run_name="retriever")
    prompt = ChatPromptTemplate.from_messages([("human", "{context}\n\n{question}")])
    rag = (
        {"context": retriever | (lambda d: d[0].page_content), "question": RunnablePassthrough()}
        | prompt
        | llm
        | StrOutputParser()
    )
    with_residency(rag, EU).invoke("Where is Frankfurt?")
    assert fake.model_ids == ["eu." + SONNET]
    assert "Frankfurt is in Germany." in str(fake.sent[0][2]["messages"])


def test_tool_that_calls_a_sub_chain(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    sub_chain = PROMPT | llm | StrOutputParser()

    @tool
    def ask_expert(question: str) -> str:
        """Ask the expert sub-chain."""
        return sub_chain.invoke({"question": question})  # no config passed on purpose

    agent_step = RunnableLambda(lambda q: ask_expert.invoke({"question": q}))
    with_residency(agent_step, EU).invoke("what?")
    assert fake.model_ids == ["eu." + SONNET]


def test_threads_of_the_config_executor(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    def fan_out(question: str, config: RunnableConfig) -> list[str]:
        with get_executor_for_config(config) as pool:
            futures = [pool.submit(llm.invoke, question) for _ in range(4)]
            return [str(f.result().content) for f in futures]

    def explicit_thread(question: str, config: RunnableConfig) -> str:
        out: list[str] = []
        worker = threading.Thread(target=lambda: out.append(str(llm.invoke(question, config))))
        worker.start()
        worker.join()
        return out[0]

    with_residency(RunnableLambda(fan_out), EU).invoke("q")
    with_residency(RunnableLambda(explicit_thread), GLOBAL).invoke("q")
    assert fake.model_ids == ["eu." + SONNET] * 4 + ["global." + SONNET]


async def test_asyncio_tasks(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    async def fan_out(question: str) -> list[str]:
        tasks = [asyncio.create_task(llm.ainvoke(question)) for _ in range(3)]
        return [str(m.content) for m in await asyncio.gather(*tasks)]

    eu_run = with_residency(RunnableLambda(fan_out), EU).ainvoke("q")
    global_run = with_residency(RunnableLambda(fan_out), GLOBAL).ainvoke("q")
    await asyncio.gather(eu_run, global_run)
    assert sorted(fake.model_ids) == sorted(["eu." + SONNET] * 3 + ["global." + SONNET] * 3)


def test_plain_config_metadata_and_configurable(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    chain = PROMPT | llm
    chain.invoke({"question": "q"}, config={"metadata": {POLICY_KEY: "eu"}})
    chain.invoke({"question": "q"}, config={"configurable": {POLICY_KEY: "global"}})
    assert fake.model_ids == ["eu." + SONNET, "global." + SONNET]


# -- LangGraph and agents -------------------------------------------------------------------
def test_langgraph_graph(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        question: str
        answer: str

    def answer(state: State) -> dict[str, str]:
        return {"answer": str(llm.invoke(state["question"]).content)}

    builder = StateGraph(State)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    graph = builder.compile()
    bound = with_residency(graph, EU)
    assert bound.invoke({"question": "q", "answer": ""})["answer"]
    assert list(bound.stream({"question": "q", "answer": ""}))
    assert fake.model_ids == ["eu." + SONNET] * 2


def test_create_agent(llm: ChatBedrockCRIS, fake: FakeBedrock) -> None:
    from langchain.agents import create_agent

    @tool
    def noop(x: str) -> str:
        """Do nothing."""
        return x

    agent = create_agent(llm, tools=[noop])
    result = with_residency(agent, GLOBAL).invoke({"messages": [("human", "hi")]})
    assert result["messages"][-1].response_metadata["cris"]["policy"] == "global"
    assert fake.model_ids == ["global." + SONNET]


def test_partial_config_inside_a_bound_chain_keeps_the_policy(
    llm: ChatBedrockCRIS, fake: FakeBedrock
) -> None:
    """A node passing only callbacks still runs under the chain's policy (context config)."""
    chunks: list[str] = []

    def node(question: str) -> str:
        for chunk in llm.stream(question, config={"tags": ["inner"]}):
            chunks.append(chunk.text)
        return "".join(chunks)

    with_residency(RunnableLambda(node), GLOBAL).invoke("q")
    assert fake.model_ids == ["global." + SONNET]


def test_the_top_level_merge_is_langchain_cores_own() -> None:
    """``_top_level_merge`` (issue #20) equals ``merge_configs({}, None)`` outside any run,
    key order included, and is a new dict each time (the binding writes into it)."""
    from langchain_core.runnables.config import merge_configs, var_child_runnable_config

    from langchain_cris.binding import _top_level_merge

    assert var_child_runnable_config.get() is None
    general = merge_configs({}, None)
    assert _top_level_merge() == general
    assert list(_top_level_merge()) == list(general)
    first, second = _top_level_merge(), _top_level_merge()
    assert first is not second and first["metadata"] is not second["metadata"]
    assert first["tags"] is not second["tags"]
    assert first["configurable"] is not second["configurable"]


def test_a_started_routed_run_releases_only_its_own_handlers() -> None:
    """``release_started_run`` (issue #20): the guard leaves the run manager's ``handlers``
    only; its inheritable handlers, the shared list and the published guard stay."""
    from langchain_core.callbacks import BaseCallbackHandler, CallbackManager

    from langchain_cris._model_guard import (
        ModelGuard,
        current_model_guard,
        release_started_run,
    )
    from langchain_cris.binding import residency_scope
    from langchain_cris.policy import ResidencyPolicy

    other = BaseCallbackHandler()
    with residency_scope(ResidencyPolicy.preset("eu")):
        guard = current_model_guard()
        manager = CallbackManager.configure(inheritable_callbacks=[other])
        run, twin = manager.on_chat_model_start(
            {}, [[], []], invocation_params={"_type": "amazon_bedrock_converse_cris_chat"}
        )
        shared = run.handlers
        assert guard in shared and guard in run.inheritable_handlers
        release_started_run(run)
        assert run.handlers == [other]
        assert guard in run.inheritable_handlers and guard in twin.handlers
        assert shared is manager.handlers and guard in manager.handlers
        assert current_model_guard() is guard
        release_started_run(None)  # no run manager (streams): nothing to do
        assert not any(isinstance(h, ModelGuard) for h in run.handlers)
