"""Unit tests of ``ResidencyMiddleware`` (sockets blocked).

Real ``create_agent`` graphs run against fake bedrock-runtime clients passed as ``client=``
(the model's own client serves its own Region), so every model call's ``modelId`` and
``requestMetadata`` is recorded without any network.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ensure_config
from langchain_core.tools import tool

from langchain_cris.binding import (
    POLICY_KEY,
    policy_from_config,
    residency_metadata,
    with_residency,
)
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.errors import (
    PolicyConflictError,
    PolicyError,
    ResidencyError,
    ResidencyViolation,
)
from langchain_cris.middleware import ResidencyMiddleware, UnroutableModelError, to_cris_model
from langchain_cris.policy import ResidencyPolicy

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-pro-v1:0"
EU = ResidencyPolicy.preset("eu")
EUROPE = ResidencyPolicy.preset("europe")
GLOBAL = ResidencyPolicy.preset("global")
QUESTION = {"messages": [HumanMessage("Summarize: data residency matters")]}


# -- fakes ------------------------------------------------------------------------------------
class FakeRuntime:
    """A bedrock-runtime client for one Region: calls the first tool once, then answers."""

    def __init__(self, region: str = "eu-central-1") -> None:
        self.meta = SimpleNamespace(region_name=region)
        self.sent: list[dict[str, Any]] = []

    def converse(self, **params: Any) -> dict[str, Any]:
        self.sent.append(params)
        last = params["messages"][-1]["content"]
        tools = (params.get("toolConfig") or {}).get("tools") or []
        if tools and not any("toolResult" in block for block in last):
            name = tools[0]["toolSpec"]["name"]
            use = {"toolUseId": f"tooluse_{len(self.sent)}", "name": name, "input": {"text": "x"}}
            content: list[dict[str, Any]] = [{"toolUse": use}]
            stop = "tool_use"
        else:
            content, stop = [{"text": "done"}], "end_turn"
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
            "metrics": {"latencyMs": 1},
            "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200},
        }

    @property
    def model_ids(self) -> list[str]:
        return [p["modelId"] for p in self.sent]

    @property
    def policies(self) -> list[str]:
        return [p["requestMetadata"]["cris_policy"] for p in self.sent]


@dataclass
class Tenant:
    name: str
    cris_policy: Any = None


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


def cris(runtime: FakeRuntime, model: str = SONNET) -> ChatBedrockCRIS:
    return ChatBedrockCRIS(model=model, region_name="eu-central-1", client=runtime)


def sub_chain_tool(sub_runtime: FakeRuntime, seen: list[str | None]) -> Any:
    """A tool that summarises with its own ChatBedrockCRIS sub-chain (and records its policy)."""
    chain = (
        ChatPromptTemplate.from_messages([("human", "Summarize: {text}")])
        | cris(sub_runtime, NOVA)
        | StrOutputParser()
    )

    @tool
    def summarize(text: str) -> str:
        """Summarize a text."""
        policy = policy_from_config(ensure_config())
        seen.append(policy.name if policy else None)
        return chain.invoke({"text": text})

    return summarize


def request_for(model: Any, context: Any = None) -> ModelRequest[Any]:
    return ModelRequest(
        model=model,
        messages=[HumanMessage("hi")],
        runtime=SimpleNamespace(context=context),  # type: ignore[arg-type]
    )


# -- where the policy comes from --------------------------------------------------------------
@pytest.mark.parametrize(
    "context",
    [
        Tenant("acme", "eu"),
        {"cris_policy": "eu"},
        Tenant("acme", EU),
        {"cris_policy": EU.to_dict()},
    ],
    ids=["attribute", "mapping", "policy-object", "to_dict"],
)
def test_policy_from_context_in_every_form(context: Any) -> None:
    assert ResidencyMiddleware().policy_for(context) == EU


def test_default_policy_applies_only_when_the_context_names_none() -> None:
    mw = ResidencyMiddleware("global")
    assert mw.policy_for(None) == GLOBAL
    assert mw.policy_for(Tenant("acme")) == GLOBAL
    assert mw.policy_for(Tenant("acme", "eu")) == EU


def test_no_source_names_a_policy() -> None:
    assert ResidencyMiddleware().policy_for(Tenant("acme")) is None
    assert ResidencyMiddleware(context_key=None).policy_for({"cris_policy": "eu"}) is None


def test_custom_context_key_and_resolver() -> None:
    assert ResidencyMiddleware(context_key="region").policy_for({"region": "eu"}) == EU
    tenants = {"acme-eu": "eu", "acme-us": "global"}
    mw = ResidencyMiddleware(policy_from_context=lambda ctx: tenants.get(ctx.name))
    assert mw.policy_for(Tenant("acme-eu")) == EU
    assert mw.policy_for(Tenant("acme-us")) == GLOBAL
    assert mw.policy_for(Tenant("unknown")) is None


def test_bad_context_policy_names_where_it_came_from() -> None:
    with pytest.raises(PolicyError, match=r"context 'cris_policy'.*allowed presets"):
        ResidencyMiddleware().policy_for(Tenant("acme", "mars"))


def test_bad_default_policy_fails_at_construction() -> None:
    with pytest.raises(PolicyError, match="allowed presets"):
        ResidencyMiddleware("mars")


def test_bound_policy_is_a_ceiling_the_context_can_only_narrow() -> None:
    mw = ResidencyMiddleware()
    bound = {"metadata": dict(residency_metadata(EUROPE))}
    # global asked inside a europe-bound chain: stays europe (not widened)
    assert mw.policy_for(Tenant("t", "global"), bound) == EUROPE
    # eu asked inside europe: narrowed to the EU Regions
    narrowed = mw.policy_for(Tenant("t", "eu"), bound)
    assert narrowed is not None and narrowed.regions == EU.regions
    # nothing from the context: the bound policy as is
    assert mw.policy_for(Tenant("t"), bound) == EUROPE
    # configurable is a binding too
    assert mw.policy_for(None, {"configurable": {POLICY_KEY: "eu"}}) == EU


def test_disjoint_context_and_bound_policy_conflict() -> None:
    bound = {"metadata": dict(residency_metadata(EU))}
    with pytest.raises(PolicyConflictError):
        ResidencyMiddleware().policy_for(Tenant("t", "us"), bound)


# -- which models are routed ----------------------------------------------------------------
def test_chat_bedrock_cris_is_used_as_is(runtime: FakeRuntime) -> None:
    llm = cris(runtime)
    assert ResidencyMiddleware().routable_model(llm) is llm


def test_chat_bedrock_converse_is_converted_without_losing_settings(runtime: FakeRuntime) -> None:
    plain = ChatBedrockConverse(
        model=SONNET,
        region_name="eu-central-1",
        client=runtime,
        temperature=0.2,
        max_tokens=123,
        endpoint_url="http://127.0.0.1:1",
    )
    mw = ResidencyMiddleware()
    converted = mw.routable_model(plain)
    assert isinstance(converted, ChatBedrockCRIS)
    assert converted.model_id == SONNET
    assert converted.region_name == "eu-central-1"
    assert converted.endpoint_url == "http://127.0.0.1:1"
    assert (converted.temperature, converted.max_tokens) == (0.2, 123)
    assert converted.client is runtime
    assert converted.bedrock_client is plain.bedrock_client
    assert converted.runtime_client("eu-central-1") is runtime  # its own client, no new one
    assert mw.routable_model(plain) is converted  # converted once, then cached
    assert to_cris_model(converted) is converted


def test_other_models_are_refused_unless_allowed() -> None:
    other = GenericFakeChatModel(messages=iter([AIMessage("hi")]))
    with pytest.raises(UnroutableModelError, match=r"GenericFakeChatModel.*allow_non_bedrock"):
        ResidencyMiddleware().routable_model(other)
    assert issubclass(UnroutableModelError, ResidencyError)
    assert ResidencyMiddleware(allow_non_bedrock=True).routable_model(other) is other


# -- the hooks, called directly ------------------------------------------------------------
def test_wrap_model_call_runs_the_handler_under_the_policy(runtime: FakeRuntime) -> None:
    plain = ChatBedrockConverse(model=SONNET, region_name="eu-central-1", client=runtime)
    seen: dict[str, Any] = {}

    def handler(request: ModelRequest[Any]) -> ModelResponse[Any]:
        seen["model"] = request.model
        seen["policy"] = policy_from_config(ensure_config())
        return ModelResponse(result=[AIMessage("ok")])

    ResidencyMiddleware().wrap_model_call(request_for(plain, Tenant("t", "eu")), handler)
    assert isinstance(seen["model"], ChatBedrockCRIS)
    assert seen["policy"] == EU
    assert policy_from_config(ensure_config()) is None  # reset afterwards


async def test_awrap_model_call_runs_the_handler_under_the_policy(runtime: FakeRuntime) -> None:
    seen: list[Any] = []

    async def handler(request: ModelRequest[Any]) -> ModelResponse[Any]:
        await asyncio.sleep(0)
        seen.append(policy_from_config(ensure_config()))
        return ModelResponse(result=[AIMessage("ok")])

    await ResidencyMiddleware().awrap_model_call(
        request_for(cris(runtime), {"cris_policy": "eu"}), handler
    )
    assert seen == [EU]
    assert policy_from_config(ensure_config()) is None


def test_refusal_happens_before_the_handler() -> None:
    calls: list[int] = []

    def handler(request: ModelRequest[Any]) -> ModelResponse[Any]:
        calls.append(1)
        return ModelResponse(result=[AIMessage("ok")])

    other = GenericFakeChatModel(messages=iter([AIMessage("hi")]))
    with pytest.raises(UnroutableModelError):
        ResidencyMiddleware("eu").wrap_model_call(request_for(other), handler)
    assert calls == []


def test_wrap_tool_call_puts_the_policy_in_the_tool_config_and_restores_it() -> None:
    config: dict[str, Any] = {"metadata": {"langgraph_step": 3}}
    request = SimpleNamespace(runtime=SimpleNamespace(context=Tenant("t", "eu"), config=config))
    seen: list[Any] = []

    def handler(req: Any) -> Any:
        seen.append(policy_from_config(config))
        assert config["metadata"]["langgraph_step"] == 3
        return "result"

    assert ResidencyMiddleware().wrap_tool_call(request, handler) == "result"  # type: ignore[arg-type]
    assert seen == [EU]
    assert config == {"metadata": {"langgraph_step": 3}}


# -- real agents ------------------------------------------------------------------------------
@pytest.fixture
def agent_parts(runtime: FakeRuntime) -> Iterator[tuple[Any, FakeRuntime, list[str | None]]]:
    sub_runtime = FakeRuntime()
    seen: list[str | None] = []
    agent = create_agent(
        cris(runtime),
        tools=[sub_chain_tool(sub_runtime, seen)],
        middleware=[ResidencyMiddleware()],
        context_schema=Tenant,
    )
    yield agent, sub_runtime, seen


def test_one_agent_routes_each_tenant_by_its_context(
    agent_parts: tuple[Any, FakeRuntime, list[str | None]], runtime: FakeRuntime
) -> None:
    agent, sub_runtime, seen = agent_parts
    agent.invoke(QUESTION, context=Tenant("acme-eu", "eu"))
    agent.invoke(QUESTION, context=Tenant("acme-global", "global"))
    assert runtime.model_ids == [f"eu.{SONNET}"] * 2 + [f"global.{SONNET}"] * 2
    assert runtime.policies == ["eu", "eu", "global", "global"]
    # the tool's sub-chain inherited each tenant's policy
    assert seen == ["eu", "global"]
    assert sub_runtime.model_ids == [f"eu.{NOVA}", f"eu.{NOVA}"]  # Nova Pro has no global.
    assert sub_runtime.policies == ["eu", "global"]


async def test_async_agent_routes_by_context_and_tools_inherit(
    agent_parts: tuple[Any, FakeRuntime, list[str | None]], runtime: FakeRuntime
) -> None:
    agent, _, seen = agent_parts
    await asyncio.gather(
        agent.ainvoke(QUESTION, context=Tenant("acme-eu", "eu")),
        agent.ainvoke(QUESTION, context=Tenant("acme-global", "global")),
    )
    by_policy = {(p["requestMetadata"]["cris_policy"], p["modelId"]) for p in runtime.sent}
    assert by_policy == {("eu", f"eu.{SONNET}"), ("global", f"global.{SONNET}")}
    assert sorted(s or "" for s in seen) == ["eu", "global"]


def test_outer_binding_narrows_the_tenant_policy(
    agent_parts: tuple[Any, FakeRuntime, list[str | None]], runtime: FakeRuntime
) -> None:
    agent, _, seen = agent_parts
    with_residency(agent, "eu").invoke(QUESTION, context=Tenant("acme-global", "global"))
    assert runtime.model_ids == [f"eu.{SONNET}"] * 2
    assert runtime.policies == ["eu", "eu"]
    assert seen == ["eu"]


def test_plain_converse_model_in_an_agent_is_routed(runtime: FakeRuntime) -> None:
    plain = ChatBedrockConverse(model=SONNET, region_name="eu-central-1", client=runtime)
    agent = create_agent(plain, middleware=[ResidencyMiddleware("eu")])
    out = agent.invoke(QUESTION)
    assert runtime.model_ids == [f"eu.{SONNET}"]
    assert out["messages"][-1].response_metadata["cris"]["policy"] == "eu"


def test_non_compliant_profile_is_refused_before_sending(runtime: FakeRuntime) -> None:
    agent = create_agent(cris(runtime, f"global.{SONNET}"), middleware=[ResidencyMiddleware()])
    with pytest.raises(ResidencyViolation):
        agent.invoke(QUESTION, context={"cris_policy": "eu"})
    assert runtime.sent == []


def test_non_bedrock_agent_model_is_refused_or_let_through() -> None:
    def fake() -> GenericFakeChatModel:
        return GenericFakeChatModel(messages=iter([AIMessage("hello")]))

    with pytest.raises(UnroutableModelError):
        create_agent(fake(), middleware=[ResidencyMiddleware("eu")]).invoke(QUESTION)
    out = create_agent(
        fake(), middleware=[ResidencyMiddleware("eu", allow_non_bedrock=True)]
    ).invoke(QUESTION)
    assert out["messages"][-1].content == "hello"
