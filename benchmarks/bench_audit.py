"""Benchmark ``langchain-cris audit``: events/second and peak memory on generated CloudTrail.

Generates N CloudTrail events (default 1,000,000) as S3-style ``{"Records": [...]}`` files of
10,000 events each, every other file gzipped, in a temporary directory: ~85% Bedrock runtime
events (Converse, ConverseStream, InvokeModel, re-routed and not), the rest other services;
about 1% are served outside the EU. Each audit runs in a fresh child process so its peak RSS is
its own; a run at N/10 is made too, and tracemalloc peaks at 2x10^4 and N/10 events, to show that
memory does not grow with the event count. Wall time depends on machine load; CPU seconds of
the audit process are printed too.

Usage::

    .venv/bin/python benchmarks/bench_audit.py            # 10^6 events
    .venv/bin/python benchmarks/bench_audit.py --events 200000 --keep /tmp/trail
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVENTS_PER_FILE = 10_000
ACCOUNT = "123456789012"
EU = ["eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2"]
MODELS = [
    "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
    "eu.amazon.nova-pro-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
]
NAMES = ["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"]

# A realistic S3-delivered Bedrock event (~1 KB), as CloudTrail writes it.
_BEDROCK = (
    '{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","principalId":'
    '"AROAEXAMPLEID:app-{n}","arn":"arn:aws:sts::{acct}:assumed-role/app/app-{n}",'
    '"accountId":"{acct}","accessKeyId":"ASIAEXAMPLE","sessionContext":{{"sessionIssuer":'
    '{{"type":"Role","principalId":"AROAEXAMPLEID","arn":"arn:aws:iam::{acct}:role/app",'
    '"accountId":"{acct}","userName":"app"}},"attributes":{{"creationDate":'
    '"2026-11-26T10:00:00Z","mfaAuthenticated":"false"}}}}}},"eventTime":"{time}",'
    '"eventSource":"bedrock.amazonaws.com","eventName":"{name}","awsRegion":"{src}",'
    '"sourceIPAddress":"198.51.100.{ip}","userAgent":"Boto3/1.43.0 md/Botocore#1.43.0 '
    'ua/2.1 os/linux lang/python#3.11.7","requestParameters":{{"modelId":"{model}"}},'
    '"responseElements":null,{extra}"requestID":"{rid}","eventID":"{eid}","readOnly":true,'
    '"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{acct}",'
    '"eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":'
    '"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"bedrock-runtime.{src}.amazonaws.com"'
    "}}}}"
)
_OTHER = (
    '{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","arn":'
    '"arn:aws:sts::{acct}:assumed-role/app/x","accountId":"{acct}"}},"eventTime":"{time}",'
    '"eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"{src}",'
    '"requestParameters":{{"bucketName":"data","key":"k/{n}"}},"responseElements":null,'
    '"requestID":"{rid}","eventID":"{eid}","readOnly":true,"eventType":"AwsApiCall",'
    '"recipientAccountId":"{acct}","eventCategory":"Data"}}'
)


def generate(directory: Path, total: int, seed: int = 0) -> tuple[int, int]:
    """Write ``total`` events; returns (files, bytes on disk). Streams: flat memory."""
    rng = random.Random(seed)
    written = files = size = 0
    while written < total:
        count = min(EVENTS_PER_FILE, total - written)
        parts = []
        for i in range(count):
            n = written + i
            src = EU[n % len(EU)]
            time_s = f"2026-11-26T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z"
            rid = f"{rng.getrandbits(64):016x}-{n:08d}"
            if rng.random() < 0.15:
                parts.append(
                    _OTHER.format(acct=ACCOUNT, time=time_s, src=src, n=n, rid=rid, eid=f"e{n}")
                )
                continue
            roll = rng.random()
            if roll < 0.01:
                extra = '"additionalEventData":{"inferenceRegion":"us-east-1"},'
            elif roll < 0.6:
                extra = f'"additionalEventData":{{"inferenceRegion":"{rng.choice(EU)}"}},'
            else:
                extra = ""
            parts.append(
                _BEDROCK.format(
                    acct=ACCOUNT,
                    n=n % 50,
                    time=time_s,
                    name=NAMES[n % len(NAMES)],
                    src=src,
                    ip=n % 250,
                    model=MODELS[n % len(MODELS)],
                    extra=extra,
                    rid=rid,
                    eid=f"{n:08x}-ev",
                )
            )
        data = ('{"Records":[' + ",".join(parts) + "]}").encode()
        name = f"{ACCOUNT}_CloudTrail_{files:05d}.json"
        path = directory / (name + ".gz" if files % 2 else name)
        path.write_bytes(gzip.compress(data, 6) if files % 2 else data)
        size += path.stat().st_size
        written += count
        files += 1
    return files, size


def _child(directory: str, limit: int, trace: bool) -> None:
    """Run one audit in this (fresh) process and print its figures as JSON."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from langchain_cris.audit.report import audit_files
    from langchain_cris.policy import ResidencyPolicy

    policy = ResidencyPolicy.preset("eu")
    paths = sorted(str(p) for p in Path(directory).iterdir())[:limit]
    if trace:  # Python-heap peak of the audit alone (slower: not used for the rate)
        import tracemalloc

        tracemalloc.start()
        audit_files(policy, cloudtrail=paths)
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(json.dumps({"traced_peak_mb": traced_peak / 1e6}))
        return
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    report = audit_files(policy, cloudtrail=paths)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    base, peak = before.ru_maxrss, after.ru_maxrss
    print(
        json.dumps(
            {
                "files": len(paths),
                "events": report.events_read,
                "violations": report.violations_total,
                "problems": report.problems_total,
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "base_rss_mb": base / 1024,
                "peak_rss_mb": peak / 1024,
            }
        )
    )


def _run_child(directory: Path, limit: int, trace: bool = False) -> dict[str, float]:
    extra = ["--trace"] if trace else []
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(directory), "--limit", str(limit), *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.limit, args.trace)
        return
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        files, size = generate(directory, args.events)
        print(
            f"generated {args.events:,} CloudTrail events in {files} files "
            f"({size / 1e6:,.0f} MB on disk, half gzipped) in {time.perf_counter() - t0:.1f}s"
        )
        small = max(1, files // 10)
        for limit in (small, files):
            r = _run_child(directory, limit)
            records = min(limit * EVENTS_PER_FILE, args.events)
            print(
                f"audit {records:>9,} CloudTrail events ({r['events']:,.0f} Bedrock calls, "
                f"{r['files']:.0f} files): {r['seconds']:5.2f}s wall "
                f"= {records / r['seconds']:>7,.0f} events/s; {r['cpu_seconds']:5.2f}s CPU "
                f"= {records / r['cpu_seconds']:>7,.0f} events/CPU-s; "
                f"peak RSS {r['peak_rss_mb']:5.1f} MB (start {r['base_rss_mb']:.1f} MB); "
                f"violations {r['violations']:,.0f}; bad input {r['problems']:.0f}"
            )
        for limit in (2, small):
            traced = _run_child(directory, limit, trace=True)["traced_peak_mb"]
            print(
                f"tracemalloc peak of the audit over {min(limit * EVENTS_PER_FILE, args.events):,}"
                f" events: {traced:.1f} MB"
            )
        if not args.keep:
            print(f"(temporary files removed; --keep DIR keeps them; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
