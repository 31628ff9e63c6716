"""IAM identity policies and SCPs from a ResidencyPolicy (``langchain_cris.iam``).

Three kinds of test:

* **Golden documents** (``golden/iam/*.json``) for the eu / europe / global presets, reviewed
  line by line against ``shared/cris-facts.md`` §4 (official Sids as prefixes, the three-part
  global form, ``bedrock:InferenceProfileArn`` bindings, the official deny-global SCP).
  To regenerate after a deliberate change: write ``GOLDEN_CASES[name]().to_json()`` (or
  ``to_terraform()`` for ``*_terraform``) to ``golden/iam/<name>.json`` and review the diff.
* **An evaluator sweep**: for every catalog model x preset x source Region, the request
  context AWS evaluates for the call is run through ``_iam_evaluator`` against the generated
  documents; every route ``resolve_route`` allows must be permitted and every route it refuses
  must be denied.
* Input validation and least-privilege properties.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.errors import (
    InvalidModelIdentifierError,
    ResidencyError,
    ResidencyViolation,
    SourceRegionNotAllowedError,
    UnknownModelError,
    UnknownRegionError,
)
from langchain_cris.iam import (
    INVOKE_ACTIONS,
    IamDocument,
    InvalidAccountIdError,
    build_identity_policy,
    build_scp,
    plan_grants,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table
from langchain_cris.routing import resolve_route
from tests.unit_tests._iam_evaluator import (
    Request,
    UnsupportedPolicyElement,
    call_permitted,
    cris_call_requests,
    evaluate,
    scp_denies,
)

GOLDEN_DIR = Path(__file__).parent / "golden" / "iam"
ACCOUNT = "111122223333"
SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
TITAN_TEXT = "amazon.titan-text-express-v1"
EU = ResidencyPolicy.preset("eu")
EUROPE = ResidencyPolicy.preset("europe")
GLOBAL = ResidencyPolicy.preset("global")
CATALOG = ProfileCatalog.bundled()
PRESETS = sorted(region_table().presets)


# -- golden documents ---------------------------------------------------------------------
GOLDEN_CASES: dict[str, Callable[[], IamDocument]] = {
    "eu_identity": lambda: build_identity_policy(
        EU, [SONNET45], account_id=ACCOUNT, catalog=CATALOG
    ),
    "eu_scp": lambda: build_scp(EU, catalog=CATALOG),
    "eu_no_in_region_scp": lambda: build_scp(
        ResidencyPolicy.preset("eu", allow_in_region=False), catalog=CATALOG
    ),
    "europe_identity": lambda: build_identity_policy(
        EUROPE, [SONNET45, NOVA_PRO, TITAN_TEXT], account_id=ACCOUNT, catalog=CATALOG
    ),
    "europe_scp": lambda: build_scp(EUROPE, [SONNET45], catalog=CATALOG),
    "global_identity": lambda: build_identity_policy(
        GLOBAL, [SONNET45], account_id=ACCOUNT, source_regions=["us-east-1"], catalog=CATALOG
    ),
    "global_scp": lambda: build_scp(GLOBAL, catalog=CATALOG),
    "eu_identity_terraform": lambda: build_identity_policy(
        EU, [SONNET45], account_id=ACCOUNT, source_regions=["eu-west-1"], catalog=CATALOG
    ),
}


def _render(name: str) -> dict[str, Any]:
    doc = GOLDEN_CASES[name]()
    return doc.to_terraform() if name.endswith("_terraform") else doc.to_json()


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_document(name: str) -> None:
    expected = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert _render(name) == expected


def test_golden_directory_has_no_stale_files() -> None:
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.json")) == sorted(GOLDEN_CASES)


def test_eu_identity_matches_the_official_geo_form() -> None:
    """Spelled out from cris-facts §4 so the golden file cannot drift from AWS's example."""
    stmts = build_identity_policy(EU, [SONNET45], account_id=ACCOUNT).to_json()["Statement"]
    assert [s["Sid"] for s in stmts] == [
        "GrantGeoCrisInferenceProfileAccessEuAnthropicClaudeSonnet4520250929V10",
        "GrantGeoCrisModelAccessEuAnthropicClaudeSonnet4520250929V10",
    ]
    profile_arns = [
        f"arn:aws:bedrock:{r}:{ACCOUNT}:inference-profile/eu.{SONNET45}" for r in sorted(_EU6)
    ]
    assert stmts[0]["Resource"] == profile_arns
    assert "Condition" not in stmts[0]
    assert stmts[1]["Resource"] == [
        f"arn:aws:bedrock:{r}::foundation-model/{SONNET45}" for r in sorted(_EU6)
    ]
    assert stmts[1]["Condition"] == {"StringEquals": {"bedrock:InferenceProfileArn": profile_arns}}
    assert all(s["Action"] == list(INVOKE_ACTIONS) for s in stmts)


