"""IAM for guardrail profiles: ApplyGuardrail on the profile in every destination Region, and only
for profiles whose destinations lie inside the policy (AWS then refuses the others itself)."""

from __future__ import annotations

import pytest

from langchain_cris import ResidencyPolicy
from langchain_cris.errors import SourceRegionNotAllowedError
from langchain_cris.guardrails import bundled_guardrail_profiles
from langchain_cris.iam import InvalidAccountIdError, build_guardrail_policy

ACCOUNT = "111122223333"


def _resources(statement: dict[str, object]) -> list[str]:
    res = statement["Resource"]
    return [res] if isinstance(res, str) else list(res)  # type: ignore[arg-type]


def test_eu_grants_the_eu_profile_in_each_destination() -> None:
    doc = build_guardrail_policy(
        ResidencyPolicy.preset("eu"), ["gr1"], account_id=ACCOUNT, source_regions=["eu-central-1"]
    )
    by_sid = {s["Sid"]: s for s in doc.to_json()["Statement"]}
    assert set(by_sid) == {"GuardrailsInEuCentral1", "GuardrailProfileEuGuardrailV10FromEuCentral1"}
    own = by_sid["GuardrailsInEuCentral1"]
    assert own["Action"] == ["bedrock:ApplyGuardrail", "bedrock:GetGuardrail"]
    assert _resources(own) == [f"arn:aws:bedrock:eu-central-1:{ACCOUNT}:guardrail/gr1"]
    profile = by_sid["GuardrailProfileEuGuardrailV10FromEuCentral1"]
    assert profile["Action"] == "bedrock:ApplyGuardrail"
    destinations = bundled_guardrail_profiles()["eu.guardrail.v1:0"].destinations("eu-central-1")
    assert set(_resources(profile)) == {
        f"arn:aws:bedrock:eu-central-1:{ACCOUNT}:guardrail/gr1",
        *(
            f"arn:aws:bedrock:{r}:{ACCOUNT}:guardrail-profile/eu.guardrail.v1:0"
            for r in destinations
        ),
    }


def test_profiles_reaching_outside_are_not_granted() -> None:
    frankfurt = ResidencyPolicy(name="de", regions={"eu-central-1"})
    doc = build_guardrail_policy(frankfurt, account_id=ACCOUNT)
    assert [s["Sid"] for s in doc.to_json()["Statement"]] == ["GuardrailsInEuCentral1"]
    assert "guardrail-profile" not in doc.dumps()
    # London's UK profile stays in London: granted under europe from eu-west-2.
    europe = build_guardrail_policy(ResidencyPolicy.preset("europe"), account_id=ACCOUNT)
    assert "GuardrailProfileUkGuardrailV10FromEuWest2" in europe.dumps()
    assert "us.guardrail" not in europe.dumps()


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidAccountIdError):
        build_guardrail_policy(ResidencyPolicy.preset("eu"), account_id="123")
    with pytest.raises(SourceRegionNotAllowedError):
        build_guardrail_policy(
            ResidencyPolicy.preset("eu"), account_id=ACCOUNT, source_regions=["us-east-1"]
        )
