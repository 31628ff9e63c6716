"""The User-Agent memo (``transport.user_agent``): botocore's own header, built once per features.

Each request's final headers are read in botocore's ``before-send`` event (after the
``request-created`` handler has rebuilt the User-Agent with the request's feature ids), where a
canned response stops the request before any socket is opened. A memoized client and an
identical plain one must send the very same header for every kind of request, including
requests whose context registers extra feature ids (paginators, waiters' features, retries).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.context import start_as_current_context
from botocore.useragent import register_feature_id

from langchain_cris.transport.user_agent import memoize_user_agent

_CONVERSE_REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
    "metrics": {"latencyMs": 1},
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _client(service: str, *, app_id: str | None = None) -> Any:
    config = Config(retries={"max_attempts": 0}, user_agent_appid=app_id)
    return boto3.client(
        service,
        region_name="eu-central-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=config,
    )


def _capture(client: Any, body: dict[str, Any]) -> list[str]:
    """Record each request's final User-Agent; answer it with ``body`` (nothing is sent)."""
    seen: list[str] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        seen.append(
            request.headers["User-Agent"].decode()
            if isinstance(request.headers["User-Agent"], bytes)
            else request.headers["User-Agent"]
        )
        raw = json.dumps(body).encode()
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, _Raw(raw))

    client.meta.events.register("before-send", before_send)
    return seen


def _converse(client: Any) -> None:
    client.converse(
        modelId="eu.amazon.nova-2-lite-v1:0",
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
    )


@pytest.mark.parametrize("app_id", [None, "my-app"])
def test_memoized_client_sends_botocore_own_user_agent(app_id: str | None) -> None:
    plain, memo = (
        _client("bedrock-runtime", app_id=app_id),
        _client("bedrock-runtime", app_id=app_id),
    )
    memoize_user_agent(memo)
    seen_plain, seen_memo = _capture(plain, _CONVERSE_REPLY), _capture(memo, _CONVERSE_REPLY)
    for _ in range(3):
        _converse(plain)
        _converse(memo)
    with start_as_current_context():
        register_feature_id("WAITER")  # a feature id of the request's own context
        _converse(plain)
        _converse(memo)
    _converse(plain)  # and back to the request's usual features
    _converse(memo)
    assert seen_memo == seen_plain
    assert len(set(seen_plain)) == 2  # the WAITER request's header differs, and is kept apart
    if app_id:
        assert all(f"app/{app_id}" in ua for ua in seen_memo)


def test_paginated_control_plane_requests_keep_their_feature_ids() -> None:
    reply = {"inferenceProfileSummaries": []}
    plain, memo = _client("bedrock"), _client("bedrock")
    memoize_user_agent(memo)
    seen_plain, seen_memo = _capture(plain, reply), _capture(memo, reply)
    for client in (plain, memo):
        client.list_inference_profiles()
        for _ in client.get_paginator("list_inference_profiles").paginate():
            pass
        client.list_inference_profiles()
    assert seen_memo == seen_plain
    assert seen_plain[0] != seen_plain[1]  # the paginator's feature id is in [1]
    assert seen_plain[0] == seen_plain[2]


def test_each_feature_set_is_built_once_and_memoizing_is_idempotent() -> None:
    client = _client("bedrock-runtime")
    creator = client._user_agent_creator
    built: list[int] = []
    original = creator.to_string

    def counting() -> str:
        built.append(1)
        return original()

    creator.to_string = counting
    memoize_user_agent(client)
    memoize_user_agent(client)  # a second call does not wrap again
    _capture(client, _CONVERSE_REPLY)
    for _ in range(5):
        _converse(client)
    assert len(built) == 1  # botocore asks twice per request: 10 asks, one build


def test_objects_without_a_user_agent_creator_are_left_alone() -> None:
    class Double:
        pass

    double = Double()
    assert memoize_user_agent(double) is double
    assert not hasattr(double, "_user_agent_creator")


def test_package_clients_are_memoized_and_user_clients_are_not() -> None:
    from langchain_cris import ChatBedrockCRIS, ResidencyPolicy

    own = ChatBedrockCRIS(
        model="amazon.nova-2-lite-v1:0",
        region_name="eu-central-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        residency_policy=ResidencyPolicy.preset("eu"),
    )
    assert getattr(
        own.runtime_client("eu-central-1")._user_agent_creator, "_langchain_cris_memoized", False
    )
    user = _client("bedrock-runtime")
    given = ChatBedrockCRIS(
        model="amazon.nova-2-lite-v1:0",
        client=user,
        residency_policy=ResidencyPolicy.preset("eu"),
    )
    assert given.runtime_client("eu-central-1") is user
    assert not getattr(user._user_agent_creator, "_langchain_cris_memoized", False)
