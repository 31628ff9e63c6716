"""Shared helpers for the emulator integration tests: clients built only through boto3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from langchain_cris.emulator import LocalBedrock

EU_SONNET = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
#: Botocore sends a request exactly once: single failures become visible.
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})

ClientFactory = Callable[..., Any]


@pytest.fixture
def client(local_bedrock: LocalBedrock) -> ClientFactory:
    """``client(service, region, config=None)``: a plain boto3 client aimed at the emulator."""

    def make(service: str, region: str = "eu-central-1", config: Config | None = None) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=local_bedrock.endpoint_url,
            config=config,
        )

    return make


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]
