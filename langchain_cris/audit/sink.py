"""Append-only, hash-chained JSON Lines audit sink that survives ``kill -9`` and concurrent writers.

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
* **Hash chain** (:mod:`.chain`): every record starts with ``seq`` and ``prev``, the SHA-256 of
  the exact bytes of the line before it. Writers agree on the predecessor by holding an
  exclusive ``flock`` on the log across "read the tail, append, fsync": the lock is per open
  file, so it orders threads, several sinks of one process and other processes alike. A sink
  remembers the size and head it left behind, so while nobody else writes, an append reads
  nothing back; otherwise it reads the last line(s) with ``pread``. The chain therefore
  continues across restarts with no state outside the log.
* **Rotation** (:meth:`AuditSink.rotate`): the full log is hard-linked to its rotated name and a
  new file, whose first record (``"record":"continuation"``) names the rotated file and its head
  digest, is renamed into place, all under the lock, so the path always exists and no record
  lands in the old file afterwards (each append checks that its descriptor is still the file at
  ``path`` and reopens it when the log was rotated by another writer).
* **Checkpoints** (:mod:`.checkpoints`): with a ``signer``, every ``checkpoint_every`` records,
  on :meth:`rotate` and on :meth:`close`, a signed checkpoint record is appended, and copied to a
  second file when ``checkpoints=`` is given.
* A torn last line (power loss, disk full) is never glued to the next record: the next append
  writes a newline first, the torn fragment is nobody's predecessor, and
  :func:`read_audit_log` reports and skips any line that does not parse.

Without ``fcntl`` (Windows) only the thread lock orders writers: use one writing process there.

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_cris.audit.chain import (
    EMPTY_HEAD,
    Head,
    encode_record,
    find_head,
    line_digest,
    parse_line,
)
from langchain_cris.audit.checkpoints import CheckpointSigner

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["AuditLog", "AuditSink", "AuditSinkClosedError", "read_audit_log"]

_FILE_MODE = 0o600  # audit logs name accounts and request ids: owner-only by default
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
DEFAULT_CHECKPOINT_EVERY = 1000
_SCHEMA = 1


class AuditSinkClosedError(RuntimeError):
    """A record was appended after :meth:`AuditSink.close`."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _format_ts(when: datetime) -> str:
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):  # only on a full disk or a signal; finish the line
        written += os.write(fd, data[written:])


