from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from langchain_cris import ProfileCatalog, ResidencyPolicy, resolve_route
from langchain_cris.catalog import parse_model_arn_region

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_bundled_catalog_has_the_issue_models_in_every_geography() -> None:
    cat = ProfileCatalog.bundled()
    ids = {p.profile_id for p in cat}
    for model in (SONNET45, "anthropic.claude-haiku-4-5-20251001-v1:0"):
        for geo in ("eu", "us", "global", "jp", "au"):
            assert f"{geo}.{model}" in ids
    for model in ("amazon.nova-pro-v1:0", "amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0"):
        assert f"eu.{model}" in ids and f"us.{model}" in ids and f"apac.{model}" in ids
    assert "ca.amazon.nova-lite-v1:0" in ids
    for geo in ("eu", "us", "global", "jp"):
        assert f"{geo}.amazon.nova-2-lite-v1:0" in ids
    assert "anthropic.claude-sonnet-4-20250514-v1:0" in cat.model_ids()
    assert "eu.anthropic.claude-opus-4-5-20251101-v1:0" in ids


def test_per_source_differences_are_exact() -> None:
    cat = ProfileCatalog.bundled()
    eu = cat.require(f"eu.{SONNET45}")
    assert "eu-west-2" in eu.destinations("eu-west-2")
    assert "eu-west-2" not in eu.destinations("eu-central-1")
    assert "eu-central-2" in eu.destinations("eu-central-2")
    pro = cat.require("eu.amazon.nova-pro-v1:0")
    assert "il-central-1" in pro.destinations("il-central-1")
    assert "il-central-1" not in pro.destinations("eu-west-1")
    us = cat.require(f"us.{SONNET45}")
    assert "ca-central-1" in us.destinations("ca-central-1")
    assert "us-west-1" in us.destinations("us-west-1")
    assert "us-west-1" not in us.destinations("us-east-1")
    assert cat.require("jp.amazon.nova-2-lite-v1:0").source_regions == {"ap-northeast-1"}
    assert eu.destinations("us-east-1") == frozenset()


def test_arn_for_source_and_account() -> None:
    eu = ProfileCatalog.bundled().require(f"eu.{SONNET45}")
    assert eu.arn_for("eu-west-1", "123456789012") == (
        f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{SONNET45}"
    )


def test_lookup_by_arn_and_suggestions() -> None:
    cat = ProfileCatalog.bundled()
    arn = f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{SONNET45}"
    assert cat.get(arn) is cat.get(f"eu.{SONNET45}")
    assert f"eu.{SONNET45}" in cat.suggest("eu.anthropic.claude-sonet-4-5-20250929-v1:0")


def test_parse_model_arn_region() -> None:
    assert parse_model_arn_region("arn:aws:bedrock:eu-west-3::foundation-model/x.y") == (
        "eu-west-3",
        "x.y",
    )
    assert parse_model_arn_region("arn:aws:bedrock:::foundation-model/x.y") == ("", "x.y")
    with pytest.raises(ValueError):
        parse_model_arn_region("arn:aws:bedrock:eu-west-3:1:inference-profile/x")


def test_snapshot_round_trip(tmp_path: Path) -> None:
    cat = ProfileCatalog.bundled()
    path = tmp_path / "snap.json"
    cat.to_file(path)
    again = ProfileCatalog.from_file(path)
    assert {p.profile_id: p.routes for p in again} == {p.profile_id: p.routes for p in cat}
    assert again.on_demand_regions("amazon.titan-embed-text-v2:0") == cat.on_demand_regions(
        "amazon.titan-embed-text-v2:0"
    )


# -- live refresh (botocore Stubber: real request/response shapes, validated) -------------
def _summary(
    profile_id: str,
    regions: list[str],
    model: str,
    ptype: str = "SYSTEM_DEFINED",
    arn: str | None = None,
) -> dict[str, Any]:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return {
        "inferenceProfileName": profile_id,
        "inferenceProfileArn": arn
        or f"arn:aws:bedrock:eu-west-2:123456789012:inference-profile/{profile_id}",
        "inferenceProfileId": profile_id,
        "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model}"} for r in regions],
        "status": "ACTIVE",
        "type": ptype,
        "createdAt": now,
        "updatedAt": now,
    }


