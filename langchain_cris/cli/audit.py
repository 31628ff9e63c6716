"""``langchain-cris audit``: prove after the fact where Bedrock calls were really processed.

Usage::

    langchain-cris audit --policy eu trail/ invocation-logs/ cris-audit.jsonl
    langchain-cris audit --policy eu --format markdown -o report.md --cloudtrail a.json.gz
    langchain-cris audit --policy eu --lookup --region eu-central-1 --since 24h \\
        --log-group /aws/bedrock/invocations --audit-log cris-audit.jsonl
    langchain-cris audit --policy eu trail/ --audit-log cris-audit.jsonl --key-env CRIS_AUDIT_KEY \\
        --format html -o report.html

Positional files (and directories, walked recursively) are sorted into CloudTrail,
invocation-log and langchain-cris audit-log inputs by their content. Every audit log read is
also verified (hash chain; checkpoint signatures with ``--key``/``--public-key``) and the result
is part of the report; it does not change the exit code (``langchain-cris verify`` does that).
Exit codes: 0 no
violation, 1 violations found (or, with ``--strict``, cross-check discrepancies), 2 bad usage
(unknown policy, missing file, no input, AWS lookup failed).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_cris.audit._jsonstream import detect_input_kind, expand_paths
from langchain_cris.audit._progress import Progress
from langchain_cris.audit.auditor import DEFAULT_MAX_VIOLATIONS, Auditor
from langchain_cris.audit.checkpoints import CheckpointKeyError, CheckpointVerifier
from langchain_cris.audit.cloudtrail import (
    AuditInputError,
    CloudTrailCall,
    LookupHorizonError,
    clamp_to_lookup_horizon,
    parse_time,
)
from langchain_cris.audit.costs import add_costs_to_report
from langchain_cris.audit.files import audit_files
from langchain_cris.audit.invocation_logs import InvocationLogEntry
from langchain_cris.audit.result import AuditReport
from langchain_cris.audit.runs import ChainTally
from langchain_cris.audit.verify import verify_logs
from langchain_cris.cli._common import add_policy_option, load_policy
from langchain_cris.cli.verify import add_key_options, summary_line, verifier_from_args

__all__ = ["HELP", "configure", "run"]

HELP = "audit CloudTrail / invocation logs / the audit log against a residency policy"

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``audit`` options."""
    add_policy_option(parser)
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="CloudTrail, invocation-log or audit-log files or directories (kind detected)",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json", "markdown", "html"),
        default="table",
        help="report format (html: one self-contained page, prints to PDF)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report here")
    parser.add_argument(
        "--cloudtrail", nargs="+", default=[], metavar="FILE", help="CloudTrail files (S3, .gz)"
    )
    parser.add_argument(
        "--invocation-logs",
        nargs="+",
        default=[],
        metavar="FILE",
        help="Model Invocation Log files (JSON Lines / S3, .gz)",
    )
    parser.add_argument(
        "--audit-log",
        action="append",
        default=[],
        metavar="FILE",
        help="langchain-cris JSONL audit log to cross-check against AWS (repeatable)",
    )
    add_key_options(parser.add_argument_group("audit-log verification"))
    live = parser.add_argument_group("live AWS evidence")
    live.add_argument(
        "--lookup", action="store_true", help="read CloudTrail live with LookupEvents"
    )
    live.add_argument(
        "--log-group",
        metavar="NAME",
        help="read invocation logs live from this CloudWatch Logs group (FilterLogEvents)",
    )
    live.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="REGION",
        help="source Region to query live (repeatable; CloudTrail and logs are regional)",
    )
    live.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local Bedrock)")
    window = parser.add_argument_group("filters")
    window.add_argument(
        "--since", metavar="WHEN", help="ISO time or age such as 90m, 24h, 7d (live default 24h)"
    )
    window.add_argument("--until", metavar="WHEN", help="ISO time or age (default now)")
    window.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID",
        help="expected account id (repeatable); events of other accounts are reported, skipped",
    )
    parser.add_argument(
        "--max-violations",
        type=int,
        default=DEFAULT_MAX_VIOLATIONS,
        metavar="N",
        help=f"violations listed in detail (all are counted; default {DEFAULT_MAX_VIOLATIONS})",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also exit 1 when the audit log and AWS disagree",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="never draw the progress line on stderr"
    )


