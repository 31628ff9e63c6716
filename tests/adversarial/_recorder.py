"""A minimal, independent bedrock-runtime endpoint that records every request it receives.

Written from botocore's service model (``bedrock-runtime`` 2023-09-30: request URIs, JSON
shapes, the ``application/vnd.amazon.eventstream`` framing), not from the package's emulator,
so that a test watching this wire does not share the emulator's assumptions. It knows nothing
about profiles, Regions or policies: it records and answers.

Recorded per request: HTTP method, raw path, the operation (from the URI template), the
``modelId`` decoded from the path, the path prefix before ``/model/`` (from an
``endpoint_url`` with a path, which lets a test tell its clients apart), the Region of the SigV4 credential scope in
``Authorization`` (``None`` for an unsigned or bearer request), and the body.

Answers (the smallest valid response of each operation):

* ``POST /model/{modelId}/converse``: a Converse JSON reply;
* ``POST /model/{modelId}/converse-stream``: event-stream frames ``messageStart``,
  ``contentBlockDelta``, ``contentBlockStop``, ``messageStop``, ``metadata``;
* ``POST /model/{modelId}/count-tokens``: ``{"inputTokens": n}``;
* ``POST /model/{modelId}/invoke``: a Titan-embedding (``embedding``) or Cohere-embedding
  (``embeddings``) JSON body, by the model id;
* anything else: 404 ``UnknownOperationException``.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

__all__ = ["Recorded", "Recorder"]

_OPERATIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "count-tokens": "CountTokens",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived on the wire."""

    method: str
    path: str
    operation: str | None
    model_id: str | None
    region: str | None
    prefix: str
    service: str | None
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    @property
    def control_plane_read(self) -> bool:
        """A bedrock control-plane read (the live catalog's ListInferenceProfiles and friends).

        These carry no prompt, so the residency checks skip them; anything else counts,
        recognised or not.
        """
        route = self.path.split("?", 1)[0]
        return self.method == "GET" and any(
            f"/{part}" in route for part in ("inference-profiles", "foundation-models")
        )


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + struct.pack("!BH", 7, len(raw_value))
        + raw_value
    )


def frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """One event-stream message (big-endian prelude, CRC32 of prelude and of the message)."""
    headers = (
        _header(":event-type", event_type)
        + _header(":content-type", "application/json")
        + _header(":message-type", "event")
    )
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack("!I", zlib.crc32(message))


def _stream_events() -> Iterator[bytes]:
    yield frame("messageStart", {"role": "assistant"})
    yield frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "recorded"}})
    yield frame("contentBlockStop", {"contentBlockIndex": 0})
    yield frame("messageStop", {"stopReason": "end_turn"})
    yield frame(
        "metadata",
        {
            "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
            "metrics": {"latencyMs": 1},
        },
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _record(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        raw_path = self.path.split("?", 1)[0]
        parts = raw_path.split("/")  # split first, then unquote the id segment
        model_id = operation = None
        prefix = ""
        if len(parts) >= 4 and parts[-3] == "model":  # an endpoint_url may carry a path
            model_id = unquote(parts[-2])
            operation = _OPERATIONS.get(parts[-1])
            prefix = "/".join(parts[1:-3])
        match = _SCOPE.search(self.headers.get("Authorization") or "")
        rec = Recorded(
            method=self.command,
            path=self.path,
            operation=operation,
            model_id=model_id,
            region=match.group(1) if match else None,
            service=match.group(2) if match else None,
            prefix=prefix,
            body=body,
        )
        with self.server.lock:
            self.server.records.append(rec)
        return rec

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", f"rec-{len(self.server.records)}")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._record()
        self._unknown()

    def _unknown(self) -> None:
        self._send_json(
            404,
            {"message": "UnknownOperationException"},
            {"x-amzn-ErrorType": "UnknownOperationException"},
        )

    def do_POST(self) -> None:
        rec = self._record()
        if rec.operation == "Converse":
            self._send_json(
                200,
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": "recorded"}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
                    "metrics": {"latencyMs": 1},
                },
            )
        elif rec.operation == "ConverseStream":
            data = b"".join(_stream_events())
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", f"rec-{len(self.server.records)}")
            self.end_headers()
            self.wfile.write(data)
        elif rec.operation == "CountTokens":
            self._send_json(200, {"inputTokens": 7})
        elif rec.operation == "InvokeModel":
            model = rec.model_id or ""
            request = rec.json()
            if "cohere" in model:
                texts = request.get("texts") or [""]
                payload: dict[str, Any] = {
                    "id": "rec",
                    "texts": texts,
                    "embeddings": [[0.1, 0.2, 0.3] for _ in texts],
                    "response_type": "embeddings_floats",
                }
            else:
                payload = {"embedding": [0.1, 0.2, 0.3], "inputTextTokenCount": 2}
            self._send_json(200, payload, {"X-Amzn-Bedrock-Input-Token-Count": "2"})
        else:
            self._unknown()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.records: list[Recorded] = []


class Recorder:
    """The recording endpoint, served from a thread on 127.0.0.1 (free port).

    Example:
        .. code-block:: python

            with Recorder() as rec:
                client = boto3.client("bedrock-runtime", endpoint_url=rec.endpoint_url)
                ...
                rec.requests()[-1].model_id
    """

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def requests(self, operation: str | None = None) -> list[Recorded]:
        with self._server.lock:
            snapshot = list(self._server.records)
        return [r for r in snapshot if operation is None or r.operation == operation]

    def clear(self) -> None:
        with self._server.lock:
            self._server.records.clear()

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
