"""The decision side of one ``ChatBedrockCRIS`` call, shared by every transport.

A :class:`CallPlan` holds what was decided before sending (policy, route, ordered in-policy
candidates) and records what happened while sending (``attempts``). The four loops below walk
the plan for the four call shapes (sync or async, one-shot or stream); a transport only supplies a
``send(candidate)`` function, so a native-async transport plugs into :func:`asend_with_failover`
and :func:`astream_with_failover` without touching any decision. :func:`finish_result` and
:class:`StreamAnnotator` stamp ``response_metadata`` the same way whichever transport sent.

Cancellation: the async loops catch ``Exception`` only, so a cancelled task
(``asyncio.CancelledError``, a ``BaseException``) is never recorded as a failed attempt and
never moves the call to another candidate; it unwinds through the stream's ``aclose``.

Invariant: every candidate comes from ``Route.candidates``, which ``resolve_route`` builds only
from routes inside the policy (in audit mode, the single non-compliant route asked for). These
loops never invent a candidate, so failover cannot leave the policy.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NoReturn, TypeVar, cast

from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.pricing import stamp_cost
from langchain_cris.routing import Route, RouteCandidate
from langchain_cris.transport.bedrock_errors import (
    error_code,
    is_failover_code,
    request_id_of,
    translate_error,
)

__all__ = [
    "CallPlan",
    "FailoverSettings",
    "StreamAnnotator",
    "asend_with_failover",
    "astream_with_failover",
    "finish_result",
    "send_with_failover",
    "stamp_request_metadata",
    "stream_with_failover",
]

T = TypeVar("T")
C = TypeVar("C")

# Converse requestMetadata: keys and values match [a-zA-Z0-9\s:_@$#=/+,.-], at most 256 chars.
_RM_INVALID = re.compile(r"[^a-zA-Z0-9\s:_@$#=/+,.\-]")


@dataclass(frozen=True)
class FailoverSettings:
    """How hard one call tries inside the policy.

    Attributes:
        max_attempts: Sends per call in total, the first included.
        backoff_base: Seconds; a fresh candidate waits ``U(0, base)``, a candidate tried
            before waits ``U(0, min(cap, base * 2**round))`` (full jitter).
        backoff_max: Cap of one wait, in seconds.
    """

    max_attempts: int = 4
    backoff_base: float = 0.05
    backoff_max: float = 2.0


class CallPlan:
    """One call: its policy and route, the candidates to try, and every attempt made."""

    __slots__ = ("_rng", "attempts", "catalog", "live", "policy", "route", "run_id", "settings")

    def __init__(
        self,
        route: Route,
        policy: ResidencyPolicy,
        catalog: ProfileCatalog,
        settings: FailoverSettings,
        run_id: str | None = None,
        rng: random.Random | None = None,
        *,
        live: Any = None,
    ) -> None:
        self.route = route
        self.policy = policy
        self.catalog = catalog
        self.settings = settings
        self.run_id = run_id
        #: The live-routes layer (``catalog.live.LiveCatalog``) the route was decided on, if
        #: any: each send re-checks its candidate there (looked up once per call).
        self.live = live
        self.attempts: list[dict[str, Any]] = []
        self._rng = rng or random

    # -- schedule -------------------------------------------------------------------------
    @property
    def candidates(self) -> tuple[RouteCandidate, ...]:
        return self.route.candidates or (self.primary,)

    @property
    def primary(self) -> RouteCandidate:
        r = self.route
        return RouteCandidate(
            r.model_id, r.source_region, r.destination_regions, r.kind, r.profile_id, r.geography
        )

    def schedule(self) -> Iterator[tuple[RouteCandidate, float]]:
        """``(candidate, seconds to wait first)`` for each allowed send, in order."""
        cands = self.candidates
        n = len(cands)
        s = self.settings
        for i in range(max(1, s.max_attempts)):
            if i == 0:
                yield cands[0], 0.0
                continue
            ceiling = min(s.backoff_max, s.backoff_base * (2 ** (i // n)))
            yield cands[i % n], self._rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0

    # -- recording ------------------------------------------------------------------------
    def record(
        self, cand: RouteCandidate, outcome: str, request_id: str | None, started: float
    ) -> None:
        self.attempts.append(
            {
                "model_id": cand.model_id,
                "source_region": cand.source_region,
                "outcome": outcome,
                "request_id": request_id,
                "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
            }
        )

    def set_request_id(self, request_id: str | None) -> None:
        """Fill the request id of the last attempt (streams learn it late)."""
        if request_id and self.attempts and not self.attempts[-1]["request_id"]:
            self.attempts[-1]["request_id"] = request_id

    # -- output ---------------------------------------------------------------------------
    def metadata(self, cand: RouteCandidate, request_id: str | None) -> dict[str, Any]:
        """``response_metadata["cris"]`` for a call that succeeded on ``cand``.

        Everything but the request id, the attempts and the run id is the same for every call
        with this route, policy, catalog and candidate: it is built once (:func:`_route_facts`)
        and copied, lists included, so a caller editing its metadata edits only its own.
        """
        facts = _route_facts(self.route, self.policy, self.catalog, cand)
        out = dict(facts)
        out["destination_regions"] = list(facts["destination_regions"])
        out["allowed_regions"] = list(facts["allowed_regions"])
        out["violations"] = list(facts["violations"])
        out["request_id"] = request_id
        out["attempts"] = [dict(a) for a in self.attempts]
        out["run_id"] = self.run_id
        return out

    def fail(self, exc: BaseException) -> NoReturn:
        """Raise the translated form of ``exc``, carrying the attempts made."""
        err = translate_error(exc)
        err.cris_attempts = [dict(a) for a in self.attempts]  # type: ignore[attr-defined]
        if err is exc:
            raise exc
        raise err from exc


def finish_result(
    plan: CallPlan, result: ChatResult, cand: RouteCandidate, request_id: str | None
) -> ChatResult:
    """Stamp the id actually sent and ``["cris"]`` on a one-shot call's message."""
    meta = result.generations[0].message.response_metadata
    meta["model_name"] = cand.model_id
    meta["cris"] = plan.metadata(cand, request_id)
    stamp_cost(result.generations[0].message)  # priced by the route used (after failover)
    return result


