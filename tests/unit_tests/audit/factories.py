"""Builders for CloudTrail events and invocation-log records shaped exactly like AWS's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"


def ct_event(
    request_id: str = "req-1",
    *,
    source: str = "eu-central-1",
    served: str | None = "eu-west-1",
    model: str = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    name: str = "Converse",
    event_source: str = "bedrock.amazonaws.com",
    account: str = ACCOUNT,
    error_code: str | None = None,
    time: str = "2026-11-26T12:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """A CloudTrail record as S3 delivery writes it (eventVersion first, like AWS)."""
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:app",
            "arn": f"arn:aws:sts::{account}:assumed-role/app/app",
            "accountId": account,
        },
        "eventTime": time,
        "eventSource": event_source,
        "eventName": name,
        "awsRegion": source,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "Boto3/1.43",
        "requestParameters": {"modelId": model},
        "responseElements": None,
        "requestID": request_id,
        "eventID": f"evt-{request_id}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if served is not None:
        event["additionalEventData"] = {"inferenceRegion": served}
    if error_code:
        event["errorCode"] = error_code
        event["errorMessage"] = "denied"
    event.update(extra)
    return event


def inv_record(
    request_id: str = "req-1",
    *,
    source: str = "eu-central-1",
    served: str | None = "eu-west-1",
    model: str = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    operation: str = "Converse",
    input_tokens: int | None = 12,
    output_tokens: int | None = 34,
    metadata: dict[str, str] | None = None,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """A Model Invocation Log record (ModelInvocationLog 1.0)."""
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-11-26T12:00:01Z",
        "accountId": account,
        "identity": {"arn": f"arn:aws:sts::{account}:assumed-role/app/app"},
        "region": source,
        "requestId": request_id,
        "operation": operation,
        "modelId": model,
        "input": {"inputContentType": "application/json", "inputTokenCount": input_tokens},
        "output": {"outputContentType": "application/json", "outputTokenCount": output_tokens},
        "requestMetadata": metadata if metadata is not None else {"cris_policy": "eu"},
    }
    if served is not None:
        record["inferenceRegion"] = served
    return record


def write_records(path: Path, records: list[Any], *, gz: bool = False) -> Path:
    """Write a CloudTrail S3-style ``{"Records": [...]}`` file."""
    data = json.dumps({"Records": records}).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_lines(path: Path, records: list[Any], *, gz: bool = False) -> Path:
    """Write JSON Lines (invocation logs, audit log)."""
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path
