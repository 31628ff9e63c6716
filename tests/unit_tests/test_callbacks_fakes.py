"""Test seams for CRISCallbackHandler (no tests here; imported by the callback test modules).

* ``FakeCRISChatModel`` — a tiny ``BaseChatModel`` whose replies carry
  ``response_metadata["cris"]`` exactly per the shared contract, so the handler runs through
  the real langchain-core callback machinery before ``ChatBedrockCRIS`` exists.
* ``FakeConverseModel`` — replies shaped like plain ``ChatBedrockConverse`` ones.
* ``CaptureSession`` / ``capture_client`` — an offline LangSmith: a ``langsmith.Client`` whose
  HTTP session records every request body instead of sending it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from langchain_cris.errors import ResidencyViolation

EU_REGIONS = [
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-3",
]
PROJECT_ID = "11111111-2222-3333-4444-555555555555"


def cris_metadata(
    *,
    request_id: str = "req-1",
    source_region: str = "eu-central-1",
    served_region: str | None = None,
    policy: str = "eu",
    mode: str = "enforce",
    violations: list[str] | None = None,
    run_id: str | None = None,
    profile_id: str = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    geography: str = "eu",
    allowed: list[str] | None = None,
    destinations: list[str] | None = None,
) -> dict[str, Any]:
    """``response_metadata["cris"]`` exactly as the contract describes it."""
    return {
        "policy": policy,
        "policy_digest": "sha256:0123456789abcdef",
        "mode": mode,
        "model_id": profile_id,
        "profile_id": profile_id,
        "profile_arn": f"arn:aws:bedrock:{source_region}:*:inference-profile/{profile_id}",
        "base_model_id": profile_id.split(".", 1)[1],
        "geography": geography,
        "route_kind": "profile",
        "source_region": source_region,
        "destination_regions": sorted(destinations or EU_REGIONS),
        "allowed_regions": sorted(allowed or EU_REGIONS),
        "request_id": request_id,
        "served_region": served_region,
        "violations": violations or [],
        "attempts": [
            {
                "model_id": profile_id,
                "source_region": source_region,
                "outcome": "ok",
                "request_id": request_id,
                "latency_ms": 12.5,
            }
        ],
        "run_id": run_id,
    }


class FakeCRISChatModel(BaseChatModel):
    """Replies with contract metadata; ``refuse=True`` raises like ChatBedrockCRIS does."""

    request_ids: list[str] = Field(default_factory=list)
    region: str = "eu-central-1"
    cris_overrides: dict[str, Any] = {}
    refuse: bool = False
    reply: str = "Bonjour"

    @property
    def _llm_type(self) -> str:
        return "fake-cris"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="amazon_bedrock",
            ls_model_name="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ls_model_type="chat",
        )
        params["ls_invocation_params"] = {"region_name": self.region}  # type: ignore[typeddict-unknown-key]
        return params

    def _next_id(self) -> str:
        return self.request_ids.pop(0) if self.request_ids else str(uuid.uuid4())

    def _message(self, run_manager: CallbackManagerForLLMRun | None) -> AIMessage:
        if self.refuse:
            raise ResidencyViolation(
                "global.anthropic.claude-sonnet-4-5 may be served outside policy 'eu'.",
                model="global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                source_region=self.region,
                policy_name="eu",
                outside_regions={"us-east-1"},
                alternatives=["eu.anthropic.claude-sonnet-4-5-20250929-v1:0 from eu-central-1"],
            )
        run_id = str(run_manager.run_id) if run_manager else None
        meta = {**cris_metadata(request_id=self._next_id(), run_id=run_id), **self.cris_overrides}
        return AIMessage(
            content=self.reply,
            response_metadata={"cris": meta, "model_name": meta["model_id"]},
            usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._message(run_manager))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        final = self._message(run_manager)
        yield ChatGenerationChunk(message=AIMessageChunk(content="Bon"))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="jour",
                response_metadata=final.response_metadata,
                usage_metadata=final.usage_metadata,
                chunk_position="last",
            )
        )


class FakeConverseModel(BaseChatModel):
    """Replies shaped like plain ``ChatBedrockConverse`` (no ``cris`` key)."""

    model_id: str = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    region_name: str = "eu-west-3"
    request_id: str = "plain-req-1"

    @property
    def _llm_type(self) -> str:
        return "amazon_bedrock_converse_chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="amazon_bedrock", ls_model_name=self.model_id, ls_model_type="chat"
        )
        params["ls_invocation_params"] = {"region_name": self.region_name}  # type: ignore[typeddict-unknown-key]
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = AIMessage(
            content="hi",
            response_metadata={
                "ResponseMetadata": {"RequestId": self.request_id, "HTTPStatusCode": 200},
                "stopReason": "end_turn",
                "model_name": self.model_id,
            },
            usage_metadata={"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


# -- offline LangSmith --------------------------------------------------------------------------
@dataclass
class Captured:
    method: str
    url: str
    body: Any


class _Response:
    def __init__(self, payload: Any, status: int = 200) -> None:
        self.status_code = status
        self._payload = payload
        self.text = json.dumps(payload)
        self.content = self.text.encode()
        self.headers: dict[str, str] = {}
        self.reason = "OK"

    def json(self) -> Any:
        return self._payload

    def raise_for_status(self) -> None:
        return None


class CaptureSession:
    """Stands in for ``requests.Session``: records requests, answers like LangSmith would."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []

    def request(self, method: str, url: str, **kwargs: Any) -> _Response:
        data = kwargs.get("data") or kwargs.get("json")
        if isinstance(data, (bytes, bytearray)):
            data = data.decode()
        body = json.loads(data) if isinstance(data, str) and data else data
        self.requests.append(Captured(method, url, body))
        if method == "GET" and "/sessions" in url:
            return _Response(
                [
                    {
                        "id": PROJECT_ID,
                        "name": "default",
                        "tenant_id": PROJECT_ID,
                        "reference_dataset_id": None,
                    }
                ]
            )
        return _Response({})

    def mount(self, *args: Any) -> None:
        return None

    def close(self) -> None:
        return None

    # -- what tests read ------------------------------------------------------------------------
    def bodies(self, method: str, fragment: str) -> list[Any]:
        return [r.body for r in self.requests if r.method == method and fragment in r.url]

    def run_post(self, run_id: str) -> dict[str, Any]:
        return next(b for b in self.bodies("POST", "/runs") if b and str(b.get("id")) == run_id)

    def run_patch(self, run_id: str) -> dict[str, Any]:
        return next(
            b
            for r, b in ((r, r.body) for r in self.requests)
            if r.method == "PATCH" and r.url.endswith(f"/runs/{run_id}")
        )

    def feedback(self) -> list[dict[str, Any]]:
        return [b for b in self.bodies("POST", "/feedback") if b]


def capture_client() -> tuple[Any, CaptureSession]:
    """A ``langsmith.Client`` that never touches the network, and its recording session."""
    from langsmith import Client

    session = CaptureSession()
    client = Client(
        api_key="fake",
        api_url="http://127.0.0.1:9",
        session=session,  # type: ignore[arg-type]
        auto_batch_tracing=False,
        info={"version": "0.10.0", "instance_flags": {}},
    )
    return client, session
