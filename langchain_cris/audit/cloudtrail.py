"""Read Bedrock runtime calls out of AWS CloudTrail: S3-delivered files or ``LookupEvents``.

CloudTrail records a call in the **source** Region (``awsRegion``), never in the Region that
served it. What AWS records for one call (logging-using-cloudtrail), and how it is read here:

* the API-call event (``AwsApiCall``): ``additionalEventData.inferenceRegion`` names the served
  Region when the call was re-routed; its absence means "not re-routed" for Converse and
  InvokeModel (AWS ML blog, "Getting started with cross-region inference in Amazon Bedrock");
* for ``ConverseStream`` / ``InvokeModelWithResponseStream``, a stream-completion event
  (``AwsServiceEvent``) after the stream finished, joined to its call by
  ``serviceEventDetails.parentRequestId``: it reports where inference ran and the token counts;
* data-event copies of both on trails that also record data events.

The iterators here yield **one** :class:`CloudTrailCall` per call, whatever copies and completion
events the evidence holds, each with the evidence and strength of its served Region (rules in
:mod:`langchain_cris.audit.strength`). Parsing single records is :func:`parse_cloudtrail_event`;
folding them is :class:`CallAssembler`.

Input files are streamed (by :mod:`._jsonstream`): an S3-delivered ``{"Records": [...]}`` file
(``.json`` or gzip, found by its magic bytes, not its name) is decoded one record at a time. A
bad record is reported through ``on_error`` and skipped; a truncated gzip keeps every record
decoded before the cut.

Example:
    .. code-block:: python

        from langchain_cris.audit.cloudtrail import iter_cloudtrail_files

        for call in iter_cloudtrail_files(["trail/2026/11/26/file.json.gz"]):
            print(call.request_id, call.source_region, "->", call.served_region, call.evidence)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from langchain_cris.audit._ctevents import (
    BEDROCK_EVENT_SOURCE,
    RUNTIME_EVENT_NAMES,
    STREAMING_EVENT_NAMES,
    CloudTrailCall,
    StreamCompletion,
    parse_cloudtrail_event,
)
from langchain_cris.audit._ctjoin import CallAssembler
from langchain_cris.audit._jsonstream import (
    CHUNK_BYTES,
    AuditInputError,
    ErrorHandler,
    default_on_error,
    iter_json_records,
    parse_time,  # noqa: F401  (re-exported for callers that parse times of events)
)

__all__ = [
    "BEDROCK_EVENT_SOURCE",
    "LOOKUP_EVENTS_HORIZON",
    "RUNTIME_EVENT_NAMES",
    "STREAMING_EVENT_NAMES",
    "AuditInputError",
    "CallAssembler",
    "CloudTrailCall",
    "ErrorHandler",
    "LookupHorizonError",
    "StreamCompletion",
    "clamp_to_lookup_horizon",
    "iter_cloudtrail_files",
    "iter_cloudtrail_records",
    "lookup_cloudtrail_calls",
    "parse_cloudtrail_event",
]

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


def iter_cloudtrail_records(
    paths: Iterable[str | os.PathLike[str]],
    *,
    on_error: ErrorHandler | None = None,
) -> Iterator[CloudTrailCall | StreamCompletion]:
    """Every Bedrock runtime record of the files, unjoined (API calls, completions, copies).

    Args:
        paths: S3-delivered CloudTrail files (``.json`` / ``.json.gz``), saved
            ``lookup-events`` output, or EventBridge event dumps.
        on_error: Called with ``(where, exc)`` for each bad file or record, which is skipped;
            defaults to a ``logging`` warning.
    """
    report = default_on_error if on_error is None else on_error
    for path in paths:
        where = os.fspath(path)
        for index, item in enumerate(iter_json_records(where, report, chunk_bytes=_CHUNK_BYTES)):
            try:
                record = parse_cloudtrail_event(_unwrap_event(item))
            except ValueError as exc:  # AuditInputError, or a bad CloudTrailEvent string
                report(f"{where}: record {index}", exc)
                continue
            if record is not None:
                yield record


def iter_cloudtrail_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    on_error: ErrorHandler | None = None,
    assembler: CallAssembler | None = None,
) -> Iterator[CloudTrailCall]:
    """Stream every Bedrock runtime call from CloudTrail files, one :class:`CloudTrailCall` each.

    A streamed call is yielded when its completion event is read (it may be in a later file),
    or after the last file without one; copies are dropped.

    Args:
        paths: As for :func:`iter_cloudtrail_records`.
        on_error: As for :func:`iter_cloudtrail_records`.
        assembler: Fold into this assembler (e.g. to read its counters afterwards).

    Yields:
        One call per API call (or orphan completion). Events of other services and Bedrock
        control-plane events are skipped silently.
    """
    joiner = assembler if assembler is not None else CallAssembler()
    for record in iter_cloudtrail_records(paths, on_error=on_error):
        yield from joiner.add(record)
    yield from joiner.finish()


# -- live LookupEvents --------------------------------------------------------------------
def lookup_cloudtrail_calls(
    client: Any,
    *,
    start_time: datetime,
    end_time: datetime,
    request_ids: Collection[str] | None = None,
    on_error: ErrorHandler | None = None,
    throttle: Callable[[], None] | None = None,
) -> Iterator[CloudTrailCall]:
    """Look Bedrock runtime calls up live with CloudTrail ``LookupEvents``.

    LookupEvents is regional: pass a client of the **source** Region, where CloudTrail records
    cross-Region calls. Pages are followed with ``NextToken``. With ``request_ids`` the search
    stops as soon as every id is settled: a non-streamed call when its API-call event is read, a
    streamed one when its completion event has been joined (LookupEvents is newest first, so
    the completion comes first). A streamed call whose completion was not found is yielded at
    the end with an *assumed* served Region (whether LookupEvents returns completion events is
    not documented), so a caller can keep looking.

    Args:
        client: A boto3 ``cloudtrail`` client.
        start_time: Start of the window (inclusive).
        end_time: End of the window (inclusive).
        request_ids: Only yield these request ids (``None`` = every Bedrock runtime call).
        on_error: Called for an event whose ``CloudTrailEvent`` cannot be parsed.
        throttle: Called before every request (e.g. a shared
            :class:`~langchain_cris.audit.ratelimit.SharedRateLimiter`'s ``acquire``).

    Yields:
        Matching calls, settled ones in LookupEvents' order, unsettled streams last.
    """
    report = default_on_error if on_error is None else on_error
    wanted = set(request_ids) if request_ids is not None else None
    if wanted is not None and not wanted:
        return
    joiner = CallAssembler()
    kwargs: dict[str, Any] = {
        "LookupAttributes": [
            {"AttributeKey": "EventSource", "AttributeValue": BEDROCK_EVENT_SOURCE}
        ],
        "StartTime": start_time,
        "EndTime": end_time,
    }
    while True:
        if throttle is not None:
            throttle()
        page = client.lookup_events(**kwargs)
        for event in page.get("Events", []):
            where = f"LookupEvents event {event.get('EventId', '?')}"
            raw = event.get("CloudTrailEvent")
            name = event.get("EventName")
            if (name is not None and name not in RUNTIME_EVENT_NAMES) or not isinstance(raw, str):
                continue
            try:
                record = parse_cloudtrail_event(json.loads(raw))
            except ValueError as exc:  # JSONDecodeError and AuditInputError alike
                report(where, exc)
                continue
            if record is None:
                continue
            key = (
                record.parent_request_id
                if isinstance(record, StreamCompletion)
                else record.request_id
            )
            if wanted is not None and key not in wanted:
                continue
            for call in joiner.add(record):
                yield call
                if wanted is not None:
                    wanted.discard(call.request_id)
                    if not wanted:
                        return
        token = page.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    yield from joiner.finish()
