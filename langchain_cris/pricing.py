"""What one Bedrock call cost: token prices by (model, route kind, source Region) times its usage.

Residency has a price. AWS prices cross-Region inference at the *source* Region's price, and for
the models it discounts a global profile costs about 10% less than a geographic profile or an
in-Region call; the bundled ``data/prices.json`` records, per model, which route kinds cost what
and where each number comes from. This module is pure: no network, no clock.

Units: prices are USD per 1,000,000 tokens, held as :class:`~decimal.Decimal`; a cost is
computed exactly in Decimal and reported in USD rounded to 10 decimal places (``COST_PLACES``),
as floats in ``response_metadata`` (JSON-ready) and as Decimal in :class:`CallCost`.

Fail closed: a model with no bundled price, a route kind the data does not price (application
profiles), a source Region outside every entry, or a token type used but not priced (e.g. a
1-hour cache write on a model with no 1-hour price) gives no number: the cost dict then says
``"pricing": "unknown"`` with the ``reason``, and every amount is ``None``. Nothing is guessed.

Usage, as langchain-aws reports it: ``usage_metadata["input_tokens"]`` is Bedrock's
``inputTokens`` **plus** ``cacheReadInputTokens`` and ``cacheWriteInputTokens``;
``input_token_details`` holds ``cache_read`` and ``cache_creation`` (or, when Bedrock breaks
writes down by TTL, ``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` with
``cache_creation`` 0). :meth:`TokenUsage.from_usage_metadata` undoes that sum.

Negotiated prices: a user file laid over the bundled one, from ``$LANGCHAIN_CRIS_PRICES`` or
``PriceTable.load(path)`` (see :func:`langchain_cris.data.load_prices`); its entries win.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from langchain_cris._cost_units import cost_reports
from langchain_cris.data import model_providers
from langchain_cris.data.prices import TOKEN_TYPES, PriceKind, PriceTable, TokenPrices

__all__ = [
    "COST_PLACES",
    "CallCost",
    "PriceKind",
    "PriceTable",
    "TokenPrices",
    "TokenUsage",
    "USAGE_COSTS_ENV",
    "base_model_of",
    "call_cost",
    "compute_cost",
    "langsmith_usage_costs",
    "plain_run_cost",
    "pricing_kind",
    "stamp_cost",
    "sum_decimal",
    "unknown_cost",
    "usage_counts",
]

COST_PLACES = Decimal("1e-10")
"""Costs are rounded to this many USD (half-even) when reported."""
_PER = Decimal(1_000_000)
_ZERO = Decimal(0)
USAGE_COSTS_ENV = "LANGCHAIN_CRIS_USAGE_COSTS"
"""Set to ``0`` to keep LangSmith cost keys out of ``usage_metadata`` (see :func:`stamp_cost`)."""
_TOKEN_TYPES = TOKEN_TYPES


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one call, each type counted once (``input`` excludes cache tokens)."""

    input: int
    output: int
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0

    @property
    def total_input(self) -> int:
        return self.input + self.cache_read + self.cache_write + self.cache_write_1h

    @classmethod
    def from_counts(cls, counts: Mapping[str, Any]) -> TokenUsage:
        """Read back the ``tokens`` of a cost dict."""
        return cls(**{k: _count(counts.get(k)) for k in _TOKEN_TYPES})

    @classmethod
    def from_usage_metadata(cls, usage: Mapping[str, Any]) -> TokenUsage:
        """Read LangChain ``usage_metadata`` (langchain-aws's sums undone, see module doc)."""
        return cls(*usage_counts(usage))


