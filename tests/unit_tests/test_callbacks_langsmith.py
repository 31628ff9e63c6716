"""LangSmith: residency metadata and tags land on the LLM run itself; the served Region follows
as feedback. Proven against an offline ``langsmith.Client`` that records request bodies."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import tracing_v2_enabled
from langchain_core.tracers.langchain import LangChainTracer

from langchain_cris.audit.evidence import EvidenceIndex, Finding, PendingCall
from langchain_cris.tracing import CRISCallbackHandler
from langchain_cris.tracing.langsmith import FEEDBACK_KEY
from tests.unit_tests.test_callbacks_fakes import (
    EU_REGIONS,
    PROJECT_ID,
    FakeConverseModel,
    FakeCRISChatModel,
    capture_client,
)


class StaticSource:
    """A reconciliation source that knows the served Region of given request ids."""

    name = "cloudtrail"

    def __init__(self, served: dict[str, str]) -> None:
        self.served = served

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
        index = EvidenceIndex()
        for call in calls:
            if call.request_id in self.served:
                index.add(
                    Finding(call.request_id, self.served[call.request_id], "cloudtrail", "ev")
                )
        return index


def _llm_run_id(reply: Any) -> str:
    return str(reply.response_metadata["cris"]["run_id"])


def test_metadata_and_tags_are_on_the_llm_run_patch() -> None:
    client, session = capture_client()
    tracer = LangChainTracer(client=client)
    chain = RunnableLambda(lambda x: x) | FakeCRISChatModel(request_ids=["req-1"])
    with CRISCallbackHandler() as handler:
        reply = chain.invoke("hello", config={"callbacks": [handler, tracer]})
    run_id = _llm_run_id(reply)
    posts = session.bodies("POST", "/runs")
    # Only the runs of the chain: no sibling run was invented for the residency facts.
    assert sorted(b["run_type"] for b in posts) == ["chain", "chain", "llm"]
    patch = session.run_patch(run_id)
    assert session.run_post(run_id)["run_type"] == "llm"
    for tag in ("residency:eu", "cris:eu", "source:eu-central-1", "served:pending"):
        assert tag in patch["tags"]
    metadata = patch["extra"]["metadata"]
    assert metadata["cris_policy_name"] == "eu"
    assert metadata["cris_profile_id"] == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert metadata["cris_source_region"] == "eu-central-1"
    assert metadata["cris_allowed_regions"] == EU_REGIONS
    assert metadata["cris_request_id"] == "req-1"
    assert metadata["cris_served_region"] == "pending"
    assert metadata["cris_outcome"] == "ok"
    # The parent chain runs carry none of it.
    for body in session.bodies("PATCH", "/runs/"):
        if str(body["id"]) != run_id:
            assert not any(t.startswith("residency:") for t in body.get("tags") or [])


def test_env_style_tracer_appended_after_user_handlers_is_found() -> None:
    """``tracing_v2_enabled`` adds the tracer the same way LANGSMITH_TRACING=true does."""
    client, session = capture_client()
    with CRISCallbackHandler() as handler, tracing_v2_enabled(client=client):
        FakeConverseModel(request_id="plain-9").invoke("hello", config={"callbacks": [handler]})
        (state,) = handler.records()
    patch = session.run_patch(str(state.run_id))
    assert "cris:eu" in patch["tags"] and "source:eu-west-3" in patch["tags"]
    assert patch["extra"]["metadata"]["cris_request_id"] == "plain-9"


async def test_async_run_is_enriched_before_the_patch() -> None:
    client, session = capture_client()
    tracer = LangChainTracer(client=client)
    with CRISCallbackHandler() as handler:
        reply = await FakeCRISChatModel().ainvoke("x", config={"callbacks": [handler, tracer]})
    patch = session.run_patch(_llm_run_id(reply))
    assert "residency:eu" in patch["tags"]


def test_refusal_is_tagged_on_the_errored_run() -> None:
    client, session = capture_client()
    tracer = LangChainTracer(client=client)
    with CRISCallbackHandler() as handler, contextlib.suppress(ValueError):
        FakeCRISChatModel(refuse=True).invoke("x", config={"callbacks": [handler, tracer]})
    (patch,) = session.bodies("PATCH", "/runs/")
    assert patch["error"]
    assert "cris-refused" in patch["tags"]
    assert patch["extra"]["metadata"]["cris_outcome"] == "refused"


def test_handler_after_the_tracer_degrades_without_failing() -> None:
    client, session = capture_client()
    tracer = LangChainTracer(client=client)
    with CRISCallbackHandler() as handler:
        reply = FakeCRISChatModel().invoke("x", config={"callbacks": [tracer, handler]})
        (state,) = handler.records()
    assert state.request_id == reply.response_metadata["cris"]["request_id"]
    # The tracer had already sent its PATCH: nothing of ours is on it (documented ordering).
    assert not any(
        t.startswith("residency:") for t in session.run_patch(_llm_run_id(reply))["tags"]
    )


def test_served_region_is_written_as_feedback_after_reconciliation() -> None:
    client, session = capture_client()
    tracer = LangChainTracer(client=client, project_name="default")
    handler = CRISCallbackHandler(
        reconcile="background",
        reconcile_first_poll=0.01,
        reconcile_sources=[StaticSource({"req-1": "eu-west-3"})],
    )
    with handler:
        reply = FakeCRISChatModel(request_ids=["req-1"]).invoke(
            "x", config={"callbacks": [handler, tracer]}
        )
        assert handler.wait_reconciled(timeout=60)
        (state,) = handler.records()
    assert state.served_region == "eu-west-3" and not state.violation
    (feedback,) = session.feedback()
    assert feedback["key"] == FEEDBACK_KEY
    assert str(feedback["run_id"]) == _llm_run_id(reply)
    assert str(feedback["trace_id"]) == _llm_run_id(reply)  # the LLM run is the root here
    assert feedback["value"] == "eu-west-3"
    assert feedback["score"] == 1
    assert str(feedback["session_id"]) == PROJECT_ID
    assert "per cloudtrail" in feedback["comment"]


def test_violation_feedback_scores_zero_and_alerts() -> None:
    client, session = capture_client()
    tracer = LangChainTracer(client=client, project_name="default")
    events: list[Any] = []
    chain = RunnableLambda(lambda x: x) | FakeCRISChatModel(
        request_ids=["req-2"], cris_overrides={"mode": "audit"}
    )
    with CRISCallbackHandler(
        reconcile="background",
        reconcile_first_poll=0.01,
        reconcile_sources=[StaticSource({"req-2": "us-east-1"})],
        on_violation=events.append,
    ) as handler:
        reply = chain.invoke("x", config={"callbacks": [handler, tracer]})
        assert handler.wait_reconciled(timeout=60)
    (feedback,) = session.feedback()
    assert feedback["score"] == 0 and feedback["value"] == "us-east-1"
    assert "VIOLATION" in feedback["comment"]
    assert str(feedback["run_id"]) == _llm_run_id(reply)
    assert str(feedback["trace_id"]) != str(feedback["run_id"])  # the chain is the root
    (event,) = events
    assert (event.kind, event.served_region, event.request_id) == (
        "served_outside",
        "us-east-1",
        "req-2",
    )
