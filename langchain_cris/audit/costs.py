"""What the audited calls cost, per model, route, policy and chain, and what residency costs.

Reads the ``cost`` of each ``call`` record of the package's audit log (priced when the call
ended, by the route actually used; see :mod:`langchain_cris.pricing`) and adds two what-if
columns, priced from the same token counts and the same source Region:

* **cheapest allowed**: the cheapest route kind (geographic profile, global profile or
  in-Region) whose destination Regions, as the profile catalog lists them from that source
  Region, all lie inside the call's ``allowed_regions`` (any route for a call with no policy);
* **on global**: the global profile's price (``None`` where the model has no global route from
  that source Region or it is not priced).

``cost - on global``, summed over the calls priced both ways, is the price of residency. A call
whose cost (or what-if) is unknown is counted as *unpriced* in that column and left out of its
sum, never guessed; sums are exact (Decimal) in USD.

Chains: a call's ``chain`` is the ``cris_chain`` key of its run metadata
(``chain.with_config(metadata={"cris_chain": "support-bot"})``), ``(untagged)`` without one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from langchain_cris._text import format_table
from langchain_cris.audit._jsonstream import (
    default_on_error,
    detect_input_kind,
    iter_json_records,
)
from langchain_cris.catalog import ProfileCatalog, default_catalog
from langchain_cris.pricing import (
    PriceKind,
    PriceTable,
    TokenUsage,
    base_model_of,
    compute_cost,
    pricing_kind,
    sum_decimal,
)

__all__ = [
    "CHAIN_METADATA_KEY",
    "CostLine",
    "CostSummary",
    "add_costs_to_report",
    "append_cost_report",
    "read_cost_summary",
    "summarize_costs",
]

CHAIN_METADATA_KEY = "cris_chain"
"""Run-metadata key naming the chain a call belongs to (recorded as the record's ``chain``)."""

DIMENSIONS = ("model", "route", "policy", "chain")
_UNTAGGED = "(untagged)"
_NONE = "(none)"


@dataclass
class CostLine:
    """The sums of one group of calls (USD, exact)."""

    key: str
    calls: int = 0
    unpriced: int = 0
    cost: Decimal = Decimal(0)
    cheapest: Decimal = Decimal(0)
    cheapest_unpriced: int = 0
    on_global: Decimal = Decimal(0)
    global_unpriced: int = 0
    premium: Decimal = Decimal(0)
    """Sum of (cost - on global) over the calls priced both ways: the price of residency."""

    def add(
        self, cost: Decimal | None, cheapest: Decimal | None, on_global: Decimal | None
    ) -> None:
        self.calls += 1
        if cost is None:
            self.unpriced += 1
        else:
            self.cost += cost
        if cheapest is None:
            self.cheapest_unpriced += 1
        else:
            self.cheapest += cheapest
        if on_global is None:
            self.global_unpriced += 1
        else:
            self.on_global += on_global
        if cost is not None and on_global is not None:
            self.premium += cost - on_global

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "calls": self.calls,
            "unpriced": self.unpriced,
            "cost_usd": str(self.cost),
            "cheapest_allowed_usd": str(self.cheapest),
            "cheapest_allowed_unpriced": self.cheapest_unpriced,
            "on_global_usd": str(self.on_global),
            "on_global_unpriced": self.global_unpriced,
            "residency_premium_usd": str(self.premium),
        }


