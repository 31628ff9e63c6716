"""``ChatBedrockCRIS``'s native async path against the embedded local Bedrock.

What the wire log shows for async calls (policy, failover, streams), that the native transport
and not the thread pool carries them, and that cancellation, many event loops and warnings as
errors leave nothing open.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.prompts import ChatPromptTemplate

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.transport.async_pool import NativeAsyncUnavailableWarning
from langchain_cris.transport.bedrock_errors import BedrockConnectionError, BedrockRateLimitError
from tests.integration_tests._async_checks import established_to, needs_proc
from tests.integration_tests.test_routing_e2e import outside_policy

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
PROMPT = ChatPromptTemplate.from_messages([("human", "{question}")])


def make_llm(bedrock: LocalBedrock, **kwargs: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {
        "model": SONNET,
        "region_name": "eu-central-1",
        "endpoint_url": bedrock.endpoint_url,
        "failover_backoff": 0.0,
        **kwargs,
    }
    return ChatBedrockCRIS(**params)


def joined(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


class NoThreads(ThreadPoolExecutor):
    """A default executor that fails the test if anything is run on the thread pool."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise AssertionError(f"{getattr(fn, '__qualname__', fn)} was sent to the thread pool")


# -- the native path, on the wire -----------------------------------------------------------
async def test_every_async_entry_point_stays_in_policy_without_threads(
    local_bedrock: LocalBedrock,
) -> None:
    llm = make_llm(local_bedrock)
    # No output parser: langchain-core runs parsers' aparse on the thread pool itself.
    chain = with_residency(PROMPT | llm, EU)
    q = {"question": "Where is my data?"}
    # Opening this loop's client builds its TLS contexts on a worker thread (aiobotocore,
    # once per client); every call after that must stay on the event loop.
    await chain.ainvoke(q)
    local_bedrock.reset()
    asyncio.get_running_loop().set_default_executor(NoThreads())
    assert await chain.ainvoke(q)
    assert "".join([c.text async for c in chain.astream(q)])
    assert len(await chain.abatch([q] * 8)) == 8
    events = [e async for e in chain.astream_events(q, version="v2")]
    end = next(e for e in events if e["event"] == "on_chat_model_end")
    assert end["data"]["output"].response_metadata["cris"]["policy"] == "eu"

    records = local_bedrock.wire_log.runtime()
    assert len(records) == 11
    assert {r.model_id for r in records} == {"eu." + SONNET}
    assert all(outside_policy(r, EU) == [] for r in records)
    assert llm._cris.apool is not None and llm._cris.pool.created == 0  # no boto3 client


async def test_ainvoke_and_astream_match_the_sync_path(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock, residency_policy=EU)
    sync_msg = llm.invoke("Tell me about Lyon")
    async_msg = await llm.ainvoke("Tell me about Lyon")
    assert async_msg.content == sync_msg.content
    assert async_msg.usage_metadata == sync_msg.usage_metadata
    assert set(async_msg.response_metadata) == set(sync_msg.response_metadata)
    assert async_msg.response_metadata["model_name"] == "eu." + SONNET
    rid = async_msg.response_metadata["cris"]["request_id"]
    assert rid == local_bedrock.wire_log.runtime()[-1].request_id

    sync_chunks = list(llm.stream("Tell me about Lyon"))
    async_chunks = [c async for c in llm.astream("Tell me about Lyon")]
    assert [c.content for c in async_chunks] == [c.content for c in sync_chunks]
    assert [c.usage_metadata for c in async_chunks] == [c.usage_metadata for c in sync_chunks]
    s_full, a_full = joined(sync_chunks), joined(async_chunks)
    assert set(a_full.response_metadata) == set(s_full.response_metadata)
    assert a_full.response_metadata["cris"]["request_id"] == (
        local_bedrock.wire_log.runtime()[-1].request_id
    )
    assert (
        a_full.response_metadata["ResponseMetadata"]["RequestId"]
        == (a_full.response_metadata["cris"]["request_id"])
    )


