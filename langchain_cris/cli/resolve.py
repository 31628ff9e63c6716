"""``langchain-cris resolve MODEL --policy eu --region eu-central-1``: explain a decision."""

from __future__ import annotations

import argparse
import json

from langchain_cris.cli._common import add_policy_option, format_table, load_policy
from langchain_cris.routing import describe_regions, resolve_route

HELP = "explain which inference profile a model may use under a policy, from a source Region"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="base model id, profile id, or Bedrock ARN")
    add_policy_option(parser)
    parser.add_argument("--region", required=True, help="source Region the client calls from")
    parser.add_argument(
        "--no-failover", action="store_true", help="do not list failover source Regions"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    route = resolve_route(args.model, policy, args.region, failover=not args.no_failover)
    if args.json:
        out = route.as_metadata()
        out["candidates"] = [
            {
                "model_id": c.model_id,
                "source_region": c.source_region,
                "kind": c.kind,
                "destination_regions": sorted(c.destination_regions),
            }
            for c in route.candidates
        ]
        print(json.dumps(out, indent=2))
        return 0
    verdict = "ALLOWED" if route.compliant else "VIOLATION (audit mode: sent anyway)"
    print(f"{verdict}: {args.model} from {args.region} under {policy}")
    print()
    rows: list[tuple[str, str]] = [
        ("send as modelId", route.model_id),
        ("profile ARN", route.profile_arn or "-"),
        ("base model", route.base_model_id),
        ("geography", route.geography),
        ("source Region", route.source_region),
        ("may be processed in", describe_regions(route.destination_regions)),
        ("policy digest", route.policy_digest),
    ]
    rows.extend(("violation", v) for v in route.violations)
    print(format_table(("field", "value"), rows))
    if len(route.candidates) > 1:
        print()
        print("Failover candidates (all inside the policy):")
        print(
            format_table(
                ("#", "modelId", "from", "may be processed in"),
                [
                    (i, c.model_id, c.source_region, describe_regions(c.destination_regions))
                    for i, c in enumerate(route.candidates[1:], start=1)
                ],
            )
        )
    return 0
