"""Traces in the policy, against the local Bedrock and a fake LangSmith server on 127.0.0.1.

The fake server records every request the real ``langsmith.Client`` sends, so "refused before
anything was sent" is proven on both wires: no bedrock-runtime request, no ``POST /runs``.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import langsmith
import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tracers.context import tracing_v2_enabled
from langchain_core.tracers.langchain import LangChainTracer, wait_for_all_tracers
from langsmith import utils as ls_utils
from langsmith.run_helpers import tracing_context

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.errors import ResidencyWarning, TelemetryResidencyError
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.telemetry import _reset_warnings
from langchain_cris.tracing import CRISCallbackHandler

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
PROMPT = ChatPromptTemplate.from_messages([("human", "{question}")])
SECRET = "my-personal-data-4711"


class FakeLangSmith:
    """A LangSmith API stand-in on 127.0.0.1 that records method, path and JSON body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                owner.requests.append((self.command, self.path, body))
                payload = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def run_posts(self) -> list[Any]:
        return [b for m, p, b in self.requests if m == "POST" and p.startswith("/runs")]

    def trace_text(self) -> str:
        return json.dumps([b for m, p, b in self.requests if p.startswith("/runs")], default=str)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def langsmith_server() -> Iterator[FakeLangSmith]:
    server = FakeLangSmith()
    yield server
    server.close()


@pytest.fixture
def bedrock() -> Iterator[LocalBedrock]:
    with LocalBedrock(seed=0) as lb:
        yield lb


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    _reset_warnings()
    yield
    _reset_warnings()


def client_for(server: FakeLangSmith, **kwargs: Any) -> langsmith.Client:
    return langsmith.Client(api_url=server.url, api_key="fake", auto_batch_tracing=False, **kwargs)


def make_chain(bedrock: LocalBedrock, policy: ResidencyPolicy | str) -> Any:
    llm = ChatBedrockCRIS(
        model=SONNET, region_name="eu-central-1", endpoint_url=bedrock.endpoint_url
    )
    return with_residency(PROMPT | llm, policy)


def refuse(**kwargs: Any) -> ResidencyPolicy:
    return ResidencyPolicy.preset("eu", telemetry="refuse", **kwargs)


def _calls() -> list[Any]:
    def invoke(chain: Any, config: Any) -> Any:
        return chain.invoke({"question": SECRET}, config=config)

    def stream(chain: Any, config: Any) -> Any:
        return list(chain.stream({"question": SECRET}, config=config))

    async def ainvoke(chain: Any, config: Any) -> Any:
        return await chain.ainvoke({"question": SECRET}, config=config)

    async def astream(chain: Any, config: Any) -> Any:
        return [c async for c in chain.astream({"question": SECRET}, config=config)]

    return [invoke, stream, ainvoke, astream]


async def _run(call: Any, chain: Any, config: Any = None) -> Any:
    result = call(chain, config)
    if hasattr(result, "__await__"):
        result = await result
    return result


CALL_IDS = ["invoke", "stream", "ainvoke", "astream"]


# -- refuse: nothing reaches Bedrock or the trace endpoint ---------------------------------------
@pytest.mark.parametrize("call", _calls(), ids=CALL_IDS)
async def test_refused_chain_sends_nothing_with_a_tracer_in_callbacks(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith, call: Any
) -> None:
    tracer = LangChainTracer(client=client_for(langsmith_server))
    with pytest.raises(TelemetryResidencyError) as info:
        await _run(call, make_chain(bedrock, refuse()), {"callbacks": [tracer]})
    wait_for_all_tracers()
    assert langsmith_server.url in str(info.value) and "'eu'" in str(info.value)
    assert info.value.endpoints == (langsmith_server.url,)
    assert bedrock.wire_log.runtime() == []
    assert langsmith_server.run_posts() == []
    assert SECRET not in langsmith_server.trace_text()


@pytest.mark.parametrize("call", _calls(), ids=CALL_IDS)
async def test_refused_chain_sends_nothing_under_tracing_context(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith, call: Any
) -> None:
    client = client_for(langsmith_server)
    with tracing_context(enabled=True, client=client), pytest.raises(TelemetryResidencyError):
        await _run(call, make_chain(bedrock, refuse()))
    wait_for_all_tracers()
    assert bedrock.wire_log.runtime() == []
    assert langsmith_server.run_posts() == []