class StreamAnnotator:
    """Stamps a stream's chunks: ``model_name`` = the id sent, ``["cris"]`` once, with usage.

    ``["cris"]`` rides on the first chunk carrying usage (the stream's end); a stream that
    ended without one gets :meth:`closing_chunk` so the caller still learns the route.
    """

    __slots__ = ("_attached", "_last", "_plan")

    def __init__(self, plan: CallPlan) -> None:
        self._plan = plan
        self._last: RouteCandidate | None = None
        self._attached = False

    def annotate(self, chunk: ChatGenerationChunk, cand: RouteCandidate) -> ChatGenerationChunk:
        """Stamp ``chunk`` (in place) as coming from ``cand``; returns it."""
        plan = self._plan
        self._last = cand
        meta = chunk.message.response_metadata
        if "model_name" in meta:
            meta["model_name"] = cand.model_id
        if response_meta := meta.get("ResponseMetadata"):
            plan.set_request_id(response_meta.get("RequestId"))
        if not self._attached and getattr(chunk.message, "usage_metadata", None) is not None:
            meta["cris"] = plan.metadata(cand, plan.attempts[-1]["request_id"])
            stamp_cost(chunk.message, usage_costs=False)  # floats would break chunk merging
            self._attached = True
        return chunk

    def closing_chunk(self) -> ChatGenerationChunk | None:
        """An empty chunk carrying ``["cris"]`` if no chunk carried it yet, else ``None``."""
        last = self._last
        if last is None or self._attached:
            return None
        self._attached = True
        chunk = ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                response_metadata={
                    "model_name": last.model_id,
                    "cris": self._plan.metadata(last, self._plan.attempts[-1]["request_id"]),
                },
            )
        )
        stamp_cost(chunk.message, usage_costs=False)  # no usage: the cost says "unknown" and why
        return chunk


