"""CloudTrail LookupEvents and invocation logs (FilterLogEvents) through plain boto3."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from langchain_cris.emulator import LocalBedrock, ManualClock

from .conftest import EU_SONNET, NO_RETRY, SONNET, ClientFactory, user

LOG_GROUP = "/aws/bedrock/modelinvocations"


def _calls(client: ClientFactory, n: int, region: str = "eu-central-1") -> list[str]:
    runtime = client("bedrock-runtime", region)
    return [
        runtime.converse(modelId=EU_SONNET, messages=user(f"call {i}"))["ResponseMetadata"][
            "RequestId"
        ]
        for i in range(n)
    ]


def test_cloudtrail_records_calls_in_the_source_region_with_inference_region(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    request_ids = _calls(client, 7)
    trail = client("cloudtrail", "eu-central-1")
    pages = list(trail.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Events"]) for p in pages] == [3, 3, 1]
    events = [e for p in pages for e in p["Events"]]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    assert [r["requestID"] for r in records] == request_ids[::-1]  # newest first
    served = {r.request_id: r.served_region for r in local_bedrock.wire_log.runtime()}
    for event, record in zip(events, records, strict=True):
        assert event["EventName"] == record["eventName"] == "Converse"
        assert event["EventSource"] == "bedrock.amazonaws.com"
        assert event["Username"] == "local" and event["AccessKeyId"] == "AKIDLOCALBEDROCK"
        assert record["awsRegion"] == "eu-central-1"
        assert record["requestParameters"] == {"modelId": EU_SONNET}
        assert record["responseElements"] is None
        assert record["eventType"] == "AwsApiCall" and record["readOnly"] is False  # AWS example
        where = served[record["requestID"]]
        if where == "eu-central-1":
            assert "additionalEventData" not in record
        else:
            assert record["additionalEventData"] == {"inferenceRegion": where}
    assert client("cloudtrail", "eu-west-1").lookup_events()["Events"] == []  # no re-routed logs


def test_cloudtrail_filters_failed_calls_and_time_range(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    _calls(client, 2)
    with pytest.raises(ClientError):
        client("bedrock-runtime", "eu-central-1", NO_RETRY).converse(
            modelId=SONNET, messages=user("x")
        )
    trail = client("cloudtrail", "eu-central-1")
    failed = json.loads(trail.lookup_events(MaxResults=1)["Events"][0]["CloudTrailEvent"])
    assert failed["errorCode"] == "ValidationException"
    assert "on-demand throughput" in failed["errorMessage"]
    assert "additionalEventData" not in failed
    by_resource = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": SONNET}]
    )["Events"]
    assert len(by_resource) == 1
    by_name = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}]
    )["Events"]
    assert len(by_name) == 3
    future = trail.lookup_events(StartTime=time.time() + 60)["Events"]
    assert future == []
    with pytest.raises(ClientError) as info:
        trail.lookup_events(MaxResults=51)
    assert info.value.response["Error"]["Code"] == "InvalidMaxResultsException"
    with pytest.raises(ClientError) as info:
        trail.lookup_events(NextToken="garbage")
    assert info.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_delivery_delay_on_the_wire_follows_the_emulator_clock() -> None:
    clock = ManualClock()
    with LocalBedrock(cloudtrail_delay=300, invocation_log_delay=60, clock=clock) as bedrock:
        trail = bedrock.client("cloudtrail")
        logs = bedrock.client("logs")
        bedrock.client("bedrock-runtime").converse(modelId=EU_SONNET, messages=user("Hi"))
        assert trail.lookup_events()["Events"] == []
        assert logs.filter_log_events(logGroupName=LOG_GROUP)["events"] == []
        assert len(bedrock.cloudtrail_events("eu-central-1", include_pending=True)) == 1
        assert len(bedrock.invocation_logs("eu-central-1", include_pending=True)) == 1
        clock.advance(59.5)
        assert logs.filter_log_events(logGroupName=LOG_GROUP)["events"] == []
        clock.advance(0.5)  # the log's 60 s have passed, the trail's 300 s have not
        assert len(logs.filter_log_events(logGroupName=LOG_GROUP)["events"]) == 1
        assert trail.lookup_events()["Events"] == []
        clock.advance(239.5)
        assert trail.lookup_events()["Events"] == []
        clock.advance(0.5)
        assert len(trail.lookup_events()["Events"]) == 1
        assert len(bedrock.cloudtrail_events("eu-central-1")) == 1


def test_invocation_logs_filter_and_paginate(
    local_bedrock: LocalBedrock, client: ClientFactory, tmp_path: Path
) -> None:
    runtime = client("bedrock-runtime", "eu-central-1")
    tagged = runtime.converse(
        modelId=EU_SONNET, messages=user("tagged"), requestMetadata={"chain": "residency-demo"}
    )
    request_ids = [tagged["ResponseMetadata"]["RequestId"], *_calls(client, 4)]
    logs = client("logs", "eu-central-1")
    pages = list(
        logs.get_paginator("filter_log_events").paginate(
            logGroupName=LOG_GROUP, PaginationConfig={"PageSize": 2}
        )
    )
    messages = [json.loads(e["message"]) for p in pages for e in p["events"]]
    assert [m["requestId"] for m in messages] == request_ids
    served = {r.request_id: r.served_region for r in local_bedrock.wire_log.runtime()}
    for m in messages:
        assert m["schemaType"] == "ModelInvocationLog" and m["region"] == "eu-central-1"
        # The blog's field, on re-routed calls only (the documented format has none).
        assert m.get("inferenceRegion", "eu-central-1") == served[m["requestId"]]
        assert m["operation"] == "Converse" and m["modelId"] == EU_SONNET
        assert m["input"]["inputTokenCount"] > 0 and m["output"]["outputTokenCount"] > 0
    one = logs.filter_log_events(
        logGroupName=LOG_GROUP, filterPattern=f'{{ $.requestId = "{request_ids[0]}" }}'
    )["events"]
    assert [json.loads(e["message"])["requestMetadata"] for e in one] == [
        {"chain": "residency-demo"}
    ]
    assert (
        len(
            logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern="residency-demo")["events"]
        )
        == 1
    )
    with pytest.raises(ClientError) as info:
        logs.filter_log_events(logGroupName="/aws/bedrock/other")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_invocation_logs_written_as_json_lines(tmp_path: Path) -> None:
    with LocalBedrock(invocation_log_dir=tmp_path) as bedrock:
        bedrock.client("bedrock-runtime", "eu-west-2").converse(
            modelId=EU_SONNET, messages=user("Hi")
        )
    lines = (tmp_path / "eu-west-2" / "invocations.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["region"] == "eu-west-2"
