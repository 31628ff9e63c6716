"""Read Amazon Bedrock Model Invocation Logs: S3 deliveries or CloudWatch Logs.

Invocation logs stay in the source Region. AWS's documented log entry format
(model-invocation-logging, "Log entry format") has **no** served-Region field; only the 2024 AWS
ML blog ("Getting started with cross-region inference in Amazon Bedrock") shows a top-level
``inferenceRegion``, for a re-routed call. So an entry with the field names its served Region
(``invocation_log:inferenceRegion``, confirmed); an entry without it says nothing AWS
documents, and its served Region is recorded as the source Region only as an **assumption**
(``invocation_log:no-field``), never final while CloudTrail may still confirm it (rules in
:mod:`langchain_cris.audit.strength`). ``requestMetadata`` echoes the Converse
``requestMetadata`` that ``ChatBedrockCRIS`` stamps (``cris_policy``, ``lc_run_id`` …), which is
how a log line is tied back to a chain run. Prompt and output bodies are never read here: only
token counts leave the ``input``/``output`` objects.

Example:
    .. code-block:: python

        import boto3
        from datetime import datetime, timedelta, timezone
        from langchain_cris.audit.invocation_logs import filter_invocation_logs

        logs = boto3.client("logs", region_name="eu-central-1")
        now = datetime.now(timezone.utc)
        for entry in filter_invocation_logs(
            logs, log_group="/aws/bedrock/invocations", start_time=now - timedelta(hours=1),
            end_time=now,
        ):
            print(entry.request_id, entry.source_region, "->", entry.served_region)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from langchain_cris.audit._jsonstream import (
    AuditInputError,
    ErrorHandler,
    default_on_error,
    iter_json_records,
    opt_str,
    parse_time,
    req_str,
    sub_object,
)
from langchain_cris.audit.strength import LOG_FIELD, LOG_NO_FIELD, Strength

__all__ = [
    "INVOCATION_LOG_SCHEMA",
    "InvocationLogEntry",
    "filter_invocation_logs",
    "iter_invocation_log_files",
    "parse_invocation_log",
]

INVOCATION_LOG_SCHEMA = "ModelInvocationLog"
"""``schemaType`` of a Bedrock model invocation log record."""


@dataclass(frozen=True, slots=True)
class InvocationLogEntry:
    """One model invocation as the invocation log recorded it (token counts, no bodies).

    Attributes:
        request_id: ``requestId``; the runtime ``x-amzn-RequestId`` of the call.
        timestamp: ``timestamp`` as an aware UTC datetime.
        source_region: ``region``: the Region the client called.
        served_region: ``inferenceRegion``, or ``region`` when absent (then an assumption).
        model_id: ``modelId`` as sent (profile id, ARN or plain id).
        operation: ``Converse``, ``ConverseStream``, ``InvokeModel`` …
        request_metadata: ``requestMetadata`` (string values only), read-only.
        input_tokens: ``input.inputTokenCount``.
        output_tokens: ``output.outputTokenCount``.
        account_id: ``accountId``.
        inference_region: The record's ``inferenceRegion`` (``None`` when absent).
        evidence: ``invocation_log:inferenceRegion`` or ``invocation_log:no-field``.
        strength: ``confirmed`` with the field, ``assumed`` without.
    """

    request_id: str
    timestamp: datetime
    source_region: str
    served_region: str
    model_id: str | None
    operation: str | None
    request_metadata: Mapping[str, str]
    input_tokens: int | None
    output_tokens: int | None
    account_id: str | None
    inference_region: str | None = None
    evidence: str = ""
    strength: Strength = "assumed"

    def __post_init__(self) -> None:
        if self.evidence:
            return
        # Built by hand: a served Region other than the source can only have come from the field.
        named = self.inference_region or (
            self.served_region if self.served_region != self.source_region else None
        )
        object.__setattr__(self, "inference_region", named)
        object.__setattr__(self, "evidence", LOG_FIELD if named else LOG_NO_FIELD)
        object.__setattr__(self, "strength", "confirmed" if named else "assumed")


def _token_count(part: Mapping[str, Any], key: str) -> int | None:
    value = part.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AuditInputError(f"{key} must be a non-negative integer, got {value!r}")
    return value


def parse_invocation_log(record: Mapping[str, Any]) -> InvocationLogEntry | None:
    """Turn one invocation-log record into an :class:`InvocationLogEntry`.

    Args:
        record: A parsed log line (``schemaType`` ``ModelInvocationLog``).

    Returns:
        The entry, or ``None`` for a record of another schema (e.g. a CloudTrail event).

    Raises:
        AuditInputError: a required field (``requestId``, ``region``, ``timestamp``) is
            missing or a field has the wrong type.
    """
    if not isinstance(record, Mapping):
        raise AuditInputError(f"an invocation-log record must be an object, got {type(record)}")
    if record.get("schemaType") != INVOCATION_LOG_SCHEMA:
        return None
    source = req_str(record, "region")
    metadata = sub_object(record, "requestMetadata")
    inference_region = opt_str(record, "inferenceRegion")
    return InvocationLogEntry(
        request_id=req_str(record, "requestId"),
        timestamp=parse_time(record.get("timestamp")),
        source_region=source,
        served_region=inference_region or source,
        model_id=opt_str(record, "modelId"),
        operation=opt_str(record, "operation"),
        # Values are strings on the wire; coerce defensively so a join never sees a number.
        request_metadata=MappingProxyType({str(k): str(v) for k, v in metadata.items()}),
        input_tokens=_token_count(sub_object(record, "input"), "inputTokenCount"),
        output_tokens=_token_count(sub_object(record, "output"), "outputTokenCount"),
        account_id=opt_str(record, "accountId"),
        inference_region=inference_region,
        evidence=LOG_FIELD if inference_region else LOG_NO_FIELD,
        strength="confirmed" if inference_region else "assumed",
    )


def iter_invocation_log_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    on_error: ErrorHandler | None = None,
) -> Iterator[InvocationLogEntry]:
    """Stream invocation-log entries from files.

    Args:
        paths: S3-delivered invocation logs (JSON Lines or JSON, gzip or not, detected by
            content) or saved ``aws logs filter-log-events`` output (``{"events": [...]}``
            whose ``message`` strings hold the records).
        on_error: Called with ``(where, exc)`` for each bad file or record, which is skipped;
            defaults to a ``logging`` warning.

    Yields:
        One entry per ``ModelInvocationLog`` record; other records are skipped silently.
    """
    report = default_on_error if on_error is None else on_error
    for path in paths:
        where = os.fspath(path)
        for index, item in enumerate(iter_json_records(where, report)):
            try:
                if isinstance(item, Mapping) and isinstance(item.get("message"), str):
                    item = json.loads(item["message"])  # a saved FilterLogEvents event
                entry = parse_invocation_log(item)
            except ValueError as exc:  # JSONDecodeError and AuditInputError alike
                report(f"{where}: record {index}", exc)
                continue
            if entry is not None:
                yield entry


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def filter_invocation_logs(
    client: Any,
    *,
    log_group: str,
    start_time: datetime,
    end_time: datetime,
    filter_pattern: str | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[InvocationLogEntry]:
    """Read invocation logs live from CloudWatch Logs with ``FilterLogEvents``.

    Args:
        client: A boto3 ``logs`` client of the source Region (logs stay there).
        log_group: The log group invocation logging writes to.
        start_time: Start of the window (inclusive).
        end_time: End of the window (inclusive).
        filter_pattern: Optional CloudWatch filter pattern, e.g.
            ``'{ $.requestMetadata.cris_policy = "eu" }'``.
        on_error: Called for a log event whose message is not a valid record.

    Yields:
        Entries in the order CloudWatch returns them, following ``nextToken``.
    """
    report = default_on_error if on_error is None else on_error
    kwargs: dict[str, Any] = {
        "logGroupName": log_group,
        "startTime": _epoch_ms(start_time),
        "endTime": _epoch_ms(end_time),
    }
    if filter_pattern:
        kwargs["filterPattern"] = filter_pattern
    while True:
        page = client.filter_log_events(**kwargs)
        for event in page.get("events", []):
            where = f"{log_group}: log event {event.get('eventId', '?')}"
            try:
                entry = parse_invocation_log(json.loads(event.get("message", "")))
            except ValueError as exc:
                report(where, exc)
                continue
            if entry is not None:
                yield entry
        token = page.get("nextToken")
        # FilterLogEvents may return the same token at the end of a stream; stop rather than loop.
        if not token or token == kwargs.get("nextToken"):
            return
        kwargs["nextToken"] = token
