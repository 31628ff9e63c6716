"""Residency-checked embeddings against the local Bedrock: the wire log shows where they ran."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_cris import BedrockEmbeddingsCRIS, ResidencyError, ResidencyPolicy, with_residency
from langchain_cris.emulator.local import FAKE_CREDENTIALS

EU = ResidencyPolicy.preset("eu")


def _embeddings(local_bedrock: Any, model_id: str, **kw: Any) -> BedrockEmbeddingsCRIS:
    return BedrockEmbeddingsCRIS(
        model_id=model_id,
        region_name="eu-central-1",
        endpoint_url=local_bedrock.endpoint_url,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        **kw,
    )


def test_titan_in_region_and_cohere_through_the_eu_profile(local_bedrock: Any) -> None:
    titan = _embeddings(local_bedrock, "amazon.titan-embed-text-v2:0", residency_policy=EU)
    vectors = titan.embed_documents(["Frankfurt", "Paris"])
    assert len(vectors) == 2 and len(vectors[0]) > 0
    cohere = _embeddings(local_bedrock, "cohere.embed-v4:0", residency_policy=EU)
    assert len(cohere.embed_query("where?")) > 0
    calls = local_bedrock.wire_log.runtime()
    assert [c.model_id for c in calls] == [
        "amazon.titan-embed-text-v2:0",
        "amazon.titan-embed-text-v2:0",
        "eu.cohere.embed-v4:0",
    ]
    assert all(c.source_region == "eu-central-1" and c.served_region in EU.regions for c in calls)
    assert calls[0].served_region == "eu-central-1"


def test_retriever_inside_a_bound_chain(local_bedrock: Any) -> None:
    # indexing outside any chain uses the model default; retrieval inside the chain its binding
    emb = _embeddings(local_bedrock, "amazon.titan-embed-text-v2:0", residency_policy=EU)
    store = InMemoryVectorStore.from_texts(["alpha", "beta"], emb)
    pipeline = store.as_retriever(search_kwargs={"k": 1}) | RunnableLambda(
        lambda docs: [d.page_content for d in docs]
    )
    assert with_residency(pipeline, "europe").invoke("alpha") == ["alpha"]
    sent = len(local_bedrock.wire_log.runtime())
    with pytest.raises(ResidencyError):
        with_residency(pipeline, ResidencyPolicy.preset("us")).invoke("alpha")
    assert len(local_bedrock.wire_log.runtime()) == sent  # nothing left the process
