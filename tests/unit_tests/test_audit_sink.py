"""The JSONL audit sink: one whole line per record, across threads, processes and SIGKILL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from langchain_cris.audit.sink import AuditSink, AuditSinkClosedError, read_audit_log
from langchain_cris.audit.verify import verify_logs

REPO = Path(__file__).resolve().parents[2]


def test_append_and_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "audit.jsonl"
    with AuditSink(path) as sink:
        for i in range(5):
            sink.append({"record": "call", "n": i, "text": "é"})
        assert sink.written == 5
    log = read_audit_log(path)
    assert [r["n"] for r in log.records] == [0, 1, 2, 3, 4]
    assert log.records[0]["text"] == "é"
    assert not log.problems and not log.torn_tail
    assert path.read_bytes().count(b"\n") == 5


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_new_log_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditSink(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unserialisable_record_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    circular: dict[str, object] = {}
    circular["me"] = circular
    with AuditSink(path) as sink:
        sink.append({"ok": 1, "odd": {1, 2}})  # odd values are stringified, not fatal
        with pytest.raises(ValueError, match="Circular"):
            sink.append(circular)
        assert sink.written == 1
    log = read_audit_log(path)
    assert log.records == [{"seq": 0, "prev": "0" * 64, "ok": 1, "odd": "{1, 2}"}]


def test_append_after_close_raises(tmp_path: Path) -> None:
    sink = AuditSink(tmp_path / "a.jsonl")
    sink.close()
    sink.close()  # idempotent
    assert sink.closed
    with pytest.raises(AuditSinkClosedError, match="closed"):
        sink.append({"x": 1})


def test_torn_tail_is_reported_and_sealed(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2, "cut')
    log = read_audit_log(path)
    assert [r["n"] for r in log.records] == [1]
    assert log.torn_tail
    assert log.problems == [(2, "partial last line (write cut short); skipped")]
    # A new writer must not glue its record onto the torn fragment.
    with AuditSink(path) as sink:
        sink.append({"n": 3})
    log = read_audit_log(path)
    assert [r["n"] for r in log.records] == [1, 3]
    assert not log.torn_tail
    assert [line for line, _ in log.problems] == [2]


def test_garbage_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"n": 1}\nnot json\n[1, 2]\n\n{"n": 2}\n')
    log = read_audit_log(path)
    assert [r["n"] for r in log.records] == [1, 2]
    assert [line for line, _ in log.problems] == [2, 3]


def test_threads_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = AuditSink(path, fsync=False)
    blob = "x" * 5000  # far above a pipe's atomic size; a regular file must still not tear

    def writer(tid: int) -> None:
        for i in range(100):
            sink.append({"t": tid, "i": i, "blob": blob})

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    log = read_audit_log(path)
    assert not log.problems
    assert len(log.records) == 800
    for tid in range(8):  # per-thread order is preserved
        assert [r["i"] for r in log.records if r["t"] == tid] == list(range(100))


_WRITER = textwrap.dedent(
    """
    import sys
    from langchain_cris.audit.sink import AuditSink
    path, tag, count, fsync = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    blob = "y" * 3000
    with AuditSink(path, fsync=fsync) as sink:
        i = 0
        while count < 0 or i < count:
            sink.append({"p": tag, "i": i, "blob": blob})
            i += 1
            # Report only after append() returned: this record is on disk.
            sys.stdout.write(f"{i}\\n")
            sys.stdout.flush()
    """
)


def _spawn(path: Path, tag: str, count: int, fsync: bool) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), tag, str(count), "1" if fsync else "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    procs = [_spawn(path, f"p{n}", 300, fsync=False) for n in range(4)]
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    log = read_audit_log(path)
    assert not log.problems
    assert len(log.records) == 1200
    for n in range(4):
        assert [r["i"] for r in log.records if r["p"] == f"p{n}"] == list(range(300))
    # ... and the four writers agreed on every predecessor: one unbroken chain.
    chain = verify_logs([path])
    assert chain.intact, chain.findings[:3]
    assert chain.head_seq == 1199


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_sigkill_mid_run_loses_no_acknowledged_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    proc = _spawn(path, "k", -1, fsync=True)
    assert proc.stdout is not None
    acknowledged = 0
    deadline = time.monotonic() + 30
    while acknowledged < 50 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged = int(line)
    proc.send_signal(signal.SIGKILL)  # mid-run: the writer is appending as fast as it can
    proc.wait(timeout=30)
    # Read the rest through the same buffered reader: communicate(timeout=…) reads the raw pipe
    # and would miss acknowledgements readline() had already buffered.
    rest = proc.stdout.read()
    acknowledged = max([acknowledged, *(int(x) for x in rest.split())])
    assert proc.returncode == -signal.SIGKILL
    assert acknowledged >= 50
    log = read_audit_log(path)
    # Every complete line parses, and every record the writer acknowledged is there, intact.
    assert not [p for p in log.problems if "partial" not in p[1]]
    indices = [r["i"] for r in log.records]
    assert indices == list(range(len(indices)))
    assert len(indices) >= acknowledged
    assert len(indices) <= acknowledged + 1  # at most the one in flight when killed
    assert all(r["blob"] == "y" * 3000 for r in log.records)
    # The chain of what was acknowledged is whole; at worst the kill shows as a torn tail.
    chain = verify_logs([path])
    assert {f.kind for f in chain.findings} <= {"torn_tail"}
    assert chain.head_seq == len(indices) - 1
    # A restarted writer continues the chain after the torn write.
    with AuditSink(path, fsync=False) as sink:
        sink.append({"p": "k", "i": len(indices), "blob": ""})
    after = verify_logs([path])
    assert {f.kind for f in after.findings} <= {"unreadable"}
    assert after.head_seq == len(indices)
