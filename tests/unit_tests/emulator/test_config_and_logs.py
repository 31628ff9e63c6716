"""Config loading (strict keys, TOML/JSON) and CloudWatch filter patterns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_cris.emulator.config import EmulatorConfig
from langchain_cris.emulator.invocation_logs import matches_filter_pattern


def test_unknown_keys_are_rejected_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"deny_region.*valid keys:.*deny_regions"):
        EmulatorConfig.from_mapping({"deny_region": ["eu-west-1"]})
    with pytest.raises(ValueError, match="unknown fault kind"):
        EmulatorConfig.from_mapping({"faults": [{"kind": "explode"}]})


def test_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(
        'seed = 7\ndeny_regions = ["eu-south-2"]\n[regions.eu-west-1]\noutage = true\n'
        '[[faults]]\nkind = "throttle"\nregion = "eu-central-1"\nprobability = 0.5\n'
    )
    config = EmulatorConfig.from_file(toml)
    assert config.seed == 7 and config.deny_regions == {"eu-south-2"}
    assert config.region("eu-west-1").outage and not config.region("eu-west-3").outage
    assert config.faults[0].probability == 0.5
    as_json = tmp_path / "c.json"
    as_json.write_text(json.dumps(config.to_json()))
    assert EmulatorConfig.from_file(as_json) == config


def test_filter_patterns() -> None:
    message = json.dumps({"requestId": "abc-1", "input": {"inputTokenCount": 12}, "region": "x"})
    assert matches_filter_pattern('{ $.requestId = "abc-1" }', message)
    assert not matches_filter_pattern('{ $.requestId = "abc-2" }', message)
    assert matches_filter_pattern(
        '{ $.requestId = "abc-*" && $.input.inputTokenCount > 10 }', message
    )
    assert matches_filter_pattern(
        '{ $.requestId = "zzz" || $.input.inputTokenCount <= 12 }', message
    )
    assert matches_filter_pattern("abc-1 inputTokenCount", message)
    assert not matches_filter_pattern("abc-1 -inputTokenCount", message)
    assert matches_filter_pattern("", message)
