from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_cris.cli import main

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_resolve_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", SONNET45, "--policy", "eu", "--region", "eu-central-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ALLOWED")
    assert f"eu.{SONNET45}" in out
    assert "Failover candidates" in out and "eu-west-3" in out


def test_resolve_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["resolve", SONNET45, "--policy", "global", "--region", "eu-central-1", "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["model_id"] == f"global.{SONNET45}"
    assert data["source_region"] == "eu-central-1"
    assert len(data["destination_regions"]) == 34


def test_resolve_refusal_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["resolve", f"global.{SONNET45}", "--policy", "eu", "--region", "eu-central-1"]) == 2
    )
    err = capsys.readouterr().err
    assert "ResidencyViolation" in err and "What would comply" in err


def test_resolve_policy_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text('name = "paris"\nregions = ["eu-west-3"]\n')
    assert (
        main(
            [
                "resolve",
                "amazon.titan-embed-text-v2:0",
                "--policy",
                str(path),
                "--region",
                "eu-west-3",
            ]
        )
        == 0
    )
    assert "'paris'" in capsys.readouterr().out
    path.write_text('name = "paris"\nregoins = ["eu-west-3"]\n')
    assert main(["resolve", SONNET45, "--policy", str(path), "--region", "eu-west-3"]) == 2
    assert "did you mean 'regions'" in capsys.readouterr().err


def test_resolve_unknown_region(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", SONNET45, "--policy", "eu", "--region", "eu-west-9"]) == 2
    assert "UnknownRegionError" in capsys.readouterr().err


def test_profiles_list_and_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "--model", "claude-sonnet-4-5", "--geography", "eu"]) == 0
    out = capsys.readouterr().out
    assert "eu-west-2" in out and "1 profiles" in out
    snap = tmp_path / "snap.json"
    assert main(["profiles", "-o", str(snap)]) == 0
    assert json.loads(snap.read_text())["profiles"]
    assert main(["profiles", "--catalog", str(snap), "--json", "--geography", "jp"]) == 0
    assert {p["geography"] for p in json.loads(capsys.readouterr().out.split("\n", 1)[1])} == {"jp"}
