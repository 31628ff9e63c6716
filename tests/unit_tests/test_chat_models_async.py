"""Unit tests of ``ChatBedrockCRIS``'s native async path (sockets blocked).

The seam is the model's async transport (``_cris.apool``): :class:`FakeAsyncRuntime` answers
from the same script as the sync ``FakeBedrock`` of ``test_chat_models``, so every test can
compare the native path with the sync one on identical replies.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

import pytest
from botocore.exceptions import ClientError
from langchain_aws.chat_models.bedrock_converse import BedrockContextOverflowError
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.transport.async_pool import NativeAsyncUnavailableWarning
from langchain_cris.transport.async_send import SplitClient
from langchain_cris.transport.bedrock_errors import (
    BedrockConnectionError,
    BedrockInvalidRequestError,
    BedrockRateLimitError,
)
from langchain_cris.transport.clients import RuntimeClientPool
from tests.unit_tests.test_chat_models import (
    EU,
    SONNET,
    FakeBedrock,
    FakeRuntime,
    client_error,
    make_llm,
)

EU_REGIONS = EU.regions


# -- the fake async transport ---------------------------------------------------------------
class FakeStream:
    """A ConverseStream over the sync fake's events; records whether it was closed."""

    def __init__(self, owner: FakeAsyncRuntime, reply: dict[str, Any] | BaseException) -> None:
        self._owner = owner
        self._reply = reply
        self._events: Iterator[dict[str, Any]] | None = None
        self.response: dict[str, Any] = {}
        self.closed = False

    async def __aenter__(self) -> FakeStream:
        await asyncio.sleep(0)
        if isinstance(self._reply, BaseException):
            raise self._reply
        self._events = iter(self._reply.pop("stream"))
        self.response = self._reply
        self._owner.open_streams += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        assert self._events is not None, "iterated before __aenter__"
        await asyncio.sleep(self._owner.event_delay)
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        if not self.closed and self._events is not None:
            self._owner.open_streams -= 1
        self.closed = True


class FakeAsyncRuntime:
    """Async twin of ``FakeBedrock``'s clients: same script, same log, awaited sends."""

    def __init__(self, fake: FakeBedrock) -> None:
        self.fake = fake
        self.streams: list[FakeStream] = []
        self.open_streams = 0
        self.event_delay = 0.0
        self.threads: set[int] = set()

    async def converse(self, region: str, **kwargs: Any) -> dict[str, Any]:
        self.threads.add(threading.get_ident())
        await asyncio.sleep(0)
        return FakeRuntime(region, self.fake).converse(**kwargs)

    def converse_stream(self, region: str, **kwargs: Any) -> FakeStream:
        self.threads.add(threading.get_ident())
        reply: dict[str, Any] | BaseException
        try:
            scripted = self.fake.next_reply(region, "ConverseStream", kwargs)
            if "events" in scripted:  # a hand-written stream, e.g. one cut short
                reply = {"stream": iter(scripted["events"]), "ResponseMetadata": {}}
            else:  # the sync fake's events for the same script entry
                reply = FakeRuntime(region, _Once(scripted)).converse_stream(**kwargs)  # type: ignore[arg-type]
        except Exception as exc:  # raised on __aenter__, like the real HTTP call
            reply = exc
        stream = FakeStream(self, reply)
        self.streams.append(stream)
        return stream


