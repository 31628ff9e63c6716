"""CloudTrail reader: record parsing, streamed files (gzip, truncation, junk), LookupEvents."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from langchain_cris.audit.cloudtrail import (
    AuditInputError,
    CloudTrailCall,
    iter_cloudtrail_files,
    lookup_cloudtrail_calls,
    parse_cloudtrail_event,
    parse_time,
)
from tests.unit_tests.audit.factories import ACCOUNT, ct_event, write_lines, write_records

T0 = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


class Errors(list[tuple[str, Exception]]):
    def __call__(self, where: str, exc: Exception) -> None:
        self.append((where, exc))


# -- parse_cloudtrail_event ---------------------------------------------------------------
def test_rerouted_event_names_the_served_region() -> None:
    call = parse_cloudtrail_event(ct_event("r1", source="eu-central-1", served="eu-west-3"))
    assert call == CloudTrailCall(
        request_id="r1",
        event_id="evt-r1",
        event_name="Converse",
        event_time=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        source_region="eu-central-1",
        served_region="eu-west-3",
        rerouted=True,
        model_id="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        account_id=ACCOUNT,
        user_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/app/app",
        error_code=None,
    )


def test_absent_additional_event_data_means_served_in_source() -> None:
    call = parse_cloudtrail_event(ct_event("r2", source="eu-west-1", served=None))
    assert call is not None
    assert (call.served_region, call.rerouted) == ("eu-west-1", False)


def test_additional_event_data_without_inference_region_is_not_rerouted() -> None:
    event = ct_event("r3", served=None, additionalEventData={"other": "x"})
    call = parse_cloudtrail_event(event)
    assert call is not None and not call.rerouted and call.served_region == "eu-central-1"


@pytest.mark.parametrize(
    "name", ["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"]
)
def test_every_runtime_operation_is_read(name: str) -> None:
    call = parse_cloudtrail_event(ct_event(name=name))
    assert call is not None and call.event_name == name


@pytest.mark.parametrize(
    "event",
    [
        ct_event(event_source="s3.amazonaws.com", name="GetObject"),
        ct_event(name="ListInferenceProfiles"),
        ct_event(name="GetInferenceProfile"),
    ],
)
def test_non_runtime_events_are_none(event: dict[str, object]) -> None:
    assert parse_cloudtrail_event(event) is None


def test_error_code_and_null_request_parameters() -> None:
    call = parse_cloudtrail_event(
        ct_event(error_code="AccessDenied", served=None, requestParameters=None)
    )
    assert call is not None
    assert call.error_code == "AccessDenied" and call.model_id is None


def test_account_falls_back_to_user_identity() -> None:
    event = ct_event()
    del event["recipientAccountId"]
    call = parse_cloudtrail_event(event)
    assert call is not None and call.account_id == ACCOUNT


def test_unknown_fields_are_ignored() -> None:
    call = parse_cloudtrail_event(ct_event(brandNewField={"x": 1}, eventVersion="9.99"))
    assert call is not None and call.request_id == "req-1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"requestID": None}, "requestID is missing"),
        ({"awsRegion": None}, "awsRegion is missing"),
        ({"eventTime": "yesterday"}, "not ISO 8601"),
        ({"awsRegion": 7}, "awsRegion must be a string"),
        ({"additionalEventData": "eu-west-1"}, "additionalEventData must be an object"),
    ],
)
def test_malformed_bedrock_events_raise(change: dict[str, object], message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        parse_cloudtrail_event(ct_event(**change))  # type: ignore[arg-type]


def test_parse_time_forms() -> None:
    expected = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_time("2026-11-26T12:00:00Z") == expected
    assert parse_time("2026-11-26T12:00:00+00:00") == expected
    assert parse_time(expected.timestamp()) == expected
    assert parse_time(int(expected.timestamp() * 1000)) == expected
    with pytest.raises(AuditInputError):
        parse_time(None)


# -- files --------------------------------------------------------------------------------
def test_reads_plain_and_gzip_s3_files(tmp_path: Path) -> None:
    a = write_records(tmp_path / "a.json", [ct_event("a1"), ct_event("a2", served=None)])
    b = write_records(tmp_path / "b.json.gz", [ct_event("b1", source="eu-west-3")], gz=True)
    errors = Errors()
    calls = list(iter_cloudtrail_files([a, str(b)], on_error=errors))
    assert [c.request_id for c in calls] == ["a1", "a2", "b1"]
    assert errors == []


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "no-suffix"
    path.write_bytes(gzip.compress(json.dumps({"Records": [ct_event("g1")]}).encode()))
    assert [c.request_id for c in iter_cloudtrail_files([path])] == ["g1"]


def test_skips_other_services_without_reporting(tmp_path: Path) -> None:
    records = [
        ct_event("x", event_source="ec2.amazonaws.com", name="RunInstances"),
        ct_event("keep"),
        ct_event("cp", name="ListInferenceProfiles"),
    ]
    errors = Errors()
    calls = list(
        iter_cloudtrail_files([write_records(tmp_path / "f.json", records)], on_error=errors)
    )
    assert [c.request_id for c in calls] == ["keep"]
    assert errors == []


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path: Path) -> None:
    records = [ct_event(f"t{i}", time=f"2026-11-26T12:00:{i % 60:02d}Z") for i in range(400)]
    data = gzip.compress(json.dumps({"Records": records}).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    errors = Errors()
    calls = list(iter_cloudtrail_files([path], on_error=errors))
    # Every id that was decoded is intact and in order; the record at the cut is reported.
    assert 100 < len(calls) < 400
    assert [c.request_id for c in calls] == [f"t{i}" for i in range(len(calls))]
    assert len(errors) == 1
    assert "truncated gzip" in str(errors[0][1])


def test_gzip_cut_in_trailer_reports_but_keeps_every_record(tmp_path: Path) -> None:
    data = gzip.compress(json.dumps({"Records": [ct_event("a"), ct_event("b")]}).encode())
    path = tmp_path / "trailer.json.gz"
    path.write_bytes(data[:-4])
    errors = Errors()
    assert [c.request_id for c in iter_cloudtrail_files([path], on_error=errors)] == ["a", "b"]
    assert [str(e) for _, e in errors] == ["truncated gzip: the file ends before its gzip trailer"]


def test_multi_member_gzip_is_read_to_the_end(tmp_path: Path) -> None:
    one = gzip.compress(json.dumps({"Records": [ct_event("m1")]}).encode())
    two = gzip.compress(json.dumps({"Records": [ct_event("m2")]}).encode())
    path = tmp_path / "multi.gz"
    path.write_bytes(one + two)
    assert [c.request_id for c in iter_cloudtrail_files([path])] == ["m1", "m2"]


def test_bad_record_is_reported_and_the_rest_kept(tmp_path: Path) -> None:
    bad = ct_event("bad")
    del bad["requestID"]
    path = write_records(tmp_path / "f.json", [ct_event("a"), bad, "junk", ct_event("b")])
    errors = Errors()
    calls = list(iter_cloudtrail_files([path], on_error=errors))
    assert [c.request_id for c in calls] == ["a", "b"]
    assert [w for w, _ in errors] == [f"{path}: record 1", f"{path}: record 2"]


def test_corrupt_json_inside_records_resyncs_at_next_event(tmp_path: Path) -> None:
    good = [json.dumps(ct_event(f"c{i}")) for i in range(3)]
    text = '{"Records": [' + good[0] + ", " + good[1][:-40] + "#garbage, " + good[2] + "]}"
    path = tmp_path / "corrupt.json"
    path.write_text(text)
    errors = Errors()
    calls = list(iter_cloudtrail_files([path], on_error=errors))
    assert [c.request_id for c in calls] == ["c0", "c2"]
    assert len(errors) == 1 and "not valid JSON" in str(errors[0][1])


def test_missing_and_non_json_files_are_reported(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello\nworld\n")
    good = write_records(tmp_path / "good.json", [ct_event("ok")])
    errors = Errors()
    calls = list(
        iter_cloudtrail_files([tmp_path / "missing.json", text_file, good], on_error=errors)
    )
    assert [c.request_id for c in calls] == ["ok"]
    assert len(errors) == 3  # missing file, then one report per non-JSON line
    assert "cannot open" in str(errors[0][1])


def test_lookup_events_dump_and_eventbridge_envelopes(tmp_path: Path) -> None:
    dump = tmp_path / "lookup.json"
    dump.write_text(
        json.dumps(
            {
                "Events": [
                    {
                        "EventId": "e",
                        "EventName": "Converse",
                        "CloudTrailEvent": json.dumps(ct_event("l1")),
                    }
                ]
            }
        )
    )
    bridge = write_lines(
        tmp_path / "bridge.jsonl",
        [{"detail-type": "AWS API Call via CloudTrail", "detail": ct_event("eb1")}],
    )
    assert [c.request_id for c in iter_cloudtrail_files([dump, bridge])] == ["l1", "eb1"]


def test_small_chunks_and_large_files_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force tiny read chunks so records straddle chunk boundaries everywhere.
    import langchain_cris.audit.cloudtrail as ct

    monkeypatch.setattr(ct, "_CHUNK_BYTES", 97)
    records = [ct_event(f"s{i}", served=None if i % 3 else "eu-west-3") for i in range(200)]
    path = write_records(tmp_path / "s.json.gz", records, gz=True)
    errors = Errors()
    calls = list(iter_cloudtrail_files([path], on_error=errors))
    assert [c.request_id for c in calls] == [f"s{i}" for i in range(200)]
    assert sum(c.rerouted for c in calls) == 67
    assert errors == []


def test_default_on_error_logs_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"Records": [')
    assert list(iter_cloudtrail_files([path])) == []
    assert "skipped" in caplog.text


# -- LookupEvents -------------------------------------------------------------------------
def _lookup_item(event: dict[str, object]) -> dict[str, object]:
    return {
        "EventId": str(event["eventID"]),
        "EventName": str(event["eventName"]),
        "ReadOnly": "true",
        "EventTime": datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        "EventSource": str(event["eventSource"]),
        "Username": "app",
        "Resources": [],
        "CloudTrailEvent": json.dumps(event),
    }


def _expected_params(token: str | None = None) -> dict[str, object]:
    params: dict[str, object] = {
        "LookupAttributes": [
            {"AttributeKey": "EventSource", "AttributeValue": "bedrock.amazonaws.com"}
        ],
        "StartTime": T0,
        "EndTime": T1,
    }
    if token:
        params["NextToken"] = token
    return params


def test_lookup_follows_next_token_and_filters() -> None:
    client = boto3.client("cloudtrail", region_name="eu-central-1")
    page1 = [
        _lookup_item(ct_event("p1")),
        _lookup_item(ct_event("cp", name="ListInferenceProfiles")),
    ]
    page2 = [_lookup_item(ct_event("p2", served=None))]
    with Stubber(client) as stub:
        stub.add_response(
            "lookup_events", {"Events": page1, "NextToken": "tok"}, _expected_params()
        )
        stub.add_response("lookup_events", {"Events": page2}, _expected_params("tok"))
        calls = list(lookup_cloudtrail_calls(client, start_time=T0, end_time=T1))
        stub.assert_no_pending_responses()
    assert [(c.request_id, c.served_region) for c in calls] == [
        ("p1", "eu-west-1"),
        ("p2", "eu-central-1"),
    ]


def test_lookup_stops_once_every_request_id_is_found() -> None:
    client = boto3.client("cloudtrail", region_name="eu-central-1")
    page1 = [_lookup_item(ct_event("other")), _lookup_item(ct_event("want"))]
    with Stubber(client) as stub:
        stub.add_response(
            "lookup_events", {"Events": page1, "NextToken": "more"}, _expected_params()
        )
        calls = list(
            lookup_cloudtrail_calls(client, start_time=T0, end_time=T1, request_ids={"want"})
        )
        stub.assert_no_pending_responses()  # the second page was never requested
    assert [c.request_id for c in calls] == ["want"]


def test_lookup_reports_unparseable_events() -> None:
    client = boto3.client("cloudtrail", region_name="eu-central-1")
    broken = _lookup_item(ct_event("x"))
    broken["CloudTrailEvent"] = "{not json"
    errors = Errors()
    with Stubber(client) as stub:
        stub.add_response(
            "lookup_events", {"Events": [broken, _lookup_item(ct_event("ok"))]}, _expected_params()
        )
        calls = list(lookup_cloudtrail_calls(client, start_time=T0, end_time=T1, on_error=errors))
    assert [c.request_id for c in calls] == ["ok"]
    assert len(errors) == 1 and "evt-x" in errors[0][0]


def test_lookup_with_empty_request_ids_makes_no_call() -> None:
    client = boto3.client("cloudtrail", region_name="eu-central-1")
    with Stubber(client):
        assert (
            list(lookup_cloudtrail_calls(client, start_time=T0, end_time=T1, request_ids=[])) == []
        )


def test_corrupt_gzip_keeps_records_before_the_damage(tmp_path: Path) -> None:
    import random

    rng = random.Random(1)
    # Incompressible-ish request ids make the deflate stream long enough to damage mid-way.
    records = [ct_event(f"z{i}-{rng.getrandbits(128):032x}") for i in range(3000)]
    data = bytearray(gzip.compress(json.dumps({"Records": records}).encode()))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeroed block: invalid deflate data
    path = tmp_path / "damaged.json.gz"
    path.write_bytes(bytes(data))
    errors = Errors()
    calls = list(iter_cloudtrail_files([path], on_error=errors))
    assert 100 < len(calls) < 3000
    assert [c.request_id for c in calls] == [r["requestID"] for r in records[: len(calls)]]
    assert len(errors) == 1 and "corrupt gzip data" in str(errors[0][1])
