"""Stream records out of audit input files, and the field helpers both readers share.

CloudTrail files, invocation logs and the package's own audit log all arrive as JSON in one of
a few layouts (``{"Records": [...]}``, a top-level array, JSON Lines …), plain or gzip, and can
hold millions of records. :func:`iter_json_records` decodes them one record at a time so memory
stays flat, and never raises: a bad record or a damaged file goes to ``on_error`` and reading
resumes where it safely can. The record-level readers (:mod:`.cloudtrail`,
:mod:`.invocation_logs`) and the report build on this module rather than on each other, which
is why the typed field accessors (:func:`opt_str`, :func:`req_str`, :func:`sub_object`) and
:func:`parse_time` live here too.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "CHUNK_BYTES",
    "AuditInputError",
    "ErrorHandler",
    "InputKind",
    "default_on_error",
    "detect_input_kind",
    "expand_paths",
    "iter_json_records",
    "opt_str",
    "parse_time",
    "req_str",
    "sub_object",
]

logger = logging.getLogger(__name__)

ErrorHandler = Callable[[str, Exception], None]
"""``on_error(where, exc)``: ``where`` names the file (and record number) that was skipped."""

InputKind = Literal["cloudtrail", "invocation_log", "audit_log", "unknown"]
"""What :func:`detect_input_kind` makes of a file."""

CHUNK_BYTES = 1024 * 1024
"""Bytes read from disk at a time (an eighth of it for gzip, which inflates ~10x)."""
# Largest single JSON value we wait for before calling it broken (CloudTrail caps events at
# 256 KB; invocation-log records carry prompts, so allow far more).
_MAX_RECORD_CHARS = 16 * 1024 * 1024
_INFLATE_SLICE = 8 * 1024
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class AuditInputError(ValueError):
    """A record or file that cannot be audited (malformed, truncated, wrong shape).

    Readers pass it to ``on_error`` and carry on; it is never raised out of an iterator.
    """


# -- fields -------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime:
    """Parse an AWS timestamp (ISO 8601 with ``Z``, or epoch seconds/milliseconds) to UTC.

    Raises:
        AuditInputError: the value is missing or not a timestamp.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Epoch milliseconds are what CloudWatch Logs uses; seconds what boto3 users pass.
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    if type(value) is str and value:
        text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise AuditInputError(f"timestamp {value!r} is not ISO 8601") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise AuditInputError(f"timestamp {value!r} is missing or not a string/number")


