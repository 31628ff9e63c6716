"""Route drift between a reference catalog and live answers."""

from __future__ import annotations

from langchain_cris import ProfileCatalog, ResidencyPolicy
from langchain_cris.catalog import InferenceProfile
from langchain_cris.catalog.drift import affected_policies, compare_catalogs

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def _live_from(reference: ProfileCatalog, region: str) -> ProfileCatalog:
    """What an unchanged AWS would answer in ``region``: the reference rows for it."""
    rows = [
        InferenceProfile(p.profile_id, p.model_id, p.geography, {region: p.destinations(region)})
        for p in reference
        if region in p.routes
    ]
    return ProfileCatalog(rows)


def test_no_drift_when_live_matches() -> None:
    ref = ProfileCatalog.bundled()
    assert compare_catalogs(ref, _live_from(ref, "eu-central-1"), ["eu-central-1"]) == []


def test_widening_narrowing_new_and_gone() -> None:
    ref = ProfileCatalog.bundled()
    live = _live_from(ref, "eu-central-1")
    eu = live.require(f"eu.{SONNET45}")
    live.add(
        InferenceProfile(
            eu.profile_id,
            eu.model_id,
            "eu",
            {"eu-central-1": eu.destinations("eu-central-1") | {"eu-west-2"}},
        )
    )
    pro = live.require("eu.amazon.nova-pro-v1:0")
    live.add(
        InferenceProfile(
            pro.profile_id, pro.model_id, "eu", {"eu-central-1": frozenset({"eu-central-1"})}
        )
    )
    live.add(
        InferenceProfile(
            "eu.acme.x-v1", "acme.x-v1", "eu", {"eu-central-1": frozenset({"eu-west-1"})}
        )
    )
    gone = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
    rest = [p for p in live if p.profile_id != gone]
    drift = {d.profile_id: d for d in compare_catalogs(ref, ProfileCatalog(rest), ["eu-central-1"])}
    assert drift[f"eu.{SONNET45}"].kind == "widened"
    assert drift[f"eu.{SONNET45}"].added == {"eu-west-2"}
    assert drift["eu.amazon.nova-pro-v1:0"].kind == "narrowed"
    assert drift["eu.acme.x-v1"].kind == "new_profile"
    assert drift[gone].kind == "gone"
    assert [d.profile_id for d in drift.values() if d.widening] == [f"eu.{SONNET45}"]
    policies = [ResidencyPolicy.preset(n) for n in ("eu", "europe", "global", "us")]
    names = [p.name for p in affected_policies(drift[f"eu.{SONNET45}"], policies)]
    assert names == ["eu"]  # europe includes London; global/us never allowed this row
    assert drift[f"eu.{SONNET45}"].to_json(policies)["affects_policies"] == ["eu"]


def test_new_source_row_of_a_known_profile() -> None:
    ref = ProfileCatalog.bundled()
    live = ProfileCatalog(
        [
            InferenceProfile(
                f"au.{SONNET45}",
                SONNET45,
                "au",
                {"ap-east-2": frozenset({"ap-southeast-2", "ap-east-2"})},
            )
        ]
    )
    drift = {d.profile_id: d for d in compare_catalogs(ref, live, ["ap-east-2"])}
    assert drift[f"au.{SONNET45}"].kind == "new_source"
    assert not drift[f"au.{SONNET45}"].widening
    # every reference row AWS did not answer for is reported as gone
    assert drift[f"global.{SONNET45}"].kind == "gone"
