"""OpenTelemetry spans from CRISCallbackHandler, read back with the SDK's in-memory exporter."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from langchain_cris.audit.evidence import EvidenceIndex, Finding, PendingCall
from langchain_cris.errors import ResidencyError
from langchain_cris.tracing import CRISCallbackHandler
from langchain_cris.tracing.otel import OTEL_MISSING_MESSAGE, load_tracer
from tests.unit_tests.test_callbacks_fakes import EU_REGIONS, FakeCRISChatModel


@pytest.fixture
def exporter_tracer() -> tuple[InMemorySpanExporter, Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider.get_tracer("test")


def test_chat_span_has_genai_and_cloud_attributes(
    exporter_tracer: tuple[InMemorySpanExporter, Any],
) -> None:
    exporter, tracer = exporter_tracer
    with CRISCallbackHandler(otel=tracer) as handler:
        FakeCRISChatModel(request_ids=["req-O"]).invoke("x", config={"callbacks": [handler]})
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert span.name == "chat eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert span.kind == SpanKind.CLIENT
    assert attrs["gen_ai.system"] == "aws.bedrock"
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert attrs["gen_ai.response.id"] == "req-O"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (7, 3)
    assert attrs["cloud.provider"] == "aws"
    assert attrs["cloud.region"] == "eu-central-1"
    assert attrs["cris.policy"] == "eu"
    assert attrs["cris.geography"] == "eu"
    assert list(attrs["cris.allowed_regions"]) == EU_REGIONS  # type: ignore[arg-type]
    assert attrs["cris.served_region"] == "pending"
    assert span.status.status_code == StatusCode.UNSET
    assert not any("Bonjour" in str(v) for v in attrs.values())


def test_refusal_span_is_an_error(exporter_tracer: tuple[InMemorySpanExporter, Any]) -> None:
    exporter, tracer = exporter_tracer
    with CRISCallbackHandler(otel=tracer) as handler, pytest.raises(ResidencyError):
        FakeCRISChatModel(refuse=True).invoke("x", config={"callbacks": [handler]})
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert dict(span.attributes or {})["cris.outcome"] == "refused"
    assert dict(span.attributes or {})["error.type"] == "ResidencyViolation"


class _Source:
    name = "cloudtrail"

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
        index = EvidenceIndex()
        for call in calls:
            index.add(Finding(str(call.request_id), "us-east-1", "cloudtrail", "e1"))
        return index


def test_reconciliation_span_links_to_the_call_span(
    exporter_tracer: tuple[InMemorySpanExporter, Any],
) -> None:
    exporter, tracer = exporter_tracer
    with CRISCallbackHandler(
        otel=tracer,
        reconcile="background",
        reconcile_first_poll=0.01,
        reconcile_sources=[_Source()],
    ) as handler:
        FakeCRISChatModel(request_ids=["req-L"]).invoke("x", config={"callbacks": [handler]})
        assert handler.wait_reconciled(timeout=60)
    call_span, reconcile_span = exporter.get_finished_spans()
    assert reconcile_span.name == "cris.reconcile"
    (link,) = reconcile_span.links
    assert link.context.span_id == call_span.context.span_id
    attrs = dict(reconcile_span.attributes or {})
    assert attrs["cris.served_region"] == "us-east-1"
    assert attrs["cris.compliant"] is False
    assert reconcile_span.status.status_code == StatusCode.ERROR


def test_missing_otel_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    with pytest.raises(ImportError, match=r"langchain-cris\[otel\]"):
        CRISCallbackHandler(otel=True)
    assert "pip install" in OTEL_MISSING_MESSAGE


def test_otel_must_be_a_tracer_or_bool() -> None:
    with pytest.raises(TypeError, match="opentelemetry Tracer"):
        load_tracer("yes")