def _when(text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return parse_time(text)


def _fail(message: str) -> int:
    print(f"langchain-cris audit: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    """Run the audit; returns 0 (clean), 1 (violations) or 2 (bad usage)."""
    policy = load_policy(args.policy)
    now: datetime = args.clock()
    try:
        since = _when(args.since, now)
        until = _when(args.until, now)
    except AuditInputError as exc:
        return _fail(f"--since/--until: {exc}; use ISO 8601 or an age such as 90m, 24h, 7d")
    if args.max_violations < 0:
        return _fail("--max-violations must be 0 or more")
    groups = {
        "files": list(expand_paths(args.files)),
        "cloudtrail": list(expand_paths(args.cloudtrail)),
        "invocation_logs": list(expand_paths(args.invocation_logs)),
        "audit_logs": list(expand_paths(args.audit_log)),
    }
    missing = [p for paths in groups.values() for p in paths if not os.path.exists(p)]
    if missing:
        return _fail(f"no such file: {', '.join(missing)}")
    try:
        verifier = verifier_from_args(args)
    except CheckpointKeyError as exc:
        return _fail(str(exc))
    if args.checkpoints and not os.path.isfile(args.checkpoints):
        return _fail(f"no such file: {args.checkpoints}")
    live = args.lookup or args.log_group
    if live and not args.region:
        return _fail("--lookup/--log-group need at least one --region (the source Region)")
    if not live and not any(groups[k] for k in ("files", "cloudtrail", "invocation_logs")):
        return _fail(
            "nothing to audit: give CloudTrail / invocation-log files, or --lookup / "
            "--log-group with --region"
        )
    auditor = Auditor(
        policy,
        accounts=args.account or None,
        since=since,
        until=until,
        max_violations=args.max_violations,
        strict=args.strict,
    )
    cloudtrail_calls: Iterable[CloudTrailCall] | None = None
    invocation_entries: Iterable[InvocationLogEntry] | None = None
    if live:
        start, end = since or now - timedelta(hours=24), until or now
        if args.lookup:
            # LookupEvents sees 90 days back; say so rather than report an empty window as clean.
            try:
                start, cut = clamp_to_lookup_horizon(start, end, now=now)
            except LookupHorizonError as exc:
                return _fail(f"--lookup: {exc}")
            if cut:
                print(f"langchain-cris audit: {cut}", file=sys.stderr)
        cloudtrail_calls, invocation_entries = _live_readers(args, start, end, auditor)
    progress = Progress(sys.stderr, enabled=False if args.no_progress else None)
    try:
        report = audit_files(
            policy,
            groups["files"],
            cloudtrail=groups["cloudtrail"],
            invocation_logs=groups["invocation_logs"],
            audit_logs=groups["audit_logs"],
            cloudtrail_calls=cloudtrail_calls,
            invocation_entries=invocation_entries,
            progress=progress.update,
            auditor=auditor,
        )
    except Exception as exc:  # botocore's errors: no credentials, AccessDenied, endpoint down
        if type(exc).__module__.split(".")[0] not in ("botocore", "boto3"):
            raise
        return _fail(f"reading AWS failed: {type(exc).__name__}: {exc}")
    finally:
        progress.close()
    _check_audit_logs(report, groups, verifier, args.checkpoints)
    text = report.render(args.format)
    text = add_costs_to_report(text, args.format, groups["audit_logs"], groups["files"])
    if args.output:
        Path(args.output).write_text(text if text.endswith("\n") else text + "\n", "utf-8")
        print(
            f"langchain-cris audit: report written to {args.output} "
            f"({report.violations_total} violation(s))",
            file=sys.stderr,
        )
    else:
        print(text)
    return report.exit_code


def _check_audit_logs(
    report: AuditReport,
    groups: dict[str, list[str]],
    verifier: CheckpointVerifier | None,
    checkpoints: str | None,
) -> None:
    """Verify each audit log read and tally its chains, in one more streaming pass per log."""
    logs = groups["audit_logs"] + [
        p for p in groups["files"] if detect_input_kind(p) == "audit_log"
    ]
    tally = ChainTally()
    for path in logs:
        result = verify_logs(
            [path], verifier=verifier, checkpoints=checkpoints, on_record=tally.add
        )
        report.audit_log_checks.append({**result.to_dict(), "summary": summary_line(result)})
    report.chains = tally.groups()


def _live_readers(
    args: argparse.Namespace, start: datetime, end: datetime, auditor: Auditor
) -> tuple[Iterator[CloudTrailCall] | None, Iterator[InvocationLogEntry] | None]:
    """Lazy readers over every ``--region`` (CloudTrail and invocation logs are regional)."""
    import boto3

    from langchain_cris.audit.cloudtrail import lookup_cloudtrail_calls
    from langchain_cris.audit.invocation_logs import filter_invocation_logs
    from langchain_cris.audit.ratelimit import lookup_events_limiter

    extra: dict[str, Any] = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}

    def calls() -> Iterator[CloudTrailCall]:
        for region in args.region:
            client = boto3.client("cloudtrail", region_name=region, **extra)
            # The machine-wide LookupEvents budget (2 requests/s per Region) it shares with
            # every reconciler.
            limiter = lookup_events_limiter(region, endpoint_url=client.meta.endpoint_url)
            yield from lookup_cloudtrail_calls(
                client,
                start_time=start,
                end_time=end,
                on_error=auditor.on_error,
                throttle=limiter.acquire,
            )

    def entries() -> Iterator[InvocationLogEntry]:
        for region in args.region:
            client = boto3.client("logs", region_name=region, **extra)
            yield from filter_invocation_logs(
                client,
                log_group=args.log_group,
                start_time=start,
                end_time=end,
                on_error=auditor.on_error,
            )

    return (calls() if args.lookup else None), (entries() if args.log_group else None)
