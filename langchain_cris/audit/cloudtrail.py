"""Read Bedrock runtime calls out of AWS CloudTrail: S3-delivered files or ``LookupEvents``.

CloudTrail records a cross-Region call once, in the **source** Region (``awsRegion``). When the
request was re-routed, ``additionalEventData.inferenceRegion`` names the Region that served it;
when that key is absent the call was served in the source Region (AWS ML blog, "Getting started
with cross-region inference in Amazon Bedrock"). This module turns those events into
:class:`CloudTrailCall` values that the reconciler and the audit report join on ``requestID``.

Input files are streamed: an S3-delivered ``{"Records": [...]}`` file (``.json`` or gzip, found
by its magic bytes, not its name) is decoded one record at a time, so memory stays flat however
many events a file holds. A bad record is reported through ``on_error`` and skipped; a truncated
gzip keeps every record decoded before the cut.

Example:
    .. code-block:: python

        from langchain_cris.audit.cloudtrail import iter_cloudtrail_files

        for call in iter_cloudtrail_files(["trail/2026/11/26/file.json.gz"]):
            print(call.request_id, call.source_region, "->", call.served_region)
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "BEDROCK_EVENT_SOURCE",
    "RUNTIME_EVENT_NAMES",
    "AuditInputError",
    "CloudTrailCall",
    "ErrorHandler",
    "iter_cloudtrail_files",
    "lookup_cloudtrail_calls",
    "parse_cloudtrail_event",
]

logger = logging.getLogger(__name__)

BEDROCK_EVENT_SOURCE = "bedrock.amazonaws.com"
"""``eventSource`` of Bedrock (control plane and runtime alike)."""

RUNTIME_EVENT_NAMES = frozenset(
    {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
)
"""Event names of inference calls; everything else Bedrock logs is control plane."""

ErrorHandler = Callable[[str, Exception], None]
"""``on_error(where, exc)``: ``where`` names the file (and record number) that was skipped."""

# Largest single JSON value we wait for before calling it broken (CloudTrail caps events at
# 256 KB; invocation-log records carry prompts, so allow far more).
_MAX_RECORD_CHARS = 16 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024
_INFLATE_SLICE = 8 * 1024
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class AuditInputError(ValueError):
    """A record or file that cannot be audited (malformed, truncated, wrong shape).

    Readers pass it to ``on_error`` and carry on; it is never raised out of an iterator.
    """


@dataclass(frozen=True, slots=True)
class CloudTrailCall:
    """One Bedrock runtime call as CloudTrail recorded it (no prompt data is ever read).

    Attributes:
        request_id: ``requestID``; equals the runtime ``x-amzn-RequestId`` of the call.
        event_id: ``eventID`` (unique per CloudTrail event).
        event_name: ``Converse``, ``ConverseStream``, ``InvokeModel`` or
            ``InvokeModelWithResponseStream``.
        event_time: ``eventTime`` as an aware UTC datetime.
        source_region: ``awsRegion``: the Region the client called.
        served_region: ``additionalEventData.inferenceRegion``, or ``awsRegion`` when absent.
        rerouted: True when ``inferenceRegion`` was present.
        model_id: ``requestParameters.modelId`` (profile id, ARN or plain model id).
        account_id: ``recipientAccountId`` (else ``userIdentity.accountId``).
        user_arn: ``userIdentity.arn``.
        error_code: ``errorCode`` when the call failed (then nothing was served).
    """

    request_id: str
    event_id: str
    event_name: str
    event_time: datetime
    source_region: str
    served_region: str
    rerouted: bool
    model_id: str | None
    account_id: str | None
    user_arn: str | None
    error_code: str | None


# -- parsing ------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime:
    """Parse an AWS timestamp (ISO 8601 with ``Z``, or epoch seconds/milliseconds) to UTC.

    Raises:
        AuditInputError: the value is missing or not a timestamp.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Epoch milliseconds are what CloudWatch Logs uses; seconds what boto3 users pass.
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if type(value) is str and value:
        text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise AuditInputError(f"timestamp {value!r} is not ISO 8601") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise AuditInputError(f"timestamp {value!r} is missing or not a string/number")


