"""CRISCallbackHandler end to end against the embedded local Bedrock.

The emulator records each call in its CloudTrail (source Region, ``requestID``,
``additionalEventData.inferenceRegion``) and invocation logs after a configurable delay,
measured here on a :class:`ManualClock` the test advances (no sleeps, no race with the
machine's speed); its wire log is the ground truth of where each call really ran.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_aws import ChatBedrockConverse
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tracers.langchain import LangChainTracer

from langchain_cris.audit.records import PENDING, ViolationEvent
from langchain_cris.audit.sink import read_audit_log
from langchain_cris.audit.sources import AwsClients, InvocationLogLookup
from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock, ManualClock
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table
from langchain_cris.tracing import CRISCallbackHandler
from tests.integration_tests._delivery import DELIVERY_S, PATIENT_S, deliver_after_first_look
from tests.unit_tests.test_callbacks_fakes import capture_client

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
FAST = {"reconcile_first_poll": 0.05, "reconcile_max_interval": 0.2, "reconcile_deadline": 20}


def _served(bedrock: LocalBedrock, request_id: str) -> str | None:
    (record,) = [r for r in bedrock.wire_log.runtime() if r.request_id == request_id]
    return record.served_region


def _llm(bedrock: LocalBedrock, model: str = SONNET) -> ChatBedrockCRIS:
    return ChatBedrockCRIS(
        model=model, region_name="eu-central-1", endpoint_url=bedrock.endpoint_url
    )


def _handler(bedrock: LocalBedrock, **kwargs: Any) -> CRISCallbackHandler:
    return CRISCallbackHandler(
        reconcile="background", endpoint_url=bedrock.endpoint_url, **{**FAST, **kwargs}
    )


def test_eu_chain_trace_and_reconciled_served_region(tmp_path: Any) -> None:
    client, session = capture_client()
    tracer = LangChainTracer(client=client, project_name="default")
    log = tmp_path / "audit.jsonl"
    clock = ManualClock()
    with LocalBedrock(seed=0, cloudtrail_delay=DELIVERY_S, clock=clock) as bedrock:
        chain = with_residency(ChatPromptTemplate.from_template("Say {x}") | _llm(bedrock), EU)
        with _handler(bedrock, audit_path=log, reconcile_deadline=PATIENT_S) as handler:
            reply = chain.invoke({"x": "bonjour"}, config={"callbacks": [handler, tracer]})
            cris = reply.response_metadata["cris"]
            deliver_after_first_look(bedrock, clock, "LookupEvents")
            assert handler.wait_reconciled(timeout=60)
            (state,) = handler.records()
        truth = _served(bedrock, cris["request_id"])

    # The trace: on the LLM run itself, source Region and the eu. profile at once …
    patch = session.run_patch(cris["run_id"])
    assert session.run_post(cris["run_id"])["run_type"] == "llm"
    assert {"residency:eu", "cris:eu", "source:eu-central-1", "served:pending"} <= set(
        patch["tags"]
    )
    assert patch["extra"]["metadata"]["cris_profile_id"].startswith("eu.")
    # … and, after reconciliation, a served Region inside the EU, equal to where it ran.
    assert truth in EU.regions
    assert state.served_region == truth and not state.violation
    (feedback,) = session.feedback()
    assert (feedback["value"], feedback["score"]) == (truth, 1)
    records = read_audit_log(log).records
    assert [r["record"] for r in records] == ["call", "reconciliation"]
    assert records[0]["served_region"] == PENDING
    assert records[1]["evidence"].startswith("cloudtrail:") and records[1]["compliant"] is True
    assert records[1]["strength"] in ("confirmed", "documented")


def test_global_chain_served_region_may_be_anywhere_and_is_recorded() -> None:
    commercial = region_table().partition_regions("aws")
    with LocalBedrock(seed=3) as bedrock:
        chain = with_residency(_llm(bedrock), "global")
        with _handler(bedrock) as handler:
            replies = [chain.invoke(f"q{i}", config={"callbacks": [handler]}) for i in range(12)]
            assert handler.wait_reconciled(timeout=60)
            states = {s.request_id: s for s in handler.records()}
        truths = {
            r.response_metadata["cris"]["request_id"]: _served(
                bedrock, r.response_metadata["cris"]["request_id"]
            )
            for r in replies
        }
    assert all(r.response_metadata["cris"]["geography"] == "global" for r in replies)
    for request_id, truth in truths.items():
        assert states[request_id].served_region == truth  # exactly what really happened
        assert truth in commercial and not states[request_id].violation
    assert len(set(truths.values())) > 1  # spread over Regions, recorded each time


def test_delayed_delivery_is_pending_then_filled() -> None:
    # CloudTrail delivers on the emulator's manual clock: nothing is visible until the test
    # advances it, however fast or slow the machine is.
    clock = ManualClock()
    with LocalBedrock(seed=0, cloudtrail_delay=DELIVERY_S, clock=clock) as bedrock:
        with _handler(bedrock, reconcile_deadline=PATIENT_S) as handler:
            reply = with_residency(_llm(bedrock), EU).invoke("x", config={"callbacks": [handler]})
            (before,) = handler.records()
            assert before.served_region == PENDING
            assert bedrock.wire_log.wait_for("LookupEvents", timeout=60)  # first look: nothing
            (still,) = handler.records()
            assert still.served_region == PENDING and still.reconciliation is None
            clock.advance(DELIVERY_S)  # CloudTrail delivers the event
            assert handler.wait_reconciled(timeout=60)
            (after,) = handler.records()
        truth = _served(bedrock, reply.response_metadata["cris"]["request_id"])
        lookups = bedrock.wire_log.records(operation="LookupEvents")
    assert truth in EU.regions and after.served_region == truth
    assert len(lookups) >= 2  # looked, found nothing yet, looked again


def test_audit_mode_call_served_outside_policy_is_a_violation() -> None:
    audit_eu = ResidencyPolicy.preset("eu", mode="audit")
    eu_down = {r: {"outage": True} for r in EU.regions}  # CRIS routes around full Regions
    events: list[ViolationEvent] = []
    with LocalBedrock(seed=0, regions=eu_down) as bedrock:
        chain = with_residency(_llm(bedrock, f"global.{SONNET}"), audit_eu)
        with _handler(bedrock, on_violation=events.append) as handler:
            reply = chain.invoke("x", config={"callbacks": [handler]})
            assert handler.wait_reconciled(timeout=60)
            (state,) = handler.records()
        truth = _served(bedrock, reply.response_metadata["cris"]["request_id"])
    assert truth is not None and truth not in EU.regions
    assert state.violation and state.served_region == truth
    kinds = [e.kind for e in events]
    assert kinds == ["route", "served_outside"]
    assert events[1].served_region == truth and events[1].evidence == "cloudtrail:inferenceRegion"


async def test_async_chain_is_recorded_and_reconciled() -> None:
    with LocalBedrock(seed=1) as bedrock:
        chain = with_residency(_llm(bedrock), EU)
        with _handler(bedrock) as handler:
            reply = await chain.ainvoke("x", config={"callbacks": [handler]})
            assert handler.wait_reconciled(timeout=60)
            (state,) = handler.records()
        truth = _served(bedrock, reply.response_metadata["cris"]["request_id"])
    assert state.served_region == truth and truth in EU.regions


def test_streaming_call_is_reconciled() -> None:
    with LocalBedrock(seed=2) as bedrock:
        chain = with_residency(_llm(bedrock), EU)
        with _handler(bedrock) as handler:
            chunks = list(chain.stream("x", config={"callbacks": [handler]}))
            assert handler.wait_reconciled(timeout=60)
            (state,) = handler.records()
        (wire,) = bedrock.wire_log.runtime()
    assert chunks and wire.operation == "ConverseStream"
    assert state.request_id == wire.request_id
    assert state.served_region == wire.served_region


def test_plain_chat_bedrock_converse_is_recorded_as_far_as_it_can_tell() -> None:
    with LocalBedrock(seed=0) as bedrock:
        llm = ChatBedrockConverse(
            model=f"eu.{SONNET}", region_name="eu-west-3", endpoint_url=bedrock.endpoint_url
        )
        with _handler(bedrock) as handler:
            llm.invoke("x", config={"callbacks": [handler]})
            assert handler.wait_reconciled(timeout=60)
            (state,) = handler.records()
        (wire,) = bedrock.wire_log.runtime()
    assert state.call is not None
    assert state.call["source_region"] == "eu-west-3"
    assert state.call["profile_id"] == f"eu.{SONNET}"
    assert state.request_id == wire.request_id
    assert state.served_region == wire.served_region


def test_invocation_logs_as_the_evidence_source() -> None:
    clock = ManualClock()
    with LocalBedrock(seed=0, invocation_log_delay=DELIVERY_S, clock=clock) as bedrock:
        source = InvocationLogLookup(
            AwsClients(endpoint_url=bedrock.endpoint_url), bedrock.config.log_group
        )
        with CRISCallbackHandler(reconcile="background", reconcile_sources=[source], **FAST) as h:
            reply = with_residency(_llm(bedrock), EU).invoke("x", config={"callbacks": [h]})
            deliver_after_first_look(bedrock, clock, "FilterLogEvents")
            assert h.wait_reconciled(timeout=60)
            (state,) = h.records()
        truth = _served(bedrock, reply.response_metadata["cris"]["request_id"])
    assert state.served_region == truth
    assert state.reconciliation is not None
    # The emulator names inferenceRegion for re-routed calls only (the blog's shape); a call
    # served in its source Region has only an assumption, recorded when the deadline passed.
    evidence = state.reconciliation["evidence"]
    if truth == "eu-central-1":
        assert (evidence, state.reconciliation["strength"]) == (
            "invocation_log:no-field",
            "assumed",
        )
    else:
        assert evidence == "invocation_log:inferenceRegion"


def test_refused_call_never_reaches_the_wire() -> None:
    with LocalBedrock(seed=0) as bedrock:
        chain = with_residency(_llm(bedrock, f"global.{SONNET}"), EU)
        with _handler(bedrock) as handler:
            with pytest.raises(ValueError):
                chain.invoke("x", config={"callbacks": [handler]})
            (state,) = handler.records()
        assert bedrock.wire_log.runtime() == []
    assert state.outcome == "refused" and state.served_region is None
