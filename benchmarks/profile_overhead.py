"""Where the per-call µs of ``ChatBedrockCRIS`` go, piece by piece (see bench_overhead.py).

1. Pieces: each step our layer adds to a call, timed alone in a loop on a warm model (CPU
   µs per call, best of 5): capturing the config's policy, deciding the route for tracing
   (policy lookup + cached route resolution + live-catalog freshness check), the call plan,
   the delegated model copy with ``requestMetadata`` stamping, the wire guard's decided-route
   scope, ``response_metadata["cris"]`` and the cost; then what ``with_residency`` adds
   around the model: its scope (policy, model guard, ceiling) and its config
   merge.
2. A cProfile of ``--calls`` calls of plain ``ChatBedrockConverse`` and of ``ChatBedrockCRIS``
   (model-level policy, then ``with_residency``) against a local Bedrock in a child process,
   listing the functions of this package and langchain-core's config/callback plumbing.

Usage: ``python benchmarks/profile_overhead.py [--calls 200] [--no-profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks.manager import CallbackManager
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

sys.path.insert(0, os.path.dirname(__file__))
from _local_bedrock import local_bedrock_process
from bench_overhead import EU, NAMES, _contenders

from langchain_cris.binding import _leave
from langchain_cris.chat_models import _capture
from langchain_cris.transport.failover import finish_result
from langchain_cris.transport.guard import decided_route


def _us(fn: Callable[[], Any], n: int = 2000) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n)
    return best * 1e6


def pieces(cris: Any) -> list[tuple[str, float]]:
    """CPU µs per call of each piece our layer adds (a warm model; no network)."""
    cris.invoke("hi")  # warm: clients, live catalog, caches

    def capture() -> Any:
        kwargs: dict[str, Any] = {}
        _capture(None, kwargs, pin_run_id=False)
        return kwargs

    def ls_params() -> Any:
        return cris._get_ls_params(None, **capture())

    # A real call plans with its run's manager (the trace check reads its handlers).
    run_manager = CallbackManager.configure().on_chat_model_start({}, [[]])[0]

    def plan() -> Any:
        kwargs = capture()
        cris._get_ls_params(None, **kwargs)
        return cris._plan(kwargs, run_manager)

    the_plan, user_rm = plan()
    cand = the_plan.candidates[0]

    def delegate() -> Any:
        return cris._delegate(the_plan, cand, user_rm)

    def scope() -> None:
        with decided_route("Converse", cand.model_id, cand.source_region, EU.name):
            pass

    def finish() -> Any:
        msg = AIMessage(
            "hi",
            response_metadata={"ResponseMetadata": {"RequestId": "r"}},
            usage_metadata={"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
        )
        return finish_result(
            the_plan, ChatResult(generations=[ChatGeneration(message=msg)]), cand, "r"
        )

    def message_only() -> Any:
        msg = AIMessage(
            "hi",
            response_metadata={"ResponseMetadata": {"RequestId": "r"}},
            usage_metadata={"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    base_capture = _us(capture)
    base_ls = _us(ls_params)
    base_plan = _us(plan)
    base_msg = _us(message_only)
    return [
        ("capture the config's policy (ensure_config + policy sources)", base_capture),
        (
            "decide the route for tracing (_get_ls_params: policy, route, live check)",
            base_ls - base_capture - _us(lambda: super(type(cris), cris)._get_ls_params(None)),
        ),
        ("the call plan (reuses that route; failover settings)", base_plan - base_ls),
        ("delegated model copy + requestMetadata stamping + live candidate check", _us(delegate)),
        ("wire guard's decided-route scope (enter/exit)", _us(scope)),
        ('response_metadata["cris"] + cost', _us(finish) - base_msg),
    ]


def binding_pieces(bound: Any) -> list[tuple[str, float]]:
    """CPU µs per call of what ``with_residency`` adds around the model (a top-level call)."""
    bound.invoke("hi")

    def scope() -> None:
        _leave(bound._scope(None))

    def merge() -> Any:
        return bound._merge_configs(None)

    return [
        ("with_residency: scope (policy, model guard, ceiling) enter/exit", _us(scope)),
        ("with_residency: config merge + residency metadata", _us(merge)),
    ]


def profile(models: list[Any], calls: int) -> None:
    pattern = "langchain_cris|runnables/config.py|callbacks/manager.py|binding"
    for name, model in zip(NAMES, models, strict=True):
        for _ in range(30):
            model.invoke("hi")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls):
            model.invoke("hi")
        prof.disable()
        print(f"\n=== {name}: {calls} calls ===")
        stats = pstats.Stats(prof)
        print(f"total {stats.total_tt / calls * 1e6:.0f} µs per call under the profiler")  # type: ignore[attr-defined]
        stats.sort_stats("cumulative").print_stats(pattern, 25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "LANGCHAIN_CRIS_POLICY"):
        os.environ.pop(key, None)
    print(f"load average: {os.getloadavg()}")
    with local_bedrock_process(0.0) as endpoint:
        models = _contenders(endpoint)
        print("CPU µs per call of each piece ChatBedrockCRIS adds (best of 5):")
        total = 0.0
        for label, us in pieces(models[2]):
            total += us
            print(f"  {us:7.1f}  {label}")
        print(f"  {total:7.1f}  total")
        for label, us in binding_pieces(models[3]):
            print(f"  {us:7.1f}  {label}")
        if not args.no_profile:
            profile(models, args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
