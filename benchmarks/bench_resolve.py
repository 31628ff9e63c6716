"""Microseconds per ``resolve_route`` call, cached and uncached (target: well under 20 µs cached).

Run: ``python benchmarks/bench_resolve.py``
"""

from __future__ import annotations

import timeit

from langchain_cris import ProfileCatalog, ResidencyPolicy, resolve_route
from langchain_cris.routing import _resolve_cached

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def main() -> None:
    catalog = ProfileCatalog.bundled()
    cases = [
        ("eu, base model", MODEL, ResidencyPolicy.preset("eu"), "eu-central-1"),
        ("global, base model", MODEL, ResidencyPolicy.preset("global"), "eu-central-1"),
        (
            "europe, eu. profile from London",
            f"eu.{MODEL}",
            ResidencyPolicy.preset("europe"),
            "eu-west-2",
        ),
    ]
    print(f"{'case':36} {'cached µs':>10} {'uncached µs':>12}")
    for label, model, policy, source in cases:
        resolve_route(model, policy, source, catalog)
        n = 200_000
        args = (model, policy, source, catalog)
        cached = timeit.timeit(lambda args=args: resolve_route(*args), number=n) / n

        def uncached(args: tuple = args) -> None:  # type: ignore[type-arg]
            _resolve_cached.cache_clear()
            resolve_route(*args)

        m = 2_000
        cold = timeit.timeit(uncached, number=m) / m
        print(f"{label:36} {cached * 1e6:10.2f} {cold * 1e6:12.1f}")
    print("target: cached well under 20 µs")


if __name__ == "__main__":
    main()
