"""Live catalog refresh over the real HTTP wire shape (the embedded local Bedrock)."""

from __future__ import annotations

from typing import Any

from langchain_cris import ProfileCatalog, ResidencyPolicy, resolve_route

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def _factory(local_bedrock: Any) -> Any:
    def make(region: str) -> Any:
        return local_bedrock.client("bedrock", region)

    return make


def test_refresh_paginates_and_matches_the_bundle(local_bedrock: Any) -> None:
    bundled = ProfileCatalog.bundled()
    live = ProfileCatalog(
        [], on_demand={}, source="empty", retrieved=""
    )  # start empty: everything must come over the wire
    changed = live.refresh(
        ["eu-west-2", "eu-central-1"], client_factory=_factory(local_bedrock), force=True
    )
    assert changed > 20  # more than one page of ListInferenceProfiles
    for region in ("eu-west-2", "eu-central-1"):
        for profile in bundled:
            if region in profile.routes:
                assert live.require(profile.profile_id).destinations(
                    region
                ) == profile.destinations(region), (profile.profile_id, region)
    # paginated: the wire log shows several ListInferenceProfiles pages per Region
    pages = [
        r
        for r in local_bedrock.wire_log
        if r.operation == "ListInferenceProfiles" and r.source_region == "eu-west-2"
    ]
    assert len(pages) >= 2


def test_application_profile_over_the_wire(local_bedrock: Any) -> None:
    bedrock = local_bedrock.client("bedrock", "eu-central-1")
    source_arn = f"arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.{SONNET45}"
    arn = bedrock.create_inference_profile(
        inferenceProfileName="team-a", modelSource={"copyFrom": source_arn}
    )["inferenceProfileArn"]
    catalog = ProfileCatalog.bundled()
    profile = catalog.load_application_profile(arn, client_factory=_factory(local_bedrock))
    assert profile.model_id == SONNET45
    route = resolve_route(arn, ResidencyPolicy.preset("eu"), "eu-central-1", catalog)
    assert route.kind == "application"
    assert route.destination_regions == catalog.require(f"eu.{SONNET45}").destinations(
        "eu-central-1"
    )