# The helpers below test ``type(x) is dict`` / ``str`` before ``isinstance``: the abstract
# ``Mapping`` check is slow, and they run several times per event on a million events.
def opt_str(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str and not isinstance(value, str):
        raise AuditInputError(f"{key} must be a string, got {type(value).__name__}")
    return value


def req_str(record: Mapping[str, Any], key: str) -> str:
    value = opt_str(record, key)
    if value is None:
        raise AuditInputError(f"{key} is missing")
    return value


_EMPTY: Mapping[str, Any] = {}


def sub_object(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object, or ``{}`` when absent/null (AWS writes ``null`` for empty parts)."""
    value = record.get(key)
    if value is None:
        return _EMPTY
    if type(value) is not dict and not isinstance(value, Mapping):
        raise AuditInputError(f"{key} must be an object, got {type(value).__name__}")
    return value


# -- streaming files ----------------------------------------------------------------------
class _TextSource:
    """Decoded text of a plain or gzip file, read in chunks; tolerates a truncated gzip.

    A hand-driven ``zlib`` decompressor (rather than ``gzip.open``) is used so that data decoded
    before a truncation is returned instead of being lost inside an ``EOFError``, and so that
    multi-member gzip files (concatenated deliveries) are read to the end.
    """

    def __init__(self, path: str, chunk_bytes: int) -> None:
        self.path = path
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        head = self._fh.read(2)
        self._fh.seek(0)
        self.gzipped = head == b"\x1f\x8b"
        # Compressed JSON inflates ~10x: read less of it so decoded chunks stay ~chunk_bytes.
        self._read_size = chunk_bytes // 8 if self.gzipped else chunk_bytes
        self._inflater: Any = zlib.decompressobj(wbits=47) if self.gzipped else None
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        #: Why the gzip stream ended early (``None`` when it was whole).
        self.damage: str | None = None
        #: Set once the damage has been reported, so it is reported once.
        self.reported = False

    @property
    def truncated(self) -> bool:
        return self.damage is not None

    def read(self) -> str:
        """The next chunk of text; ``""`` at the end of the file (or of its readable part)."""
        if self.damage is not None:
            return ""
        while True:
            raw = self._fh.read(self._read_size)
            if not self.gzipped:
                if not raw:
                    return self._text.decode(b"", final=True)
                return self._text.decode(raw)
            if not raw:
                if not self._inflater.eof:
                    self.damage = "truncated gzip: the file ends before its gzip trailer"
                return self._text.decode(self._inflater.flush(), final=True)
            data = self._inflate(raw)
            if self.damage is not None:
                return self._text.decode(data, final=True)
            if data:
                return self._text.decode(data)

    def _inflate(self, raw: bytes) -> bytes:
        """Decompress ``raw`` in small slices, so damage loses at most one slice's output."""
        out = bytearray()
        for start in range(0, len(raw), _INFLATE_SLICE):
            piece = raw[start : start + _INFLATE_SLICE]
            try:
                out += self._inflater.decompress(piece)
                # Another gzip member may follow the end of this one.
                while self._inflater.eof and self._inflater.unused_data:
                    rest = self._inflater.unused_data
                    self._inflater = zlib.decompressobj(wbits=47)
                    out += self._inflater.decompress(rest)
            except zlib.error as exc:
                # Keep what was decoded; the stream cannot be trusted past this point.
                self.damage = f"corrupt gzip data ({exc})"
                break
        return bytes(out)

    def close(self) -> None:
        self._fh.close()


class _JsonStream:
    """Incremental JSON value reader over a :class:`_TextSource` (C-accelerated decoding)."""

    def __init__(self, source: _TextSource) -> None:
        self.source = source
        self.buf = ""
        self.pos = 0
        self.eof = False
        #: Start of a value we may rewind to; compaction keeps the text from here on.
        self.mark: int | None = None

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.source.read()
        if not chunk:
            self.eof = True
            return False
        keep = self.pos if self.mark is None else min(self.pos, self.mark)
        if keep:
            self.buf = self.buf[keep:]
            self.pos -= keep
            if self.mark is not None:
                self.mark -= keep
        self.buf += chunk
        return True

    def peek(self) -> str:
        """The next non-whitespace character (``""`` at the end)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def value(self) -> Any:
        """Decode the next JSON value, reading more text until it is complete."""
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if len(self.buf) - self.pos < _MAX_RECORD_CHARS and self._fill():
                    continue
                raise
            # A bare number/literal at the end of the buffer may continue in the next chunk.
            bare = self.buf[self.pos] not in '{["'
            if end == len(self.buf) and bare and not self.eof and self._fill():
                continue
            self.pos = end
            return obj

    def resync(self, pattern: re.Pattern[str]) -> bool:
        """Move to the next match of ``pattern`` after a broken value (bounded look-ahead)."""
        offset = 1  # relative to pos, which _fill() may shift
        while True:
            found = pattern.search(self.buf, self.pos + offset)
            if found:
                self.pos = found.start()
                return True
            # Keep a little overlap so a match split across two chunks is still found.
            offset = max(1, len(self.buf) - self.pos - 64)
            if offset > _MAX_RECORD_CHARS or not self._fill():
                self.pos = len(self.buf)
                return False

    def skip_to_next_line(self) -> bool:
        """Drop the rest of the current line (resynchronise JSON Lines after a bad line)."""
        while True:
            nl = self.buf.find("\n", self.pos)
            if nl >= 0:
                self.pos = nl + 1
                return True
            self.pos = len(self.buf)
            if not self._fill():
                return False


# Where a top-level record starts: CloudTrail records open with eventVersion, LookupEvents
# items with EventId, invocation logs with schemaType, our audit log with record.
_RECORD_START = re.compile(
    r'\{\s*"(?:eventVersion|eventSource|EventId|CloudTrailEvent|schemaType|record|version)"'
)


def _iter_array(
    stream: _JsonStream, where: str, on_error: ErrorHandler, done: list[bool]
) -> Iterator[Any]:
    """Yield the elements of the array whose ``[`` was just consumed.

    After a broken element, reading resumes at the next element that looks like a record, so
    one corrupt event does not cost the rest of the file. ``done[0]`` is set when the closing
    ``]`` was reached (so the caller knows whether the enclosing object can be finished).
    """
    index = 0
    if stream.take("]"):
        done[0] = True
        return
    while True:
        try:
            item = stream.value()
        except json.JSONDecodeError as exc:
            on_error(f"{where}: record {index}", _decode_error(stream, exc))
            index += 1
            if not stream.resync(_RECORD_START):
                return
            continue
        yield item
        index += 1
        if stream.take(","):
            continue
        if stream.take("]"):
            done[0] = True
            return
        on_error(
            f"{where}: record {index}",
            _decode_error(stream, None, "expected ',' or ']' between records"),
        )
        return


def _decode_error(
    stream: _JsonStream, exc: json.JSONDecodeError | None, what: str = ""
) -> AuditInputError:
    damage = stream.source.damage
    if stream.eof and damage is not None:
        stream.source.reported = True
        kind = "truncated gzip" if damage.startswith("truncated") else damage
        return AuditInputError(
            f"{kind}: the file ends inside a record; records before the damage were kept"
        )
    if stream.eof and stream.pos >= len(stream.buf.rstrip()):
        return AuditInputError("the file ends inside a record (truncated JSON)")
    return AuditInputError(f"not valid JSON: {exc.msg if exc else what}")


_ARRAY_KEYS = ("Records", "Events", "events")


def _iter_object_members(
    stream: _JsonStream, where: str, on_error: ErrorHandler
) -> Iterator[Mapping[str, Any]]:
    """Stream an object whose ``{`` was consumed: arrays under ``Records``/``Events`` are
    streamed element by element; any other object is decoded whole and yielded."""
    stream.mark = stream.pos - 1
    if stream.peek() == '"':
        key = stream.value()
        if key in _ARRAY_KEYS and stream.take(":") and stream.take("["):
            stream.mark = None  # stream the array: nothing before this point is needed again
            done = [False]
            yield from _iter_array(stream, where, on_error, done)
            if not done[0]:
                stream.pos = len(stream.buf)  # already reported; nothing more can be trusted
                return
            # Skip whatever members follow the array (CloudTrail files have none).
            while stream.take(","):
                stream.value()
                stream.take(":")
                stream.value()
            if not stream.take("}"):
                on_error(where, _decode_error(stream, None, "expected '}' after the records"))
                stream.pos = len(stream.buf)
            return
    # An ordinary object (one record per line / concatenated records): decode it whole.
    stream.pos, stream.mark = stream.mark, None
    yield stream.value()


def iter_json_records(
    path: str | os.PathLike[str], on_error: ErrorHandler, *, chunk_bytes: int | None = None
) -> Iterator[Any]:
    """Stream the records of one JSON file, whichever layout AWS (or a user) wrote it in.

    Layouts: ``{"Records": [...]}`` (CloudTrail S3 delivery), ``{"Events": [...]}`` (saved
    ``aws cloudtrail lookup-events`` output), ``{"events": [...]}`` (saved
    ``aws logs filter-log-events`` output), a top-level array, or JSON Lines / concatenated
    objects (invocation logs, our audit log). Plain or gzip, detected by content.

    Errors never escape: they go to ``on_error`` and reading resumes where it safely can
    (the next line for JSON Lines; nothing after a broken element of one big array).
    ``chunk_bytes`` overrides :data:`CHUNK_BYTES` (tests shrink it so records straddle reads).
    """
    where = os.fspath(path)
    try:
        source = _TextSource(where, chunk_bytes or CHUNK_BYTES)
    except OSError as exc:
        on_error(where, AuditInputError(f"cannot open: {exc.strerror or exc}"))
        return
    stream = _JsonStream(source)
    line_no = 0
    try:
        while True:
            try:
                char = stream.peek()
                if not char:
                    break
                line_no += 1
                if char == "[":
                    stream.pos += 1
                    yield from _iter_array(stream, where, on_error, [False])
                elif char == "{":
                    stream.pos += 1
                    yield from _iter_object_members(stream, where, on_error)
                else:
                    raise json.JSONDecodeError("expected an object or array", stream.buf, 0)
            except json.JSONDecodeError as exc:
                on_error(f"{where}: value {line_no}", _decode_error(stream, exc))
                if not stream.skip_to_next_line():
                    break
    except (OSError, zlib.error) as exc:
        on_error(where, AuditInputError(f"unreadable ({type(exc).__name__}: {exc})"))
    finally:
        source.close()
    if source.damage is not None and not source.reported:
        on_error(where, AuditInputError(source.damage))


def default_on_error(where: str, exc: Exception) -> None:
    """The readers' ``on_error`` when none is given: log a warning and carry on."""
    logger.warning("skipped %s: %s", where, exc)


# -- input files --------------------------------------------------------------------------
def detect_input_kind(path: str | os.PathLike[str]) -> InputKind:
    """Tell CloudTrail, invocation-log and audit-log files apart by their first record."""
    problems: list[Exception] = []
    for record in iter_json_records(path, lambda _w, exc: problems.append(exc)):
        if not isinstance(record, Mapping):
            continue
        if "CloudTrailEvent" in record or "eventSource" in record or "eventVersion" in record:
            return "cloudtrail"
        if isinstance(record.get("detail"), Mapping) and "eventSource" in record["detail"]:
            return "cloudtrail"
        if record.get("schemaType") == "ModelInvocationLog":
            return "invocation_log"
        if isinstance(record.get("message"), str) and "ModelInvocationLog" in record["message"]:
            return "invocation_log"
        # A rotated-to log starts with the chain's ``continuation`` record.
        if record.get("record") in ("call", "reconciliation", "continuation", "checkpoint"):
            return "audit_log"
        break
    return "unknown"


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """Files as given; directories walked recursively in sorted order, hidden entries skipped."""
    for path in paths:
        text = os.fspath(path)
        if not os.path.isdir(text):
            yield text
            continue
        for root, dirs, names in os.walk(text):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            yield from (os.path.join(root, n) for n in sorted(names) if not n.startswith("."))
