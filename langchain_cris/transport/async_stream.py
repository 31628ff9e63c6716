"""One native-async ConverseStream call: incremental event decoding, closed on every exit.

Kept apart from the pool (:mod:`.async_pool`) because a stream's lifetime is the caller's, not
the pool's: it is opened on ``__aenter__``, decoded frame by frame as bytes arrive, and its HTTP
response is dropped on ``break``, an error or task cancellation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

__all__ = ["ConverseStream"]

ClientForRegion = Callable[[str], Awaitable[Any]]
"""``await client_for(region)`` gives the aiobotocore bedrock-runtime client of that Region."""


class ConverseStream:
    """One ConverseStream call: an async context manager that iterates event dicts.

    Events are the dicts boto3's ``EventStream`` yields (``{"messageStart": {...}}``,
    ``{"contentBlockDelta": {...}}`` …), decoded incrementally as frames arrive. Mid-stream
    service errors raise botocore's ``EventStreamError`` (a ``ClientError``).

    Example:
        .. code-block:: python

            async with pool.converse_stream("eu-west-1", modelId=mid, messages=msgs) as stream:
                request_id = stream.response["ResponseMetadata"]["RequestId"]
                async for event in stream:
                    ...
    """

    def __init__(self, client_for: ClientForRegion, region: str, kwargs: Mapping[str, Any]) -> None:
        self._client_for = client_for
        self._region = region
        self._kwargs = dict(kwargs)
        self._stream: Any = None
        self._events: AsyncIterator[dict[str, Any]] | None = None
        #: boto3's response without ``stream`` (``ResponseMetadata`` …), set on enter.
        self.response: dict[str, Any] = {}

    async def __aenter__(self) -> ConverseStream:
        if self._stream is not None:
            raise RuntimeError("a ConverseStream can be entered only once")
        client = await self._client_for(self._region)
        response = await client.converse_stream(**self._kwargs)
        self._stream = response.pop("stream")
        self.response = response
        self._events = self._stream.__aiter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> ConverseStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._events is None:
            raise RuntimeError(
                "iterate a ConverseStream inside 'async with pool.converse_stream(...) as s'"
            )
        try:
            event: dict[str, Any] = await self._events.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            mapped = _stream_transport_error(exc, self._stream)
            if mapped is None:
                raise
            raise mapped from exc
        return event

    async def aclose(self) -> None:
        """Stop decoding and close the HTTP response (its connection is not reused if unread)."""
        events, self._events = self._events, None
        stream = self._stream
        if stream is None:
            return
        try:
            if events is not None:
                await _aclose(events)
            # aiobotocore's outer generator does not close the frame generator it drives.
            await _aclose(getattr(stream, "_event_generator", None))
        finally:
            stream.close()


def _stream_transport_error(exc: Exception, stream: Any) -> Exception | None:
    """botocore's exception for an aiohttp failure while reading frames, else ``None``.

    aiobotocore maps transport errors of the request itself, but not those raised while the
    event stream is read; the sync path sees botocore/urllib3 types there, so map them to the
    botocore types the shared error table already knows.
    """
    import aiohttp
    from botocore.exceptions import ReadTimeoutError, ResponseStreamingError

    if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
        raw = getattr(stream, "_raw_stream", None)
        return ReadTimeoutError(endpoint_url=str(getattr(raw, "url", "")), error=exc)
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError)):
        return ResponseStreamingError(error=exc)
    return None


async def _aclose(agen: object) -> None:
    close = getattr(agen, "aclose", None)
    if close is not None:
        await close()