async def test_tool_calls_stream_natively(local_bedrock: LocalBedrock) -> None:
    local_bedrock.script.tool_call("magic_function", {"input": 3})
    llm = make_llm(local_bedrock, residency_policy=EU)

    def magic_function(input: int) -> int:
        """Apply a magic function to an input."""
        return input + 2

    bound = llm.bind_tools([magic_function])
    chunks: list[Any] = [c async for c in bound.astream("What is magic_function(3)?")]
    full = joined(chunks)
    assert full.tool_calls[0]["name"] == "magic_function"
    assert full.tool_calls[0]["args"] == {"input": 3}
    record = local_bedrock.wire_log.runtime()[-1]
    assert record.operation == "ConverseStream"


# -- failover --------------------------------------------------------------------------------
async def test_throttled_ainvoke_fails_over_inside_the_policy(
    local_bedrock: LocalBedrock,
) -> None:
    local_bedrock.script.fault("throttle", times=2)
    msg = await with_residency(make_llm(local_bedrock), EU).ainvoke("hi")
    attempts = msg.response_metadata["cris"]["attempts"]
    records = local_bedrock.wire_log.runtime()
    assert [a["outcome"] for a in attempts] == ["ThrottlingException"] * 2 + ["ok"]
    assert [r.outcome for r in records] == [a["outcome"] for a in attempts]
    assert [r.request_id for r in records] == [a["request_id"] for a in attempts]
    assert [r.source_region for r in records] == [a["source_region"] for a in attempts]
    assert all(outside_policy(r, EU) == [] for r in records)


async def test_regional_outage_under_concurrency_stays_in_policy(
    local_bedrock: LocalBedrock,
) -> None:
    local_bedrock.inject("service_unavailable", region="eu-west-3")
    chain = with_residency(make_llm(local_bedrock), EU)
    messages = await asyncio.gather(*(chain.ainvoke("hi") for _ in range(30)))
    assert all(m.response_metadata["cris"]["attempts"][-1]["outcome"] == "ok" for m in messages)
    records = local_bedrock.wire_log.runtime()
    assert any(r.outcome == "ServiceUnavailableException" for r in records)
    assert all(outside_policy(r, EU) == [] for r in records)


async def test_exhausted_async_failover_raises_a_rate_limit_error(
    local_bedrock: LocalBedrock,
) -> None:
    local_bedrock.script.fault("throttle", times=10)
    llm = make_llm(local_bedrock, max_failover_attempts=2)
    with pytest.raises(BedrockRateLimitError) as info:
        await with_residency(llm, EU).ainvoke("hi")
    assert len(info.value.cris_attempts) == 3  # type: ignore[attr-defined]
    assert len(local_bedrock.wire_log.runtime()) == 3


async def test_astream_fails_over_only_before_the_first_token(
    local_bedrock: LocalBedrock,
) -> None:
    local_bedrock.script.fault("stream_error", after_events=1, exception="throttlingException")
    chain = with_residency(make_llm(local_bedrock), EU)
    full = joined([c async for c in chain.astream("Tell me a story")])
    attempts = full.response_metadata["cris"]["attempts"]
    assert [a["outcome"] for a in attempts] == ["ThrottlingException", "ok"]
    assert "deterministic reply" in full.text
    assert len(local_bedrock.wire_log.runtime()) == 2

    local_bedrock.reset()
    local_bedrock.script.fault("stream_error", after_events=4, exception="throttlingException")
    received: list[str] = []
    with pytest.raises(BedrockRateLimitError):
        async for chunk in chain.astream("Tell me a long story about Frankfurt"):
            received.append(chunk.text)
    assert "".join(received)  # tokens reached the caller, so no second attempt
    assert len(local_bedrock.wire_log.runtime()) == 1


async def test_read_timeout_fails_over_like_the_sync_path(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock, residency_policy=EU, timeout=1)
    local_bedrock.inject("hang", seconds=3, times=1)
    sync_attempts = llm.invoke("hi").response_metadata["cris"]["attempts"]
    local_bedrock.inject("hang", seconds=3, times=1)
    async_attempts = (await llm.ainvoke("hi")).response_metadata["cris"]["attempts"]
    assert [a["outcome"] for a in async_attempts] == [a["outcome"] for a in sync_attempts]
    assert [a["outcome"] for a in async_attempts] == ["ConnectionError", "ok"]


