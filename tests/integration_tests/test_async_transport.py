"""The native async transport against the embedded local Bedrock.

Covers the wire (Converse, incremental ConverseStream decode), errors that must match the sync
boto3 path, cancellation closing the connection, bounded pools, many loops in sequence and no
unclosed sessions or sockets with warnings turned into errors.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError, HTTPClientError

from langchain_cris.emulator import LocalBedrock
from langchain_cris.transport.async_pool import AsyncBedrockRuntimePool
from tests.integration_tests._async_checks import established_to, needs_proc

MODEL = "eu.amazon.nova-lite-v1:0"


@pytest.fixture(autouse=True)
def _unguarded_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests drive the raw pool with ad-hoc requests, as its own callers never do.

    In the package every pool client carries the wire guard and every send runs under a
    decided route; here the guard is left off, so each test is about the transport alone (the
    guard on pool clients is tested in tests/adversarial/test_wire_guard.py).
    """
    monkeypatch.setattr("langchain_cris.transport.async_pool.guard_client", lambda c: c)


REGION = "eu-central-1"
EU = {"eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"}
MESSAGES = [{"role": "user", "content": [{"text": "Tell me something about Europe."}]}]
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
THREE_ATTEMPTS = Config(retries={"mode": "standard", "total_max_attempts": 3})


# -- the wire -----------------------------------------------------------------------------------


async def test_converse_returns_boto3_shape_signed_for_the_region(
    local_bedrock: LocalBedrock,
) -> None:
    async with AsyncBedrockRuntimePool(endpoint_url=local_bedrock.endpoint_url) as pool:
        response = await pool.converse(REGION, modelId=MODEL, messages=MESSAGES)
    assert response["output"]["message"]["role"] == "assistant"
    assert response["output"]["message"]["content"][0]["text"]
    assert response["stopReason"] == "end_turn"
    assert response["usage"]["outputTokens"] > 0
    record = local_bedrock.wire_log.runtime()[-1]
    assert response["ResponseMetadata"]["RequestId"] == record.request_id
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (record.operation, record.source_region, record.model_id) == ("Converse", REGION, MODEL)
    assert record.served_region in EU


async def test_converse_stream_yields_boto3_events_as_they_arrive(
    local_bedrock: LocalBedrock,
) -> None:
    async with AsyncBedrockRuntimePool(endpoint_url=local_bedrock.endpoint_url) as pool:
        async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
            request_id = stream.response["ResponseMetadata"]["RequestId"]
            events = [event async for event in stream]
        kinds = [next(iter(e)) for e in events]
        assert kinds[0] == "messageStart"
        assert kinds[-2:] == ["messageStop", "metadata"]
        deltas = [e for e in events if "contentBlockDelta" in e]
        assert len(deltas) >= 3
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in deltas)
        assert text.strip()
        assert request_id == local_bedrock.wire_log.runtime()[-1].request_id
        # Incremental, with no timing: the connection is cut after 3 events, and those were
        # already yielded (a client that read the whole body before decoding would raise first).
        local_bedrock.inject("stream_cut", after_events=3)
        received: list[dict[str, Any]] = []
        with pytest.raises(HTTPClientError):
            async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
                async for event in stream:
                    received.append(event)
    assert received == events[:3]
    assert "contentBlockDelta" in received[-1]


async def test_requests_are_served_concurrently() -> None:
    """32 calls from one pool are in flight at once (no timing threshold; see the chat test)."""
    bedrock = LocalBedrock(seed=0, default_region={"latency_ms": 600_000}).start()
    try:
        async with AsyncBedrockRuntimePool(endpoint_url=bedrock.endpoint_url) as pool:
            tasks = [
                asyncio.ensure_future(pool.converse(REGION, modelId=MODEL, messages=MESSAGES))
                for _ in range(32)
            ]
            reached = await asyncio.to_thread(bedrock.wait_in_flight, 32, 120)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert reached, f"only {bedrock.peak_in_flight} calls were in flight at once"
    finally:
        bedrock.stop()


@needs_proc
async def test_connections_are_bounded_by_max_pool_connections() -> None:
    with LocalBedrock(seed=0, default_region={"latency_ms": 200}) as bedrock:
        pool = AsyncBedrockRuntimePool(endpoint_url=bedrock.endpoint_url, max_pool_connections=4)
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, established_to(bedrock.port))
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(
            *(pool.converse(REGION, modelId=MODEL, messages=MESSAGES) for _ in range(16))
        )
        watcher.cancel()
        await pool.aclose()
        served = len(bedrock.wire_log.runtime())
        # The server's own count, over the whole run: never more than 4 calls at once.
        in_flight = bedrock.peak_in_flight
    assert 1 <= peak <= 4
    assert served == 16 and 1 <= in_flight <= 4


# -- errors: the same as the sync path -------------------------------------------------------------


