"""Throughput of the local Bedrock with unmodified boto3 (calls/s; the client is the bottleneck).

Usage::

    python benchmarks/bench_emulator.py [--calls 2000] [--threads 1 8]

Each configuration runs ``converse`` and ``converse_stream`` (stream fully consumed) against an
emulator with zero simulated latency, so the figure is protocol overhead: HTTP keep-alive, SigV4
signing, JSON/event-stream parsing in botocore, and the server's request handling.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

from langchain_cris.emulator import LocalBedrock

MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Hello, benchmark!"}]}]


def _converse(client: Any) -> None:
    client.converse(modelId=MODEL, messages=MESSAGES)


def _converse_stream(client: Any) -> None:
    for _ in client.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]:
        pass


def _run(bedrock: LocalBedrock, call: Any, calls: int, threads: int) -> float:
    client = boto3.client(
        "bedrock-runtime",
        region_name="eu-central-1",
        endpoint_url=bedrock.endpoint_url,
        aws_access_key_id="AKIDLOCALBEDROCK",
        aws_secret_access_key="local",
        config=Config(max_pool_connections=max(threads, 10), retries={"total_max_attempts": 1}),
    )
    for _ in range(20):  # warm up connections and botocore caches
        call(client)
    started = time.perf_counter()
    if threads == 1:
        for _ in range(calls):
            call(client)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: call(client), range(calls)))
    elapsed = time.perf_counter() - started
    client.close()
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    print(f"cores={os.cpu_count()} calls={args.calls}")
    with LocalBedrock(seed=0) as bedrock:
        for threads in args.threads:
            for name, call in (("converse", _converse), ("converse_stream", _converse_stream)):
                rate = _run(bedrock, call, args.calls, threads)
                print(f"{name:16s} threads={threads:<3d} {rate:8.0f} calls/s")
                bedrock.reset()


if __name__ == "__main__":
    main()
