"""The bundled AWS facts (this folder's JSON files) and their one cached loader.

Like botocore's loader, it searches a user override directory first
(``LANGCHAIN_CRIS_DATA_DIR``) and then the bundled files, so a refreshed snapshot can be dropped
in without a release. Every file carries ``version``, ``source`` and ``retrieved`` keys.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["DATA_DIR_ENV", "PRICES_ENV", "load_data_file", "load_prices", "model_providers"]

DATA_DIR_ENV = "LANGCHAIN_CRIS_DATA_DIR"
PRICES_ENV = "LANGCHAIN_CRIS_PRICES"
_REQUIRED_KEYS = ("version", "source", "retrieved")


@cache
def load_data_file(name: str) -> dict[str, Any]:
    """Return the parsed JSON data file ``name`` (e.g. ``"profiles.json"``).

    Raises:
        ValueError: if the file lacks the ``version``/``source``/``retrieved`` header, so a bad
            snapshot fails at load time rather than at the first call that uses it.
    """
    override = os.environ.get(DATA_DIR_ENV)
    if override and (Path(override) / name).is_file():
        text = (Path(override) / name).read_text(encoding="utf-8")
    else:
        text = resources.files("langchain_cris.data").joinpath(name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"data file {name} lacks required keys: {', '.join(missing)}")
    return data


@cache
def model_providers() -> frozenset[str]:
    """Model-id provider prefixes (``anthropic`` in ``anthropic.claude-…``), from ``models.json``.

    A model id whose first dotted part is one of these is a base model; one whose first part is
    a geography prefix is a system inference profile.
    """
    return frozenset(str(p) for p in load_data_file("models.json")["providers"])


def load_prices(overlay: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The bundled ``prices.json`` with a user's price file laid over it (negotiated prices).

    ``overlay`` defaults to ``$LANGCHAIN_CRIS_PRICES``. The overlay has the bundled file's shape
    (``version``/``source``/``retrieved`` and ``models``); its price entries come first for
    their model (so they win, see :mod:`langchain_cris.pricing`), each tagged with the
    overlay's ``source``. Not cached: the caller (``pricing.PriceTable``) caches per path.

    Raises:
        ValueError: the overlay file is missing, not JSON or lacks the header keys.
    """
    base = load_data_file("prices.json")
    path = overlay if overlay is not None else os.environ.get(PRICES_ENV) or None
    if path is None:
        return base
    try:
        extra: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"price overlay {path}: {exc}") from exc
    missing = [k for k in _REQUIRED_KEYS if k not in extra] if isinstance(extra, dict) else []
    if not isinstance(extra, dict) or missing or not isinstance(extra.get("models"), dict):
        raise ValueError(
            f"price overlay {path} must be a JSON object with {', '.join(_REQUIRED_KEYS)} and "
            f"'models' (missing: {', '.join(missing) or 'models'})"
        )
    models = {k: dict(v) for k, v in base["models"].items()}
    for model_id, entry in extra["models"].items():
        merged = dict(models.get(model_id, {}))
        merged.update({k: v for k, v in entry.items() if k != "prices"})
        own = [{"source": extra["source"], **p, "overlay": True} for p in entry.get("prices", [])]
        merged["prices"] = [*own, *merged.get("prices", [])]
        models[model_id] = merged
    return {**base, "models": models, "overlay": {"path": str(path), "source": extra["source"]}}
