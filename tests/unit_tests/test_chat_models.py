"""Unit tests of ``ChatBedrockCRIS``: the standard suite plus the decision logic.

Sockets are blocked here. The seam is the per-Region client pool: tests swap in a
``FakeBedrock`` (one fake bedrock-runtime client per source Region) that records what would
have been sent and answers from a script.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, EventStreamError
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ModelInvalidRequestError, ModelRateLimitError
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.errors import (
    MissingSourceRegionError,
    NoPolicyError,
    PolicyError,
    RouteRefusedError,
    UnknownRegionError,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.transport.bedrock_errors import (
    BedrockConnectionError,
    BedrockInvalidRequestError,
    BedrockRateLimitError,
    error_code,
    translate_error,
)
from langchain_cris.transport.clients import RuntimeClientPool

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
EU = ResidencyPolicy.preset("eu")


# -- the fake transport ---------------------------------------------------------------------
def client_error(code: str, op: str = "Converse", status: int = 429) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} from the fake"},
            "ResponseMetadata": {"RequestId": f"err-{uuid.uuid4()}", "HTTPStatusCode": status},
        },
        op,
    )


Reply = dict[str, Any] | BaseException | Callable[[dict[str, Any]], Any]


class FakeRuntime:
    """A bedrock-runtime client for one source Region, answering from a shared script."""

    def __init__(self, region: str, owner: FakeBedrock) -> None:
        self.region = region
        self.owner = owner
        self.meta = type("Meta", (), {"region_name": region})()

    def converse(self, **params: Any) -> dict[str, Any]:
        reply = self.owner.next_reply(self.region, "Converse", params)
        rid = str(uuid.uuid4())
        text = reply.get("text", "hello from " + self.region)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7},
            "metrics": {"latencyMs": 1},
            "ResponseMetadata": {"RequestId": rid, "HTTPStatusCode": 200},
        }

    def converse_stream(self, **params: Any) -> dict[str, Any]:
        reply = self.owner.next_reply(self.region, "ConverseStream", params)
        rid = str(uuid.uuid4())
        fail_after = reply.get("fail_after")  # number of events before an exception event

        def events() -> Iterator[dict[str, Any]]:
            evs: list[dict[str, Any]] = [
                {"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0}},
                {"contentBlockDelta": {"delta": {"text": "lo"}, "contentBlockIndex": 0}},
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": "end_turn"}},
                {
                    "metadata": {
                        "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
                        "metrics": {"latencyMs": 1},
                    }
                },
            ]
            for i, ev in enumerate(evs):
                if fail_after is not None and i == fail_after:
                    raise EventStreamError(
                        {"Error": {"Code": "throttlingException", "Message": "slow down"}},
                        "ConverseStream",
                    )
                yield ev

        return {"stream": events(), "ResponseMetadata": {"RequestId": rid}}


class FakeBedrock:
    """Per-Region fake clients plus a log of every send (region, operation, params)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.rules: dict[str, list[Reply]] = {}  # region -> replies (last one repeats)
        self.created: list[str] = []
        self._lock = threading.Lock()

    def client(self, region: str) -> FakeRuntime:
        with self._lock:
            self.created.append(region)
        return FakeRuntime(region, self)

    def script(self, region: str, *replies: Reply) -> None:
        self.rules[region] = list(replies)

    def next_reply(self, region: str, op: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.sent.append((region, op, params))
            queue = self.rules.get(region)
            reply: Reply = {}
            if queue:
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return dict(reply(params))
        return reply

    @property
    def model_ids(self) -> list[str]:
        return [p["modelId"] for _, _, p in self.sent]


def make_llm(fake: FakeBedrock | None = None, **kwargs: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {"model": SONNET, "region_name": "eu-central-1", **kwargs}
    params.setdefault("failover_backoff", 0.0)
    llm = ChatBedrockCRIS(**params)
    if fake is not None:
        llm._cris.pool = RuntimeClientPool(fake.client)
    return llm


@pytest.fixture
def fake() -> FakeBedrock:
    return FakeBedrock()


class ErrorRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.starts = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


# -- the standard suite ---------------------------------------------------------------------
class TestChatBedrockCRISStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatBedrockCRIS]:
        return ChatBedrockCRIS

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": SONNET, "region_name": "eu-central-1", "residency_policy": EU}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"AWS_ACCESS_KEY_ID": "key_id", "AWS_SECRET_ACCESS_KEY": "secret_key"},
            {"model": SONNET, "region_name": "eu-central-1"},
            {"aws_access_key_id": "key_id", "aws_secret_access_key": "secret_key"},
        )

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return HAIKU

    # xfail: langchain-core 1.8's ``load()`` deserialises only classes on its built-in
    # allowlist (``ALL_SERIALIZABLE_MAPPINGS``), even with ``allowed_objects="all"``; no
    # out-of-tree integration is on it, so this round trip is refused by design. The dumpd
    # half still runs (the snapshot), and test_serialization_round_trip below does the round
    # trip with an explicit ``allowed_objects=[ChatBedrockCRIS]``.
    @pytest.mark.xfail(reason="load() allowlist excludes out-of-tree classes", strict=True)
    def test_serdes(self, model: Any, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


# -- construction -------------------------------------------------------------------------
def test_construction_builds_no_client_and_calls_nothing() -> None:
    llm = make_llm()
    assert llm._cris.pool.created == 0
    assert llm._cris.pool.regions() == []
    # The application-profile lookup langchain-aws does in its constructor is answered
    # from the catalog (sockets are blocked: a real GetInferenceProfile would fail here).
    answer = llm.bedrock_client.get_inference_profile(inferenceProfileIdentifier="nope")
    assert answer == {"models": []}


def test_user_client_serves_its_own_region(fake: FakeBedrock) -> None:
    own = fake.client("eu-central-1")
    llm = ChatBedrockCRIS(model=SONNET, client=own, residency_policy=EU)
    assert llm.runtime_client("eu-central-1") is own
    assert llm.invoke("hi").response_metadata["cris"]["source_region"] == "eu-central-1"


def test_serialization_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.load import dumpd, load

    llm = make_llm(residency_policy=EU, failover=["eu-west-1"], catalog=None)
    data = dumpd(llm)
    assert data["kwargs"]["residency_policy"] == EU.to_dict()
    assert "catalog" not in data["kwargs"] and "client" not in data["kwargs"]
    back = load(
        data,
        valid_namespaces=["langchain_cris"],
        allowed_objects=[ChatBedrockCRIS],
        secrets_from_env=True,
    )
    assert isinstance(back, ChatBedrockCRIS)
    assert back.residency_policy == EU and back.failover == ["eu-west-1"]


# -- policy lookup order --------------------------------------------------------------------
def test_no_policy_anywhere_is_a_clear_error_and_sends_nothing(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANGCHAIN_CRIS_POLICY", raising=False)
    llm = make_llm(fake)
    recorder = ErrorRecorder()
    with pytest.raises(NoPolicyError, match="no residency policy") as info:
        llm.invoke("hi", config={"callbacks": [recorder]})
    assert "with_residency" in str(info.value) and "global" in str(info.value)
    assert fake.sent == []
    assert recorder.starts == 1 and recorder.errors == [info.value]  # the run ends in error


def test_env_policy_is_the_last_fallback(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGCHAIN_CRIS_POLICY", "global")
    llm = make_llm(fake)
    assert llm.invoke("hi").response_metadata["cris"]["policy"] == "global"
    llm_eu = make_llm(fake, residency_policy=EU)
    assert llm_eu.invoke("hi").response_metadata["cris"]["policy"] == "eu"
    assert fake.model_ids == ["global." + SONNET, "eu." + SONNET]


def test_bad_env_policy_names_the_variable(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGCHAIN_CRIS_POLICY", "europa")
    with pytest.raises(PolicyError, match="LANGCHAIN_CRIS_POLICY"):
        make_llm(fake).invoke("hi")
    assert fake.sent == []


def test_metadata_beats_configurable_beats_model_default(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=ResidencyPolicy.preset("global"))
    both = {"metadata": {"cris_policy": "eu"}, "configurable": {"cris_policy": "europe"}}
    assert llm.invoke("hi", config=both).response_metadata["cris"]["policy"] == "eu"  # type: ignore[arg-type]
    conf = {"configurable": {"cris_policy": "europe"}}
    assert llm.invoke("hi", config=conf).response_metadata["cris"]["policy"] == "europe"  # type: ignore[arg-type]
    assert llm.invoke("hi").response_metadata["cris"]["policy"] == "global"


def test_policy_from_run_manager_metadata_on_generate(fake: FakeBedrock) -> None:
    """``generate()`` bypasses invoke(): the policy then comes from run_manager.metadata."""
    from langchain_core.messages import HumanMessage

    llm = make_llm(fake)
    result = llm.generate([[HumanMessage("hi")]], metadata={"cris_policy": EU.to_dict()})
    message = result.generations[0][0].message
    assert message.response_metadata["cris"]["policy"] == "eu"
    assert fake.model_ids == ["eu." + SONNET]


def test_metadata_accepts_dict_object_and_preset(fake: FakeBedrock) -> None:
    llm = make_llm(fake)
    for spec in ("eu", EU, EU.to_dict()):
        msg = llm.invoke("hi", config={"metadata": {"cris_policy": spec}})
        assert msg.response_metadata["cris"]["policy_digest"] == EU.digest


# -- routing and metadata -------------------------------------------------------------------
def test_response_metadata_contract(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=EU)
    msg = llm.invoke("hi")
    cris = msg.response_metadata["cris"]
    assert msg.response_metadata["model_name"] == "eu." + SONNET
    assert set(cris) == {
        "policy", "policy_digest", "mode", "model_id", "profile_id", "profile_arn",
        "base_model_id", "geography", "route_kind", "source_region", "destination_regions",
        "allowed_regions", "request_id", "served_region", "violations", "attempts", "run_id",
        "cost",
        "guardrail", "trace_destinations",
    }  # fmt: skip
    assert cris["guardrail"] is None
    assert cris["model_id"] == cris["profile_id"] == "eu." + SONNET
    assert cris["profile_arn"].endswith(":inference-profile/eu." + SONNET)
    assert cris["base_model_id"] == SONNET
    assert cris["geography"] == "eu" and cris["route_kind"] == "profile"
    assert cris["source_region"] == "eu-central-1"
    assert set(cris["destination_regions"]) <= set(cris["allowed_regions"]) == EU.regions
    assert cris["served_region"] is None  # a profile call: only CloudTrail knows
    assert cris["violations"] == []
    assert cris["request_id"] == msg.response_metadata["ResponseMetadata"]["RequestId"]
    assert [a["outcome"] for a in cris["attempts"]] == ["ok"]
    assert cris["attempts"][0]["request_id"] == cris["request_id"]
    uuid.UUID(cris["run_id"])


def test_in_region_route_knows_its_served_region(fake: FakeBedrock) -> None:
    llm = make_llm(fake, model="amazon.titan-text-express-v1", residency_policy=EU)
    cris = llm.invoke("hi").response_metadata["cris"]
    assert cris["route_kind"] == "in_region"
    assert cris["served_region"] == cris["source_region"] == "eu-central-1"
    assert cris["profile_id"] is None and cris["profile_arn"] is None


def test_ls_model_name_shows_the_routed_id(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=EU)
    assert llm._get_ls_params()["ls_model_name"] == "eu." + SONNET
    assert llm._get_ls_params(model=HAIKU)["ls_model_name"] == "eu." + HAIKU
    # A model the policy refuses keeps the requested name; the refusal surfaces in the run.
    assert llm._get_ls_params(model="global." + SONNET)["ls_model_name"] == "global." + SONNET


def test_traced_ls_model_name_and_invocation_params(fake: FakeBedrock) -> None:
    seen: dict[str, Any] = {}

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            seen.update(kw)

    llm = make_llm(fake)
    llm.invoke("hi", config={"callbacks": [Spy()], "metadata": {"cris_policy": "global"}})
    assert seen["metadata"]["ls_model_name"] == "global." + SONNET
    assert "_cris_call" not in seen["invocation_params"]
    assert "_cris_call" not in str(seen.get("options"))


def test_model_override_is_resolved_under_the_policy(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=EU)
    msg = llm.invoke("hi", model=HAIKU)
    assert fake.model_ids == ["eu." + HAIKU]
    assert msg.response_metadata["model_name"] == "eu." + HAIKU
    assert msg.response_metadata["cris"]["base_model_id"] == HAIKU
    with pytest.raises(RouteRefusedError):
        llm.invoke("hi", model_id="global." + HAIKU)  # any spelling of the override is checked
    assert len(fake.sent) == 1


def test_request_metadata_is_stamped_and_ours_win(fake: FakeBedrock) -> None:
    llm = make_llm(
        fake,
        residency_policy=ResidencyPolicy(name="acme eu (prod)", regions=EU.regions),
        request_metadata={"team": "search", "cris_policy": "spoofed"},
    )
    msg = llm.invoke("hi", config={"run_id": uuid.UUID(int=7)})
    sent = fake.sent[0][2]["requestMetadata"]
    assert sent["team"] == "search"
    assert sent["cris_policy"] == "acme eu _prod_"  # sanitised to Bedrock's allowed characters
    assert sent["cris_policy_digest"] == msg.response_metadata["cris"]["policy_digest"]
    assert sent["lc_run_id"] == str(uuid.UUID(int=7)) == msg.response_metadata["cris"]["run_id"]
    llm.invoke("hi", request_metadata={"per_call": "yes"})
    assert fake.sent[1][2]["requestMetadata"]["per_call"] == "yes"
    assert "team" not in fake.sent[1][2]["requestMetadata"]  # per call replaces, as upstream


def test_audit_mode_sends_and_records_the_violation(fake: FakeBedrock) -> None:
    audit = ResidencyPolicy.preset("eu", mode="audit")
    llm = make_llm(fake, model="global." + SONNET, residency_policy=audit)
    cris = llm.invoke("hi").response_metadata["cris"]
    assert fake.model_ids == ["global." + SONNET]
    assert cris["mode"] == "audit" and cris["violations"]
    assert any("outside the policy" in v for v in cris["violations"])


def test_enforce_refuses_before_sending_inside_the_run(fake: FakeBedrock) -> None:
    llm = make_llm(fake, model="global." + SONNET, residency_policy=EU)
    recorder = ErrorRecorder()
    with pytest.raises(RouteRefusedError) as info:
        llm.invoke("hi", config={"callbacks": [recorder]})
    assert fake.sent == []
    assert recorder.errors == [info.value]
    assert info.value.policy_name == "eu" and info.value.outside_regions


def test_model_without_compliant_profile(fake: FakeBedrock) -> None:
    llm = make_llm(fake, model="amazon.nova-premier-v1:0", residency_policy=EU)
    with pytest.raises(RouteRefusedError, match="nova-premier"):
        llm.invoke("hi")
    assert fake.sent == []


def test_unknown_source_region(fake: FakeBedrock) -> None:
    llm = make_llm(fake, region_name="eu-centrall-1", residency_policy=EU)
    with pytest.raises(UnknownRegionError, match="eu-central-1"):
        llm.invoke("hi")
    assert fake.sent == [] and fake.created == []


def test_missing_source_region(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    llm = make_llm(fake, region_name=None, residency_policy=EU)
    with pytest.raises(MissingSourceRegionError, match="region_name"):
        llm.invoke("hi")
    assert fake.sent == []


def test_source_region_from_environment(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    llm = make_llm(fake, region_name=None, residency_policy=EU)
    assert llm.invoke("hi").response_metadata["cris"]["source_region"] == "eu-west-3"


# -- clients --------------------------------------------------------------------------------
def test_one_client_per_region_shared_across_threads_and_copies(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=EU)
    gate = threading.Barrier(8)

    def call(_: int) -> str:
        gate.wait()
        return str(llm.invoke("hi").response_metadata["cris"]["source_region"])

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, range(32))) == {"eu-central-1"}
    assert fake.created == ["eu-central-1"]
    assert llm.bind_tools([]).invoke("hi") is not None  # a binding reuses the same pool
    assert fake.created == ["eu-central-1"]


def test_real_clients_use_low_botocore_retries_and_endpoint() -> None:
    llm = make_llm(endpoint_url="http://127.0.0.1:9", residency_policy=EU)
    client = llm.runtime_client("eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.config.retries["total_max_attempts"] == 1  # failover does the retrying
    assert llm.runtime_client("eu-west-1") is client
    tuned = make_llm(max_retries=5, residency_policy=EU).runtime_client("eu-west-1")
    assert tuned.meta.config.retries["total_max_attempts"] == 6  # the user's setting wins


# -- failover -------------------------------------------------------------------------------
def test_throttling_fails_over_to_another_allowed_source(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", client_error("ThrottlingException"))
    llm = make_llm(fake, residency_policy=EU)
    cris = llm.invoke("hi").response_metadata["cris"]
    attempts = cris["attempts"]
    assert [a["outcome"] for a in attempts] == ["ThrottlingException", "ok"]
    assert attempts[0]["source_region"] == "eu-central-1"
    assert attempts[0]["request_id"].startswith("err-")
    assert attempts[1]["source_region"] in EU.regions - {"eu-central-1"}
    assert cris["source_region"] == attempts[1]["source_region"]
    assert cris["model_id"] == "eu." + SONNET  # same profile, same geography
    assert cris["profile_arn"].startswith(f"arn:aws:bedrock:{cris['source_region']}:")
    assert {r for r, _, _ in fake.sent} <= EU.regions


@pytest.mark.parametrize(
    "failure",
    [
        client_error("ServiceUnavailableException", status=503),
        client_error("ModelNotReadyException"),
        client_error("InternalServerException", status=500),
        EndpointConnectionError(endpoint_url="https://bedrock-runtime.eu-central-1"),
    ],
)
def test_each_transient_failure_fails_over(fake: FakeBedrock, failure: Exception) -> None:
    fake.script("eu-central-1", failure)
    cris = make_llm(fake, residency_policy=EU).invoke("hi").response_metadata["cris"]
    assert cris["attempts"][0]["outcome"] == (error_code(failure) or "")
    assert cris["attempts"][-1]["outcome"] == "ok"


def test_failover_false_stays_in_the_source_region(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", client_error("ThrottlingException"))
    llm = make_llm(fake, residency_policy=EU, failover=False, max_failover_attempts=2)
    with pytest.raises(BedrockRateLimitError) as info:
        llm.invoke("hi")
    assert {r for r, _, _ in fake.sent} == {"eu-central-1"}
    assert len(fake.sent) == 3
    err = info.value
    assert isinstance(err, ClientError) and isinstance(err, ModelRateLimitError)
    assert err.response["Error"]["Code"] == "ThrottlingException"
    assert isinstance(err.__cause__, ClientError)
    assert [a["outcome"] for a in err.cris_attempts] == ["ThrottlingException"] * 3  # type: ignore[attr-defined]


def test_explicit_failover_list_narrows_the_sources(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", client_error("ThrottlingException"))
    llm = make_llm(fake, residency_policy=EU, failover=["eu-west-3"])
    cris = llm.invoke("hi").response_metadata["cris"]
    assert [a["source_region"] for a in cris["attempts"]] == ["eu-central-1", "eu-west-3"]


def test_failover_list_outside_the_policy_is_never_used(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", client_error("ThrottlingException"))
    llm = make_llm(fake, residency_policy=EU, failover=["eu-west-2", "us-east-1"])
    with pytest.raises(BedrockRateLimitError):
        llm.invoke("hi")
    assert {r for r, _, _ in fake.sent} == {"eu-central-1"}


def test_non_transient_errors_do_not_fail_over(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", client_error("ValidationException", status=400))
    with pytest.raises(BedrockInvalidRequestError) as info:
        make_llm(fake, residency_policy=EU).invoke("hi")
    assert len(fake.sent) == 1
    assert isinstance(info.value, ModelInvalidRequestError)


def test_attempts_are_bounded(fake: FakeBedrock) -> None:
    for region in EU.regions:
        fake.script(region, client_error("ThrottlingException"))
    with pytest.raises(BedrockRateLimitError):
        make_llm(fake, residency_policy=EU, max_failover_attempts=4).invoke("hi")
    assert len(fake.sent) == 5
    assert len({r for r, _, _ in fake.sent}) == 5  # fresh candidates first


# -- streaming ------------------------------------------------------------------------------
def test_stream_carries_cris_metadata_once(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=EU)
    chunks = list(llm.stream("hi"))
    assert sum("cris" in c.response_metadata for c in chunks) == 1
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert isinstance(full, AIMessageChunk)
    assert full.text == "Hello"
    assert full.response_metadata["model_name"] == "eu." + SONNET
    cris = full.response_metadata["cris"]
    assert cris["request_id"] == full.response_metadata["ResponseMetadata"]["RequestId"]
    assert cris["attempts"][0]["request_id"] == cris["request_id"]


def test_stream_fails_over_before_the_first_token(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", {"fail_after": 1})  # messageStart, then throttled
    llm = make_llm(fake, residency_policy=EU)
    chunks = list(llm.stream("hi"))
    text = "".join(c.text for c in chunks)
    assert text == "Hello"  # nothing of the abandoned attempt leaked
    cris = next(c.response_metadata["cris"] for c in chunks if "cris" in c.response_metadata)
    assert [a["outcome"] for a in cris["attempts"]] == ["ThrottlingException", "ok"]


def test_stream_does_not_fail_over_after_a_token(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", {"fail_after": 2})  # "Hel" reached the caller
    llm = make_llm(fake, residency_policy=EU)
    received: list[str] = []
    with pytest.raises(BedrockRateLimitError) as info:
        for chunk in llm.stream("hi"):
            received.append(chunk.text)
    assert "".join(received) == "Hel"
    assert len(fake.sent) == 1
    assert info.value.cris_attempts[0]["outcome"] == "ThrottlingException"  # type: ignore[attr-defined]


def test_streaming_flag_uses_the_same_decision(fake: FakeBedrock) -> None:
    llm = make_llm(fake, residency_policy=EU, streaming=True)
    msg = llm.invoke("hi")
    assert fake.sent[0][1] == "ConverseStream"
    assert msg.response_metadata["cris"]["model_id"] == "eu." + SONNET


# -- async (default executor path, same decision code) --------------------------------------
async def test_async_paths_route_and_fail_over(fake: FakeBedrock) -> None:
    fake.script("eu-central-1", client_error("ThrottlingException"), {})
    llm = make_llm(fake)
    config: Any = {"metadata": {"cris_policy": "eu"}}
    msg = await llm.ainvoke("hi", config=config)
    assert [a["outcome"] for a in msg.response_metadata["cris"]["attempts"]] == [
        "ThrottlingException",
        "ok",
    ]
    chunks = [c async for c in llm.astream("hi", config=config)]
    assert any("cris" in c.response_metadata for c in chunks)
    results = await asyncio.gather(*(llm.ainvoke("hi", config=config) for _ in range(5)))
    assert all(isinstance(r, AIMessage) for r in results)
    assert set(fake.model_ids) == {"eu." + SONNET}


# -- error translation ----------------------------------------------------------------------
def test_error_table() -> None:
    throttled = translate_error(client_error("ThrottlingException"))
    assert isinstance(throttled, BedrockRateLimitError)
    stream = EventStreamError({"Error": {"Code": "throttlingException"}}, "ConverseStream")
    assert error_code(stream) == "ThrottlingException"
    assert isinstance(translate_error(stream), ModelRateLimitError)
    unknown = client_error("SomethingNewException", status=400)
    assert translate_error(unknown) is unknown
    conn = translate_error(EndpointConnectionError(endpoint_url="x"))
    assert isinstance(conn, BedrockConnectionError)
    import pickle

    assert type(pickle.loads(pickle.dumps(throttled))) is BedrockRateLimitError