def usage_counts(usage: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """:meth:`TokenUsage.from_usage_metadata`'s counts, in ``TOKEN_TYPES`` order."""
    total_in = _count(usage.get("input_tokens"))
    output = _count(usage.get("output_tokens"))
    details = usage.get("input_token_details")
    if not details:  # no cache tokens: the common call
        return total_in, output, 0, 0, 0
    read = _count(details.get("cache_read"))
    write_5m = _count(details.get("ephemeral_5m_input_tokens"))
    write_1h = _count(details.get("ephemeral_1h_input_tokens"))
    write = _count(details.get("cache_creation")) + write_5m
    return max(0, total_in - read - write - write_1h), output, read, write, write_1h


@dataclass(frozen=True)
class CallCost:
    """The cost of one call in USD (exact Decimal; ``cache_write`` includes 1-hour writes)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    pricing: PriceKind
    source: str
    source_region: str

    @property
    def total(self) -> Decimal:
        return self.input + self.output + self.cache_read + self.cache_write

    def to_dict(self) -> dict[str, Any]:
        """``response_metadata["cris"]["cost"]``: USD floats rounded to ``COST_PLACES``."""
        return self._reports()[0]

    def langsmith_costs(self) -> dict[str, Any]:
        """:func:`langsmith_usage_costs` of :meth:`to_dict`, without reading the floats back."""
        return self._reports()[1]

    def _reports(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """:meth:`to_dict` and :meth:`langsmith_costs` from one rounding of each amount."""
        read, write = _rounded(self.cache_read), _rounded(self.cache_write)
        read_usd, write_usd = _usd(read), _usd(write)
        output, total = _usd(self.output), _usd(self.total)
        rounded_input = _rounded(self.input)
        cost = {
            "currency": "USD",
            "input": _usd(rounded_input),
            "output": output,
            "cache_read": read_usd,
            "cache_write": write_usd,
            "total": total,
            "pricing": self.pricing,
            "source_region": self.source_region,
            "source": self.source,
        }
        langsmith = {
            "input_cost": _usd(rounded_input + read + write),
            "output_cost": output,
            "total_cost": total,
            "input_cost_details": {"cache_read": read_usd, "cache_creation": write_usd},
        }
        return cost, langsmith


# -- route → price kind -------------------------------------------------------------------
def pricing_kind(route_kind: str | None, geography: str | None) -> PriceKind | None:
    """The price kind of a route (``response_metadata["cris"]`` keys); ``None`` if unknown."""
    if route_kind == "in_region" or geography == "in-region":
        return "in_region"
    if route_kind == "application" or geography in (None, "", "application"):
        return None  # an application profile's price follows the profile it was copied from
    return "global" if geography == "global" else "geo"


@lru_cache(maxsize=1024)
def base_model_of(model_id: str | None) -> str | None:
    """The foundation model id behind a model id, profile id or ARN (``None`` if hidden)."""
    if not model_id:
        return None
    if model_id.startswith("arn:"):
        resource = model_id.split(":", 5)[-1]
        kind, _, ident = resource.partition("/")
        if kind == "application-inference-profile":
            return None
        model_id = ident
    head, _, rest = model_id.partition(".")
    return model_id if head in model_providers() or not rest else rest


# -- arithmetic ---------------------------------------------------------------------------
def compute_cost(
    prices: TokenPrices, usage: TokenUsage, kind: PriceKind, source_region: str
) -> CallCost | None:
    """``usage`` times ``prices``; ``None`` when a token type was used that has no price."""
    if (
        prices.long_context is not None
        and prices.long_context_above is not None
        and usage.total_input > prices.long_context_above
    ):
        prices = prices.long_context
    zero = _ZERO
    parts = [zero, zero, zero, zero, zero]
    for i, tokens in enumerate(
        (usage.input, usage.output, usage.cache_read, usage.cache_write, usage.cache_write_1h)
    ):
        if tokens:
            price = getattr(prices, _TOKEN_TYPES[i])
            if price is None:
                return None
            parts[i] = tokens * price / _PER
    return CallCost(
        input=parts[0],
        output=parts[1],
        cache_read=parts[2],
        cache_write=parts[3] + parts[4],
        pricing=kind,
        source=prices.source,
        source_region=source_region,
    )


def call_cost(
    model_id: str | None,
    kind: PriceKind | None,
    source_region: str | None,
    usage: Mapping[str, Any] | TokenUsage | None,
    table: PriceTable | None = None,
) -> dict[str, Any]:
    """The cost dict of one call (always a dict; ``"pricing": "unknown"`` with a ``reason``).

    ``tokens`` (when usage is known) holds the counts priced, each token type once, so a
    reader (the audit's what-if) can price the same call on another route.
    """
    return _priced(model_id, kind, source_region, usage, table)[0]


def _priced(
    model_id: str | None,
    kind: PriceKind | None,
    source_region: str | None,
    usage: Mapping[str, Any] | TokenUsage | None,
    table: PriceTable | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """:func:`call_cost`'s dict and, for a known cost, its LangSmith usage keys (else None)."""
    base = base_model_of(model_id)
    if usage is None:
        return unknown_cost("the call reported no token usage"), None
    if base is None or kind is None:
        reason = f"no price kind for route {model_id!r} (application profiles are not priced)"
        return unknown_cost(reason), None
    if not source_region:
        return unknown_cost("the source Region is unknown"), None
    table = table or PriceTable.load()
    if isinstance(usage, TokenUsage):
        counted = (usage.input, usage.output, usage.cache_read, usage.cache_write,
                   usage.cache_write_1h)  # fmt: skip
    else:
        counted = usage_counts(usage)
    counts = dict(zip(_TOKEN_TYPES, counted, strict=True))
    prices = table.lookup(base, kind, source_region)
    if prices is None:
        reason = table.why_unpriced(base, kind, source_region)
        return {**unknown_cost(reason), "tokens": counts}, None
    # CallCost's Decimal arithmetic, in integers (see _cost_units: the same numbers, cheaper)
    reports = cost_reports(prices, counted, kind, source_region)
    if reports is None:
        used = [k for k, n in counts.items() if n and getattr(prices, k) is None]
        reason = f"{base}: no {kind} price for {', '.join(used)} tokens"
        return {**unknown_cost(reason), "tokens": counts}, None
    out, langsmith = reports
    out["tokens"] = counts
    return out, langsmith


def unknown_cost(reason: str) -> dict[str, Any]:
    """A cost dict whose amounts are all ``None``, saying why."""
    return {
        "currency": "USD",
        "input": None,
        "output": None,
        "cache_read": None,
        "cache_write": None,
        "total": None,
        "pricing": "unknown",
        "reason": reason,
        "source": None,
    }


def langsmith_usage_costs(cost: Mapping[str, Any]) -> dict[str, Any]:
    """LangSmith's usage-metadata cost keys for a known cost (``{}`` for an unknown one).

    LangSmith reads ``input_cost``/``output_cost``/``total_cost`` (and
    ``input_cost_details``) from a run's usage metadata and then needs no price map; input
    cost covers every input token type, as ``input_tokens`` does.
    """
    if cost.get("total") is None:
        return {}
    read, write = Decimal(str(cost["cache_read"])), Decimal(str(cost["cache_write"]))
    return {
        "input_cost": _usd(Decimal(str(cost["input"])) + read + write),
        "output_cost": cost["output"],
        "total_cost": cost["total"],
        "input_cost_details": {"cache_read": _usd(read), "cache_creation": _usd(write)},
    }


def stamp_cost(message: Any, *, usage_costs: bool = True, table: PriceTable | None = None) -> None:
    """Price a stamped message: ``response_metadata["cris"]["cost"]``, and LangSmith's keys.

    Reads the route actually used (after failover) from ``response_metadata["cris"]`` and the
    usage from ``usage_metadata``; a message without ``["cris"]`` is left alone.

    With ``usage_costs`` (one-shot calls) a known cost is also written as ``input_cost`` /
    ``output_cost`` / ``total_cost`` / ``input_cost_details`` into ``usage_metadata``, where
    LangSmith reads custom costs. Streams pass ``False``: langchain-core merges chunks'
    ``usage_metadata`` with ``add_usage``, which accepts only integers, so a float on a chunk
    would break every stream; and ``$LANGCHAIN_CRIS_USAGE_COSTS=0`` turns it off for code
    that sums priced messages' usage with ``add_usage`` (e.g. ``get_usage_metadata_callback``).
    """
    cris = message.response_metadata.get("cris")
    if not isinstance(cris, dict):
        return
    usage = getattr(message, "usage_metadata", None)
    cost, langsmith = _priced(
        cris.get("base_model_id") or cris.get("model_id"),
        pricing_kind(cris.get("route_kind"), cris.get("geography")),
        cris.get("source_region"),
        usage,
        table,
    )
    cris["cost"] = cost
    if (
        langsmith is not None
        and usage_costs
        and isinstance(usage, dict)
        and os.environ.get(USAGE_COSTS_ENV) != "0"
    ):
        usage.update(langsmith)


def plain_run_cost(fields: Mapping[str, Any], usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """The cost of a plain ``ChatBedrockConverse`` run, from its audit-record fields."""
    return call_cost(
        fields.get("profile_id") or fields.get("model_id"),
        pricing_kind(None, fields.get("geography")),
        fields.get("source_region"),
        usage,
    )


def sum_decimal(values: Iterable[Any]) -> Decimal:
    """Exact sum of reported USD amounts (floats rounded to ``COST_PLACES`` read back)."""
    return sum((Decimal(str(v)) for v in values if v is not None), Decimal(0))


def _usd(value: Decimal) -> float:
    if not value:  # most token types of a call are unused: no quantize needed for zero
        return 0.0
    return float(value.quantize(COST_PLACES))


def _rounded(value: Decimal) -> Decimal:
    """``value`` as reported (the Decimal behind ``_usd``'s float)."""
    return value.quantize(COST_PLACES) if value else Decimal(0)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
