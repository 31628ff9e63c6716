"""Cost on the evidence: the audit record, the OTel span, and the audit's sums on a generated log."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from langchain_cris.audit.costs import (
    add_costs_to_report,
    append_cost_report,
    summarize_costs,
)
from langchain_cris.audit.records import call_record
from langchain_cris.audit.sink import read_audit_log
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.pricing import call_cost
from langchain_cris.tracing import CRISCallbackHandler
from tests.unit_tests.test_callbacks_fakes import FakeConverseModel
from tests.unit_tests.test_pricing import SONNET, cache_llm, expected_geo_total, usage

EU = ResidencyPolicy.preset("eu")
GLOBAL = ResidencyPolicy.preset("global")
M = Decimal(1_000_000)


def test_record_and_span_carry_the_cost(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    log = tmp_path / "audit.jsonl"
    llm, _ = cache_llm(residency_policy=EU)
    with CRISCallbackHandler(audit_path=log, otel=provider.get_tracer("t")) as handler:
        reply = llm.invoke("hi", config={"callbacks": [handler], "metadata": {"cris_chain": "c1"}})
    cost = reply.response_metadata["cris"]["cost"]
    (record,) = [r for r in read_audit_log(log).records if r["record"] == "call"]
    assert record["cost"] == cost and record["chain"] == "c1"
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["cris.cost.total"] == cost["total"]
    assert Decimal(str(attrs["cris.cost.total"])) == expected_geo_total()
    assert attrs["cris.cost.pricing"] == "geo" and attrs["cris.cost.currency"] == "USD"
    assert attrs["cris.cost.cache_read"] == cost["cache_read"]
    # gen_ai.usage.* stays token counts.
    assert attrs["gen_ai.usage.input_tokens"] == 9500
    assert attrs["gen_ai.usage.output_tokens"] == 200


def test_plain_converse_run_is_priced_from_its_profile(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with CRISCallbackHandler(audit_path=log) as handler:
        FakeConverseModel().invoke("x", config={"callbacks": [handler]})
    (record,) = [r for r in read_audit_log(log).records if r["record"] == "call"]
    assert record["cost"]["pricing"] == "geo" and record["cost"]["source_region"] == "eu-west-3"
    assert Decimal(str(record["cost"]["total"])) == (5 * Decimal("3.30") + Decimal("16.50")) / M


# -- the audit's sums ---------------------------------------------------------------------------
def _record(
    profile: str,
    source: str,
    policy: ResidencyPolicy | None,
    chain: str | None,
    tokens: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    geography = profile.split(".", 1)[0]
    kind = "global" if geography == "global" else "geo"
    return call_record(
        run_id="r",
        policy=policy.name if policy else None,
        model_id=profile,
        profile_id=profile,
        geography=geography,
        source_region=source,
        allowed_regions=sorted(policy.regions) if policy else [],
        cost=call_cost(profile, kind, source, tokens),
        chain=chain,
        **extra,
    )


def generated_log() -> list[dict[str, Any]]:
    eu_calls = [
        _record(f"eu.{SONNET}", "eu-central-1", EU, "support", usage(1000, 100, read=4000)),
        _record(f"eu.{SONNET}", "eu-west-3", EU, "support", usage(2000, 300)),
    ]
    global_calls = [_record(f"global.{SONNET}", "eu-central-1", GLOBAL, "digest", usage(500, 50))]
    unpriced = [_record("eu.amazon.nova-pro-v1:0", "eu-central-1", EU, None, usage(10, 10))]
    refused = [
        call_record(run_id="x", policy="eu", model_id=SONNET, outcome="refused"),
        {"record": "reconciliation", "request_id": "q"},
    ]
    return [*eu_calls, *global_calls, *unpriced, *refused]


def test_cost_sums_and_what_ifs_on_a_generated_log() -> None:
    summary = summarize_costs(generated_log())
    geo = [
        (1000 * Decimal("3.30") + 100 * Decimal("16.50") + 4000 * Decimal("0.33")) / M,
        (2000 * Decimal("3.30") + 300 * Decimal("16.50")) / M,
    ]
    on_global = [
        (1000 * 3 + 100 * 15 + 4000 * Decimal("0.30")) / M,
        (2000 * 3 + 300 * 15) / M,
    ]
    glob = (500 * 3 + 50 * 15) / M
    data = summary.to_dict()
    total = data["total"]
    assert (total["calls"], total["unpriced"]) == (4, 1)  # refusals cost nothing
    assert Decimal(total["cost_usd"]) == sum(geo) + glob
    by_policy = {line["key"]: line for line in data["by_policy"]}
    eu = by_policy["eu"]
    assert (eu["calls"], eu["unpriced"]) == (3, 1)
    assert Decimal(eu["cost_usd"]) == sum(geo)
    # EU's cheapest allowed route is the eu. profile itself; Nova has no price anywhere.
    assert Decimal(eu["cheapest_allowed_usd"]) == sum(geo)
    assert eu["cheapest_allowed_unpriced"] == 1
    # The same calls on global: 10% less, i.e. the price of residency is visible.
    assert Decimal(eu["on_global_usd"]) == sum(on_global)
    assert eu["on_global_unpriced"] == 1
    assert Decimal(eu["residency_premium_usd"]) == sum(geo) - sum(on_global)
    g = by_policy["global"]
    assert Decimal(g["cost_usd"]) == Decimal(g["cheapest_allowed_usd"]) == glob
    assert Decimal(g["on_global_usd"]) == glob
    by_chain = {line["key"]: line for line in data["by_chain"]}
    assert set(by_chain) == {"support", "digest", "(untagged)"}
    assert Decimal(by_chain["support"]["cost_usd"]) == sum(geo)
    by_route = {line["key"]: line["calls"] for line in data["by_route"]}
    assert by_route == {
        "eu (geo) from eu-central-1": 2,
        "eu (geo) from eu-west-3": 1,
        "global (global) from eu-central-1": 1,
    }
    by_model = {line["key"]: line["calls"] for line in data["by_model"]}
    assert by_model == {SONNET: 3, "amazon.nova-pro-v1:0": 1}


def test_no_policy_call_may_take_any_route_for_its_cheapest() -> None:
    (line,) = (
        summarize_costs([_record(f"eu.{SONNET}", "eu-central-1", None, None, usage(1000, 0))])
        .by["policy"]
        .values()
    )
    assert line.key == "(none)"
    assert line.cost == 1000 * Decimal("3.30") / M
    assert line.cheapest == line.on_global == 1000 * 3 / M


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_cost_section_is_rendered(fmt: str) -> None:
    summary = summarize_costs(generated_log())
    text = append_cost_report("PASS: audit", summary, fmt)
    assert text.startswith("PASS: audit")
    for dim in ("model", "route", "policy", "chain"):
        assert f"Cost by {dim}" in text
    assert "residency premium" in text and "support" in text
    assert "(1 unpriced)" in text


def test_json_report_gains_a_costs_key_and_no_audit_log_changes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in generated_log()), encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text('{"Records": []}', encoding="utf-8")
    report = json.dumps({"schema": 1})
    assert add_costs_to_report(report, "json", [], [str(other)]) == report
    data = json.loads(add_costs_to_report(report, "json", [], [str(log), str(other)]))
    assert data["schema"] == 1 and data["costs"]["currency"] == "USD"
    assert data["costs"]["total"]["calls"] == 4
