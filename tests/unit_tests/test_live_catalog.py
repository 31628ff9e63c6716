"""Live answers layered over the bundle: fail-closed parsing, TTL, one refresh per Region."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from langchain_cris import ProfileCatalog, ResidencyPolicy, resolve_route
from langchain_cris.catalog._live_answers import read_destinations
from langchain_cris.catalog.live import (
    CatalogFallbackWarning,
    LiveCatalog,
    live_catalog_for,
    offline_mode,
)
from langchain_cris.errors import ResidencyViolation, UnknownModelError
from langchain_cris.regions import region_table

SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
TABLE = region_table()
EVERYWHERE = frozenset(TABLE.regions)


def _summary(pid: str, arns: list[str], ptype: str = "SYSTEM_DEFINED") -> dict[str, Any]:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return {
        "inferenceProfileName": pid,
        "inferenceProfileArn": f"arn:aws:bedrock:eu-central-1:123456789012:inference-profile/{pid}",
        "inferenceProfileId": pid,
        "models": [{"modelArn": a} for a in arns],
        "status": "ACTIVE",
        "type": ptype,
        "createdAt": now,
        "updatedAt": now,
    }


def _fm(region: str, model: str = SONNET45) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model}"


# -- class 9 of issue 14: the answer's shape is not trusted ----------------------------------
def test_region_less_global_model_arn_means_every_region_of_the_partition() -> None:
    got = read_destinations(
        _summary("global.x", [_fm("eu-west-1"), "arn:aws:bedrock:::foundation-model/" + SONNET45]),
        "eu-central-1",
        TABLE,
    )
    assert got.regions == TABLE.partition_regions("aws")
    assert not got.widened  # a documented form, not an unreadable one


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:bedrock:eu-west-9::foundation-model/" + SONNET45,  # a Region we do not know
        "not-an-arn",
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.x",  # wrong resource type
        None,
    ],
)
def test_unreadable_destination_means_anywhere(arn: Any) -> None:
    got = read_destinations(_summary("eu.x", [_fm("eu-west-1"), arn]), "eu-central-1", TABLE)
    assert got.regions == EVERYWHERE
    assert got.widened


def test_no_models_means_anywhere() -> None:
    summary = _summary("eu.x", [])
    assert read_destinations(summary, "eu-central-1", TABLE).regions == EVERYWHERE
    del summary["models"]
    assert read_destinations(summary, "eu-central-1", TABLE).regions == EVERYWHERE


def test_eu_profile_answered_with_the_global_arn_is_refused_under_eu() -> None:
    cat = ProfileCatalog.bundled()
    answer = [
        _summary(f"eu.{SONNET45}", [_fm("eu-west-1"), "arn:aws:bedrock:::foundation-model/x"])
    ]
    cat.merge_answers("eu-central-1", answer)
    with pytest.raises(ResidencyViolation):
        resolve_route(f"eu.{SONNET45}", EU, "eu-central-1", cat)


def test_refresh_keeps_an_unreadable_profile_as_anywhere() -> None:
    client = boto3.client("bedrock", region_name="eu-central-1")
    stub = Stubber(client)
    pid = "eu.newvendor.model-v1:0"
    stub.add_response(
        "list_inference_profiles",
        {"inferenceProfileSummaries": [_summary(pid, ["garbage"])]},
        {"typeEquals": "SYSTEM_DEFINED"},
    )
    stub.add_response(
        "list_inference_profiles", {"inferenceProfileSummaries": []}, {"typeEquals": "APPLICATION"}
    )
    cat = ProfileCatalog.bundled()
    with stub:
        cat.refresh(["eu-central-1"], client_factory=lambda r: client)
    profile = cat.require(pid)  # never dropped
    assert profile.destinations("eu-central-1") == EVERYWHERE
    with pytest.raises(ResidencyViolation):
        resolve_route(pid, EU, "eu-central-1", cat)


# -- LiveCatalog ------------------------------------------------------------------------------
class FakeControlPlane:
    """Answers ListInferenceProfiles per Region from a table; counts calls (a unit seam)."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.gate: threading.Event | None = None
        self.error: Exception | None = None

    def client(self, region: str) -> Any:
        plane = self

        class _Paginator:
            def paginate(self, typeEquals: str) -> Any:
                plane.calls.append(f"{region}:{typeEquals}")
                if plane.gate is not None:
                    plane.gate.wait(5)
                if plane.error is not None:
                    raise plane.error
                items = [s for s in plane.answers.get(region, []) if s["type"] == typeEquals]
                return [{"inferenceProfileSummaries": items}]

        class _Client:
            def get_paginator(self, name: str) -> Any:
                assert name == "list_inference_profiles"
                return _Paginator()

        return _Client()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


WIDE = ["eu-central-1", "eu-west-1", "us-east-1"]


def _live(plane: FakeControlPlane, clock: Clock, **kw: Any) -> LiveCatalog:
    return LiveCatalog(ProfileCatalog.bundled(), plane.client, clock=clock, **kw)