def _stubbed(region: str) -> tuple[Any, Stubber]:
    client = boto3.client("bedrock", region_name=region)
    return client, Stubber(client)


def test_refresh_parses_destinations_per_source_with_pagination() -> None:
    client, stub = _stubbed("eu-west-2")
    new_model = "anthropic.claude-sonnet-5-20261101-v1:0"
    page1 = [_summary(f"eu.{new_model}", ["eu-central-1", "eu-west-1", "eu-west-2"], new_model)]
    page2 = [_summary(f"eu.{SONNET45}", ["eu-west-1", "eu-west-2"], SONNET45)]
    stub.add_response(
        "list_inference_profiles",
        {"inferenceProfileSummaries": page1, "nextToken": "t1"},
        {"typeEquals": "SYSTEM_DEFINED"},
    )
    stub.add_response(
        "list_inference_profiles",
        {"inferenceProfileSummaries": page2},
        {"typeEquals": "SYSTEM_DEFINED", "nextToken": "t1"},
    )
    app_arn = "arn:aws:bedrock:eu-west-2:123456789012:application-inference-profile/abc123xyz"
    stub.add_response(
        "list_inference_profiles",
        {
            "inferenceProfileSummaries": [
                _summary("abc123xyz", ["eu-west-1", "eu-west-2"], SONNET45, "APPLICATION", app_arn)
            ]
        },
        {"typeEquals": "APPLICATION"},
    )
    cat = ProfileCatalog.bundled()
    generation = cat.generation
    with stub:
        changed = cat.refresh(["eu-west-2"], client_factory=lambda region: client)
        stub.assert_no_pending_responses()
    assert changed == 3
    assert cat.generation > generation
    assert cat.require(f"eu.{new_model}").destinations("eu-west-2") == {
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
    }
    # an existing profile's other sources keep their bundled rows
    sonnet = cat.require(f"eu.{SONNET45}")
    assert sonnet.destinations("eu-west-2") == {"eu-west-1", "eu-west-2"}
    assert "eu-south-2" in sonnet.destinations("eu-central-1")
    app = cat.require(app_arn)
    assert app.profile_type == "APPLICATION" and app.model_id == SONNET45
    # routing sees the refreshed data at once
    europe = ResidencyPolicy.preset("europe")
    assert resolve_route(f"eu.{new_model}", europe, "eu-west-2", cat).destination_regions == {
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
    }
    route = resolve_route(app_arn, europe, "eu-west-2", cat)
    assert route.model_id == app_arn and route.kind == "application"


def test_refresh_respects_ttl() -> None:
    client, stub = _stubbed("eu-west-1")
    for type_equals in ("SYSTEM_DEFINED", "APPLICATION"):
        stub.add_response(
            "list_inference_profiles",
            {"inferenceProfileSummaries": []},
            {"typeEquals": type_equals},
        )
    cat = ProfileCatalog.bundled()
    with stub:
        cat.refresh(["eu-west-1"], client_factory=lambda r: client)
        # a second refresh inside the TTL makes no call (the stub would raise if it did)
        cat.refresh(["eu-west-1"], client_factory=lambda r: client)


def test_load_application_profile() -> None:
    client, stub = _stubbed("eu-central-1")
    arn = "arn:aws:bedrock:eu-central-1:123456789012:application-inference-profile/q1w2e3"
    summary = _summary("q1w2e3", ["eu-central-1", "eu-west-3"], SONNET45, "APPLICATION", arn)
    stub.add_response("get_inference_profile", summary, {"inferenceProfileIdentifier": arn})
    cat = ProfileCatalog.bundled()
    with stub:
        profile = cat.load_application_profile(arn, client_factory=lambda r: client)
    assert profile.arn == arn
    assert profile.destinations("eu-central-1") == {"eu-central-1", "eu-west-3"}
    route = resolve_route(arn, ResidencyPolicy.preset("eu"), "eu-central-1", cat)
    assert route.destination_regions == {"eu-central-1", "eu-west-3"}
