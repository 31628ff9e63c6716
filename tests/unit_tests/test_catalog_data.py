"""Sweep the whole bundled catalog, like botocore's completeness tests sweep every service.

Every profile, every row: Regions valid for their partition, destinations inside the
profile's geography unless AWS documents the exception (and the data flags it), no duplicate
ids, every entry traceable to an AWS page with a commit and a retrieval date.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from langchain_cris import ProfileCatalog, ResidencyPolicy, resolve_route
from langchain_cris.errors import ResidencyViolation
from langchain_cris.regions import region_table


def _raw(name: str) -> dict[str, Any]:
    text = resources.files("langchain_cris.data").joinpath(name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


PROFILES = _raw("profiles.json")
MODELS = _raw("models.json")


def test_no_duplicate_ids_in_the_file() -> None:
    ids = [p["id"] for p in PROFILES["profiles"]]
    assert len(ids) == len(set(ids))


def test_every_source_page_names_repo_path_commit_and_date() -> None:
    for key, src in PROFILES["sources"].items():
        assert {"repo", "path", "commit", "retrieved", "url"} <= src.keys(), key
        assert len(src["commit"]) == 40, key
    assert MODELS["sources"] == PROFILES["sources"]


def test_every_profile_and_row_is_traceable() -> None:
    known = PROFILES["sources"].keys()
    for p in PROFILES["profiles"]:
        assert p["source"] and set(p["source"]) <= known, p["id"]
        per_row = p.get("route_source", {s: p["source"] for s in p["routes"]})
        assert per_row.keys() == p["routes"].keys(), p["id"]
        for keys in per_row.values():
            assert keys and set(keys) <= set(p["source"]), p["id"]


def test_every_model_entry_is_traceable() -> None:
    known = PROFILES["sources"].keys()
    for model_id, info in MODELS["models"].items():
        assert info["provider"] == model_id.split(".", 1)[0], model_id
        assert info["source"], model_id
        for src in info["source"]:
            assert src in known or not src.startswith(("card:", "page:")), (model_id, src)


def test_conflicts_record_the_readings_and_the_choice() -> None:
    ids = {p["id"]: p for p in PROFILES["profiles"]}
    assert PROFILES["conflicts"], "AWS's pages disagree on us-gov Sonnet 4.5; the data says so"
    for c in PROFILES["conflicts"]:
        assert c["profile"] in ids and c["choice"]
        row = set(ids[c["profile"]]["routes"][c["source_region"]])
        for reading in c["readings"].values():
            # the stricter reading: the row covers every page's destinations
            assert set(reading) <= row, c


def test_data_sweep_every_route_is_consistent() -> None:
    table = region_table()
    flagged = {p["id"]: p.get("cross_geography", {}) for p in PROFILES["profiles"]}
    cat = ProfileCatalog.bundled()
    assert len(cat) == len(PROFILES["profiles"])
    for p in cat:
        assert p.profile_id.split(".", 1)[0] in table.profile_prefixes, p.profile_id
        assert p.profile_id.endswith(p.model_id)
        assert p.routes, p.profile_id
        for source, dest in p.routes.items():
            assert source in table, (p.profile_id, source)
            assert dest and all(d in table for d in dest), (p.profile_id, source)
            partition = table.regions[source].partition
            assert all(table.regions[d].partition == partition for d in dest)
            if p.geography == "global":
                assert dest == table.partition_regions("aws")
                continue
            # geographic profiles stay in their geography, except the documented cases where
            # the source itself is added (London, Zurich, Tel Aviv, Canada, New Zealand …) and
            # rows the data flags as crossing geographies (each with its reason)
            extra = (dest - {source}) - table.presets[p.geography].regions
            if source in flagged[p.profile_id]:
                assert flagged[p.profile_id][source]
            else:
                assert not extra, (p.profile_id, source, extra)


def test_every_prefix_has_a_preset_of_the_same_name() -> None:
    table = region_table()
    for prefix in table.profile_prefixes - {"global"}:
        assert prefix in table.presets, prefix


# -- what the model cards added (issue 16) ------------------------------------------------
HAIKU45 = "anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_india_geography_routes_between_mumbai_and_hyderabad() -> None:
    cat = ProfileCatalog.bundled()
    prof = cat.require(f"in.{HAIKU45}")
    assert prof.routes == {
        "ap-south-1": frozenset({"ap-south-1", "ap-south-2"}),
        "ap-south-2": frozenset({"ap-south-1", "ap-south-2"}),
    }
    route = resolve_route(f"in.{HAIKU45}", ResidencyPolicy.preset("in"), "ap-south-1", cat)
    assert route.destination_regions == {"ap-south-1", "ap-south-2"}


@pytest.mark.parametrize("model", [SONNET45, HAIKU45, "anthropic.claude-sonnet-4-6"])
def test_au_profile_from_new_zealand_needs_the_anz_preset(model: str) -> None:
    cat = ProfileCatalog.bundled()
    assert "ap-southeast-6" in cat.require(f"au.{model}").destinations("ap-southeast-6")
    with pytest.raises(ResidencyViolation):
        resolve_route(
            f"au.{model}",
            ResidencyPolicy.preset("au", source_regions={"ap-southeast-6"}),
            "ap-southeast-6",
            cat,
        )
    route = resolve_route(f"au.{model}", ResidencyPolicy.preset("anz"), "ap-southeast-6", cat)
    assert "ap-southeast-6" in route.destination_regions
    # from Sydney the same profile stays in Australia, so plain `au` allows it
    au = resolve_route(f"au.{model}", ResidencyPolicy.preset("au"), "ap-southeast-2", cat)
    assert au.destination_regions == {"ap-southeast-2", "ap-southeast-4"}


def test_versionless_ids_of_newer_models_are_known() -> None:
    cat = ProfileCatalog.bundled()
    for pid in (
        "eu.anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-sonnet-4-6",
        "eu.anthropic.claude-opus-4-6-v1",
    ):
        assert cat.get(pid) is not None, pid
    route = resolve_route(
        "eu.anthropic.claude-sonnet-4-6", ResidencyPolicy.preset("eu"), "eu-central-1", cat
    )
    assert route.destination_regions <= ResidencyPolicy.preset("eu").regions


def test_global_sources_from_the_model_cards() -> None:
    cat = ProfileCatalog.bundled()
    sonnet = cat.require(f"global.{SONNET45}").source_regions
    assert {"ap-east-2", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7"} <= sonnet
    assert {"me-south-1", "mx-central-1"} <= sonnet
    haiku = cat.require(f"global.{HAIKU45}").source_regions
    assert {"af-south-1", "ca-west-1", "mx-central-1", "ap-southeast-6"} <= haiku
    assert "ap-southeast-6" in cat.require("global.amazon.nova-2-lite-v1:0").source_regions


def test_in_region_availability_from_the_model_cards() -> None:
    cat = ProfileCatalog.bundled()
    lite = cat.on_demand_regions("amazon.nova-lite-v1:0")
    assert {"eu-north-1", "eu-west-2", "us-east-1", "ap-southeast-3", "me-central-1"} <= lite
    assert "eu-central-1" not in lite
    assert "eu-west-2" in cat.on_demand_regions("amazon.nova-pro-v1:0")
    assert cat.on_demand_regions(SONNET45) == frozenset()


def test_us_gov_sonnet_45_takes_the_stricter_reading() -> None:
    cat = ProfileCatalog.bundled()
    gov = cat.require(f"us-gov.{SONNET45}")
    for source in ("us-gov-east-1", "us-gov-west-1"):
        assert gov.destinations(source) == {"us-gov-east-1", "us-gov-west-1"}
    us = cat.require(f"us.{SONNET45}")
    assert us.destinations("us-gov-west-1") == {"us-gov-east-1", "us-gov-west-1"}
    with pytest.raises(ResidencyViolation):
        resolve_route(
            f"us.{SONNET45}",
            ResidencyPolicy.preset("us", source_regions={"us-gov-west-1"}),
            "us-gov-west-1",
            cat,
        )