@pytest.mark.parametrize("config", [ONE_ATTEMPT, THREE_ATTEMPTS], ids=["one", "three"])
async def test_throttling_raises_client_error_after_the_same_attempts_as_sync(
    local_bedrock: LocalBedrock, config: Config
) -> None:
    local_bedrock.throttle()
    sync_client = local_bedrock.client("bedrock-runtime", REGION, config=config)
    with pytest.raises(ClientError) as sync_error:
        sync_client.converse(modelId=MODEL, messages=MESSAGES)
    sync_attempts = len(local_bedrock.wire_log.runtime())
    local_bedrock.reset()

    async with AsyncBedrockRuntimePool(
        endpoint_url=local_bedrock.endpoint_url, config=config
    ) as pool:
        with pytest.raises(ClientError) as async_error:
            await pool.converse(REGION, modelId=MODEL, messages=MESSAGES)
    assert async_error.value.response["Error"]["Code"] == "ThrottlingException"
    # botocore builds exception classes per client, so compare name and message (which
    # includes "reached max retries: N").
    assert type(async_error.value).__name__ == type(sync_error.value).__name__
    assert str(async_error.value) == str(sync_error.value)
    assert len(local_bedrock.wire_log.runtime()) == sync_attempts
    assert sync_attempts == (1 if config is ONE_ATTEMPT else 3)


async def test_mid_stream_exception_raises_event_stream_error(local_bedrock: LocalBedrock) -> None:
    local_bedrock.inject("stream_error", exception="throttlingException", after_events=2)
    received: list[dict[str, Any]] = []
    async with AsyncBedrockRuntimePool(endpoint_url=local_bedrock.endpoint_url) as pool:
        with pytest.raises(EventStreamError) as info:
            async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
                async for event in stream:
                    received.append(event)
    assert info.value.response["Error"]["Code"] == "throttlingException"
    assert len(received) == 2


async def test_mid_stream_cut_raises_a_botocore_transport_error(
    local_bedrock: LocalBedrock,
) -> None:
    local_bedrock.inject("stream_cut", after_events=2)
    async with AsyncBedrockRuntimePool(endpoint_url=local_bedrock.endpoint_url) as pool:
        with pytest.raises(HTTPClientError):  # ResponseStreamingError/ReadTimeoutError family
            async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
                async for _ in stream:
                    pass


async def test_read_timeout_is_botocores(local_bedrock: LocalBedrock) -> None:
    local_bedrock.inject("hang", seconds=5)
    config = Config(read_timeout=0.3, retries={"total_max_attempts": 1})
    async with AsyncBedrockRuntimePool(
        endpoint_url=local_bedrock.endpoint_url, config=config
    ) as pool:
        with pytest.raises(HTTPClientError, match="Read timeout"):
            await pool.converse(REGION, modelId=MODEL, messages=MESSAGES)


# -- cancellation and cleanup --------------------------------------------------------------------


@needs_proc
async def test_cancelling_mid_stream_closes_stream_and_connection(
    slow_stream: LocalBedrock,
) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=slow_stream.endpoint_url)
    first_delta = asyncio.Event()

    async def consume() -> None:
        async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
            async for event in stream:
                if "contentBlockDelta" in event:
                    first_delta.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_delta.wait(), 60)
    assert established_to(slow_stream.port) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert established_to(slow_stream.port) == 0  # dropped, not parked in the pool

    # Control: a stream read to the end keeps its connection for reuse.
    async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
        async for _ in stream:
            pass
    assert established_to(slow_stream.port) == 1
    await pool.aclose()
    assert established_to(slow_stream.port) == 0


def test_many_event_loops_in_sequence_leave_nothing_open(
    local_bedrock: LocalBedrock, no_leaks: list[str]
) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=local_bedrock.endpoint_url)

    async def calls() -> list[str]:
        response = await pool.converse(REGION, modelId=MODEL, messages=MESSAGES)
        async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
            events = [event async for event in stream]
        assert "messageStop" in events[-2]
        return [
            response["ResponseMetadata"]["RequestId"],
            stream.response["ResponseMetadata"]["RequestId"],
        ]

    request_ids: list[str] = []
    for _ in range(5):
        request_ids += asyncio.run(calls())  # each run closes its loop's clients on shutdown
        assert pool._states == {}
        if Path("/proc/net/tcp").exists():
            assert established_to(local_bedrock.port) == 0
    assert len(set(request_ids)) == 10
    assert [r.request_id for r in local_bedrock.wire_log.runtime()] == request_ids
    assert no_leaks == []


def test_abandoned_stream_is_closed_at_loop_shutdown(
    slow_stream: LocalBedrock, no_leaks: list[str]
) -> None:
    pool = AsyncBedrockRuntimePool(endpoint_url=slow_stream.endpoint_url)

    async def walk_away() -> None:
        stream = pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES)
        async with stream:
            await stream.__anext__()
            raise KeyboardInterrupt  # leave the block mid-stream by a BaseException

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(walk_away())
    if Path("/proc/net/tcp").exists():
        assert established_to(slow_stream.port) == 0
    assert no_leaks == []


async def test_bearer_api_key_is_sent_instead_of_sigv4(local_bedrock: LocalBedrock) -> None:
    bearer_region = local_bedrock.config.bearer_token_region
    async with AsyncBedrockRuntimePool(
        endpoint_url=local_bedrock.endpoint_url, api_key="bedrock-api-key-for-tests"
    ) as pool:
        with pytest.raises(ClientError):
            # The us-east-1 scope comes only from the bearer path (no SigV4 scope to read).
            await pool.converse("eu-central-1", modelId=MODEL, messages=MESSAGES)
    assert local_bedrock.wire_log.runtime()[-1].source_region == bearer_region
