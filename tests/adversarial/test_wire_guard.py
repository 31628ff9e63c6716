"""The wire guard: the last check between a decided route and the bytes, on real clients.

The guard is tested on its own (boto3 and aiobotocore clients, strict and lenient) and as
the last line of defence: a leak planted *after* the route is decided (langchain-aws made to
send another ``modelId``, Region or operation) must be refused by the guard, with nothing on
the wire, in every call shape.
"""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
import pytest
from langchain_aws import ChatBedrockConverse

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.embeddings import BedrockEmbeddingsCRIS
from langchain_cris.errors import ResidencyViolation
from langchain_cris.transport.guard import decided_route, guard_client, is_guarded
from tests.adversarial.conftest import EU, FORMS, SONNET, Wire, assert_inside, run_form

MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
EU_SONNET = "eu." + SONNET


def client(wire: Wire, region: str = "eu-central-1") -> Any:
    return boto3.client("bedrock-runtime", region_name=region, endpoint_url=wire.endpoint_url)


def test_strict_guard_refuses_a_request_with_no_decided_route(wire: Wire) -> None:
    c = guard_client(client(wire))
    with pytest.raises(ResidencyViolation, match="no residency decision"):
        c.converse(modelId=EU_SONNET, messages=MESSAGES)
    with pytest.raises(ResidencyViolation):
        c.count_tokens(modelId=SONNET, input={"converse": {"messages": MESSAGES}})
    with pytest.raises(ResidencyViolation):
        c.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=b"{}")
    assert wire.sent() == []


@pytest.mark.parametrize(
    ("operation", "model", "region", "why"),
    [
        ("Converse", "global." + SONNET, "eu-central-1", "for model"),
        ("Converse", EU_SONNET, "eu-west-1", "from Region"),
        ("ConverseStream", EU_SONNET, "eu-central-1", "for operation"),
    ],
)
def test_guard_refuses_anything_but_the_decided_route(
    wire: Wire, operation: str, model: str, region: str, why: str
) -> None:
    c = guard_client(client(wire, region))
    route = decided_route("Converse", EU_SONNET, "eu-central-1", "eu")
    with route, pytest.raises(ResidencyViolation, match=why):
        if operation == "ConverseStream":
            c.converse_stream(modelId=model, messages=MESSAGES)
        else:
            c.converse(modelId=model, messages=MESSAGES)
    assert wire.sent() == []


def test_guard_lets_the_decided_route_through(wire: Wire) -> None:
    c = guard_client(client(wire))
    with decided_route("Converse", EU_SONNET, "eu-central-1", "eu"):
        c.converse(modelId=EU_SONNET, messages=MESSAGES)
    assert [(s.operation, s.model_id, s.region) for s in wire.sent()] == [
        ("Converse", EU_SONNET, "eu-central-1")
    ]


def test_lenient_guard_checks_only_decided_sends(wire: Wire) -> None:
    c = guard_client(client(wire), strict=False)
    c.converse(modelId="global." + SONNET, messages=MESSAGES)  # the user's own call
    route = decided_route("Converse", EU_SONNET, "eu-central-1", "eu")
    with route, pytest.raises(ResidencyViolation):
        c.converse(modelId="global." + SONNET, messages=MESSAGES)
    assert len(wire.sent()) == 1


def test_async_client_is_guarded(wire: Wire) -> None:
    from aiobotocore.session import AioSession

    async def main() -> None:
        session = AioSession()
        async with session.create_client(
            "bedrock-runtime", region_name="eu-central-1", endpoint_url=wire.endpoint_url
        ) as ac:
            guard_client(ac)
            with pytest.raises(ResidencyViolation):
                await ac.converse(modelId=EU_SONNET, messages=MESSAGES)
            with decided_route("Converse", EU_SONNET, "eu-central-1", "eu"):
                with pytest.raises(ResidencyViolation):
                    await ac.converse(modelId="global." + SONNET, messages=MESSAGES)
                await ac.converse(modelId=EU_SONNET, messages=MESSAGES)

    asyncio.run(main())
    assert [s.model_id for s in wire.sent()] == [EU_SONNET]


def test_route_does_not_leak_across_threads_or_tasks(wire: Wire) -> None:
    import threading

    c = guard_client(client(wire))
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            c.converse(modelId=EU_SONNET, messages=MESSAGES)
        except BaseException as exc:
            errors.append(exc)

    with decided_route("Converse", EU_SONNET, "eu-central-1", "eu"):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], ResidencyViolation)
    assert wire.sent() == []


def test_every_client_the_package_holds_is_guarded(wire: Wire) -> None:
    llm = ChatBedrockCRIS(model=SONNET, region_name="eu-central-1", endpoint_url=wire.endpoint_url)
    assert is_guarded(llm.runtime_client("eu-west-1"))
    given = client(wire, "eu-west-3")
    ChatBedrockCRIS(model=SONNET, client=given, residency_policy=EU)
    assert is_guarded(given)
    emb = BedrockEmbeddingsCRIS(
        model_id="amazon.titan-embed-text-v2:0",
        region_name="eu-central-1",
        endpoint_url=wire.endpoint_url,
        residency_policy=EU,
    )
    assert is_guarded(emb.client)
    with pytest.raises(ResidencyViolation):  # direct use of a package client is refused
        llm.runtime_client("eu-west-1").converse(modelId=EU_SONNET, messages=MESSAGES)
    assert wire.sent() == []


# -- the last line of defence: a leak planted between the decision and the bytes ------------
@pytest.fixture(params=["model", "operation"])
def planted_leak(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """langchain-aws made to send something else than what was decided."""
    original = ChatBedrockConverse._converse_params

    def leaky(self: Any, **kwargs: Any) -> dict[str, Any]:
        params = original(self, **kwargs)
        params["modelId"] = "global." + SONNET
        return params

    if request.param == "model":
        monkeypatch.setattr(ChatBedrockConverse, "_converse_params", leaky)
    else:  # a stream request sent as a one-shot call and vice versa
        import botocore.client

        real_api_call = botocore.client.BaseClient._make_api_call

        def make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
            other = {"Converse": "ConverseStream", "ConverseStream": "Converse"}
            return real_api_call(self, other.get(operation_name, operation_name), api_params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return str(request.param)


@pytest.mark.parametrize("form", FORMS)
def test_guard_catches_a_leak_after_the_decision(wire: Wire, form: str, planted_leak: str) -> None:
    llm = ChatBedrockCRIS(
        model=SONNET,
        region_name="eu-central-1",
        endpoint_url=wire.endpoint_url,
        failover_backoff=0.0,
    )
    if planted_leak == "operation" and form in ("ainvoke", "astream"):
        pytest.skip("the planted operation swap patches botocore's sync client only")
    with pytest.raises(ResidencyViolation, match="wire guard"):
        run_form(form, with_residency(llm, EU), "hi")
    assert_inside(wire, EU)
    assert wire.sent() == []
