"""Overhead of ``ChatBedrockCRIS`` vs plain ``ChatBedrockConverse``, and failover throughput.

Both models talk to the same embedded local Bedrock in the same run, so the ratio isolates
what residency routing adds per call (policy lookup, cached route, model copy, metadata).

1. Latency: warm-up, then interleaved rounds (plain, CRIS, plain, ...), median per model;
   printed as a ratio (target <= 1.03x). ``--latency-ms`` adds simulated service latency;
   the default 0 ms is the harshest setting (only local overhead is measured).
2. Throughput under 30 % throttling in one Region (eu-central-1), EU policy, failover on:
   a) an ``eu.`` profile (the service's own CRIS routes around the throttled Region; any
      ThrottlingException that reaches the client fails over to another EU source Region);
   b) an in-Region model, where every throttle reaches the client and only in-policy
      failover to another allowed source Region can save the call.
   Targets: >= 99.9 % of calls succeed, 0 requests outside the policy (checked in the
   emulator's wire log).

Usage: ``python benchmarks/bench_overhead.py [--calls 400] [--rounds 10] [--latency-ms 0]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_aws import ChatBedrockConverse

from langchain_cris.binding import with_residency
from langchain_cris.catalog import default_catalog
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock, WireRecord
from langchain_cris.emulator.local import FAKE_CREDENTIALS
from langchain_cris.policy import ResidencyPolicy

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
IN_REGION_MODEL = "amazon.titan-text-express-v1"
EU = ResidencyPolicy.preset("eu")
SOURCE = "eu-central-1"


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _time_calls(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def bench_latency(bedrock: LocalBedrock, calls: int, rounds: int) -> float:
    plain = ChatBedrockConverse(
        model="eu." + SONNET, region_name=SOURCE, endpoint_url=bedrock.endpoint_url, **_creds()
    )
    cris = ChatBedrockCRIS(
        model=SONNET,
        region_name=SOURCE,
        endpoint_url=bedrock.endpoint_url,
        residency_policy=EU,
        **_creds(),
    )
    bound = with_residency(cris, EU)
    contenders: dict[str, Callable[[], Any]] = {
        "ChatBedrockConverse (eu. id)": lambda: plain.invoke("hi"),
        "ChatBedrockCRIS (model default)": lambda: cris.invoke("hi"),
        "ChatBedrockCRIS via with_residency": lambda: bound.invoke("hi"),
    }
    for fn in contenders.values():  # warm-up: clients, connections, caches
        _time_calls(fn, max(50, calls // 4))
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    per_round = max(1, calls // rounds)
    for r in range(rounds):
        # Interleave call by call (order flipped every round) so drift hits all alike.
        order = names if r % 2 == 0 else names[::-1]
        for _ in range(per_round):
            for name in order:
                samples[name] += _time_calls(contenders[name], 1)
    base = statistics.median(samples[names[0]])
    print(f"Per-call latency, median of {per_round * rounds} calls each ({rounds} rounds):")
    ratio = 0.0
    for name in names:
        med = statistics.median(samples[name])
        r_ = med / base
        ratio = max(ratio, r_)
        print(f"  {name:38s} {med * 1e3:8.3f} ms   ratio {r_:.3f}x")
    return ratio


def _outside(record: WireRecord, policy: ResidencyPolicy) -> bool:
    if record.source_region not in policy.allowed_sources:
        return True
    profile = default_catalog().get(record.model_id or "")
    reach = profile.destinations(record.source_region) if profile else frozenset()
    if not reach <= policy.regions:
        return True
    return record.served_region is not None and record.served_region not in policy.regions


def bench_throttling(bedrock: LocalBedrock, model: str, calls: int, label: str) -> bool:
    bedrock.reset()
    bedrock.clear_faults()
    bedrock.throttle(SOURCE, probability=0.3)
    llm = ChatBedrockCRIS(
        model=model,
        region_name=SOURCE,
        endpoint_url=bedrock.endpoint_url,
        residency_policy=EU,
        failover_backoff=0.005,
        **_creds(),
    )
    ok = 0
    failed_over = 0

    def one(_: int) -> tuple[bool, int]:
        try:
            msg = llm.invoke("hi")
        except Exception:
            return False, 0
        return True, len(msg.response_metadata["cris"]["attempts"]) - 1

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        for success, extra in pool.map(one, range(calls)):
            ok += success
            failed_over += extra > 0
    elapsed = time.perf_counter() - start
    records = bedrock.wire_log.runtime()
    throttled = sum(r.outcome == "ThrottlingException" for r in records)
    outside = sum(_outside(r, EU) for r in records)
    rate = ok / calls
    print(
        f"  {label:44s} {rate * 100:7.2f}% ok  {calls / elapsed:7.1f} calls/s  "
        f"{failed_over} failed over  {throttled} throttles seen by the client  "
        f"{len(records)} requests, {outside} outside the policy"
    )
    bedrock.clear_faults()
    return rate >= 0.999 and outside == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="timed calls per contender")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--throttle-calls", type=int, default=2000)
    args = parser.parse_args(argv)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(key, None)
    with LocalBedrock(seed=0, default_region={"latency_ms": args.latency_ms}) as bedrock:
        print(f"Simulated service latency: {args.latency_ms:g} ms (real Bedrock: hundreds of ms)")
        ratio = bench_latency(bedrock, args.calls, args.rounds)
        print(f"Overhead ratio (worst CRIS variant / plain): {ratio:.3f}x (target <= 1.03x)\n")
        print("Throughput with 30% throttling in eu-central-1, EU policy, failover on:")
        good_a = bench_throttling(bedrock, SONNET, args.throttle_calls, "eu. profile")
        good_b = bench_throttling(bedrock, IN_REGION_MODEL, args.throttle_calls, "in-Region model")
    print("targets met:", ratio <= 1.03 and good_a and good_b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
