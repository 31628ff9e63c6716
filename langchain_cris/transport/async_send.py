"""Native async sends for ``ChatBedrockCRIS``: langchain-aws builds and parses, we only await.

The chat model decides once (policy, route, candidates, failover; :mod:`.failover`) and then needs
one *send* per candidate. The sync send is ``ChatBedrockConverse._generate`` / ``_stream`` on a
delegate model holding a boto3 client. The async send here keeps langchain-aws doing everything
but the socket, so both transports put the same bytes on the wire and return the same objects:

* **Request**: the delegate's ``client`` is a :class:`SplitClient`. langchain-aws's own
  ``_generate`` / ``_stream`` runs against it up to ``client.converse(**request)``, where the
  client raises a private sentinel carrying ``request``. Message conversion, tool config,
  guardrails, cache points, ``requestMetadata``, additional fields: all built by langchain-aws,
  exactly as on the sync path, without sending anything.
* **Send**: ``await pool.converse(region, **request)`` (or ``converse_stream``) on the native
  transport (:mod:`langchain_cris.transport.async_pool`, aiobotocore).
* **Response (one-shot)**: the same ``_generate`` runs a second time with the ``SplitClient``
  now *replaying* the answer (or raising the error) that came back, so langchain-aws's parsing,
  ``response_metadata`` and error handling (context overflow, ``InvokeTool`` hint) produce the
  ``ChatResult``. The price is building the request twice: measured on a one-message turn,
  the capture run costs ~11 us and the replay run ~31 us (parsing included), against ~1 ms
  of CPU per native call end to end; and, where
  langchain-aws warns while building (tool blocks without tools, an unsupported temperature),
  a second warning from the same line, which Python's default filter shows once.
* **Response (stream)**: a generator cannot be fed asynchronously, so :func:`astream_converse`
  mirrors langchain-aws's ``_stream`` loop (about twenty lines, marked below) around its own
  ``_parse_stream_event``, decoding events as they arrive. Tests compare it chunk by chunk with
  the sync path on the same local Bedrock reply.

Measured with ``benchmarks/bench_async.py`` (2 cores, local Bedrock in a child process, 200 ms
per call): at 64 in flight ``ChatBedrockCRIS.ainvoke`` 314 calls/s and ``astream`` 310
(98 % / 97 % of the 320 limit, 10.7x / 10.4x ``ChatBedrockConverse``'s 29.4 / 29.7); the raw
transport 316 / 315. At 256 in flight the 2 cores are the limit: 965 / 739 calls/s (transport
1237 / 998), still ~33x / ~26x the thread pool. Python heap per in-flight call ~35 KiB
(transport alone ~18.5 KiB; the rest is LangChain's run and callback state).

Why not re-implement Converse: langchain-aws's request building is a few thousand lines that
change with every release (new content types, models, fields); a copy would drift. Why not run
the sync client in threads: that is the thread-pool ceiling this module removes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Mapping
from types import TracebackType
from typing import Any, NoReturn, Protocol, cast

from botocore.exceptions import ClientError
from langchain_aws import ChatBedrockConverse
from langchain_aws.chat_models.bedrock_converse import (
    _extract_thinking_tokens,
    _handle_bedrock_error,
    _parse_stream_event,
    _raise_if_context_overflow,
)
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult

__all__ = [
    "AsyncConverseStream",
    "AsyncRuntime",
    "SplitClient",
    "agenerate_converse",
    "astream_converse",
]


class AsyncConverseStream(Protocol):
    """What :meth:`AsyncRuntime.converse_stream` returns (``ConverseStream`` in production)."""

    response: dict[str, Any]

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class AsyncRuntime(Protocol):
    """The native transport as the chat model uses it (``AsyncBedrockRuntimePool``)."""

    async def converse(self, region: str, **kwargs: Any) -> dict[str, Any]: ...

    def converse_stream(self, region: str, **kwargs: Any) -> AsyncConverseStream: ...


class _RequestCaptured(Exception):
    """Raised by :class:`SplitClient` to stop langchain-aws right where it would send."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__("request captured")
        self.request = request


class _Meta:
    def __init__(self, region_name: str) -> None:
        self.region_name = region_name