_EU6 = {"eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"}


def test_global_identity_matches_the_official_three_part_form() -> None:
    doc = build_identity_policy(
        GLOBAL, [SONNET45], account_id=ACCOUNT, source_regions=["us-east-1"]
    )
    by_sid = {s["Sid"]: s for s in doc.to_json()["Statement"]}
    suffix = "GlobalAnthropicClaudeSonnet4520250929V10"
    profile = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/global.{SONNET45}"
    region_access = by_sid[f"GrantGlobalCrisInferenceProfileRegionAccess{suffix}"]
    assert region_access["Resource"] == profile
    assert region_access["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    in_region = by_sid[f"GrantGlobalCrisInferenceProfileInRegionModelAccess{suffix}"]
    assert in_region["Resource"] == f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET45}"
    assert in_region["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": "us-east-1", "bedrock:InferenceProfileArn": profile}
    }
    global_model = by_sid[f"GrantGlobalCrisInferenceProfileGlobalModelAccess{suffix}"]
    assert global_model["Resource"] == f"arn:aws:bedrock:::foundation-model/{SONNET45}"
    assert global_model["Condition"] == {
        "StringEquals": {
            "aws:RequestedRegion": "unspecified",
            "bedrock:InferenceProfileArn": profile,
        }
    }


def test_scp_carries_the_official_deny_global_statement_only_when_global_is_refused() -> None:
    official = {
        "Effect": "Deny",
        "Action": "bedrock:*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:RequestedRegion": "unspecified"},
            "ArnLike": {
                "bedrock:InferenceProfileArn": "arn:aws:bedrock:*:*:inference-profile/global.*"
            },
        },
    }
    eu_first = build_scp(EU).to_json()["Statement"][0]
    assert {k: v for k, v in eu_first.items() if k != "Sid"} == official
    assert all(s["Sid"] != "DenyGlobalCrossRegionInference" for s in build_scp(GLOBAL).statements)


