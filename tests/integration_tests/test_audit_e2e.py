"""The audit end to end against the local Bedrock: real calls, real CloudTrail / Logs APIs.

The emulator's wire log is the ground truth for where each call was served; the readers and
the report must reproduce it from the evidence AWS would give (LookupEvents, FilterLogEvents,
S3-style files), and ``langchain-cris audit`` must flag exactly the calls that left the policy.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from langchain_cris.audit.cloudtrail import iter_cloudtrail_files, lookup_cloudtrail_calls
from langchain_cris.audit.invocation_logs import filter_invocation_logs, iter_invocation_log_files
from langchain_cris.audit.report import audit_files
from langchain_cris.cli import main
from langchain_cris.emulator import LocalBedrock
from langchain_cris.policy import ResidencyPolicy

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
LOG_GROUP = "/aws/bedrock/modelinvocations"
# (source Region, modelId): compliant EU calls, a London-sourced EU call, global calls.
TRAFFIC = [
    *[("eu-central-1", f"eu.{SONNET}")] * 6,
    *[("eu-west-3", f"eu.{SONNET}")] * 2,
    *[("eu-west-2", f"eu.{SONNET}")] * 4,
    *[("eu-central-1", f"global.{SONNET}")] * 6,
]


def _converse(bedrock: LocalBedrock, region: str, model: str) -> str:
    client = bedrock.client("bedrock-runtime", region)
    response = client.converse(
        modelId=model,
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
        requestMetadata={"cris_policy": "eu", "lc_run_id": f"run-{region}"},
    )
    return str(response["ResponseMetadata"]["RequestId"])


@pytest.fixture
def traffic(tmp_path: Path) -> Any:
    with LocalBedrock(seed=7, invocation_log_dir=tmp_path / "invocations") as bedrock:
        ids = [_converse(bedrock, region, model) for region, model in TRAFFIC]
        served = {
            rec.request_id: rec.served_region
            for rec in bedrock.wire_log.runtime()
            if rec.request_id in ids
        }
        yield bedrock, ids, served


def _window() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"start_time": now - timedelta(hours=1), "end_time": now + timedelta(minutes=5)}


def test_lookup_events_reproduces_the_served_regions(traffic: Any) -> None:
    bedrock, ids, served = traffic
    found = {}
    for region in sorted({r for r, _ in TRAFFIC}):
        client = bedrock.client("cloudtrail", region)
        for call in lookup_cloudtrail_calls(client, **_window()):
            assert call.source_region == region  # recorded in the source Region only
            found[call.request_id] = call.served_region
    assert found == served
    # Some EU calls really were re-routed, so the test exercises inferenceRegion.
    assert any(s != r for (r, _), s in zip(TRAFFIC, [served[i] for i in ids], strict=True))


def test_lookup_stops_early_for_known_request_ids(traffic: Any) -> None:
    bedrock, ids, served = traffic
    client = bedrock.client("cloudtrail", "eu-central-1")
    wanted = {ids[0], ids[1]}
    calls = list(lookup_cloudtrail_calls(client, request_ids=wanted, **_window()))
    assert {c.request_id: c.served_region for c in calls} == {i: served[i] for i in wanted}


def test_filter_log_events_reproduces_served_regions_and_metadata(traffic: Any) -> None:
    bedrock, _ids, served = traffic
    entries = []
    for region in sorted({r for r, _ in TRAFFIC}):
        client = bedrock.client("logs", region)
        entries += list(filter_invocation_logs(client, log_group=LOG_GROUP, **_window()))
    assert {e.request_id: e.served_region for e in entries} == served
    assert all(e.request_metadata["cris_policy"] == "eu" for e in entries)
    assert all((e.input_tokens or 0) > 0 and (e.output_tokens or 0) > 0 for e in entries)


def test_invocation_log_files_match(traffic: Any, tmp_path: Path) -> None:
    _bedrock, _ids, served = traffic
    files = sorted((tmp_path / "invocations").rglob("*.jsonl"))
    assert files
    entries = list(iter_invocation_log_files(files))
    assert {e.request_id: e.served_region for e in entries} == served


def _expected_violations(ids: list[str], served: dict[str, str]) -> set[str]:
    eu = ResidencyPolicy.preset("eu")
    out = set()
    for (region, model), rid in zip(TRAFFIC, ids, strict=True):
        outside_source = region not in eu.allowed_sources
        if outside_source or model.startswith("global.") or served[rid] not in eu.regions:
            out.add(rid)
    return out


def test_s3_style_files_give_the_same_audit_as_the_live_lookup(
    traffic: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bedrock, ids, served = traffic
    regions = sorted({r for r, _ in TRAFFIC})
    trail = tmp_path / "trail"
    trail.mkdir()
    for n, region in enumerate(regions):
        data = json.dumps({"Records": bedrock.cloudtrail_events(region)}).encode()
        path = trail / (f"{region}.json" + (".gz" if n % 2 else ""))
        path.write_bytes(gzip.compress(data) if n % 2 else data)
    assert {c.request_id for c in iter_cloudtrail_files(sorted(trail.iterdir()))} == set(ids)

    code = main(["audit", "--policy", "eu", "--format", "json", str(trail)])
    from_files = json.loads(capsys.readouterr().out)
    argv = ["audit", "--policy", "eu", "--format", "json", "--lookup", "--endpoint-url"]
    argv.append(bedrock.endpoint_url)
    for region in regions:
        argv += ["--region", region]
    live_code = main(argv)
    live = json.loads(capsys.readouterr().out)

    expected = _expected_violations(ids, served)
    assert expected  # London and global calls break the EU policy
    assert code == live_code == 1
    for report in (from_files, live):
        assert report["summary"]["calls"] == len(TRAFFIC)
        assert {v["request_id"] for v in report["violations"]} == expected
        assert report["summary"]["global_calls"] == 6
        for v in report["violations"]:
            assert v["served_region"] == served[v["request_id"]]
    assert from_files["groups"] == live["groups"]


def test_europe_policy_accepts_london_but_not_global(traffic: Any) -> None:
    bedrock, ids, _served = traffic
    calls = []
    for region in sorted({r for r, _ in TRAFFIC}):
        calls += list(lookup_cloudtrail_calls(bedrock.client("cloudtrail", region), **_window()))
    report = audit_files(ResidencyPolicy.preset("europe"), cloudtrail_calls=calls)
    flagged = {v.request_id for v in report.violations}
    globals_ = {rid for (_, m), rid in zip(TRAFFIC, ids, strict=True) if m.startswith("global.")}
    assert flagged == globals_


def test_cross_check_with_an_audit_log(traffic: Any, tmp_path: Path) -> None:
    _bedrock, ids, _served = traffic
    log = tmp_path / "cris-audit.jsonl"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    lines = [
        {
            "record": "call",
            "schema": 1,
            "ts": now,
            "run_id": f"run-{i}",
            "request_id": rid,
            "served_region": "pending",
            "outcome": "ok",
        }
        for i, rid in enumerate(ids[1:])  # the first call is missing from our log
    ]
    lines.append(
        {
            "record": "call",
            "schema": 1,
            "ts": now,
            "run_id": "ghost",
            "request_id": "never-sent-to-aws",
            "served_region": "pending",
            "outcome": "ok",
        }
    )
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    files = sorted((tmp_path / "invocations").rglob("*.jsonl"))
    report = audit_files(ResidencyPolicy.preset("eu"), [log, *files])
    assert report.cross_checked
    assert report.matched == len(ids) - 1
    assert report.aws_only_total == 1
    assert [d.request_id for d in report.discrepancies if d.kind == "aws_only"] == [ids[0]]
    assert report.audit_log_only_total == 1
    assert sum(g.input_tokens for g in report.groups) > 0  # tokens come from the invocation logs
