"""One CloudTrail record of a Bedrock invocation, parsed: an API call or a stream completion.

AWS writes up to four records for one call (logging-using-cloudtrail, "Stream-completion events
for streaming invocations"):

* the **API-call event** (``eventType`` ``AwsApiCall``), in the source Region (``awsRegion``),
  with ``requestParameters.modelId`` and, only when the call was re-routed,
  ``additionalEventData.inferenceRegion``;
* for ``ConverseStream`` / ``InvokeModelWithResponseStream``, a **stream-completion event**
  (``AwsServiceEvent``) written after the stream finished: its own ``requestID``, the call's in
  ``serviceEventDetails.parentRequestId``, and the served Region and token counts in
  ``serviceEventDetails.AdditionalEventData.additionalEntries`` (capital ``A``);
* on a trail that also records data events, a **data-event copy** of each (``eventCategory``
  ``Data``, ``managementEvent`` false, same ``requestID``).

This module parses one record into a :class:`CloudTrailCall` (API call, possibly a data copy) or
a :class:`StreamCompletion`; :mod:`._ctjoin` folds them into one call each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_cris.audit._jsonstream import (
    AuditInputError,
    opt_str,
    parse_time,
    req_str,
    sub_object,
)
from langchain_cris.audit.strength import (
    CLOUDTRAIL_ABSENT,
    CLOUDTRAIL_COMPLETION,
    CLOUDTRAIL_FIELD,
    Strength,
)

__all__ = [
    "BEDROCK_EVENT_SOURCE",
    "RUNTIME_EVENT_NAMES",
    "STREAMING_EVENT_NAMES",
    "CloudTrailCall",
    "StreamCompletion",
    "parse_cloudtrail_event",
]

BEDROCK_EVENT_SOURCE = "bedrock.amazonaws.com"
"""``eventSource`` of Bedrock (control plane and runtime alike)."""

RUNTIME_EVENT_NAMES = frozenset(
    {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
)
"""Event names of inference calls; everything else Bedrock logs is control plane."""

STREAMING_EVENT_NAMES = frozenset({"ConverseStream", "InvokeModelWithResponseStream"})
"""Operations that get a stream-completion event after the stream finishes."""

COMPLETION_EVENT_TYPE = "AwsServiceEvent"


@dataclass(frozen=True, slots=True)
class CloudTrailCall:
    """One Bedrock runtime call as CloudTrail recorded it (no prompt data is ever read).

    Attributes:
        request_id: ``requestID`` of the API call (a stream-completion event's
            ``parentRequestId``).
        event_id: ``eventID`` of the API-call event (of the completion if that is all there is).
        event_name: ``Converse``, ``ConverseStream``, ``InvokeModel`` or
            ``InvokeModelWithResponseStream``.
        event_time: ``eventTime`` of the API call, as an aware UTC datetime.
        source_region: ``awsRegion``: the Region the client called.
        served_region: Where AWS says inference ran (see ``evidence``); for an absent field, the
            source Region.
        rerouted: True when the evidence names a Region other than the source.
        model_id: ``requestParameters.modelId`` (profile id, ARN or plain model id); ``None``
            when only a completion event was seen (it names the foundation model, not what
            was sent).
        account_id: ``recipientAccountId`` (else ``userIdentity.accountId``).
        user_arn: ``userIdentity.arn``.
        error_code: ``errorCode`` when the call failed (then nothing was served).
        evidence: Which field the served Region comes from (:mod:`langchain_cris.audit.strength`).
        strength: ``confirmed``, ``documented`` or ``assumed``.
        streamed: A streaming operation (AWS writes a completion event for it).
        input_tokens: ``inputTokens`` of the completion event (API calls carry none).
        output_tokens: ``outputTokens`` of the completion event.
        completion_event_id: ``eventID`` of the joined completion event.
        data_copy: This record is a data-event copy (``eventCategory`` ``Data``).
        api_call_seen: False when only the completion event was in the evidence.
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
    evidence: str = ""
    strength: Strength = "documented"
    streamed: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    completion_event_id: str | None = None
    data_copy: bool = False
    api_call_seen: bool = True

    def __post_init__(self) -> None:
        if not self.evidence:  # built by hand: derive what the fields alone can say
            streamed = self.event_name in STREAMING_EVENT_NAMES
            object.__setattr__(self, "streamed", self.streamed or streamed)
            if self.rerouted:
                object.__setattr__(self, "evidence", CLOUDTRAIL_FIELD)
                object.__setattr__(self, "strength", "confirmed")
            else:
                object.__setattr__(self, "evidence", CLOUDTRAIL_ABSENT)
                object.__setattr__(self, "strength", "assumed" if streamed else "documented")


