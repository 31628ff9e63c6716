"""The streaming :class:`Auditor`: evidence in, call by call; an :class:`AuditReport` out.

It keeps counters, a bounded list of violations and sample problems. Each call counts once:
CloudTrail records are folded (stream-completion events joined to their call, data-event copies
dropped) and merged with invocation logs by :mod:`._callfacts`, which costs one request id per
CloudTrail call; the cross-check with the package's own audit log keeps that log's request ids.
Each counted call carries the evidence and strength of its served Region
(:mod:`langchain_cris.audit.strength`); the report counts both. The rules are in
:mod:`.report`'s docstring; the data it fills in is :mod:`.summary`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langchain_cris.audit._callfacts import CallFacts, Counted, TokenTopUp
from langchain_cris.audit._jsonstream import AuditInputError, parse_time
from langchain_cris.audit.cloudtrail import CloudTrailCall, StreamCompletion
from langchain_cris.audit.invocation_logs import InvocationLogEntry
from langchain_cris.audit.records import SCHEMA_VERSION
from langchain_cris.audit.result import AuditReport
from langchain_cris.audit.routes import classify_model
from langchain_cris.audit.summary import (
    CallGroup,
    Discrepancy,
    DiscrepancyKind,
    RouteClass,
    Violation,
    ViolationKind,
)
from langchain_cris.catalog import ProfileCatalog, default_catalog
from langchain_cris.policy import ResidencyPolicy

__all__ = ["CLOCK_SLACK", "DEFAULT_MAX_SAMPLES", "DEFAULT_MAX_VIOLATIONS", "Auditor"]

DEFAULT_MAX_VIOLATIONS = 1000
"""Violations kept in detail; the rest are only counted (the report says how many)."""
DEFAULT_MAX_SAMPLES = 20
"""Problems and discrepancies kept as examples per category."""
CLOCK_SLACK = timedelta(minutes=15)
"""How far outside the AWS evidence window an audit-log call may be and still count as covered
(CloudTrail delivers events within about 5 minutes, S3 files within about 15)."""


# -- the streaming auditor ----------------------------------------------------------------
@dataclass(slots=True)
class _LoggedCall:
    run_id: str | None
    served_region: str | None
    ts: datetime | None
    matched: bool = False


class Auditor:
    """Accumulates evidence call by call; :meth:`report` produces the :class:`AuditReport`.

    Feed the audit log first (:meth:`add_audit_log_record`), then CloudTrail, then invocation
    logs; :func:`audit_files` does this in the right order.

    Args:
        policy: The policy to judge against.
        catalog: Profile routing data for the route check (the bundled catalog by default).
        accounts: Only these account ids are audited; others are reported as bad input.
        since: Ignore evidence before this time.
        until: Ignore evidence after this time.
        max_violations: Violations kept in detail (all are counted).
        max_samples: Examples kept per problem / discrepancy category.
        dedupe_invocation_logs: Join invocation-log entries to CloudTrail's calls so a call in
            both sources counts once (set by :func:`audit_files` when both are given).
        strict: Make cross-check discrepancies fail the audit too.
    """

    def __init__(
        self,
        policy: ResidencyPolicy,
        *,
        catalog: ProfileCatalog | None = None,
        accounts: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        max_violations: int = DEFAULT_MAX_VIOLATIONS,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        dedupe_invocation_logs: bool = False,
        strict: bool = False,
    ) -> None:
        self.policy = policy
        self.catalog = catalog or default_catalog()
        self.accounts = frozenset(accounts) if accounts else None
        self.since = since
        self.until = until
        self.max_violations = max_violations
        self.max_samples = max_samples
        self.strict = strict
        self.events_read = 0
        self._calls = 0
        self._failed = 0
        self._bypassed = 0
        self._global = 0
        self._skipped_window = 0
        self._first: datetime | None = None
        self._last: datetime | None = None
        self._evidence: Counter[str] = Counter()
        self._groups: dict[tuple[str, str, str], CallGroup] = {}
        self._violations: list[Violation] = []
        self._violations_total = 0
        self._violation_kinds: Counter[str] = Counter()
        self._problems: Counter[str] = Counter()
        self._problem_samples: list[str] = []
        self._route_cache: dict[str, RouteClass] = {}
        self._judge_cache: dict[tuple[str, str, str], tuple[tuple[ViolationKind, str], ...]] = {}
        self._facts = CallFacts(join_logs=dedupe_invocation_logs)
        self._logs_started = False
        self._served_evidence: Counter[str] = Counter()
        self._assumed = 0
        self._logged: dict[str, _LoggedCall] | None = None
        self._aws_only = 0
        self._differs = 0
        self._discrepancies: list[Discrepancy] = []
        self._discrepancy_counts: Counter[str] = Counter()

    # -- input problems -----------------------------------------------------------------
    def on_error(self, where: str, exc: Exception) -> None:
        """``on_error`` handler for the readers: count and sample, never raise."""
        kind = "truncated" if "truncated" in str(exc) else "malformed"
        self.problem(kind, f"{where}: {exc}")

    def problem(self, kind: str, message: str) -> None:
        self._problems[kind] += 1
        if len(self._problem_samples) < self.max_samples:
            self._problem_samples.append(message)

    # -- our audit log ------------------------------------------------------------------
    def add_audit_log_record(self, record: Any, where: str = "audit log") -> None:
        """Index one audit-log record (``call`` or ``reconciliation``) for the cross-check.

        Raises:
            RuntimeError: AWS evidence was already added; the cross-check matches AWS calls
                against the log as they stream by, so the log must come first.
        """
        if self.events_read:
            raise RuntimeError(
                "add audit-log records before any CloudTrail / invocation-log evidence"
            )
        if self._logged is None:
            self._logged = {}
        if not isinstance(record, Mapping):
            self.problem("malformed", f"{where}: an audit-log record must be an object")
            return
        kind = record.get("record")
        if record.get("schema") != SCHEMA_VERSION or kind not in ("call", "reconciliation"):
            self.problem(
                "unsupported",
                f"{where}: record {kind!r} schema {record.get('schema')!r} is not "
                f"'call'/'reconciliation' schema {SCHEMA_VERSION}",
            )
            return
        request_id = record.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            return  # refused before sending: AWS never saw it, nothing to cross-check
        ts = _maybe_time(record.get("ts"))
        served = record.get("served_region")
        entry = self._logged.get(request_id)
        if kind == "call":
            if entry is None:
                self._logged[request_id] = _LoggedCall(record.get("run_id"), served, ts)
            else:  # a reconciliation came first (log rotated): keep its served Region
                entry.ts = entry.ts or ts
                entry.run_id = entry.run_id or record.get("run_id")
        elif entry is None:
            self._logged[request_id] = _LoggedCall(record.get("run_id"), served, ts)
        else:
            entry.served_region = served  # the latest reconciliation wins

    # -- AWS evidence -------------------------------------------------------------------
    @property
    def joins_invocation_logs(self) -> bool:
        """Whether invocation-log entries are joined to CloudTrail's calls (see ``dedupe…``)."""
        return self._facts.join_logs

    def join_invocation_logs(self) -> None:
        """Join invocation logs to CloudTrail from now on (before any evidence is added)."""
        self._facts.join_logs = True

    def add_cloudtrail(self, record: CloudTrailCall | StreamCompletion) -> None:
        """Account for one CloudTrail record: an API call (or a call already folded by a
        reader), a stream-completion event, or a data-event copy. Each call counts once."""
        self.events_read += 1
        if not self._accept(record.request_id, record.event_time, record.account_id):
            return
        self._evidence["cloudtrail"] += 1
        for fact in self._facts.add_cloudtrail(record):
            self._count_fact(fact)

    def add_invocation_log(self, entry: InvocationLogEntry) -> None:
        """Account for one invocation-log entry (tokens only, if CloudTrail had the call)."""
        self.events_read += 1
        if not self._accept(entry.request_id, entry.timestamp, entry.account_id):
            return
        self._evidence["invocation_log"] += 1
        if not self._logs_started:  # CloudTrail is over: streams without completion are final
            self._logs_started = True
            for fact in self._facts.end_cloudtrail():
                self._count_fact(fact)
        for item in self._facts.add_log(entry):
            if isinstance(item, TokenTopUp):
                group = self._group(*item.group)
                group.input_tokens += item.input_tokens
                group.output_tokens += item.output_tokens
            else:
                self._count_fact(item)

    def _count_fact(self, fact: Counted) -> None:
        if not fact.api_call_seen:
            self.problem(
                "completion_without_call",
                f"request {fact.request_id}: a stream-completion event whose API call is not "
                "in the evidence (outside the window?); counted as a call of unknown model",
            )
        if fact.error_code is None:
            self._served_evidence[fact.evidence] += 1
            if fact.strength == "assumed":
                self._assumed += 1
        self._count(
            fact.request_id,
            fact.event_time,
            fact.model_id,
            fact.source_region,
            fact.served_region,
            fact.account_id,
            fact.error_code,
            fact.input_tokens,
            fact.output_tokens,
            fact.evidence,
            fact.strength,
        )

    def _accept(self, request_id: str, when: datetime, account: str | None) -> bool:
        if (self.since and when < self.since) or (self.until and when > self.until):
            self._skipped_window += 1
            return False
        if self.accounts is not None and account is not None and account not in self.accounts:
            self.problem(
                "wrong_account",
                f"request {request_id}: account {account} is not one of "
                f"{', '.join(sorted(self.accounts))}",
            )
            return False
        return True

    def _group(self, model_id: str | None, source: str, served: str) -> CallGroup:
        model = model_id or "(unknown)"
        key = (model, source, served)
        group = self._groups.get(key)
        if group is None:
            group = CallGroup(model, self._route_class(model), source, served)
            self._groups[key] = group
        return group

    def _count(
        self,
        request_id: str,
        when: datetime,
        model_id: str | None,
        source: str,
        served: str,
        account: str | None,
        error_code: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        evidence: str,
        strength: str = "confirmed",
    ) -> None:
        if self._first is None or when < self._first:
            self._first = when
        if self._last is None or when > self._last:
            self._last = when
        group = self._group(model_id, source, served)
        self._cross_check(request_id, served, strength)
        if error_code is not None:
            group.failed += 1
            self._failed += 1
            return
        group.calls += 1
        self._calls += 1
        group.input_tokens += input_tokens or 0
        group.output_tokens += output_tokens or 0
        if group.route == "in_region":
            self._bypassed += 1
        elif group.route == "global":
            self._global += 1
        found = self._judge(group.model_id, group.route, source, served)
        if not found:
            return
        group.violations += 1
        self._violations_total += 1
        for kind, _ in found:
            self._violation_kinds[kind] += 1
        if len(self._violations) < self.max_violations:
            self._violations.append(
                Violation(
                    request_id=request_id,
                    event_time=when,
                    source_region=source,
                    served_region=served,
                    model_id=model_id,
                    account_id=account,
                    evidence=evidence,
                    strength=strength,
                    kinds=tuple(k for k, _ in found),
                    reasons=tuple(r for _, r in found),
                )
            )

    def _cross_check(self, request_id: str, served: str, strength: str) -> None:
        if self._logged is None:
            return
        entry = self._logged.get(request_id)
        if entry is None:
            self._aws_only += 1
            self._discrepancy("aws_only", request_id, "in AWS evidence but not in the audit log")
            return
        if entry.matched:
            return
        entry.matched = True
        logged = entry.served_region
        if logged not in (None, "pending") and logged != served and strength != "assumed":
            self._differs += 1
            self._discrepancy(
                "served_region_differs",
                request_id,
                f"audit log says served in {logged}, AWS says {served}",
            )

    def _discrepancy(self, kind: DiscrepancyKind, request_id: str, detail: str) -> None:
        self._discrepancy_counts[kind] += 1
        if self._discrepancy_counts[kind] <= self.max_samples:
            self._discrepancies.append(Discrepancy(kind, request_id, detail))

    # -- judging ------------------------------------------------------------------------
    def _route_class(self, model_id: str) -> RouteClass:
        cached = self._route_cache.get(model_id)
        if cached is None:
            cached = classify_model(model_id, self.catalog)
            self._route_cache[model_id] = cached
        return cached

    def _judge(
        self, model_id: str, route: RouteClass, source: str, served: str
    ) -> tuple[tuple[ViolationKind, str], ...]:
        key = (model_id, source, served)
        cached = self._judge_cache.get(key)
        if cached is None:
            cached = tuple(self._reasons(model_id, route, source, served))
            self._judge_cache[key] = cached
        return cached

    def _reasons(
        self, model_id: str, route: RouteClass, source: str, served: str
    ) -> list[tuple[ViolationKind, str]]:
        policy = self.policy
        out: list[tuple[ViolationKind, str]] = []
        if served not in policy.regions:
            out.append(("served_outside", f"served in {served}, outside policy {policy.name!r}"))
        if source not in policy.allowed_sources:
            out.append(("source_outside", f"sent from {source}, not an allowed source Region"))
        if route == "in_region" and not policy.allow_in_region:
            out.append(("in_region", "bypassed CRIS (direct model id); policy forbids in-Region"))
        profile = self.catalog.get(model_id) if route in ("profile", "global") else None
        if profile is not None:
            outside = policy.outside(profile.destinations(source))
            if outside:
                where = "any commercial Region" if route == "global" else ", ".join(sorted(outside))
                out.append(("route_outside", f"route from {source} may be processed in {where}"))
        return out

    # -- result -------------------------------------------------------------------------
    def report(self) -> AuditReport:
        """The report so far (the auditor can keep accumulating afterwards; calls still waiting
        for more evidence, e.g. a stream for its completion event, are counted now with what
        they have)."""
        for fact in self._facts.finish():
            self._count_fact(fact)
        logged = self._logged
        audit_only: list[Discrepancy] = []
        audit_only_total = 0
        not_covered = 0
        matched = 0
        if logged is not None:
            lo = self._first - CLOCK_SLACK if self._first else None
            hi = self._last + CLOCK_SLACK if self._last else None
            for request_id, entry in logged.items():
                if entry.matched:
                    matched += 1
                    continue
                if _outside(entry.ts, lo, hi):
                    not_covered += 1
                    continue
                audit_only_total += 1
                if len(audit_only) < self.max_samples:
                    run = f" (run {entry.run_id})" if entry.run_id else ""
                    audit_only.append(
                        Discrepancy(
                            "audit_log_only",
                            request_id,
                            f"in the audit log{run} but in no AWS evidence",
                        )
                    )
        groups = sorted(
            self._groups.values(),
            key=lambda g: (
                -g.violations,
                -(g.calls + g.failed),
                g.model_id,
                g.source_region,
                g.served_region,
            ),
        )
        return AuditReport(
            policy=self.policy,
            events_read=self.events_read,
            calls=self._calls,
            failed_calls=self._failed,
            violations_total=self._violations_total,
            violations=list(self._violations),
            violations_by_kind=dict(sorted(self._violation_kinds.items())),
            bypassed_cris=self._bypassed,
            global_calls=self._global,
            groups=groups,
            first_event=self._first,
            last_event=self._last,
            evidence=dict(sorted(self._evidence.items())),
            served_evidence=dict(sorted(self._served_evidence.items())),
            assumed_calls=self._assumed,
            problems_total=sum(self._problems.values()),
            problems_by_kind=dict(sorted(self._problems.items())),
            problem_samples=list(self._problem_samples),
            skipped_outside_window=self._skipped_window,
            cross_checked=logged is not None,
            audit_log_calls=len(logged) if logged is not None else 0,
            matched=matched,
            aws_only_total=self._aws_only,
            audit_log_only_total=audit_only_total,
            served_region_differs_total=self._differs,
            not_covered_by_window=not_covered,
            discrepancies=list(self._discrepancies) + audit_only,
            strict=self.strict,
        )


def _outside(when: datetime | None, lo: datetime | None, hi: datetime | None) -> bool:
    """True when ``when`` is known and falls outside ``[lo, hi]`` (unknown bounds: never)."""
    if when is None or lo is None or hi is None:
        return False
    return not lo <= when <= hi


def _maybe_time(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except AuditInputError:
        return None
