"""The audit log's hash chain: what a record's hash is, and how a writer finds its predecessor.

The canonical form is **the exact bytes of the line as written**, without its final ``\\n``:
a record's digest is ``sha256(line).hexdigest()``. Nothing is re-serialised to check a hash,
so the verifier never depends on how a JSON library orders keys or spells numbers, and any
change to a line's bytes (a key reordered, a space added, a Region edited) changes its digest.

Every chained record starts with two keys the sink owns::

    {"seq":41,"prev":"9f2c…(64 hex)","record":"call",…}

* ``seq`` counts records of one chain from 0 (it keeps counting across a rotated log).
* ``prev`` is the digest of the predecessor line: the last line before it that parses as a JSON
  object. The first record of a new chain has ``prev`` = :data:`GENESIS` (64 zeros) and ``seq``
  0; a record after an unchained legacy line chains to that line's digest with ``seq`` 0.

Lines that do not parse (a write torn by a crash and sealed with a newline) are nobody's
predecessor; the writer and :mod:`.verify` apply the same rule through :func:`parse_line`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BOOKKEEPING_RECORDS",
    "CHAIN_KEYS",
    "EMPTY_HEAD",
    "GENESIS",
    "Head",
    "encode_record",
    "find_head",
    "head_of",
    "line_digest",
    "parse_line",
]

GENESIS = "0" * 64
"""``prev`` of the first record of a chain (there is no predecessor)."""

CHAIN_KEYS = ("seq", "prev")
"""Keys the sink writes first in every record; a caller's own values for them are replaced."""

BOOKKEEPING_RECORDS = ("checkpoint", "continuation")
"""``record`` kinds the chain adds (signed checkpoints, the link at the top of a rotated-to
file); readers of calls skip them."""

_TAIL_BLOCK = 64 * 1024


def line_digest(line: bytes) -> str:
    """SHA-256 (hex) of one line's bytes, without the trailing newline."""
    return hashlib.sha256(line).hexdigest()


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The JSON object on this line, or ``None`` (blank, torn, not JSON, not an object)."""
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def encode_record(record: Mapping[str, Any], seq: int, prev: str) -> bytes:
    """The line the sink writes for ``record`` (with its newline): chain keys first.

    Raises:
        TypeError / ValueError: the record is not JSON-serialisable (e.g. circular).
    """
    body: dict[str, Any] = {"seq": seq, "prev": prev}
    body.update((k, v) for k, v in record.items() if k not in CHAIN_KEYS)
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class Head:
    """The newest record of a log: what the next record chains to.

    Attributes:
        seq: Its ``seq``; ``-1`` for an empty log or an unchained legacy line, so the next
            record's ``seq`` is always ``seq + 1``.
        digest: Its :func:`line_digest`; :data:`GENESIS` for an empty log.
        chained: False when the head is an unchained legacy record (or there is none).
    """

    seq: int
    digest: str
    chained: bool

    @property
    def next_seq(self) -> int:
        return self.seq + 1


EMPTY_HEAD = Head(-1, GENESIS, False)


def head_of(line: bytes, record: Mapping[str, Any]) -> Head:
    """The head a parsed line makes (legacy lines restart ``seq`` at 0 for their successor)."""
    seq = record.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and isinstance(record.get("prev"), str):
        return Head(seq, line_digest(line), True)
    return Head(-1, line_digest(line), False)


def _reverse_lines(fd: int, size: int) -> Iterator[bytes]:
    """Lines of an open file from the last to the first (without newlines), read by ``pread``."""
    pos, carry = size, b""
    while pos > 0:
        n = min(_TAIL_BLOCK, pos)
        pos -= n
        parts = (os.pread(fd, n, pos) + carry).split(b"\n")
        carry = parts[0]
        yield from reversed(parts[1:])
    yield carry


def find_head(fd: int, size: int) -> tuple[Head, bool]:
    """The head of the first ``size`` bytes of a readable descriptor, and whether a newline
    must be written before the next record (the file ends inside a torn line).

    Reads backwards block by block, so the cost is the size of the last few lines, not the log.
    """
    if size <= 0:
        return EMPTY_HEAD, False
    needs_newline = os.pread(fd, 1, size - 1) != b"\n"
    for line in _reverse_lines(fd, size):
        record = parse_line(line)
        if record is not None:
            return head_of(line, record), needs_newline
    return EMPTY_HEAD, needs_newline
