"""``langchain-cris iam``: IAM identity policy or SCP JSON generated from a residency policy.

Examples::

    langchain-cris iam --policy eu --model anthropic.claude-sonnet-4-5-20250929-v1:0 \\
        --account 111122223333 --source-region eu-central-1
    langchain-cris iam --policy eu --scp                      # policy-wide SCP
    langchain-cris iam --policy europe --model MODEL --scp --format terraform
    langchain-cris iam --policy eu --model MODEL --account ID --explain

Exit codes: 0 document printed, 2 bad input (unknown model, bad account id, Region outside the
policy, unreadable policy or catalog file). A document larger than the AWS quota is still
printed, with a warning on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.cli._common import add_policy_option, load_policy
from langchain_cris.iam import IamDocument, build_identity_policy, build_scp

__all__ = ["HELP", "configure", "run"]

HELP = "print the IAM identity policy (or, with --scp, the SCP) that enforces a residency policy"

_EXIT_BAD_INPUT = 2


def configure(parser: argparse.ArgumentParser) -> None:
    add_policy_option(parser)
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        default=[],
        metavar="MODEL",
        help="base model id, system profile id/ARN or foundation-model ARN (repeatable); "
        "required for the identity policy, optional for --scp (narrows its Region allow-list)",
    )
    parser.add_argument(
        "--account", metavar="ID", help="12-digit AWS account id (identity policy only)"
    )
    parser.add_argument(
        "--source-region",
        dest="source_regions",
        action="append",
        default=None,
        metavar="REGION",
        help="source Region to grant (repeatable; default: every source the policy allows)",
    )
    parser.add_argument("--scp", action="store_true", help="print the SCP instead")
    parser.add_argument(
        "--deny-in-region",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --scp: add (or omit) the deny of direct foundation-model calls "
        "(default: added when the policy refuses in-Region calls)",
    )
    parser.add_argument(
        "--format",
        choices=("json", "terraform"),
        default="json",
        help="json: the policy document; terraform: {policy_name, policy_type, description, "
        "policy_document (compact JSON string)}, usable as a .tfvars.json file",
    )
    parser.add_argument(
        "--explain", action="store_true", help="print a table of why each statement exists"
    )
    parser.add_argument("--name", help="policy name (default: langchain-cris-<policy>-<kind>)")
    parser.add_argument(
        "--catalog", metavar="FILE", help="profile snapshot (langchain-cris profiles -o FILE)"
    )


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    if not args.scp and args.deny_in_region is not None:
        return _bad_input("--deny-in-region/--no-deny-in-region apply to --scp only")
    catalog = None
    if args.catalog:
        try:
            catalog = ProfileCatalog.from_file(args.catalog)
        except (OSError, ValueError, KeyError) as exc:
            return _bad_input(f"cannot read profile catalog {args.catalog}: {exc}")
    doc: IamDocument
    if args.scp:
        doc = build_scp(
            policy,
            args.models,
            source_regions=args.source_regions,
            catalog=catalog,
            deny_in_region=args.deny_in_region,
            name=args.name,
        )
    else:
        if not args.models:
            return _bad_input("the identity policy needs at least one --model (or pass --scp)")
        if not args.account:
            return _bad_input("the identity policy needs --account (12 digits, e.g. 111122223333)")
        doc = build_identity_policy(
            policy,
            args.models,
            account_id=args.account,
            source_regions=args.source_regions,
            catalog=catalog,
            name=args.name,
        )
    if args.explain:
        print(doc.explain())
    elif args.format == "terraform":
        print(json.dumps(doc.to_terraform(), indent=2))
    else:
        print(doc.dumps())
    if doc.over_limit:
        print(
            f"langchain-cris iam: warning: {doc.name} is {doc.size} characters, over the AWS "
            f"limit of {doc.max_size}; generate one document per --model or fewer "
            "--source-region values",
            file=sys.stderr,
        )
    return 0


def _bad_input(message: str) -> int:
    print(f"langchain-cris iam: {message}", file=sys.stderr)
    return _EXIT_BAD_INPUT
