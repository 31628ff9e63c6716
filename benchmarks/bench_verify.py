"""Benchmark ``langchain-cris verify``: records/second and peak memory on a generated audit log.

Writes N realistic ``call`` records (default 1,000,000; about 700 bytes each) through the real
:class:`AuditSink` (``fsync=False``, HMAC checkpoints every 1,000 records, a second checkpoint
file), timing the appends too, since each one takes the log's ``flock`` and checks the head.
Then verifies the log with the key and the checkpoint file in a fresh child process, so the
peak RSS printed is the verifier's own, at N and at N/10, to show that memory does not grow
with the log. Wall time depends on machine load; the child's CPU seconds are printed too.

Usage::

    .venv/bin/python benchmarks/bench_verify.py              # 10^6 records
    .venv/bin/python benchmarks/bench_verify.py --records 100000 --keep /tmp/log
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langchain_cris.audit.checkpoints import CheckpointSigner
from langchain_cris.audit.records import call_record
from langchain_cris.audit.sink import AuditSink

KEY = b"benchmark-key-0123456789abcdef!!"
REGIONS = ["eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"]

_CHILD = """
import resource, sys, time
from langchain_cris.audit.checkpoints import CheckpointVerifier
from langchain_cris.audit.verify import verify_logs
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the interpreter and the imports
t0, c0 = time.perf_counter(), time.process_time()
res = verify_logs([sys.argv[1]], verifier=CheckpointVerifier(hmac_key=sys.argv[3].encode()),
                  checkpoints=sys.argv[2])
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(res.intact, res.records, res.checkpoints_verified, f"{wall:.3f}", f"{cpu:.3f}", rss, base)
"""


def write_log(path: Path, anchors: Path, count: int) -> tuple[float, float]:
    """Append ``count`` call records through the sink; returns (wall, CPU) seconds."""
    signer = CheckpointSigner(hmac_key=KEY)
    start, cpu = time.perf_counter(), time.process_time()
    with AuditSink(path, fsync=False, signer=signer, checkpoints=anchors) as sink:
        for i in range(count):
            sink.append(
                call_record(
                    ts=f"2026-11-26T12:{(i // 60) % 60:02d}:{i % 60:02d}.000Z",
                    run_id=f"5f0c3a2e-0000-4000-8000-{i:012d}",
                    parent_run_id=f"9d1e7b44-0000-4000-8000-{i // 10:012d}",
                    policy="eu",
                    policy_digest="sha256:9a2b28839b94c287",
                    mode="enforce",
                    model_id="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    profile_id="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    geography="eu",
                    source_region="eu-central-1",
                    allowed_regions=REGIONS,
                    destination_regions=REGIONS,
                    request_id=f"0b6a1f9e-{i:08d}-4c1d-9e2a-7f3b5c8d1e0f",
                    latency_ms=812,
                    input_tokens=1234,
                    output_tokens=321,
                    served_region=REGIONS[i % 4],
                    attempts=[{"region": "eu-central-1", "outcome": "ok"}],
                )
            )
    return time.perf_counter() - start, time.process_time() - cpu


def verify_in_child(path: Path, anchors: Path) -> tuple[bool, int, int, float, float, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(anchors), KEY.decode()],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    flag, records, verified, wall, cpu, rss, base = out
    return flag == "True", int(records), int(verified), float(wall), float(cpu), int(rss), int(base)


def run(count: int, directory: Path) -> None:
    path, anchors = directory / f"audit-{count}.jsonl", directory / f"anchors-{count}.jsonl"
    write_s, write_cpu = write_log(path, anchors, count)
    size = path.stat().st_size
    print(
        f"write  {count:>9,} records  {size / 1e6:8.1f} MB  {write_s:7.2f} s  "
        f"({write_cpu:.2f} s CPU, {write_cpu / count * 1e6:.0f} us/record)  "
        f"{count / write_s:10,.0f} records/s (AuditSink, flock + HMAC checkpoints, no fsync)"
    )
    intact, records, verified, wall, cpu, rss_kb, base_kb = verify_in_child(path, anchors)
    assert intact, "the generated log must verify"
    print(
        f"verify {records:>9,} records  {verified:,} signatures  {wall:7.2f} s wall "
        f"({cpu:.2f} s CPU, {records / cpu:,.0f} records/CPU-s)  {records / wall:10,.0f} "
        f"records/s  peak RSS {rss_kb / 1024:6.1f} MiB ({base_kb / 1024:.1f} MiB after imports)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="write the logs here and keep them")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.uname().sysname} {os.uname().machine}")
    if args.keep:
        directory = Path(args.keep)
        directory.mkdir(parents=True, exist_ok=True)
        for n in (args.records // 10, args.records):
            run(n, directory)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.records // 10, args.records):
            run(n, Path(tmp))
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(writer process peak RSS {self_rss:.1f} MiB)")


if __name__ == "__main__":
    main()