class AuditSink:
    """Thread- and process-safe append-only JSONL writer whose records form a hash chain.

    Args:
        path: The log file; created (mode ``0600``) with its parent directory if missing.
        fsync: ``fsync`` after each record (default) so it survives a power loss, not only a
            killed process.
        signer: Sign checkpoints with this key (HMAC and/or Ed25519); ``None``: no checkpoints.
        checkpoint_every: Write a checkpoint after this many records of this sink (and on
            :meth:`rotate` / :meth:`close`).
        checkpoints: Also append every checkpoint to this file (keep it somewhere the log's
            writers cannot rewrite: it is what shows a truncated log).
        clock: "Now" for checkpoint and continuation timestamps (default: the UTC wall clock).

    Example:
        .. code-block:: python

            sink = AuditSink("cris-audit.jsonl")
            sink.append({"record": "call", "schema": 1})
            sink.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        signer: CheckpointSigner | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoints: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be 1 or more, not {checkpoint_every}")
        if checkpoints is not None and signer is None:
            raise ValueError("checkpoints= needs a signer: an unsigned checkpoint proves nothing")
        self.path = Path(path)
        self.fsync = fsync
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.checkpoints_path = Path(checkpoints) if checkpoints is not None else None
        self._clock = clock or _utc_now
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, _OPEN_FLAGS, _FILE_MODE)
        self._cp_fd: int | None = None
        if self.checkpoints_path is not None:
            self.checkpoints_path.parent.mkdir(parents=True, exist_ok=True)
            self._cp_fd = os.open(self.checkpoints_path, _OPEN_FLAGS, _FILE_MODE)
        # (st_dev, st_ino, size) of the log right after our last write, and its head then.
        self._known: tuple[int, int, int] | None = None
        self._head: Head = EMPTY_HEAD
        self._since_checkpoint = 0
        #: Records this sink has written (and fsynced, when ``fsync`` is on); checkpoints and
        #: continuation records are not counted.
        self.written = 0

    # -- the locked section -------------------------------------------------------------
    def _acquire(self) -> tuple[int, os.stat_result]:
        """Lock the file that is at ``path`` now (following a rotation by anyone)."""
        while True:
            assert self._fd is not None
            fd = self._fd
            _lock(fd)
            st = os.fstat(fd)
            try:
                at_path = os.stat(self.path)
            except FileNotFoundError:
                at_path = None
            if at_path is not None and (at_path.st_dev, at_path.st_ino) == (st.st_dev, st.st_ino):
                return fd, st
            # Rotated (or removed) under us: never write into the old file; follow the name.
            _unlock(fd)
            os.close(fd)
            self._fd = os.open(self.path, _OPEN_FLAGS, _FILE_MODE)
            self._known = None

    def _current_head(self, fd: int, st: os.stat_result) -> tuple[Head, bool]:
        if self._known == (st.st_dev, st.st_ino, st.st_size):
            return self._head, False  # nobody wrote since we did: no read needed
        return find_head(fd, st.st_size)

    def _write_locked(self, fd: int, st: os.stat_result, data: bytes, head: Head) -> None:
        _write_all(fd, data)
        if self.fsync:
            os.fsync(fd)
        self._head = head
        self._known = (st.st_dev, st.st_ino, st.st_size + len(data))

    def _append_locked(self, fd: int, record: Mapping[str, Any]) -> os.stat_result:
        st = os.fstat(fd)
        head, needs_newline = self._current_head(fd, st)
        line = encode_record(record, head.next_seq, head.digest)
        data = b"\n" + line if needs_newline else line
        self._write_locked(fd, st, data, Head(head.next_seq, line_digest(line[:-1]), True))
        return st

    def _checkpoint_locked(self, fd: int) -> None:
        assert self.signer is not None
        st = os.fstat(fd)
        head, _ = self._current_head(fd, st)
        ts = _format_ts(self._clock())
        body: dict[str, Any] = {
            "seq": head.next_seq,
            "prev": head.digest,
            "record": "checkpoint",
            "schema": _SCHEMA,
            "ts": ts,
            "file": self.path.name,
        }
        self._append_locked(fd, self.signer.sign(body))
        self._since_checkpoint = 0
        if self._cp_fd is not None:
            anchor = {
                "record": "checkpoint",
                "schema": _SCHEMA,
                "ts": ts,
                "file": self.path.name,
                "seq": self._head.seq,
                "head": self._head.digest,
            }
            text = json.dumps(self.signer.sign(anchor), separators=(",", ":"))
            _write_all(self._cp_fd, (text + "\n").encode("utf-8"))
            if self.fsync:
                os.fsync(self._cp_fd)

    # -- public API ---------------------------------------------------------------------
    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as one line, chained to the log's head, atomically.

        ``seq`` and ``prev`` are the sink's: values of those keys in ``record`` are replaced.

        Raises:
            AuditSinkClosedError: the sink was closed.
            TypeError / ValueError: the record is not JSON-serialisable (nothing is written).
            OSError: the disk refused the write (e.g. full).
        """
        with self._lock:
            if self._fd is None:
                raise AuditSinkClosedError(f"audit sink {self.path} is closed")
            fd, _ = self._acquire()
            try:
                self._append_locked(fd, record)
                self.written += 1
                self._since_checkpoint += 1
                if self.signer is not None and self._since_checkpoint >= self.checkpoint_every:
                    self._checkpoint_locked(fd)
            finally:
                _unlock(fd)

    def checkpoint(self) -> None:
        """Write a signed checkpoint now (e.g. before copying the log away).

        Raises:
            ValueError: the sink has no ``signer``.
            AuditSinkClosedError: the sink was closed.
        """
        if self.signer is None:
            raise ValueError("this sink has no signer; pass signer=CheckpointSigner(...)")
        with self._lock:
            if self._fd is None:
                raise AuditSinkClosedError(f"audit sink {self.path} is closed")
            fd, _ = self._acquire()
            try:
                self._checkpoint_locked(fd)
            finally:
                _unlock(fd)

    def rotate(self, to: str | os.PathLike[str] | None = None) -> Path:
        """Move the current log to ``to`` and continue the chain in a fresh file at ``path``.

        The new file's first record is a ``continuation`` naming the rotated file, its last
        ``seq`` and head digest, so a verifier given both files checks the link. The default
        name is ``<path>.<last seq>``; a checkpoint is written first when the sink signs.

        Returns:
            Where the rotated log now is.

        Raises:
            FileExistsError: ``to`` exists already.
        """
        with self._lock:
            if self._fd is None:
                raise AuditSinkClosedError(f"audit sink {self.path} is closed")
            fd, st = self._acquire()
            try:
                if self.signer is not None:
                    self._checkpoint_locked(fd)
                    st = os.fstat(fd)
                head, _ = self._current_head(fd, st)
                target = (
                    Path(to)
                    if to is not None
                    else self.path.with_name(f"{self.path.name}.{head.seq}")
                )
                if target.exists():
                    raise FileExistsError(f"cannot rotate {self.path} to {target}: it exists")
                tmp = self.path.with_name(f".{self.path.name}.rotating-{os.getpid()}")
                new_fd = os.open(tmp, _OPEN_FLAGS | os.O_EXCL, _FILE_MODE)
                try:
                    _lock(new_fd)
                    link = {
                        "record": "continuation",
                        "schema": _SCHEMA,
                        "ts": _format_ts(self._clock()),
                        "previous_file": target.name,
                        "previous_seq": head.seq,
                        "previous_head": head.digest,
                    }
                    line = encode_record(link, head.next_seq, head.digest)
                    _write_all(new_fd, line)
                    os.fsync(new_fd)
                    os.link(self.path, target)  # the full log keeps existing under its new name
                    os.replace(tmp, self.path)  # and the path always names a log
                    _fsync_dir(self.path.parent)
                except BaseException:
                    _unlock(new_fd)
                    os.close(new_fd)
                    tmp.unlink(missing_ok=True)
                    raise
            finally:
                _unlock(fd)
            os.close(fd)
            self._fd = new_fd
            new_st = os.fstat(new_fd)
            self._head = Head(head.next_seq, line_digest(line[:-1]), True)
            self._known = (new_st.st_dev, new_st.st_ino, new_st.st_size)
            _unlock(new_fd)
            return target

    def close(self) -> None:
        """Write the closing checkpoint (when signing) and close the file (idempotent)."""
        with self._lock:
            if self._fd is None:
                return
            try:
                if self.signer is not None and self._since_checkpoint:
                    fd, _ = self._acquire()
                    try:
                        self._checkpoint_locked(fd)
                    finally:
                        _unlock(fd)
            finally:
                os.close(self._fd)
                self._fd = None
                if self._cp_fd is not None:
                    os.close(self._cp_fd)
                    self._cp_fd = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def head(self) -> Head:
        """The log's head as this sink last saw it (after its own last write)."""
        return self._head

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
        signed = f", signer={self.signer!r}" if self.signer is not None else ""
        return f"AuditSink({str(self.path)!r}, fsync={self.fsync}{signed})"


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


