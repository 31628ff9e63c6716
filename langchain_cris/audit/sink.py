"""Append-only JSON Lines audit sink that survives ``kill -9`` and concurrent writers.

Why it is built this way:

* Each record is serialised first and written with **one** ``os.write`` on a descriptor opened
  with ``O_APPEND``. On a local POSIX file system (ext4, xfs, apfs …) an ``O_APPEND`` write
  moves the offset and writes the bytes in one step, so lines from several threads or
  processes never interleave. A process killed with ``SIGKILL`` dies either before or after
  the system call, never inside the copy, so a record it wrote is whole. (NFS does not keep
  this promise; keep audit logs on local disk.)
* ``fsync`` after every record (the default) puts the line on disk before the call returns,
  so it survives a machine crash too. ``fsync=False`` trades that for speed (the OS still
  writes it out within seconds, and a killed process loses nothing).
* A thread lock keeps records of one process in call order; ordering between processes is the
  order in which their writes reached the kernel.
* A torn last line (power loss, disk full) is never glued to the next record: opening a sink
  on a file that does not end in a newline writes one first, and :func:`read_audit_log`
  reports and skips any line that does not parse.

Example:
    .. code-block:: python

        from langchain_cris.audit.sink import AuditSink, read_audit_log

        with AuditSink("cris-audit.jsonl") as sink:
            sink.append({"record": "call", "schema": 1, "run_id": "…"})
        log = read_audit_log("cris-audit.jsonl")
        log.records, log.problems
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["AuditLog", "AuditSink", "AuditSinkClosedError", "read_audit_log"]

_FILE_MODE = 0o600  # audit logs name accounts and request ids: owner-only by default


class AuditSinkClosedError(RuntimeError):
    """A record was appended after :meth:`AuditSink.close`."""


class AuditSink:
    """Thread- and process-safe append-only JSONL writer.

    Args:
        path: The log file; created (mode ``0600``) with its parent directory if missing.
        fsync: ``fsync`` after each record (default) so it survives a power loss, not only a
            killed process.

    Example:
        .. code-block:: python

            sink = AuditSink("cris-audit.jsonl")
            sink.append({"record": "call", "schema": 1})
            sink.close()
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(self.path, flags, _FILE_MODE)
        self._seal_torn_tail()
        #: Records this sink has written (and fsynced, when ``fsync`` is on).
        self.written = 0

    def _seal_torn_tail(self) -> None:
        # A line torn by an earlier crash must not swallow our first record.
        assert self._fd is not None
        try:
            with open(self.path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell() == 0:
                    return
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) == b"\n":
                    return
        except OSError:
            return
        os.write(self._fd, b"\n")

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as one line, atomically; ``fsync`` it when configured.

        Raises:
            AuditSinkClosedError: the sink was closed.
            TypeError: the record is not JSON-serialisable (nothing is written).
            OSError: the disk refused the write (e.g. full).
        """
        line = (
            json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str) + "\n"
        ).encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise AuditSinkClosedError(f"audit sink {self.path} is closed")
            written = os.write(self._fd, line)
            while written < len(line):  # only on a full disk or a signal; finish the line
                written += os.write(self._fd, line[written:])
            if self.fsync:
                os.fsync(self._fd)
            self.written += 1

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> AuditSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditSink({str(self.path)!r}, fsync={self.fsync})"


@dataclass
class AuditLog:
    """What :func:`read_audit_log` found.

    Attributes:
        records: Every complete, parseable record, in file order.
        problems: ``(line number, reason)`` for each skipped line.
        torn_tail: True when the file ends in a partial line (a write cut short by a crash).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    torn_tail: bool = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def read_audit_log(path: str | os.PathLike[str]) -> AuditLog:
    """Read every intact record of an audit log, reporting (not raising on) damaged lines.

    Raises:
        FileNotFoundError: the log does not exist.
    """
    log = AuditLog()
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            log.problems.append((number, f"not valid JSON: {exc}"))
            continue
        if not isinstance(record, dict):
            log.problems.append((number, "not a JSON object"))
            continue
        log.records.append(record)
    if tail.strip():
        log.torn_tail = True
        log.problems.append((len(lines) + 1, "partial last line (write cut short); skipped"))
    return log
