"""bedrock control plane: inference profiles (list/get/create) and foundation models."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.emulator import LocalBedrock

from .conftest import EU_SONNET, NO_RETRY, SONNET, ClientFactory, user


def test_list_paginates_and_filters_by_type(client: ClientFactory) -> None:
    bedrock = client("bedrock", "eu-central-1")
    pages = list(
        bedrock.get_paginator("list_inference_profiles").paginate(
            typeEquals="SYSTEM_DEFINED", PaginationConfig={"PageSize": 5}
        )
    )
    assert len(pages) > 2 and all(len(p["inferenceProfileSummaries"]) <= 5 for p in pages)
    ids = [s["inferenceProfileId"] for p in pages for s in p["inferenceProfileSummaries"]]
    expected = {p.profile_id for p in ProfileCatalog.bundled() if p.destinations("eu-central-1")}
    assert set(ids) == expected and len(ids) == len(expected)
    assert (
        bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []
    )


def test_get_profile_lists_destinations_for_the_callers_region(client: ClientFactory) -> None:
    london = client("bedrock", "eu-west-2").get_inference_profile(
        inferenceProfileIdentifier=EU_SONNET
    )
    frankfurt = client("bedrock", "eu-central-1").get_inference_profile(
        inferenceProfileIdentifier=EU_SONNET
    )
    regions = {m["modelArn"].split(":")[3] for m in london["models"]}
    assert "eu-west-2" in regions
    assert "eu-west-2" not in {m["modelArn"].split(":")[3] for m in frankfurt["models"]}
    assert london["inferenceProfileArn"] == (
        f"arn:aws:bedrock:eu-west-2:123456789012:inference-profile/{EU_SONNET}"
    )
    assert london["status"] == "ACTIVE" and london["type"] == "SYSTEM_DEFINED"
    by_arn = client("bedrock", "eu-west-2").get_inference_profile(
        inferenceProfileIdentifier=london["inferenceProfileArn"]
    )
    assert by_arn["inferenceProfileId"] == EU_SONNET
    with pytest.raises(ClientError) as info:
        client("bedrock", "us-east-1", NO_RETRY).get_inference_profile(
            inferenceProfileIdentifier=EU_SONNET
        )
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_application_profile_routes_like_its_source(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    bedrock = client("bedrock", "eu-central-1")
    source_arn = f"arn:aws:bedrock:eu-central-1:123456789012:inference-profile/{EU_SONNET}"
    created = bedrock.create_inference_profile(
        inferenceProfileName="team-a",
        modelSource={"copyFrom": source_arn},
        tags=[{"key": "team", "value": "a"}],
    )
    arn = created["inferenceProfileArn"]
    assert ":application-inference-profile/" in arn and created["status"] == "ACTIVE"
    got = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert got["type"] == "APPLICATION" and got["inferenceProfileName"] == "team-a"
    runtime = client("bedrock-runtime", "eu-central-1")
    for _ in range(20):
        runtime.converse(modelId=arn, messages=user("Hi"))
    allowed = ProfileCatalog.bundled().get(EU_SONNET).destinations("eu-central-1")  # type: ignore[union-attr]
    assert {r.served_region for r in local_bedrock.wire_log.runtime()} <= allowed
    single = bedrock.create_inference_profile(
        inferenceProfileName="titan-only",
        modelSource={
            "copyFrom": "arn:aws:bedrock:eu-central-1::foundation-model/amazon.titan-text-express-v1"
        },
    )["inferenceProfileArn"]
    runtime.converse(modelId=single, messages=user("Hi"))
    assert local_bedrock.wire_log.runtime()[-1].served_region == "eu-central-1"
    with pytest.raises(ClientError) as info:
        client("bedrock-runtime", "eu-west-1", NO_RETRY).converse(modelId=arn, messages=user("x"))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as info:
        client("bedrock", "eu-central-1", NO_RETRY).create_inference_profile(
            inferenceProfileName="team-a", modelSource={"copyFrom": source_arn}
        )
    assert info.value.response["Error"]["Code"] == "ConflictException"


def test_list_foundation_models_by_inference_type(client: ClientFactory) -> None:
    bedrock = client("bedrock", "eu-central-1")
    on_demand = {
        m["modelId"]
        for m in bedrock.list_foundation_models(byInferenceType="ON_DEMAND")["modelSummaries"]
    }
    assert "amazon.titan-embed-text-v2:0" in on_demand and SONNET not in on_demand
    via_profile = bedrock.list_foundation_models(byInferenceType="INFERENCE_PROFILE")
    assert SONNET in {m["modelId"] for m in via_profile["modelSummaries"]}