# -- the evaluator itself -----------------------------------------------------------------
def _doc(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


_ALLOW_ALL = {"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}


def test_evaluator_explicit_deny_wins_and_default_is_implicit_deny() -> None:
    req = Request("bedrock:InvokeModel", "arn:aws:bedrock:eu-west-1::foundation-model/m", {})
    deny = {"Effect": "Deny", "Action": "bedrock:Invoke*", "Resource": "arn:aws:bedrock:eu-*"}
    assert evaluate([_doc(_ALLOW_ALL)], req) == "Allow"
    assert evaluate([_doc(_ALLOW_ALL, deny)], req) == "ExplicitDeny"
    assert evaluate([_doc(_ALLOW_ALL), _doc(deny)], req) == "ExplicitDeny"
    other = {"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "arn:aws:s3:::x"}
    assert evaluate([_doc(other)], req) == "ImplicitDeny"
    # actions match case-insensitively, resources case-sensitively
    assert evaluate([_doc({**other, "Resource": req.resource.upper()})], req) == "ImplicitDeny"
    lower = {"Effect": "Allow", "Action": "BEDROCK:invokemodel", "Resource": req.resource}
    assert evaluate([_doc(lower)], req) == "Allow"


def test_evaluator_condition_operators() -> None:
    res = "arn:aws:bedrock:eu-west-1::foundation-model/m"

    def allowed(condition: dict[str, Any], context: dict[str, str]) -> bool:
        stmt = {"Effect": "Allow", "Action": "*", "Resource": res, "Condition": condition}
        return evaluate([_doc(stmt)], Request("bedrock:InvokeModel", res, context)) == "Allow"

    ipa = "bedrock:InferenceProfileArn"
    arn = "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/global.x"
    assert allowed({"Null": {ipa: "true"}}, {})
    assert not allowed({"Null": {ipa: "true"}}, {ipa: arn})
    assert allowed({"Null": {ipa: "false"}}, {ipa: arn})
    assert allowed({"ArnLike": {ipa: "arn:aws:bedrock:*:*:inference-profile/global.*"}}, {ipa: arn})
    assert not allowed({"ArnLike": {ipa: "arn:aws:bedrock:*:*:inference-profile/eu.*"}}, {ipa: arn})
    assert not allowed({"ArnLike": {ipa: "*"}}, {})  # a missing key never matches positively
    rr = "aws:RequestedRegion"
    assert allowed({"StringEquals": {rr: ["eu-west-1", "eu-west-3"]}}, {rr: "eu-west-3"})
    assert not allowed({"StringEquals": {rr: "eu-west-1"}}, {rr: "eu-west-3"})
    assert allowed({"StringNotEquals": {rr: ["eu-west-1"]}}, {rr: "eu-west-3"})
    assert allowed({"StringNotEquals": {rr: ["eu-west-1"]}}, {})  # negated + missing key
    assert allowed({"StringLike": {rr: "eu-*"}}, {rr: "eu-west-3"})
    both = {"StringEquals": {rr: "eu-west-1"}, "Null": {ipa: "true"}}
    assert allowed(both, {rr: "eu-west-1"})
    assert not allowed(both, {rr: "eu-west-1", ipa: arn})
    with pytest.raises(UnsupportedPolicyElement):
        allowed({"StringEqualsIfExists": {rr: "x"}}, {rr: "x"})
    with pytest.raises(UnsupportedPolicyElement):
        evaluate([_doc({**_ALLOW_ALL, "NotResource": "x"})], Request("a", "b"))


def test_cris_call_requests_shape() -> None:
    arn = f"arn:aws:bedrock:eu-west-2:{ACCOUNT}:inference-profile/eu.m"
    reqs = cris_call_requests(
        action="bedrock:InvokeModel",
        model_id="m",
        source_region="eu-west-2",
        destination_regions={"eu-west-1", "eu-west-2"},
        profile_arn=arn,
    )
    assert [(r.resource, dict(r.context)) for r in reqs] == [
        (arn, {"aws:RequestedRegion": "eu-west-2"}),
        (
            "arn:aws:bedrock:eu-west-2::foundation-model/m",
            {"aws:RequestedRegion": "eu-west-2", "bedrock:InferenceProfileArn": arn},
        ),
        (
            "arn:aws:bedrock:eu-west-1::foundation-model/m",
            {"aws:RequestedRegion": "eu-west-1", "bedrock:InferenceProfileArn": arn},
        ),
    ]


def test_hand_written_official_policy_passes_the_evaluator() -> None:
    """The evaluator agrees with AWS's own example (cris-facts §4) before judging ours."""
    profile = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.{SONNET45}"
    official = _doc(
        {
            "Sid": "GrantGeoCrisInferenceProfileAccess",
            "Effect": "Allow",
            "Action": "bedrock:InvokeModel",
            "Resource": profile,
        },
        {
            "Sid": "GrantGeoCrisModelAccess",
            "Effect": "Allow",
            "Action": "bedrock:InvokeModel",
            "Resource": [
                f"arn:aws:bedrock:{r}::foundation-model/{SONNET45}"
                for r in ("us-east-1", "us-east-2", "us-west-2")
            ],
            "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": profile}},
        },
    )
    kwargs: dict[str, Any] = {
        "model_id": SONNET45,
        "source_region": "us-east-1",
        "destination_regions": {"us-east-1", "us-east-2", "us-west-2"},
    }
    assert call_permitted(
        cris_call_requests(action="bedrock:InvokeModel", profile_arn=profile, **kwargs), official
    )
    # streaming is not in the official example's Action: denied
    assert not call_permitted(
        cris_call_requests(
            action="bedrock:InvokeModelWithResponseStream", profile_arn=profile, **kwargs
        ),
        official,
    )
    # a direct call in us-east-1 has no profile ARN: the model statement does not apply
    assert not call_permitted(
        cris_call_requests(action="bedrock:InvokeModel", profile_arn=None, **kwargs), official
    )


# -- the sweep ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Call:
    label: str
    resolve_as: str  # the model string handed to resolve_route
    base_model_id: str
    source_region: str
    destination_regions: frozenset[str]
    profile_id: str | None
    global_profile: bool

    def requests(self, action: str) -> list[Request]:
        partition = region_table().regions[self.source_region].partition
        profile_arn = (
            None
            if self.profile_id is None
            else f"arn:{partition}:bedrock:{self.source_region}:{ACCOUNT}:"
            f"inference-profile/{self.profile_id}"
        )
        return cris_call_requests(
            action=action,
            model_id=self.base_model_id,
            source_region=self.source_region,
            destination_regions=self.destination_regions,
            profile_arn=profile_arn,
            global_profile=self.global_profile,
            partition=partition,
        )


def _every_call(catalog: ProfileCatalog) -> Iterator[_Call]:
    """Every (profile, source) route in the catalog and every in-Region call."""
    for profile in catalog:
        for source, dest in sorted(profile.routes.items()):
            yield _Call(
                f"{profile.profile_id} from {source}",
                profile.profile_id,
                profile.model_id,
                source,
                dest,
                profile.profile_id,
                profile.geography == "global",
            )
    for model in sorted(catalog.model_ids()):
        for source in sorted(catalog.on_demand_regions(model)):
            partition = region_table().regions[source].partition
            yield _Call(
                f"{model} in-Region in {source}",
                f"arn:{partition}:bedrock:{source}::foundation-model/{model}",
                model,
                source,
                frozenset({source}),
                None,
                False,
            )


ALL_CALLS = list(_every_call(CATALOG))


def _routing_allows(call: _Call, policy: ResidencyPolicy) -> bool:
    try:
        route = resolve_route(call.resolve_as, policy, call.source_region, CATALOG, failover=False)
    except ResidencyError:
        return False
    return route.compliant  # audit mode returns violations instead of raising


def _grantable_models(policy: ResidencyPolicy) -> list[str]:
    out = []
    for model in sorted(CATALOG.model_ids()):
        try:
            plan_grants(policy, [model], catalog=CATALOG)
        except ResidencyError:
            continue
        out.append(model)
    return out


def _sweep(policy: ResidencyPolicy, *, scp_alone_must_match: bool) -> tuple[int, int]:
    models = _grantable_models(policy)
    assert models, f"nothing grantable under {policy}"
    identity = build_identity_policy(policy, models, account_id=ACCOUNT, catalog=CATALOG).to_json()
    scp_models = build_scp(policy, models, catalog=CATALOG).to_json()
    scp_policy = build_scp(policy, catalog=CATALOG).to_json()
    allowed = refused = 0
    for call in ALL_CALLS:
        expected = _routing_allows(call, policy)
        allowed += expected
        refused += not expected
        for action in INVOKE_ACTIONS:
            reqs = call.requests(action)
            # the identity policy alone is exact; the SCPs never block an allowed route
            assert call_permitted(reqs, identity) is expected, (call.label, action)
            assert call_permitted(reqs, identity, scp_models) is expected, (call.label, action)
            assert call_permitted(reqs, identity, scp_policy) is expected, (call.label, action)
            if expected:
                assert call_permitted(reqs, None, scp_policy), (call.label, action)
            elif scp_alone_must_match:
                # the policy-wide SCP alone (no identity policy) must also stop the call
                assert not call_permitted(reqs, None, scp_policy), (call.label, action)
    return allowed, refused


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize(
    "overrides",
    [{}, {"allow_in_region": False}, {"mode": "audit"}],
    ids=["default", "no-in-region", "audit"],
)
def test_sweep_every_route_matches_resolve_route(preset: str, overrides: dict[str, Any]) -> None:
    policy = ResidencyPolicy.preset(preset, **overrides)
    allowed, refused = _sweep(policy, scp_alone_must_match=True)
    assert allowed > 0 and refused > 0  # both halves of the claim were exercised


_SOME_REGIONS = sorted(
    region_table().presets["europe"].regions
    | region_table().presets["us"].regions
    | {"il-central-1", "ca-central-1", "ap-northeast-1", "ap-northeast-3", "me-central-1"}
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    regions=st.sets(st.sampled_from(_SOME_REGIONS), min_size=1),
    extra_sources=st.sets(st.sampled_from(_SOME_REGIONS), max_size=3),
    allow_in_region=st.booleans(),
)
def test_sweep_random_custom_policies(
    regions: set[str], extra_sources: set[str], allow_in_region: bool
) -> None:
    """Custom Region sets (sources may differ from destinations): identity+SCP == routing."""
    sources = (set(regions) | extra_sources) if extra_sources else set()
    policy = ResidencyPolicy(
        name="custom",
        regions=frozenset(regions),
        source_regions=frozenset(sources),
        allow_in_region=allow_in_region,
    )
    if not _grantable_models(policy):
        with pytest.raises(ResidencyError):
            build_identity_policy(policy, sorted(CATALOG.model_ids()), account_id=ACCOUNT)
        return
    _sweep(policy, scp_alone_must_match=not extra_sources)


# -- least privilege ----------------------------------------------------------------------
@pytest.mark.parametrize("preset", PRESETS)
def test_identity_policy_names_nothing_outside_the_policy(preset: str) -> None:
    policy = ResidencyPolicy.preset(preset)
    doc = build_identity_policy(
        policy, _grantable_models(policy), account_id=ACCOUNT, catalog=CATALOG
    )
    for stmt in doc.to_json()["Statement"]:
        assert stmt["Effect"] == "Allow"
        assert stmt["Action"] == list(INVOKE_ACTIONS)
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        for arn in resources:
            assert "*" not in arn
            region = arn.split(":")[3]
            if region:
                assert region in policy.regions, (stmt["Sid"], arn)
            else:  # the Region-less global model ARN, only under a policy that allows global
                assert (
                    policy.allows_global
                    and stmt["Condition"]["StringEquals"]["aws:RequestedRegion"] == "unspecified"
                )
        if "foundation-model/" in resources[0] and "Null" not in stmt.get("Condition", {}):
            # every CRIS model grant is bound to granted profile ARNs
            assert "bedrock:InferenceProfileArn" in stmt["Condition"]["StringEquals"]


def test_eu_identity_denies_the_model_everywhere_outside_the_eu() -> None:
    doc = build_identity_policy(EU, [SONNET45], account_id=ACCOUNT).to_json()
    granted = f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/eu.{SONNET45}"
    outside = region_table().partition_regions("aws") - EU.regions
    for region in [*sorted(outside), "unspecified"]:
        res = (
            f"arn:aws:bedrock:{region}::foundation-model/{SONNET45}"
            if region != "unspecified"
            else f"arn:aws:bedrock:::foundation-model/{SONNET45}"
        )
        for context in (
            {"aws:RequestedRegion": region, "bedrock:InferenceProfileArn": granted},
            {"aws:RequestedRegion": region},
        ):
            assert evaluate([doc], Request("bedrock:InvokeModel", res, context)) != "Allow"


def test_in_region_grant_cannot_stand_in_for_an_ungranted_profile() -> None:
    """Titan Text in-Region in eu-west-1 must not authorize the model half of any profile."""
    doc = build_identity_policy(EUROPE, [TITAN_TEXT], account_id=ACCOUNT).to_json()
    res = f"arn:aws:bedrock:eu-west-1::foundation-model/{TITAN_TEXT}"
    direct = Request("bedrock:InvokeModel", res, {"aws:RequestedRegion": "eu-west-1"})
    via = Request(
        "bedrock:InvokeModel",
        res,
        {
            "aws:RequestedRegion": "eu-west-1",
            "bedrock:InferenceProfileArn": f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:"
            f"inference-profile/global.{TITAN_TEXT}",
        },
    )
    assert evaluate([doc], direct) == "Allow"
    assert evaluate([doc], via) == "ImplicitDeny"


# -- SCP specifics ------------------------------------------------------------------------
def _allow_list(doc: IamDocument) -> list[str]:
    stmt = next(s for s in doc.statements if s["Sid"] == "DenyBedrockOutsideResidencyRegions")
    values = stmt["Condition"]["StringNotEquals"]["aws:RequestedRegion"]
    return [values] if isinstance(values, str) else list(values)


def test_scp_allow_list_is_the_union_of_sources_and_destinations() -> None:
    # From London the EU profile adds eu-west-2; from Zurich eu-central-2: all must be allowed.
    assert _allow_list(build_scp(EUROPE, [SONNET45])) == sorted(EUROPE.regions)
    only_london = build_scp(EUROPE, [SONNET45], source_regions=["eu-west-2"])
    assert _allow_list(only_london) == sorted(_EU6 | {"eu-west-2"})
    assert (
        f"allow-list: eu.{SONNET45} from eu-west-2 needs eu-central-1, eu-north-1, eu-south-1, "
        "eu-south-2, eu-west-1, eu-west-2, eu-west-3" in only_london.explain()
    )
    # Nova Pro from eu-central-1 touches only its four-Region core
    core = build_scp(EU, [NOVA_PRO], source_regions=["eu-central-1"])
    assert _allow_list(core) == ["eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"]


def test_scp_lists_unspecified_only_for_allowed_global_routes() -> None:
    assert "unspecified" in _allow_list(build_scp(GLOBAL))
    assert "unspecified" in _allow_list(build_scp(GLOBAL, [f"global.{SONNET45}"]))
    assert "unspecified" not in _allow_list(build_scp(GLOBAL, [f"us.{SONNET45}"]))
    assert "unspecified" not in _allow_list(build_scp(EUROPE))


def test_scp_direct_call_deny_follows_the_policy_or_the_override() -> None:
    sid = "DenyDirectFoundationModelInvocation"
    strict = ResidencyPolicy.preset("eu", allow_in_region=False)
    assert sid in [s["Sid"] for s in build_scp(strict).statements]
    assert sid not in [s["Sid"] for s in build_scp(EU).statements]
    assert sid in [s["Sid"] for s in build_scp(EU, deny_in_region=True).statements]
    assert sid not in [s["Sid"] for s in build_scp(strict, deny_in_region=False).statements]
    deny = next(s for s in build_scp(strict).to_json()["Statement"] if s["Sid"] == sid)
    direct = Request(
        "bedrock:InvokeModel",
        f"arn:aws:bedrock:eu-west-1::foundation-model/{TITAN_TEXT}",
        {"aws:RequestedRegion": "eu-west-1"},
    )
    assert scp_denies(_doc(deny), direct)
    # the profile resource evaluation has no profile-ARN key either, but is not a model ARN
    profile = Request(
        "bedrock:InvokeModel",
        f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/eu.{SONNET45}",
        {"aws:RequestedRegion": "eu-west-1"},
    )
    assert not scp_denies(_doc(deny), profile)


def test_scp_source_only_regions_get_a_direct_call_deny() -> None:
    """A policy that calls from London but keeps processing in the EU."""
    policy = ResidencyPolicy(
        name="eu-from-london",
        regions=frozenset(_EU6),
        source_regions=frozenset(_EU6 | {"eu-west-2"}),
    )
    doc = build_scp(policy)
    sids = [s["Sid"] for s in doc.statements]
    assert "DenyDirectFoundationModelInvocationInSourceOnlyRegions" in sids
    titan_london = Request(
        "bedrock:InvokeModel",
        f"arn:aws:bedrock:eu-west-2::foundation-model/{TITAN_TEXT}",
        {"aws:RequestedRegion": "eu-west-2"},
    )
    assert scp_denies(doc.to_json(), titan_london)


# -- output forms -------------------------------------------------------------------------
def test_terraform_form_round_trips_and_is_compact() -> None:
    doc = build_scp(EU)
    tf = doc.to_terraform()
    assert set(tf) == {"policy_name", "policy_type", "description", "policy_document"}
    assert tf["policy_type"] == "SERVICE_CONTROL_POLICY"
    assert json.loads(tf["policy_document"]) == doc.to_json()
    assert " " not in tf["policy_document"] and len(tf["policy_document"]) == doc.size
    assert EU.digest in tf["description"]


def test_explain_names_every_statement_and_the_refused_routes() -> None:
    doc = build_identity_policy(EU, [SONNET45], account_id=ACCOUNT)
    text = doc.explain()
    for stmt in doc.statements:
        assert stmt["Sid"] in text
    assert f"not granted: global.{SONNET45}" in text
    assert f"{doc.size}/6144" in text


def test_document_size_is_reported_against_the_aws_quota() -> None:
    small = build_identity_policy(EU, [SONNET45], account_id=ACCOUNT)
    assert not small.over_limit and small.max_size == 6144
    big = build_identity_policy(GLOBAL, [SONNET45], account_id=ACCOUNT)
    assert big.over_limit and "WARNING" in big.explain()


def test_output_is_deterministic_whatever_the_input_order() -> None:
    models = [SONNET45, NOVA_PRO, TITAN_TEXT]
    a = build_identity_policy(EUROPE, models, account_id=ACCOUNT)
    b = build_identity_policy(
        EUROPE,
        [*reversed(models), SONNET45],
        account_id=ACCOUNT,
        source_regions=sorted(EUROPE.allowed_sources, reverse=True),
    )
    assert a.dumps() == b.dumps()


def test_base_model_and_profile_id_grant_the_same_profile() -> None:
    base = build_identity_policy(EU, [SONNET45], account_id=ACCOUNT)
    profile = build_identity_policy(EU, [f"eu.{SONNET45}"], account_id=ACCOUNT)
    assert base.to_json() == profile.to_json()


def test_us_gov_arns_use_the_govcloud_partition() -> None:
    doc = build_identity_policy(
        ResidencyPolicy.preset("us-gov"), [SONNET45], account_id=ACCOUNT
    ).to_json()
    arns = [a for s in doc["Statement"] for a in s["Resource"]]
    assert arns and all(a.startswith("arn:aws-us-gov:bedrock:") for a in arns)


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("account", ["", "1234", "12345678901a", "1111222233334", "*"])
def test_bad_account_id(account: str) -> None:
    with pytest.raises(InvalidAccountIdError, match="12 digits"):
        build_identity_policy(EU, [SONNET45], account_id=account)


def test_bad_input_raises_typed_errors_naming_the_choices() -> None:
    with pytest.raises(UnknownModelError, match="close matches"):
        build_identity_policy(EU, ["anthropic.claude-sonet-4-5"], account_id=ACCOUNT)
    with pytest.raises(UnknownRegionError, match="eu-west-1"):
        build_identity_policy(EU, [SONNET45], account_id=ACCOUNT, source_regions=["eu-wst-1"])
    with pytest.raises(SourceRegionNotAllowedError, match="eu-west-2") as exc:
        build_identity_policy(EU, [SONNET45], account_id=ACCOUNT, source_regions=["eu-west-2"])
    assert "eu-central-1" in str(exc.value)
    with pytest.raises(ResidencyViolation, match="What would comply") as viol:
        build_identity_policy(EU, [f"global.{SONNET45}"], account_id=ACCOUNT)
    assert viol.value.outside_regions and f"eu.{SONNET45}" in str(viol.value)
    with pytest.raises(InvalidModelIdentifierError, match="application inference profile"):
        build_identity_policy(
            EU,
            [f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:application-inference-profile/abc123"],
            account_id=ACCOUNT,
        )
    with pytest.raises(SourceRegionNotAllowedError, match="eu-west-3"):
        build_identity_policy(
            EU,
            [f"arn:aws:bedrock:eu-west-3::foundation-model/{TITAN_TEXT}"],
            account_id=ACCOUNT,
            source_regions=["eu-west-1"],
        )


def test_audit_mode_policy_still_refuses_with_the_routing_error() -> None:
    audit = ResidencyPolicy.preset("eu", mode="audit")
    with pytest.raises(ResidencyViolation):
        build_identity_policy(audit, [f"global.{SONNET45}"], account_id=ACCOUNT)


def test_foundation_model_arn_grants_only_that_in_region_call() -> None:
    arn = f"arn:aws:bedrock:eu-west-3::foundation-model/{TITAN_TEXT}"
    plan = plan_grants(EU, [arn])
    assert [(g.kind, g.source_region) for g in plan.grants] == [("in_region", "eu-west-3")]
    with pytest.raises(ResidencyError):  # in-Region refused by the policy
        plan_grants(ResidencyPolicy.preset("eu", allow_in_region=False), [arn])
