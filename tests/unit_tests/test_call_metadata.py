"""``response_metadata["cris"]``: the per-route part is built once, but each call owns its copy."""

from __future__ import annotations

from langchain_cris.catalog import default_catalog
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.routing import resolve_route
from langchain_cris.transport.failover import CallPlan, FailoverSettings

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")


def _plan(policy: ResidencyPolicy = EU, run_id: str = "run-1") -> CallPlan:
    catalog = default_catalog()
    route = resolve_route(SONNET, policy, "eu-central-1", catalog)
    return CallPlan(route, policy, catalog, FailoverSettings(), run_id)


def test_each_call_gets_its_own_lists_and_per_call_fields() -> None:
    first, second = _plan(run_id="run-1"), _plan(run_id="run-2")
    cand = first.candidates[0]
    one = first.metadata(cand, "req-1")
    one["destination_regions"].append("us-east-1")  # a caller editing its own metadata
    one["allowed_regions"].clear()
    one["violations"].append("edited")
    two = second.metadata(second.candidates[0], "req-2")
    assert "us-east-1" not in two["destination_regions"]
    assert two["allowed_regions"] == sorted(EU.regions)
    assert two["violations"] == []
    assert (two["request_id"], two["run_id"]) == ("req-2", "run-2")
    assert two["destination_regions"] == sorted(cand.destination_regions)


def test_the_metadata_follows_the_policy_and_the_candidate() -> None:
    eu = _plan().metadata(_plan().candidates[0], "r")
    tenant = ResidencyPolicy(name="tenant-eu", regions=EU.regions)
    plan = _plan(tenant)
    other = plan.metadata(plan.candidates[0], "r")
    assert (eu["policy"], other["policy"]) == ("eu", "tenant-eu")
    assert other["policy_digest"] == tenant.digest  # by content: the same Regions as eu


def test_failover_candidates_carry_their_own_region_and_arn() -> None:
    plan = _plan()
    seen = {}
    for cand in plan.candidates:
        meta = plan.metadata(cand, None)
        assert meta["source_region"] == cand.source_region
        assert meta["model_id"] == cand.model_id
        if meta["profile_arn"]:
            assert f":{cand.source_region}:" in meta["profile_arn"]
        seen[cand.source_region] = meta["profile_arn"]
    assert len(seen) == len({c.source_region for c in plan.candidates})