_FACTS_KEPT = 256
_facts: dict[tuple[int, int, int, int, str, str], tuple[Any, ...]] = {}


def _route_facts(
    route: Route, policy: ResidencyPolicy, catalog: ProfileCatalog, cand: RouteCandidate
) -> dict[str, Any]:
    """The per-route part of ``response_metadata["cris"]`` (in key order; read-only values).

    Kept per (route, policy, catalog and its generation, candidate id and Region), by object
    identity: the objects are held with the entry, so an id is never mistaken for another's.
    """
    key = (id(route), id(policy), id(catalog), catalog.generation, cand.model_id,
           cand.source_region)  # fmt: skip
    hit = _facts.get(key)
    if hit is not None and hit[0] is route and hit[1] is policy and hit[2] is catalog:
        return cast(dict[str, Any], hit[3])
    if cand.profile_id == route.profile_id and cand.source_region == route.source_region:
        profile_arn = route.profile_arn
    elif cand.profile_id:
        profile = catalog.get(cand.profile_id)
        profile_arn = profile.arn_for(cand.source_region) if profile else None
    else:
        profile_arn = None
    facts = {
        "policy": policy.name,
        "policy_digest": policy.digest,
        "mode": policy.mode,
        "model_id": cand.model_id,
        "profile_id": cand.profile_id,
        "profile_arn": profile_arn,
        "base_model_id": route.base_model_id,
        "geography": cand.geography,
        "route_kind": cand.kind,
        "source_region": cand.source_region,
        "destination_regions": _sorted(cand.destination_regions),
        "allowed_regions": _sorted(policy.regions),
        "request_id": None,
        "served_region": cand.source_region if cand.kind == "in_region" else None,
        "violations": tuple(route.violations),
        "attempts": None,
        "run_id": None,
    }
    if len(_facts) >= _FACTS_KEPT:
        _facts.clear()
    _facts[key] = (route, policy, catalog, facts)
    return facts


@lru_cache(maxsize=512)
def _sorted(regions: frozenset[str]) -> tuple[str, ...]:
    """A Region set in order (the same few sets recur on every call; sorted once each)."""
    return tuple(sorted(regions))


def stamp_request_metadata(
    user: dict[str, str] | None, policy: ResidencyPolicy, run_id: str | None
) -> dict[str, str]:
    """Converse ``requestMetadata``: the user's keys plus ours (ours win on a collision)."""
    ours = {"cris_policy": _rm_value(policy.name), "cris_policy_digest": policy.digest}
    if run_id:
        ours["lc_run_id"] = run_id
    return {**(user or {}), **ours}


def _rm_value(text: str) -> str:
    return _RM_INVALID.sub("_", text)[:256]


# -- loops --------------------------------------------------------------------------------
def _failed(plan: CallPlan, cand: RouteCandidate, exc: Exception, started: float) -> None:
    """Record a failed send; re-raise (translated) unless the error allows failover."""
    code = error_code(exc)
    plan.record(cand, code or type(exc).__name__, request_id_of(exc), started)
    if not is_failover_code(code):
        plan.fail(exc)


class _FirstTokenGate:
    """Holds a stream's leading chunks without content until its first token (the failover point).

    Until a chunk with content arrives, a broken stream may still move to the next candidate,
    and the caller never sees the abandoned attempt's chunks; after it, a failure is final.
    """

    __slots__ = ("_cand", "_held", "_is_content", "_plan", "_started", "released")

    def __init__(
        self,
        plan: CallPlan,
        cand: RouteCandidate,
        is_content: Callable[[Any], bool],
        started: float,
    ) -> None:
        self._plan = plan
        self._cand = cand
        self._is_content = is_content
        self._started = started
        self._held: list[Any] = []
        self.released = False

    def feed(self, chunk: Any) -> list[Any]:
        """The chunks to pass on now (none while holding)."""
        if self.released:
            return [chunk]
        if not self._is_content(chunk):
            self._held.append(chunk)
            return []
        return [*self._release(), chunk]

    def finish(self) -> list[Any]:
        """The stream ended cleanly: whatever is still held."""
        return [] if self.released else self._release()

    def failed(self, exc: Exception) -> None:
        """The stream broke: after the first token report it and re-raise, else record it."""
        if self.released:  # the caller has tokens: no failover, report where it broke
            self._plan.attempts[-1]["outcome"] = error_code(exc) or type(exc).__name__
            self._plan.fail(exc)
        _failed(self._plan, self._cand, exc, self._started)

    def _release(self) -> list[Any]:
        self.released = True
        self._plan.record(self._cand, "ok", None, self._started)
        held, self._held = self._held, []
        return held


