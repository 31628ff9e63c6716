"""Model invocation logging, readable through CloudWatch Logs ``FilterLogEvents``.

Every successful runtime call writes one ``ModelInvocationLog`` record to the log group of the
caller's (source) Region, in the documented log entry format (Bedrock user guide, "Monitor model
invocation using CloudWatch Logs and Amazon S3"), with the Converse ``requestMetadata`` the
caller sent. The documented format has no served Region; the 2024 AWS blog shows a top-level
``inferenceRegion`` for a re-routed call. Whether the log carries it is the
``invocation_log_inference_region`` switch: on (default), re-routed calls get it as the blog
shows; off, no record has it, as the documented table says. Records can also be appended as
JSON lines to ``<dir>/<region>/invocations.jsonl``.

``FilterLogEvents`` supports ``logGroupName``/``logGroupIdentifier``, stream names and prefix,
``startTime``/``endTime`` (epoch ms), ``limit``, ``nextToken`` and filter patterns: JSON
conditions such as ``{ $.requestId = "abc" && $.input.inputTokenCount > 3 }`` (``&&``/``||``,
``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``*`` wildcards in strings) or plain terms, all of
which must occur in the message (``-term`` excludes).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_cris.emulator.aws_errors import AwsError
from langchain_cris.emulator.clock import Clock
from langchain_cris.emulator.cloudtrail import iso_time
from langchain_cris.emulator.pagination import decode_token, encode_token

__all__ = ["InvocationLogs", "build_log_record", "matches_filter_pattern"]

LOG_STREAM = "aws/bedrock/modelinvocations"
_MAX_LIMIT = 10000
_CONDITION = re.compile(
    r"^\s*\$\.([\w.\[\]]+)\s*(=|!=|>=|<=|>|<)\s*(\"(?:[^\"\\]|\\.)*\"|[^\s&|}]+)\s*$"
)


def build_log_record(
    *,
    account_id: str,
    principal_arn: str,
    source_region: str,
    served_region: str,
    request_id: str,
    operation: str,
    model_id: str,
    input_body: Any,
    input_tokens: int,
    output_body: Any,
    output_tokens: int,
    request_metadata: Mapping[str, str] | None,
    when: float | None = None,
    name_inference_region: bool = True,
) -> dict[str, Any]:
    """One ``ModelInvocationLog`` record (schema version 1.0).

    Args:
        name_inference_region: Add the blog's top-level ``inferenceRegion`` to a re-routed call.
    """
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": iso_time(time.time() if when is None else when),
        "accountId": account_id,
        "identity": {"arn": principal_arn},
        "region": source_region,
        "requestId": request_id,
        "operation": operation,
        "modelId": model_id,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": input_body,
            "inputTokenCount": input_tokens,
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": output_body,
            "outputTokenCount": output_tokens,
        },
    }
    if request_metadata:
        record["requestMetadata"] = dict(request_metadata)
    if name_inference_region and served_region != source_region:
        record["inferenceRegion"] = served_region
    return record


@dataclass(frozen=True)
class _Entry:
    seq: int
    timestamp_ms: int
    visible_at: float
    message: str


class InvocationLogs:
    """Per-Region invocation log groups (thread-safe).

    Args:
        log_group: Name of the log group in every Region.
        delay: Seconds (on ``clock``) before a record is visible to ``FilterLogEvents``.
        directory: Also append JSON lines here (``None`` = only in memory; written at once,
            whatever the delay).
        clock: The delivery clock (see :mod:`langchain_cris.emulator.clock`); record
            timestamps stay wall-clock epochs whatever it says.
    """

    def __init__(
        self,
        log_group: str,
        *,
        delay: float = 0.0,
        directory: str | Path | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.log_group = log_group
        self.delay = delay
        self.clock = clock
        self.directory = Path(directory) if directory else None
        self.enabled = True
        self._lock = threading.Lock()
        self._entries: dict[str, list[_Entry]] = {}
        self._seq = 0

    def write(self, region: str, record: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        message = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        delivered_at = self.clock() + self.delay
        with self._lock:
            self._seq += 1
            entry = _Entry(self._seq, int(time.time() * 1000), delivered_at, message)
            self._entries.setdefault(region, []).append(entry)
            if self.directory is not None:
                path = self.directory / region / "invocations.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(message + "\n")

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def records(self, region: str, *, include_pending: bool = False) -> list[dict[str, Any]]:
        """Parsed records of ``region``, oldest first."""
        now = self.clock()
        with self._lock:
            entries = list(self._entries.get(region, []))
        return [json.loads(e.message) for e in entries if include_pending or e.visible_at <= now]

    # -- FilterLogEvents ---------------------------------------------------------------------
    def filter_log_events(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        group = params.get("logGroupName") or params.get("logGroupIdentifier") or ""
        group = str(group).split(":log-group:", 1)[-1].removesuffix(":*")
        if not self.enabled or group != self.log_group:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        streams = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if streams and prefix:
            raise AwsError(
                "InvalidParameterException",
                "logStreamNames and logStreamNamePrefix are mutually exclusive.",
            )
        limit = int(params.get("limit", _MAX_LIMIT))
        if not 1 <= limit <= _MAX_LIMIT:
            raise AwsError("InvalidParameterException", "limit must be between 1 and 10000.")
        start, end = params.get("startTime"), params.get("endTime")
        pattern = str(params.get("filterPattern") or "")
        fingerprint = json.dumps([group, streams, prefix, start, end, pattern], default=str)
        after = decode_token(
            params.get("nextToken"),
            fingerprint,
            lambda: AwsError("InvalidParameterException", "The specified nextToken is invalid."),
        )
        now = self.clock()
        with self._lock:
            entries = list(self._entries.get(region, []))
        wrong_stream = streams and LOG_STREAM not in streams
        if wrong_stream or (prefix and not LOG_STREAM.startswith(prefix)):
            entries = []
        matches = [
            e
            for e in entries
            if e.visible_at <= now
            and (after is None or e.seq > after)
            and (start is None or e.timestamp_ms >= int(start))
            and (end is None or e.timestamp_ms <= int(end))
            and matches_filter_pattern(pattern, e.message)
        ]
        page = matches[:limit]
        out: dict[str, Any] = {
            "events": [
                {
                    "logStreamName": LOG_STREAM,
                    "timestamp": e.timestamp_ms,
                    "message": e.message,
                    "ingestionTime": e.timestamp_ms,
                    "eventId": f"{e.timestamp_ms:020d}{e.seq:016d}",
                }
                for e in page
            ],
            "searchedLogStreams": [{"logStreamName": LOG_STREAM, "searchedCompletely": True}],
        }
        if len(matches) > limit:
            out["nextToken"] = encode_token(page[-1].seq, fingerprint)
        return out


# -- filter patterns -----------------------------------------------------------------------------
def matches_filter_pattern(pattern: str, message: str) -> bool:
    """CloudWatch Logs filter-pattern match (the JSON and term subsets described above)."""
    pattern = pattern.strip()
    if not pattern:
        return True
    if pattern.startswith("{") and pattern.endswith("}"):
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return any(
            all(_condition(part, document) for part in alternative.split("&&"))
            for alternative in pattern[1:-1].split("||")
        )
    try:
        terms = shlex.split(pattern)
    except ValueError:
        terms = pattern.split()
    return all(
        (term[1:] not in message) if term.startswith("-") else (term in message) for term in terms
    )


def _lookup(document: Any, path: str) -> Any:
    current = document
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _condition(text: str, document: Any) -> bool:
    m = _CONDITION.match(text)
    if not m:
        raise AwsError("InvalidParameterException", f"Invalid filter pattern: {text.strip()}")
    path, op, raw = m.groups()
    actual = _lookup(document, path)
    if raw.startswith('"'):
        expected: Any = json.loads(raw)
    else:
        try:
            expected = float(raw)
        except ValueError:
            expected = raw
    if isinstance(expected, float):
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return op == "!="
        return {
            "=": actual == expected,
            "!=": actual != expected,
            ">": actual > expected,
            "<": actual < expected,
            ">=": actual >= expected,
            "<=": actual <= expected,
        }[op]
    equal = actual is not None and fnmatch.fnmatchcase(str(actual), str(expected))
    return equal if op == "=" else not equal if op == "!=" else False
