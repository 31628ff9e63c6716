"""The audit-log record shapes and how a log's records combine into one answer per call.

The log is append-only, so nothing is ever rewritten: a ``call`` record is written when the
chat-model run ends, and one ``reconciliation`` record is appended each time CloudTrail or the
Model Invocation Logs reveal where a call was served. The **latest** reconciliation record for a
request id wins over the call record's ``served_region``; :func:`summarize_records` applies that
rule so every reader (the CLI, the handler, tests) answers the same way.

Records hold routing facts only — never prompt or response text, never credentials — unless the
user opted in (``CRISCallbackHandler(include_prompts=True)`` adds ``prompts``/``response``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "SCHEMA_VERSION",
    "ViolationEvent",
    "CallState",
    "Evidence",
    "Outcome",
    "PENDING",
    "call_record",
    "format_ts",
    "parse_ts",
    "pending_calls",
    "reconciliation_record",
    "summarize_records",
]

SCHEMA_VERSION = 1
"""Bumped only when a field changes meaning; readers skip records of unknown schemas."""

PENDING = "pending"
"""``served_region`` of a call whose serving Region AWS has not recorded yet."""

Outcome = Literal["ok", "refused", "error", "violation"]
Evidence = str
"""Where a served Region comes from: ``cloudtrail:inferenceRegion``,
``cloudtrail:completion:inferenceRegion``, ``cloudtrail:absent-field=source``,
``invocation_log:inferenceRegion`` or ``invocation_log:no-field``
(:mod:`langchain_cris.audit.strength`). Records written before these kinds say ``cloudtrail`` or
``invocation_log``."""

# Every key of a call record, in the order written (the audit-log contract).
_CALL_KEYS = (
    "run_id",
    "parent_run_id",
    "policy",
    "policy_digest",
    "mode",
    "model_id",
    "profile_id",
    "profile_arn",
    "geography",
    "source_region",
    "allowed_regions",
    "destination_regions",
    "request_id",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "outcome",
    "error_type",
    "served_region",
    "attempts",
    "cost",
    "chain",
    "guardrail",
    "trace_destinations",
)


def format_ts(when: datetime | None = None) -> str:
    """UTC time with milliseconds and a ``Z`` suffix, e.g. ``2026-11-26T12:00:00.123Z``."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    """Read back a :func:`format_ts` timestamp (any ISO 8601 with ``Z`` or offset)."""
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def call_record(*, ts: str | None = None, **fields: Any) -> dict[str, Any]:
    """A ``call`` record with every contract key present (missing ones are ``None``/``[]``).

    Raises:
        TypeError: a key outside the contract was passed (a typo would silently vanish from
            every audit log otherwise). ``prompts``/``response`` are accepted for the opt-in.
    """
    unknown = set(fields) - set(_CALL_KEYS) - {"prompts", "response"}
    if unknown:
        raise TypeError(
            f"unknown call-record field(s) {sorted(unknown)}; allowed: {', '.join(_CALL_KEYS)}"
        )
    record: dict[str, Any] = {"record": "call", "schema": SCHEMA_VERSION, "ts": ts or format_ts()}
    for key in _CALL_KEYS:
        default: Any = (
            []
            if key in ("allowed_regions", "destination_regions", "attempts", "trace_destinations")
            else None
        )
        record[key] = fields.get(key, default)
    if record["outcome"] is None:
        record["outcome"] = "ok"
    for key in ("prompts", "response"):
        if key in fields:
            record[key] = fields[key]
    return record


def reconciliation_record(
    *,
    request_id: str,
    source_region: str,
    served_region: str,
    evidence: Evidence,
    strength: str = "confirmed",
    allowed_regions: Iterable[str] = (),
    run_id: str | None = None,
    event_id: str | None = None,
    policy: str | None = None,
    ts: str | None = None,
) -> dict[str, Any]:
    """A ``reconciliation`` record; ``compliant`` is computed, never passed in.

    A call with no policy (empty ``allowed_regions``, e.g. a plain ``ChatBedrockConverse``) has
    nothing to violate, so it is recorded as compliant; the served Region is still recorded.
    ``strength`` says how strongly AWS named it (``confirmed``, ``documented``, ``assumed``); an
    assumed Region is judged like any other.
    """
    allowed = sorted(allowed_regions)
    return {
        "record": "reconciliation",
        "schema": SCHEMA_VERSION,
        "ts": ts or format_ts(),
        "run_id": run_id,
        "request_id": request_id,
        "source_region": source_region,
        "served_region": served_region,
        "evidence": evidence,
        "strength": strength,
        "event_id": event_id,
        "compliant": not allowed or served_region in allowed,
        "policy": policy,
        "allowed_regions": allowed,
    }


@dataclass
class CallState:
    """One call as the whole log describes it: its call record plus its latest reconciliation.

    Attributes:
        call: The ``call`` record (``None`` when only a reconciliation was found, e.g. the log was
            rotated between the two).
        reconciliation: The latest ``reconciliation`` record for this call, if any.
        reconciliations: How many reconciliation records were seen for it.
    """

    call: dict[str, Any] | None = None
    reconciliation: dict[str, Any] | None = None
    reconciliations: int = 0

    def _get(self, key: str) -> Any:
        for source in (self.reconciliation, self.call):
            if source is not None and source.get(key) is not None:
                return source[key]
        return None

    @property
    def request_id(self) -> str | None:
        value = self._get("request_id")
        return str(value) if value is not None else None

    @property
    def run_id(self) -> str | None:
        value = self._get("run_id")
        return str(value) if value is not None else None

    @property
    def served_region(self) -> str | None:
        """The reconciled served Region, else what the call record said (may be ``pending``)."""
        if self.reconciliation is not None:
            return str(self.reconciliation["served_region"])
        return None if self.call is None else self.call.get("served_region")

    @property
    def pending(self) -> bool:
        """True while AWS has not told us where this (successful) call was served."""
        return self.served_region == PENDING

    @property
    def assumed(self) -> bool:
        """True when the latest reconciliation only assumed the served Region (no AWS record
        named it); such a call is worth looking up again."""
        return self.reconciliation is not None and self.reconciliation.get("strength") == "assumed"

    @property
    def outcome(self) -> str:
        """``violation`` if the reconciled Region is outside the policy, else the call's outcome."""
        if self.reconciliation is not None and not self.reconciliation.get("compliant", True):
            return "violation"
        return str((self.call or {}).get("outcome") or "ok")

    @property
    def violation(self) -> bool:
        return self.outcome == "violation"


