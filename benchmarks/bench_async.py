"""Async throughput against the local Bedrock: thread-pool ``ChatBedrockConverse`` vs native async.

Every call waits ``--latency-ms`` (default 200) in the emulator, so the best possible rate is
``concurrency / latency``; the script prints steady-state calls/s for each contender (best and
worst of ``--repeats`` windows of ``--seconds``: on a shared machine the best is the least
disturbed), its share of that limit, its ratio to plain ``ChatBedrockConverse`` (same mode:
ainvoke vs ainvoke, astream vs astream) and the Python heap held per in-flight call
(tracemalloc, separate pass).

Issue 9 target at 64 concurrent: native async (the raw transport and ``ChatBedrockCRIS``,
which routes, checks the policy and stamps metadata on every call) >= 85 % of the limit and
>= 9x plain; the script exits 1 if either misses it.

The emulator runs in a child process by default (``--server process``) so that its threads do
not share this process's GIL, as a real remote Bedrock would not; ``--server thread`` runs it
in-process. Adding a contender is one function plus one entry in :data:`CONTENDERS`.

Run: ``python benchmarks/bench_async.py [--concurrency 64 256] [--server thread]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from _local_bedrock import local_bedrock_process

MODEL = "eu.amazon.nova-lite-v1:0"
REGION = "eu-central-1"
PROMPT = "Say hello."
MESSAGES = [{"role": "user", "content": [{"text": PROMPT}]}]
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDLOCALBEDROCK",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}

Call = Callable[[], Awaitable[None]]
Setup = Callable[[str], AbstractAsyncContextManager[Call]]


# -- contenders: each yields a zero-argument coroutine function making one call ------------------


def _plain(endpoint: str) -> Any:
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        model_id=MODEL, region_name=REGION, endpoint_url=endpoint, provider="amazon"
    )


@asynccontextmanager
async def plain_ainvoke(endpoint: str) -> AsyncIterator[Call]:
    llm = _plain(endpoint)

    async def call() -> None:
        await llm.ainvoke(PROMPT)

    yield call


@asynccontextmanager
async def plain_astream(endpoint: str) -> AsyncIterator[Call]:
    llm = _plain(endpoint)

    async def call() -> None:
        async for _ in llm.astream(PROMPT):
            pass

    yield call


@asynccontextmanager
async def transport_converse(endpoint: str) -> AsyncIterator[Call]:
    from langchain_cris.transport.async_pool import AsyncBedrockRuntimePool

    async with AsyncBedrockRuntimePool(endpoint_url=endpoint) as pool:

        async def call() -> None:
            await pool.converse(REGION, modelId=MODEL, messages=MESSAGES)

        yield call


@asynccontextmanager
async def transport_converse_stream(endpoint: str) -> AsyncIterator[Call]:
    from langchain_cris.transport.async_pool import AsyncBedrockRuntimePool

    async with AsyncBedrockRuntimePool(endpoint_url=endpoint) as pool:

        async def call() -> None:
            async with pool.converse_stream(REGION, modelId=MODEL, messages=MESSAGES) as stream:
                async for _ in stream:
                    pass

        yield call


def _cris(endpoint: str) -> Any:
    """A ``ChatBedrockCRIS`` on the native async path (refuses to measure the thread pool)."""
    from langchain_cris import ResidencyPolicy
    from langchain_cris.chat_models import ChatBedrockCRIS

    llm = ChatBedrockCRIS(
        model_id=MODEL,
        region_name=REGION,
        endpoint_url=endpoint,
        provider="amazon",
        residency_policy=ResidencyPolicy.preset("eu"),
    )
    if llm._async_runtime() is None:
        raise RuntimeError('native async is unavailable: pip install "langchain-cris[async]"')
    return llm


@asynccontextmanager
async def cris_ainvoke(endpoint: str) -> AsyncIterator[Call]:
    llm = _cris(endpoint)

    async def call() -> None:
        await llm.ainvoke(PROMPT)

    yield call


@asynccontextmanager
async def cris_astream(endpoint: str) -> AsyncIterator[Call]:
    llm = _cris(endpoint)

    async def call() -> None:
        async for _ in llm.astream(PROMPT):
            pass

    yield call


@dataclass(frozen=True)
class Contender:
    name: str
    mode: str  # "ainvoke" or "astream": which plain contender it is compared with
    setup: Setup
    baseline: bool = False


CONTENDERS = [
    Contender("ChatBedrockConverse.ainvoke", "ainvoke", plain_ainvoke, baseline=True),
    Contender("ChatBedrockConverse.astream", "astream", plain_astream, baseline=True),
    Contender("transport.converse", "ainvoke", transport_converse),
    Contender("transport.converse_stream", "astream", transport_converse_stream),
    Contender("ChatBedrockCRIS.ainvoke", "ainvoke", cris_ainvoke),
    Contender("ChatBedrockCRIS.astream", "astream", cris_astream),
]


# -- measurement -----------------------------------------------------------------------------


async def _throughput(call: Call, concurrency: int, seconds: float) -> float:
    """Steady-state calls/s of ``concurrency`` workers calling back to back.

    By Little's law a closed loop of N always-busy workers completes N / (mean call time)
    calls per second. That is exact, unlike counting completions, which arrive in waves of N
    when every call takes the same 200 ms and so are quantised by where the window edges fall.

    The mean covers every call *started* in the window, timed to its end (dropping calls that
    end after the window would favour short ones). Workers never pause, so the window sees
    the steady state; it opens once every worker has finished one call (connections open, the
    thread pool's queue in rotation) and lasts ``seconds``, or twice that ramp-up if longer:
    a thread-pool call at 256 in flight takes ~10 s.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    warmed = 0
    window: list[float] = []  # [start, end] once every worker has finished one call
    durations: list[float] = []

    async def worker() -> None:
        nonlocal warmed
        first = True
        while not window or loop.time() < window[1]:
            t0 = loop.time()
            await call()
            if window and t0 >= window[0]:
                durations.append(loop.time() - t0)
            if first:
                first, warmed = False, warmed + 1
                if warmed == concurrency:
                    now = loop.time()
                    window.extend([now, now + max(seconds, 2 * (now - started))])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return concurrency / (sum(durations) / len(durations))


async def _heap_per_call(call: Call, concurrency: int, latency: float) -> float:
    """Bytes of Python heap held per in-flight call: snapshot mid-flight minus before.

    Allocations made by an in-process emulator (its own files, http.server, socketserver)
    are filtered out so only the client side is counted.
    """
    gc.collect()  # pools and caches are warm from the throughput pass
    tracemalloc.start(25)
    try:
        before = tracemalloc.take_snapshot()
        tasks = [asyncio.ensure_future(call()) for _ in range(concurrency)]
        await asyncio.sleep(latency * 0.6)  # every call sent, none answered yet
        during = tracemalloc.take_snapshot()
        await asyncio.gather(*tasks)
    finally:
        tracemalloc.stop()
    server_side = [
        tracemalloc.Filter(False, pattern, all_frames=True)
        for pattern in ("*langchain_cris/emulator/*", "*http/server.py", "*socketserver.py")
    ]
    diff = during.filter_traces(server_side).compare_to(
        before.filter_traces(server_side), "filename"
    )
    return max(sum(s.size_diff for s in diff), 0) / concurrency


@dataclass(frozen=True)
class Result:
    best: float  # calls/s, best of the repeats (the capability, least disturbed by other load)
    worst: float
    heap: float  # bytes per in-flight call


def _run(
    contender: Contender,
    endpoint: str,
    concurrency: int,
    seconds: float,
    repeats: int,
    latency: float,
) -> Result:
    # Thread-bound contenders spend tens of seconds per window on ramp-up and drain (and are
    # steady anyway): stop repeating once a contender has used its time budget.
    budget = 2 * seconds * repeats

    async def go() -> Result:
        async with contender.setup(endpoint) as call:
            start = time.perf_counter()
            rates: list[float] = []
            while len(rates) < repeats and (not rates or time.perf_counter() - start < budget):
                rates.append(await _throughput(call, concurrency, seconds))
            heap = await _heap_per_call(call, concurrency, latency)
            return Result(max(rates), min(rates), heap)

    return asyncio.run(go())  # a fresh loop (and default thread pool) per contender


# -- the emulator --------------------------------------------------------------------------------


@contextmanager
def local_bedrock(server: str, latency_ms: float) -> Iterator[str]:
    """The endpoint of a local Bedrock with ``latency_ms`` per call, in a thread or child."""
    if server == "thread":
        from langchain_cris.emulator import LocalBedrock

        with LocalBedrock(seed=0, default_region={"latency_ms": latency_ms}) as lb:
            yield lb.endpoint_url
        return
    with local_bedrock_process(latency_ms) as endpoint:
        yield endpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring window per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="windows per native contender")
    parser.add_argument("--server", choices=["process", "thread"], default="process")
    parser.add_argument("--only", nargs="+", default=[], help="contender name substrings")
    args = parser.parse_args(argv)
    contenders = [
        c for c in CONTENDERS if c.baseline or not args.only or any(o in c.name for o in args.only)
    ]
    os.environ.update(FAKE_ENV)
    latency = args.latency_ms / 1000
    missed = False
    with local_bedrock(args.server, args.latency_ms) as endpoint:
        print(f"local Bedrock at {endpoint} ({args.server}), {args.latency_ms:.0f} ms per call")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{os.cpu_count()} CPUs, load average {load:.2f} (other work skews the figures)")
        for conc in args.concurrency:
            limit = conc / latency
            print(f"\nconcurrency {conc}: limit {limit:.0f} calls/s")
            head = f"  {'contender':30} {'calls/s':>8} {'(worst)':>8} {'% limit':>8} {'x plain':>8}"
            print(f"{head} {'KiB/call':>9}")
            plain: dict[str, float] = {}
            for c in contenders:
                try:
                    r = _run(c, endpoint, conc, args.seconds, args.repeats, latency)
                except Exception as exc:  # a contender still being built must not stop the rest
                    print(f"  {c.name:30} error: {type(exc).__name__}: {exc}"[:200])
                    continue
                if c.baseline:
                    plain[c.mode] = r.best
                ratio = r.best / plain[c.mode] if plain.get(c.mode) else float("nan")
                print(
                    f"  {c.name:30} {r.best:8.1f} {r.worst:8.1f} {r.best / limit:8.1%} "
                    f"{ratio:8.1f} {r.heap / 1024:9.1f}"
                )
                if (
                    conc == 64
                    and not c.baseline
                    and c.name.startswith(("transport", "ChatBedrockCRIS"))
                ):
                    ok = r.best >= 0.85 * limit and ratio >= 9
                    missed |= not ok
                    verdict = "met" if ok else "MISSED"
                    print(f"  {'':30} target at 64 (>=85% of limit, >=9x plain): {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