# The helpers below test ``type(x) is dict`` / ``str`` before ``isinstance``: the abstract
# ``Mapping`` check is slow, and they run several times per event on a million events.
def _opt_str(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str and not isinstance(value, str):
        raise AuditInputError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _req_str(record: Mapping[str, Any], key: str) -> str:
    value = _opt_str(record, key)
    if value is None:
        raise AuditInputError(f"{key} is missing")
    return value


_EMPTY: Mapping[str, Any] = {}


def _sub(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object, or ``{}`` when absent/null (AWS writes ``null`` for empty parts)."""
    value = record.get(key)
    if value is None:
        return _EMPTY
    if type(value) is not dict and not isinstance(value, Mapping):
        raise AuditInputError(f"{key} must be an object, got {type(value).__name__}")
    return value


def parse_cloudtrail_event(record: Mapping[str, Any]) -> CloudTrailCall | None:
    """Turn one CloudTrail record into a :class:`CloudTrailCall`.

    Unknown fields are ignored, so newer CloudTrail event versions keep working.

    Args:
        record: One element of ``Records`` (or a parsed ``CloudTrailEvent`` string).

    Returns:
        The call, or ``None`` when the record is not a Bedrock runtime event (another service,
        or a Bedrock control-plane call such as ``ListInferenceProfiles``).

    Raises:
        AuditInputError: a Bedrock runtime event lacks ``requestID``, ``awsRegion`` or
            ``eventTime``, or a field has the wrong type.
    """
    if type(record) is not dict and not isinstance(record, Mapping):
        raise AuditInputError(f"a CloudTrail record must be an object, got {type(record).__name__}")
    if record.get("eventSource") != BEDROCK_EVENT_SOURCE:
        return None
    event_name = record.get("eventName")
    if event_name not in RUNTIME_EVENT_NAMES:
        return None
    source = _req_str(record, "awsRegion")
    extra = _sub(record, "additionalEventData")
    inference_region = _opt_str(extra, "inferenceRegion")
    identity = _sub(record, "userIdentity")
    params = _sub(record, "requestParameters")
    return CloudTrailCall(
        request_id=_req_str(record, "requestID"),
        event_id=_opt_str(record, "eventID") or "",
        event_name=str(event_name),
        event_time=parse_time(record.get("eventTime")),
        source_region=source,
        served_region=inference_region or source,
        rerouted=inference_region is not None,
        model_id=_opt_str(params, "modelId"),
        account_id=_opt_str(record, "recipientAccountId") or _opt_str(identity, "accountId"),
        user_arn=_opt_str(identity, "arn"),
        error_code=_opt_str(record, "errorCode"),
    )


# -- streaming files ----------------------------------------------------------------------
class _TextSource:
    """Decoded text of a plain or gzip file, read in chunks; tolerates a truncated gzip.

    A hand-driven ``zlib`` decompressor (rather than ``gzip.open``) is used so that data decoded
    before a truncation is returned instead of being lost inside an ``EOFError``, and so that
    multi-member gzip files (concatenated deliveries) are read to the end.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        head = self._fh.read(2)
        self._fh.seek(0)
        self.gzipped = head == b"\x1f\x8b"
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
            # Compressed JSON inflates ~10x: read less of it so decoded chunks stay ~1 MB.
            raw = self._fh.read(_CHUNK_BYTES // 8 if self.gzipped else _CHUNK_BYTES)
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


def iter_json_records(path: str | os.PathLike[str], on_error: ErrorHandler) -> Iterator[Any]:
    """Stream the records of one JSON file, whichever layout AWS (or a user) wrote it in.

    Layouts: ``{"Records": [...]}`` (CloudTrail S3 delivery), ``{"Events": [...]}`` (saved
    ``aws cloudtrail lookup-events`` output), ``{"events": [...]}`` (saved
    ``aws logs filter-log-events`` output), a top-level array, or JSON Lines / concatenated
    objects (invocation logs, our audit log). Plain or gzip, detected by content.

    Errors never escape: they go to ``on_error`` and reading resumes where it safely can
    (the next line for JSON Lines; nothing after a broken element of one big array).
    """
    where = os.fspath(path)
    try:
        source = _TextSource(where)
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


def _default_on_error(where: str, exc: Exception) -> None:
    logger.warning("skipped %s: %s", where, exc)


def _unwrap_event(item: Any) -> Any:
    """Accept EventBridge envelopes and LookupEvents items as well as plain records."""
    if type(item) is dict and "eventSource" in item:
        return item  # the common case: a plain CloudTrail record
    if isinstance(item, Mapping):
        if isinstance(item.get("CloudTrailEvent"), str):
            return json.loads(item["CloudTrailEvent"])
        detail = item.get("detail")
        if isinstance(detail, Mapping) and "eventSource" in detail:
            return detail
    return item


def iter_cloudtrail_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    on_error: ErrorHandler | None = None,
) -> Iterator[CloudTrailCall]:
    """Stream every Bedrock runtime call from CloudTrail files.

    Args:
        paths: S3-delivered CloudTrail files (``.json`` / ``.json.gz``), saved
            ``lookup-events`` output, or EventBridge event dumps.
        on_error: Called with ``(where, exc)`` for each bad file or record, which is skipped;
            defaults to a ``logging`` warning.

    Yields:
        One :class:`CloudTrailCall` per Bedrock runtime event, in file order. Events of other
        services and Bedrock control-plane events are skipped silently.
    """
    report = _default_on_error if on_error is None else on_error
    for path in paths:
        where = os.fspath(path)
        for index, item in enumerate(iter_json_records(where, report)):
            try:
                call = parse_cloudtrail_event(_unwrap_event(item))
            except ValueError as exc:  # AuditInputError, or a bad CloudTrailEvent string
                report(f"{where}: record {index}", exc)
                continue
            if call is not None:
                yield call


# -- live LookupEvents --------------------------------------------------------------------
def lookup_cloudtrail_calls(
    client: Any,
    *,
    start_time: datetime,
    end_time: datetime,
    request_ids: Collection[str] | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[CloudTrailCall]:
    """Look Bedrock runtime calls up live with CloudTrail ``LookupEvents``.

    LookupEvents is regional: pass a client of the **source** Region, where CloudTrail records
    cross-Region calls. Pages are followed with ``NextToken``; with ``request_ids`` the search
    stops as soon as every id was found (LookupEvents allows only two requests per second).

    Args:
        client: A boto3 ``cloudtrail`` client.
        start_time: Start of the window (inclusive).
        end_time: End of the window (inclusive).
        request_ids: Only yield these request ids (``None`` = every Bedrock runtime call).
        on_error: Called for an event whose ``CloudTrailEvent`` cannot be parsed.

    Yields:
        Matching calls, newest first (LookupEvents' order).
    """
    report = _default_on_error if on_error is None else on_error
    wanted = set(request_ids) if request_ids is not None else None
    if wanted is not None and not wanted:
        return
    kwargs: dict[str, Any] = {
        "LookupAttributes": [
            {"AttributeKey": "EventSource", "AttributeValue": BEDROCK_EVENT_SOURCE}
        ],
        "StartTime": start_time,
        "EndTime": end_time,
    }
    while True:
        page = client.lookup_events(**kwargs)
        for event in page.get("Events", []):
            where = f"LookupEvents event {event.get('EventId', '?')}"
            raw = event.get("CloudTrailEvent")
            name = event.get("EventName")
            if (name is not None and name not in RUNTIME_EVENT_NAMES) or not isinstance(raw, str):
                continue
            try:
                call = parse_cloudtrail_event(json.loads(raw))
            except ValueError as exc:  # JSONDecodeError and AuditInputError alike
                report(where, exc)
                continue
            if call is None or (wanted is not None and call.request_id not in wanted):
                continue
            yield call
            if wanted is not None:
                wanted.discard(call.request_id)
                if not wanted:
                    return
        token = page.get("NextToken")
        if not token:
            return
        kwargs["NextToken"] = token
