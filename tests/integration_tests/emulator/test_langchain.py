"""Plain langchain_aws.ChatBedrockConverse against the local Bedrock (no langchain_cris code)."""

from __future__ import annotations

import asyncio

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from langchain_aws import ChatBedrockConverse
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from langchain_cris.emulator import LocalBedrock

from .conftest import EU_SONNET


def _llm(bedrock: LocalBedrock, **kwargs: object) -> ChatBedrockConverse:
    return ChatBedrockConverse(
        model=EU_SONNET,
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        **kwargs,  # type: ignore[arg-type]
    )


@tool
def get_weather(city: str) -> str:
    """Weather report for a city."""
    return f"Sunny in {city}"


class Invoice(BaseModel):
    """An invoice to record."""

    customer: str
    amount: float = Field(ge=0)
    currency: str = Field(pattern="^[A-Z]{3}$", default="EUR")


def test_invoke_stream_batch_async(local_bedrock: LocalBedrock) -> None:
    llm = _llm(local_bedrock)
    message = llm.invoke("Hello")
    assert message.text.startswith("You said")
    assert message.response_metadata["ResponseMetadata"]["RequestId"]
    streamed = "".join(c.text for c in llm.stream("Hello"))
    assert streamed == message.text
    assert [m.text for m in llm.batch(["a", "b"])] == [llm.invoke("a").text, llm.invoke("b").text]
    assert asyncio.run(llm.ainvoke("Hello")).text == message.text
    assert len(local_bedrock.wire_log.runtime()) == 7


def test_tool_round_trip(local_bedrock: LocalBedrock) -> None:
    llm = _llm(local_bedrock).bind_tools([get_weather])
    question = HumanMessage("What is the weather in 'Lisbon'?")
    first = llm.invoke([question])
    assert first.tool_calls and first.tool_calls[0]["args"] == {"city": "Lisbon"}
    result = get_weather.invoke(first.tool_calls[0])
    assert isinstance(result, ToolMessage)
    answer = llm.invoke([question, first, result])
    assert not answer.tool_calls and "Sunny in Lisbon" in answer.text


def test_structured_output(local_bedrock: LocalBedrock) -> None:
    structured = _llm(local_bedrock).with_structured_output(Invoice)
    invoice = structured.invoke("Record an invoice for 'ACME GmbH' over 1250.5")
    assert isinstance(invoice, Invoice)
    assert invoice.customer == "ACME GmbH" and invoice.amount == 1250.5


def test_client_errors_surface_unchanged(local_bedrock: LocalBedrock) -> None:
    local_bedrock.throttle()
    llm = _llm(local_bedrock, config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as info:
        llm.invoke("Hello")
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
