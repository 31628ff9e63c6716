"""The integer cost path (``_cost_units``) gives exactly CallCost's Decimal numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_cris._cost_units import cost_reports
from langchain_cris.data.prices import TokenPrices
from langchain_cris.pricing import TokenUsage, compute_cost

# prices with 0 to 9 decimal places (bundled ones have at most 4), zero included
_PRICE = st.builds(
    lambda units, places: Decimal(units).scaleb(-places),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=9),
)
_COUNT = st.one_of(st.just(0), st.integers(min_value=1, max_value=5 * 10**7))


def _reference(prices: TokenPrices, tokens: tuple[int, ...]) -> tuple[object, object] | None:
    usage = TokenUsage(*tokens)
    cost = compute_cost(prices, usage, "geo", "eu-central-1")
    return None if cost is None else (cost.to_dict(), cost.langsmith_costs())


@settings(max_examples=600, deadline=None)
@given(
    rates=st.tuples(*(st.one_of(st.none(), _PRICE) for _ in range(5))),
    tokens=st.tuples(*(_COUNT for _ in range(5))),
    long_above=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
    long_rates=st.tuples(*(_PRICE for _ in range(5))),
)
def test_integer_costs_equal_decimal_costs(
    rates: tuple[Decimal | None, ...],
    tokens: tuple[int, int, int, int, int],
    long_above: int | None,
    long_rates: tuple[Decimal, ...],
) -> None:
    long_context = TokenPrices(*long_rates, source="long") if long_above is not None else None
    prices = TokenPrices(
        *rates, source="test", long_context_above=long_above, long_context=long_context
    )
    assert cost_reports(prices, tokens, "geo", "eu-central-1") == _reference(prices, tokens)


@pytest.mark.parametrize(
    ("price", "tokens"),
    [
        # one token at $0.00005 per 1M tokens is 0.5 units of 1e-10 USD
        (Decimal("0.00005"), 1),  # 0.5 units: half-even rounds down to 0
        (Decimal("0.00015"), 1),  # 1.5 units: rounds up to 2
        (Decimal("0.00025"), 1),  # 2.5 units: rounds down to 2
        (Decimal("0.00035"), 3),  # 10.5 units: rounds down to 10
        (Decimal("3.3"), 123_456_789),
        (Decimal("0"), 10),
    ],
)
def test_half_even_ties_and_exact_amounts(price: Decimal, tokens: int) -> None:
    prices = TokenPrices(price, price, price, price, price, source="ties")
    counts = (tokens, tokens, 0, tokens, tokens)
    assert cost_reports(prices, counts, "geo", "eu-central-1") == _reference(prices, counts)


def test_an_unpriced_token_type_used_gives_no_cost() -> None:
    prices = TokenPrices(Decimal("3"), Decimal("15"), None, None, None, source="no cache")
    assert cost_reports(prices, (10, 10, 0, 0, 0), "geo", "eu-central-1") is not None
    assert cost_reports(prices, (10, 10, 1, 0, 0), "geo", "eu-central-1") is None
    assert _reference(prices, (10, 10, 1, 0, 0)) is None
