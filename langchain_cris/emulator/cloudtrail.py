"""CloudTrail event history of the simulated account, one trail per source Region.

What AWS documents (Bedrock user guide, "Monitor Amazon Bedrock API calls using CloudTrail"), and
what this trail therefore holds, always in the trail of the Region the caller signed for, never
in the Region that served it ("there will be no additional logs in the re-routed region"):

* one **API-call event** per runtime call, successful or not (``eventType`` ``AwsApiCall``,
  ``readOnly`` false, ``requestParameters.modelId``, ``responseElements`` null). When the call
  was served elsewhere it carries ``additionalEventData.inferenceRegion``; served in-Region,
  that element is absent;
* for ``ConverseStream`` / ``InvokeModelWithResponseStream``, a **stream-completion event**
  recorded after the stream finished (``AwsServiceEvent``, its own ``requestID``,
  ``serviceEventDetails.parentRequestId``, the served Region and token counts under
  ``serviceEventDetails.AdditionalEventData.additionalEntries``, no ``requestParameters``);
* with ``cloudtrail_data_events`` (a trail that also records Bedrock data events), a
  **data-event copy** of each (``eventCategory`` Data, ``managementEvent`` false, same
  ``requestID``, own ``eventID``). Data events never appear in LookupEvents (event history
  holds management events), only in :meth:`CloudTrail.events` (what the trail delivers to S3).

Undocumented, therefore switches: whether a stream's API-call event also carries
``inferenceRegion`` (``cloudtrail_stream_inference_region``, default off: only the completion
event names it) and whether LookupEvents returns completion events
(``cloudtrail_lookup_completions``, default on).

``LookupEvents`` follows the CloudTrail API: at most one lookup attribute, ``StartTime`` /
``EndTime``, ``MaxResults`` 1..50, newest first, opaque ``NextToken``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langchain_cris.emulator.aws_errors import AwsError
from langchain_cris.emulator.clock import Clock
from langchain_cris.emulator.pagination import decode_token, encode_token

__all__ = ["CallIdentity", "CloudTrail", "build_completion_record", "build_record", "data_copy"]

EVENT_SOURCE = "bedrock.amazonaws.com"
_LOOKUP_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)


@dataclass(frozen=True)
class CallIdentity:
    """Who called: the simulated principal plus what the request itself revealed."""

    account_id: str
    principal_arn: str
    access_key_id: str
    source_ip: str
    user_agent: str

    @property
    def username(self) -> str:
        """CloudTrail's ``Username`` for an assumed role is the session name."""
        return self.principal_arn.rsplit("/", 1)[-1]


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_record(
    *,
    identity: CallIdentity,
    event_name: str,
    source_region: str,
    model_id: str,
    request_id: str,
    served_region: str | None,
    error_code: str | None = None,
    error_message: str | None = None,
    when: float | None = None,
    name_inference_region: bool = True,
) -> dict[str, Any]:
    """The API-call event (what ``CloudTrailEvent`` holds as a JSON string).

    Args:
        name_inference_region: Add ``additionalEventData.inferenceRegion`` when the call was
            served outside its source Region (off for a stream's API call by default).
    """
    when = time.time() if when is None else when
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": _user_identity(identity, when),
        "eventTime": iso_time(when),
        "eventSource": EVENT_SOURCE,
        "eventName": event_name,
        "awsRegion": source_region,
        "sourceIPAddress": identity.source_ip,
        "userAgent": identity.user_agent,
        "requestParameters": {"modelId": model_id},
        "responseElements": None,
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message or ""
    rerouted = served_region is not None and served_region != source_region
    if rerouted and name_inference_region:
        record["additionalEventData"] = {"inferenceRegion": served_region}
    record.update(
        {
            "requestID": request_id,
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": identity.account_id,
            "eventCategory": "Management",
        }
    )
    return record


