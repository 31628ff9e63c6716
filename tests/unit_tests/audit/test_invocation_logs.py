"""Invocation-log reader: record parsing, JSON Lines / S3 files, CloudWatch FilterLogEvents."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from langchain_cris.audit.cloudtrail import AuditInputError
from langchain_cris.audit.invocation_logs import (
    InvocationLogEntry,
    filter_invocation_logs,
    iter_invocation_log_files,
    parse_invocation_log,
)
from tests.unit_tests.audit.factories import ACCOUNT, ct_event, inv_record, write_lines

T0 = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


class Errors(list[tuple[str, Exception]]):
    def __call__(self, where: str, exc: Exception) -> None:
        self.append((where, exc))


def test_parse_full_record() -> None:
    entry = parse_invocation_log(
        inv_record("r1", served="eu-west-3", metadata={"cris_policy": "eu", "lc_run_id": "run-1"})
    )
    assert entry == InvocationLogEntry(
        request_id="r1",
        timestamp=datetime(2026, 11, 26, 12, 0, 1, tzinfo=UTC),
        source_region="eu-central-1",
        served_region="eu-west-3",
        model_id="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        operation="Converse",
        request_metadata={"cris_policy": "eu", "lc_run_id": "run-1"},
        input_tokens=12,
        output_tokens=34,
        account_id=ACCOUNT,
    )


def test_no_inference_region_means_source() -> None:
    entry = parse_invocation_log(inv_record(served=None, source="eu-west-1"))
    assert entry is not None and entry.served_region == "eu-west-1"


def test_metadata_is_read_only_and_stringified() -> None:
    record = inv_record(metadata={"n": 3})  # type: ignore[dict-item]
    entry = parse_invocation_log(record)
    assert entry is not None and entry.request_metadata == {"n": "3"}
    with pytest.raises(TypeError):
        entry.request_metadata["x"] = "y"  # type: ignore[index]


def test_missing_token_counts_are_none() -> None:
    record = inv_record(input_tokens=None)
    del record["output"]
    entry = parse_invocation_log(record)
    assert entry is not None and (entry.input_tokens, entry.output_tokens) == (None, None)


def test_other_schemas_are_none() -> None:
    assert parse_invocation_log(ct_event()) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"requestId": None}, "requestId is missing"),
        ({"region": None}, "region is missing"),
        ({"timestamp": "soon"}, "not ISO 8601"),
        ({"input": {"inputTokenCount": -1}}, "non-negative integer"),
        ({"requestMetadata": ["a"]}, "requestMetadata must be an object"),
    ],
)
def test_malformed_records_raise(change: dict[str, object], message: str) -> None:
    record = inv_record()
    record.update(change)
    with pytest.raises(AuditInputError, match=message):
        parse_invocation_log(record)


def test_json_lines_gzip_and_bad_lines(tmp_path: Path) -> None:
    good = write_lines(tmp_path / "a.jsonl.gz", [inv_record("a1"), inv_record("a2")], gz=True)
    mixed = tmp_path / "b.jsonl"
    mixed.write_text(
        json.dumps(inv_record("b1"))
        + "\n{broken line\n"
        + json.dumps({**inv_record("b2"), "requestId": None})
        + "\n"
        + json.dumps(inv_record("b3"))
        + "\n"
    )
    errors = Errors()
    entries = list(iter_invocation_log_files([good, mixed], on_error=errors))
    assert [e.request_id for e in entries] == ["a1", "a2", "b1", "b3"]
    assert len(errors) == 2


def test_pretty_printed_concatenated_records(tmp_path: Path) -> None:
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(inv_record("p1"), indent=2) + json.dumps(inv_record("p2"), indent=2))
    assert [e.request_id for e in iter_invocation_log_files([path])] == ["p1", "p2"]


def test_saved_filter_log_events_output(tmp_path: Path) -> None:
    path = tmp_path / "saved.json"
    path.write_text(
        json.dumps({"events": [{"eventId": "1", "message": json.dumps(inv_record("s1"))}]})
    )
    assert [e.request_id for e in iter_invocation_log_files([path])] == ["s1"]


def test_truncated_gzip_keeps_complete_lines(tmp_path: Path) -> None:
    data = gzip.compress(
        "".join(json.dumps(inv_record(f"t{i}")) + "\n" for i in range(300)).encode()
    )
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    errors = Errors()
    entries = list(iter_invocation_log_files([path], on_error=errors))
    assert 50 < len(entries) < 300
    assert [e.request_id for e in entries] == [f"t{i}" for i in range(len(entries))]
    assert len(errors) == 1 and "truncated gzip" in str(errors[0][1])


def _log_event(record: dict[str, object], event_id: str) -> dict[str, object]:
    return {
        "logStreamName": "aws/bedrock/modelinvocations",
        "timestamp": 1795694401000,
        "message": json.dumps(record),
        "ingestionTime": 1795694402000,
        "eventId": event_id,
    }


def _params(token: str | None = None, pattern: str | None = None) -> dict[str, object]:
    params: dict[str, object] = {
        "logGroupName": "/aws/bedrock/invocations",
        "startTime": int(T0.timestamp() * 1000),
        "endTime": int(T1.timestamp() * 1000),
    }
    if pattern:
        params["filterPattern"] = pattern
    if token:
        params["nextToken"] = token
    return params


def test_filter_log_events_paginates() -> None:
    client = boto3.client("logs", region_name="eu-central-1")
    pattern = '{ $.requestMetadata.cris_policy = "eu" }'
    with Stubber(client) as stub:
        stub.add_response(
            "filter_log_events",
            {"events": [_log_event(inv_record("c1"), "1")], "nextToken": "n1"},
            _params(pattern=pattern),
        )
        stub.add_response(
            "filter_log_events",
            {"events": [_log_event(inv_record("c2", served=None), "2")]},
            _params("n1", pattern),
        )
        entries = list(
            filter_invocation_logs(
                client,
                log_group="/aws/bedrock/invocations",
                start_time=T0,
                end_time=T1,
                filter_pattern=pattern,
            )
        )
        stub.assert_no_pending_responses()
    assert [(e.request_id, e.served_region) for e in entries] == [
        ("c1", "eu-west-1"),
        ("c2", "eu-central-1"),
    ]


def test_filter_log_events_reports_bad_messages() -> None:
    client = boto3.client("logs", region_name="eu-central-1")
    bad = _log_event(inv_record("x"), "9")
    bad["message"] = "START RequestId: not json"
    errors = Errors()
    with Stubber(client) as stub:
        stub.add_response(
            "filter_log_events", {"events": [bad, _log_event(inv_record("ok"), "10")]}, _params()
        )
        entries = list(
            filter_invocation_logs(
                client,
                log_group="/aws/bedrock/invocations",
                start_time=T0,
                end_time=T1,
                on_error=errors,
            )
        )
    assert [e.request_id for e in entries] == ["ok"]
    assert len(errors) == 1 and "log event 9" in errors[0][0]
