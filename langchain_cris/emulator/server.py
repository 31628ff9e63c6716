"""The HTTP/1.1 server: thread per connection, keep-alive, Nagle off, clean shutdown.

``BaseHTTPRequestHandler`` writes headers and body separately; with Nagle's algorithm on, every
keep-alive call then waits ~40 ms for the delayed ACK. The handler therefore sets
``disable_nagle_algorithm`` and sends each non-streamed response in a single write.

Simulated latency and hangs wait on the shared ``stopping`` event, so they hold no CPU, never
serialise other connections, and end at once on shutdown. ``stop()`` shuts every open
connection down, then joins every handler thread: nothing outlives the server.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from langchain_cris.emulator import eventstream
from langchain_cris.emulator.app import Emulator
from langchain_cris.emulator.aws_errors import AwsError
from langchain_cris.emulator.protocol import Request, Response, StreamCut

__all__ = ["EmulatorServer"]

logger = logging.getLogger(__name__)

_IDLE_KEEPALIVE_SECONDS = 300.0


class EmulatorServer(ThreadingHTTPServer):
    """Threading HTTP server that tracks its connections so ``stop()`` can close them."""

    daemon_threads = True
    block_on_close = True  # server_close() joins every handler thread
    allow_reuse_address = True
    request_queue_size = 1024  # listen backlog: bursts of hundreds of connections

    def __init__(self, address: tuple[str, int], app: Emulator) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._in_flight = 0
        #: Most requests ever being handled at once (from body read to last byte sent).
        self.peak_in_flight = 0
        self._in_flight_changed = threading.Condition()
        super().__init__(address, _Handler)

    # -- requests in flight (emulator introspection, for tests of client concurrency) --------
    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        with self._in_flight_changed:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self._in_flight_changed.notify_all()
        try:
            yield
        finally:
            with self._in_flight_changed:
                self._in_flight -= 1
                self._in_flight_changed.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_in_flight(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests are being handled at once; False after ``timeout``."""
        with self._in_flight_changed:
            return self._in_flight_changed.wait_for(lambda: self._in_flight >= count, timeout)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on a keep-alive read by shutting its socket down."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = _IDLE_KEEPALIVE_SECONDS
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- request -----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_ip=self.client_address[0],
        )
        with self.server.handling():
            try:
                response = self.server.app.handle(request)
            except Exception:  # a bug in the emulator must still look like an AWS 500
                logger.exception("emulator failed on %s %s", self.command, self.path)
                response = Response.error(AwsError("InternalServerException", "Internal error."))
            self._send(response)

    # -- response ----------------------------------------------------------------------------
    def _wait(self, seconds: float) -> bool:
        """Sleep without CPU; True if the server is stopping (then drop the connection)."""
        if seconds > 0 and self.server.app.state.stopping.wait(seconds):
            self.close_connection = True
            return True
        return False

    def _send(self, response: Response) -> None:
        if self._wait(response.delay):
            return
        if response.fault == "hang":
            self._wait(response.hang_seconds)
            self.close_connection = True
            return
        if response.fault == "reset":
            self._reset()
            return
        head = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
        headers = [
            *response.headers,
            ("x-amzn-RequestId", response.request_id),
            ("Date", formatdate(usegmt=True)),
        ]
        if response.stream is None:
            headers.append(("Content-Length", str(len(response.body))))
        else:
            headers.append(("Transfer-Encoding", "chunked"))
        head += [f"{k}: {v}" for k, v in headers]
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if response.stream is None:
            self.wfile.write(raw_head + response.body)
            return
        self.wfile.write(raw_head)
        for item in response.stream:
            if isinstance(item, StreamCut):
                self._reset()
                return
            if isinstance(item, float):
                if self._wait(item):
                    return
                continue
            self.wfile.write(eventstream.chunk(item))
        self.wfile.write(eventstream.CHUNKED_END)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed front end would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _reason(status: int) -> str:
    return BaseHTTPRequestHandler.responses.get(status, ("Unknown",))[0]
