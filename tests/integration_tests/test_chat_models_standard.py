"""langchain-tests' ``ChatModelIntegrationTests`` for ``ChatBedrockCRIS`` on the local Bedrock.

Every call goes through the residency machinery (an EU policy on the model), so the suite
proves the drop-in claim: everything ``ChatBedrockConverse`` does still works when routed.
The async tests run on the native async transport: for them the sync boto3 client pool is
made to fail, so a silent fall back to the thread pool would fail the suite.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.transport.clients import RuntimeClientPool

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


class TestChatBedrockCRISIntegration(ChatModelIntegrationTests):
    _endpoint_url: str = ""

    @pytest.fixture(autouse=True, scope="class")
    def _local_bedrock(self) -> Iterator[LocalBedrock]:
        with LocalBedrock(seed=0) as bedrock:
            type(self)._endpoint_url = bedrock.endpoint_url
            yield bedrock

    @pytest.fixture(autouse=True)
    def _async_tests_use_the_native_path(
        self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not inspect.iscoroutinefunction(request.function):
            return

        def no_sync_client(pool: RuntimeClientPool, region: str) -> Any:
            raise AssertionError(f"async test {request.node.name} used a sync boto3 client")

        monkeypatch.setattr(RuntimeClientPool, "get", no_sync_client)

    @property
    def chat_model_class(self) -> type[ChatBedrockCRIS]:
        return ChatBedrockCRIS

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": SONNET,
            "region_name": "eu-central-1",
            "endpoint_url": self._endpoint_url,
            "residency_policy": ResidencyPolicy.preset("eu"),
            "failover_backoff": 0.0,
        }

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return HAIKU
