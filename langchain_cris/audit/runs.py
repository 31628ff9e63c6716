"""Calls per LangChain chain, from the package's audit log, for the report's per-chain table.

AWS evidence names requests, not runs; only our own log knows which chain (the chat-model
run's parent run) and which policy a call belonged to. :class:`ChainTally` folds the log's
records as they stream by (``verify_logs(on_record=tally.add)`` reads each line once for both),
applying the log's rule that the latest ``reconciliation`` of a request wins over the ``call``
record's ``served_region``. It keeps one small entry per request id for that rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_cris.audit.summary import ChainGroup

__all__ = ["ChainTally"]

_SCHEMA = 1
_NO_CHAIN = "(no parent run)"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ChainTally:
    """Accumulates :class:`ChainGroup` rows from audit-log records (any order of the two kinds)."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], ChainGroup] = {}
        # request id -> (group key, served Region counted, violation counted)
        self._calls: dict[str, tuple[tuple[str, str], str | None, bool]] = {}
        self._early: dict[str, Mapping[str, Any]] = {}  # reconciliations before their call

    def add(self, record: Mapping[str, Any]) -> None:
        """Fold one record; anything but a schema-1 ``call``/``reconciliation`` is ignored."""
        if record.get("schema") != _SCHEMA:
            return
        kind = record.get("record")
        if kind == "call":
            self._add_call(record)
        elif kind == "reconciliation":
            request_id = record.get("request_id")
            if not isinstance(request_id, str):
                return
            if request_id in self._calls:
                self._reconcile(request_id, record)
            else:
                self._early[request_id] = record

    def _add_call(self, record: Mapping[str, Any]) -> None:
        policy = str(record.get("policy") or "(no policy)")
        chain = str(record.get("parent_run_id") or _NO_CHAIN)
        key = (policy, chain)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = ChainGroup(policy=policy, chain=chain)
        group.calls += 1
        outcome = record.get("outcome")
        if outcome == "refused":
            group.refused += 1
        violation = outcome == "violation"
        group.violations += violation
        group.input_tokens += _int(record.get("input_tokens"))
        group.output_tokens += _int(record.get("output_tokens"))
        if isinstance(record.get("model_id"), str):
            group.models.add(record["model_id"])
        ts = record.get("ts")
        if isinstance(ts, str):
            group.first_ts = min(group.first_ts or ts, ts)
            group.last_ts = max(group.last_ts or ts, ts)
        served = record.get("served_region")
        served = served if isinstance(served, str) and outcome != "refused" else None
        if served is not None:
            group.served_regions[served] = group.served_regions.get(served, 0) + 1
        request_id = record.get("request_id")
        if isinstance(request_id, str) and request_id:
            self._calls[request_id] = (key, served, violation)
            early = self._early.pop(request_id, None)
            if early is not None:
                self._reconcile(request_id, early)

    def _reconcile(self, request_id: str, record: Mapping[str, Any]) -> None:
        key, counted, violation = self._calls[request_id]
        group = self._groups[key]
        served = record.get("served_region")
        if isinstance(served, str) and served != counted:
            if counted is not None:
                group.served_regions[counted] -= 1
                if not group.served_regions[counted]:
                    del group.served_regions[counted]
            group.served_regions[served] = group.served_regions.get(served, 0) + 1
            counted = served
        now_violation = violation or record.get("compliant") is False
        if now_violation and not violation:
            group.violations += 1
        self._calls[request_id] = (key, counted, now_violation)

    def groups(self) -> list[ChainGroup]:
        """The rows, most calls first (then by policy and chain id, for a stable order)."""
        return sorted(self._groups.values(), key=lambda g: (-g.calls, g.policy, g.chain))
