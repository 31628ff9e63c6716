"""Batch reconciliation (``langchain-cris reconcile``) against the embedded local Bedrock."""

from __future__ import annotations

from pathlib import Path

import pytest

from langchain_cris.audit.records import PENDING, summarize_records
from langchain_cris.audit.sink import read_audit_log
from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.cli import main as cli_main
from langchain_cris.emulator import LocalBedrock, ManualClock
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.tracing import CRISCallbackHandler
from tests.integration_tests._delivery import DELIVERY_S, PATIENT_S, delivering_after_first_look

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def _run_calls(bedrock: LocalBedrock, log: Path, policy: ResidencyPolicy, n: int) -> list[str]:
    llm = ChatBedrockCRIS(
        model=SONNET, region_name="eu-central-1", endpoint_url=bedrock.endpoint_url
    )
    chain = with_residency(llm, policy)
    with CRISCallbackHandler(audit_path=log) as handler:  # reconcile="off": left pending
        replies = [chain.invoke(f"q{i}", config={"callbacks": [handler]}) for i in range(n)]
    return [r.response_metadata["cris"]["request_id"] for r in replies]


def _truth(bedrock: LocalBedrock) -> dict[str, str | None]:
    return {r.request_id: r.served_region for r in bedrock.wire_log.runtime()}


def test_cli_live_fills_every_pending_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "cris-audit.jsonl"
    clock = ManualClock()
    with LocalBedrock(seed=0, cloudtrail_delay=DELIVERY_S, clock=clock) as bedrock:
        ids = _run_calls(bedrock, log, ResidencyPolicy.preset("eu"), 5)
        assert all(s.pending for s in summarize_records(read_audit_log(log).records))
        # boto3's own configuration: AWS_ENDPOINT_URL, no --endpoint-url.
        monkeypatch.setenv("AWS_ENDPOINT_URL", bedrock.endpoint_url)
        deadline = str(PATIENT_S)  # a bound: the run ends as soon as every call is filled
        with delivering_after_first_look(bedrock, clock):  # the first round finds nothing
            code = cli_main(
                ["reconcile", str(log), "--live", "--deadline", deadline, "--poll-interval", "0.1"]
            )
        truth = _truth(bedrock)
        lookups = bedrock.wire_log.records(operation="LookupEvents")
    assert code == 0
    assert len(lookups) >= 2  # looked before delivery, found nothing, looked again
    out = capsys.readouterr().out
    assert "5 pending before, 5 reconciled now, 0 still pending" in out
    states = {s.request_id: s for s in summarize_records(read_audit_log(log).records)}
    for request_id in ids:
        assert states[request_id].served_region == truth[request_id] != PENDING


def test_cli_from_delivered_invocation_log_files_flags_violations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "cris-audit.jsonl"
    logs_dir = tmp_path / "invocation-logs"
    audit_eu = ResidencyPolicy.preset("eu", mode="audit")
    eu_down = {r: {"outage": True} for r in audit_eu.regions}
    with LocalBedrock(seed=0, regions=eu_down, invocation_log_dir=logs_dir) as bedrock:
        llm = ChatBedrockCRIS(
            model=f"global.{SONNET}", region_name="eu-central-1", endpoint_url=bedrock.endpoint_url
        )
        with CRISCallbackHandler(audit_path=log) as handler:
            reply = with_residency(llm, audit_eu).invoke("x", config={"callbacks": [handler]})
        truth = _truth(bedrock)
    files = sorted(str(p) for p in logs_dir.rglob("*") if p.is_file())
    assert files
    code = cli_main(["reconcile", str(log), "--invocation-logs", *files])
    out = capsys.readouterr().out
    request_id = reply.response_metadata["cris"]["request_id"]
    served = truth[request_id]
    assert served not in audit_eu.regions
    assert code == 1
    assert (
        f"{request_id}: eu-central-1 -> {served} (invocation_log:inferenceRegion) VIOLATION" in out
    )
    assert "1 residency violation(s)" in out
