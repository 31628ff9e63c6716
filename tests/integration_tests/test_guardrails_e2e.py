"""Guardrails in the route, proven on the local Bedrock's wire log.

A guardrail with a guardrail profile is evaluated in the profile's destination Regions for the
source Region; the call is refused before sending when those leave the policy, and failover
never takes the call to a source Region where the guardrail would be invalid.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.errors import GuardrailLookupError, GuardrailResidencyViolation
from langchain_cris.guardrails import GuardrailCatalog, bundled_guardrail_profiles
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.tracing import CRISCallbackHandler

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TITAN = "amazon.titan-text-express-v1"  # on demand in eu-central-1: an in-Region route
EU = ResidencyPolicy.preset("eu")
FRANKFURT = ResidencyPolicy(name="frankfurt", regions={"eu-central-1"})
EU_GUARDRAIL = "eu.guardrail.v1:0"
EU_GUARDRAIL_REGIONS = sorted(
    bundled_guardrail_profiles()[EU_GUARDRAIL].destinations("eu-central-1")
)


@pytest.fixture
def bedrock() -> Iterator[LocalBedrock]:
    with LocalBedrock(seed=0) as lb:
        yield lb


def create_guardrail(
    bedrock: LocalBedrock, *, profile: str | None, region: str = "eu-central-1", name: str = "g"
) -> str:
    kwargs: dict[str, Any] = {
        "name": name,
        "blockedInputMessaging": "Sorry, I cannot talk about that.",
        "blockedOutputsMessaging": "Sorry, the answer was blocked.",
        "wordPolicyConfig": {"wordsConfig": [{"text": "forbidden"}]},
    }
    if profile is not None:
        kwargs["crossRegionConfig"] = {"guardrailProfileIdentifier": profile}
    created = bedrock.client("bedrock", region).create_guardrail(**kwargs)
    return str(created["guardrailId"])


def make_llm(bedrock: LocalBedrock, guardrail_id: str | None, **kwargs: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {
        "model": SONNET,
        "region_name": "eu-central-1",
        "endpoint_url": bedrock.endpoint_url,
        "failover_backoff": 0.0,
        "guardrail_catalog": GuardrailCatalog.bundled(),
        **kwargs,
    }
    if guardrail_id is not None:
        params["guardrail_config"] = {
            "guardrailIdentifier": guardrail_id,
            "guardrailVersion": "DRAFT",
        }
    return ChatBedrockCRIS(**params)


def runtime(bedrock: LocalBedrock) -> list[Any]:
    return bedrock.wire_log.runtime()


# -- the local Bedrock's control plane ------------------------------------------------------------
def test_create_get_list_guardrails_with_cross_region_config(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    client = bedrock.client("bedrock", "eu-central-1")
    got = client.get_guardrail(guardrailIdentifier=gid, guardrailVersion="DRAFT")
    assert got["crossRegionDetails"]["guardrailProfileId"] == EU_GUARDRAIL
    assert got["crossRegionDetails"]["guardrailProfileArn"] == (
        f"arn:aws:bedrock:eu-central-1:{bedrock.config.account_id}:guardrail-profile/{EU_GUARDRAIL}"
    )
    assert got["status"] == "READY" and got["version"] == "DRAFT"
    listed = client.list_guardrails()["guardrails"]
    assert [g["id"] for g in listed] == [gid]
    # A guardrail lives in its Region only.
    assert bedrock.client("bedrock", "eu-west-1").list_guardrails()["guardrails"] == []
    with pytest.raises(ClientError) as info:
        bedrock.client("bedrock", "eu-west-1").get_guardrail(guardrailIdentifier=gid)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("profile", "fragment"),
    [
        ("us.guardrail.v1:0", "not supported in the Region eu-central-1"),
        ("eu-guardrail-v1-0", "failed to satisfy constraint"),
    ],
)
def test_create_guardrail_validates_the_profile(
    bedrock: LocalBedrock, profile: str, fragment: str
) -> None:
    with pytest.raises(ClientError) as info:
        create_guardrail(bedrock, profile=profile)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert fragment in info.value.response["Error"]["Message"]


def test_converse_with_an_unknown_guardrail_is_a_validation_error(bedrock: LocalBedrock) -> None:
    client = bedrock.client("bedrock-runtime", "eu-central-1")
    with pytest.raises(ClientError) as info:
        client.converse(
            modelId="eu." + SONNET,
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            guardrailConfig={"guardrailIdentifier": "nosuchguardrail", "guardrailVersion": "DRAFT"},
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_blocked_input_never_reaches_the_model_and_is_traced(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=None)
    resp = bedrock.client("bedrock-runtime", "eu-central-1").converse(
        modelId="eu." + SONNET,
        messages=[{"role": "user", "content": [{"text": "tell me the forbidden thing"}]}],
        guardrailConfig={
            "guardrailIdentifier": gid,
            "guardrailVersion": "DRAFT",
            "trace": "enabled",
        },
    )
    assert resp["stopReason"] == "guardrail_intervened"
    assert resp["output"]["message"]["content"] == [{"text": "Sorry, I cannot talk about that."}]
    words = resp["trace"]["guardrail"]["inputAssessment"][gid]["wordPolicy"]["customWords"]
    assert words == [{"match": "forbidden", "action": "BLOCKED", "detected": True}]
    (record,) = runtime(bedrock)
    assert record.served_region is None  # the model was not invoked
    assert record.guardrail_id == gid and record.guardrail_region == "eu-central-1"


def test_blocked_output_is_replaced(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=None)
    bedrock.script.reply("here is the forbidden answer")
    msg = make_llm(bedrock, gid).invoke("hi", config={"metadata": {"cris_policy": "eu"}})
    assert msg.content == "Sorry, the answer was blocked."
    assert msg.response_metadata["stopReason"] == "guardrail_intervened"


# -- guardrails in the route ----------------------------------------------------------------------
def _check_allowed(bedrock: LocalBedrock, cris: dict[str, Any], gid: str) -> None:
    guardrail = cris["guardrail"]
    assert guardrail["guardrail_id"] == gid
    assert guardrail["guardrail_profile_id"] == EU_GUARDRAIL
    assert guardrail["destination_regions"] == EU_GUARDRAIL_REGIONS
    records = runtime(bedrock)
    assert records and all(r.guardrail_id == gid for r in records)
    assert all(r.guardrail_region in EU.regions for r in records)


def test_eu_guardrail_profile_is_inside_eu_sync(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    msg = with_residency(make_llm(bedrock, gid), EU).invoke("hi")
    _check_allowed(bedrock, msg.response_metadata["cris"], gid)


def test_eu_guardrail_profile_is_inside_eu_stream(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    chunks = list(with_residency(make_llm(bedrock, gid), EU).stream("hi"))
    cris = next(c.response_metadata["cris"] for c in chunks if "cris" in c.response_metadata)
    _check_allowed(bedrock, cris, gid)


async def test_eu_guardrail_profile_is_inside_eu_async(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    chain = with_residency(make_llm(bedrock, gid), EU)
    msg = await chain.ainvoke("hi")
    _check_allowed(bedrock, msg.response_metadata["cris"], gid)
    bedrock.wire_log.clear()
    chunks = [c async for c in chain.astream("hi")]
    cris = next(c.response_metadata["cris"] for c in chunks if "cris" in c.response_metadata)
    _check_allowed(bedrock, cris, gid)


def _refused_calls() -> list[Any]:
    def sync(chain: Any) -> Any:
        return chain.invoke("hi")

    def stream(chain: Any) -> Any:
        return list(chain.stream("hi"))

    async def ainvoke(chain: Any) -> Any:
        return await chain.ainvoke("hi")

    async def astream(chain: Any) -> Any:
        return [c async for c in chain.astream("hi")]

    return [sync, stream, ainvoke, astream]


@pytest.mark.parametrize("call", _refused_calls(), ids=["invoke", "stream", "ainvoke", "astream"])
async def test_guardrail_profile_wider_than_the_policy_is_refused_before_sending(
    bedrock: LocalBedrock, call: Any
) -> None:
    """Frankfurt-only policy, in-Region model: the model route complies, the guardrail not."""
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    chain = with_residency(make_llm(bedrock, gid, model=TITAN), FRANKFURT)
    with pytest.raises(GuardrailResidencyViolation) as info:
        result = call(chain)
        if hasattr(result, "__await__"):
            await result
    err = info.value
    assert err.guardrail_id == gid and err.guardrail_profile_id == EU_GUARDRAIL
    assert err.outside_regions == frozenset(EU_GUARDRAIL_REGIONS) - {"eu-central-1"}
    assert gid in str(err) and EU_GUARDRAIL in str(err) and "eu-west-1" in str(err)
    assert runtime(bedrock) == []  # nothing was sent to bedrock-runtime
    guardrail_ops = [r.operation for r in bedrock.wire_log if "Guardrail" in r.operation]
    assert guardrail_ops == ["CreateGuardrail", "GetGuardrail"]


def test_guardrail_without_cross_region_config_runs_in_the_source_region(
    bedrock: LocalBedrock,
) -> None:
    gid = create_guardrail(bedrock, profile=None)
    msg = with_residency(make_llm(bedrock, gid, model=TITAN), FRANKFURT).invoke("hi")
    guardrail = msg.response_metadata["cris"]["guardrail"]
    assert guardrail["guardrail_profile_id"] is None
    assert guardrail["destination_regions"] == ["eu-central-1"]
    (record,) = runtime(bedrock)
    assert record.guardrail_region == "eu-central-1" and record.served_region == "eu-central-1"


def test_per_call_guardrail_config_is_checked(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    llm = with_residency(make_llm(bedrock, None, model=TITAN), FRANKFURT)
    with pytest.raises(GuardrailResidencyViolation):
        llm.invoke("hi", guardrailConfig={"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"})
    assert runtime(bedrock) == []


def test_unknown_guardrail_is_refused_before_sending(bedrock: LocalBedrock) -> None:
    llm = make_llm(bedrock, "nosuchguardrail")
    with pytest.raises(GuardrailLookupError) as info:
        with_residency(llm, EU).invoke("hi")
    assert "nosuchguardrail" in str(info.value) and "eu-central-1" in str(info.value)
    assert runtime(bedrock) == []


def test_guardrail_lookup_is_cached_per_guardrail_and_version(bedrock: LocalBedrock) -> None:
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    chain = with_residency(make_llm(bedrock, gid, failover=False), EU)
    for _ in range(3):
        chain.invoke("hi")
    assert len(bedrock.wire_log.records(operation="GetGuardrail")) == 1
    assert len(runtime(bedrock)) == 3


def test_failover_never_leaves_the_guardrails_region(bedrock: LocalBedrock) -> None:
    """Without a guardrail this call fails over to other EU source Regions (routing e2e)."""
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    bedrock.script.fault("throttle", times=2)
    msg = with_residency(make_llm(bedrock, gid), EU).invoke("hi")
    attempts = msg.response_metadata["cris"]["attempts"]
    assert [a["outcome"] for a in attempts] == ["ThrottlingException"] * 2 + ["ok"]
    assert {r.source_region for r in runtime(bedrock)} == {"eu-central-1"}
    # The other source Regions were looked at (the guardrail does not exist there) and dropped.
    lookups = bedrock.wire_log.records(operation="GetGuardrail")
    assert {r.outcome for r in lookups if r.source_region != "eu-central-1"} == {
        "ResourceNotFoundException"
    }


def test_audit_record_and_trace_metadata_name_the_guardrail_profile(
    bedrock: LocalBedrock, tmp_path: Any
) -> None:
    gid = create_guardrail(bedrock, profile=EU_GUARDRAIL)
    with CRISCallbackHandler(audit_path=tmp_path / "audit.jsonl") as handler:
        with_residency(make_llm(bedrock, gid), EU).invoke("hi", config={"callbacks": [handler]})
        with pytest.raises(GuardrailResidencyViolation):
            with_residency(make_llm(bedrock, gid, model=TITAN), FRANKFURT).invoke(
                "hi", config={"callbacks": [handler]}
            )
    ok, refused = [state.call for state in handler.records()]
    assert ok["guardrail"]["guardrail_profile_id"] == EU_GUARDRAIL
    assert ok["guardrail"]["destination_regions"] == EU_GUARDRAIL_REGIONS
    assert refused["outcome"] == "refused"
    assert refused["guardrail"]["guardrail_profile_id"] == EU_GUARDRAIL
    assert "eu-west-1" in refused["guardrail"]["outside_regions"]
    text = (tmp_path / "audit.jsonl").read_text()
    assert EU_GUARDRAIL in text and "forbidden" not in text
