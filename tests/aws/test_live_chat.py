"""ChatBedrockCRIS against real Amazon Bedrock (skipped without credentials).

Set ``LANGCHAIN_CRIS_AWS_REGION`` (default eu-central-1) to an EU Region where your account
has access to Claude Haiku 4.5 through the ``eu.`` profile.
"""

from __future__ import annotations

import os

import pytest
from langchain_core.output_parsers import StrOutputParser

from langchain_cris import ChatBedrockCRIS, ResidencyPolicy, ResidencyViolation, with_residency

pytestmark = pytest.mark.aws

REGION = os.environ.get("LANGCHAIN_CRIS_AWS_REGION", "eu-central-1")
HAIKU45 = "anthropic.claude-haiku-4-5-20251001-v1:0"


def test_eu_chain_uses_the_eu_profile() -> None:
    llm = ChatBedrockCRIS(model=HAIKU45, region_name=REGION, max_tokens=32)
    chain = with_residency(llm, ResidencyPolicy.preset("eu"))
    message = chain.invoke("Reply with the single word: ok")
    cris = message.response_metadata["cris"]
    assert cris["model_id"] == f"eu.{HAIKU45}"
    assert cris["source_region"] == REGION
    assert cris["request_id"]
    assert set(cris["destination_regions"]) <= ResidencyPolicy.preset("eu").regions


def test_global_id_refused_under_eu_before_sending() -> None:
    llm = ChatBedrockCRIS(model=f"global.{HAIKU45}", region_name=REGION)
    with pytest.raises(ResidencyViolation):
        with_residency(llm | StrOutputParser(), ResidencyPolicy.preset("eu")).invoke("hi")