def send_with_failover(
    plan: CallPlan,
    send: Callable[[RouteCandidate], T],
    request_id: Callable[[T], str | None],
) -> tuple[T, RouteCandidate, str | None]:
    """Send through the plan's candidates until one answers or a failure is not retryable."""
    last: Exception | None = None
    for cand, delay in plan.schedule():
        if delay:
            time.sleep(delay)
        started = time.perf_counter()
        try:
            result = send(cand)
        except Exception as exc:
            _failed(plan, cand, exc, started)
            last = exc
            continue
        rid = request_id(result)
        plan.record(cand, "ok", rid, started)
        return result, cand, rid
    assert last is not None  # the schedule yields at least once
    plan.fail(last)


async def asend_with_failover(
    plan: CallPlan,
    send: Callable[[RouteCandidate], Awaitable[T]],
    request_id: Callable[[T], str | None],
) -> tuple[T, RouteCandidate, str | None]:
    """Async twin of :func:`send_with_failover`."""
    last: Exception | None = None
    for cand, delay in plan.schedule():
        if delay:
            await asyncio.sleep(delay)
        started = time.perf_counter()
        try:
            result = await send(cand)
        except Exception as exc:
            _failed(plan, cand, exc, started)
            last = exc
            continue
        rid = request_id(result)
        plan.record(cand, "ok", rid, started)
        return result, cand, rid
    assert last is not None
    plan.fail(last)


def stream_with_failover(
    plan: CallPlan,
    open_stream: Callable[[RouteCandidate], Iterator[C]],
    is_content: Callable[[C], bool],
) -> Iterator[tuple[C, RouteCandidate]]:
    """Stream from the plan's candidates; fail over only before content reached the caller.

    Chunks without content (message start, block stop) are held back until the first chunk
    with content (see :class:`_FirstTokenGate`), so a stream that breaks before its first
    token is retried on the next candidate.
    """
    last: Exception | None = None
    for cand, delay in plan.schedule():
        if delay:
            time.sleep(delay)
        gate = _FirstTokenGate(plan, cand, is_content, time.perf_counter())
        stream = open_stream(cand)
        try:
            for chunk in stream:
                for out in gate.feed(chunk):
                    yield out, cand
        except Exception as exc:
            gate.failed(exc)
            last = exc
            continue
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        for out in gate.finish():
            yield out, cand
        return
    assert last is not None
    plan.fail(last)


async def astream_with_failover(
    plan: CallPlan,
    open_stream: Callable[[RouteCandidate], AsyncIterator[C]],
    is_content: Callable[[C], bool],
) -> AsyncGenerator[tuple[C, RouteCandidate], None]:
    """Async twin of :func:`stream_with_failover`.

    Close it (``contextlib.aclosing``) when stopping early: that closes the open stream.
    """
    last: Exception | None = None
    for cand, delay in plan.schedule():
        if delay:
            await asyncio.sleep(delay)
        gate = _FirstTokenGate(plan, cand, is_content, time.perf_counter())
        stream = open_stream(cand)
        try:
            async for chunk in stream:
                for out in gate.feed(chunk):
                    yield out, cand
        except Exception as exc:
            gate.failed(exc)
            last = exc
            continue
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        for out in gate.finish():
            yield out, cand
        return
    assert last is not None
    plan.fail(last)