def build_completion_record(
    *,
    api_call: Mapping[str, Any],
    served_region: str,
    input_tokens: int,
    output_tokens: int,
    model_arn: str,
    when: float | None = None,
) -> dict[str, Any]:
    """The stream-completion event of ``api_call`` (AWS's ConverseStream example's shape)."""
    when = time.time() if when is None else when
    return {
        "eventVersion": api_call["eventVersion"],
        "userIdentity": api_call["userIdentity"],
        "eventTime": iso_time(when),
        "eventSource": api_call["eventSource"],
        "eventName": api_call["eventName"],
        "awsRegion": api_call["awsRegion"],
        "sourceIPAddress": api_call["sourceIPAddress"],
        "userAgent": api_call["userAgent"],
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsServiceEvent",
        "recipientAccountId": api_call["recipientAccountId"],
        "serviceEventDetails": {
            "parentRequestId": api_call["requestID"],
            "AdditionalEventData": {
                "additionalEntries": {
                    "inferenceRegion": served_region,
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                }
            },
        },
        "resources": [{"type": "AWS::Bedrock::Model", "ARN": model_arn}],
    }


def data_copy(record: Mapping[str, Any], *, model_arn: str) -> dict[str, Any]:
    """The data-event copy a trail with Bedrock data events receives of ``record``."""
    copy = dict(record)
    copy["eventID"] = str(uuid.uuid4())
    copy["managementEvent"] = False
    copy["eventCategory"] = "Data"
    if "resources" not in copy:
        copy["resources"] = [
            {
                "accountId": record["recipientAccountId"],
                "type": "AWS::Bedrock::Model",
                "ARN": model_arn,
            }
        ]
    return copy


def _user_identity(identity: CallIdentity, when: float) -> dict[str, Any]:
    """An ``AssumedRole`` element, shaped like the CloudTrail userIdentity reference's."""
    role = identity.principal_arn.split("/")[-2] if "/" in identity.principal_arn else "role"
    return {
        "type": "AssumedRole",
        "principalId": f"AROALOCALBEDROCK:{identity.username}",
        "arn": identity.principal_arn,
        "accountId": identity.account_id,
        "accessKeyId": identity.access_key_id,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROALOCALBEDROCK",
                "arn": f"arn:aws:iam::{identity.account_id}:role/{role}",
                "accountId": identity.account_id,
                "userName": role,
            },
            "attributes": {"creationDate": iso_time(when), "mfaAuthenticated": "false"},
        },
    }


@dataclass(frozen=True)
class _Stored:
    seq: int
    epoch: float
    visible_at: float
    record: dict[str, Any]
    resource_type: str
    resource_name: str

    @property
    def in_event_history(self) -> bool:
        """Management events only: data events are delivered by trails, not LookupEvents."""
        return self.record.get("eventCategory", "Management") == "Management"

    @property
    def completion(self) -> bool:
        return self.record.get("eventType") == "AwsServiceEvent"