@dataclass
class CostSummary:
    """Cost sums of an audit log: a total line and one table per dimension."""

    total: CostLine = field(default_factory=lambda: CostLine("total"))
    by: dict[str, dict[str, CostLine]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})

    def add(self, keys: Mapping[str, str], *amounts: Decimal | None) -> None:
        self.total.add(*amounts)
        for dim in DIMENSIONS:
            line = self.by[dim].setdefault(keys[dim], CostLine(keys[dim]))
            line.add(*amounts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (amounts as decimal strings, USD)."""
        return {
            "currency": "USD",
            "total": self.total.to_dict(),
            **{f"by_{d}": [line.to_dict() for line in self._lines(d)] for d in DIMENSIONS},
        }

    def _lines(self, dim: str) -> list[CostLine]:
        return sorted(self.by[dim].values(), key=lambda line: (-line.cost, line.key))

    def render(self, fmt: str) -> str:
        """The cost section of the ``table`` or ``markdown`` report."""
        headers = (
            "",
            "calls",
            "unpriced",
            "cost USD",
            "cheapest allowed USD",
            "on global USD",
            "residency premium USD",
        )
        sections = []
        for dim in DIMENSIONS:
            rows = [_cells(line) for line in self._lines(dim)]
            if fmt == "markdown":
                lines = ["| " + " | ".join((dim, *headers[1:])) + " |"]
                lines.append("|" + "---|" * len(headers))
                lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
                sections.append(f"### Cost by {dim}\n\n" + "\n".join(lines))
            else:
                sections.append(f"Cost by {dim}:\n" + format_table((dim, *headers[1:]), rows))
        total = _cells(self.total)
        premium = self.total.premium
        head = (
            f"Cost (USD, from the audit log): {total[3]} for {self.total.calls:,} call(s), "
            f"{self.total.unpriced:,} unpriced; cheapest allowed {total[4]}, on global "
            f"{total[5]} (residency premium {premium:.6f})"
        )
        if fmt == "markdown":
            return "\n\n".join(["## Cost", head, *sections])
        return "\n\n".join([head, *sections])


def _cells(line: CostLine) -> list[str]:
    return [
        line.key,
        f"{line.calls:,}",
        f"{line.unpriced:,}",
        f"{line.cost:.6f}",
        _usd_cell(line.cheapest, line.cheapest_unpriced),
        _usd_cell(line.on_global, line.global_unpriced),
        f"{line.premium:.6f}",
    ]


def _usd_cell(amount: Decimal, unpriced: int) -> str:
    return f"{amount:.6f}" + (f" ({unpriced:,} unpriced)" if unpriced else "")


# -- per call -----------------------------------------------------------------------------
def _options(
    base: str, source: str, catalog: ProfileCatalog
) -> list[tuple[PriceKind, frozenset[str]]]:
    """(price kind, destination Regions) of each route of ``base`` from ``source``."""
    out: list[tuple[PriceKind, frozenset[str]]] = []
    for profile in catalog.profiles_for_model(base):
        if profile.profile_type != "SYSTEM_DEFINED":
            continue
        destinations = profile.destinations(source)
        if destinations:
            out.append(("global" if profile.geography == "global" else "geo", destinations))
    if source in catalog.on_demand_regions(base):
        out.append(("in_region", frozenset({source})))
    return out


def _price(
    table: PriceTable, base: str, kind: PriceKind, source: str, usage: TokenUsage
) -> Decimal | None:
    prices = table.lookup(base, kind, source)
    cost = compute_cost(prices, usage, kind, source) if prices is not None else None
    return cost.total if cost is not None else None


def _what_if(
    record: Mapping[str, Any], table: PriceTable, catalog: ProfileCatalog
) -> tuple[Decimal | None, Decimal | None]:
    """(cheapest allowed, on global) for one call record, ``None`` where unknown."""
    cost = record.get("cost")
    source = record.get("source_region")
    base = base_model_of(record.get("profile_id") or record.get("model_id"))
    if not isinstance(cost, Mapping) or not isinstance(cost.get("tokens"), Mapping):
        return None, None
    if not base or not isinstance(source, str):
        return None, None
    usage = TokenUsage.from_counts(cost["tokens"])
    allowed = set(record.get("allowed_regions") or ())
    options = _options(base, source, catalog)
    prices = [
        _price(table, base, kind, source, usage)
        for kind, destinations in options
        if not allowed or destinations <= allowed
    ]
    known = [p for p in prices if p is not None]
    cheapest = min(known) if known else None
    has_global = any(kind == "global" for kind, _ in options)
    on_global = _price(table, base, "global", source, usage) if has_global else None
    return cheapest, on_global


def _keys(record: Mapping[str, Any]) -> dict[str, str]:
    model = base_model_of(record.get("profile_id") or record.get("model_id"))
    geography = record.get("geography")
    kind = pricing_kind(None, geography if isinstance(geography, str) else None)
    return {
        "model": model or str(record.get("model_id") or "?"),
        "route": f"{geography or '?'} ({kind or 'unpriced kind'}) "
        f"from {record.get('source_region') or '?'}",
        "policy": str(record.get("policy") or _NONE),
        "chain": str(record.get("chain") or _UNTAGGED),
    }


def summarize_costs(
    records: Iterable[Any],
    *,
    table: PriceTable | None = None,
    catalog: ProfileCatalog | None = None,
) -> CostSummary:
    """Sum the cost of every answered ``call`` record (refused and failed calls cost nothing)."""
    table = table or PriceTable.load()
    catalog = catalog or default_catalog()
    summary = CostSummary()
    for record in records:
        if not isinstance(record, Mapping) or record.get("record") != "call":
            continue
        if record.get("outcome") not in ("ok", "violation"):
            continue
        cost = record.get("cost")
        total = cost.get("total") if isinstance(cost, Mapping) else None
        amount = sum_decimal([total]) if total is not None else None
        cheapest, on_global = _what_if(record, table, catalog)
        summary.add(_keys(record), amount, cheapest, on_global)
    return summary


def read_cost_summary(
    paths: Iterable[str | os.PathLike[str]], *, table: PriceTable | None = None
) -> CostSummary:
    """:func:`summarize_costs` over audit-log files (bad lines are skipped with a warning)."""

    def records() -> Iterable[Any]:
        for path in paths:
            yield from iter_json_records(path, default_on_error)

    return summarize_costs(records(), table=table)


def append_cost_report(text: str, summary: CostSummary, fmt: str) -> str:
    """The audit report ``text`` (in ``fmt``) with the cost section added."""
    if fmt == "json":
        data = json.loads(text)
        data["costs"] = summary.to_dict()
        return json.dumps(data, indent=2)
    return text.rstrip("\n") + "\n\n" + summary.render(fmt) + ("\n" if fmt == "markdown" else "")


def add_costs_to_report(
    text: str,
    fmt: str,
    audit_logs: Iterable[str],
    files: Iterable[str] = (),
    *,
    table: PriceTable | None = None,
) -> str:
    """The CLI's hook: ``text`` plus the cost of the audit-log inputs (unchanged without any).

    ``files`` are the kind-detected inputs; only those that are audit logs are read.
    """
    logs = [*audit_logs, *(f for f in files if detect_input_kind(f) == "audit_log")]
    if not logs:
        return text
    return append_cost_report(text, read_cost_summary(logs, table=table), fmt)
