"""Reconciliation (batch, CLI, live) against the AWS-shaped scenario of tests/fixtures/aws.

The scenario's streamed call D ran in us-east-1, and only its stream-completion event says so;
every path that fills in a served Region must record that, with its evidence and strength.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from langchain_cris.audit.reconciler import (
    AwsClients,
    CloudTrailLookup,
    Finding,
    PendingCall,
    ServedRegionReconciler,
    reconcile_audit_log,
)
from langchain_cris.audit.records import (
    PENDING,
    ViolationEvent,
    call_record,
    summarize_records,
)
from langchain_cris.audit.sink import AuditSink, read_audit_log
from langchain_cris.cli import main as cli_main
from tests.unit_tests._virtual_timer import VirtualTimer
from tests.unit_tests.audit.corpus import (
    EU,
    SCENARIO,
    SCENARIO_LOGS,
    SCENARIO_TIME,
    TRAIL_FILES,
    A,
    B,
    C,
    D,
    lookup_page,
    scenario_records,
)

CALL_TIME = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
LATER = CALL_TIME + timedelta(hours=2)  # every deadline has passed


def _write_log(path: Path) -> None:
    with AuditSink(path, fsync=False) as sink:
        for request_id in SCENARIO:
            sink.append(
                call_record(
                    ts=SCENARIO_TIME,
                    run_id=f"run-{request_id[-5:]}",
                    request_id=request_id,
                    policy="eu",
                    source_region="eu-central-1",
                    allowed_regions=EU,
                    served_region=PENDING,
                )
            )


def _served(log: Path) -> dict[str, tuple[str | None, str | None, str | None]]:
    out = {}
    for state in summarize_records(read_audit_log(log).records):
        rec = state.reconciliation or {}
        out[str(state.request_id)] = (state.served_region, rec.get("evidence"), rec.get("strength"))
    return out


# -- batch ------------------------------------------------------------------------------------
def test_batch_from_trail_files_records_the_streamed_calls_true_region(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    events: list[ViolationEvent] = []
    report = reconcile_audit_log(
        log, cloudtrail_files=TRAIL_FILES, on_violation=events.append, clock=lambda: LATER
    )
    assert report.pending_before == 4 and len(report.reconciled) == 4
    served = _served(log)
    for request_id, (region, evidence, _, _) in SCENARIO.items():
        assert served[request_id][:2] == (region, evidence)
    assert served[D][2] == "confirmed" and served[B][2] == "documented"
    assert [e.request_id for e in events] == [D]
    assert events[0].evidence == "cloudtrail:completion:inferenceRegion"
    assert [s.request_id for s in report.violations] == [D]
    assert report.exit_code == 1


def test_batch_from_invocation_logs_keeps_assumptions_pending_until_the_deadline(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    soon = CALL_TIME + timedelta(minutes=2)  # CloudTrail may still deliver
    report = reconcile_audit_log(log, invocation_log_files=[SCENARIO_LOGS], clock=lambda: soon)
    assert [r["request_id"] for r in report.reconciled] == [A]
    assert report.reconciled[0]["evidence"] == "invocation_log:inferenceRegion"
    assert sorted(report.still_pending) == sorted([B, C, D])

    report = reconcile_audit_log(log, invocation_log_files=[SCENARIO_LOGS], clock=lambda: LATER)
    assert sorted(r["request_id"] for r in report.reconciled) == sorted([B, C, D])
    for record in report.reconciled:
        assert (record["served_region"], record["evidence"], record["strength"]) == (
            "eu-central-1",
            "invocation_log:no-field",
            "assumed",
        )
    assert report.still_pending == []
    assert report.exit_code == 0  # nothing AWS gave shows D outside the EU


def test_cloudtrail_confirms_what_the_log_only_assumed(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    reconcile_audit_log(log, invocation_log_files=[SCENARIO_LOGS], clock=lambda: LATER)
    assert _served(log)[D] == ("eu-central-1", "invocation_log:no-field", "assumed")
    report = reconcile_audit_log(log, cloudtrail_files=TRAIL_FILES, clock=lambda: LATER)
    # Assumed calls are looked up again; stronger evidence is appended and wins.
    assert D in {r["request_id"] for r in report.reconciled}
    assert _served(log)[D] == ("us-east-1", "cloudtrail:completion:inferenceRegion", "confirmed")
    assert report.exit_code == 1


def test_batch_with_both_prefers_cloudtrail(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    reconcile_audit_log(
        log, cloudtrail_files=TRAIL_FILES, invocation_log_files=[SCENARIO_LOGS], clock=lambda: LATER
    )
    served = _served(log)
    assert served[D][:2] == ("us-east-1", "cloudtrail:completion:inferenceRegion")
    assert served[A][1] == "cloudtrail:inferenceRegion"


def test_cli_reconcile_shows_evidence_and_the_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    _write_log(log)
    code = cli_main(["reconcile", str(log), "--cloudtrail", *map(str, TRAIL_FILES)])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        f"{D}: eu-central-1 -> us-east-1 (cloudtrail:completion:inferenceRegion) VIOLATION" in out
    )
    assert f"{B}: eu-central-1 -> eu-central-1 (cloudtrail:absent-field=source) ok" in out
    assert "1 residency violation(s)" in out


# -- live --------------------------------------------------------------------------------------
def _pending(request_id: str) -> PendingCall:
    return PendingCall(request_id, None, "eu-central-1", CALL_TIME, frozenset(EU), "eu")


class GrowingTrail:
    """LookupEvents whose answer grows: first the API calls only, then the completions too."""

    def __init__(self, rounds_without_completions: int) -> None:
        self.rounds = 0
        self.without = rounds_without_completions

    def lookup_events(self, **kwargs: Any) -> dict[str, Any]:
        if "NextToken" not in kwargs:
            self.rounds += 1
        records = [
            r
            for r in scenario_records()
            if r.get("eventCategory") == "Management" or r["eventType"] == "AwsServiceEvent"
        ]
        if self.rounds <= self.without:
            records = [r for r in records if r["eventType"] == "AwsApiCall"]
        return lookup_page(records)


def _live(
    client: Any, deadline: float
) -> tuple[list[tuple[PendingCall, Finding]], list[PendingCall]]:
    results: list[tuple[PendingCall, Finding]] = []
    given_up: list[PendingCall] = []
    lookup = CloudTrailLookup(  # "now" is the corpus's hour, whatever today's date is
        AwsClients(cloudtrail_client_factory=lambda region: client),
        limiter=None,
        clock=lambda: CALL_TIME + timedelta(minutes=30),
    )
    rec = ServedRegionReconciler(
        [lookup],
        on_result=lambda c, f: results.append((c, f)),
        on_give_up=given_up.append,
        first_poll=0.01,
        max_interval=0.02,
        jitter=0.0,
        deadline=deadline,
        timer=VirtualTimer(),  # the schedule and the deadline pass on a virtual clock
    )
    for request_id in SCENARIO:
        rec.submit(_pending(request_id))
    assert rec.wait(timeout=30)
    rec.close()
    return results, given_up


def test_live_waits_for_the_completion_event_instead_of_assuming() -> None:
    results, given_up = _live(GrowingTrail(rounds_without_completions=2), deadline=20)
    found = {c.request_id: f for c, f in results}
    assert set(found) == set(SCENARIO) and not given_up
    assert (found[D].served_region, found[D].evidence, found[D].strength) == (
        "us-east-1",
        "cloudtrail:completion:inferenceRegion",
        "confirmed",
    )
    assert found[C].served_region == "eu-west-3"
    assert found[B].strength == "documented"  # a non-stream call needs no completion


def test_live_records_an_assumption_when_no_completion_arrives_by_the_deadline() -> None:
    results, given_up = _live(GrowingTrail(rounds_without_completions=10**6), deadline=0.2)
    found = {c.request_id: f for c, f in results}
    assert not given_up
    assert (found[D].served_region, found[D].strength) == ("eu-central-1", "assumed")
    assert found[D].evidence == "cloudtrail:absent-field=source"


def test_record_for_carries_evidence_and_strength() -> None:
    finding = Finding(
        D, "us-east-1", "cloudtrail:completion:inferenceRegion", "evt", strength="confirmed"
    )
    record = _pending(D).record_for(finding)
    assert (record["evidence"], record["strength"], record["compliant"]) == (
        "cloudtrail:completion:inferenceRegion",
        "confirmed",
        False,
    )
    event = ViolationEvent.from_reconciliation(record)
    assert event.evidence == "cloudtrail:completion:inferenceRegion"
    assert event.strength == "confirmed"