async def test_unreachable_endpoint_is_a_connection_error() -> None:
    with LocalBedrock(seed=0) as bedrock:
        endpoint = bedrock.endpoint_url
    llm = ChatBedrockCRIS(
        model_id=SONNET,
        region_name="eu-central-1",
        endpoint_url=endpoint,  # the server is gone: connection refused
        residency_policy=EU,
        failover_backoff=0.0,
        max_failover_attempts=1,
    )
    with pytest.raises(BedrockConnectionError) as info:
        await llm.ainvoke("hi")
    assert [a["outcome"] for a in info.value.cris_attempts] == ["ConnectionError"] * 2  # type: ignore[attr-defined]


# -- cancellation, loops, leaks --------------------------------------------------------------
@needs_proc
async def test_cancelling_astream_closes_its_stream_and_connection(
    slow_stream: LocalBedrock,
) -> None:
    llm = make_llm(slow_stream, residency_policy=EU)
    first_token = asyncio.Event()

    async def consume() -> None:
        async for chunk in llm.astream("Tell me a long story about Frankfurt"):
            if chunk.text:
                first_token.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_token.wait(), 60)
    assert established_to(slow_stream.port) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert established_to(slow_stream.port) == 0  # dropped, not parked in the pool
    assert len(slow_stream.wire_log.runtime()) == 1  # cancellation is not a failover


@needs_proc
async def test_breaking_out_of_astream_closes_the_connection(slow_stream: LocalBedrock) -> None:
    llm = make_llm(slow_stream, residency_policy=EU)
    stream = llm.astream("Tell me a long story about Frankfurt")
    async for chunk in stream:
        if chunk.text:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert established_to(slow_stream.port) == 0


def test_many_event_loops_in_sequence_leave_nothing_open(
    local_bedrock: LocalBedrock, no_leaks: list[str]
) -> None:
    llm = make_llm(local_bedrock, residency_policy=EU)

    async def calls() -> list[str]:
        msg = await llm.ainvoke("hi")
        full = joined([c async for c in llm.astream("hi")])
        return [
            msg.response_metadata["cris"]["request_id"],
            full.response_metadata["cris"]["request_id"],
        ]

    request_ids: list[str] = []
    for _ in range(5):
        request_ids += asyncio.run(calls())  # a new loop each time: new clients, closed after
        pool: Any = llm._cris.apool
        assert pool._states == {}
        if Path("/proc/net/tcp").exists():
            assert established_to(local_bedrock.port) == 0
    assert len(set(request_ids)) == 10
    assert [r.request_id for r in local_bedrock.wire_log.runtime()] == request_ids
    assert no_leaks == []


def test_loops_in_threads_share_the_model_not_the_clients(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock, residency_policy=EU)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(llm.ainvoke("hi"), 60))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(local_bedrock.wire_log.runtime()) == 4


async def test_native_async_is_concurrent_not_thread_bound() -> None:
    """48 ainvoke calls are on the wire at once; the thread pool (cores + 4) could hold 6.

    No timing threshold: the service latency outlasts the test, so only truly concurrent
    calls can reach 48 in flight; the calls are then cancelled and the server stopped.
    """
    bedrock = LocalBedrock(seed=0, default_region={"latency_ms": 600_000}).start()
    try:
        llm = make_llm(bedrock, residency_policy=EU)
        tasks = [asyncio.ensure_future(llm.ainvoke("hi")) for _ in range(48)]
        reached = await asyncio.to_thread(bedrock.wait_in_flight, 48, 120)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert reached, f"only {bedrock.peak_in_flight} calls were in flight at once"
    finally:
        bedrock.stop()


# -- fallback --------------------------------------------------------------------------------
@pytest.mark.usefixtures("unavailable")
async def test_without_the_extra_async_still_works_and_warns_once(
    local_bedrock: LocalBedrock,
) -> None:
    llm = make_llm(local_bedrock, residency_policy=EU)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await llm.ainvoke("hi")
        full = joined([c async for c in llm.astream("hi")])
    ours = [w for w in caught if issubclass(w.category, NativeAsyncUnavailableWarning)]
    assert len(ours) == 1 and "langchain-cris[async]" in str(ours[0].message)
    assert full.response_metadata["cris"]["policy"] == "eu"
    assert llm._cris.apool is None and llm._cris.pool.created == 1  # the boto3 path
    assert len(local_bedrock.wire_log.runtime()) == 2
