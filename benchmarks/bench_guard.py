"""Per-call cost of the wire guard (the ``before-sign`` check on every bedrock-runtime request).

1. The check alone: the guard's hook called on a prepared ``AWSRequest`` while a route is
   decided (what runs per request), in µs per call.
2. End to end: the same boto3 Converse call on two clients of one local Bedrock (in a child
   process, 0 ms service latency: only local CPU is measured), one guarded (inside
   ``decided_route``) and one not; interleaved rounds, medians, the difference in µs and the
   ratio.

Usage: ``python benchmarks/bench_guard.py [--calls 400] [--rounds 8]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.awsrequest import AWSRequest

sys.path.insert(0, os.path.dirname(__file__))
from _local_bedrock import local_bedrock_process

from langchain_cris.emulator.local import FAKE_CREDENTIALS
from langchain_cris.transport.guard import (
    _strict,
    decided_route,
    guard_client,
)

MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
REGION = "eu-central-1"
MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]


def _noop(request: Any, operation_name: str, region_name: str | None = None, **_: Any) -> None:
    return None


def bench_hook(n: int, hook: Callable[..., None] = _strict) -> float:
    """µs per call of ``hook`` on one prepared request (best of 5 runs)."""
    request = AWSRequest(
        method="POST",
        url=f"https://bedrock-runtime.{REGION}.amazonaws.com/model/"
        "eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
    )
    request.context["signing"] = {"region": REGION}
    best = float("inf")
    with decided_route("Converse", MODEL, REGION, "eu"):
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                hook(request, "Converse", REGION)
            best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def _client(endpoint: str) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _per_call(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def bench_end_to_end(endpoint: str, calls: int, rounds: int) -> tuple[float, float]:
    plain = _client(endpoint)
    guarded = guard_client(_client(endpoint))

    def plain_call() -> Any:
        return plain.converse(modelId=MODEL, messages=MESSAGES)

    def guarded_call() -> Any:
        with decided_route("Converse", MODEL, REGION, "eu"):
            return guarded.converse(modelId=MODEL, messages=MESSAGES)

    for fn in (plain_call, guarded_call):  # warm-up: connections, endpoint rules, caches
        _per_call(fn, max(50, calls // 4))
    plain_times, guarded_times = [], []
    for _ in range(rounds):
        plain_times.append(_per_call(plain_call, calls))
        guarded_times.append(_per_call(guarded_call, calls))
    return statistics.median(plain_times), statistics.median(guarded_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    hook_us = bench_hook(200_000)
    noop_us = bench_hook(200_000, _noop)
    print(
        f"guard check alone: {hook_us:.2f} µs per request (a no-op hook with the same "
        f"signature: {noop_us:.2f} µs; the guard's own work: {hook_us - noop_us:.2f} µs)"
    )
    with local_bedrock_process(0.0) as endpoint:
        plain, guarded = bench_end_to_end(endpoint, args.calls, args.rounds)
    print(
        f"boto3 Converse at 0 ms service latency: plain {plain * 1e6:.0f} µs, guarded "
        f"{guarded * 1e6:.0f} µs per call; difference {(guarded - plain) * 1e6:+.1f} µs "
        f"({guarded / plain:.3f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