class SplitClient:
    """Stands in a delegate's boto3 client: first captures the request, then replays the reply.

    Args:
        region_name: The candidate's source Region (``meta.region_name``, as boto3 has it).
    """

    def __init__(self, region_name: str) -> None:
        self.meta = _Meta(region_name)
        self._reply: dict[str, Any] | Exception | None = None

    def replay(self, reply: dict[str, Any] | Exception) -> None:
        """Answer the next ``converse`` call with ``reply`` (raised if it is an exception)."""
        self._reply = reply

    def converse(self, **request: Any) -> dict[str, Any]:
        reply, self._reply = self._reply, None
        if reply is None:
            raise _RequestCaptured(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def converse_stream(self, **request: Any) -> NoReturn:
        raise _RequestCaptured(request)


def _capture(run: Any) -> dict[str, Any]:
    try:
        run()
    except _RequestCaptured as captured:
        return captured.request
    raise RuntimeError(  # langchain-aws changed shape: refuse rather than guess
        "langchain-aws returned without calling its client; the native async path cannot "
        "capture the request (please report this with your langchain-aws version)"
    )


async def agenerate_converse(
    delegate: ChatBedrockConverse,
    pool: AsyncRuntime,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
) -> ChatResult:
    """One Converse call of ``delegate`` (whose client is a :class:`SplitClient`), awaited.

    Raises:
        Exception: exactly what ``ChatBedrockConverse._generate`` raises for the same reply.
    """
    client = delegate.client
    if not isinstance(client, SplitClient):
        raise TypeError("the delegate of a native async call must hold a SplitClient")
    request = _capture(
        lambda: ChatBedrockConverse._generate(delegate, messages, stop, None, **kwargs)
    )
    reply: dict[str, Any] | Exception
    try:
        reply = await pool.converse(client.meta.region_name, **request)
    except Exception as exc:  # replayed so langchain-aws handles it as on the sync path
        reply = exc
    client.replay(reply)
    return ChatBedrockConverse._generate(delegate, messages, stop, None, **kwargs)


def _stream_request(
    delegate: ChatBedrockConverse,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    gen = cast(
        Generator[ChatGenerationChunk, None, None],
        ChatBedrockConverse._stream(delegate, messages, stop, None, **kwargs),
    )
    try:
        return _capture(lambda: next(gen))
    finally:
        gen.close()


async def astream_converse(
    delegate: ChatBedrockConverse,
    pool: AsyncRuntime,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
) -> AsyncIterator[ChatGenerationChunk]:
    """One ConverseStream call of ``delegate``, yielding chunks as events arrive.

    Closing the generator (``aclose``, task cancellation, an error) closes the HTTP stream and
    drops its connection.

    Raises:
        Exception: what ``ChatBedrockConverse._stream`` raises for the same events.
    """
    client = delegate.client
    if not isinstance(client, SplitClient):
        raise TypeError("the delegate of a native async call must hold a SplitClient")
    request = _stream_request(delegate, messages, stop, kwargs)
    stream = pool.converse_stream(client.meta.region_name, **request)
    try:
        try:
            await stream.__aenter__()
        except ClientError as exc:
            _handle_bedrock_error(exc)
        mirror = _StreamMirror(delegate, stream.response)
        try:
            async for event in stream:
                if (chunk := mirror.feed(event)) is not None:
                    yield chunk
        except ClientError as exc:
            _raise_if_context_overflow(exc)  # Bedrock may report overflow after it opened
            raise
        mirror.finish()
    finally:
        await stream.aclose()


class _StreamMirror:
    """Mirror of the event loop in ``ChatBedrockConverse._stream`` (langchain-aws 1.9.1).

    Keep in step with it: the same per-event parser, ``model_name`` / ``inference_profile_id``
    / ``ResponseMetadata`` on the first chunk with usage, ``model_provider`` on every chunk,
    and ``ConnectionError`` when the stream ends without ``messageStop``. (Token callbacks
    are the chat model's job, as on the sync path.)
    """

    def __init__(self, delegate: ChatBedrockConverse, response: Mapping[str, Any]) -> None:
        self._delegate = delegate
        self._response = response
        self._added_model_name = False
        self._received_message_stop = False
        self._reasoning_tokens: int | None = None

    def feed(self, event: dict[str, Any]) -> ChatGenerationChunk | None:
        """The chunk for one event, or ``None`` for events langchain-aws skips."""
        if "messageStop" in event:
            self._received_message_stop = True
            self._reasoning_tokens = _extract_thinking_tokens(
                event["messageStop"].get("additionalModelResponseFields")
            )
        message_chunk = _parse_stream_event(event, reasoning_tokens=self._reasoning_tokens)
        if not message_chunk:
            return None
        meta = message_chunk.response_metadata
        if getattr(message_chunk, "usage_metadata", None) and not self._added_model_name:
            model_id = self._delegate.model_id
            meta["model_name"] = self._delegate.base_model_id or model_id
            if "application-inference-profile" in model_id:
                meta["inference_profile_id"] = model_id
            if response_metadata := self._response.get("ResponseMetadata"):
                meta["ResponseMetadata"] = response_metadata
            self._added_model_name = True
        meta["model_provider"] = "bedrock_converse"
        return ChatGenerationChunk(message=message_chunk)

    def finish(self) -> None:
        """Raise as langchain-aws does for a stream that ended without ``messageStop``."""
        if not self._received_message_stop:
            raise ConnectionError("Incomplete Bedrock response stream: missing messageStop event.")