class _Once:
    """An owner for ``FakeRuntime`` that answers with a reply already taken from the script."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply

    def next_reply(self, *_: Any) -> dict[str, Any]:
        return self.reply


def native(fake: FakeBedrock, **kwargs: Any) -> tuple[ChatBedrockCRIS, FakeAsyncRuntime]:
    """A model whose sync pool and async transport both answer from ``fake``."""
    llm = make_llm(fake, **kwargs)
    runtime = FakeAsyncRuntime(fake)
    llm._cris.apool = runtime
    return llm, runtime


def stream_reply(fail_after: int) -> dict[str, Any]:
    """A scripted ConverseStream reply that raises throttling after ``fail_after`` events."""
    return {"fail_after": fail_after}


def joined(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


@pytest.fixture
def fake() -> FakeBedrock:
    return FakeBedrock()


# -- one decision, two transports -----------------------------------------------------------
async def test_ainvoke_sends_natively_the_request_the_sync_path_sends(fake: FakeBedrock) -> None:
    llm, runtime = native(fake, residency_policy=EU, request_metadata={"team": "search"})

    @tool
    def magic(x: int) -> int:
        """Magic."""
        return x

    bound = llm.bind_tools([magic])
    config: Any = {"run_id": uuid.UUID(int=5)}
    sync_msg = bound.invoke("hi", config=config)
    sync_request = fake.sent[-1][2]
    async_msg = await bound.ainvoke("hi", config=config)
    async_request = fake.sent[-1][2]
    assert async_request == sync_request  # langchain-aws built both, byte for byte
    assert async_request["toolConfig"]["tools"][0]["toolSpec"]["name"] == "magic"
    assert async_request["requestMetadata"]["team"] == "search"
    assert async_request["requestMetadata"]["lc_run_id"] == str(uuid.UUID(int=5))
    assert runtime.threads == {threading.get_ident()}  # sent from the event loop's thread
    assert llm._cris.pool.created == 1  # only the sync call built a boto3 client
    s_meta, a_meta = sync_msg.response_metadata, async_msg.response_metadata
    assert set(a_meta) == set(s_meta)
    assert a_meta["model_name"] == "eu." + SONNET == a_meta["cris"]["model_id"]
    assert a_meta["model_provider"] == "bedrock_converse"
    ignore = {"request_id", "attempts", "run_id"}
    assert {k: v for k, v in a_meta["cris"].items() if k not in ignore} == {
        k: v for k, v in s_meta["cris"].items() if k not in ignore
    }
    assert a_meta["cris"]["request_id"] == a_meta["ResponseMetadata"]["RequestId"]


async def test_native_path_builds_no_boto3_client(fake: FakeBedrock) -> None:
    llm, _ = native(fake, residency_policy=EU)
    await llm.ainvoke("hi")
    assert [c.text async for c in llm.astream("hi")]
    assert llm._cris.pool.created == 0 and fake.created == []
    assert [op for _, op, _ in fake.sent] == ["Converse", "ConverseStream"]


async def test_copies_share_one_async_transport() -> None:
    llm = make_llm(residency_policy=EU)
    copy = llm.model_copy(update={"temperature": 0.1})
    first = llm._async_runtime()
    assert first is not None and copy._async_runtime() is first
    assert llm._cris.pool.created == 0


async def test_async_transport_gets_the_sync_config_endpoint_and_headers() -> None:
    from botocore.config import Config

    llm = make_llm(
        residency_policy=EU,
        endpoint_url="http://127.0.0.1:9",
        default_headers={"x-team": "search"},
        config=Config(read_timeout=7, max_pool_connections=33),
    )
    pool: Any = llm._async_runtime()
    assert pool.endpoint_url == "http://127.0.0.1:9"
    assert pool.default_headers == {"x-team": "search"}
    assert pool.max_pool_connections == 33
    options = pool._config._user_provided_options
    assert options["read_timeout"] == 7
    assert options["retries"] == {"max_attempts": 0}  # DEFAULT_RETRIES, as the sync clients


async def test_astream_chunks_match_the_sync_stream(fake: FakeBedrock) -> None:
    llm, _ = native(fake, residency_policy=EU)
    sync_chunks = list(llm.stream("hi"))
    async_chunks = [c async for c in llm.astream("hi")]
    assert [c.content for c in async_chunks] == [c.content for c in sync_chunks]
    assert [c.usage_metadata for c in async_chunks] == [c.usage_metadata for c in sync_chunks]
    s_full, a_full = joined(sync_chunks), joined(async_chunks)
    assert a_full.text == s_full.text == "Hello"
    assert set(a_full.response_metadata) == set(s_full.response_metadata)
    assert a_full.response_metadata["model_name"] == "eu." + SONNET
    assert a_full.response_metadata["cris"]["policy"] == "eu"


async def test_every_async_entry_point_carries_the_bound_policy(fake: FakeBedrock) -> None:
    llm, _ = native(fake)
    chain = with_residency(ChatPromptTemplate.from_messages([("human", "{q}")]) | llm, EU)
    q = {"q": "where is my data?"}
    await chain.ainvoke(q)
    assert [c async for c in chain.astream(q)]
    await chain.abatch([q, q, q])
    events = [e async for e in chain.astream_events(q, version="v2")]
    ends = [e for e in events if e["event"] == "on_chat_model_end"]
    assert ends[0]["data"]["output"].response_metadata["cris"]["policy"] == "eu"
    assert any(e["event"] == "on_chat_model_stream" for e in events)
    assert len(fake.sent) == 6 and set(fake.model_ids) == {"eu." + SONNET}
    assert {p["requestMetadata"]["cris_policy"] for _, _, p in fake.sent} == {"eu"}
    assert llm._cris.pool.created == 0


async def test_generate_via_agenerate_reads_the_policy_from_run_manager(
    fake: FakeBedrock,
) -> None:
    llm, _ = native(fake)
    result = await llm.agenerate([[HumanMessage("hi")]], metadata={"cris_policy": "eu"})
    message = result.generations[0][0].message  # type: ignore[union-attr]
    assert message.response_metadata["cris"]["policy"] == "eu"
    assert fake.model_ids == ["eu." + SONNET]


async def test_refusals_happen_before_sending(fake: FakeBedrock) -> None:
    from langchain_cris.errors import NoPolicyError, RouteRefusedError

    llm, _ = native(fake, model="global." + SONNET, residency_policy=EU)
    with pytest.raises(RouteRefusedError):
        await llm.ainvoke("hi")
    with pytest.raises(RouteRefusedError):
        [c async for c in llm.astream("hi")]
    with pytest.raises(NoPolicyError):
        await native(fake)[0].ainvoke("hi")
    assert fake.sent == []


# -- failover --------------------------------------------------------------------------------
async def test_async_failover_stays_inside_the_policy_and_is_recorded(fake: FakeBedrock) -> None:
    for region in ("eu-central-1", "eu-west-1", "eu-west-3"):
        fake.script(region, client_error("ThrottlingException"), {})
    llm, _ = native(fake, residency_policy=EU)
    msg = await llm.ainvoke("hi")
    attempts = msg.response_metadata["cris"]["attempts"]
    assert [a["outcome"] for a in attempts][-1] == "ok"
    assert attempts[0]["outcome"] == "ThrottlingException"
    assert [a["source_region"] for a in attempts] == [region for region, _, _ in fake.sent]
    assert {region for region, _, _ in fake.sent} <= EU.allowed_sources
    assert set(fake.model_ids) == {"eu." + SONNET}


async def test_exhausted_async_failover_raises_the_translated_error(fake: FakeBedrock) -> None:
    llm, _ = native(fake, residency_policy=EU, max_failover_attempts=2)
    for region in EU.allowed_sources:
        fake.script(region, client_error("ThrottlingException"))
    with pytest.raises(BedrockRateLimitError) as info:
        await llm.ainvoke("hi")
    assert isinstance(info.value, ClientError)
    assert len(info.value.cris_attempts) == 3 == len(fake.sent)  # type: ignore[attr-defined]


async def test_non_retryable_errors_are_translated_as_on_sync(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", client_error("ValidationException", status=400))
    llm, _ = native(fake, residency_policy=EU)
    with pytest.raises(BedrockInvalidRequestError):
        await llm.ainvoke("hi")
    assert len(fake.sent) == 1
    overflow = ClientError(
        {"Error": {"Code": "ValidationException", "Message": "Input is too long for model"}},
        "Converse",
    )
    fake.script("eu-central-1", overflow)
    with pytest.raises(BedrockContextOverflowError):  # langchain-aws's own handling, replayed
        await llm.ainvoke("hi")
    with pytest.raises(BedrockContextOverflowError):
        llm.invoke("hi")


async def test_async_backoff_sleeps_on_the_loop_not_the_thread(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import langchain_cris.transport.failover as dispatch

    def no_blocking_sleep(_: float) -> None:
        raise AssertionError("time.sleep on the event loop")

    monkeypatch.setattr(dispatch.time, "sleep", no_blocking_sleep)
    fake.script("eu-central-1", client_error("ThrottlingException"), {})
    llm, _ = native(fake, residency_policy=EU, failover_backoff=0.01, failover=False)
    msg = await llm.ainvoke("hi")
    assert [a["outcome"] for a in msg.response_metadata["cris"]["attempts"]] == [
        "ThrottlingException",
        "ok",
    ]


async def test_stream_fails_over_before_the_first_token_only(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", stream_reply(fail_after=1), {})
    llm, runtime = native(fake, residency_policy=EU, failover=False)
    full = joined([c async for c in llm.astream("hi")])
    assert full.text == "Hello"  # the abandoned attempt's chunks never reached the caller
    attempts = full.response_metadata["cris"]["attempts"]
    assert [a["outcome"] for a in attempts] == ["ThrottlingException", "ok"]
    assert all(s.closed for s in runtime.streams)

    fake.script("eu-central-1", stream_reply(fail_after=3))
    received: list[str] = []
    with pytest.raises(BedrockRateLimitError) as info:
        async for chunk in llm.astream("hi"):
            received.append(chunk.text)
    assert "".join(received) == "Hello"  # tokens reached the caller: no second attempt
    assert [a["outcome"] for a in info.value.cris_attempts] == ["ThrottlingException"]  # type: ignore[attr-defined]
    assert len(fake.sent) == 3  # 2 for the first stream, 1 for the second


async def test_stream_without_message_stop_fails_over_as_a_connection_error(
    fake: FakeBedrock,
) -> None:
    cut = {"events": [{"messageStart": {"role": "assistant"}}]}
    fake.script("eu-central-1", cut, {})
    llm, _ = native(fake, residency_policy=EU, failover=False)
    full = joined([c async for c in llm.astream("hi")])
    assert [a["outcome"] for a in full.response_metadata["cris"]["attempts"]] == [
        "ConnectionError",
        "ok",
    ]
    fake.script("eu-central-1", cut)
    with pytest.raises(BedrockConnectionError):
        [c async for c in llm.astream("hi")]


async def test_stream_open_errors_go_through_langchain_aws_handling(fake: FakeBedrock) -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no bedrock:InvokeTool"}},
        "ConverseStream",
    )
    fake.script("eu-central-1", denied)
    llm, _ = native(fake, residency_policy=EU)
    with pytest.raises(ValueError, match="InvokeTool") as info:
        [c async for c in llm.astream("hi")]
    with pytest.raises(ValueError, match="InvokeTool") as sync_info:
        list(llm.stream("hi"))
    assert type(info.value) is type(sync_info.value)


# -- callbacks -------------------------------------------------------------------------------
class TokenRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ends: list[LLMResult] = []

    async def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self.tokens.append(token if isinstance(token, str) else str(token))

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response)


async def test_tokens_are_reported_only_for_chunks_that_reach_the_caller(
    fake: FakeBedrock,
) -> None:
    fake.script("eu-central-1", stream_reply(fail_after=1), {})
    llm, _ = native(fake, residency_policy=EU, failover=False)
    recorder = TokenRecorder()
    chunks = [c async for c in llm.astream("hi", config={"callbacks": [recorder]})]
    assert "".join(c.text for c in chunks) == "Hello"
    # One token event per chunk the caller got; none for the abandoned attempt's messageStart.
    assert len(recorder.tokens) == len(chunks)
    end_message: BaseMessage = recorder.ends[0].generations[0][0].message  # type: ignore[union-attr]
    assert end_message.response_metadata["cris"]["attempts"][0]["outcome"] == (
        "ThrottlingException"
    )


async def test_streaming_model_reports_tokens_through_ainvoke(fake: FakeBedrock) -> None:
    llm, _ = native(fake, residency_policy=EU, streaming=True)
    recorder = TokenRecorder()
    msg = await llm.ainvoke("hi", config={"callbacks": [recorder]})
    assert fake.sent[0][1] == "ConverseStream"
    assert msg.text == "Hello" and any("Hel" in t for t in recorder.tokens)
    assert msg.response_metadata["cris"]["policy"] == "eu"


# -- cancellation ----------------------------------------------------------------------------
async def test_cancelling_mid_stream_closes_the_stream_and_is_no_failover(
    fake: FakeBedrock,
) -> None:
    llm, runtime = native(fake, residency_policy=EU)
    runtime.event_delay = 0.05
    first_token = asyncio.Event()

    async def consume() -> None:
        async for chunk in llm.astream("hi"):
            if chunk.text:
                first_token.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_token.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(runtime.streams) == 1 and runtime.streams[0].closed
    assert runtime.open_streams == 0
    assert len(fake.sent) == 1  # cancellation never moves the call to another candidate


async def test_breaking_out_of_astream_closes_the_stream(fake: FakeBedrock) -> None:
    llm, runtime = native(fake, residency_policy=EU)
    stream = llm.astream("hi")
    async for chunk in stream:
        if chunk.text:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert runtime.streams[0].closed and runtime.open_streams == 0


# -- when the native path is not used --------------------------------------------------------
@pytest.mark.usefixtures("unavailable")
async def test_without_the_extra_async_warns_once_and_uses_the_thread_pool(
    fake: FakeBedrock,
) -> None:
    llm = make_llm(residency_policy=EU)
    llm._cris.own_pool = llm._cris.pool = RuntimeClientPool(fake.client)  # sync stays faked
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = await llm.ainvoke("hi")
        chunks = [c async for c in llm.astream("hi")]
        await asyncio.gather(*(llm.ainvoke("hi") for _ in range(3)))
    ours = [w for w in caught if issubclass(w.category, NativeAsyncUnavailableWarning)]
    assert len(ours) == 1
    assert 'pip install "langchain-cris[async]"' in str(ours[0].message)
    assert first.response_metadata["cris"]["policy"] == "eu"
    assert joined(chunks).response_metadata["cris"]["policy"] == "eu"
    assert llm._cris.apool is None and len(fake.sent) == 5


async def test_a_user_sync_client_keeps_the_thread_pool_without_warning(
    fake: FakeBedrock,
) -> None:
    own = fake.client("eu-central-1")
    llm = ChatBedrockCRIS(model_id=SONNET, client=own, residency_policy=EU, failover=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        msg = await llm.ainvoke("hi")
    assert llm._async_runtime() is None and llm._cris.apool is None
    assert msg.response_metadata["cris"]["source_region"] == "eu-central-1"
    assert fake.sent[0][0] == "eu-central-1"


async def test_replaced_sync_pool_is_followed_by_async(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=EU)  # swaps the sync pool only
    await llm.ainvoke("hi")
    assert llm._cris.apool is None and fake.created == ["eu-central-1"]


# -- the split client ------------------------------------------------------------------------
def test_split_client_captures_then_replays() -> None:
    from langchain_cris.transport.async_send import _RequestCaptured

    client = SplitClient("eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    with pytest.raises(_RequestCaptured) as info:
        client.converse(modelId="m", messages=[])
    assert info.value.request == {"modelId": "m", "messages": []}
    client.replay({"ok": True})
    assert client.converse(modelId="m") == {"ok": True}
    client.replay(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        client.converse()
    with pytest.raises(_RequestCaptured):  # a replay is used once
        client.converse()


def test_capture_refuses_a_langchain_aws_that_never_calls_its_client() -> None:
    from langchain_cris.transport.async_send import _capture

    with pytest.raises(RuntimeError, match="langchain-aws returned without calling"):
        _capture(lambda: None)


async def _gen_events(events: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for event in events:
        yield event


def test_stream_mirror_equals_langchain_aws_loop_on_tool_and_usage_events() -> None:
    """The mirrored loop and langchain-aws's own ``_stream`` turn events into equal chunks."""
    from langchain_cris.transport.async_send import _StreamMirror

    events: list[dict[str, Any]] = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Let me"}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {
            "contentBlockStart": {
                "start": {"toolUse": {"toolUseId": "t1", "name": "magic"}},
                "contentBlockIndex": 1,
            }
        },
        {
            "contentBlockDelta": {
                "delta": {"toolUse": {"input": '{"x": 3}'}},
                "contentBlockIndex": 1,
            }
        },
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"messageStop": {"stopReason": "tool_use"}},
        {
            "metadata": {
                "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
                "metrics": {"latencyMs": 1},
            }
        },
    ]
    import copy

    class Replay:
        meta = type("Meta", (), {"region_name": "eu-central-1"})()

        def converse_stream(self, **_: Any) -> dict[str, Any]:
            return {
                "stream": iter(copy.deepcopy(events)),
                "ResponseMetadata": {"RequestId": "r1"},
            }

    from langchain_aws import ChatBedrockConverse

    delegate = make_llm(residency_policy=EU).model_copy(
        update={"client": Replay(), "model_id": "eu." + SONNET}
    )
    upstream = list(ChatBedrockConverse._stream(delegate, [HumanMessage("hi")]))
    mirror = _StreamMirror(delegate, {"ResponseMetadata": {"RequestId": "r1"}})
    ours = [c for e in copy.deepcopy(events) if (c := mirror.feed(e)) is not None]
    mirror.finish()
    assert [c.message for c in ours] == [c.message for c in upstream]
    cut = _StreamMirror(delegate, {})
    cut.feed({"messageStart": {"role": "assistant"}})
    with pytest.raises(ConnectionError, match="missing messageStop"):
        cut.finish()


def test_timeout_alone_keeps_failover_in_charge_of_retries() -> None:
    """``timeout=`` must not reset botocore retries (a hung Region would be retried in place)."""
    options = make_llm(timeout=3)._client_config()._user_provided_options
    assert options["retries"] == {"max_attempts": 0}
    assert options["read_timeout"] == options["connect_timeout"] == 3
    user = make_llm(max_retries=2)._client_config()._user_provided_options
    assert user["retries"] == {"max_attempts": 2}  # an explicit choice still wins
    first, second = make_llm()._client_config(), make_llm()._client_config()
    assert first.retries is not second.retries  # botocore edits it in place per client
