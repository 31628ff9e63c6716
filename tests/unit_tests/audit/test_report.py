"""The audit report: violation rules, counts, cross-check, bad input, rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from langchain_cris.audit.cloudtrail import parse_cloudtrail_event
from langchain_cris.audit.invocation_logs import parse_invocation_log
from langchain_cris.audit.report import Auditor, audit_files, detect_input_kind
from langchain_cris.policy import ResidencyPolicy
from tests.unit_tests.audit.factories import ct_event, inv_record, write_lines, write_records

EU = ResidencyPolicy.preset("eu")
EUROPE = ResidencyPolicy.preset("europe")
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def _audit(policy: ResidencyPolicy, *events: dict[str, object], **kw: object) -> Auditor:
    auditor = Auditor(policy, **kw)  # type: ignore[arg-type]
    for event in events:
        call = parse_cloudtrail_event(event)
        assert call is not None
        auditor.add_cloudtrail(call)
    return auditor


def _call_log(request_id: str, served: str = "pending", **extra: object) -> dict[str, object]:
    return {
        "record": "call",
        "schema": 1,
        "ts": "2026-11-26T12:00:00.100Z",
        "run_id": f"run-{request_id}",
        "request_id": request_id,
        "served_region": served,
        "outcome": "ok",
        **extra,
    }


# -- rules --------------------------------------------------------------------------------
def test_compliant_eu_calls_pass() -> None:
    report = _audit(EU, ct_event("a", served="eu-west-3"), ct_event("b", served=None)).report()
    assert (report.calls, report.violations_total, report.exit_code) == (2, 0, 0)


def test_served_outside_policy_is_a_violation_naming_request_and_regions() -> None:
    report = _audit(EU, ct_event("bad", source="eu-central-1", served="us-east-1")).report()
    assert report.exit_code == 1
    (v,) = report.violations
    assert (v.request_id, v.source_region, v.served_region) == ("bad", "eu-central-1", "us-east-1")
    assert "served_outside" in v.kinds
    assert "served in us-east-1, outside policy 'eu'" in v.to_dict()["why"]


def test_global_profile_is_a_route_violation_under_eu_even_when_served_in_eu() -> None:
    report = _audit(EU, ct_event("g", model=f"global.{SONNET}", served="eu-west-1")).report()
    assert report.global_calls == 1
    assert report.violations[0].kinds == ("route_outside",)
    assert "any commercial Region" in report.violations[0].reasons[0]


def test_global_profile_is_fine_under_global_policy() -> None:
    glob = ResidencyPolicy.preset("global")
    report = _audit(glob, ct_event("g", model=f"global.{SONNET}", served="us-east-1")).report()
    assert (report.global_calls, report.violations_total) == (1, 0)


def test_london_source_breaks_eu_but_not_europe() -> None:
    event = ct_event("l", source="eu-west-2", served="eu-west-2")
    eu = _audit(EU, event).report()
    assert set(eu.violations[0].kinds) == {"served_outside", "source_outside", "route_outside"}
    assert _audit(EUROPE, event).report().violations_total == 0


def test_bypassing_cris_is_counted_and_only_a_violation_when_forbidden() -> None:
    event = ct_event("d", model=SONNET, served=None)
    allowed = _audit(EU, event).report()
    assert (allowed.bypassed_cris, allowed.violations_total) == (1, 0)
    strict = EU.model_copy(update={"allow_in_region": False})
    refused = _audit(strict, event).report()
    assert refused.violations[0].kinds == ("in_region",)


def test_foundation_model_arn_counts_as_bypass() -> None:
    arn = f"arn:aws:bedrock:eu-central-1::foundation-model/{SONNET}"
    assert _audit(EU, ct_event("d", model=arn, served=None)).report().bypassed_cris == 1


def test_failed_calls_are_counted_not_judged() -> None:
    report = _audit(
        EU, ct_event("f", model=f"global.{SONNET}", served=None, error_code="AccessDenied")
    ).report()
    assert (report.calls, report.failed_calls, report.violations_total) == (0, 1, 0)


def test_violation_list_is_bounded_but_every_violation_counted() -> None:
    events = [ct_event(f"v{i}", served="us-east-1") for i in range(30)]
    report = _audit(EU, *events, max_violations=5).report()
    assert (report.violations_total, len(report.violations)) == (30, 5)
    assert report.to_dict()["violations_truncated"] == 25


def test_groups_count_calls_and_tokens() -> None:
    auditor = Auditor(EU)
    for rid, served in (("a", "eu-west-1"), ("b", "eu-west-1"), ("c", "eu-west-3")):
        entry = parse_invocation_log(inv_record(rid, served=served, input_tokens=10))
        assert entry is not None
        auditor.add_invocation_log(entry)
    groups = {
        (g.served_region): (g.calls, g.input_tokens, g.output_tokens)
        for g in auditor.report().groups
    }
    assert groups == {"eu-west-1": (2, 20, 68), "eu-west-3": (1, 10, 34)}


def test_wrong_account_is_reported_and_skipped() -> None:
    report = _audit(
        EU, ct_event("mine"), ct_event("theirs", account="999999999999"), accounts={"123456789012"}
    ).report()
    assert report.calls == 1
    assert report.problems_by_kind == {"wrong_account": 1}
    assert "999999999999" in report.problem_samples[0]


def test_time_window_filters() -> None:
    report = _audit(
        EU,
        ct_event("early", time="2026-11-26T10:00:00Z"),
        ct_event("in", time="2026-11-26T12:00:00Z"),
        since=datetime(2026, 11, 26, 11, tzinfo=UTC),
    ).report()
    assert (report.calls, report.skipped_outside_window) == (1, 1)


# -- cross-check --------------------------------------------------------------------------
def test_cross_check_both_directions_and_disagreement() -> None:
    auditor = Auditor(EU)
    auditor.add_audit_log_record(_call_log("both"))
    auditor.add_audit_log_record(_call_log("ours-only"))
    auditor.add_audit_log_record(_call_log("differs", served="eu-west-3"))
    auditor.add_audit_log_record({"record": "call", "schema": 1, "request_id": None})  # refused
    for rid in ("both", "differs", "aws-only"):
        call = parse_cloudtrail_event(ct_event(rid, served="eu-west-1"))
        assert call is not None
        auditor.add_cloudtrail(call)
    report = auditor.report()
    assert (report.audit_log_calls, report.matched) == (3, 2)
    assert (report.aws_only_total, report.audit_log_only_total) == (1, 1)
    assert report.served_region_differs_total == 1
    kinds = {(d.kind, d.request_id) for d in report.discrepancies}
    assert kinds == {
        ("aws_only", "aws-only"),
        ("audit_log_only", "ours-only"),
        ("served_region_differs", "differs"),
    }
    assert report.exit_code == 0  # discrepancies alone do not fail unless strict


def test_latest_reconciliation_wins_and_strict_fails_on_discrepancy() -> None:
    auditor = Auditor(EU, strict=True)
    auditor.add_audit_log_record(_call_log("r", served="pending"))
    recon = {
        "record": "reconciliation",
        "schema": 1,
        "request_id": "r",
        "served_region": "eu-west-3",
    }
    auditor.add_audit_log_record(recon)
    auditor.add_audit_log_record({**recon, "served_region": "eu-west-1"})
    call = parse_cloudtrail_event(ct_event("r", served="eu-west-1"))
    assert call is not None
    auditor.add_cloudtrail(call)
    report = auditor.report()
    assert report.served_region_differs_total == 0 and report.exit_code == 0
    with pytest.raises(RuntimeError, match="before any CloudTrail"):
        auditor.add_audit_log_record(_call_log("late"))


def test_strict_fails_on_audit_log_only_calls() -> None:
    auditor = Auditor(EU, strict=True)
    auditor.add_audit_log_record(_call_log("missing"))
    call = parse_cloudtrail_event(ct_event("other"))
    assert call is not None
    auditor.add_cloudtrail(call)
    report = auditor.report()
    assert (report.violations_total, report.exit_code) == (0, 1)


def test_audit_log_calls_outside_the_evidence_window_are_not_missing() -> None:
    auditor = Auditor(EU)
    auditor.add_audit_log_record(_call_log("old", ts="2026-11-20T00:00:00Z"))
    call = parse_cloudtrail_event(ct_event("x"))
    assert call is not None
    auditor.add_cloudtrail(call)
    report = auditor.report()
    assert (report.audit_log_only_total, report.not_covered_by_window) == (0, 1)


def test_unknown_audit_records_are_problems() -> None:
    auditor = Auditor(EU)
    auditor.add_audit_log_record({"record": "call", "schema": 99, "request_id": "x"})
    auditor.add_audit_log_record(["not", "an", "object"])
    assert auditor.report().problems_by_kind == {"malformed": 1, "unsupported": 1}


# -- files --------------------------------------------------------------------------------
def test_detect_input_kind(tmp_path: Path) -> None:
    ct = write_records(tmp_path / "ct.json.gz", [ct_event()], gz=True)
    inv = write_lines(tmp_path / "inv.jsonl", [inv_record()])
    log = write_lines(tmp_path / "audit.jsonl", [_call_log("a")])
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert [detect_input_kind(p) for p in (ct, inv, log, empty)] == [
        "cloudtrail",
        "invocation_log",
        "audit_log",
        "unknown",
    ]


def test_audit_files_dedupes_cloudtrail_and_invocation_logs(tmp_path: Path) -> None:
    ct = write_records(tmp_path / "ct.json", [ct_event("a"), ct_event("b")])
    inv = write_lines(tmp_path / "inv.jsonl", [inv_record("a"), inv_record("c")])
    report = audit_files(EU, [inv, ct])  # order of arguments does not matter
    assert report.calls == 3
    assert report.evidence == {"cloudtrail": 2, "invocation_log": 2}
    assert sum(g.input_tokens for g in report.groups) == 24  # a (from the log) + c


def test_audit_files_survives_bad_input_and_keeps_valid_records(tmp_path: Path) -> None:
    import gzip

    good = write_records(tmp_path / "good.json", [ct_event("g1", served="us-east-1")])
    data = gzip.compress(json.dumps({"Records": [ct_event(f"t{i}") for i in range(300)]}).encode())
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "junk.txt"
    junk.write_text("not json at all")
    report = audit_files(EU, [good, junk], cloudtrail=[cut])
    assert report.violations_total == 1 and report.violations[0].request_id == "g1"
    assert 50 < report.calls < 301
    assert report.problems_by_kind["truncated"] == 1
    assert report.problems_by_kind["unrecognised"] == 1


# -- rendering ----------------------------------------------------------------------------
@pytest.fixture
def mixed_report() -> Auditor:
    auditor = Auditor(EU)
    auditor.add_audit_log_record(_call_log("ok1"))
    for event in (ct_event("ok1"), ct_event("bad|1", served="us-east-1")):
        call = parse_cloudtrail_event(event)
        assert call is not None
        auditor.add_cloudtrail(call)
    return auditor


def test_json_rendering_round_trips(mixed_report: Auditor) -> None:
    data = json.loads(mixed_report.report().render("json"))
    assert data["summary"]["violations"] == 1
    assert data["summary"]["exit_code"] == 1
    assert data["violations"][0]["request_id"] == "bad|1"
    assert data["cross_check"]["matched"] == 1
    assert data["policy"]["regions"] == sorted(EU.regions)


def test_table_and_markdown_name_violations(mixed_report: Auditor) -> None:
    report = mixed_report.report()
    table = report.render("table")
    assert table.startswith("FAIL: 1 violation(s) of policy 'eu'")
    assert "bad|1" in table and "us-east-1" in table
    md = report.render("markdown")
    assert md.startswith("# Bedrock residency audit: policy `eu`")
    assert "bad\\|1" in md  # pipes escaped so the table stays a table
    with pytest.raises(ValueError, match="allowed: table, json, markdown, html"):
        report.render("pdf")  # type: ignore[arg-type]


def test_no_prompt_text_reaches_the_report(tmp_path: Path) -> None:
    record = inv_record("p")
    record["input"]["inputBodyJson"] = {"messages": [{"content": "SECRET PROMPT"}]}  # type: ignore[index]
    inv = write_lines(tmp_path / "inv.jsonl", [record])
    report = audit_files(EU, [inv])
    for fmt in ("table", "json", "markdown"):
        assert "SECRET PROMPT" not in report.render(fmt)  # type: ignore[arg-type]


def test_audit_files_walks_directories_and_skips_hidden(tmp_path: Path) -> None:
    nested = tmp_path / "AWSLogs" / "123456789012" / "CloudTrail" / "eu-central-1"
    nested.mkdir(parents=True)
    write_records(nested / "a.json.gz", [ct_event("a")], gz=True)
    write_records(nested / ".partial.json", [ct_event("hidden", served="us-east-1")])
    report = audit_files(EU, [tmp_path])
    assert (report.calls, report.violations_total, report.problems_total) == (1, 0, 0)