def test_refused_chain_sends_nothing_under_tracing_v2_enabled(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith
) -> None:
    client = client_for(langsmith_server)
    with tracing_v2_enabled(client=client), pytest.raises(TelemetryResidencyError):
        make_chain(bedrock, refuse()).invoke({"question": SECRET})
    wait_for_all_tracers()
    assert bedrock.wire_log.runtime() == [] and langsmith_server.run_posts() == []


@pytest.fixture
def env_tracing(
    langsmith_server: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeLangSmith]:
    """LANGSMITH_TRACING=true with LANGSMITH_ENDPOINT at the fake server (the env client)."""
    import langsmith.run_trees as rt

    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.delenv("LANGCHAIN_TRACING_V2", raising=False)  # the suite sets it to false
    monkeypatch.setenv("LANGSMITH_ENDPOINT", langsmith_server.url)
    monkeypatch.setenv("LANGSMITH_API_KEY", "fake")
    monkeypatch.setattr(rt, "_CLIENT", None)
    ls_utils.get_env_var.cache_clear()
    yield langsmith_server
    wait_for_all_tracers()
    monkeypatch.setattr(rt, "_CLIENT", None)
    monkeypatch.undo()
    ls_utils.get_env_var.cache_clear()


def test_env_enabled_tracing_is_seen_and_refused(
    bedrock: LocalBedrock, env_tracing: FakeLangSmith
) -> None:
    with pytest.raises(TelemetryResidencyError):
        make_chain(bedrock, refuse()).invoke({"question": SECRET})
    wait_for_all_tracers()
    assert bedrock.wire_log.runtime() == [] and env_tracing.run_posts() == []


def test_env_tracing_destination_is_where_the_runs_go(
    bedrock: LocalBedrock, env_tracing: FakeLangSmith
) -> None:
    """The endpoint we detect is the one the real client posts to (same decision)."""
    policy = ResidencyPolicy.preset("eu", telemetry_endpoints=[env_tracing.url])
    msg = make_chain(bedrock, policy).invoke({"question": SECRET})
    wait_for_all_tracers()
    assert msg.response_metadata["cris"]["trace_destinations"] == [
        {"kind": "langsmith", "endpoint": env_tracing.url, "content": True}
    ]
    assert env_tracing.run_posts(), "the env-configured client traced to the fake server"


def test_direct_model_call_is_refused_before_bedrock(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith
) -> None:
    """Without a binding the model's own policy still refuses before sending to Bedrock."""
    llm = ChatBedrockCRIS(
        model=SONNET,
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        residency_policy=refuse(),
    )
    tracer = LangChainTracer(client=client_for(langsmith_server))
    with pytest.raises(TelemetryResidencyError):
        llm.invoke(SECRET, config={"callbacks": [tracer]})
    assert bedrock.wire_log.runtime() == []


# -- compliant: hidden content, allowed endpoints ------------------------------------------------
@pytest.mark.parametrize("call", _calls(), ids=CALL_IDS)
async def test_hidden_inputs_and_outputs_are_compliant(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith, call: Any
) -> None:
    client = client_for(langsmith_server, hide_inputs=True, hide_outputs=True)
    tracer = LangChainTracer(client=client)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResidencyWarning)
        await _run(call, make_chain(bedrock, refuse()), {"callbacks": [tracer]})
    wait_for_all_tracers()
    assert len(bedrock.wire_log.runtime()) == 1
    assert langsmith_server.run_posts()  # traced, but without content
    assert SECRET not in langsmith_server.trace_text()


