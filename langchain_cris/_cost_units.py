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
from functools import lru_cache
from typing import Any

from langchain_cris.data.prices import TokenPrices

__all__ = ["cost_reports"]

_UNITS_PER_USD = 10**10
_TOKENS_PER_PRICE = 6  # prices are per 10**6 tokens


@lru_cache(maxsize=4096)
def _per_token(price: Decimal) -> tuple[int, int]:
    """``(num, den)``: one token at ``price`` costs ``num/den`` units (``den`` a power of 10)."""
    _sign, digits, exponent = price.as_tuple()
    number = int("".join(map(str, digits)) or "0")
    shift = int(exponent) + 10 - _TOKENS_PER_PRICE
    if shift >= 0:
        return number * 10**shift, 1
    return number, 10**-shift


def _round_half_even(num: int, den: int) -> int:
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
    input_, _output, read, write_5m, write_1h = tokens
    if (
        prices.long_context is not None
        and prices.long_context_above is not None
        and input_ + read + write_5m + write_1h > prices.long_context_above
    ):
        prices = prices.long_context
    rates = (prices.input, prices.output, prices.cache_read, prices.cache_write,
             prices.cache_write_1h)  # fmt: skip
    parts: list[tuple[int, int]] = []
    den = 1
    for count, rate in zip(tokens, rates, strict=True):
        if not count:
            parts.append((0, 1))
            continue
        if rate is None:
            return None
        num, rate_den = _per_token(rate)
        parts.append((count * num, rate_den))
        den = max(den, rate_den)  # powers of ten: the largest is a common denominator
    exact = [num * (den // part_den) for num, part_den in parts]
    exact_write = exact[3] + exact[4]
    rounded = [_round_half_even(x, den) for x in (exact[0], exact[1], exact[2], exact_write)]
    total = _round_half_even(exact[0] + exact[1] + exact[2] + exact_write, den)
    in_usd, out_usd, read_usd, write_usd = (units / _UNITS_PER_USD for units in rounded)
    total_usd = total / _UNITS_PER_USD
    cost = {
        "currency": "USD",
        "input": in_usd,
        "output": out_usd,
        "cache_read": read_usd,
        "cache_write": write_usd,
        "total": total_usd,
        "pricing": kind,
        "source_region": source_region,
        "source": prices.source,
    }
    langsmith = {
        "input_cost": (rounded[0] + rounded[2] + rounded[3]) / _UNITS_PER_USD,
        "output_cost": out_usd,
        "total_cost": total_usd,
        "input_cost_details": {"cache_read": read_usd, "cache_creation": write_usd},
    }
    return cost, langsmith
