"""Provider and base model come from the catalog at construction, for every prefix and ARN.

langchain-aws guesses the provider from a fixed prefix list, so ``ca.amazon.nova-lite-v1:0``
becomes provider ``ca`` with streaming disabled and a warning. ``ChatBedrockCRIS`` resolves the
base model first; nothing here touches the network.
"""

from __future__ import annotations

import logging

import pytest

from langchain_cris import ChatBedrockCRIS, ProfileCatalog
from langchain_cris.catalog import InferenceProfile

ACCOUNT = "123456789012"
NOVA_LITE = "amazon.nova-lite-v1:0"
HAIKU45 = "anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"

CASES = [
    (f"ca.{NOVA_LITE}", NOVA_LITE, "amazon"),
    (f"eu.{NOVA_LITE}", NOVA_LITE, "amazon"),
    (f"us.{NOVA_LITE}", NOVA_LITE, "amazon"),
    (f"apac.{NOVA_LITE}", NOVA_LITE, "amazon"),
    ("jp.amazon.nova-2-lite-v1:0", "amazon.nova-2-lite-v1:0", "amazon"),
    (f"au.{HAIKU45}", HAIKU45, "anthropic"),
    (f"in.{HAIKU45}", HAIKU45, "anthropic"),
    (f"us-gov.{SONNET45}", SONNET45, "anthropic"),
    (f"global.{SONNET45}", SONNET45, "anthropic"),
    ("eu.anthropic.claude-sonnet-4-6", "anthropic.claude-sonnet-4-6", "anthropic"),
    (NOVA_LITE, NOVA_LITE, "amazon"),
    (
        f"arn:aws:bedrock:ca-central-1:{ACCOUNT}:inference-profile/ca.{NOVA_LITE}",
        NOVA_LITE,
        "amazon",
    ),
    (
        f"arn:aws-us-gov:bedrock:us-gov-west-1:{ACCOUNT}:inference-profile/us-gov.{SONNET45}",
        SONNET45,
        "anthropic",
    ),
    (f"arn:aws:bedrock:eu-west-2::foundation-model/{NOVA_LITE}", NOVA_LITE, "amazon"),
]


@pytest.mark.parametrize(("model", "base", "provider"), CASES)
def test_provider_and_base_model_from_the_catalog(
    model: str, base: str, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        llm = ChatBedrockCRIS(model=model, region_name="eu-central-1")
    assert llm.provider == provider
    assert llm.disable_streaming is False  # these models stream with ConverseStream
    assert (llm.base_model_id or llm.model_id).endswith(base)
    assert llm.model_id == model  # the id itself is never rewritten
    assert not [r for r in caplog.records if "Streaming disabled" in r.getMessage()]


def test_unknown_profile_of_a_known_prefix_strips_the_prefix() -> None:
    llm = ChatBedrockCRIS(model="in.amazon.nova-lite-v1:0", region_name="ap-south-1")
    assert llm.provider == "amazon" and llm.disable_streaming is False


def test_application_profile_arn_known_to_the_catalog() -> None:
    arn = f"arn:aws:bedrock:eu-central-1:{ACCOUNT}:application-inference-profile/q1w2e3"
    catalog = ProfileCatalog.bundled()
    catalog.add(
        InferenceProfile(
            "q1w2e3",
            NOVA_LITE,
            "application",
            {"eu-central-1": frozenset({"eu-central-1"})},
            profile_type="APPLICATION",
            arn=arn,
        )
    )
    llm = ChatBedrockCRIS(model=arn, region_name="eu-central-1", catalog=catalog)
    assert llm.provider == "amazon"
    assert llm.base_model_id == NOVA_LITE
    assert llm.disable_streaming is False


def test_explicit_provider_and_base_model_win() -> None:
    llm = ChatBedrockCRIS(
        model=f"ca.{NOVA_LITE}",
        region_name="ca-central-1",
        provider="amazon",
        base_model_id="amazon.nova-pro-v1:0",
    )
    assert llm.base_model_id == "amazon.nova-pro-v1:0"


def test_unknown_application_profile_needs_a_provider() -> None:
    arn = f"arn:aws:bedrock:eu-central-1:{ACCOUNT}:application-inference-profile/zzz"
    with pytest.raises(ValueError, match="provider"):
        ChatBedrockCRIS(model=arn, region_name="eu-central-1")


# -- when live routes apply (no network here: only the decision is checked) ------------------
def test_live_routes_apply_to_the_models_own_transport_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from langchain_cris.transport.clients import RuntimeClientPool

    llm = ChatBedrockCRIS(model=f"eu.{SONNET45}", region_name="eu-central-1")
    assert llm._live() is not None  # talks to AWS: asks AWS
    assert (
        ChatBedrockCRIS(model=SONNET45, region_name="eu-central-1", live_catalog=False)._live()
        is None
    )
    own = boto3.client("bedrock-runtime", region_name="eu-central-1")
    assert ChatBedrockCRIS(model=SONNET45, client=own)._live() is None  # the user's transport
    swapped = ChatBedrockCRIS(model=SONNET45, region_name="eu-central-1")
    swapped._cris.pool = RuntimeClientPool(lambda region: own)  # the unit-test seam
    assert swapped._live() is None
    monkeypatch.setenv("LANGCHAIN_CRIS_OFFLINE", "1")
    assert llm._live() is None


def test_live_layer_is_shared_per_endpoint_and_identity() -> None:
    a = ChatBedrockCRIS(
        model=SONNET45, region_name="eu-central-1", endpoint_url="http://127.0.0.1:1"
    )
    b = ChatBedrockCRIS(model=SONNET45, region_name="eu-west-1", endpoint_url="http://127.0.0.1:1")
    c = ChatBedrockCRIS(model=SONNET45, region_name="eu-west-1", endpoint_url="http://127.0.0.1:2")
    d = ChatBedrockCRIS(
        model=SONNET45,
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="AKIDOTHERACCOUNT",
        aws_secret_access_key="x",
    )
    assert a._live() is b._live()
    assert a._live() is not c._live()
    assert a._live() is not d._live()
