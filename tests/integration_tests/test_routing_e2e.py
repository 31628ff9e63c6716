"""Wire-level proof against the local Bedrock: every request stays inside its chain's policy.

The emulator's wire log records what no AWS response shows (the Region that served each
request), so these tests check the outcome where it matters: on the wire.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_cris.binding import with_residency
from langchain_cris.catalog import default_catalog
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import FaultRule, LocalBedrock, WireRecord
from langchain_cris.errors import ResidencyError, RouteRefusedError
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table
from langchain_cris.transport.bedrock_errors import BedrockRateLimitError

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
GLOBAL = ResidencyPolicy.preset("global")
PROMPT = ChatPromptTemplate.from_messages([("human", "{question}")])


def make_llm(bedrock: LocalBedrock, **kwargs: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {
        "model": SONNET,
        "region_name": "eu-central-1",
        "endpoint_url": bedrock.endpoint_url,
        "failover_backoff": 0.0,
        **kwargs,
    }
    return ChatBedrockCRIS(**params)


def outside_policy(record: WireRecord, policy: ResidencyPolicy) -> list[str]:
    """Why a runtime request left ``policy`` (empty when it did not)."""
    problems = []
    if record.source_region not in policy.allowed_sources:
        problems.append(f"sent from {record.source_region}")
    profile = default_catalog().get(record.model_id or "")
    if profile is not None and record.source_region is not None:
        reach = profile.destinations(record.source_region)
        if not reach <= policy.regions:
            problems.append(f"{record.model_id} may reach {sorted(reach - policy.regions)}")
    if record.served_region is not None and record.served_region not in policy.regions:
        problems.append(f"served in {record.served_region}")
    for region in record.attempted_regions:
        if region not in policy.regions:
            problems.append(f"tried {region}")
    return problems


# -- the product promise, on the wire -------------------------------------------------------
def test_eu_and_global_chains_on_the_wire(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock)
    eu_chain = with_residency(PROMPT | llm | StrOutputParser(), EU)
    cheap_chain = with_residency(PROMPT | llm | StrOutputParser(), GLOBAL)
    for _ in range(20):
        eu_chain.invoke({"question": "Where is my data?"})
    eu_records = local_bedrock.wire_log.runtime()
    for _ in range(5):
        cheap_chain.invoke({"question": "Where is my data?"})
    global_records = local_bedrock.wire_log.runtime()[len(eu_records) :]

    assert len(eu_records) == 20 and len(global_records) == 5
    for record in eu_records:
        assert record.model_id == "eu." + SONNET
        assert record.source_region in EU.allowed_sources
        assert record.served_region in EU.regions
        assert outside_policy(record, EU) == []
    assert len({r.served_region for r in eu_records}) > 1  # really routed across the EU
    assert all(r.model_id == "global." + SONNET for r in global_records)


def test_request_metadata_reaches_the_invocation_log(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock, request_metadata={"team": "search"})
    msg = with_residency(llm, EU).invoke("hi")
    cris = msg.response_metadata["cris"]
    logs = [
        r
        for r in local_bedrock.invocation_logs("eu-central-1", include_pending=True)
        if r["requestId"] == cris["request_id"]
    ]
    assert len(logs) == 1
    assert logs[0]["requestMetadata"] == {
        "team": "search",
        "cris_policy": "eu",
        "cris_policy_digest": EU.digest,
        "lc_run_id": cris["run_id"],
    }
    assert logs[0]["inferenceRegion"] in EU.regions


def test_refusals_send_nothing(local_bedrock: LocalBedrock) -> None:
    llm = make_llm(local_bedrock, model="global." + SONNET)
    with pytest.raises(RouteRefusedError):
        with_residency(llm, EU).invoke("hi")
    with pytest.raises(RouteRefusedError):
        with_residency(make_llm(local_bedrock, region_name="eu-west-2"), EU).invoke("hi")
    # nothing sent to bedrock-runtime (the live catalog may have asked the control plane)
    assert local_bedrock.wire_log.runtime() == []


def test_audit_mode_sends_and_records(local_bedrock: LocalBedrock) -> None:
    audit = ResidencyPolicy.preset("eu", mode="audit")
    msg = with_residency(make_llm(local_bedrock, model="global." + SONNET), audit).invoke("hi")
    assert local_bedrock.wire_log.runtime()[0].model_id == "global." + SONNET
    assert msg.response_metadata["cris"]["violations"]


# -- failover -------------------------------------------------------------------------------
def test_throttled_call_fails_over_inside_the_policy(local_bedrock: LocalBedrock) -> None:
    local_bedrock.script.fault("throttle", times=2)
    msg = with_residency(make_llm(local_bedrock), EU).invoke("hi")
    attempts = msg.response_metadata["cris"]["attempts"]
    records = local_bedrock.wire_log.runtime()
    assert [a["outcome"] for a in attempts] == ["ThrottlingException"] * 2 + ["ok"]
    assert [r.outcome for r in records] == [a["outcome"] for a in attempts]
    assert [r.request_id for r in records] == [a["request_id"] for a in attempts]
    assert [r.source_region for r in records] == [a["source_region"] for a in attempts]
    assert len({r.source_region for r in records}) == 3
    assert all(outside_policy(r, EU) == [] for r in records)


def test_regional_outage_fails_over(local_bedrock: LocalBedrock) -> None:
    local_bedrock.inject("service_unavailable", region="eu-west-3")
    llm = make_llm(local_bedrock)
    chain = with_residency(llm, EU)
    for _ in range(30):
        cris = chain.invoke("hi").response_metadata["cris"]
        assert cris["attempts"][-1]["outcome"] == "ok"
    records = local_bedrock.wire_log.runtime()
    assert any(r.outcome == "ServiceUnavailableException" for r in records)
    assert all(outside_policy(r, EU) == [] for r in records)


def test_in_region_throttling_fails_over_to_another_source(local_bedrock: LocalBedrock) -> None:
    local_bedrock.throttle("eu-central-1")
    llm = make_llm(local_bedrock, model="amazon.titan-text-express-v1")
    cris = with_residency(llm, EU).invoke("hi").response_metadata["cris"]
    assert cris["route_kind"] == "in_region"
    assert cris["source_region"] != "eu-central-1"
    assert cris["served_region"] == cris["source_region"]
    served = [r.served_region for r in local_bedrock.wire_log.runtime() if r.outcome == "ok"]
    assert served == [cris["source_region"]]


def test_exhausted_failover_raises_a_rate_limit_error(local_bedrock: LocalBedrock) -> None:
    local_bedrock.script.fault("throttle", times=10)
    llm = make_llm(local_bedrock, max_failover_attempts=2)
    with pytest.raises(BedrockRateLimitError) as info:
        with_residency(llm, EU).invoke("hi")
    assert len(info.value.cris_attempts) == 3  # type: ignore[attr-defined]
    assert len(local_bedrock.wire_log.runtime()) == 3


def test_stream_fails_over_before_the_first_token(local_bedrock: LocalBedrock) -> None:
    local_bedrock.script.fault("stream_error", after_events=1, exception="throttlingException")
    chain = with_residency(make_llm(local_bedrock), EU)
    chunks = list(chain.stream("Tell me a story"))
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    attempts = full.response_metadata["cris"]["attempts"]
    assert [a["outcome"] for a in attempts] == ["ThrottlingException", "ok"]
    assert len(local_bedrock.wire_log.runtime()) == 2
    assert "deterministic reply" in full.text or full.text


def test_stream_does_not_fail_over_after_the_first_token(local_bedrock: LocalBedrock) -> None:
    local_bedrock.script.fault("stream_error", after_events=4, exception="throttlingException")
    chain = with_residency(make_llm(local_bedrock), EU)
    received = []
    with pytest.raises(BedrockRateLimitError):
        for chunk in chain.stream("Tell me a long story about Frankfurt"):
            received.append(chunk.text)
    assert "".join(received)  # tokens reached the caller, so no second attempt
    assert len(local_bedrock.wire_log.runtime()) == 1


async def test_async_stream_fails_over(local_bedrock: LocalBedrock) -> None:
    local_bedrock.script.fault("stream_cut", after_events=1)
    chain = with_residency(make_llm(local_bedrock), EU)
    chunks = [c async for c in chain.astream("hi")]
    cris = next(c.response_metadata["cris"] for c in chunks if "cris" in c.response_metadata)
    assert [a["outcome"] for a in cris["attempts"]] == ["ConnectionError", "ok"]


# -- the property: zero requests outside the policy -----------------------------------------
_ALL_REGIONS = sorted(region_table().partition_regions("aws"))
_PRESETS = ["eu", "europe", "us", "apac", "jp", "au", "ca", "global"]
_MODELS = sorted(
    {p.model_id for p in default_catalog() if not p.embedding} | {"amazon.titan-text-express-v1"}
)
_EMBEDDING = {p.model_id for p in default_catalog() if p.embedding}
_PROFILE_IDS = sorted(p.profile_id for p in default_catalog() if not p.embedding)


@st.composite
def policies(draw: st.DrawFn) -> ResidencyPolicy:
    if draw(st.integers(0, 3)) > 0:  # presets are what users run; custom sets probe edges
        return ResidencyPolicy.preset(
            draw(st.sampled_from(_PRESETS)), allow_in_region=draw(st.booleans())
        )
    regions = draw(st.sets(st.sampled_from(_ALL_REGIONS), min_size=1, max_size=12))
    sources = draw(st.sets(st.sampled_from(sorted(regions)), max_size=4))
    return ResidencyPolicy(
        name="generated",
        regions=frozenset(regions),
        source_regions=frozenset(sources),
        allow_in_region=draw(st.booleans()),
    )


faults = st.lists(
    st.builds(
        FaultRule,
        kind=st.sampled_from(
            ["throttle", "service_unavailable", "model_not_ready", "internal_error", "reset"]
        ),
        region=st.one_of(st.none(), st.sampled_from(_ALL_REGIONS)),
        probability=st.sampled_from([0.1, 0.3, 0.6, 1.0]),
    ),
    max_size=3,
)

CALLS_PER_EXAMPLE = 40
EXAMPLES = 300


@pytest.fixture(scope="module")
def shared_bedrock() -> Iterator[LocalBedrock]:
    with LocalBedrock(seed=0) as bedrock:
        yield bedrock


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 12,000 calls: a bound on a hang, not a speed target
def test_property_no_request_ever_leaves_the_policy(shared_bedrock: LocalBedrock) -> None:
    bedrock = shared_bedrock
    totals = {"calls": 0, "ok": 0, "refused": 0, "bedrock_errors": 0, "wire": 0}
    clients: dict[str, ChatBedrockCRIS] = {}
    errors: collections.Counter[str] = collections.Counter()

    def llm_for(source: str) -> ChatBedrockCRIS:
        if source not in clients:  # reuse clients across examples: one pool per source
            clients[source] = make_llm(bedrock, region_name=source, max_failover_attempts=3)
        return clients[source]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        policy=policies(),
        model=st.one_of(  # mostly base models (routed), sometimes explicit profile ids
            st.sampled_from(_MODELS), st.sampled_from(_MODELS), st.sampled_from(_PROFILE_IDS)
        ),
        data=st.data(),
        injected=faults,
        streaming=st.booleans(),
    )
    def check(
        policy: ResidencyPolicy,
        model: str,
        data: st.DataObject,
        injected: list[FaultRule],
        streaming: bool,
    ) -> None:
        # Half the time, a model that has a profile of the policy's own geography.
        fitting = sorted(
            {p.model_id for p in default_catalog() if p.geography == policy.name} - _EMBEDDING
        )
        if fitting and data.draw(st.booleans()):
            model = data.draw(st.sampled_from(fitting))
        # Mostly an allowed source (calls get sent), sometimes any Region (refusals).
        source = data.draw(
            st.one_of(
                st.sampled_from(sorted(policy.allowed_sources)),
                st.sampled_from(sorted(policy.allowed_sources)),
                st.sampled_from(_ALL_REGIONS),
            )
        )
        bedrock.config.faults[:] = injected
        before = len(bedrock.wire_log)
        chain = with_residency(llm_for(source), policy)
        for i in range(CALLS_PER_EXAMPLE):
            totals["calls"] += 1
            sent_before = len(bedrock.wire_log.runtime())
            try:
                if streaming and i % 5 == 0:
                    list(chain.stream("hi", model=model))
                else:
                    msg = chain.invoke("hi", model=model)
                    cris = msg.response_metadata["cris"]
                    assert cris["source_region"] in policy.allowed_sources
                    assert set(cris["destination_regions"]) <= policy.regions
                totals["ok"] += 1
            except ResidencyError:
                totals["refused"] += 1
                assert len(bedrock.wire_log.runtime()) == sent_before, "refused after sending"
            except Exception as exc:  # Bedrock errors once every in-policy attempt failed
                totals["bedrock_errors"] += 1
                errors[type(exc).__name__] += 1
                assert hasattr(exc, "cris_attempts"), f"untracked failure {exc!r}"
        records = bedrock.wire_log.records()[before:]
        totals["wire"] += len(records)
        for record in records:
            assert outside_policy(record, policy) == [], (record, str(policy))

    try:
        check()
    finally:
        bedrock.config.faults.clear()
    print("property totals:", totals, dict(errors))
    assert totals["calls"] >= 10_000
    # The generator must exercise every outcome, or the property proves little.
    assert totals["ok"] > 1000 and totals["refused"] > 1000 and totals["bedrock_errors"] > 10
    assert totals["wire"] > 1000


# -- the demo -------------------------------------------------------------------------------
def test_demo_runs_on_the_local_bedrock(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from langchain_cris.cli import main

    assert main(["demo", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    eu_row, global_row, refused_row, refusal = lines
    assert eu_row["profile sent"] == "eu." + SONNET
    assert eu_row["served in"] in EU.regions
    assert global_row["profile sent"] == "global." + SONNET
    # the global row's served Region is reconciled from CloudTrail, not assumed
    from langchain_cris.regions import region_table

    assert global_row["served in"] in region_table().partition_regions("aws")
    assert refused_row["answer"] == "REFUSED" and refused_row["served in"] == "not sent"
    assert refusal["refusal"].startswith("ResidencyViolation:")
    assert all("/" in row["tokens in/out"] for row in (eu_row, global_row))
