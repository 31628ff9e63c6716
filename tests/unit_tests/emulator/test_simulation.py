"""Routing weights, capacity, outages, throttle faults and the SCP check."""

from __future__ import annotations

from collections import Counter

from langchain_cris.emulator.config import EmulatorConfig, FaultRule, RegionConfig
from langchain_cris.emulator.simulation import Simulation

DESTS = ["eu-central-1", "eu-west-1", "eu-west-3"]


def _route(sim: Simulation, source: str = "eu-central-1", tokens: int = 10) -> str | None:
    return sim.route(DESTS, source, operation="Converse", model_id="m", tokens=tokens).served


def test_routing_is_capacity_weighted_and_seeded() -> None:
    config = EmulatorConfig(
        regions={
            "eu-central-1": RegionConfig(weight=6),
            "eu-west-1": RegionConfig(weight=3),
            "eu-west-3": RegionConfig(weight=1),
        }
    )
    sim = Simulation(config, seed=1)
    counts = Counter(_route(sim) for _ in range(3000))
    assert 0.55 < counts["eu-central-1"] / 3000 < 0.65
    assert 0.25 < counts["eu-west-1"] / 3000 < 0.35
    again = Simulation(config, seed=1)
    replay = [_route(again) for _ in range(50)]
    fresh = Simulation(config, seed=1)
    assert replay == [_route(fresh) for _ in range(50)]


def test_full_region_overflows_to_others_then_throttles() -> None:
    config = EmulatorConfig(default_region=RegionConfig(requests_per_minute=2))
    sim = Simulation(config, seed=0)
    served = [_route(sim) for _ in range(7)]
    assert Counter(served[:6]) == {r: 2 for r in DESTS}
    assert served[6] is None


def test_token_capacity() -> None:
    config = EmulatorConfig(default_region=RegionConfig(tokens_per_minute=100))
    sim = Simulation(config, seed=0)
    assert _route(sim, tokens=1000) is None
    assert _route(sim, tokens=100) is not None


def test_source_first_prefers_the_source_region() -> None:
    sim = Simulation(EmulatorConfig(routing="source-first"), seed=0)
    assert {_route(sim, source="eu-west-1") for _ in range(20)} == {"eu-west-1"}


def test_outage_and_regional_throttle_are_routed_around() -> None:
    config = EmulatorConfig(
        regions={"eu-west-1": RegionConfig(outage=True)},
        faults=[FaultRule(kind="throttle", region="eu-west-3")],
    )
    sim = Simulation(config, seed=0)
    assert {_route(sim) for _ in range(30)} == {"eu-central-1"}


def test_fault_times_and_probability() -> None:
    rule = FaultRule(kind="internal_error", times=2)
    sim = Simulation(EmulatorConfig(faults=[rule]), seed=0)
    hits = [sim.draw_fault("eu-west-1", "Converse", "m") for _ in range(5)]
    assert hits[:2] == [rule, rule] and hits[2:] == [None] * 3
    half = Simulation(EmulatorConfig(faults=[FaultRule(kind="internal_error", probability=0.5)]), 3)
    fired = sum(half.draw_fault("eu-west-1", "Converse", "m") is not None for _ in range(1000))
    assert 400 < fired < 600


def test_scp_deny_and_allow_lists() -> None:
    sim = Simulation(EmulatorConfig(deny_regions={"eu-south-2"}), seed=0)
    assert sim.denied("eu-south-2") and not sim.denied("eu-west-1")
    sim = Simulation(EmulatorConfig(allow_regions={"eu-west-1"}), seed=0)
    assert sim.denied("unspecified") and not sim.denied("eu-west-1")
