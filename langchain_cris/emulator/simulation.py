"""Simulated Regions: capacity windows, CRIS routing, latency draws and fault draws.

Routing follows the 2024 AWS blog: a Region that cannot take the request is skipped and the next
destination is tried; only when no destination can take it does the caller get the standard
throttling error. Which destination is tried first is capacity-weighted (``weighted``) or the
source Region (``source-first``). All random draws come from one seeded RNG, so a run with the
same seed and the same request order routes identically.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_cris.emulator.config import EmulatorConfig, FaultRule

__all__ = ["RouteResult", "Simulation"]

_WINDOW_SECONDS = 60.0


@dataclass
class RouteResult:
    """Where a request landed: ``served`` is ``None`` when every destination was full."""

    served: str | None
    attempted: list[str] = field(default_factory=list)


class _Window:
    """Requests and tokens admitted in the last minute (sliding)."""

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.tokens = 0

    def purge(self, now: float) -> None:
        while self.entries and now - self.entries[0][0] >= _WINDOW_SECONDS:
            self.tokens -= self.entries.popleft()[1]

    def admits(self, rpm: int | None, tpm: int | None, tokens: int) -> bool:
        if rpm is not None and len(self.entries) + 1 > rpm:
            return False
        return tpm is None or self.tokens + tokens <= tpm

    def add(self, now: float, tokens: int) -> None:
        self.entries.append((now, tokens))
        self.tokens += tokens


class Simulation:
    """Mutable simulation state, shared by all handler threads (every method is thread-safe).

    Args:
        config: Live config; Region and fault changes take effect on the next request.
        seed: Seed of the RNG used for routing, jitter and fault probabilities.
    """

    def __init__(self, config: EmulatorConfig, seed: int | None) -> None:
        self.config = config
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def reset(self, seed: int | None) -> None:
        with self._lock:
            self._rng = random.Random(seed)
            self._windows.clear()

    # -- routing ---------------------------------------------------------------------------
    def _weighted_order(self, regions: Sequence[str]) -> list[str]:
        pool = sorted(regions)
        order: list[str] = []
        while pool:
            weights = [self.config.region(r).routing_weight() for r in pool]
            if sum(weights) <= 0:
                order.extend(pool)
                break
            pick = self._rng.choices(range(len(pool)), weights=weights)[0]
            order.append(pool.pop(pick))
        return order

    def order(self, destinations: Sequence[str], source: str) -> list[str]:
        """The order in which destinations are tried (call with the lock held)."""
        if self.config.routing == "source-first" and source in destinations:
            return [source, *self._weighted_order([d for d in destinations if d != source])]
        return self._weighted_order(destinations)

    def route(
        self,
        destinations: Sequence[str],
        source: str,
        *,
        operation: str,
        model_id: str,
        tokens: int,
    ) -> RouteResult:
        """Admit the request in the first destination with room, or report all full."""
        result = RouteResult(served=None)
        now = time.monotonic()
        with self._lock:
            for region in self.order(destinations, source):
                result.attempted.append(region)
                settings = self.config.region(region)
                if settings.outage or self._hit("throttle", region, operation, model_id):
                    continue
                window = self._windows.setdefault(region, _Window())
                window.purge(now)
                if window.admits(settings.requests_per_minute, settings.tokens_per_minute, tokens):
                    window.add(now, tokens)
                    result.served = region
                    return result
        return result

    # -- faults ----------------------------------------------------------------------------
    def _hit(self, kind: str, region: str | None, operation: str, model_id: str) -> bool:
        for rule in self.config.faults:
            if rule.kind == kind and self._fires(rule, region, operation, model_id):
                return True
        return False

    def _fires(self, rule: FaultRule, region: str | None, operation: str, model_id: str) -> bool:
        if not rule.matches(region=region, operation=operation, model_id=model_id):
            return False
        if rule.probability < 1.0 and self._rng.random() >= rule.probability:
            return False
        if rule.times is not None:
            rule.times -= 1
        return True

    def draw_fault(self, region: str, operation: str, model_id: str) -> FaultRule | None:
        """The first non-throttle fault that fires for a request served in ``region``."""
        with self._lock:
            for rule in self.config.faults:
                if rule.kind != "throttle" and self._fires(rule, region, operation, model_id):
                    return rule
        return None

    # -- latency ---------------------------------------------------------------------------
    def latency(self, region: str, output_tokens: int) -> tuple[float, float]:
        """Seconds before the first byte, and generation seconds per output token."""
        settings = self.config.region(region)
        with self._lock:
            jitter = self._rng.uniform(0.0, settings.jitter_ms) if settings.jitter_ms else 0.0
        first = (settings.latency_ms + jitter) / 1000.0
        return first, settings.ms_per_output_token / 1000.0

    # -- SCP -------------------------------------------------------------------------------
    def denied(self, evaluation_region: str) -> bool:
        """Whether the simulated SCP denies invoking models in ``evaluation_region``."""
        allow = self.config.allow_regions
        return evaluation_region in self.config.deny_regions or (
            allow is not None and evaluation_region not in allow
        )
