"""bedrock-runtime through plain boto3: routing, responses, errors, faults, InvokeModel."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.emulator import LocalBedrock
from langchain_cris.regions import region_table

from .conftest import EU_SONNET, NO_RETRY, SONNET, ClientFactory, user

ALL_REGIONS = sorted(region_table().regions)


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str, dict[str, str]]:
    response = exc.value.response
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
        headers,
    )


def _mentions_region(payload: Any) -> list[str]:
    text = json.dumps(payload, default=str)
    return [r for r in ALL_REGIONS if r in text]


def test_converse_shape_and_served_region_only_in_wire_log(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    runtime = client("bedrock-runtime", "eu-west-2")
    destinations = ProfileCatalog.bundled().get(EU_SONNET).destinations("eu-west-2")  # type: ignore[union-attr]
    served = set()
    for i in range(40):
        response = runtime.converse(modelId=EU_SONNET, messages=user(f"Hello number {i}"))
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-amzn-requestid"] == response["ResponseMetadata"]["RequestId"]
        assert response["stopReason"] == "end_turn"
        usage = response["usage"]
        assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"] > 0
        assert response["metrics"]["latencyMs"] >= 1
        body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        assert _mentions_region(body) == [] and _mentions_region(headers) == []
        record = local_bedrock.wire_log.runtime()[-1]
        assert record.request_id == response["ResponseMetadata"]["RequestId"]
        served.add(record.served_region)
    assert served <= destinations
    assert "eu-west-2" in served and len(served) > 3  # London calls may stay in London


def test_frankfurt_never_reaches_london(local_bedrock: LocalBedrock, client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1")
    for _ in range(40):
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    served = {r.served_region for r in local_bedrock.wire_log.runtime()}
    assert "eu-west-2" not in served and "eu-central-2" not in served


def test_stream_matches_converse_and_carries_no_region(client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1")
    request = {
        "modelId": EU_SONNET,
        "messages": user("Summarise: the quick brown fox."),
        "system": [{"text": "Answer briefly."}],
    }
    whole = runtime.converse(**request)
    stream = runtime.converse_stream(**request)
    assert _mentions_region(stream["ResponseMetadata"]["HTTPHeaders"]) == []
    events = list(stream["stream"])
    assert _mentions_region(events) == []
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"]
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert text == whole["output"]["message"]["content"][0]["text"]
    assert events[-1]["metadata"]["usage"] == whole["usage"]


def test_max_tokens_and_stop_sequences(client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1")
    cut = runtime.converse(
        modelId=EU_SONNET, messages=user("Hello"), inferenceConfig={"maxTokens": 4}
    )
    assert cut["stopReason"] == "max_tokens" and cut["usage"]["outputTokens"] == 4
    stop = runtime.converse(
        modelId=EU_SONNET, messages=user("Hello"), inferenceConfig={"stopSequences": ["reply"]}
    )
    assert stop["stopReason"] == "stop_sequence"
    assert "reply" not in stop["output"]["message"]["content"][0]["text"]


def test_plain_model_ids(local_bedrock: LocalBedrock, client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    runtime.converse(modelId="amazon.titan-text-express-v1", messages=user("Hi"))
    assert local_bedrock.wire_log.runtime()[-1].served_region == "eu-central-1"
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=SONNET, messages=user("Hi"))
    status, code, message, headers = _error(info)
    assert (status, code) == (400, "ValidationException")
    assert message == (
        f"Invocation of model ID {SONNET} with on-demand throughput isn\u2019t supported. Retry "
        "your request with the ID or ARN of an inference profile that contains this model."
    )
    assert headers["x-amzn-errortype"] == (
        "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    )
    assert headers["x-amzn-requestid"]


@pytest.mark.parametrize(
    ("model_id", "region"),
    [
        (EU_SONNET, "us-east-1"),  # EU profile cannot be called from the US
        ("eu.amazon.nova-2-lite-v1:0", "eu-west-2"),  # no London source for Nova 2 Lite
        ("acme.unknown-model-v1:0", "eu-central-1"),
    ],
)
def test_invalid_model_identifier(client: ClientFactory, model_id: str, region: str) -> None:
    with pytest.raises(ClientError) as info:
        client("bedrock-runtime", region, NO_RETRY).converse(modelId=model_id, messages=user("Hi"))
    assert _error(info)[:3] == (
        400,
        "ValidationException",
        "The provided model identifier is invalid.",
    )


@pytest.mark.parametrize(
    ("messages", "config", "fragment"),
    [
        ([], {}, "must start with a user message"),
        ([{"role": "assistant", "content": [{"text": "x"}]}], {}, "must start with a user message"),
        (user("a") + user("b"), {}, "must alternate between user and assistant"),
        (user("a"), {"maxTokens": 100000}, "exceeds the model limit of 64000"),
        ([{"role": "user", "content": [{"text": "  "}]}], {}, "is blank"),
    ],
)
def test_body_validation(
    client: ClientFactory, messages: list[Any], config: dict[str, Any], fragment: str
) -> None:
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=EU_SONNET, messages=messages, inferenceConfig=config)
    status, code, message, _ = _error(info)
    assert (status, code) == (400, "ValidationException") and fragment in message


def test_scp_deny_names_the_destination_model_arn(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    local_bedrock.deny("eu-south-2")
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    status, code, message, _ = _error(info)
    assert (status, code) == (403, "AccessDeniedException")
    assert message == (
        "User: arn:aws:sts::123456789012:assumed-role/LocalBedrock/local is not authorized to "
        "perform: bedrock:InvokeModel on resource: "
        f"arn:aws:bedrock:eu-south-2::foundation-model/{SONNET} with an explicit deny in a "
        "service control policy"
    )
    with pytest.raises(ClientError) as info:
        runtime.converse_stream(modelId=EU_SONNET, messages=user("Hi"))
    assert "bedrock:InvokeModelWithResponseStream" in _error(info)[2]
    # A profile that never reaches eu-south-2 is unaffected.
    runtime.converse(modelId="eu.amazon.nova-pro-v1:0", messages=user("Hi"))


def test_global_profiles_are_denied_through_unspecified(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    model = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    local_bedrock.deny("us-east-1")  # a Region deny does not see global calls ...
    runtime.converse(modelId=model, messages=user("Hi"))
    local_bedrock.deny("unspecified")  # ... the official "deny global" SCP does
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=model, messages=user("Hi"))
    assert f"arn:aws:bedrock:::foundation-model/{SONNET}" in _error(info)[2]


def test_throttling_reroutes_then_fails_when_every_region_is_full(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    local_bedrock.throttle("eu-west-3")
    local_bedrock.outage("eu-west-1")
    for _ in range(20):
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    served = {r.served_region for r in local_bedrock.wire_log.runtime()}
    assert not served & {"eu-west-3", "eu-west-1"}
    local_bedrock.throttle()
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    assert _error(info)[:3] == (
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    )
    last = local_bedrock.wire_log.runtime()[-1]
    assert last.served_region is None and len(last.attempted_regions) == 6


def test_capacity_limits_per_region(local_bedrock: LocalBedrock, client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    local_bedrock.set_region("eu-central-1", requests_per_minute=3)
    for _ in range(3):
        runtime.converse(modelId="amazon.titan-text-express-v1", messages=user("Hi"))
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId="amazon.titan-text-express-v1", messages=user("Hi"))
    assert _error(info)[1] == "ThrottlingException"


def test_botocore_retries_hide_a_single_throttle(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    local_bedrock.throttle(times=6)  # every destination refuses once: one failed attempt
    retrying = client("bedrock-runtime", "eu-central-1", Config(retries={"mode": "standard"}))
    response = retrying.converse(modelId=EU_SONNET, messages=user("Hi"))
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    outcomes = [r.outcome for r in local_bedrock.wire_log.runtime()]
    assert outcomes == ["ThrottlingException", "ok"]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("service_unavailable", 503, "ServiceUnavailableException"),
        ("internal_error", 500, "InternalServerException"),
        ("model_not_ready", 429, "ModelNotReadyException"),
        ("model_timeout", 408, "ModelTimeoutException"),
    ],
)
def test_injected_status_faults(
    local_bedrock: LocalBedrock, client: ClientFactory, kind: Any, status: int, code: str
) -> None:
    local_bedrock.inject(kind, times=1)
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    assert _error(info)[:2] == (status, code)
    runtime.converse(modelId=EU_SONNET, messages=user("Hi"))  # the fault was used up


def test_mid_stream_exception(local_bedrock: LocalBedrock, client: ClientFactory) -> None:
    local_bedrock.inject("stream_error", after_events=3, times=1)
    stream = client("bedrock-runtime", "eu-central-1", NO_RETRY).converse_stream(
        modelId=EU_SONNET, messages=user("Hi")
    )["stream"]
    received = []
    with pytest.raises(EventStreamError) as info:
        for event in stream:
            received.append(event)
    stream.close()
    assert len(received) == 3
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert local_bedrock.wire_log.runtime()[-1].outcome == "fault:stream_error"


def test_stream_cut_hang_and_reset_are_transport_errors(
    local_bedrock: LocalBedrock, client: ClientFactory
) -> None:
    quick = Config(retries={"total_max_attempts": 1}, read_timeout=0.5, connect_timeout=1)
    runtime = client("bedrock-runtime", "eu-central-1", quick)
    local_bedrock.script.fault("stream_cut", after_events=2)
    stream = runtime.converse_stream(modelId=EU_SONNET, messages=user("Hi"))["stream"]
    with pytest.raises(Exception) as cut:  # botocore/urllib3 report a truncated body
        list(stream)
    stream.close()  # the client must release the broken connection itself
    assert not isinstance(cut.value, ClientError)
    local_bedrock.script.fault("hang")
    with pytest.raises(ReadTimeoutError):
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    local_bedrock.script.fault("reset")
    with pytest.raises(Exception) as reset:
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    assert not isinstance(reset.value, ClientError)
    assert runtime.converse(modelId=EU_SONNET, messages=user("Hi"))["stopReason"] == "end_turn"


def test_scripted_replies(local_bedrock: LocalBedrock, client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1")
    local_bedrock.script.reply("Paris.")
    local_bedrock.script.tool_call("lookup", {"q": "x"})
    first = runtime.converse(modelId=EU_SONNET, messages=user("Capital of France?"))
    assert first["output"]["message"]["content"] == [{"text": "Paris."}]
    tools = {
        "tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]
    }
    second = runtime.converse(modelId=EU_SONNET, messages=user("x"), toolConfig=tools)
    assert second["stopReason"] == "tool_use"
    assert second["output"]["message"]["content"][0]["toolUse"]["input"] == {"q": "x"}
    third = runtime.converse(modelId=EU_SONNET, messages=user("x"))
    assert third["output"]["message"]["content"][0]["text"].startswith("You said")


def test_titan_embeddings(local_bedrock: LocalBedrock, client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)

    def embed(text: str, **extra: Any) -> dict[str, Any]:
        body = json.dumps({"inputText": text, **extra})
        response = runtime.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=body)
        assert _mentions_region(response["ResponseMetadata"]["HTTPHeaders"]) == []
        return json.loads(response["body"].read())

    a = embed("the cat sat on the mat", dimensions=256)
    assert len(a["embedding"]) == 256 and a["inputTextTokenCount"] == 6
    b = embed("a cat sat on a mat", dimensions=256)["embedding"]
    c = embed("quarterly revenue grew", dimensions=256)["embedding"]

    def dot(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert dot(a["embedding"], b) > dot(a["embedding"], c)
    assert len(embed("default size")["embedding"]) == 1024
    with pytest.raises(ClientError) as info:
        embed("x", dimensions=300)
    assert "Malformed input request" in _error(info)[2]
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId="amazon.titan-embed-text-v2:0", messages=user("x"))
    assert _error(info)[1] == "ValidationException"


def test_anthropic_invoke_model_and_response_stream(client: ClientFactory) -> None:
    runtime = client("bedrock-runtime", "eu-central-1")
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    response = runtime.invoke_model(modelId=EU_SONNET, body=json.dumps(body))
    native = json.loads(response["body"].read())
    assert native["type"] == "message" and native["content"][0]["type"] == "text"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == native["usage"]["output_tokens"]
    stream = runtime.invoke_model_with_response_stream(modelId=EU_SONNET, body=json.dumps(body))
    events = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == native["content"][0]["text"]
    with pytest.raises(ClientError) as info:
        client("bedrock-runtime", "eu-central-1", NO_RETRY).invoke_model(
            modelId=EU_SONNET, body=json.dumps({"messages": []})
        )
    assert "required key [anthropic_version] not found" in _error(info)[2]
