"""Where findings come from: CloudTrail ``LookupEvents`` and CloudWatch Logs invocation logs.

A :class:`Source` looks up a batch of pending calls of one source Region; :func:`find_in_sources`
runs one round over several sources. Both reconciliation modes (live and batch) use these.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from langchain_cris.audit.evidence import EvidenceIndex, Finding, PendingCall, stronger, utc_now
from langchain_cris.audit.ratelimit import SharedRateLimiter, lookup_events_limiter

__all__ = [
    "WINDOW_MARGIN",
    "AwsClients",
    "CloudTrailLookup",
    "InvocationLogLookup",
    "Source",
    "find_in_sources",
]

# The reconciler's logger name, as before the split: users filter these warnings by it.
logger = logging.getLogger("langchain_cris.audit.reconciler")

WINDOW_MARGIN = timedelta(minutes=5)
"""Slack around the call time when searching (client and AWS clocks differ)."""


class Source(Protocol):
    """Somewhere findings can be looked up for a batch of pending calls of one source Region."""

    name: str

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex: ...


class AwsClients:
    """Creates and caches boto3 clients the way boto3 normally would.

    Credentials, profiles and ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_CLOUDTRAIL`` are honoured
    by boto3 itself; ``endpoint_url`` overrides them all; a factory overrides everything.

    Args:
        boto3_session: Session to build clients from (default: a new ``boto3.Session()``).
        endpoint_url: Endpoint for every client (e.g. a local Bedrock).
        cloudtrail_client_factory: ``factory(region) -> client`` for CloudTrail.
        logs_client_factory: ``factory(region) -> client`` for CloudWatch Logs.
    """

    def __init__(
        self,
        *,
        boto3_session: Any = None,
        endpoint_url: str | None = None,
        cloudtrail_client_factory: Callable[[str], Any] | None = None,
        logs_client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self._session = boto3_session
        self._endpoint_url = endpoint_url
        self._factories: dict[str, Callable[[str], Any] | None] = {
            "cloudtrail": cloudtrail_client_factory,
            "logs": logs_client_factory,
        }
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._cache:
                factory = self._factories.get(service)
                self._cache[key] = factory(region) if factory else self._build(service, region)
            return self._cache[key]

    def _build(self, service: str, region: str) -> Any:
        from botocore.config import Config

        if self._session is None:
            import boto3

            self._session = boto3.Session()
        kwargs: dict[str, Any] = {
            "region_name": region,
            "config": Config(retries={"mode": "standard", "max_attempts": 3}),
        }
        if self._endpoint_url:
            kwargs["endpoint_url"] = self._endpoint_url
        return self._session.client(service, **kwargs)


def _window(calls: Sequence[PendingCall]) -> tuple[datetime, datetime]:
    times = [c.call_time for c in calls]
    return min(times) - WINDOW_MARGIN, max(times) + WINDOW_MARGIN


class CloudTrailLookup:
    """CloudTrail ``LookupEvents`` in each call's source Region (paginated, by request id).

    Args:
        clients: Where the ``cloudtrail`` clients come from.
        clock: What "now" is (default: the wall clock), for LookupEvents' 90-day horizon: a call
            older than that is not looked up (it can no longer be found live); if every call
            asked for is, :class:`~langchain_cris.audit.cloudtrail.LookupHorizonError` says so,
            so the call stays pending with a reason rather than silently "not found".
        limiter: Throttle for LookupEvents' 2 requests/s per account and Region, shared by
            every process: ``"shared"`` (default) draws from the machine-wide bucket of
            :func:`~langchain_cris.audit.ratelimit.lookup_events_limiter` for the client's
            endpoint and Region; a callable ``limiter(region, endpoint_url)`` returns one of
            your own; ``None`` sends unthrottled (tests with a fake client).
    """

    name = "cloudtrail"

    def __init__(
        self,
        clients: AwsClients,
        *,
        clock: Callable[[], datetime] | None = None,
        limiter: Literal["shared"]
        | Callable[[str, str | None], SharedRateLimiter]
        | None = "shared",
    ) -> None:
        self._clients = clients
        self._clock = clock or utc_now
        self._limiter = limiter
        self._limiters: dict[str, SharedRateLimiter] = {}

    def _throttle(self, region: str, client: Any) -> Callable[[], None] | None:
        if self._limiter is None:
            return None
        limiter = self._limiters.get(region)
        if limiter is None:
            endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
            if self._limiter == "shared":
                limiter = lookup_events_limiter(region, endpoint_url=endpoint)
            else:
                limiter = self._limiter(region, endpoint)
            self._limiters[region] = limiter
        return limiter.acquire

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
        from langchain_cris.audit.cloudtrail import (
            LOOKUP_EVENTS_HORIZON,
            LookupHorizonError,
            lookup_cloudtrail_calls,
        )

        index = EvidenceIndex()
        horizon = self._clock() - LOOKUP_EVENTS_HORIZON
        visible = [c for c in calls if c.call_time + WINDOW_MARGIN >= horizon]
        if len(visible) < len(calls):
            too_old = [c.request_id or f"run:{c.run_id}" for c in calls if c not in visible]
            message = (
                f"{len(too_old)} call(s) in {region} ({', '.join(too_old[:3])}"
                f"{', …' if len(too_old) > 3 else ''}) are older than CloudTrail LookupEvents' "
                f"90-day horizon ({horizon.isoformat()}): reconcile them from the trail's S3 "
                "files (langchain-cris reconcile --cloudtrail FILE…)"
            )
            if not visible:
                raise LookupHorizonError(message)
            logger.warning(message)
        calls = visible
        wanted = {c.request_id for c in calls if c.request_id}
        if not wanted:
            return index
        start, end = _window(calls)
        client = self._clients.client("cloudtrail", region)
        index.add_cloudtrail(
            lookup_cloudtrail_calls(
                client,
                start_time=start,
                end_time=end,
                request_ids=wanted,
                throttle=self._throttle(region, client),
            )
        )
        return index


class InvocationLogLookup:
    """Model Invocation Logs in CloudWatch Logs (``FilterLogEvents``) of the source Region."""

    name = "invocation_log"

    def __init__(self, clients: AwsClients, log_group: str) -> None:
        self._clients = clients
        self.log_group = log_group

    def lookup(self, region: str, calls: Sequence[PendingCall]) -> EvidenceIndex:
        from langchain_cris.audit.invocation_logs import filter_invocation_logs

        index = EvidenceIndex()
        start, end = _window(calls)
        client = self._clients.client("logs", region)
        index.add_invocation_logs(
            filter_invocation_logs(client, log_group=self.log_group, start_time=start, end_time=end)
        )
        return index


def find_in_sources(
    sources: Sequence[Source], calls: Sequence[PendingCall], errors: list[str] | None = None
) -> dict[PendingCall, Finding]:
    """One round: look every call up, per source Region, source by source until all found.

    A call with only an *assumed* finding is looked up in the next sources too (a log record
    may name the Region a stream's missing completion event would have); the strongest finding
    is returned. A failing source (throttled, access denied) is logged and skipped for this
    round.
    """
    found: dict[PendingCall, Finding] = {}
    by_region: dict[str, list[PendingCall]] = defaultdict(list)
    for call in calls:
        by_region[call.source_region].append(call)
    for region, group in by_region.items():
        remaining = list(group)
        for source in sources:
            if not remaining:
                break
            try:
                index = source.lookup(region, remaining)
            except Exception as exc:  # retried next round
                message = f"{source.name} lookup in {region} failed: {type(exc).__name__}: {exc}"
                logger.warning(message)
                if errors is not None:
                    errors.append(message)
                continue
            still = []
            for call in remaining:
                finding = stronger(found.get(call), index.match(call))
                if finding is not None:
                    found[call] = finding
                if finding is None or finding.assumed:
                    still.append(call)
            remaining = still
    return found
