"""``langchain-cris profiles``: list the catalog, refresh it from AWS, or show route drift.

``--drift`` compares AWS's live answers (``ListInferenceProfiles`` in each ``--regions``
Region) with the bundle or a pinned ``--against`` snapshot and lists every profile whose
destinations grew or shrank. Exit codes: 0 no widening, 1 at least one widening (a route now
reaches a Region it did not; the policies it affects are named), 2 bad input (before any call).
"""

from __future__ import annotations

import argparse
import json
import sys

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.catalog.drift import affected_policies, compare_catalogs
from langchain_cris.cli._common import format_table
from langchain_cris.errors import ResidencyError
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table
from langchain_cris.routing import describe_regions

HELP = "list inference profiles and their per-source destinations (refresh them, show drift)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="only profiles of this base model (substring match)")
    parser.add_argument("--geography", help="only this geography (eu, us, global, ...)")
    parser.add_argument("--source-region", help="only rows for this source Region")
    parser.add_argument("--catalog", metavar="FILE", help="read a snapshot instead of the bundle")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="query ListInferenceProfiles in each --regions Region (needs AWS credentials)",
    )
    parser.add_argument(
        "--drift",
        action="store_true",
        help="compare live answers in --regions with the bundle (or --against); exit 1 on any "
        "widening",
    )
    parser.add_argument(
        "--against", metavar="FILE", help="with --drift: compare with this pinned snapshot"
    )
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="PRESET|FILE",
        help="with --drift: policies to check widenings against (repeatable; default: presets)",
    )
    parser.add_argument("--regions", nargs="+", default=[], help="source Regions to query")
    parser.add_argument("--endpoint-url", help="Bedrock endpoint (default: boto3's resolution)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the catalog snapshot here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.drift:
        return _drift(args)
    catalog = ProfileCatalog.from_file(args.catalog) if args.catalog else ProfileCatalog.bundled()
    if args.refresh:
        if not args.regions:
            print("--refresh needs --regions REGION [REGION ...]")
            return 2
        import boto3

        def factory(region: str) -> object:
            return boto3.client("bedrock", region_name=region, endpoint_url=args.endpoint_url)

        changed = catalog.refresh(
            args.regions, client_factory=factory, force=True, include_on_demand=True
        )
        catalog.source = f"live ListInferenceProfiles: {', '.join(args.regions)}"
        print(f"refreshed {len(args.regions)} Region(s): {changed} profile route(s) updated")
    if args.output:
        catalog.to_file(args.output)
        print(f"wrote {len(catalog)} profiles to {args.output}")
        return 0
    profiles = [
        p
        for p in catalog
        if (not args.model or args.model in p.model_id)
        and (not args.geography or p.geography == args.geography)
    ]
    if args.json:
        print(json.dumps([p.to_json() for p in profiles], indent=1))
        return 0
    rows = []
    for p in profiles:
        for source, dest in sorted(p.routes.items()):
            if args.source_region and source != args.source_region:
                continue
            rows.append((p.profile_id, p.geography, source, describe_regions(dest)))
    print(format_table(("profile", "geography", "source Region", "may be processed in"), rows))
    print(f"\n{len(profiles)} profiles; catalog: {catalog.source} (retrieved {catalog.retrieved})")
    return 0


def _drift(args: argparse.Namespace) -> int:
    """``--drift``: validate everything, then ask AWS, then compare."""
    try:
        regions = sorted(region_table().check_all(args.regions))
        if not regions:
            raise ValueError("--drift needs --regions REGION [REGION ...]")
        policies = [ResidencyPolicy.load(p) for p in args.policy] or [
            ResidencyPolicy.preset(name) for name in sorted(region_table().presets)
        ]
        path = args.against or args.catalog
        reference = ProfileCatalog.from_file(path) if path else ProfileCatalog.bundled()
    except (ResidencyError, ValueError, OSError) as exc:
        print(f"langchain-cris profiles --drift: {exc}", file=sys.stderr)
        return 2
    import boto3

    def factory(region: str) -> object:
        return boto3.client("bedrock", region_name=region, endpoint_url=args.endpoint_url)

    live = ProfileCatalog([], source="live", regions=reference.regions)
    try:
        live.refresh(regions, client_factory=factory, force=True)
    except Exception as exc:  # no answer means no comparison: never report "no drift"
        print(f"langchain-cris profiles --drift: no live answer: {exc}", file=sys.stderr)
        return 2
    drift = compare_catalogs(reference, live, regions)
    widenings = [d for d in drift if d.widening]
    if args.json:
        report = {
            "reference": reference.source,
            "regions": regions,
            "policies": [p.name for p in policies],
            "widenings": len(widenings),
            "drift": [d.to_json(policies) for d in drift],
        }
        print(json.dumps(report, indent=1))
        return 1 if widenings else 0
    if not drift:
        print(f"no drift in {', '.join(regions)} against {reference.source}")
        return 0
    rows = []
    for d in drift:
        change = ", ".join(
            [f"+{r}" for r in sorted(d.added)] + [f"-{r}" for r in sorted(d.removed)]
        )
        affects = ""
        if d.widening:
            names = [p.name for p in affected_policies(d, policies)]
            affects = ", ".join(names) if names else "none of the given policies"
        rows.append((d.kind, d.profile_id, d.source_region, change, affects))
    print(format_table(("change", "profile", "source Region", "Regions", "affects"), rows))
    print(
        f"\n{len(drift)} row(s) differ from {reference.source}; {len(widenings)} widening(s)"
        + (
            " -- re-approve before the live catalog refuses (or, offline, sends) them"
            if widenings
            else ""
        )
    )
    return 1 if widenings else 0
