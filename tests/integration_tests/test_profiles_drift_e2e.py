"""``langchain-cris profiles --drift`` against a local Bedrock that widened a profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langchain_cris import ProfileCatalog
from langchain_cris.cli import main
from langchain_cris.emulator import LocalBedrock

from .test_live_catalog_e2e import NEW_MODEL, SONNET45, widened_profiles


@pytest.fixture
def widened(tmp_path: Path) -> Any:
    with LocalBedrock(profiles=widened_profiles(tmp_path), seed=0) as bedrock:
        yield bedrock


def test_no_drift_against_an_unchanged_aws(
    local_bedrock: LocalBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["profiles", "--drift", "--regions", "eu-central-1", "eu-west-2"]
    code = main([*argv, "--endpoint-url", local_bedrock.endpoint_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no drift" in out


def test_widening_exits_1_and_names_the_affected_policies(
    widened: LocalBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["profiles", "--drift", "--regions", "eu-central-1", "eu-west-1"]
    argv += ["--policy", "eu", "--policy", "global", "--endpoint-url", widened.endpoint_url]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"eu.{SONNET45}" in out and "us-east-1" in out
    assert "eu" in out.split("affects")[1]
    assert f"eu.{NEW_MODEL}" in out  # listed, but a new profile is not a widening

    code = main([*argv, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["widenings"] == 1
    (row,) = [d for d in report["drift"] if d["kind"] == "widened"]
    assert row == {
        "profile": f"eu.{SONNET45}",
        "source_region": "eu-central-1",
        "kind": "widened",
        "added": ["us-east-1"],
        "removed": [],
        "before": row["before"],
        "after": sorted({*row["before"], "us-east-1"}),
        "affects_policies": ["eu"],
    }
    kinds = {d["profile"]: d["kind"] for d in report["drift"]}
    assert kinds[f"eu.{NEW_MODEL}"] == "new_profile"
    assert report["regions"] == ["eu-central-1", "eu-west-1"]


def test_against_a_pinned_file(
    widened: LocalBedrock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pinned = widened_profiles(tmp_path)  # the team approved the widened table
    argv = ["profiles", "--drift", "--regions", "eu-central-1", "--against", str(pinned)]
    code = main([*argv, "--endpoint-url", widened.endpoint_url])
    assert code == 0, capsys.readouterr().out
    # the bundle, pinned, shows the widening again
    bundle = tmp_path / "bundle.json"
    ProfileCatalog.bundled().to_file(bundle)
    argv[-1] = str(bundle)
    assert main([*argv, "--endpoint-url", widened.endpoint_url]) == 1


@pytest.mark.parametrize(
    "extra",
    [
        ["--regions", "eu-nowhere-1"],
        ["--regions", "eu-central-1", "--policy", "emea"],
        ["--regions", "eu-central-1", "--against", "/nonexistent/file.json"],
        [],  # --drift needs --regions
    ],
)
def test_bad_input_exits_2_before_any_call(
    widened: LocalBedrock, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["profiles", "--drift", *extra, "--endpoint-url", widened.endpoint_url])
    assert code == 2, capsys.readouterr()
    assert len(widened.wire_log) == 0
