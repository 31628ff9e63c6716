"""BedrockEmbeddingsCRIS refuses before sending (sockets are blocked here)."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_cris import (
    BedrockEmbeddingsCRIS,
    NoPolicyError,
    ResidencyPolicy,
    ResidencyViolation,
    SourceRegionNotAllowedError,
    with_residency,
)

TITAN = "amazon.titan-embed-text-v2:0"
EU = ResidencyPolicy.preset("eu")


def test_titan_routes_in_region() -> None:
    emb = BedrockEmbeddingsCRIS(model_id=TITAN, region_name="eu-central-1", residency_policy=EU)
    route = emb.route()
    assert route.model_id == TITAN
    assert route.destination_regions == {"eu-central-1"}


def test_cohere_base_id_routes_to_the_eu_profile() -> None:
    emb = BedrockEmbeddingsCRIS(
        model_id="cohere.embed-v4:0", region_name="eu-west-1", residency_policy=EU
    )
    assert emb.route().model_id == "eu.cohere.embed-v4:0"


def test_refused_before_any_network_call() -> None:
    emb = BedrockEmbeddingsCRIS(model_id=TITAN, region_name="us-east-1", residency_policy=EU)
    # a network attempt would raise pytest-socket's error instead
    with pytest.raises(SourceRegionNotAllowedError, match="us-east-1"):
        emb.embed_query("where is this processed?")
    with pytest.raises(SourceRegionNotAllowedError):
        emb.embed_documents(["a", "b"])
    global_cohere = BedrockEmbeddingsCRIS(
        model_id="global.cohere.embed-v4:0", region_name="eu-central-1", residency_policy=EU
    )
    with pytest.raises(ResidencyViolation):
        global_cohere.embed_query("x")


def test_no_policy_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGCHAIN_CRIS_POLICY", raising=False)
    emb = BedrockEmbeddingsCRIS(model_id=TITAN, region_name="eu-central-1")
    with pytest.raises(NoPolicyError, match="with_residency"):
        emb.embed_query("x")
    monkeypatch.setenv("LANGCHAIN_CRIS_POLICY", "eu")
    assert emb.route().destination_regions == {"eu-central-1"}


def test_chain_bound_policy_wins_over_the_default() -> None:
    emb = BedrockEmbeddingsCRIS(
        model_id=TITAN,
        region_name="eu-central-1",
        residency_policy=ResidencyPolicy.preset("global"),
    )
    probe = RunnableLambda(lambda _: emb.route())
    assert with_residency(probe, EU).invoke("q").policy_name == "eu"
    with pytest.raises(SourceRegionNotAllowedError):
        with_residency(probe, ResidencyPolicy.preset("us")).invoke("q")
