"""Classes 1 to 8 of issue 14, each in every call shape, watched on two independent wires.

Each test drives ordinary LangChain code that once put out-of-policy requests on the wire.
A test passes when every request that reached the wire lies inside the policy in force;
a refusal is allowed only as a typed ``ResidencyError`` (and then nothing may have been sent).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_core.runnables import ConfigurableField, RunnableLambda

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.embeddings import BedrockEmbeddingsCRIS
from langchain_cris.errors import NoPolicyError, ResidencyError
from tests.adversarial.conftest import (
    EU,
    EUROPE,
    FORMS,
    GLOBAL,
    SONNET,
    Wire,
    assert_inside,
    inner_call,
    run_form,
)

GLOBAL_SONNET = "global." + SONNET
EU_SONNET = "eu." + SONNET


def cris(wire: Wire, **kwargs: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {
        "model": SONNET,
        "region_name": "eu-central-1",
        "endpoint_url": wire.endpoint_url,
        "failover_backoff": 0.0,
        **kwargs,
    }
    return ChatBedrockCRIS(**params)


def plain(wire: Wire, **kwargs: Any) -> ChatBedrockConverse:
    params: dict[str, Any] = {
        "model": GLOBAL_SONNET,
        "region_name": "eu-central-1",
        "endpoint_url": wire.endpoint_url,
        **kwargs,
    }
    return ChatBedrockConverse(**params)


def attempt(form: str, runnable: Any, value: Any = "hi", **kwargs: Any) -> Any:
    """Run; a typed refusal is an acceptable outcome (the wire decides the test)."""
    try:
        return run_form(form, runnable, value, **kwargs)
    except ResidencyError as exc:
        return exc


def refused_or_sent(result: Any, wire: Wire, before: int) -> None:
    if isinstance(result, ResidencyError):
        assert wire.sent()[before:] == [], f"refused after sending: {result}"
    else:
        assert wire.sent()[before:], "nothing was sent and nothing was refused"


# -- 1. model id by another spelling ---------------------------------------------------------
SPELLINGS = ["model_ID", "model__id", "model_id_", "modelId", "model_Id", "model_id", "model"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("key", SPELLINGS)
def test_1_model_id_spelling_at_call(wire: Wire, form: str, key: str) -> None:
    chain = with_residency(cris(wire), EU)
    result = attempt(form, chain, **{key: GLOBAL_SONNET})
    assert_inside(wire, EU)
    refused_or_sent(result, wire, 0)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("key", ["model_ID", "model__id", "model_id_", "modelId"])
def test_1_model_id_spelling_in_bind(wire: Wire, form: str, key: str) -> None:
    chain = with_residency(cris(wire).bind(**{key: GLOBAL_SONNET}), EU)
    attempt(form, chain)
    assert_inside(wire, EU)


@pytest.mark.parametrize("form", ["invoke", "stream"])
def test_1_metadata_names_what_was_sent(wire: Wire, form: str) -> None:
    chain = with_residency(cris(wire), EU)
    result = attempt(form, chain)
    sent = assert_inside(wire, EU)
    messages = result if isinstance(result, list) else [result]
    cris_meta = [m.response_metadata["cris"] for m in messages if "cris" in m.response_metadata]
    assert cris_meta and cris_meta[-1]["model_id"] == sent[-1].model_id == EU_SONNET


# -- 2. binding lost when an inner call passes its own config --------------------------------
def _inner_caller(llm: Any, form: str) -> Any:
    return inner_call(llm, form, {"metadata": {"step": "inner"}, "tags": ["inner"]})


@pytest.mark.parametrize("form", FORMS)
def test_2_inner_config_keeps_the_binding_model_default(wire: Wire, form: str) -> None:
    llm = cris(wire, residency_policy=GLOBAL)
    llm.invoke("warm the default route's caches")
    before = len(wire.sent())
    attempt(form, with_residency(_inner_caller(llm, form), EU))
    sent = assert_inside(wire, EU, before)
    assert sent and all(s.model_id == EU_SONNET for s in sent)


@pytest.mark.parametrize("form", FORMS)
def test_2_inner_config_keeps_the_binding_env_default(
    wire: Wire, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGCHAIN_CRIS_POLICY", "global")
    llm = cris(wire)
    attempt(form, with_residency(_inner_caller(llm, form), EU))
    sent = assert_inside(wire, EU)
    assert sent and all(s.model_id == EU_SONNET for s in sent)


@pytest.mark.parametrize("form", FORMS)
def test_2_inner_raw_metadata_cannot_widen_a_binding(wire: Wire, form: str) -> None:
    llm = cris(wire)
    inner = RunnableLambda(lambda x: llm.invoke(x, config={"metadata": {"cris_policy": "global"}}))
    attempt(form, with_residency(inner, EU))
    assert_inside(wire, EU)


# -- 3. agent middlewares that call models themselves ----------------------------------------
def _agent(wire: Wire, middleware: list[Any], model: Any | None = None) -> Any:
    from langchain.agents import create_agent

    from langchain_cris.middleware import ResidencyMiddleware

    return create_agent(
        model if model is not None else cris(wire),
        tools=[],
        middleware=[ResidencyMiddleware(), *middleware],
        context_schema=dict,
    )


def _agent_form(form: str, agent: Any, policy: Any) -> Any:
    from langchain_core.messages import AIMessage

    history = [HumanMessage("first"), AIMessage("one"), HumanMessage("second"), AIMessage("two")]
    value = {"messages": [*history, HumanMessage("hello there")]}
    kwargs = {"context": {"cris_policy": policy}}
    try:
        if form == "batch":
            return agent.batch([value, value], **kwargs)
        return run_form(form, agent, value, **kwargs)
    except ResidencyError as exc:
        return exc
    except Exception as exc:  # other outcomes are fine: the wire is what is judged
        return exc


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("order", ["residency-first", "fallback-first"])
def test_3_model_fallback_middleware(wire: Wire, form: str, order: str) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import ModelFallbackMiddleware

    from langchain_cris.middleware import ResidencyMiddleware

    primary = cris(wire, model=GLOBAL_SONNET)  # refused under EU: the fallback runs
    fallbacks = ModelFallbackMiddleware(plain(wire), plain(wire, region_name="eu-west-2"))
    mws: list[Any] = [ResidencyMiddleware(), fallbacks]
    if order == "fallback-first":
        mws.reverse()
    agent = create_agent(primary, tools=[], middleware=mws, context_schema=dict)
    _agent_form(form, agent, "eu")
    assert_inside(wire, EU)


@pytest.mark.parametrize("form", FORMS)
def test_3_summarization_middleware(wire: Wire, form: str) -> None:
    from langchain.agents.middleware import SummarizationMiddleware

    summarizer = cris(wire, residency_policy=GLOBAL)  # an org default, wider than the tenant
    agent = _agent(
        wire, [SummarizationMiddleware(summarizer, trigger=("messages", 3), keep=("messages", 1))]
    )
    _agent_form(form, agent, "eu")
    assert_inside(wire, EU)


@pytest.mark.parametrize("form", FORMS)
def test_3_summarization_with_plain_model(wire: Wire, form: str) -> None:
    from langchain.agents.middleware import SummarizationMiddleware

    agent = _agent(
        wire, [SummarizationMiddleware(plain(wire), trigger=("messages", 3), keep=("messages", 1))]
    )
    _agent_form(form, agent, "eu")
    assert_inside(wire, EU)


@pytest.mark.parametrize("form", FORMS)
def test_3_tool_selector_middleware(wire: Wire, form: str) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import LLMToolSelectorMiddleware
    from langchain_core.tools import tool

    from langchain_cris.middleware import ResidencyMiddleware

    @tool
    def alpha(x: str) -> str:
        """Alpha."""
        return x

    @tool
    def beta(x: str) -> str:
        """Beta."""
        return x

    selector = LLMToolSelectorMiddleware(model=plain(wire, region_name="eu-west-2"), max_tools=1)
    for mws in ([ResidencyMiddleware(), selector], [selector, ResidencyMiddleware()]):
        agent = create_agent(cris(wire), tools=[alpha, beta], middleware=mws, context_schema=dict)
        _agent_form(form, agent, "eu")
    assert_inside(wire, EU)


# -- 4. embeddings sent through a user client of another Region ------------------------------
EMBED_FORMS = ("embed_query", "embed_documents", "aembed_query", "aembed_documents")


def _embed(form: str, emb: BedrockEmbeddingsCRIS) -> Any:
    import asyncio

    try:
        if form == "embed_query":
            return emb.embed_query("secret text")
        if form == "embed_documents":
            return emb.embed_documents(["a", "b"])
        if form == "aembed_query":
            return asyncio.run(emb.aembed_query("secret text"))
        return asyncio.run(emb.aembed_documents(["a", "b"]))
    except ResidencyError as exc:
        return exc


@pytest.mark.parametrize("form", EMBED_FORMS)
@pytest.mark.parametrize("client_region", ["us-east-1", "eu-west-2"])
def test_4_embeddings_user_client_of_another_region(
    wire: Wire, form: str, client_region: str
) -> None:
    client = boto3.client(
        "bedrock-runtime", region_name=client_region, endpoint_url=wire.endpoint_url
    )
    emb = BedrockEmbeddingsCRIS(
        model_id="amazon.titan-embed-text-v2:0",
        region_name="eu-central-1",
        client=client,
        residency_policy=EU,
    )
    result = _embed(form, emb)
    assert_inside(wire, EU)
    refused_or_sent(result, wire, 0)


# -- 5. a retriever bound on its own ---------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_5_retriever_bound_alone(wire: Wire, form: str) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    emb = BedrockEmbeddingsCRIS(
        model_id="amazon.titan-embed-text-v2:0",
        region_name="us-east-1",
        endpoint_url=wire.endpoint_url,
        residency_policy=GLOBAL,  # the embeddings' own default is wider than the binding
    )
    store = InMemoryVectorStore(embedding=emb)
    store.add_texts(["indexed outside the binding, under the embeddings' own default"])
    before = len(wire.sent())
    result = attempt(form, with_residency(store.as_retriever(), EU), "where is my data?")
    assert_inside(wire, EU, before)
    refused_or_sent(result, wire, before)


@pytest.mark.parametrize("form", FORMS)
def test_5_retriever_with_plain_embeddings_bound_alone(wire: Wire, form: str) -> None:
    from langchain_aws import BedrockEmbeddings
    from langchain_core.vectorstores import InMemoryVectorStore

    emb = BedrockEmbeddings(
        model_id="amazon.titan-embed-text-v2:0",
        region_name="us-east-1",
        endpoint_url=wire.endpoint_url,
    )
    store = InMemoryVectorStore(embedding=emb)
    store.add_texts(["indexed outside any binding: the user's own business"])
    before = len(wire.sent())
    result = attempt(form, with_residency(store.as_retriever(), EU), "where is my data?")
    assert_inside(wire, EU, before)
    refused_or_sent(result, wire, before)
    eu_store = InMemoryVectorStore(
        embedding=BedrockEmbeddings(
            model_id="amazon.titan-embed-text-v2:0",
            region_name="eu-central-1",
            endpoint_url=wire.endpoint_url,
        )
    )
    eu_store.add_texts(["x"])
    before = len(wire.sent())
    result = attempt(form, with_residency(eu_store.as_retriever(), EU), "where is my data?")
    assert not isinstance(result, ResidencyError), result
    assert assert_inside(wire, EU, before)  # routed, checked and sent from eu-central-1


# -- 6. token counting -----------------------------------------------------------------------
def test_6_token_count_without_any_policy(wire: Wire) -> None:
    client = boto3.client(
        "bedrock-runtime", region_name="eu-west-2", endpoint_url=wire.endpoint_url
    )
    llm = ChatBedrockCRIS(model=SONNET, region_name="eu-west-2", client=client)
    with pytest.raises(NoPolicyError):
        llm.get_num_tokens_from_messages([HumanMessage("secret prompt")])
    assert wire.sent() == []


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("region", ["eu-central-1", "eu-west-2"])
def test_6_token_count_in_a_bound_chain(wire: Wire, form: str, region: str) -> None:
    from langchain_core.messages import trim_messages

    client = boto3.client("bedrock-runtime", region_name=region, endpoint_url=wire.endpoint_url)
    llm = ChatBedrockCRIS(model=SONNET, region_name=region, client=client)
    trimmer = trim_messages(max_tokens=1000, token_counter=llm, strategy="last")
    try:
        attempt(form, with_residency(trimmer, EU), [HumanMessage("secret prompt")])
    except ImportError:  # the emulator has no CountTokens: langchain-aws's local fallback
        assert wire.name == "emulator"
    sent = assert_inside(wire, EU)
    if region == "eu-central-1" and wire.name == "recorder":  # the emulator has no CountTokens
        assert sent and {(s.operation, s.model_id) for s in sent} == {("CountTokens", SONNET)}


# -- 7. stale policy caches ------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_7_policy_file_tightened(wire: Wire, form: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('name = "acme"\npreset = "europe"\n')
    llm = cris(wire, region_name="eu-west-2")  # London: allowed by europe, not by eu
    config = {"metadata": {"cris_policy": str(path)}}
    run_form("invoke", llm, "hi", config=config)  # cached while wide
    path.write_text('name = "acme"\npreset = "eu"\n')
    os.utime(path, ns=(1, 1))  # same-second rewrites must not matter either
    before = len(wire.sent())
    result = attempt(form, llm, config=config)
    assert isinstance(result, ResidencyError), result
    assert wire.sent()[before:] == []


@pytest.mark.parametrize("form", FORMS)
def test_7_policy_dict_changed_in_place(wire: Wire, form: str) -> None:
    spec = dict(EUROPE.to_dict())
    llm = cris(wire, region_name="eu-west-2")
    config = {"metadata": {"cris_policy": spec}}
    run_form("invoke", llm, "hi", config=config)
    spec.clear()
    spec.update(EU.to_dict())
    before = len(wire.sent())
    result = attempt(form, llm, config=config)
    assert isinstance(result, ResidencyError), result
    assert wire.sent()[before:] == []


# -- 8. a plain ChatBedrockConverse inside with_residency ------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_8_plain_fallback_target(wire: Wire, form: str) -> None:
    primary = cris(wire, model=GLOBAL_SONNET)  # refused under EU
    chain = with_residency(
        primary.with_fallbacks([plain(wire), plain(wire, model=SONNET, region_name="eu-west-2")]),
        EU,
    )
    attempt(form, chain)
    assert_inside(wire, EU)


@pytest.mark.parametrize("form", FORMS)
def test_8_plain_model_is_routed(wire: Wire, form: str) -> None:
    chain = with_residency(plain(wire, model=SONNET), EU)
    result = attempt(form, chain)
    sent = assert_inside(wire, EU)
    assert not isinstance(result, ResidencyError), result
    assert sent and all(s.model_id == EU_SONNET for s in sent)


@pytest.mark.parametrize("form", FORMS)
def test_8_configurable_alternative(wire: Wire, form: str) -> None:
    llm = cris(wire).configurable_alternatives(
        ConfigurableField(id="llm"), default_key="cris", plain=plain(wire)
    )
    chain = with_residency(llm, EU)
    attempt(form, chain, config={"configurable": {"llm": "plain"}})
    assert_inside(wire, EU)


@pytest.mark.parametrize("form", FORMS)
def test_8_other_provider_refused(wire: Wire, form: str) -> None:
    chain = with_residency(
        cris(wire, model=GLOBAL_SONNET).with_fallbacks(
            [FakeListChatModel(responses=["sent to some other provider"])]
        ),
        EU,
    )
    result = attempt(form, chain)
    assert isinstance(result, ResidencyError), result
    assert wire.sent() == []
