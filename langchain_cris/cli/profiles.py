"""``langchain-cris profiles``: list the catalog, or refresh it from AWS into a snapshot file."""

from __future__ import annotations

import argparse
import json

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.cli._common import format_table
from langchain_cris.routing import describe_regions

HELP = "list inference profiles and their per-source destinations (or refresh them from AWS)"


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
    parser.add_argument("--regions", nargs="+", default=[], help="source Regions to refresh")
    parser.add_argument("--endpoint-url", help="Bedrock endpoint (default: boto3's resolution)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the catalog snapshot here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
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
