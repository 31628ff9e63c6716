"""Opaque pagination tokens shared by the emulated list APIs.

A token remembers the position (a sequence number or offset) and a fingerprint of the query, so a
token replayed with different filters is rejected as AWS does, instead of silently skipping data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from langchain_cris.emulator.aws_errors import AwsError

__all__ = ["decode_token", "encode_token"]


def encode_token(position: int, fingerprint: str) -> str:
    raw = json.dumps({"p": position, "f": fingerprint}).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: Any, fingerprint: str, error: Callable[[], AwsError]) -> int | None:
    """The position stored in ``token`` (``None`` for no token); ``error()`` if it is invalid."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode("ascii")))
        if data["f"] != fingerprint:
            raise ValueError("token from another query")
        return int(data["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise error() from exc
