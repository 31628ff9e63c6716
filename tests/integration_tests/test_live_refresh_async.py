"""Async calls learn live routes without blocking the event loop.

The live layer asks ``ListInferenceProfiles`` through a boto3 client (a blocking socket call,
hundreds of ms on AWS) once per source Region and TTL. In ``ainvoke`` / ``astream`` that request
must run in a worker thread: a request on the loop's thread would stall every other coroutine
of the worker for its whole duration. Each test gets its own local Bedrock (its own endpoint,
so its own live catalog, stale at the start) and watches which thread sends the request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_cris import ChatBedrockCRIS, ResidencyPolicy
from langchain_cris.emulator import LocalBedrock
from langchain_cris.errors import SourceRegionNotAllowedError

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
IN_REGION = "amazon.titan-text-express-v1"
EU = ResidencyPolicy.preset("eu")


@pytest.fixture
def bedrock() -> Iterator[LocalBedrock]:
    with LocalBedrock(seed=0) as local:
        yield local


@pytest.fixture
def list_threads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(source Region, thread id) of every ListInferenceProfiles the models send."""
    sent: list[tuple[str, int]] = []
    original = ChatBedrockCRIS._new_client

    def recording(self: ChatBedrockCRIS, service: str, region: str) -> Any:
        client = original(self, service, region)
        if service == "bedrock":

            def on_list(**_: Any) -> None:
                sent.append((region, threading.get_ident()))

            client.meta.events.register("before-call.bedrock.ListInferenceProfiles", on_list)
        return client

    monkeypatch.setattr(ChatBedrockCRIS, "_new_client", recording)
    return sent


def _llm(bedrock: LocalBedrock, model: str = f"eu.{SONNET45}", **kw: Any) -> ChatBedrockCRIS:
    return ChatBedrockCRIS(
        model=model,
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        residency_policy=EU,
        **kw,
    )


async def test_ainvoke_refreshes_in_a_worker_thread(
    bedrock: LocalBedrock, list_threads: list[tuple[str, int]]
) -> None:
    loop_thread = threading.get_ident()
    reply = await _llm(bedrock).ainvoke("hi")
    assert reply.response_metadata["cris"]["source_region"] == "eu-central-1"
    assert {region for region, _ in list_threads} == {"eu-central-1"}  # (pages of one answer)
    assert all(thread != loop_thread for _, thread in list_threads)
    asked = len(list_threads)
    again = await _llm(bedrock).ainvoke("hi")  # fresh now: no request at all
    assert again.response_metadata["cris"]["source_region"] == "eu-central-1"
    assert len(list_threads) == asked


async def test_astream_refreshes_in_a_worker_thread(
    bedrock: LocalBedrock, list_threads: list[tuple[str, int]]
) -> None:
    loop_thread = threading.get_ident()
    chunks = [c async for c in _llm(bedrock).astream("hi")]
    assert chunks
    assert {region for region, _ in list_threads} == {"eu-central-1"}
    assert all(thread != loop_thread for _, thread in list_threads)


async def test_failover_source_region_is_refreshed_in_a_worker_thread(
    bedrock: LocalBedrock, list_threads: list[tuple[str, int]]
) -> None:
    # An in-Region model: every throttle reaches the client, and failover moves the call to
    # another allowed source Region, whose live routes are learned before that send.
    bedrock.throttle("eu-central-1")
    loop_thread = threading.get_ident()
    reply = await _llm(bedrock, model=IN_REGION, failover_backoff=0.0).ainvoke("hi")
    served_from = reply.response_metadata["cris"]["source_region"]
    assert served_from != "eu-central-1" and served_from in EU.regions
    regions = [region for region, _ in list_threads]
    assert regions[0] == "eu-central-1" and served_from in regions
    assert all(thread != loop_thread for _, thread in list_threads)
    sent = [(r.operation, r.source_region) for r in bedrock.wire_log.runtime()]
    assert sent[0] == ("Converse", "eu-central-1") and sent[-1] == ("Converse", served_from)
    assert all(region in EU.regions for _, region in sent)


async def test_a_refused_source_region_is_never_asked(
    bedrock: LocalBedrock, list_threads: list[tuple[str, int]]
) -> None:
    # eu-central-1 is no source Region of a US policy: refused, typed, before any request
    # (not even the control-plane one the live layer would send from there).
    us = ResidencyPolicy.preset("us")
    llm = ChatBedrockCRIS(
        model=SONNET45, region_name="eu-central-1", endpoint_url=bedrock.endpoint_url
    )
    with pytest.raises(SourceRegionNotAllowedError):
        await llm.ainvoke("hi", config={"metadata": {"cris_policy": us}})
    assert list_threads == []
    assert [r.operation for r in bedrock.wire_log] == []
