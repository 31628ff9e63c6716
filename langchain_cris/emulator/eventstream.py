"""Encoder for the ``application/vnd.amazon.eventstream`` framing used by streaming Bedrock APIs.

Each message is: prelude (total length, headers length: big-endian uint32), the CRC32 of those
8 bytes, the headers, the payload, and the CRC32 of everything before it. Headers here are
always type 7 (string): ``:event-type``/``:exception-type``, ``:content-type``, ``:message-type``.
botocore's ``EventStreamBuffer`` decodes exactly this; the unit tests round-trip through it.

HTTP chunking lives here too, because every frame is sent as one chunk of a chunked body.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHUNKED_END",
    "CONTENT_TYPE",
    "chunk",
    "encode_event",
    "encode_exception",
    "encode_message",
]

CONTENT_TYPE = "application/vnd.amazon.eventstream"
#: Terminator of an HTTP/1.1 chunked body.
CHUNKED_END = b"0\r\n\r\n"

_STRING_HEADER = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        raw_value = value.encode("utf-8")
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING_HEADER, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """Frame one event-stream message (headers must all be strings)."""
    raw_headers = _encode_headers(headers)
    total = _PRELUDE.size + _CRC.size + len(raw_headers) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(raw_headers))
    head = prelude + _CRC.pack(zlib.crc32(prelude)) + raw_headers + payload
    return head + _CRC.pack(zlib.crc32(head))


def _json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """A normal event, e.g. ``contentBlockDelta`` with its inner object as JSON payload."""
    return encode_message(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        _json(payload),
    )


def encode_exception(exception_type: str, message: str, **extra: Any) -> bytes:
    """A modelled mid-stream error such as ``modelStreamErrorException`` or ``throttlingException``.

    botocore raises it as ``EventStreamError`` with ``Error.Code`` = ``exception_type``.
    """
    return encode_message(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        _json({"message": message, **extra}),
    )


def chunk(data: bytes) -> bytes:
    """Wrap ``data`` as one HTTP/1.1 chunk (empty data would end the body, so it is refused)."""
    if not data:
        raise ValueError("an empty chunk would terminate the chunked body")
    return b"%x\r\n%s\r\n" % (len(data), data)
