"""``langchain-cris emulator --profiles PATH`` serves routes from a snapshot, not the bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3

from langchain_cris import ProfileCatalog
from langchain_cris.emulator.command import run

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_profiles_option_serves_the_file(tmp_path: Path) -> None:
    data = ProfileCatalog.bundled().to_json()
    for p in data["profiles"]:
        if p["id"] == f"eu.{SONNET45}":
            p["routes"]["eu-west-1"] = ["eu-west-1", "us-east-1"]
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    cmd = [sys.executable, "-m", "langchain_cris.emulator", "--port", "0", "--profiles", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        endpoint = first.rsplit(" ", 1)[-1].strip()
        assert endpoint.startswith("http://127.0.0.1:"), first
        client = boto3.client("bedrock", region_name="eu-west-1", endpoint_url=endpoint)
        got = client.get_inference_profile(inferenceProfileIdentifier=f"eu.{SONNET45}")
        regions = sorted(m["modelArn"].split(":")[3] for m in got["models"])
        assert regions == ["eu-west-1", "us-east-1"]
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def test_unreadable_profiles_file_is_a_bad_config(tmp_path: Path) -> None:
    import argparse

    args = argparse.Namespace(
        host="127.0.0.1",
        port=0,
        seed=None,
        config=None,
        region="eu-central-1",
        profiles=str(tmp_path / "missing.json"),
    )
    assert run(args) == 2
