"""The policy's telemetry rules: fields, files, digest, combine(), and where traces would go."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import langsmith
import pytest
from langchain_core.tracers.langchain import LangChainTracer

from langchain_cris import ResidencyPolicy
from langchain_cris.errors import PolicyFileError, ResidencyWarning, TelemetryResidencyError
from langchain_cris.telemetry import (
    TraceDestination,
    _reset_warnings,
    check_telemetry,
    trace_destinations,
)

EU_LANGSMITH = "https://eu.api.smith.langchain.com"
US_LANGSMITH = "https://api.smith.langchain.com"


def test_defaults_and_known_endpoints_by_geography() -> None:
    eu = ResidencyPolicy.preset("eu")
    assert eu.telemetry == "warn" and eu.telemetry_endpoints is None
    assert eu.allowed_telemetry_endpoints == {EU_LANGSMITH}
    assert ResidencyPolicy.preset("europe").allowed_telemetry_endpoints == {EU_LANGSMITH}
    assert ResidencyPolicy.preset("us").allowed_telemetry_endpoints == {US_LANGSMITH}
    assert ResidencyPolicy.preset("jp").allowed_telemetry_endpoints == frozenset()
    # A narrower policy does not cover the EU instance's geography (it is in the Netherlands).
    frankfurt = ResidencyPolicy(name="de", regions={"eu-central-1"})
    assert frankfurt.allowed_telemetry_endpoints == frozenset()


def test_endpoint_prefixes_match_on_boundaries() -> None:
    p = ResidencyPolicy.preset("eu", telemetry_endpoints=["https://Traces.Example.eu:443/api/"])
    assert p.telemetry_endpoints == {"https://traces.example.eu/api"}
    assert p.allows_endpoint("https://traces.example.eu/api")
    assert p.allows_endpoint("https://traces.example.eu/api/v1/runs")
    assert not p.allows_endpoint("https://traces.example.eu/apix")
    assert not p.allows_endpoint("https://traces.example.eu.evil.com/api")
    assert not p.allows_endpoint("http://traces.example.eu/api")
    assert not p.allows_endpoint("not a url")
    assert not ResidencyPolicy.preset("eu").allows_endpoint(EU_LANGSMITH + ".evil.com")
    assert ResidencyPolicy.preset("eu").allows_endpoint(EU_LANGSMITH + "/runs")


def test_bad_endpoint_and_mode_are_refused_with_the_choices() -> None:
    with pytest.raises(PolicyFileError, match="not an http"):
        ResidencyPolicy.from_dict({"preset": "eu", "telemetry_endpoints": ["eu.api.smith"]})
    with pytest.raises(PolicyFileError, match="telemetry"):
        ResidencyPolicy.from_dict({"preset": "eu", "telemetry": "block"})


def test_policy_files_accept_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(
        'preset = "eu"\ntelemetry = "refuse"\ntelemetry_endpoints = ["https://ls.acme.eu"]\n'
    )
    policy = ResidencyPolicy.from_file(path)
    assert policy.telemetry == "refuse" and policy.telemetry_endpoints == {"https://ls.acme.eu"}
    assert ResidencyPolicy.from_dict(policy.to_dict()) == policy
    as_json = tmp_path / "acme.json"
    as_json.write_text(json.dumps(policy.to_dict()))
    assert ResidencyPolicy.from_file(as_json).telemetry_endpoints == policy.telemetry_endpoints


def test_digest_includes_telemetry_rules_and_keeps_old_digests() -> None:
    eu = ResidencyPolicy.preset("eu")
    assert eu.digest == "sha256:9a2b28839b94c287"  # unchanged by the new defaults
    assert ResidencyPolicy.preset("eu", telemetry="refuse").digest != eu.digest
    assert ResidencyPolicy.preset("eu", telemetry_endpoints=[EU_LANGSMITH]).digest != eu.digest


def test_combine_is_strictest_wins() -> None:
    eu = ResidencyPolicy.preset("eu")
    assert eu.combine(ResidencyPolicy.preset("europe", telemetry="refuse")).telemetry == "refuse"
    assert eu.combine(ResidencyPolicy.preset("europe", telemetry="ignore")).telemetry == "warn"
    mine = ResidencyPolicy.preset(
        "eu", telemetry_endpoints=[EU_LANGSMITH + "/sub", "https://ls.acme.eu"]
    )
    combined = mine.combine(ResidencyPolicy.preset("europe"))
    assert combined.telemetry_endpoints == {EU_LANGSMITH + "/sub"}  # endpoints intersect
    # Two policies without explicit endpoints keep the default (derived from the Regions).
    assert eu.combine(ResidencyPolicy.preset("global")).telemetry_endpoints is None


# -- the check ---------------------------------------------------------------------------------
def _tracer(url: str, **kwargs: object) -> LangChainTracer:
    client = langsmith.Client(api_url=url, api_key="fake", auto_batch_tracing=False, **kwargs)
    return LangChainTracer(client=client)


def test_trace_destinations_read_the_tracer_client() -> None:
    assert trace_destinations(None) == ()
    assert trace_destinations([_tracer(US_LANGSMITH)]) == (
        TraceDestination("langsmith", US_LANGSMITH, True),
    )
    hidden = _tracer(US_LANGSMITH, hide_inputs=True, hide_outputs=True)
    assert trace_destinations([hidden]) == (TraceDestination("langsmith", US_LANGSMITH, False),)
    redacting = _tracer(US_LANGSMITH, hide_inputs=lambda x: {}, hide_outputs=True)
    assert trace_destinations([redacting])[0].content  # a function may let content through


def test_check_refuses_warns_or_ignores() -> None:
    _reset_warnings()
    us = (TraceDestination("langsmith", US_LANGSMITH, True),)
    with pytest.raises(TelemetryResidencyError) as info:
        check_telemetry(ResidencyPolicy.preset("eu", telemetry="refuse"), us)
    assert info.value.endpoints == (US_LANGSMITH,) and info.value.policy_name == "eu"
    assert EU_LANGSMITH in str(info.value) and "LANGSMITH_HIDE_INPUTS" in str(info.value)
    with pytest.warns(ResidencyWarning, match="api.smith.langchain.com"):
        check_telemetry(ResidencyPolicy.preset("eu"), us)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_telemetry(ResidencyPolicy.preset("eu"), us) == us  # once per endpoint
        check_telemetry(ResidencyPolicy.preset("eu", telemetry="ignore"), us)
        check_telemetry(ResidencyPolicy.preset("us", telemetry="refuse"), us)
        eu_ok = (TraceDestination("langsmith", EU_LANGSMITH, True),)
        assert check_telemetry(ResidencyPolicy.preset("eu", telemetry="refuse"), eu_ok) == ()
    _reset_warnings()


def test_otel_spans_of_the_handler_are_destinations(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from langchain_cris.tracing import CRISCallbackHandler

    class FakeOtlpExporter(InMemorySpanExporter):
        _endpoint = "https://otel.example.com/v1/traces"

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FakeOtlpExporter()))
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))  # in-process
    handler = CRISCallbackHandler(otel=provider.get_tracer("t"))
    assert trace_destinations([handler]) == (
        TraceDestination("otel", "https://otel.example.com/v1/traces", False),
    )
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    assert trace_destinations([handler])[0].content
    assert trace_destinations([CRISCallbackHandler()]) == ()
