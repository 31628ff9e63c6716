"""Live answers by default, against a local Bedrock serving a profiles file other than the bundle.

The local Bedrock plays AWS changing a profile: ``LocalBedrock(profiles=PATH)`` serves routes
from a snapshot in which the EU Sonnet 4.5 profile, called from Frankfurt, also reaches
us-east-1. A model talking to it must learn that on its first call from that Region and
refuse before sending; offline (field or env var) it keeps judging by the bundle.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from langchain_cris import ChatBedrockCRIS, ProfileCatalog, ResidencyPolicy
from langchain_cris.catalog.live import CatalogFallbackWarning
from langchain_cris.emulator import LocalBedrock
from langchain_cris.errors import ResidencyError

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
NEW_MODEL = "anthropic.claude-sonnet-9"


def widened_profiles(tmp_path: Path) -> Path:
    """The bundle, with eu.Sonnet 4.5 from eu-central-1 widened to us-east-1 and one new id."""
    data = ProfileCatalog.bundled().to_json()
    for p in data["profiles"]:
        if p["id"] == f"eu.{SONNET45}":
            p["routes"]["eu-central-1"] = sorted({*p["routes"]["eu-central-1"], "us-east-1"})
    data["profiles"].append(
        {
            "id": f"eu.{NEW_MODEL}",
            "model": NEW_MODEL,
            "geography": "eu",
            "type": "SYSTEM_DEFINED",
            "routes": {"eu-central-1": ["eu-central-1", "eu-west-1"]},
        }
    )
    path = tmp_path / "widened.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def widened(tmp_path: Path) -> Any:
    with LocalBedrock(profiles=widened_profiles(tmp_path), seed=0) as bedrock:
        yield bedrock


def _llm(bedrock: LocalBedrock, **kw: Any) -> ChatBedrockCRIS:
    params: dict[str, Any] = {
        "model": f"eu.{SONNET45}",
        "region_name": "eu-central-1",
        "endpoint_url": bedrock.endpoint_url,
        "residency_policy": EU,
        "failover": False,
        **kw,
    }
    return ChatBedrockCRIS(**params)


def _control_calls(bedrock: LocalBedrock) -> list[str]:
    return [
        f"{r.source_region}:{r.operation}"
        for r in bedrock.wire_log
        if r.operation in ("ListInferenceProfiles", "GetInferenceProfile")
    ]


def test_a_profile_widened_by_aws_is_refused_before_sending(widened: LocalBedrock) -> None:
    llm = _llm(widened)
    with pytest.raises(ResidencyError, match="us-east-1"):
        llm.invoke("hi")
    assert widened.wire_log.runtime() == []
    assert _control_calls(widened) == ["eu-central-1:ListInferenceProfiles"] * 2
    # a base model id cannot sneak onto the widened profile either
    with pytest.raises(ResidencyError):
        _llm(widened, model=SONNET45).invoke("hi")
    assert widened.wire_log.runtime() == []
    # the answer is cached per endpoint: a second model made no new control-plane call
    assert len(_control_calls(widened)) == 2


def test_other_source_regions_keep_their_rows(widened: LocalBedrock) -> None:
    msg = _llm(widened, region_name="eu-west-1").invoke("hi")
    assert set(msg.response_metadata["cris"]["destination_regions"]) <= EU.regions
    assert [r.source_region for r in widened.wire_log.runtime()] == ["eu-west-1"]
    assert {c.split(":")[0] for c in _control_calls(widened)} == {"eu-west-1"}


def test_unknown_model_triggers_a_refresh_before_refusing(widened: LocalBedrock) -> None:
    msg = _llm(widened, model=f"eu.{NEW_MODEL}").invoke("hi")
    cris = msg.response_metadata["cris"]
    assert cris["profile_id"] == f"eu.{NEW_MODEL}"
    assert set(cris["destination_regions"]) == {"eu-central-1", "eu-west-1"}


def test_offline_field_keeps_the_bundle(widened: LocalBedrock) -> None:
    msg = _llm(widened, live_catalog=False).invoke("hi")
    assert set(msg.response_metadata["cris"]["destination_regions"]) <= EU.regions
    assert _control_calls(widened) == []


def test_offline_env_var_keeps_the_bundle(
    widened: LocalBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGCHAIN_CRIS_OFFLINE", "1")
    _llm(widened).invoke("hi")
    assert _control_calls(widened) == []


def test_unreachable_control_plane_falls_back_with_one_warning() -> None:
    llm = ChatBedrockCRIS(
        model=f"eu.{SONNET45}",
        region_name="eu-central-1",
        endpoint_url="http://127.0.0.1:9",  # nothing listens: control plane and runtime down
        residency_policy=EU,
        failover=False,
        max_failover_attempts=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with pytest.raises(Exception) as info:
                llm.invoke("hi")
            assert not isinstance(info.value, ResidencyError)  # judged by the bundle, sent
    fallbacks = [w for w in caught if issubclass(w.category, CatalogFallbackWarning)]
    assert len(fallbacks) == 1
    assert "eu-central-1" in str(fallbacks[0].message)


def test_failover_region_is_checked_against_its_live_rows(tmp_path: Path) -> None:
    """Failing over to a Region first used then: its live answer is read, the widening refused."""
    data = ProfileCatalog.bundled().to_json()
    for p in data["profiles"]:
        if p["id"] == f"eu.{SONNET45}":
            p["routes"]["eu-west-1"] = sorted({*p["routes"]["eu-west-1"], "us-east-1"})
    path = tmp_path / "widened-west.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    throttle_all = [{"kind": "throttle", "operation": "Converse"}]
    with LocalBedrock(profiles=path, seed=0, faults=throttle_all) as bedrock:
        llm = _llm(bedrock, failover=["eu-west-1"], max_failover_attempts=3)
        with pytest.raises(ResidencyError, match="us-east-1"):
            llm.invoke("hi")
        sources = {r.source_region for r in bedrock.wire_log.runtime()}
        assert sources == {"eu-central-1"}  # nothing was sent from eu-west-1
        assert "eu-west-1:ListInferenceProfiles" in _control_calls(bedrock)