def test_live_answer_wins_over_the_bundle_and_widening_is_refused() -> None:
    plane = FakeControlPlane({"eu-central-1": [_summary(f"eu.{SONNET45}", [_fm(r) for r in WIDE])]})
    live = _live(plane, Clock())
    bundled = live.catalog()
    assert resolve_route(f"eu.{SONNET45}", EU, "eu-central-1", bundled)
    cat = live.ensure("eu-central-1")
    assert cat.require(f"eu.{SONNET45}").destinations("eu-central-1") == set(WIDE)
    with pytest.raises(ResidencyViolation):
        resolve_route(f"eu.{SONNET45}", EU, "eu-central-1", cat)
    # other source Regions keep the bundle's rows
    assert "us-east-1" not in cat.require(f"eu.{SONNET45}").destinations("eu-west-1")
    # the base catalog itself is untouched
    assert "us-east-1" not in live.base.require(f"eu.{SONNET45}").destinations("eu-central-1")


def test_ttl_and_forced_refresh_for_unknown_models() -> None:
    plane = FakeControlPlane({"eu-west-1": []})
    clock = Clock()
    live = _live(plane, clock, ttl=100.0, min_forced_interval=10.0)
    live.ensure("eu-west-1")
    live.ensure("eu-west-1")
    assert len(plane.calls) == 2  # SYSTEM_DEFINED + APPLICATION, once
    clock.now += 5
    live.ensure_unknown("eu-west-1")  # answered 5 s ago: not again
    assert len(plane.calls) == 2
    clock.now += 10
    new = "eu.anthropic.claude-sonnet-9-v1"
    plane.answers["eu-west-1"] = [_summary(new, [_fm("eu-west-1", "anthropic.claude-sonnet-9")])]
    with pytest.raises(UnknownModelError):
        resolve_route(new, EU, "eu-west-1", live.catalog())
    cat = live.ensure_unknown("eu-west-1")
    assert len(plane.calls) == 4
    assert resolve_route(new, EU, "eu-west-1", cat).destination_regions == {"eu-west-1"}
    clock.now += 101
    live.ensure("eu-west-1")
    assert len(plane.calls) == 6


def test_one_refresh_in_flight_per_region_and_other_regions_are_not_blocked() -> None:
    plane = FakeControlPlane({})
    plane.gate = threading.Event()
    live = _live(plane, Clock())
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: (live.ensure("eu-west-1"), results.append("w")))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    while not plane.calls:
        threading.Event().wait(0.001)
    # eu-west-1 is stuck in its refresh; eu-west-3 is served by its own
    gate, plane.gate = plane.gate, None
    live.ensure("eu-west-3")
    assert "eu-west-3:SYSTEM_DEFINED" in plane.calls
    assert results == []
    gate.set()
    for t in threads:
        t.join(5)
    assert sorted(results) == ["w"] * 4
    assert plane.calls.count("eu-west-1:SYSTEM_DEFINED") == 1


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://bedrock.eu-west-1.amazonaws.com"),
        ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
            "ListInferenceProfiles",
        ),
    ],
)
def test_fallback_to_the_bundle_with_one_warning(error: Exception) -> None:
    plane = FakeControlPlane({})
    plane.error = error
    clock = Clock()
    live = _live(plane, clock, retry_after_failure=30.0)
    with pytest.warns(CatalogFallbackWarning) as caught:
        cat = live.ensure("eu-west-1")
        live.ensure("eu-west-3")  # a second failing Region: no second warning
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "eu-west-1" in text and "bundled catalog" in text
    if "AccessDenied" in text:
        assert "bedrock:ListInferenceProfiles" in text
    assert resolve_route(f"eu.{SONNET45}", EU, "eu-west-1", cat)  # bundle rows in force
    calls = len(plane.calls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        live.ensure("eu-west-1")  # inside the retry window: no call, no warning
    assert len(plane.calls) == calls
    clock.now += 31
    plane.error = None
    live.ensure("eu-west-1")
    assert len(plane.calls) == calls + 2
    assert live.refreshed_regions() == {"eu-west-1"}


def test_registry_separates_endpoints_and_follows_the_base() -> None:
    base = ProfileCatalog.bundled()
    plane = FakeControlPlane({})
    a = live_catalog_for(base, "endpoint-a", plane.client)
    assert live_catalog_for(base, "endpoint-a", plane.client) is a
    assert live_catalog_for(base, "endpoint-b", plane.client) is not a
    assert live_catalog_for(ProfileCatalog.bundled(), "endpoint-a", plane.client) is not a


def test_view_follows_changes_of_the_base() -> None:
    plane = FakeControlPlane({})
    live = _live(plane, Clock())
    first = live.catalog()
    from langchain_cris.catalog import InferenceProfile

    live.base.add(
        InferenceProfile("eu.acme.x-v1", "acme.x-v1", "eu", {"eu-west-1": frozenset({"eu-west-1"})})
    )
    second = live.catalog()
    assert second is not first and second.get("eu.acme.x-v1") is not None
    assert second.generation > first.generation


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False)])
def test_offline_switch(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("LANGCHAIN_CRIS_OFFLINE", value)
    assert offline_mode() is expected
