"""Read Bedrock runtime calls out of AWS CloudTrail: S3-delivered files or ``LookupEvents``.

CloudTrail records a cross-Region call once, in the **source** Region (``awsRegion``). When the
request was re-routed, ``additionalEventData.inferenceRegion`` names the Region that served it;
when that key is absent the call was served in the source Region (AWS ML blog, "Getting started
with cross-region inference in Amazon Bedrock"). This module turns those events into
:class:`CloudTrailCall` values that the reconciler and the audit report join on ``requestID``.

Input files are streamed (by :mod:`._jsonstream`): an S3-delivered ``{"Records": [...]}`` file
(``.json`` or gzip, found by its magic bytes, not its name) is decoded one record at a time, so
memory stays flat however many events a file holds. A bad record is reported through
``on_error`` and skipped; a truncated gzip keeps every record decoded before the cut.

Example:
    .. code-block:: python

        from langchain_cris.audit.cloudtrail import iter_cloudtrail_files

        for call in iter_cloudtrail_files(["trail/2026/11/26/file.json.gz"]):
            print(call.request_id, call.source_region, "->", call.served_region)
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langchain_cris.audit._jsonstream import (
    CHUNK_BYTES,
    AuditInputError,
    ErrorHandler,
    default_on_error,
    iter_json_records,
    opt_str,
    parse_time,
    req_str,
    sub_object,
)

__all__ = [
    "BEDROCK_EVENT_SOURCE",
    "LOOKUP_EVENTS_HORIZON",
    "RUNTIME_EVENT_NAMES",
    "AuditInputError",
    "CloudTrailCall",
    "ErrorHandler",
    "LookupHorizonError",
    "clamp_to_lookup_horizon",
    "iter_cloudtrail_files",
    "lookup_cloudtrail_calls",
    "parse_cloudtrail_event",
]

BEDROCK_EVENT_SOURCE = "bedrock.amazonaws.com"
"""``eventSource`` of Bedrock (control plane and runtime alike)."""

RUNTIME_EVENT_NAMES = frozenset(
    {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
)
"""Event names of inference calls; everything else Bedrock logs is control plane."""

LOOKUP_EVENTS_HORIZON = timedelta(days=90)
"""How far back ``LookupEvents`` can see: "You can look up events that occurred in a Region within
the last 90 days" (CloudTrail API reference, LookupEvents, as shipped in botocore's service model).
Older events exist only in a trail's S3 files (or CloudTrail Lake), which
:func:`iter_cloudtrail_files` reads."""


class LookupHorizonError(AuditInputError):
    """A live ``LookupEvents`` window lies wholly before CloudTrail's 90-day horizon.

    LookupEvents would answer with an empty page, which reads like "no calls" when it means "no
    longer visible": refusing says so instead.
    """


def clamp_to_lookup_horizon(
    start_time: datetime, end_time: datetime, *, now: datetime
) -> tuple[datetime, str | None]:
    """Fit a live window to what ``LookupEvents`` can still return.

    Args:
        start_time: Requested start of the window.
        end_time: Requested end of the window.
        now: The current time (a parameter, so callers and tests decide what "now" is).

    Returns:
        The start to ask for (never before ``now - 90 days``) and, when the request was cut, a
        sentence saying what is not visible and where to read it instead.

    Raises:
        LookupHorizonError: ``end_time`` itself is older than the horizon: nothing could be found.
    """
    horizon = now - LOOKUP_EVENTS_HORIZON
    if end_time < horizon:
        raise LookupHorizonError(
            f"the window ends {end_time.isoformat()}, before CloudTrail LookupEvents' 90-day "
            f"horizon ({horizon.isoformat()}): LookupEvents cannot return those events; audit the "
            "trail's S3 files (or CloudTrail Lake exports) instead"
        )
    if start_time < horizon:
        return horizon, (
            f"CloudTrail LookupEvents only returns the last 90 days: events before "
            f"{horizon.isoformat()} are not visible live and are not counted; audit the trail's "
            "S3 files for them"
        )
    return start_time, None


# Read size for CloudTrail files; a module attribute so tests can shrink it and make records
# straddle reads.
_CHUNK_BYTES = CHUNK_BYTES


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
    source = req_str(record, "awsRegion")
    extra = sub_object(record, "additionalEventData")
    inference_region = opt_str(extra, "inferenceRegion")
    identity = sub_object(record, "userIdentity")
    params = sub_object(record, "requestParameters")
    return CloudTrailCall(
        request_id=req_str(record, "requestID"),
        event_id=opt_str(record, "eventID") or "",
        event_name=str(event_name),
        event_time=parse_time(record.get("eventTime")),
        source_region=source,
        served_region=inference_region or source,
        rerouted=inference_region is not None,
        model_id=opt_str(params, "modelId"),
        account_id=opt_str(record, "recipientAccountId") or opt_str(identity, "accountId"),
        user_arn=opt_str(identity, "arn"),
        error_code=opt_str(record, "errorCode"),
    )


# -- files --------------------------------------------------------------------------------
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
    report = default_on_error if on_error is None else on_error
    for path in paths:
        where = os.fspath(path)
        for index, item in enumerate(iter_json_records(where, report, chunk_bytes=_CHUNK_BYTES)):
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
    report = default_on_error if on_error is None else on_error
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
