"""Request dispatch without sockets: paths, credential scopes, AWS error shapes."""

from __future__ import annotations

import json
from urllib.parse import quote

from langchain_cris.emulator.app import Emulator
from langchain_cris.emulator.config import EmulatorConfig
from langchain_cris.emulator.protocol import Request
from langchain_cris.emulator.state import EmulatorState

PROFILE = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"


def _auth(region: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential=AKIDTEST/20261126/{region}/bedrock/aws4_request, "
        "SignedHeaders=host, Signature=00"
    )


def _converse(app: Emulator, model: str, region: str = "eu-central-1") -> tuple[int, dict]:
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    request = Request(
        "POST",
        f"/model/{quote(model, safe='')}/converse",
        {},
        {"authorization": _auth(region), "content-type": "application/json"},
        body,
    )
    response = app.handle(request)
    return response.status, dict(response.headers) | {"body": json.loads(response.body)}


def test_percent_encoded_profile_arn_resolves_for_its_own_region() -> None:
    app = Emulator(EmulatorState.create(EmulatorConfig()))
    arn = f"arn:aws:bedrock:eu-west-2:123456789012:inference-profile/{PROFILE}"
    status, out = _converse(app, arn, region="eu-west-2")
    assert status == 200
    record = app.state.wire_log.runtime()[-1]
    assert record.source_region == "eu-west-2" and record.model_id == arn
    status, out = _converse(app, arn, region="eu-central-1")  # ARN of another Region
    assert status == 400
    assert out["body"] == {"message": "The provided model identifier is invalid."}
    assert out["x-amzn-ErrorType"].startswith("ValidationException:")


def test_missing_authorization_is_rejected_like_aws() -> None:
    app = Emulator(EmulatorState.create(EmulatorConfig()))
    response = app.handle(Request("POST", f"/model/{PROFILE}/converse", {}, {}, b"{}"))
    assert response.status == 403
    assert dict(response.headers)["x-amzn-ErrorType"].startswith(
        "MissingAuthenticationTokenException"
    )


def test_json_11_errors_use_type_member() -> None:
    app = Emulator(EmulatorState.create(EmulatorConfig()))
    request = Request(
        "POST",
        "/",
        {},
        {
            "authorization": _auth("eu-central-1"),
            "x-amz-target": "Logs_20140328.FilterLogEvents",
        },
        json.dumps({"logGroupName": "/nope"}).encode(),
    )
    response = app.handle(request)
    assert response.status == 400
    assert json.loads(response.body)["__type"] == "ResourceNotFoundException"