@dataclass
class AuditLog:
    """What :func:`read_audit_log` found.

    Attributes:
        records: Every complete, parseable record, in file order (chained records keep their
            ``seq``/``prev``; ``checkpoint`` and ``continuation`` records are included).
        problems: ``(line number, reason)`` for each skipped line.
        torn_tail: True when the file ends in a partial line (a write cut short by a crash).
        unchained: How many records carry no ``seq``/``prev`` (written before the chain
            existed); ``langchain-cris verify`` reports them as unverified.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    torn_tail: bool = False
    unchained: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def read_audit_log(path: str | os.PathLike[str]) -> AuditLog:
    """Read every intact record of an audit log, reporting (not raising on) damaged lines.

    This reads; it does not verify the chain (that is :func:`~.verify.verify_logs`).

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
        record = parse_line(raw)
        if record is None:
            try:
                json.loads(raw)
            except ValueError as exc:
                log.problems.append((number, f"not valid JSON: {exc}"))
            else:
                log.problems.append((number, "not a JSON object"))
            continue
        if "seq" not in record and "prev" not in record:
            log.unchained += 1
        log.records.append(record)
    if tail.strip():
        log.torn_tail = True
        log.problems.append((len(lines) + 1, "partial last line (write cut short); skipped"))
    return log
