"""langchain-tests' standard ChatModelIntegrationTests against plain ChatBedrockConverse.

The external suite is the fidelity bar: unmodified ``langchain_aws.ChatBedrockConverse`` talks to
the local Bedrock through ``endpoint_url`` exactly as it would to AWS.

The suite downloads a PNG and a PDF from the internet for its multimodal tests; these tests run
offline (pytest-socket), so ``httpx.get`` is served from small files generated here instead.
The model code under test is untouched.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx
import pytest
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_cris.emulator import LocalBedrock

MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
_ENDPOINT: dict[str, str] = {}


def _png(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _offline_get(url: str, *args: Any, **kwargs: Any) -> httpx.Response:
    if url.endswith(".png"):
        return httpx.Response(200, content=_png())
    if url.endswith(".pdf"):
        return httpx.Response(200, content=_PDF)
    raise AssertionError(f"unexpected download in an offline test: {url}")


@pytest.fixture(autouse=True)
def _wire_up(local_bedrock_session: LocalBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    _ENDPOINT["url"] = local_bedrock_session.endpoint_url
    monkeypatch.setattr(httpx, "get", _offline_get)


class TestChatBedrockConverseOnLocalBedrock(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatBedrockConverse

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": MODEL, "region_name": "eu-central-1", "endpoint_url": _ENDPOINT["url"]}

    @property
    def supports_model_override(self) -> bool:
        # ChatBedrockConverse rejects invoke(model=...) with TypeError: a langchain-aws limit.
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return True  # Converse image blocks (bytes); the emulator counts and acknowledges them

    @property
    def supports_image_urls(self) -> bool:
        return False  # Converse takes bytes or S3 locations, never http URLs

    @property
    def supports_pdf_inputs(self) -> bool:
        return True  # Converse document blocks

    @property
    def supports_image_tool_message(self) -> bool:
        return True  # toolResult content may hold images

    @property
    def supports_pdf_tool_message(self) -> bool:
        return True  # toolResult content may hold documents

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True

    @property
    def supports_audio_inputs(self) -> bool:
        return False  # Claude on Converse takes no audio
