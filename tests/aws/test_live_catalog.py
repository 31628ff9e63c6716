"""Live checks of the bundled snapshot against AWS (skipped without credentials)."""

from __future__ import annotations

import pytest

from langchain_cris import ProfileCatalog, ResidencyPolicy, resolve_route

pytestmark = pytest.mark.aws

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize("region", ["eu-central-1", "eu-west-2"])
def test_refresh_matches_bundled_eu_sonnet(region: str) -> None:
    bundled = ProfileCatalog.bundled()
    live = ProfileCatalog.bundled()
    live.refresh([region], force=True)
    profile_id = f"eu.{SONNET45}"
    assert live.require(profile_id).destinations(region) == bundled.require(
        profile_id
    ).destinations(region)


def test_live_route_is_inside_policy() -> None:
    catalog = ProfileCatalog.bundled()
    catalog.refresh(["eu-central-1"], force=True)
    route = resolve_route(SONNET45, ResidencyPolicy.preset("eu"), "eu-central-1", catalog)
    assert route.destination_regions <= ResidencyPolicy.preset("eu").regions
