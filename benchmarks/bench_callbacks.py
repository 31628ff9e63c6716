"""Per-call overhead of ``CRISCallbackHandler`` against the local Bedrock (ratio, same run).

Contenders, all the same ``ChatBedrockCRIS`` (EU policy, ``eu.`` profile) calling the same
emulator, interleaved call by call so drift hits all of them equally:

* ``bare``           — no handler;
* ``handler+fsync``  — handler with the audit log on, ``fsync`` per record (the default);
* ``handler-nofsync``— handler with the audit log on, ``fsync=False``;
* ``handler-nolog``  — handler with no audit log (trace metadata only).

Reconciliation is off (it runs on its own thread and never touches the call path). The script
prints the median call time of each and its ratio to ``bare``; the issue's target is
``handler+fsync`` <= 1.03. Two emulator latencies are measured: 0 ms (worst case: the call is
only local HTTP, so a disk ``fsync`` is a large share) and ``--latency-ms`` (default 50 ms,
still far below a real Bedrock call).

The emulator runs in a child process so its threads do not share this process's GIL.

Run: ``python benchmarks/bench_callbacks.py [--calls 300] [--latency-ms 50]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _local_bedrock import local_bedrock_process

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
REGION = "eu-central-1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDLOCALBEDROCK",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "LANGSMITH_TRACING": "false",
}


def _contenders(endpoint: str, workdir: Path) -> dict[str, tuple[Callable[[], Any], Any]]:
    from langchain_cris.binding import with_residency
    from langchain_cris.chat_models import ChatBedrockCRIS
    from langchain_cris.tracing import CRISCallbackHandler

    llm = ChatBedrockCRIS(model=MODEL, region_name=REGION, endpoint_url=endpoint)
    chain = with_residency(llm, "eu")
    handlers: dict[str, Any] = {
        "bare": None,
        "handler+fsync": CRISCallbackHandler(audit_path=workdir / "fsync.jsonl"),
        "handler-nofsync": CRISCallbackHandler(audit_path=workdir / "nofsync.jsonl", fsync=False),
        "handler-nolog": CRISCallbackHandler(),
    }
    out: dict[str, tuple[Callable[[], Any], Any]] = {}
    for name, handler in handlers.items():
        config: Any = {"callbacks": [handler]} if handler is not None else {}

        def call(config: Any = config) -> Any:
            return chain.invoke("Say hello.", config=config)

        out[name] = (call, handler)
    return out


def measure(endpoint: str, calls: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each contender, interleaved."""
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
        contenders = _contenders(endpoint, Path(tmp))
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for i in range(warmup + calls):
            # Rotate the order each round so no contender always follows another.
            names = list(contenders)
            names = names[i % len(names) :] + names[: i % len(names)]
            for name in names:
                call, _ = contenders[name]
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                if i >= warmup:
                    times[name].append(elapsed)
        for _, handler in contenders.values():
            if handler is not None:
                handler.close()
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="measured calls per contender")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    os.environ.update(FAKE_ENV)
    for latency in (0.0, args.latency_ms):
        with local_bedrock_process(latency) as endpoint:
            medians = measure(endpoint, args.calls, args.warmup)
        base = medians["bare"]
        print(f"\nlocal Bedrock, {latency:.0f} ms model latency, {args.calls} calls each (median)")
        for name, value in medians.items():
            extra = (value - base) * 1000
            print(
                f"  {name:16s} {value * 1000:8.2f} ms/call   ratio {value / base:5.3f}   "
                f"(+{extra:.2f} ms)"
            )
        verdict = "meets" if medians["handler+fsync"] / base <= 1.03 else "misses"
        print(f"  handler+fsync {verdict} the <= 3% target at {latency:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
