"""The per-call cost in whole units of ``COST_PLACES`` (1e-10 USD): exact, in integers.

Every ``ChatBedrockCRIS`` response is priced (:func:`langchain_cris.pricing.stamp_cost`). The
reference arithmetic is :class:`~langchain_cris.pricing.CallCost`'s, in ``Decimal``; on a
zero-latency call it cost ~2 % of the whole call (``benchmarks/bench_overhead.py``, issue #20),
more than everything else the residency layer adds. This module gives the same numbers with
Python integers:

* a price is USD per 1,000,000 tokens, a finite decimal ``n·10^e``; one token of it costs
  ``n·10^(e+4)`` units, i.e. ``num/den`` units with ``den`` a power of ten (``1`` for any
  price with at most four decimal places, which is every bundled price);
* a token type's amount is ``tokens·num/den`` units, exact; the reported amount is that
  rounded half-even to a whole unit (``Decimal.quantize(COST_PLACES)``'s rounding), and the
  total is the exact sum rounded once, as ``CallCost.total`` is;
* a float is ``units / 10**10``: Python's integer division is correctly rounded, as
  ``float(Decimal)`` is, so both give the same float.

``tests/unit_tests/test_cost_units.py`` holds the two against each other on generated prices
and usages, long-context switches and unpriced token types included.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from langchain_cris.data.prices import TokenPrices

__all__ = ["cost_reports"]

_UNITS_PER_USD = 10**10
_TOKENS_PER_PRICE = 6  # prices are per 10**6 tokens


def _per_token(price: Decimal) -> tuple[int, int]:
    """``(num, den)``: one token at ``price`` costs ``num/den`` units (``den`` a power of 10)."""
    _sign, digits, exponent = price.as_tuple()
    number = int("".join(map(str, digits)) or "0")
    shift = int(exponent) + 10 - _TOKENS_PER_PRICE
    if shift >= 0:
        return number * 10**shift, 1
    return number, 10**-shift


_Rates = tuple[tuple[int, int] | None, ...]
_rates: dict[int, tuple[TokenPrices, _Rates, int]] = {}


def _rates_of(prices: TokenPrices) -> tuple[_Rates, int]:
    """Per-token ``(num, den)`` of each token type (``None``: unpriced) and their common
    denominator, worked out once per price row (held with the row, so its id stays its own)."""
    hit = _rates.get(id(prices))
    if hit is not None and hit[0] is prices:
        return hit[1], hit[2]
    rates = tuple(
        None if price is None else _per_token(price)
        for price in (prices.input, prices.output, prices.cache_read, prices.cache_write,
                      prices.cache_write_1h)
    )  # fmt: skip
    den = max((rate[1] for rate in rates if rate is not None), default=1)
    if len(_rates) >= 4096:
        _rates.clear()
    _rates[id(prices)] = (prices, rates, den)
    return rates, den


def _round_half_even(num: int, den: int) -> int:
    if den == 1:
        return num
    quotient, remainder = divmod(num, den)
    twice = 2 * remainder
    if twice > den or (twice == den and quotient % 2):
        quotient += 1
    return quotient


def cost_reports(
    prices: TokenPrices,
    tokens: tuple[int, int, int, int, int],
    kind: str,
    source_region: str,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``CallCost.to_dict()`` and ``CallCost.langsmith_costs()`` of ``tokens`` at ``prices``.

    ``tokens`` are the counts of ``TOKEN_TYPES`` in order (input, output, cache read, 5-minute
    and 1-hour cache writes). ``None`` when a token type was used that has no price.
    """
    above = prices.long_context_above
    if (
        prices.long_context is not None
        and above is not None
        and tokens[0] + tokens[2] + tokens[3] + tokens[4] > above
    ):
        prices = prices.long_context
    rates, den = _rates_of(prices)
    exact = [0, 0, 0, 0, 0]  # each amount in units, times den
    for i, count in enumerate(tokens):
        if count:
            rate = rates[i]
            if rate is None:
                return None
            exact[i] = count * rate[0] * (den // rate[1])
    in_units = _round_half_even(exact[0], den)
    out_units = _round_half_even(exact[1], den)
    read_units = _round_half_even(exact[2], den)
    write_units = _round_half_even(exact[3] + exact[4], den)
    total_usd = _round_half_even(sum(exact), den) / _UNITS_PER_USD
    out_usd = out_units / _UNITS_PER_USD
    read_usd = read_units / _UNITS_PER_USD
    write_usd = write_units / _UNITS_PER_USD
    cost = {
        "currency": "USD",
        "input": in_units / _UNITS_PER_USD,
        "output": out_usd,
        "cache_read": read_usd,
        "cache_write": write_usd,
        "total": total_usd,
        "pricing": kind,
        "source_region": source_region,
        "source": prices.source,
    }
    langsmith = {
        "input_cost": (in_units + read_units + write_units) / _UNITS_PER_USD,
        "output_cost": out_usd,
        "total_cost": total_usd,
        "input_cost_details": {"cache_read": read_usd, "cache_creation": write_usd},
    }
    return cost, langsmith
