"""``langchain-cris reconcile``: fill in every pending served Region of an audit log.

Evidence comes from CloudTrail / invocation-log files (as delivered to S3) and, with
``--live``, from CloudTrail ``LookupEvents`` (plus CloudWatch Logs when ``--log-group`` is
given) in each call's source Region, using boto3's usual credentials and endpoint settings.
Reconciliation records are appended to the log. Exit codes: 0 no violation in the log,
1 violations found, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from langchain_cris.audit.batch import reconcile_audit_log
from langchain_cris.audit.sources import AwsClients, CloudTrailLookup, InvocationLogLookup, Source

__all__ = ["HELP", "configure", "run"]

HELP = "fill in the served Region of pending calls in a CRIS audit log (CloudTrail / logs)"

EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT = 0, 1, 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audit_log", help="JSON Lines audit log written by CRISCallbackHandler")
    parser.add_argument(
        "--cloudtrail",
        nargs="+",
        default=[],
        metavar="FILE",
        help="CloudTrail files as delivered to S3 (.json or .json.gz)",
    )
    parser.add_argument(
        "--invocation-logs",
        nargs="+",
        default=[],
        metavar="FILE",
        help="Model Invocation Log files (S3 JSON or JSON Lines, .gz ok)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="also look calls up with CloudTrail LookupEvents in each source Region",
    )
    parser.add_argument(
        "--log-group",
        help="with --live: CloudWatch Logs group of Model Invocation Logging to search too",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=0.0,
        metavar="S",
        help="with --live: keep polling for up to S seconds for undelivered events (default 0)",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=5.0, metavar="S", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--endpoint-url",
        help="with --live: AWS endpoint (default: boto3's, incl. AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--profile", help="with --live: AWS profile name")
    parser.add_argument(
        "--no-fsync", action="store_true", help="do not fsync appended records (faster)"
    )


def run(args: argparse.Namespace) -> int:
    log_path = Path(args.audit_log)
    missing = [
        p
        for p in [log_path, *map(Path, args.cloudtrail), *map(Path, args.invocation_logs)]
        if not p.is_file()
    ]
    if missing:
        print(
            "langchain-cris reconcile: no such file: " + ", ".join(map(str, missing)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.deadline < 0 or args.poll_interval <= 0:
        print("langchain-cris reconcile: --deadline must be >= 0 seconds", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not (args.cloudtrail or args.invocation_logs or args.live):
        print(
            "langchain-cris reconcile: give evidence: --cloudtrail FILE…, "
            "--invocation-logs FILE… and/or --live",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT

    sources: list[Source] = []
    if args.live:
        session = None
        if args.profile:
            import boto3

            session = boto3.Session(profile_name=args.profile)
        clients = AwsClients(boto3_session=session, endpoint_url=args.endpoint_url)
        sources.append(CloudTrailLookup(clients, clock=args.clock))
        if args.log_group:
            sources.append(InvocationLogLookup(clients, args.log_group))

    report = reconcile_audit_log(
        log_path,
        cloudtrail_files=args.cloudtrail,
        invocation_log_files=args.invocation_logs,
        sources=sources,
        deadline=args.deadline,
        poll_interval=args.poll_interval,
        fsync=not args.no_fsync,
        clock=args.clock,
    )
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(
        f"{log_path}: {report.calls} call(s), {report.pending_before} pending before, "
        f"{len(report.reconciled)} reconciled now, {len(report.still_pending)} still pending"
    )
    for record in report.reconciled:
        mark = "ok" if record["compliant"] else "VIOLATION"
        print(
            f"  {record['request_id']}: {record['source_region']} -> {record['served_region']} "
            f"({record['evidence']}{', assumed' if record.get('strength') == 'assumed' else ''}) "
            f"{mark}"
        )
    for request_id in report.still_pending:
        print(f"  {request_id}: still pending")
    if report.violations:
        print(f"{len(report.violations)} residency violation(s):")
        for state in report.violations:
            call = state.call or {}
            allowed = ", ".join(call.get("allowed_regions") or []) or "(none)"
            print(
                f"  {state.request_id or state.run_id}: policy {call.get('policy')!r} "
                f"allows {allowed}; served in {state.served_region}"
            )
        return EXIT_VIOLATIONS
    return EXIT_OK
