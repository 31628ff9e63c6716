"""Streamed calls reconciled end to end: the served Region only their completion event names.

Against the embedded local Bedrock with its AWS-documented defaults: a ConverseStream's API-call
event carries no ``inferenceRegion``; the stream-completion event written after the stream ends
does. The wire log is the ground truth of where each call ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from langchain_cris.audit.records import ViolationEvent, summarize_records
from langchain_cris.audit.sink import read_audit_log
from langchain_cris.binding import with_residency
from langchain_cris.callbacks import CRISCallbackHandler
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.cli import main as cli_main
from langchain_cris.emulator import LocalBedrock, ManualClock
from langchain_cris.policy import ResidencyPolicy
from tests.integration_tests._delivery import DELIVERY_S, PATIENT_S, deliver_after_first_look

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
AUDIT_EU = ResidencyPolicy.preset("eu", mode="audit")
EU_DOWN = {r: {"outage": True} for r in AUDIT_EU.regions}
FAST = {"reconcile_first_poll": 0.05, "reconcile_max_interval": 0.2, "reconcile_deadline": 20}


def _stream_outside_eu(bedrock: LocalBedrock, handler: CRISCallbackHandler) -> str:
    """One streamed global-profile call under an audit-mode EU policy, every EU Region down."""
    llm = ChatBedrockCRIS(
        model=f"global.{SONNET}", region_name="eu-central-1", endpoint_url=bedrock.endpoint_url
    )
    chunks = list(with_residency(llm, AUDIT_EU).stream("x", config={"callbacks": [handler]}))
    metadata: dict[str, Any] = {}
    for chunk in chunks:
        metadata.update(chunk.response_metadata or {})
    request_id = metadata["cris"]["request_id"]
    assert isinstance(request_id, str)
    return request_id


def _truth(bedrock: LocalBedrock, request_id: str) -> str | None:
    (record,) = [r for r in bedrock.wire_log.runtime() if r.request_id == request_id]
    return record.served_region


def test_cli_live_records_a_streamed_calls_true_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "cris-audit.jsonl"
    with LocalBedrock(seed=0, regions=EU_DOWN) as bedrock:
        with CRISCallbackHandler(audit_path=log) as handler:  # reconcile="off": left pending
            request_id = _stream_outside_eu(bedrock, handler)
        api_call = [
            r for r in bedrock.cloudtrail_events("eu-central-1") if r["requestID"] == request_id
        ]
        assert api_call and "additionalEventData" not in api_call[0]  # only the completion knows
        monkeypatch.setenv("AWS_ENDPOINT_URL", bedrock.endpoint_url)
        monkeypatch.setenv("LANGCHAIN_CRIS_CACHE_DIR", str(tmp_path / "cache"))
        code = cli_main(
            ["reconcile", str(log), "--live", "--deadline", "10", "--poll-interval", "0.1"]
        )
        served = _truth(bedrock, request_id)
    out = capsys.readouterr().out
    assert served not in AUDIT_EU.regions
    assert code == 1
    assert (
        f"{request_id}: eu-central-1 -> {served} (cloudtrail:completion:inferenceRegion) VIOLATION"
        in out
    )
    (state,) = summarize_records(read_audit_log(log).records)
    assert state.served_region == served and state.violation
    assert state.reconciliation is not None and state.reconciliation["strength"] == "confirmed"
    assert (tmp_path / "cache").is_dir()  # the shared LookupEvents budget lives there


def test_background_reconciler_and_on_violation_see_the_completion_region(tmp_path: Path) -> None:
    log = tmp_path / "cris-audit.jsonl"
    events: list[ViolationEvent] = []
    clock = ManualClock()
    with LocalBedrock(seed=0, regions=EU_DOWN, cloudtrail_delay=DELIVERY_S, clock=clock) as bedrock:
        with CRISCallbackHandler(
            audit_path=log,
            reconcile="background",
            endpoint_url=bedrock.endpoint_url,
            on_violation=events.append,
            **{**FAST, "reconcile_deadline": PATIENT_S},
        ) as handler:
            request_id = _stream_outside_eu(bedrock, handler)
            deliver_after_first_look(bedrock, clock)  # the first look finds neither event
            assert handler.wait_reconciled(timeout=60)
        served = _truth(bedrock, request_id)
    assert served not in AUDIT_EU.regions
    reconciled = [e for e in events if e.kind == "served_outside"]
    assert [(e.request_id, e.served_region) for e in reconciled] == [(request_id, served)]
    assert reconciled[0].evidence == "cloudtrail:completion:inferenceRegion"
    (state,) = summarize_records(read_audit_log(log).records)
    assert state.served_region == served


def test_in_region_stream_is_confirmed_by_its_completion_not_assumed(tmp_path: Path) -> None:
    log = tmp_path / "cris-audit.jsonl"
    eu = ResidencyPolicy.preset("eu")
    with LocalBedrock(seed=0) as bedrock:
        llm = ChatBedrockCRIS(
            model=SONNET, region_name="eu-central-1", endpoint_url=bedrock.endpoint_url
        )
        with CRISCallbackHandler(
            audit_path=log, reconcile="background", endpoint_url=bedrock.endpoint_url, **FAST
        ) as handler:
            for i in range(4):
                list(with_residency(llm, eu).stream(f"q{i}", config={"callbacks": [handler]}))
            assert handler.wait_reconciled(timeout=20)
        truth = {r.request_id: r.served_region for r in bedrock.wire_log.runtime()}
    states = summarize_records(read_audit_log(log).records)
    assert len(states) == 4
    for state in states:
        assert state.served_region == truth[str(state.request_id)]
        rec = state.reconciliation or {}
        assert (rec.get("evidence"), rec.get("strength")) == (
            "cloudtrail:completion:inferenceRegion",
            "confirmed",
        )
