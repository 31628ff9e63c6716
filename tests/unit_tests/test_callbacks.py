"""CRISCallbackHandler through the real langchain-core callback machinery (no network)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from langchain_cris.audit.records import PENDING, ViolationEvent
from langchain_cris.audit.sink import read_audit_log
from langchain_cris.errors import ResidencyError
from langchain_cris.tracing import CRISCallbackHandler
from tests.unit_tests.test_callbacks_fakes import (
    EU_REGIONS,
    FakeConverseModel,
    FakeCRISChatModel,
)

SECRET_PROMPT = "my secret prompt about patient 4711"

CALL_KEYS = {
    "record", "schema", "ts", "run_id", "parent_run_id", "policy", "policy_digest", "mode",
    "model_id", "profile_id", "profile_arn", "geography", "source_region", "allowed_regions",
    "destination_regions", "request_id", "latency_ms", "input_tokens", "output_tokens",
    "outcome", "error_type", "served_region", "attempts", "cost", "chain",
    "guardrail", "trace_destinations",
}  # fmt: skip


def _calls(path: Path) -> list[dict[str, Any]]:
    return [r for r in read_audit_log(path).records if r["record"] == "call"]


def test_ok_call_record_follows_the_contract(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler:
        reply = FakeCRISChatModel(request_ids=["req-A"]).invoke(
            SECRET_PROMPT, config={"callbacks": [handler]}
        )
    (record,) = _calls(log)
    # The contract's keys, plus the hash chain's, which the sink writes first.
    assert set(record) == CALL_KEYS | {"seq", "prev"}
    assert list(record)[:2] == ["seq", "prev"]
    assert record["schema"] == 1 and record["ts"].endswith("Z")
    assert record["run_id"] == reply.response_metadata["cris"]["run_id"]
    assert record["request_id"] == "req-A"
    assert record["policy"] == "eu" and record["mode"] == "enforce"
    assert record["profile_id"].startswith("eu.") and record["geography"] == "eu"
    assert record["source_region"] == "eu-central-1"
    assert record["allowed_regions"] == EU_REGIONS
    assert record["outcome"] == "ok" and record["error_type"] is None
    assert record["served_region"] == PENDING  # CRIS: only AWS's logs know, later
    assert (record["input_tokens"], record["output_tokens"]) == (7, 3)
    assert record["latency_ms"] > 0
    assert record["attempts"][0]["outcome"] == "ok"
    text = log.read_text()
    assert SECRET_PROMPT not in text and "Bonjour" not in text
    assert "AKID" not in text and "secret" not in text


def test_prompts_only_with_opt_in(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log, include_prompts=True) as handler:
        FakeCRISChatModel().invoke(SECRET_PROMPT, config={"callbacks": [handler]})
    (record,) = _calls(log)
    assert record["prompts"] == [{"type": "human", "content": SECRET_PROMPT}]
    assert record["response"] == "Bonjour"


def test_in_band_served_region_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    model = FakeCRISChatModel(cris_overrides={"served_region": "eu-central-1"})
    with CRISCallbackHandler(audit_path=log) as handler:
        model.invoke("x", config={"callbacks": [handler]})
    assert _calls(log)[0]["served_region"] == "eu-central-1"


def test_streaming_run_is_recorded_from_the_final_chunk(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler:
        chunks = list(
            FakeCRISChatModel(request_ids=["req-S"]).stream("x", config={"callbacks": [handler]})
        )
    assert "".join(str(c.content) for c in chunks) == "Bonjour"
    (record,) = _calls(log)
    assert record["request_id"] == "req-S"
    assert record["output_tokens"] == 3


def test_refusal_is_recorded_as_refused(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler, pytest.raises(ResidencyError):
        FakeCRISChatModel(refuse=True).invoke("x", config={"callbacks": [handler]})
    (record,) = _calls(log)
    assert record["outcome"] == "refused"
    assert record["error_type"] == "ResidencyViolation"
    assert record["policy"] == "eu"
    assert record["model_id"].startswith("global.")
    assert record["served_region"] is None and record["request_id"] is None


class _FailingModel(FakeConverseModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise ClientError(
            {
                "Error": {"Code": "ThrottlingException", "Message": "slow down"},
                "ResponseMetadata": {"RequestId": "req-throttled"},
            },
            "Converse",
        )


def test_aws_error_is_recorded_with_code_and_request_id(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler, pytest.raises(ClientError):
        _FailingModel().invoke("x", config={"callbacks": [handler]})
    (record,) = _calls(log)
    assert record["outcome"] == "error"
    assert record["error_type"] == "ThrottlingException"
    assert record["request_id"] == "req-throttled"
    assert record["served_region"] is None


def test_plain_converse_profile_call_is_pending(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler:
        FakeConverseModel().invoke("x", config={"callbacks": [handler]})
    (record,) = _calls(log)
    assert record["request_id"] == "plain-req-1"
    assert record["source_region"] == "eu-west-3"
    assert record["profile_id"] == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert record["geography"] == "eu"
    assert record["served_region"] == PENDING
    assert record["policy"] is None and record["allowed_regions"] == []


def test_plain_converse_in_region_call_is_served_in_source(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    model = FakeConverseModel(model_id="amazon.nova-pro-v1:0", region_name="eu-west-1")
    with CRISCallbackHandler(audit_path=log) as handler:
        model.invoke("x", config={"callbacks": [handler]})
    (record,) = _calls(log)
    assert record["geography"] == "in-region"
    assert record["served_region"] == "eu-west-1"


def test_policy_from_chain_metadata_for_plain_models(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    config: Any = {
        "callbacks": [],
        "metadata": {
            "cris_policy": {"name": "eu", "regions": list(reversed(EU_REGIONS)), "mode": "audit"},
            "cris_policy_name": "eu",
            "cris_policy_digest": "sha256:feedface",
        },
    }
    with CRISCallbackHandler(audit_path=log) as handler:
        config["callbacks"] = [handler]
        FakeConverseModel().invoke("x", config=config)
    (record,) = _calls(log)
    assert record["policy"] == "eu" and record["policy_digest"] == "sha256:feedface"
    assert record["allowed_regions"] == EU_REGIONS


def test_non_bedrock_models_are_ignored(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler:
        GenericFakeChatModel(messages=iter([AIMessage("x")])).invoke(
            "x", config={"callbacks": [handler]}
        )
        assert handler.records() == []
    assert _calls(log) == []


def test_audit_mode_violation_calls_on_violation(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    events: list[ViolationEvent] = []
    model = FakeCRISChatModel(
        request_ids=["req-V"],
        cris_overrides={
            "mode": "audit",
            "violations": ["global profile may be served in us-east-1"],
            "geography": "global",
        },
    )
    with CRISCallbackHandler(audit_path=log, on_violation=events.append) as handler:
        model.invoke("x", config={"callbacks": [handler]})
        (state,) = handler.records()
    assert _calls(log)[0]["outcome"] == "violation"
    assert state.violation
    (event,) = events
    assert event.kind == "route" and event.request_id == "req-V"
    assert event.details == ("global profile may be served in us-east-1",)


def test_a_failing_on_violation_does_not_break_the_chain(tmp_path: Path) -> None:
    def boom(event: ViolationEvent) -> None:
        raise RuntimeError("pager down")

    model = FakeCRISChatModel(cris_overrides={"violations": ["x"], "mode": "audit"})
    with CRISCallbackHandler(on_violation=boom) as handler:
        assert model.invoke("x", config={"callbacks": [handler]}).content == "Bonjour"


def test_chain_records_parent_run_id(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    chain = RunnableLambda(lambda x: x) | FakeCRISChatModel()
    with CRISCallbackHandler(audit_path=log) as handler:
        chain.invoke("x", config={"callbacks": [handler]})
    (record,) = _calls(log)
    assert record["parent_run_id"] is not None


def test_batch_records_every_call(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    model = FakeCRISChatModel(request_ids=[f"req-{i}" for i in range(6)])
    with CRISCallbackHandler(audit_path=log) as handler:
        model.batch(["a"] * 6, config={"callbacks": [handler], "max_concurrency": 3})
    assert sorted(r["request_id"] for r in _calls(log)) == [f"req-{i}" for i in range(6)]


async def test_async_runs_never_fsync_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import langchain_cris.audit.sink as sink_module

    loop_thread = threading.get_ident()
    fsync_threads: list[int] = []
    real_fsync = sink_module.os.fsync

    def spy(fd: int) -> None:
        fsync_threads.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(sink_module.os, "fsync", spy)
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler:
        model = FakeCRISChatModel()
        await asyncio.gather(
            *(model.ainvoke("x", config={"callbacks": [handler]}) for _ in range(5))
        )
        assert len(handler.records()) == 5  # records() waits for the writer
    assert len(fsync_threads) == 5
    assert loop_thread not in fsync_threads
    assert len(_calls(log)) == 5


def test_invalid_reconcile_mode_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match=r"reconcile='sometimes'.*'off', 'background'"):
        CRISCallbackHandler(reconcile="sometimes")  # type: ignore[arg-type]


def test_invalid_reconcile_timing_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="deadline must be > 0"):
        CRISCallbackHandler(reconcile="background", reconcile_deadline=0)


def test_without_audit_path_records_stay_in_memory() -> None:
    with CRISCallbackHandler() as handler:
        FakeCRISChatModel(request_ids=["req-M"]).invoke("x", config={"callbacks": [handler]})
        (state,) = handler.records()
    assert state.request_id == "req-M" and state.pending
    assert "CRISCallbackHandler(audit_path=None" in repr(handler)
