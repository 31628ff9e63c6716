"""The price data as a validated view: :class:`PriceTable` answers (model, route kind, Region).

Reads ``prices.json`` with the user's overlay (:func:`langchain_cris.data.load_prices`) once
per overlay path and fails at load time on a malformed price, like botocore's loaders. Prices
are USD per 1,000,000 tokens as :class:`~decimal.Decimal`. The arithmetic is
:mod:`langchain_cris.pricing`'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from langchain_cris.data import PRICES_ENV, load_prices

__all__ = ["PRICE_KINDS", "TOKEN_TYPES", "PriceKind", "PriceTable", "TokenPrices"]

PriceKind = Literal["geo", "global", "in_region"]
PRICE_KINDS: tuple[PriceKind, ...] = ("geo", "global", "in_region")
TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_LOOKUPS_KEPT = 4096  # (model, kind, Region) answers remembered per table
"""Token types priced separately (``cache_write`` = 5-minute writes)."""


@dataclass(frozen=True)
class TokenPrices:
    """USD per 1,000,000 tokens of each type (``None`` = not priced by the source)."""

    input: Decimal | None
    output: Decimal | None
    cache_read: Decimal | None
    cache_write: Decimal | None
    cache_write_1h: Decimal | None
    source: str
    long_context_above: int | None = None
    """Above this many input tokens (cached ones included) ``long_context`` prices apply."""
    long_context: TokenPrices | None = None


@dataclass(frozen=True)
class _Entry:
    kinds: frozenset[str]
    regions: frozenset[str] | None  # None: every source Region ("*")
    prices: TokenPrices
    overlay: bool


class PriceTable:
    """The price data, validated when loaded; :meth:`lookup` answers one (model, kind, Region).

    Raises:
        ValueError: at construction, on a price that is not a non-negative decimal or an entry
            without route kinds (a bad file fails when loaded, not at the first call).
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = data.get("version")
        self.source = str(data.get("source") or "")
        self.overlay = data.get("overlay")
        self._unpriced = {str(k): str(v) for k, v in (data.get("unpriced") or {}).items()}
        self._discount: dict[str, bool | None] = {}
        self._entries: dict[str, tuple[_Entry, ...]] = {}
        self._lookups: dict[tuple[str, str, str], TokenPrices | None] = {}
        for model_id, raw in (data.get("models") or {}).items():
            entries = [_entry(model_id, i, p) for i, p in enumerate(raw.get("prices") or ())]
            # Lookup order: overlay before bundled, a named Region before "*".
            entries.sort(key=lambda e: (not e.overlay, e.regions is None))
            self._entries[str(model_id)] = tuple(entries)
            discount = raw.get("global_discount")
            self._discount[str(model_id)] = None if discount is None else bool(discount)

    @classmethod
    def load(cls, overlay: str | os.PathLike[str] | None = None) -> PriceTable:
        """Bundled prices with ``overlay`` (default ``$LANGCHAIN_CRIS_PRICES``) laid over them."""
        path = overlay if overlay is not None else os.environ.get(PRICES_ENV) or None
        return _cached_table(None if path is None else os.fspath(path))

    def models(self) -> frozenset[str]:
        return frozenset(self._entries)

    def lookup(self, model_id: str, kind: PriceKind, source_region: str) -> TokenPrices | None:
        """Prices of ``model_id`` sent as ``kind`` from ``source_region``, or ``None``.

        Remembered per question (the table never changes once loaded; a chat model asks the
        same one on every call).
        """
        key = (model_id, kind, source_region)
        try:
            return self._lookups[key]
        except KeyError:
            pass
        found = None
        for entry in self._entries.get(model_id, ()):
            if kind in entry.kinds and (entry.regions is None or source_region in entry.regions):
                found = entry.prices
                break
        if len(self._lookups) < _LOOKUPS_KEPT:
            self._lookups[key] = found
        return found

    def global_discount(self, model_id: str) -> bool | None:
        """Whether the data says AWS discounts global for this model (``None``: not stated)."""
        return self._discount.get(model_id)

    def why_unpriced(self, model_id: str, kind: PriceKind, source_region: str) -> str:
        """A sentence saying why :meth:`lookup` found nothing."""
        if model_id not in self._entries:
            family = model_id.split(".", 1)[0] + ".*"
            note = self._unpriced.get(model_id) or self._unpriced.get(family)
            detail = f": {note}" if note else ""
            return f"no price data for {model_id}{detail}"
        return f"no {kind} price for {model_id} from {source_region}"


@lru_cache(maxsize=8)
def _cached_table(path: str | None) -> PriceTable:
    return PriceTable(load_prices(path))


def _entry(model_id: str, index: int, raw: Mapping[str, Any]) -> _Entry:
    where = f"price entry {index} of {model_id}"
    kinds = frozenset(str(k) for k in raw.get("route_kinds") or ())
    bad = kinds - set(PRICE_KINDS)
    if not kinds or bad:
        raise ValueError(
            f"{where}: route_kinds must be a non-empty subset of {', '.join(PRICE_KINDS)}"
            + (f" (got {sorted(bad)})" if bad else "")
        )
    regions = raw.get("source_regions", "*")
    region_set = None if regions == "*" else frozenset(str(r) for r in regions)
    return _Entry(kinds, region_set, _prices(where, raw), bool(raw.get("overlay")))


def _prices(where: str, raw: Mapping[str, Any]) -> TokenPrices:
    values: dict[str, Decimal | None] = {}
    for key in TOKEN_TYPES:
        value = raw.get(key)
        if value is None:
            values[key] = None
            continue
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError(f"{where}: {key}={value!r} is not a decimal number") from exc
        if not number.is_finite() or number < 0:
            raise ValueError(f"{where}: {key}={value!r} must be a non-negative number")
        values[key] = number
    long_raw = raw.get("long_context")
    long_prices = _prices(f"{where} long_context", long_raw) if long_raw else None
    return TokenPrices(
        source=str(raw.get("source") or ""),
        long_context_above=int(long_raw["above_input_tokens"]) if long_raw else None,
        long_context=long_prices,
        **values,
    )