class CloudTrail:
    """Per-Region event history with a configurable delivery delay (thread-safe).

    A record written at delivery-clock reading ``t`` is invisible to :meth:`lookup_events`
    (and to :meth:`events` without ``include_pending``) while ``clock() < t + delay``.

    Args:
        delay: Seconds (on ``clock``) before a record is visible.
        lookup_completions: Whether LookupEvents returns stream-completion events.
        clock: The delivery clock (see :mod:`langchain_cris.emulator.clock`); event times
            stay wall-clock epochs whatever it says.
    """

    def __init__(
        self,
        delay: float = 0.0,
        *,
        lookup_completions: bool = True,
        clock: Clock = time.monotonic,
    ) -> None:
        self.delay = delay
        self.lookup_completions = lookup_completions
        self.clock = clock
        self._lock = threading.Lock()
        self._events: dict[str, list[_Stored]] = {}
        self._seq = 0

    def record(
        self,
        region: str,
        record: dict[str, Any],
        *,
        resource_type: str = "AWS::Bedrock::Model",
        resource_name: str | None = None,
        epoch: float | None = None,
    ) -> None:
        """Store ``record`` in ``region``'s trail; visible after the delivery delay.

        Args:
            region: The caller's (source) Region.
            record: From :func:`build_record`, :func:`build_completion_record` or
                :func:`data_copy`.
            resource_type: LookupEvents' ``ResourceType``: ``AWS::Bedrock::Model`` or
                ``AWS::Bedrock::InferenceProfile``.
            resource_name: LookupEvents' ``ResourceName`` (default: ``requestParameters.modelId``).
            epoch: Event time (defaults to now).
        """
        delivered_at = self.clock() + self.delay
        name = resource_name if resource_name is not None else _resource_name(record)
        with self._lock:
            self._seq += 1
            when = epoch or time.time()
            stored = _Stored(self._seq, when, delivered_at, record, resource_type, name)
            self._events.setdefault(region, []).append(stored)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def events(self, region: str, *, include_pending: bool = False) -> list[dict[str, Any]]:
        """Full records of ``region``'s trail, oldest first (delivered ones only by default)."""
        now = self.clock()
        with self._lock:
            stored = list(self._events.get(region, []))
        return [s.record for s in stored if include_pending or s.visible_at <= now]

    # -- LookupEvents ------------------------------------------------------------------------
    def lookup_events(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Answer a ``LookupEvents`` request body for the trail of ``region``."""
        attributes = params.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise AwsError(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute.",
            )
        attribute = attributes[0] if attributes else None
        if attribute and attribute.get("AttributeKey") not in _LOOKUP_KEYS:
            raise AwsError(
                "InvalidLookupAttributesException",
                f"Invalid attribute key; valid keys: {', '.join(_LOOKUP_KEYS)}",
            )
        start = params.get("StartTime")
        end = params.get("EndTime")
        if start is not None and end is not None and float(start) > float(end):
            raise AwsError("InvalidTimeRangeException", "Start time must be before end time.")
        limit = int(params.get("MaxResults", 50))
        if not 1 <= limit <= 50:
            raise AwsError("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        if params.get("EventCategory") not in (None, ""):
            return {"Events": []}  # no Insights events are simulated
        fingerprint = json.dumps([attribute, start, end], sort_keys=True, default=str)
        after_seq = decode_token(
            params.get("NextToken"),
            fingerprint,
            lambda: AwsError(
                "InvalidNextTokenException", "Invalid NextToken. Use the token from the last call."
            ),
        )
        now = self.clock()
        with self._lock:
            stored = sorted(self._events.get(region, []), key=lambda s: s.seq, reverse=True)
        matches = [
            s
            for s in stored
            if s.visible_at <= now
            and s.in_event_history
            and (self.lookup_completions or not s.completion)
            and (after_seq is None or s.seq < after_seq)
            and (start is None or s.epoch >= float(start))
            and (end is None or s.epoch <= float(end))
            and (attribute is None or _matches(s, attribute))
        ]
        page = matches[:limit]
        out: dict[str, Any] = {"Events": [_summary(s) for s in page]}
        if len(matches) > limit:
            out["NextToken"] = encode_token(page[-1].seq, fingerprint)
        return out


def _resource_name(record: Mapping[str, Any]) -> str:
    return str((record.get("requestParameters") or {}).get("modelId", ""))


def _summary(stored: _Stored) -> dict[str, Any]:
    record = stored.record
    identity = record["userIdentity"]
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "true" if record["readOnly"] else "false",
        "AccessKeyId": identity.get("accessKeyId", ""),
        "EventTime": stored.epoch,
        "EventSource": record["eventSource"],
        "Username": identity["arn"].rsplit("/", 1)[-1],
        "Resources": [{"ResourceType": stored.resource_type, "ResourceName": stored.resource_name}],
        "CloudTrailEvent": json.dumps(record, ensure_ascii=False),
    }


def _matches(stored: _Stored, attribute: Mapping[str, Any]) -> bool:
    summary = _summary(stored)
    key = attribute["AttributeKey"]
    value = str(attribute.get("AttributeValue", ""))
    if key == "ResourceName":
        return any(r["ResourceName"] == value for r in summary["Resources"])
    if key == "ResourceType":
        return any(r["ResourceType"] == value for r in summary["Resources"])
    return str(summary.get(key, "")) == value
