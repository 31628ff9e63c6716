"""Cost by geography end to end: real boto3 against the embedded local Bedrock, a fake LangSmith
server on 127.0.0.1, the audit log and ``langchain-cris audit``'s cost sums."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tracers.langchain import LangChainTracer
from langsmith import Client

from langchain_cris.audit.sink import read_audit_log
from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.cli import main
from langchain_cris.data import PRICES_ENV
from langchain_cris.emulator import LocalBedrock
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.pricing import PriceTable, TokenUsage, compute_cost
from langchain_cris.tracing import CRISCallbackHandler

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
GLOBAL = ResidencyPolicy.preset("global")


class _LangSmithHandler(BaseHTTPRequestHandler):
    """Accepts LangSmith's run API and records (method, path, JSON body)."""

    server: _LangSmithServer

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self.server.lock:
            self.server.requests.append((self.command, self.path, body))
        payload = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PATCH = do_GET = _record

    def log_message(self, format: str, *args: Any) -> None:
        return


class _LangSmithServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _LangSmithHandler)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def bodies(self, method: str, prefix: str) -> list[Any]:
        with self.lock:
            return [b for m, p, b in self.requests if m == method and p.startswith(prefix)]


@pytest.fixture
def langsmith_server() -> Iterator[_LangSmithServer]:
    server = _LangSmithServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _llm(bedrock: LocalBedrock, **kwargs: Any) -> ChatBedrockCRIS:
    return ChatBedrockCRIS(
        model=SONNET,
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        failover_backoff=0.0,
        **kwargs,
    )


def _expected_total(cris: dict[str, Any], kind: str) -> Decimal:
    table = PriceTable.load()
    prices = table.lookup(SONNET, kind, cris["source_region"])  # type: ignore[arg-type]
    assert prices is not None
    cost = compute_cost(
        prices,
        TokenUsage.from_counts(cris["cost"]["tokens"]),
        kind,  # type: ignore[arg-type]
        cris["source_region"],
    )
    assert cost is not None
    return cost.total


def test_langsmith_llm_run_carries_the_geo_correct_cost(
    langsmith_server: _LangSmithServer,
) -> None:
    client = Client(api_url=langsmith_server.url, api_key="fake", auto_batch_tracing=False)
    tracer = LangChainTracer(client=client, project_name="cost")
    with LocalBedrock(seed=0) as bedrock:
        prompt = ChatPromptTemplate.from_template("Say {x}")
        eu = with_residency(prompt | _llm(bedrock), EU)
        glob = with_residency(prompt | _llm(bedrock), GLOBAL)
        with CRISCallbackHandler() as handler:
            eu_reply = eu.invoke({"x": "a"}, config={"callbacks": [handler, tracer]})
            global_reply = glob.invoke({"x": "a"}, config={"callbacks": [handler, tracer]})
        tracer.wait_for_futures()
    for reply, kind, profile in ((eu_reply, "geo", "eu."), (global_reply, "global", "global.")):
        cris = reply.response_metadata["cris"]
        (post,) = [b for b in langsmith_server.bodies("POST", "/runs") if b["id"] == cris["run_id"]]
        (patch,) = langsmith_server.bodies("PATCH", f"/runs/{cris['run_id']}")
        # ls_model_name stays the id actually sent (LangSmith would price it by name otherwise).
        assert post["extra"]["metadata"]["ls_model_name"] == profile + SONNET
        message_usage = patch["outputs"]["generations"][0][0]["message"]["kwargs"]["usage_metadata"]
        run_usage = patch["extra"]["metadata"]["usage_metadata"]
        for usage in (message_usage, run_usage):
            assert Decimal(str(usage["total_cost"])) == _expected_total(cris, kind)
            assert usage["input_cost"] + usage["output_cost"] == pytest.approx(usage["total_cost"])
            assert usage["input_tokens"] == cris["cost"]["tokens"]["input"]
        assert patch["extra"]["metadata"]["cris_cost"]["pricing"] == kind
    geo_total = eu_reply.response_metadata["cris"]["cost"]["total"]
    global_total = global_reply.response_metadata["cris"]["cost"]["total"]
    eu_tokens = eu_reply.response_metadata["cris"]["cost"]["tokens"]
    if eu_tokens == global_reply.response_metadata["cris"]["cost"]["tokens"]:
        assert geo_total == pytest.approx(global_total * 1.1)


