"""The event-stream encoder, checked by botocore's own decoder and response parser."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.eventstream import EventStream, EventStreamBuffer
from botocore.parsers import EventStreamJSONParser
from hypothesis import given
from hypothesis import strategies as st

from langchain_cris.emulator import eventstream


def _decode(raw: bytes) -> list[Any]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return list(buffer)


@given(
    event_type=st.text(min_size=1, max_size=30),
    payload=st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=5),
)
def test_event_round_trips_through_botocore(event_type: str, payload: dict[str, str]) -> None:
    (message,) = _decode(eventstream.encode_event(event_type, payload))
    assert message.headers == {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(message.payload) == payload


def test_several_frames_split_anywhere_decode_in_order() -> None:
    raw = b"".join(eventstream.encode_event("e", {"i": i}) for i in range(5))
    buffer = EventStreamBuffer()
    messages = []
    for i in range(0, len(raw), 7):  # feed in odd-sized pieces like a socket would
        buffer.add_data(raw[i : i + 7])
        messages.extend(buffer)
    assert [json.loads(m.payload)["i"] for m in messages] == list(range(5))


def test_corrupted_frame_fails_botocore_crc_check() -> None:
    raw = bytearray(eventstream.encode_event("messageStart", {"role": "assistant"}))
    raw[-6] ^= 0xFF  # flip a payload byte
    with pytest.raises(Exception, match=r"(?i)checksum"):
        _decode(bytes(raw))


def _converse_stream(raw: bytes) -> list[dict[str, Any]]:
    """Parse ``raw`` exactly as boto3's ``converse_stream()`` would."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("ConverseStream").output_shape.members["stream"]

    class _Raw:
        def stream(self) -> Any:
            yield raw

        def close(self) -> None:
            pass

    return list(EventStream(_Raw(), shape, EventStreamJSONParser(), "ConverseStream"))


def test_converse_events_parse_with_the_service_model() -> None:
    start = eventstream.encode_event("messageStart", {"role": "assistant"})
    delta = {"delta": {"text": "Hi"}, "contentBlockIndex": 0}
    raw = start + eventstream.encode_event("contentBlockDelta", delta)
    assert _converse_stream(raw) == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}},
    ]


def test_exception_frame_is_raised_as_modelled_error() -> None:
    from botocore.exceptions import EventStreamError

    raw = eventstream.encode_exception("modelStreamErrorException", "boom", originalStatusCode=500)
    with pytest.raises(EventStreamError) as info:
        _converse_stream(raw)
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert info.value.response["Error"]["Message"] == "boom"


def test_chunk_framing() -> None:
    assert eventstream.chunk(b"abc") == b"3\r\nabc\r\n"
    assert eventstream.CHUNKED_END == b"0\r\n\r\n"
    with pytest.raises(ValueError):
        eventstream.chunk(b"")
