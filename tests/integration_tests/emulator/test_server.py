"""Server behaviour: control endpoint, concurrency without serialising, clean shutdown, CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from langchain_cris.emulator import LocalBedrock

from .conftest import EU_SONNET, NO_RETRY, ClientFactory, user


def _control(bedrock: LocalBedrock, method: str, route: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{bedrock.endpoint_url}/_local/{route}", data=data, method=method
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_control_endpoint(local_bedrock: LocalBedrock, client: ClientFactory) -> None:
    assert _control(local_bedrock, "GET", "health") == {"status": "ok"}
    runtime = client("bedrock-runtime", "eu-central-1", NO_RETRY)
    _control(local_bedrock, "POST", "regions", {"eu-west-1": {"outage": True}})
    _control(
        local_bedrock, "POST", "faults", {"faults": [{"kind": "throttle", "region": "eu-west-3"}]}
    )
    for _ in range(10):
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    records = _control(local_bedrock, "GET", "wire-log?service=bedrock-runtime")["records"]
    assert len(records) == 10
    assert not {r["served_region"] for r in records} & {"eu-west-1", "eu-west-3"}
    _control(local_bedrock, "POST", "scp", {"deny_regions": ["eu-north-1"]})
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    _control(local_bedrock, "POST", "scp", {"deny_regions": []})
    _control(local_bedrock, "POST", "script", {"items": [{"text": "scripted!"}]})
    reply = runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
    assert reply["output"]["message"]["content"] == [{"text": "scripted!"}]
    trail = _control(local_bedrock, "GET", "cloudtrail/eu-central-1")["records"]
    assert len(trail) == 12
    assert _control(local_bedrock, "DELETE", "faults") == {"faults": []}
    _control(local_bedrock, "POST", "reset")
    assert _control(local_bedrock, "GET", "wire-log")["records"] == []
    with pytest.raises(urllib.error.HTTPError) as bad:
        _control(local_bedrock, "POST", "faults", {"faults": [{"kind": "explode"}]})
    assert bad.value.code == 400
    assert "unknown fault kind" in json.loads(bad.value.read())["error"]
    bad.value.close()


def test_slow_requests_do_not_serialise() -> None:
    """256 concurrent connections with a long latency are all being handled at once.

    No timing threshold: the latency outlasts the test, so the only way to reach 256 requests
    in flight is for the server to hold them concurrently; stop() then ends every wait.
    """
    bedrock = LocalBedrock(default_region={"latency_ms": 600_000}).start()
    session = boto3.session.Session()
    runtime = session.client(
        "bedrock-runtime",
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        config=Config(max_pool_connections=256, retries={"total_max_attempts": 1}),
    )

    def call(i: int) -> None:
        with contextlib.suppress(Exception):  # dropped when the server stops
            runtime.converse(modelId=EU_SONNET, messages=user(f"{i}"))

    pool = ThreadPoolExecutor(max_workers=256)
    try:
        futures = [pool.submit(call, i) for i in range(256)]
        assert bedrock.wait_in_flight(256, timeout=120), bedrock.peak_in_flight
    finally:
        bedrock.stop()
        for future in futures:
            future.result(timeout=60)
        pool.shutdown()
        runtime.close()


@pytest.mark.filterwarnings("error")
def test_stop_joins_threads_and_closes_sockets() -> None:
    before = threading.active_count()
    bedrock = LocalBedrock(faults=[{"kind": "hang", "model_id": EU_SONNET}]).start()
    # The hang (3600 s) and the client's read timeout (600 s) both outlast the generous bounds
    # below, so only the shutdown itself can end the call; nothing here is timed.
    runtime = bedrock.client(
        "bedrock-runtime", config=Config(read_timeout=600, retries={"total_max_attempts": 1})
    )
    runtime.converse(modelId="amazon.titan-text-express-v1", messages=user("x"))  # keep-alive
    failures: list[BaseException] = []

    def call_that_hangs() -> None:
        try:
            runtime.converse(modelId=EU_SONNET, messages=user("x"))
        except Exception as exc:  # the connection is dropped on shutdown
            failures.append(exc)

    # Daemon threads: were the hang to outlive shutdown, the test fails at its bound and the
    # run still exits.
    hung = threading.Thread(target=call_that_hangs, daemon=True)
    hung.start()
    assert bedrock.wait_in_flight(1, timeout=60)  # the hung call is being handled
    stopper = threading.Thread(target=bedrock.stop, daemon=True)  # joins the hung handler
    stopper.start()
    stopper.join(120)
    assert not stopper.is_alive()  # the hang ended on shutdown (it would hold stop() 3600 s)
    hung.join(120)
    assert not hung.is_alive()
    assert len(failures) == 1
    assert not isinstance(failures[0], (ClientError, ReadTimeoutError)), failures[0]
    runtime.close()
    assert threading.active_count() == before
    bedrock.stop()  # idempotent


def test_cli_runs_until_interrupted(tmp_path: Any) -> None:
    config = tmp_path / "emulator.toml"
    config.write_text('deny_regions = ["eu-south-2"]\n')
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langchain_cris.emulator",
            "--port",
            "0",
            "--seed",
            "3",
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Local Bedrock listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        exports = [proc.stdout.readline() for _ in range(5)]
        assert f"export AWS_ENDPOINT_URL={url}\n" in exports
        runtime = boto3.client(
            "bedrock-runtime", region_name="eu-central-1", endpoint_url=url, config=NO_RETRY
        )
        with pytest.raises(ClientError) as info:  # the config file's SCP is active
            runtime.converse(modelId=EU_SONNET, messages=user("Hi"))
        assert info.value.response["Error"]["Code"] == "AccessDeniedException"
        runtime.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Local Bedrock stopped." in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