def test_env_hidden_inputs_and_outputs_are_compliant(
    bedrock: LocalBedrock, env_tracing: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGSMITH_HIDE_INPUTS", "true")
    monkeypatch.setenv("LANGSMITH_HIDE_OUTPUTS", "true")
    ls_utils.get_env_var.cache_clear()
    msg = make_chain(bedrock, refuse()).invoke({"question": SECRET})
    wait_for_all_tracers()
    assert msg.response_metadata["cris"]["trace_destinations"] == [
        {"kind": "langsmith", "endpoint": env_tracing.url, "content": False}
    ]
    assert env_tracing.run_posts() and SECRET not in env_tracing.trace_text()


def test_hiding_only_inputs_is_not_enough(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith
) -> None:
    tracer = LangChainTracer(client=client_for(langsmith_server, hide_inputs=True))
    with pytest.raises(TelemetryResidencyError):
        make_chain(bedrock, refuse()).invoke({"question": SECRET}, config={"callbacks": [tracer]})
    assert langsmith_server.run_posts() == []


@pytest.mark.parametrize("call", _calls(), ids=CALL_IDS)
async def test_allowed_endpoint_is_traced_and_named(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith, call: Any
) -> None:
    policy = refuse(telemetry_endpoints=[langsmith_server.url])
    tracer = LangChainTracer(client=client_for(langsmith_server))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResidencyWarning)
        result = await _run(call, make_chain(bedrock, policy), {"callbacks": [tracer]})
    wait_for_all_tracers()
    messages = result if isinstance(result, list) else [result]
    cris = next(m.response_metadata["cris"] for m in messages if "cris" in m.response_metadata)
    assert cris["trace_destinations"] == [
        {"kind": "langsmith", "endpoint": langsmith_server.url, "content": True}
    ]
    assert len(bedrock.wire_log.runtime()) == 1
    assert SECRET in langsmith_server.trace_text()  # allowed: the content went there


# -- warn and ignore ------------------------------------------------------------------------------
def test_warn_emits_one_warning_per_endpoint_and_policy(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith
) -> None:
    tracer = LangChainTracer(client=client_for(langsmith_server))
    chain = make_chain(bedrock, "eu")  # telemetry="warn" is the default
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            chain.invoke({"question": SECRET}, config={"callbacks": [tracer]})
        make_chain(bedrock, "europe").invoke({"question": SECRET}, config={"callbacks": [tracer]})
    wait_for_all_tracers()
    residency = [w for w in caught if issubclass(w.category, ResidencyWarning)]
    assert len(residency) == 2  # eu once, europe once
    text = str(residency[0].message)
    assert langsmith_server.url in text and "'eu'" in text
    assert "LANGSMITH_HIDE_INPUTS" in text and "eu.api.smith.langchain.com" in text
    assert len(bedrock.wire_log.runtime()) == 4  # warn sends


def test_ignore_neither_warns_nor_refuses(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith
) -> None:
    tracer = LangChainTracer(client=client_for(langsmith_server))
    policy = ResidencyPolicy.preset("eu", telemetry="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResidencyWarning)
        make_chain(bedrock, policy).invoke({"question": SECRET}, config={"callbacks": [tracer]})
    assert len(bedrock.wire_log.runtime()) == 1


def test_nested_binding_refuse_wins(bedrock: LocalBedrock, langsmith_server: FakeLangSmith) -> None:
    tracer = LangChainTracer(client=client_for(langsmith_server))
    inner = make_chain(bedrock, refuse())
    outer = with_residency(inner, ResidencyPolicy.preset("europe", telemetry="ignore"))
    with pytest.raises(TelemetryResidencyError):
        outer.invoke({"question": SECRET}, config={"callbacks": [tracer]})
    assert bedrock.wire_log.runtime() == [] and langsmith_server.run_posts() == []


def test_untraced_chain_is_unaffected(bedrock: LocalBedrock) -> None:
    msg = make_chain(bedrock, refuse()).invoke({"question": SECRET})
    assert msg.response_metadata["cris"]["trace_destinations"] == []


def test_audit_record_names_the_trace_destinations(
    bedrock: LocalBedrock, langsmith_server: FakeLangSmith, tmp_path: Any
) -> None:
    tracer = LangChainTracer(client=client_for(langsmith_server))
    allowed = refuse(telemetry_endpoints=[langsmith_server.url])
    with CRISCallbackHandler(audit_path=tmp_path / "audit.jsonl") as handler:
        make_chain(bedrock, allowed).invoke(
            {"question": SECRET}, config={"callbacks": [handler, tracer]}
        )
    wait_for_all_tracers()
    (state,) = handler.records()
    assert state.call["trace_destinations"] == [
        {"kind": "langsmith", "endpoint": langsmith_server.url, "content": True}
    ]
    patches = [b for m, p, b in langsmith_server.requests if m == "PATCH"]
    metadata = [b["extra"]["metadata"] for b in patches if "cris_trace_endpoints" in str(b)]
    assert metadata and metadata[0]["cris_trace_endpoints"] == [langsmith_server.url]
