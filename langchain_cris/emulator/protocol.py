"""Transport-neutral request/response objects and SigV4 credential-scope parsing.

Handlers never see sockets: they take a :class:`Request` and return a :class:`Response`, which
the HTTP server writes (and which unit tests can inspect directly). A response may carry an
event stream (frames interleaved with sleeps) or a transport fault (hang, reset).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_cris.emulator.aws_errors import AwsError, Protocol

__all__ = ["CUT", "Credential", "Request", "Response", "StreamCut", "parse_authorization"]

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class StreamCut:
    """Marker in a response stream: drop the TCP connection here (no chunked terminator)."""


CUT = StreamCut()
#: Items of a streamed body: a frame to send, or seconds to sleep, or :data:`CUT`.
StreamItem = bytes | float | StreamCut


@dataclass(frozen=True)
class Credential:
    """What the ``Authorization`` header reveals: the access key and the signing scope."""

    access_key_id: str
    region: str
    service: str


@dataclass
class Request:
    """One HTTP request; header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    client_ip: str = "127.0.0.1"

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise AwsError("SerializationException", "Request body is not valid JSON.") from exc


@dataclass
class Response:
    """What to send back.

    Attributes:
        status: HTTP status.
        headers: Header pairs (``x-amzn-RequestId`` and ``Content-Length`` are added by the server).
        body: Body of a non-streamed response.
        stream: Event-stream items; when set, the body is sent chunked.
        delay: Seconds to wait before the first byte (simulated latency).
        fault: ``hang`` (wait ``hang_seconds``, then close silently) or ``reset`` (TCP RST).
        hang_seconds: See ``fault``.
        request_id: The ``x-amzn-RequestId`` to send.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterable[StreamItem] | None = None
    delay: float = 0.0
    fault: Literal["hang", "reset"] | None = None
    hang_seconds: float = 0.0
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def json(
        cls, payload: Any, *, status: int = 200, content_type: str = "application/json"
    ) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status=status, headers=[("Content-Type", content_type)], body=body)

    @classmethod
    def error(cls, error: AwsError, protocol: Protocol = "rest-json") -> Response:
        status, headers, body = error.wire(protocol)
        return cls(status=status, headers=headers, body=body)


def parse_authorization(header: str | None) -> Credential | None:
    """Read the SigV4 credential scope (no signature check: the emulator trusts the caller).

    Returns:
        ``None`` when there is no ``Authorization`` header at all.

    Raises:
        AwsError: ``IncompleteSignatureException`` for a header without a credential scope.
    """
    if not header:
        return None
    if header.startswith("Bearer "):
        return Credential(access_key_id="", region="", service="bedrock")
    match = _CREDENTIAL.search(header)
    if not match:
        raise AwsError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential' parameter. Authorization=" + header[:40],
        )
    return Credential(access_key_id=match.group(1), region=match.group(3), service=match.group(4))
