"""Served-Region reconciliation: matching, live polling with backoff, batch mode and the CLI."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from langchain_cris.audit.cloudtrail import CloudTrailCall, LookupHorizonError
from langchain_cris.audit.invocation_logs import InvocationLogEntry
from langchain_cris.audit.reconciler import (
    AwsClients,
    CloudTrailLookup,
    EvidenceIndex,
    Finding,
    InvocationLogLookup,
    PendingCall,
    ServedRegionReconciler,
    find_in_sources,
    reconcile_audit_log,
)
from langchain_cris.audit.records import (
    PENDING,
    ViolationEvent,
    call_record,
    format_ts,
    reconciliation_record,
    summarize_records,
)
from langchain_cris.audit.sink import AuditSink, read_audit_log
from langchain_cris.cli import main as cli_main
from tests.unit_tests._virtual_timer import VirtualTimer

EU = ["eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"]
NOW = datetime.now(UTC)


def _call(
    request_id: str | None, run_id: str | None = None, region: str = "eu-central-1"
) -> PendingCall:
    return PendingCall(request_id, run_id, region, NOW, frozenset(EU), "eu")


def _ct(
    request_id: str, served: str, *, source: str = "eu-central-1", error: str | None = None
) -> CloudTrailCall:
    return CloudTrailCall(
        request_id=request_id,
        event_id=f"ev-{request_id}",
        event_name="Converse",
        event_time=NOW,
        source_region=source,
        served_region=served,
        rerouted=served != source,
        model_id="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        account_id="123456789012",
        user_arn=None,
        error_code=error,
    )


def _log_entry(request_id: str, served: str, run_id: str | None = None) -> InvocationLogEntry:
    return InvocationLogEntry(
        request_id=request_id,
        timestamp=NOW,
        source_region="eu-central-1",
        served_region=served,
        model_id=None,
        operation="Converse",
        request_metadata={"lc_run_id": run_id} if run_id else {},
        input_tokens=1,
        output_tokens=1,
        account_id=None,
    )


# -- records ---------------------------------------------------------------------------------
def test_latest_reconciliation_wins_and_flags_violations() -> None:
    call = call_record(run_id="r1", request_id="q1", served_region=PENDING, allowed_regions=EU)
    first = reconciliation_record(
        request_id="q1", source_region="eu-central-1", served_region="eu-west-3",
        evidence="invocation_log", allowed_regions=EU,
    )  # fmt: skip
    second = reconciliation_record(
        request_id="q1", source_region="eu-central-1", served_region="us-east-1",
        evidence="cloudtrail", allowed_regions=EU,
    )  # fmt: skip
    (state,) = summarize_records([call, first, second])
    assert state.served_region == "us-east-1" and state.reconciliations == 2
    assert state.violation and not state.pending
    assert second["compliant"] is False and first["compliant"] is True


def test_reconciliation_found_by_run_id_joins_its_call() -> None:
    call = call_record(run_id="r1", request_id=None, served_region=PENDING)
    rec = reconciliation_record(
        request_id="q-from-log", run_id="r1", source_region="eu-central-1",
        served_region="eu-west-1", evidence="invocation_log",
    )  # fmt: skip
    states = summarize_records([call, rec])
    assert len(states) == 1 and states[0].served_region == "eu-west-1"


def test_call_record_rejects_unknown_fields() -> None:
    with pytest.raises(TypeError, match=r"unknown call-record field.*'served'"):
        call_record(served="eu-west-1")


def test_other_schemas_are_skipped() -> None:
    assert summarize_records([{"record": "call", "schema": 2, "request_id": "x"}]) == []


# -- matching --------------------------------------------------------------------------------
def test_index_matches_by_request_id_then_run_id_and_prefers_cloudtrail() -> None:
    index = EvidenceIndex()
    index.add_invocation_logs([_log_entry("q1", "eu-west-1"), _log_entry("q2", "eu-north-1", "r2")])
    index.add_cloudtrail(
        [_ct("q1", "eu-west-3"), _ct("q9", "eu-west-3", error="ThrottlingException")]
    )
    assert index.match(_call("q1")) == Finding(
        "q1", "eu-west-3", "cloudtrail:inferenceRegion", "ev-q1", strength="confirmed"
    )
    assert index.match(_call(None, "r2")) is not None
    assert index.match(_call("unknown", "r2")).served_region == "eu-north-1"  # type: ignore[union-attr]
    assert index.match(_call("q9")) is None  # a failed call was served nowhere


class CountingSource:
    name = "cloudtrail"

    def __init__(
        self,
        served: dict[str, str],
        *,
        visible_after: int = 0,
        fail_first: int = 0,
        timer: VirtualTimer | None = None,
    ) -> None:
        self.served = served
        self.visible_after = visible_after
        self.fail_first = fail_first
        self.timer = timer
        self.lookups: list[tuple[str, list[str | None]]] = []
        #: When each lookup ran, on ``timer``'s clock.
        self.times: list[float] = []

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
        self.lookups.append((region, [c.request_id for c in calls]))
        if self.timer is not None:
            self.times.append(self.timer.now())
        if len(self.lookups) <= self.fail_first:
            raise RuntimeError("ThrottlingException: Rate exceeded")
        index = EvidenceIndex()
        if len(self.lookups) > self.visible_after:
            index.add_cloudtrail(
                [_ct(c.request_id, self.served[c.request_id], source=region)
                 for c in calls if c.request_id in self.served]
            )  # fmt: skip
        return index


def test_one_lookup_per_source_region_per_round() -> None:
    source = CountingSource({"a": "eu-west-1", "b": "eu-west-3", "c": "us-east-1"})
    calls = [_call("a"), _call("b"), _call("c", region="us-east-1")]
    found = find_in_sources([source], calls)
    assert {c.request_id: f.served_region for c, f in found.items()} == {
        "a": "eu-west-1", "b": "eu-west-3", "c": "us-east-1",
    }  # fmt: skip
    assert sorted(r for r, _ in source.lookups) == ["eu-central-1", "us-east-1"]


def test_failing_source_falls_through_to_the_next() -> None:
    broken = CountingSource({}, fail_first=99)
    logs = CountingSource({"a": "eu-west-1"})
    errors: list[str] = []
    found = find_in_sources([broken, logs], [_call("a")], errors)
    assert [f.served_region for f in found.values()] == ["eu-west-1"]
    assert "Rate exceeded" in errors[0]


# -- live (background) -----------------------------------------------------------------------
def test_background_polls_with_backoff_until_delivered() -> None:
    timer = VirtualTimer()  # the schedule on a virtual clock: exact, however loaded the box
    source = CountingSource({"a": "eu-west-3"}, visible_after=4, fail_first=1, timer=timer)
    results: list[tuple[PendingCall, Finding]] = []
    rec = ServedRegionReconciler(
        [source], on_result=lambda c, f: results.append((c, f)),
        first_poll=5, backoff=2.0, jitter=0.0, max_interval=30, deadline=900, timer=timer,
    )  # fmt: skip
    rec.submit(_call("a"))
    assert rec.pending == 1
    assert rec.wait(timeout=60)  # a bound: virtual time makes the whole schedule instant
    assert [f.served_region for _, f in results] == ["eu-west-3"]
    assert len(source.lookups) == 5  # a failed look, three empty ones, then the event
    # First look after first_poll, then exponential backoff capped at max_interval.
    assert source.times == [5, 15, 35, 65, 95]
    gaps = [b - a for a, b in zip([0.0, *source.times], source.times, strict=False)]
    assert gaps == [5, 10, 20, 30, 30]
    assert rec.errors and "Rate exceeded" in rec.errors[0]
    rec.close()


def test_background_backoff_jitter_only_lengthens_each_interval() -> None:
    timer = VirtualTimer()
    source = CountingSource({"a": "eu-west-3"}, visible_after=3, timer=timer)
    rec = ServedRegionReconciler(
        [source], on_result=lambda c, f: None,
        first_poll=4, backoff=2.0, jitter=0.25, max_interval=60, deadline=900, timer=timer,
    )  # fmt: skip
    rec.submit(_call("a"))
    assert rec.wait(timeout=60)
    gaps = [b - a for a, b in zip([0.0, *source.times], source.times, strict=False)]
    assert gaps[0] == 4  # the first look is never jittered
    for gap, base in zip(gaps[1:], [8, 16, 32], strict=True):
        assert base <= gap <= base * 1.25
    rec.close()


def test_background_gives_up_at_the_deadline() -> None:
    timer = VirtualTimer()
    source = CountingSource({}, timer=timer)
    given_up: list[PendingCall] = []
    rec = ServedRegionReconciler(
        [source], on_result=lambda c, f: None, on_give_up=given_up.append,
        first_poll=10, max_interval=20, jitter=0.0, deadline=75, timer=timer,
    )  # fmt: skip
    rec.submit(_call("never"))
    assert rec.wait(timeout=60)
    assert [c.request_id for c in given_up] == ["never"] == [c.request_id for c in rec.given_up]
    assert source.times == [10, 30, 50, 70, 75]  # the last look is at the deadline itself
    rec.close()


def test_submit_never_blocks_on_a_slow_source() -> None:
    """While the reconciler thread is stuck inside a lookup, submit() still returns.

    No timing threshold: the lookup blocks until released, so a submit() that waited on it
    would never return and the submitting thread would still be alive at the (generous) join.
    """
    entered, gate = threading.Event(), threading.Event()

    class Slow:
        name = "cloudtrail"

        def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
            entered.set()
            gate.wait()
            return EvidenceIndex()

    rec = ServedRegionReconciler([Slow()], on_result=lambda c, f: None, first_poll=0, deadline=1)
    rec.submit(_call("a"))
    assert entered.wait(30)  # the thread is now inside the slow lookup
    submitter = threading.Thread(target=lambda: [rec.submit(_call(f"b{i}")) for i in range(100)])
    submitter.start()
    submitter.join(30)
    try:
        assert not submitter.is_alive(), "submit() blocked behind a lookup in progress"
        assert rec.pending == 101
        assert not rec.wait(timeout=0.01)
    finally:
        gate.set()
        rec.close()


def test_reconciler_validates_its_settings() -> None:
    with pytest.raises(ValueError, match="at least one source"):
        ServedRegionReconciler([], on_result=lambda c, f: None)
    with pytest.raises(ValueError, match="backoff >= 1"):
        ServedRegionReconciler([CountingSource({})], on_result=lambda c, f: None, backoff=0.5)
    rec = ServedRegionReconciler([CountingSource({})], on_result=lambda c, f: None)
    with pytest.raises(ValueError, match="request id or a run id"):
        rec.submit(_call(None))


# -- AWS lookups (fake clients: the readers' real pagination code runs) -----------------------
class FakeCloudTrail:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.pages = [events[:1], events[1:]]
        self.calls: list[dict[str, Any]] = []

    def lookup_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        page = 0 if "NextToken" not in kwargs else 1
        out: dict[str, Any] = {"Events": [
            {"EventId": e["eventID"], "EventName": e["eventName"], "CloudTrailEvent": json.dumps(e)}
            for e in self.pages[page]
        ]}  # fmt: skip
        if page == 0:
            out["NextToken"] = "t1"
        return out


def _ct_event(request_id: str, served: str | None, source: str = "eu-central-1") -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventSource": "bedrock.amazonaws.com",
        "eventName": "Converse",
        "awsRegion": source,
        "eventTime": format_ts(NOW),
        "requestID": request_id,
        "eventID": f"ev-{request_id}",
        "requestParameters": {"modelId": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"},
        "recipientAccountId": "123456789012",
    }
    if served:
        event["additionalEventData"] = {"inferenceRegion": served}
    return event


def test_cloudtrail_lookup_pages_in_the_source_region() -> None:
    fake = FakeCloudTrail([_ct_event("other", "eu-west-1"), _ct_event("a", None)])
    regions: list[str] = []
    clients = AwsClients(cloudtrail_client_factory=lambda r: regions.append(r) or fake)
    index = CloudTrailLookup(clients).lookup("eu-central-1", [_call("a")])
    # inferenceRegion absent = served in the source Region, as AWS documents for Converse.
    assert index.match(_call("a")) == Finding(
        "a", "eu-central-1", "cloudtrail:absent-field=source", "ev-a", strength="documented"
    )
    assert regions == ["eu-central-1"] and len(fake.calls) == 2
    assert fake.calls[0]["StartTime"] <= NOW <= fake.calls[0]["EndTime"]


def test_cloudtrail_lookup_skips_calls_past_the_90_day_horizon() -> None:
    """LookupEvents cannot see past 90 days: such calls are not asked for, and say why."""
    fake = FakeCloudTrail([_ct_event("a", "eu-west-1")])
    clients = AwsClients(cloudtrail_client_factory=lambda r: fake)
    later = NOW + timedelta(days=91)
    old = _call("a")
    with pytest.raises(LookupHorizonError, match="90-day horizon"):
        CloudTrailLookup(clients, clock=lambda: later).lookup("eu-central-1", [old])
    assert fake.calls == []
    # Mixed: the recent call is looked up, the old one is left pending (logged).
    recent = PendingCall("b", None, "eu-central-1", later, frozenset(EU), "eu")
    fake = FakeCloudTrail([_ct_event("b", "eu-west-1")])
    clients = AwsClients(cloudtrail_client_factory=lambda r: fake)
    index = CloudTrailLookup(clients, clock=lambda: later).lookup("eu-central-1", [old, recent])
    assert index.match(recent) is not None and index.match(old) is None
    assert fake.calls[0]["StartTime"] > NOW + timedelta(days=90)


def test_horizon_reason_reaches_the_batch_report(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with AuditSink(log) as sink:
        sink.append(
            call_record(
                ts=format_ts(NOW),
                run_id="r",
                request_id="a",
                source_region="eu-central-1",
                served_region=PENDING,
                outcome="ok",
            )
        )
    clients = AwsClients(cloudtrail_client_factory=lambda r: FakeCloudTrail([]))
    report = reconcile_audit_log(
        log, sources=[CloudTrailLookup(clients, clock=lambda: NOW + timedelta(days=120))]
    )
    assert report.still_pending == ["a"]
    assert any("90-day horizon" in p for p in report.problems)


def test_invocation_log_lookup_uses_the_log_group() -> None:
    class FakeLogs:
        def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
            self.kwargs = kwargs
            record = {
                "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
                "timestamp": format_ts(NOW), "region": "eu-central-1", "requestId": "z",
                "inferenceRegion": "eu-north-1", "requestMetadata": {"lc_run_id": "run-z"},
            }  # fmt: skip
            return {"events": [{"eventId": "1", "message": json.dumps(record)}]}

    logs = FakeLogs()
    lookup = InvocationLogLookup(AwsClients(logs_client_factory=lambda r: logs), "/bedrock/inv")
    index = lookup.lookup("eu-central-1", [_call(None, "run-z")])
    assert index.match(_call(None, "run-z")).served_region == "eu-north-1"  # type: ignore[union-attr]
    assert logs.kwargs["logGroupName"] == "/bedrock/inv"


def test_aws_clients_honour_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    client = AwsClients().client("cloudtrail", "eu-west-3")
    assert client.meta.endpoint_url == "http://127.0.0.1:4599"
    assert client.meta.region_name == "eu-west-3"
    explicit = AwsClients(endpoint_url="http://127.0.0.1:1234").client("logs", "eu-west-1")
    assert explicit.meta.endpoint_url == "http://127.0.0.1:1234"


# -- batch -----------------------------------------------------------------------------------
def _write_log(path: Path) -> None:
    with AuditSink(path, fsync=False) as sink:
        for rid, run in (("a", "r-a"), ("b", "r-b"), ("c", "r-c"), ("d", "r-d")):
            sink.append(call_record(
                ts=format_ts(NOW - timedelta(minutes=3)), run_id=run, request_id=rid,
                policy="eu", source_region="eu-central-1", allowed_regions=EU,
                served_region=PENDING,
            ))  # fmt: skip
        sink.append(call_record(run_id="r-e", request_id="e", served_region="eu-west-1"))


def test_batch_fills_pending_from_files(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    trail = tmp_path / "trail.json.gz"
    trail.write_bytes(gzip.compress(json.dumps(
        {"Records": [_ct_event("a", "eu-west-3"), _ct_event("b", "us-east-1")]}
    ).encode()))  # fmt: skip
    inv = tmp_path / "inv.jsonl"
    inv.write_text(json.dumps({
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": format_ts(NOW),
        "region": "eu-central-1", "requestId": "c", "inferenceRegion": "eu-north-1",
    }) + "\n")  # fmt: skip
    events: list[ViolationEvent] = []
    report = reconcile_audit_log(
        log, cloudtrail_files=[trail], invocation_log_files=[inv], on_violation=events.append
    )
    assert report.calls == 5 and report.pending_before == 4
    assert {r["request_id"]: r["served_region"] for r in report.reconciled} == {
        "a": "eu-west-3", "b": "us-east-1", "c": "eu-north-1",
    }  # fmt: skip
    assert report.still_pending == ["d"]
    assert [s.request_id for s in report.violations] == ["b"]
    assert report.exit_code == 1
    assert [e.request_id for e in events] == ["b"]
    # Appended, not rewritten; a second run finds nothing new to do.
    records = read_audit_log(log).records
    assert [r["record"] for r in records].count("reconciliation") == 3
    again = reconcile_audit_log(log, cloudtrail_files=[trail])
    assert again.reconciled == [] and again.pending_before == 1


def test_batch_live_sources_poll_until_deadline(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    source = CountingSource(
        {"a": "eu-west-1", "b": "eu-west-1", "c": "eu-west-1", "d": "eu-west-1"}, visible_after=1
    )
    report = reconcile_audit_log(log, sources=[source], deadline=2, poll_interval=0.01)
    assert len(report.reconciled) == 4 and report.exit_code == 0
    assert len(source.lookups) == 2  # one per round, all four calls batched


def test_cli_reconcile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": [_ct_event("a", "eu-west-3")]}))
    assert cli_main(["reconcile", str(log), "--cloudtrail", str(trail)]) == 0
    out = capsys.readouterr().out
    assert "1 reconciled now, 3 still pending" in out
    assert "a: eu-central-1 -> eu-west-3 (cloudtrail:inferenceRegion) ok" in out
    trail.write_text(json.dumps({"Records": [_ct_event("b", "us-east-1")]}))
    assert cli_main(["reconcile", str(log), "--cloudtrail", str(trail)]) == 1
    assert "1 residency violation(s)" in capsys.readouterr().out


def test_cli_reconcile_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["reconcile", str(tmp_path / "missing.jsonl"), "--live"]) == 2
    assert "no such file" in capsys.readouterr().err
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    assert cli_main(["reconcile", str(log)]) == 2
    assert "--cloudtrail FILE" in capsys.readouterr().err