@dataclass(frozen=True, slots=True)
class StreamCompletion:
    """A stream-completion event (``AwsServiceEvent``): not a call, evidence about one.

    Attributes:
        request_id: Its own ``requestID``.
        parent_request_id: ``serviceEventDetails.parentRequestId``: the API call's ``requestID``.
        event_id: ``eventID``.
        event_name: Same as the API call's.
        event_time: When the stream finished.
        source_region: ``awsRegion``.
        served_region: ``…additionalEntries.inferenceRegion`` (``None`` if absent).
        input_tokens: ``…additionalEntries.inputTokens``.
        output_tokens: ``…additionalEntries.outputTokens``.
        account_id: ``recipientAccountId`` (else ``userIdentity.accountId``).
        user_arn: ``userIdentity.arn``.
        model_arn: ARN of the ``AWS::Bedrock::Model`` entry of ``resources``.
        data_copy: A data-event copy.
    """

    request_id: str
    parent_request_id: str
    event_id: str
    event_name: str
    event_time: datetime
    source_region: str
    served_region: str | None
    input_tokens: int | None
    output_tokens: int | None
    account_id: str | None
    user_arn: str | None
    model_arn: str | None
    data_copy: bool = False

    def as_call(self) -> CloudTrailCall:
        """The call this completion proves, when its API-call event is not in the evidence."""
        served = self.served_region or self.source_region
        return CloudTrailCall(
            request_id=self.parent_request_id,
            event_id=self.event_id,
            event_name=self.event_name,
            event_time=self.event_time,
            source_region=self.source_region,
            served_region=served,
            rerouted=served != self.source_region,
            model_id=None,
            account_id=self.account_id,
            user_arn=self.user_arn,
            error_code=None,
            evidence=CLOUDTRAIL_COMPLETION if self.served_region else CLOUDTRAIL_ABSENT,
            strength="confirmed" if self.served_region else "assumed",
            streamed=True,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            completion_event_id=self.event_id,
            data_copy=self.data_copy,
            api_call_seen=False,
        )


def _token(entries: Mapping[str, Any], key: str) -> int | None:
    value = entries.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AuditInputError(f"{key} must be a non-negative integer, got {value!r}")
    return value


def _is_data_copy(record: Mapping[str, Any]) -> bool:
    return record.get("eventCategory") == "Data" or record.get("managementEvent") is False


def parse_cloudtrail_event(record: Mapping[str, Any]) -> CloudTrailCall | StreamCompletion | None:
    """Turn one CloudTrail record into a :class:`CloudTrailCall` or :class:`StreamCompletion`.

    Unknown fields are ignored, so newer CloudTrail event versions keep working.

    Args:
        record: One element of ``Records`` (or a parsed ``CloudTrailEvent`` string).

    Returns:
        The API call or the completion event, or ``None`` when the record is not a Bedrock
        runtime event (another service, or a control-plane call such as
        ``ListInferenceProfiles``).

    Raises:
        AuditInputError: a Bedrock runtime event lacks ``requestID``, ``awsRegion`` or
            ``eventTime`` (a completion event its ``parentRequestId``), or a field has the
            wrong type.
    """
    if type(record) is not dict and not isinstance(record, Mapping):
        raise AuditInputError(f"a CloudTrail record must be an object, got {type(record).__name__}")
    if record.get("eventSource") != BEDROCK_EVENT_SOURCE:
        return None
    event_name = record.get("eventName")
    if event_name not in RUNTIME_EVENT_NAMES:
        return None
    source = req_str(record, "awsRegion")
    identity = sub_object(record, "userIdentity")
    account = opt_str(record, "recipientAccountId") or opt_str(identity, "accountId")
    details = sub_object(record, "serviceEventDetails")
    if record.get("eventType") == COMPLETION_EVENT_TYPE or details:
        extra = sub_object(sub_object(details, "AdditionalEventData"), "additionalEntries")
        model_arn = None
        for resource in record.get("resources") or ():
            if isinstance(resource, Mapping) and resource.get("type") == "AWS::Bedrock::Model":
                model_arn = opt_str(resource, "ARN")
        return StreamCompletion(
            request_id=req_str(record, "requestID"),
            parent_request_id=req_str(details, "parentRequestId"),
            event_id=opt_str(record, "eventID") or "",
            event_name=str(event_name),
            event_time=parse_time(record.get("eventTime")),
            source_region=source,
            served_region=opt_str(extra, "inferenceRegion"),
            input_tokens=_token(extra, "inputTokens"),
            output_tokens=_token(extra, "outputTokens"),
            account_id=account,
            user_arn=opt_str(identity, "arn"),
            model_arn=model_arn,
            data_copy=_is_data_copy(record),
        )
    inference_region = opt_str(sub_object(record, "additionalEventData"), "inferenceRegion")
    streamed = event_name in STREAMING_EVENT_NAMES
    if inference_region is not None:
        evidence, strength = CLOUDTRAIL_FIELD, "confirmed"
    else:
        # AWS documents absence as "not re-routed" for the API call; for a stream, the
        # completion event is where AWS reports the Region, so absence alone is an assumption.
        evidence, strength = CLOUDTRAIL_ABSENT, ("assumed" if streamed else "documented")
    served = inference_region or source
    return CloudTrailCall(
        request_id=req_str(record, "requestID"),
        event_id=opt_str(record, "eventID") or "",
        event_name=str(event_name),
        event_time=parse_time(record.get("eventTime")),
        source_region=source,
        served_region=served,
        rerouted=inference_region is not None,
        model_id=opt_str(sub_object(record, "requestParameters"), "modelId"),
        account_id=account,
        user_arn=opt_str(identity, "arn"),
        error_code=opt_str(record, "errorCode"),
        evidence=evidence,
        strength=strength,  # type: ignore[arg-type]
        streamed=streamed,
        data_copy=_is_data_copy(record),
    )