def _key(record: Mapping[str, Any]) -> str | None:
    request_id = record.get("request_id")
    if request_id:
        return f"req:{request_id}"
    run_id = record.get("run_id")
    return f"run:{run_id}" if run_id else None


def summarize_records(records: Iterable[Mapping[str, Any]]) -> list[CallState]:
    """Fold a log's records into one :class:`CallState` per call, in first-seen order.

    Calls are keyed by request id (run id when a call never got one, e.g. refused before
    sending). Records of another ``schema`` or an unknown ``record`` type are skipped, so an old
    reader never misreads a newer log.
    """
    states: dict[str, CallState] = {}
    by_run: dict[str, str] = {}
    for record in records:
        if record.get("schema") != SCHEMA_VERSION:
            continue
        kind = record.get("record")
        key = _key(record)
        if key is None:
            continue
        if kind == "call":
            state = states.setdefault(key, CallState())
            state.call = dict(record)
            if record.get("run_id"):
                by_run[str(record["run_id"])] = key
        elif kind == "reconciliation":
            # A reconciliation found by run id (invocation-log requestMetadata) joins its call.
            if key not in states and record.get("run_id") in by_run:
                key = by_run[str(record["run_id"])]
            state = states.setdefault(key, CallState())
            state.reconciliation = dict(record)
            state.reconciliations += 1
    return list(states.values())


def pending_calls(states: Sequence[CallState], *, include_assumed: bool = False) -> list[CallState]:
    """The calls still waiting for a served Region (helper for batch reconciliation).

    Args:
        states: From :func:`summarize_records`.
        include_assumed: Also the calls whose served Region is only an assumption.
    """
    return [
        s for s in states if s.call is not None and (s.pending or (include_assumed and s.assumed))
    ]


@dataclass(frozen=True)
class ViolationEvent:
    """What ``on_violation`` receives: a call that was (or may be) processed outside its policy.

    Attributes:
        kind: ``served_outside`` (CloudTrail / invocation logs show a Region outside the
            policy) or ``route`` (an audit-mode call whose possible destinations were outside
            the policy when it was sent).
        request_id: ``x-amzn-RequestId`` of the call.
        run_id: LangChain run id of the chat-model run.
        policy: Policy name.
        source_region: Region the client called.
        served_region: Region that processed the call (``None`` for ``route`` events until
            reconciled).
        allowed_regions: The policy's destination Regions.
        evidence: Where the served Region comes from for ``served_outside`` (e.g.
            ``cloudtrail:completion:inferenceRegion``); ``route`` otherwise.
        details: Human-readable reasons (the chat model's ``violations`` for ``route``).
        strength: ``confirmed``/``documented``/``assumed`` for ``served_outside``; ``None``
            for ``route``.
    """

    kind: Literal["served_outside", "route"]
    request_id: str | None
    run_id: str | None
    policy: str | None
    source_region: str | None
    served_region: str | None
    allowed_regions: tuple[str, ...]
    evidence: str
    details: tuple[str, ...] = ()
    strength: str | None = None

    @classmethod
    def from_reconciliation(cls, record: Mapping[str, Any]) -> ViolationEvent:
        allowed = tuple(record.get("allowed_regions") or ())
        return cls(
            kind="served_outside",
            request_id=record.get("request_id"),
            run_id=record.get("run_id"),
            policy=record.get("policy"),
            source_region=record.get("source_region"),
            served_region=record.get("served_region"),
            allowed_regions=allowed,
            evidence=str(record.get("evidence")),
            strength=record.get("strength"),
            details=(
                f"served in {record.get('served_region')}, outside the policy's "
                f"Regions {', '.join(allowed)}",
            ),
        )
