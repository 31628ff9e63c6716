"""Guardrail profiles (bundled data), the guardrail catalog's live rules, and check_guardrail."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from langchain_cris.data import load_data_file
from langchain_cris.errors import (
    GuardrailLookupError,
    GuardrailResidencyViolation,
    ResidencyViolation,
)
from langchain_cris.guardrails import (
    GuardrailCatalog,
    GuardrailRef,
    bundled_guardrail_profiles,
    check_guardrail,
    guardrail_ref,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table

EU = ResidencyPolicy.preset("eu")
FRANKFURT = ResidencyPolicy(name="frankfurt", regions={"eu-central-1"})


def test_bundled_table_is_sourced_and_sane() -> None:
    data = load_data_file("guardrail_profiles.json")
    assert data["version"] == 1 and data["retrieved"]
    assert any("guardrails-cross-region-support" in s["url"] for s in data["source"])
    assert all(s.get("commit") for s in data["source"])
    profiles = bundled_guardrail_profiles()
    assert sorted(profiles) == [
        "apac.guardrail.v1:0", "au.guardrail.v1:0", "ca.guardrail.v1:0", "eu.guardrail.v1:0",
        "uk.guardrail.v1:0", "us-gov.guardrail.v1:0", "us.guardrail.v1:0",
    ]  # fmt: skip
    table = region_table()
    for profile in profiles.values():
        for source, destinations in profile.routes.items():
            for region in {source, *destinations}:
                assert region in table, region
                assert table.regions[region].partition == profile.partition
            assert source in destinations  # every AWS row includes its own source Region


def test_transcribed_rows() -> None:
    profiles = bundled_guardrail_profiles()
    eu6 = {"eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2"}
    assert profiles["eu.guardrail.v1:0"].destinations("eu-central-1") == eu6
    assert profiles["eu.guardrail.v1:0"].destinations("il-central-1") == eu6 | {"il-central-1"}
    assert profiles["us.guardrail.v1:0"].destinations("us-west-1") == {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2"
    }  # fmt: skip
    assert profiles["uk.guardrail.v1:0"].destinations("eu-west-2") == {"eu-west-2"}
    assert len(profiles["apac.guardrail.v1:0"].destinations("ap-east-2")) == 10
    assert profiles["eu.guardrail.v1:0"].destinations("us-east-1") == frozenset()
    assert profiles["us-gov.guardrail.v1:0"].arn_for("us-gov-west-1", "123456789012") == (
        "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:guardrail-profile/us-gov.guardrail.v1:0"
    )


def test_check_guardrail() -> None:
    profile = bundled_guardrail_profiles()["eu.guardrail.v1:0"]
    route = check_guardrail(profile, EU, "eu-central-1", guardrail_id="gr1")
    assert route.destination_regions == profile.destinations("eu-central-1")
    assert route.profile_id == "eu.guardrail.v1:0" and route.profile_arn
    assert check_guardrail(None, FRANKFURT, "eu-central-1").destination_regions == {"eu-central-1"}
    with pytest.raises(GuardrailResidencyViolation) as info:
        check_guardrail(profile, FRANKFURT, "eu-central-1", guardrail_id="gr1", model="m")
    err = info.value
    assert isinstance(err, ResidencyViolation)
    assert err.outside_regions == profile.destinations("eu-central-1") - {"eu-central-1"}
    assert "'gr1'" in str(err) and "eu.guardrail.v1:0" in str(err) and "eu-west-3" in str(err)
    assert "without cross-Region config" in str(err)  # what would comply
    audit = FRANKFURT.model_copy(update={"mode": "audit"})
    assert check_guardrail(profile, audit, "eu-central-1").violations


@pytest.mark.parametrize("profile", ["xx.guardrail.v9:0", None])
def test_unknown_profile_or_source_fails_closed(profile: str | None) -> None:
    target: Any = profile or bundled_guardrail_profiles()["eu.guardrail.v1:0"]
    source = "eu-central-1" if profile else "eu-central-2"  # Zurich: not a source in the table
    with pytest.raises(GuardrailResidencyViolation, match="may be evaluated anywhere"):
        check_guardrail(target, ResidencyPolicy.preset("global"), source)


def test_guardrail_ref_reads_both_spellings() -> None:
    assert guardrail_ref(None) is None and guardrail_ref({}) is None
    ref = guardrail_ref({"guardrail_identifier": "abc", "guardrail_version": "2"})
    assert ref == GuardrailRef("abc", "2")
    arn = GuardrailRef("arn:aws:bedrock:eu-west-1:123456789012:guardrail/abc", "DRAFT")
    assert arn.arn_region == "eu-west-1" and arn.guardrail_id == "abc"


class FakeControl:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, str]] = []

    def factory(self, region: str) -> Any:
        owner = self

        class Client:
            def get_guardrail(self, guardrailIdentifier: str, guardrailVersion: str) -> Any:
                owner.calls.append((region, guardrailIdentifier, guardrailVersion))
                answer = owner.answers.get(region)
                if isinstance(answer, Exception):
                    raise answer
                return answer

        return Client()


def _not_found() -> ClientError:
    return ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "x"}}, "Get")


def test_catalog_caches_per_region_id_and_version_with_a_ttl() -> None:
    now = [0.0]
    catalog = GuardrailCatalog.bundled(ttl=60.0, clock=lambda: now[0])
    answer = {"guardrailId": "abc", "version": "DRAFT", "crossRegionDetails": {
        "guardrailProfileId": "eu.guardrail.v1:0"}}  # fmt: skip
    control = FakeControl({"eu-central-1": answer, "eu-west-1": _not_found()})
    ref = GuardrailRef("abc", "DRAFT")
    for _ in range(3):
        assert catalog.lookup(ref, "eu-central-1", control.factory).profile_id == (  # type: ignore[union-attr]
            "eu.guardrail.v1:0"
        )
    assert catalog.lookup(ref, "eu-west-1", control.factory) is None
    assert catalog.lookup(GuardrailRef("abc", "1"), "eu-central-1", control.factory)
    assert len(control.calls) == 3
    now[0] = 61.0
    catalog.lookup(ref, "eu-central-1", control.factory)
    assert len(control.calls) == 4


def test_catalog_declare_and_failures() -> None:
    catalog = GuardrailCatalog.bundled()
    catalog.declare("abc", "DRAFT", region="eu-central-1", profile_id="us.guardrail.v1:0")
    ref = GuardrailRef("abc", "DRAFT")
    with pytest.raises(GuardrailResidencyViolation, match=re.escape("us.guardrail.v1:0")):
        catalog.route(ref, EU, "eu-central-1", None)
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Get")
    control = FakeControl({"eu-west-1": denied})
    with pytest.raises(GuardrailLookupError, match="bedrock:GetGuardrail"):
        catalog.route(ref, EU, "eu-west-1", control.factory)
    with pytest.raises(GuardrailLookupError, match="does not exist in eu-west-3"):
        catalog.route(ref, EU, "eu-west-3", FakeControl({"eu-west-3": _not_found()}).factory)
    # An ARN names one Region's guardrail: no lookup elsewhere.
    arn = GuardrailRef("arn:aws:bedrock:eu-west-1:123456789012:guardrail/abc", "DRAFT")
    assert catalog.lookup(arn, "eu-central-1", None) is None
