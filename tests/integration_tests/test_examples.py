"""The examples run in-process against their embedded local Bedrock; their reports are checked.

Each example prints one ``key=value`` line per model call (profile, source Region, served Region
from CloudTrail); the assertions are on those Regions and profiles, not just the exit code.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from langchain_cris.errors import ResidencyError
from langchain_cris.policy import ResidencyPolicy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EU = ResidencyPolicy.preset("eu")


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` under a private module name (``_common`` on the path)."""
    module_name = f"cris_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def lines(text: str, kind: str) -> list[dict[str, str]]:
    return load("_common").parse_lines(text, kind)  # type: ignore[no-any-return]


def run(name: str, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert load(name).main(list(argv)) == 0
    return capsys.readouterr().out


def assert_eu(call: dict[str, str]) -> None:
    assert call["profile"].startswith("eu."), call
    assert call["source"] in EU.allowed_sources, call
    assert call["served"] in EU.regions, call
    assert call["in_policy"] == "yes", call


def test_agent_example(capsys: pytest.CaptureFixture[str]) -> None:
    out = run("agent", capsys)
    calls = lines(out, "call")
    eu = [c for c in calls if c["label"] == "acme-eu"]
    glob = [c for c in calls if c["label"] == "globex-global"]
    # per tenant: the agent's tool call, the tool's sub-chain, the agent's answer
    assert len(eu) == len(glob) == 3
    for call in eu:
        assert_eu(call)
        assert call["policy"] == "eu"
    assert {c["profile"].split(".", 1)[0] for c in glob} == {"global"}
    assert all(c["policy"] == "global-cheapest" and c["in_policy"] == "yes" for c in glob)
    # the tool's sub-chain (Haiku) inherited each tenant's policy
    assert sum("claude-haiku" in c["profile"] for c in eu) == 1
    assert sum("claude-haiku" in c["profile"] for c in glob) == 1
    assert "6 model calls, every known served Region inside its tenant's policy." in out


def test_rag_pipeline_example(capsys: pytest.CaptureFixture[str]) -> None:
    out = run("rag_pipeline", capsys)
    calls = lines(out, "call")
    assert len(calls) == 2
    for call in calls:
        assert_eu(call)
    (embed,) = lines(out, "embed")
    assert embed["model"] == "amazon.titan-embed-text-v2:0"
    assert embed["route"] == "in_region"
    assert embed["source"] == embed["served"] == "eu-central-1"
    assert int(embed["calls"]) == 4 + 2  # four documents indexed, two questions embedded
    retrieved = {r["question"]: r["sources"].split(",") for r in lines(out, "retrieved")}
    assert "data-retention.md" in retrieved["1"]
    assert "model-usage.md" in retrieved["2"]


def test_rag_pipeline_under_europe_policy(capsys: pytest.CaptureFixture[str]) -> None:
    out = run("rag_pipeline", capsys, "--policy", "europe", "--question", "When is support open?")
    (call,) = lines(out, "call")
    assert call["policy"] == "europe" and call["in_policy"] == "yes"
    assert "support-hours.md" in lines(out, "retrieved")[0]["sources"]


def test_rag_embeddings_are_refused_before_any_call_outside_the_policy() -> None:
    rag = load("rag_pipeline")
    no_in_region = ResidencyPolicy(name="eu-cris-only", regions=EU.regions, allow_in_region=False)
    with pytest.raises(ResidencyError, match="eu-cris-only"):
        rag.make_embeddings(no_in_region, "eu-central-1")


def test_langsmith_experiment_example(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    out = run("langsmith_experiment", capsys, "--out", str(tmp_path))
    assert not [r for r in caplog.records if "smith.langchain.com" in r.getMessage()]

    results: list[dict[str, Any]] = json.loads((tmp_path / "experiment_results.json").read_text())
    by_name = {v["variant"]: v for v in results}
    assert sorted(by_name) == ["eu", "global"]
    for row in by_name["eu"]["rows"]:
        assert row["profile"].startswith("eu.") and row["served"] in EU.regions
        assert row["run_metadata"]["cris_policy"] == "eu"
        assert row["run_metadata"]["cris_profile_id"] == row["profile"]
    for row in by_name["global"]["rows"]:
        assert row["profile"].startswith("global.") and row["served"] != "unknown"
        assert row["run_metadata"]["cris_policy_name"] == "global-cheapest"
    assert len(by_name["eu"]["rows"]) == len(by_name["global"]["rows"]) == 4

    summaries = {s["variant"]: s for s in lines(out, "summary")}
    assert float(summaries["eu"]["quality"]) == float(summaries["global"]["quality"]) > 0
    assert int(summaries["eu"]["tokens_in"]) > 0
    assert summaries["eu"]["profiles"].startswith("eu.")
    assert set(summaries["eu"]["served"].split(",")) <= EU.regions
    assert summaries["global"]["profiles"].startswith("global.")
    assert summaries["eu"]["outside_policy"] == summaries["global"]["outside_policy"] == "0"
    for call in lines(out, "call"):
        if call["label"] == "eu":
            assert_eu(call)


def test_aws_switch_reads_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    common = load("_common")
    parser = __import__("argparse").ArgumentParser()
    common.add_backend_args(parser)
    assert common.use_aws(parser.parse_args(["--aws"]))
    assert not common.use_aws(parser.parse_args([]))
    monkeypatch.setenv(common.AWS_ENV_VAR, "1")
    assert common.use_aws(parser.parse_args([]))