def test_failover_to_another_source_region_is_priced_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send from eu-central-1 is throttled; the retry from another EU source Region is
    priced at that Region's price, not at eu-central-1's (negotiated) one."""
    deal = tmp_path / "deal.json"
    deal.write_text(
        json.dumps(
            {
                "version": 1,
                "source": "negotiated: eu-central-1 only",
                "retrieved": "2026-11-30",
                "models": {
                    SONNET: {
                        "prices": [
                            {
                                "route_kinds": ["geo"],
                                "source_regions": ["eu-central-1"],
                                "input": "1",
                                "output": "1",
                                "cache_read": "0.1",
                                "cache_write": "1",
                            }
                        ]
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv(PRICES_ENV, str(deal))
    with LocalBedrock(seed=0) as bedrock:
        bedrock.script.fault("throttle", times=1)  # the first send (from eu-central-1) fails
        reply = with_residency(_llm(bedrock), EU).invoke("hi")
        sent_from = [r.source_region for r in bedrock.wire_log.runtime()]
    cris = reply.response_metadata["cris"]
    assert sent_from[0] == "eu-central-1" and cris["source_region"] != "eu-central-1"
    cost = cris["cost"]
    assert cost["source_region"] == cris["source_region"]
    assert cost["source"] != "negotiated: eu-central-1 only"
    assert Decimal(str(cost["total"])) == _expected_total(cris, "geo")


def test_audit_sums_cost_per_model_route_policy_and_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    trail = tmp_path / "trail.json"
    with LocalBedrock(seed=3) as bedrock:
        prompt = ChatPromptTemplate.from_template("Say {x}")
        eu = with_residency(prompt | _llm(bedrock), EU).with_config(
            metadata={"cris_chain": "eu-support"}
        )
        glob = with_residency(prompt | _llm(bedrock), GLOBAL).with_config(
            metadata={"cris_chain": "batch-summaries"}
        )
        with CRISCallbackHandler(audit_path=log) as handler:
            replies = [eu.invoke({"x": str(i)}, config={"callbacks": [handler]}) for i in range(3)]
            replies += glob.batch([{"x": "g1"}, {"x": "g2"}], config={"callbacks": [handler]})
        trail.write_text(json.dumps({"Records": bedrock.cloudtrail_events("eu-central-1")}))
    records = [r for r in read_audit_log(log).records if r["record"] == "call"]
    assert len(records) == 5 and all(r["cost"]["total"] is not None for r in records)
    assert {r["chain"] for r in records} == {"eu-support", "batch-summaries"}

    main(["audit", "--policy", "eu", "--format", "json", str(trail), str(log)])
    costs = json.loads(capsys.readouterr().out)["costs"]

    def total(reply: Any) -> Decimal:
        return Decimal(str(reply.response_metadata["cris"]["cost"]["total"]))

    eu_sum = sum((total(r) for r in replies[:3]), Decimal(0))
    global_sum = sum((total(r) for r in replies[3:]), Decimal(0))
    assert Decimal(costs["total"]["cost_usd"]) == eu_sum + global_sum
    by_chain = {line["key"]: line for line in costs["by_chain"]}
    assert Decimal(by_chain["eu-support"]["cost_usd"]) == eu_sum
    assert Decimal(by_chain["batch-summaries"]["cost_usd"]) == global_sum
    by_policy = {line["key"]: line for line in costs["by_policy"]}
    assert by_policy.keys() == {"eu", "global"}
    # The EU chain's cheapest allowed route is its geo profile (global is outside the EU), and
    # the same calls on global would have cost about 10% less: the price of residency.
    eu_line = by_policy["eu"]
    assert Decimal(eu_line["cheapest_allowed_usd"]) == eu_sum
    assert Decimal(eu_line["on_global_usd"]) < eu_sum
    assert Decimal(eu_line["on_global_usd"]) * Decimal("1.1") == pytest.approx(eu_sum)
    assert Decimal(by_policy["global"]["cheapest_allowed_usd"]) == global_sum
    routes = {line["key"] for line in costs["by_route"]}
    assert any(k.startswith("eu (geo)") for k in routes)
    assert any(k.startswith("global (global)") for k in routes)
    assert [line["key"] for line in costs["by_model"]] == [SONNET]

    main(["audit", "--policy", "eu", str(trail), str(log)])
    table = capsys.readouterr().out
    assert "Cost by chain:" in table and "eu-support" in table and "residency premium" in table
