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

__all__ = ["DATA_DIR_ENV", "load_data_file", "model_providers"]

DATA_DIR_ENV = "LANGCHAIN_CRIS_DATA_DIR"
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
