"""The local Bedrock's CloudTrail and invocation logs, held against AWS's documented shapes.

The emulator was written from the same notes as the readers, so agreeing with them proves
little; here every record it produces must have exactly the keys and value types (at every
level) of the corpus record of the same kind in ``tests/fixtures/aws`` (see its README), and
stream-completion events, data-event copies and ``inferenceRegion`` must appear as AWS says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_cris.emulator import LocalBedrock
from tests.unit_tests.audit.corpus import load, scenario_records

from .conftest import EU_SONNET, user

#: Top-level keys AWS documents as present only sometimes (re-routed, failed, TLS requests).
OPTIONAL = frozenset({"additionalEventData", "errorCode", "errorMessage", "tlsDetails"})
#: Invocation-log keys present only sometimes (caller metadata; the blog's field).
LOG_OPTIONAL = frozenset({"requestMetadata", "inferenceRegion"})
OPAQUE = frozenset({"inputBodyJson", "outputBodyJson"})  # model bodies: any JSON

ATTEMPTS = 12  # enough calls that some are re-routed and some are not (seeded routing)


def shape(
    value: Any, *, ignore: frozenset[str] = frozenset(), opaque: frozenset[str] = OPAQUE
) -> Any:
    """Keys and value types at every level (lists by their first element)."""
    if isinstance(value, dict):
        return {
            k: ("json" if k in opaque else shape(v, opaque=opaque))
            for k, v in sorted(value.items())
            if k not in ignore
        }
    if isinstance(value, list):
        return [shape(value[0], opaque=opaque)] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _corpus_kinds() -> dict[str, dict[str, Any]]:
    records = scenario_records()
    by_id = {r["eventID"]: r for r in records}
    return {
        "api_call": by_id["0b7e9d10-0001-4a2f-8e61-EXAMPLE0001E"],  # call A, re-routed
        "completion": by_id["0b7e9d10-0003-4a2f-8e61-EXAMPLE0003F"],
        "api_call_data_copy": by_id["0b7e9d10-0004-4a2f-8e61-EXAMPLE0004D"],
        "completion_data_copy": load("cloudtrail/conversestream-completion-data-copy.json"),
    }


CORPUS_KINDS = _corpus_kinds()
ASSUMED_ROLE = CORPUS_KINDS["api_call"]["userIdentity"]  # UID's AssumedRole element


def kind_of(record: dict[str, Any]) -> str:
    completion = record["eventType"] == "AwsServiceEvent"
    data = record.get("eventCategory") == "Data"
    return ("completion" if completion else "api_call") + ("_data_copy" if data else "")


def assert_aws_shaped(record: dict[str, Any]) -> None:
    reference = CORPUS_KINDS[kind_of(record)]
    assert shape(record, ignore=OPTIONAL | {"userIdentity"}) == shape(
        reference, ignore=OPTIONAL | {"userIdentity"}
    ), kind_of(record)
    for key in OPTIONAL & record.keys() & reference.keys():
        assert shape(record[key]) == shape(reference[key]), key
    assert shape(record["userIdentity"]) == shape(ASSUMED_ROLE)


def _traffic(bedrock: LocalBedrock) -> dict[str, str]:
    """Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream calls, each
    stream read to its end; returns request id -> operation."""
    runtime = bedrock.client("bedrock-runtime", "eu-central-1")
    body = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    seen: dict[str, str] = {}
    for i in range(ATTEMPTS):
        reply = runtime.converse(modelId=EU_SONNET, messages=user(f"q{i}"))
        seen[reply["ResponseMetadata"]["RequestId"]] = "Converse"
        stream = runtime.converse_stream(modelId=EU_SONNET, messages=user(f"s{i}"))
        list(stream["stream"])
        seen[stream["ResponseMetadata"]["RequestId"]] = "ConverseStream"
    reply = runtime.invoke_model(modelId=EU_SONNET, body=body)
    seen[reply["ResponseMetadata"]["RequestId"]] = "InvokeModel"
    stream = runtime.invoke_model_with_response_stream(modelId=EU_SONNET, body=body)
    list(stream["body"])
    seen[stream["ResponseMetadata"]["RequestId"]] = "InvokeModelWithResponseStream"
    return seen


@pytest.fixture(scope="module")
def trail_run() -> Iterator[tuple[LocalBedrock, dict[str, str], bytes]]:
    with LocalBedrock(seed=3, config={"cloudtrail_data_events": True}) as bedrock:
        seen = _traffic(bedrock)
        trail = bedrock.client("cloudtrail", "eu-central-1")
        raw: list[bytes] = []
        trail.meta.events.register(
            "after-call.cloudtrail.LookupEvents",
            lambda http_response, **_: raw.append(http_response.content),
        )
        trail.lookup_events(MaxResults=50)
        yield bedrock, seen, raw[0]


def test_every_trail_record_has_the_shape_aws_documents_for_its_kind(
    trail_run: tuple[LocalBedrock, dict[str, str], bytes],
) -> None:
    bedrock, seen, _ = trail_run
    records = bedrock.cloudtrail_events("eu-central-1")
    kinds = [kind_of(r) for r in records]
    n = len(seen)
    streams = sum(1 for op in seen.values() if "Stream" in op)
    assert kinds.count("api_call") == kinds.count("api_call_data_copy") == n
    assert kinds.count("completion") == kinds.count("completion_data_copy") == streams
    for record in records:
        assert_aws_shaped(record)


def test_api_calls_are_written_not_read_and_name_only_a_rerouted_region(
    trail_run: tuple[LocalBedrock, dict[str, str], bytes],
) -> None:
    bedrock, seen, _ = trail_run
    truth = {w.request_id: w.served_region for w in bedrock.wire_log.runtime()}
    calls = [r for r in bedrock.cloudtrail_events("eu-central-1") if kind_of(r) == "api_call"]
    assert {r["requestID"] for r in calls} == set(seen)
    rerouted = 0
    for record in calls:
        assert record["readOnly"] is False
        assert record["eventName"] == seen[record["requestID"]]
        served = truth[record["requestID"]]
        streamed = "Stream" in record["eventName"]
        if served == "eu-central-1" or streamed:
            assert "additionalEventData" not in record
        else:
            rerouted += 1
            assert record["additionalEventData"] == {"inferenceRegion": served}
    assert rerouted  # the seeded traffic exercised both shapes


def test_each_stream_gets_one_completion_event_joined_by_parent_request_id(
    trail_run: tuple[LocalBedrock, dict[str, str], bytes],
) -> None:
    bedrock, seen, _ = trail_run
    wire = {w.request_id: w for w in bedrock.wire_log.runtime()}
    records = bedrock.cloudtrail_events("eu-central-1")
    calls = {r["requestID"]: r for r in records if kind_of(r) == "api_call"}
    completions = [r for r in records if kind_of(r) == "completion"]
    parents = [c["serviceEventDetails"]["parentRequestId"] for c in completions]
    assert sorted(parents) == sorted(rid for rid, op in seen.items() if "Stream" in op)
    for completion in completions:
        parent = completion["serviceEventDetails"]["parentRequestId"]
        call = calls[parent]
        assert completion["requestID"] != parent
        for same in ("eventName", "eventSource", "userIdentity", "sourceIPAddress", "userAgent"):
            assert completion[same] == call[same], same
        assert completion["readOnly"] is True
        entries = completion["serviceEventDetails"]["AdditionalEventData"]["additionalEntries"]
        assert entries["inferenceRegion"] == wire[parent].served_region
        assert (entries["inputTokens"], entries["outputTokens"]) == (
            wire[parent].input_tokens,
            wire[parent].output_tokens,
        )
        assert completion["eventTime"] >= call["eventTime"]  # after the stream finished


def test_data_copies_repeat_the_request_id_with_their_own_event_id(
    trail_run: tuple[LocalBedrock, dict[str, str], bytes],
) -> None:
    bedrock, _, _ = trail_run
    records = bedrock.cloudtrail_events("eu-central-1")
    management = {
        (r["requestID"], r["eventType"]): r for r in records if "_data_copy" not in kind_of(r)
    }
    for copy in (r for r in records if kind_of(r).endswith("_data_copy")):
        original = management[(copy["requestID"], copy["eventType"])]
        assert copy["eventID"] != original["eventID"]
        assert (copy["managementEvent"], copy["eventCategory"]) == (False, "Data")
        stripped = {
            k: v
            for k, v in copy.items()
            if k not in ("eventID", "managementEvent", "eventCategory", "resources")
        }
        assert stripped == {
            k: v
            for k, v in original.items()
            if k not in ("eventID", "managementEvent", "eventCategory", "resources")
        }


def test_lookup_events_page_has_the_wire_shape_and_no_data_events(
    trail_run: tuple[LocalBedrock, dict[str, str], bytes],
) -> None:
    _, _, body = trail_run
    page = json.loads(body)
    reference = load("lookup-events/page.json")
    assert set(page) - {"NextToken"} == set(reference) - {"NextToken"}
    assert page["Events"]
    for event in page["Events"]:
        assert shape(event) == shape(reference["Events"][0])
        record = json.loads(event["CloudTrailEvent"])
        assert kind_of(record) in ("api_call", "completion")  # data events never appear here
        assert_aws_shaped(record)
        assert event["ReadOnly"] == ("true" if record["readOnly"] else "false")


@pytest.mark.parametrize("with_field", [True, False])
def test_invocation_logs_are_documented_shaped_with_or_without_inference_region(
    with_field: bool,
) -> None:
    config = {"invocation_log_inference_region": with_field}
    with LocalBedrock(seed=3, config=config) as bedrock:
        seen = _traffic(bedrock)
        truth = {w.request_id: w.served_region for w in bedrock.wire_log.runtime()}
        records = bedrock.invocation_logs("eu-central-1")
    reference = load("invocation-logs/documented.json")
    assert {r["requestId"] for r in records} == set(seen)
    with_region = 0
    for record in records:
        assert shape(record, ignore=LOG_OPTIONAL) == shape(reference, ignore=LOG_OPTIONAL)
        served = truth[record["requestId"]]
        if with_field and served != "eu-central-1":
            with_region += 1
            assert record["inferenceRegion"] == served
        else:
            assert "inferenceRegion" not in record
    assert with_region > 0 if with_field else with_region == 0


def test_lookup_can_be_told_not_to_return_completion_events() -> None:
    config = {"cloudtrail_lookup_completions": False}
    with LocalBedrock(seed=3, config=config) as bedrock:
        runtime = bedrock.client("bedrock-runtime", "eu-central-1")
        list(runtime.converse_stream(modelId=EU_SONNET, messages=user("x"))["stream"])
        events = bedrock.client("cloudtrail", "eu-central-1").lookup_events()["Events"]
        trail = bedrock.cloudtrail_events("eu-central-1")
    assert [json.loads(e["CloudTrailEvent"])["eventType"] for e in events] == ["AwsApiCall"]
    assert sorted(r["eventType"] for r in trail) == ["AwsApiCall", "AwsServiceEvent"]


def test_stream_api_calls_can_be_told_to_name_the_served_region() -> None:
    config = {"cloudtrail_stream_inference_region": True}
    with LocalBedrock(seed=3, config=config) as bedrock:
        seen = _traffic(bedrock)
        truth = {w.request_id: w.served_region for w in bedrock.wire_log.runtime()}
        calls = [r for r in bedrock.cloudtrail_events("eu-central-1") if kind_of(r) == "api_call"]
    streamed_rerouted = 0
    for record in calls:
        served = truth[record["requestID"]]
        assert_aws_shaped(record)
        if "Stream" in seen[record["requestID"]] and served != "eu-central-1":
            streamed_rerouted += 1
            assert record["additionalEventData"] == {"inferenceRegion": served}
    assert streamed_rerouted
