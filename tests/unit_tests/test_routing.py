"""resolve_route against the tables of ../shared/cris-facts.md (per-source differences included)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_cris import (
    InvalidModelIdentifierError,
    ProfileCatalog,
    ProfileNotAvailableError,
    ResidencyError,
    ResidencyPolicy,
    ResidencyViolation,
    SourceRegionNotAllowedError,
    UnknownModelError,
    UnknownRegionError,
    resolve_route,
)
from langchain_cris.regions import region_table

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU45 = "anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS45 = "anthropic.claude-opus-4-5-20251101-v1:0"
NOVA2 = "amazon.nova-2-lite-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
EU6 = {"eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"}
US3 = {"us-east-1", "us-east-2", "us-west-2"}
EU = ResidencyPolicy.preset("eu")
EUROPE = ResidencyPolicy.preset("europe")
GLOBAL = ResidencyPolicy.preset("global")
US = ResidencyPolicy.preset("us")


# (model, policy, source) -> (sent model id, exact destination Regions)
ALLOWED = [
    (SONNET45, EU, "eu-central-1", f"eu.{SONNET45}", EU6),
    (HAIKU45, EU, "eu-west-3", f"eu.{HAIKU45}", EU6),
    (OPUS45, EU, "eu-south-2", f"eu.{OPUS45}", EU6),
    (NOVA2, EU, "eu-north-1", f"eu.{NOVA2}", EU6),
    # London and Zurich add themselves as destinations when they are the source
    (SONNET45, EUROPE, "eu-west-2", f"eu.{SONNET45}", EU6 | {"eu-west-2"}),
    (SONNET45, EUROPE, "eu-central-2", f"eu.{SONNET45}", EU6 | {"eu-central-2"}),
    # Nova Pro: four-Region core, plus Milan/Spain only when called from there
    (
        NOVA_PRO,
        EU,
        "eu-central-1",
        f"eu.{NOVA_PRO}",
        {"eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"},
    ),
    (
        NOVA_PRO,
        EU,
        "eu-south-1",
        f"eu.{NOVA_PRO}",
        {"eu-central-1", "eu-north-1", "eu-south-1", "eu-west-1", "eu-west-3"},
    ),
    # global policy prefers global. profiles
    (
        SONNET45,
        GLOBAL,
        "eu-central-1",
        f"global.{SONNET45}",
        region_table().partition_regions("aws"),
    ),
    (SONNET45, US, "us-east-1", f"us.{SONNET45}", US3),
    (SONNET45, US, "us-west-1", f"us.{SONNET45}", US3 | {"us-west-1"}),
    (
        f"jp.{SONNET45}",
        ResidencyPolicy.preset("jp"),
        "ap-northeast-1",
        f"jp.{SONNET45}",
        {"ap-northeast-1", "ap-northeast-3"},
    ),
    (
        f"au.{HAIKU45}",
        ResidencyPolicy.preset("au"),
        "ap-southeast-4",
        f"au.{HAIKU45}",
        {"ap-southeast-2", "ap-southeast-4"},
    ),
    (
        "amazon.nova-lite-v1:0",
        ResidencyPolicy.preset("ca"),
        "ca-central-1",
        "ca.amazon.nova-lite-v1:0",
        {"ca-central-1", "ca-west-1"},
    ),
    # explicit profile id and ARN forms
    (f"eu.{SONNET45}", EU, "eu-west-1", f"eu.{SONNET45}", EU6),
    (
        f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{SONNET45}",
        EU,
        "eu-west-1",
        f"eu.{SONNET45}",
        EU6,
    ),
    # in-Region embedding model (no profile needed)
    (
        "amazon.titan-embed-text-v2:0",
        EU,
        "eu-central-1",
        "amazon.titan-embed-text-v2:0",
        {"eu-central-1"},
    ),
    (
        "arn:aws:bedrock:eu-central-1::foundation-model/amazon.titan-embed-text-v2:0",
        EU,
        "eu-central-1",
        "amazon.titan-embed-text-v2:0",
        {"eu-central-1"},
    ),
]


@pytest.mark.parametrize(("model", "policy", "source", "sent", "destinations"), ALLOWED)
def test_allowed_routes(
    model: str, policy: ResidencyPolicy, source: str, sent: str, destinations: set[str]
) -> None:
    route = resolve_route(model, policy, source)
    assert route.model_id == sent
    assert route.destination_regions == destinations
    assert route.source_region == source
    assert route.compliant
    for cand in route.candidates:
        assert cand.destination_regions <= policy.regions
        assert cand.source_region in policy.allowed_sources


REFUSED = [
    # global id under EU: refused, whatever the prefix says
    (f"global.{SONNET45}", EU, "eu-central-1", ResidencyViolation),
    # eu. Claude from London: London is a destination -> refused under eu (source first)
    (f"eu.{SONNET45}", EU, "eu-west-2", SourceRegionNotAllowedError),
    # ... even when London is an allowed source but not a destination
    (
        f"eu.{SONNET45}",
        ResidencyPolicy(name="eu-from-london", regions=EU6, source_regions={"eu-west-2"}),
        "eu-west-2",
        ResidencyViolation,
    ),
    # Tel Aviv adds il-central-1 for Nova Pro
    (
        f"eu.{NOVA_PRO}",
        ResidencyPolicy(name="eu-from-tlv", regions=EU6, source_regions={"il-central-1"}),
        "il-central-1",
        ResidencyViolation,
    ),
    # a us. profile called from Canada may be served in Canada
    (
        f"us.{SONNET45}",
        ResidencyPolicy(
            name="us-from-ca", regions=US3 | {"us-west-1"}, source_regions={"ca-central-1"}
        ),
        "ca-central-1",
        ResidencyViolation,
    ),
    # us-west-1 adds itself
    (
        f"us.{SONNET45}",
        ResidencyPolicy(name="us3", regions=US3, source_regions=US3 | {"us-west-1"}),
        "us-west-1",
        ResidencyViolation,
    ),
    # Nova 2 Lite has no London source
    (f"eu.{NOVA2}", EUROPE, "eu-west-2", ProfileNotAvailableError),
    # jp Nova 2 Lite only from Tokyo
    (f"jp.{NOVA2}", ResidencyPolicy.preset("jp"), "ap-northeast-3", ProfileNotAvailableError),
    # Claude 4.5 has no in-Region throughput: with no compliant profile the refusal explains
    (
        SONNET45,
        ResidencyPolicy(name="frankfurt-only", regions={"eu-central-1"}),
        "eu-central-1",
        ResidencyViolation,
    ),
]


@pytest.mark.parametrize(("model", "policy", "source", "error"), REFUSED)
def test_refused_routes(
    model: str, policy: ResidencyPolicy, source: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        resolve_route(model, policy, source)
    message = str(info.value)
    assert source in message
    assert policy.name in message
    assert isinstance(info.value, ResidencyError)


def test_violation_names_outside_regions_and_alternatives() -> None:
    with pytest.raises(ResidencyViolation) as info:
        resolve_route(f"global.{SONNET45}", EU, "eu-central-1")
    err = info.value
    assert "us-east-1" in err.outside_regions and "eu-west-1" not in err.outside_regions
    assert f"eu.{SONNET45} from eu-central-1" in err.alternatives
    assert "all 34 commercial Regions" in str(err)


def test_london_violation_says_what_complies() -> None:
    policy = ResidencyPolicy(
        name="eu-from-london", regions=EU6, source_regions={"eu-west-2", "eu-west-1"}
    )
    with pytest.raises(ResidencyViolation) as info:
        resolve_route(f"eu.{SONNET45}", policy, "eu-west-2")
    assert info.value.outside_regions == {"eu-west-2"}
    assert any("region_name='eu-west-1'" in a for a in info.value.alternatives)


def test_audit_mode_returns_route_with_violations() -> None:
    route = resolve_route(
        f"global.{SONNET45}", ResidencyPolicy.preset("eu", mode="audit"), "eu-central-1"
    )
    assert route.model_id == f"global.{SONNET45}"
    assert not route.compliant
    assert "outside the policy" in route.violations[0]
    assert route.candidates == (route.candidates[0],)  # no failover for a violating route


def test_prefer_geo_under_global_policy() -> None:
    route = resolve_route(SONNET45, ResidencyPolicy.preset("global", prefer="geo"), "eu-central-1")
    assert route.model_id == f"eu.{SONNET45}"
    assert [c.geography for c in route.candidates].count("global") >= 1


def test_in_region_refused_when_policy_forbids() -> None:
    with pytest.raises(ResidencyViolation, match="does not allow in-Region"):
        resolve_route(
            "amazon.titan-embed-text-v2:0",
            ResidencyPolicy.preset("eu", allow_in_region=False),
            "eu-central-1",
        )


def test_failover_candidates_same_profile_other_sources() -> None:
    route = resolve_route(SONNET45, EU, "eu-central-1")
    sources = [c.source_region for c in route.candidates]
    assert sources[0] == "eu-central-1"
    assert set(sources) == EU6
    assert (
        resolve_route(SONNET45, EU, "eu-central-1", failover=False).candidates
        == route.candidates[:1]
    )
    narrowed = resolve_route(SONNET45, EU, "eu-central-1", failover=["eu-west-1"])
    assert [c.source_region for c in narrowed.candidates] == ["eu-central-1", "eu-west-1"]


def test_cached_resolution_returns_same_object() -> None:
    assert resolve_route(SONNET45, EU, "eu-west-1") is resolve_route(SONNET45, EU, "eu-west-1")


@pytest.mark.parametrize(
    ("model", "error", "fragment"),
    [
        ("", InvalidModelIdentifierError, "empty"),
        ("claude", InvalidModelIdentifierError, "provider.model"),
        (
            "xx.anthropic.claude-sonnet-4-5-20250929-v1:0",
            InvalidModelIdentifierError,
            "allowed profile prefixes: apac, au, ca, eu, global",
        ),
        (
            "arn:aws:bedrock:eu-west-1:123:inference-profile/eu.x",
            InvalidModelIdentifierError,
            "12 digits",
        ),
        ("arn:aws:s3:::bucket/key", InvalidModelIdentifierError, "malformed Bedrock ARN"),
        (
            "arn:aws:bedrock:eu-west-1:123456789012:custom-model/x",
            InvalidModelIdentifierError,
            "unsupported Bedrock resource type",
        ),
        ("arn:aws:bedrock:eu-west-9::foundation-model/x", UnknownRegionError, "eu-west-9"),
        (
            "arn:aws:bedrock:eu-west-3::foundation-model/amazon.titan-embed-text-v2:0",
            InvalidModelIdentifierError,
            "names Region eu-west-3",
        ),
        (
            "anthropic.claude-sonet-4-5-20250929-v1:0",
            UnknownModelError,
            "close matches: anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        ("eu.anthropic.claude-opus-4-1-20250805-v1:0", UnknownModelError, "unknown Bedrock model"),
        (
            "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123",
            UnknownModelError,
            "load_application_profile",
        ),
    ],
)
def test_bad_model_input(model: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        resolve_route(model, EU, "eu-west-1")


def test_unknown_source_region() -> None:
    with pytest.raises(UnknownRegionError, match="Did you mean eu-west-1"):
        resolve_route(SONNET45, EU, "eu-wset-1")


# -- the property ------------------------------------------------------------------------
_CATALOG = ProfileCatalog.bundled()
_MODELS = sorted(_CATALOG.model_ids()) + sorted(p.profile_id for p in _CATALOG)
_REGIONS = sorted(region_table().regions)
_PRESETS = sorted(region_table().presets)

policies = st.one_of(
    st.builds(
        ResidencyPolicy.preset,
        st.sampled_from(_PRESETS),
        mode=st.sampled_from(["enforce"]),
        allow_in_region=st.booleans(),
        prefer=st.sampled_from(["geo", "global", "in_region"]),
    ),
    st.builds(
        lambda r, s, i: ResidencyPolicy(
            name="random", regions=r, source_regions=s, allow_in_region=i
        ),
        st.frozensets(st.sampled_from(_REGIONS), min_size=1, max_size=12),
        st.frozensets(st.sampled_from(_REGIONS), max_size=6),
        st.booleans(),
    ),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies,
    model=st.sampled_from(_MODELS),
    source=st.sampled_from(_REGIONS),
    failover=st.booleans(),
)
def test_property_route_inside_policy_or_residency_error(
    policy: ResidencyPolicy, model: str, source: str, failover: bool
) -> None:
    try:
        route = resolve_route(model, policy, source, _CATALOG, failover=failover)
    except ResidencyError:
        return
    assert route.destination_regions <= policy.regions
    assert route.source_region in policy.allowed_sources
    for cand in route.candidates:
        assert cand.destination_regions <= policy.regions
        assert cand.source_region in policy.allowed_sources
        profile = _CATALOG.get(cand.profile_id) if cand.profile_id else None
        if profile is not None:
            # the candidate's destinations are exactly the catalog's for that source
            assert profile.destinations(cand.source_region) == cand.destination_regions
        else:
            assert cand.destination_regions == {cand.source_region}
            assert policy.allow_in_region


def test_sweep_every_preset_model_and_source() -> None:
    """Exhaustive companion of the property: presets x models x in-policy sources."""
    routed = refused = 0
    for name in _PRESETS:
        policy = ResidencyPolicy.preset(name)
        for model in _MODELS:
            for source in sorted(policy.allowed_sources):
                try:
                    route = resolve_route(model, policy, source, _CATALOG)
                except ResidencyError:
                    refused += 1
                    continue
                routed += 1
                assert route.destination_regions <= policy.regions
                assert all(c.destination_regions <= policy.regions for c in route.candidates)
    # the sweep must exercise both outcomes substantially, or it proves nothing
    assert routed > 500 and refused > 500
