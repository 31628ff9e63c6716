"""The sink's hash chain: restarts, threads, processes, rotation and torn lines, checked by the
verifier from the file's bytes (not from the sink's own idea of what it wrote)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from langchain_cris.audit._jsonstream import detect_input_kind
from langchain_cris.audit.chain import GENESIS, find_head
from langchain_cris.audit.checkpoints import CheckpointSigner, CheckpointVerifier
from langchain_cris.audit.sink import AuditSink, read_audit_log
from langchain_cris.audit.verify import verify_logs

REPO = Path(__file__).resolve().parents[3]
KEY = b"k" * 32
FIXED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_every_record_carries_seq_and_the_hash_of_the_line_before(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditSink(path, fsync=False) as sink:
        for i in range(4):
            sink.append({"record": "call", "i": i, "seq": 99, "prev": "forged"})
    lines = _lines(path)
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [0, 1, 2, 3]
    assert records[0]["prev"] == GENESIS
    for before, record in zip(lines, records[1:], strict=False):
        assert record["prev"] == hashlib.sha256(before).hexdigest()
    assert lines[0].startswith(b'{"seq":0,"prev":"')  # chain keys first, the sink's values
    assert verify_logs([path]).intact


def test_chain_continues_across_restarts_and_sinks_of_one_process(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditSink(path, fsync=False) as sink:
        sink.append({"n": 0})
    a, b = AuditSink(path, fsync=False), AuditSink(path, fsync=False)
    a.append({"n": 1})
    b.append({"n": 2})  # b never wrote before: it must read a's record as its predecessor
    a.append({"n": 3})  # a's cached head is stale now: it must notice b's write
    a.close()
    b.close()
    res = verify_logs([path])
    assert res.intact, res.findings
    assert res.head_seq == 3
    assert [r["n"] for r in read_audit_log(path).records] == [0, 1, 2, 3]


def test_threads_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sinks = [AuditSink(path, fsync=False) for _ in range(2)]

    def writer(tid: int) -> None:
        for i in range(150):
            sinks[tid % 2].append({"t": tid, "i": i})

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sink in sinks:
        sink.close()
    res = verify_logs([path])
    assert res.intact, res.findings[:3]
    assert res.chained == 900


_WRITER = textwrap.dedent(
    """
    import sys
    from langchain_cris.audit.sink import AuditSink
    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with AuditSink(path, fsync=False) as sink:
        for i in range(count):
            sink.append({"p": tag, "i": i, "blob": "z" * 2000})
    """
)


def test_processes_agree_on_the_predecessor(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"p{n}", "250"], env=env)
        for n in range(4)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    res = verify_logs([path])
    assert res.intact, res.findings[:3]
    assert res.chained == 1000
    assert res.head_seq == 999


def test_torn_tail_is_sealed_and_skipped_by_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditSink(path, fsync=False) as sink:
        sink.append({"n": 1})
    with path.open("ab") as fh:
        fh.write(b'{"seq":1,"prev":"00')  # a write cut short
    torn = verify_logs([path])
    assert [f.kind for f in torn.findings] == ["torn_tail"]
    assert torn.findings[0].line == 2
    with AuditSink(path, fsync=False) as sink:
        sink.append({"n": 2})
    res = verify_logs([path])
    # The fragment is now a sealed, unreadable line; the chain skips it and stays whole.
    assert [(f.kind, f.line) for f in res.findings] == [("unreadable", 2)]
    assert res.head_seq == 1
    assert json.loads(_lines(path)[2])["prev"] == hashlib.sha256(_lines(path)[0]).hexdigest()


def test_legacy_log_is_continued_and_reported_unchained(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"record": "call", "n": 0}\n{"record": "call", "n": 1}\n')
    with AuditSink(path, fsync=False) as sink:
        sink.append({"record": "call", "n": 2})
    first_chained = json.loads(_lines(path)[2])
    assert first_chained["seq"] == 0
    assert first_chained["prev"] == hashlib.sha256(_lines(path)[1]).hexdigest()
    res = verify_logs([path])
    assert [(f.kind, f.line) for f in res.findings] == [("unchained", 1)]
    assert res.unchained == 2 and res.chained == 1
    assert read_audit_log(path).unchained == 2


def test_rotation_links_the_new_file_to_the_old_head(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    other = AuditSink(path, fsync=False)  # another writer with the old file open
    with AuditSink(path, fsync=False, clock=lambda: FIXED) as sink:
        for i in range(3):
            sink.append({"i": i})
        rotated = sink.rotate()
        assert rotated == tmp_path / "audit.jsonl.2"
        sink.append({"i": 3})
    other.append({"i": 4})  # must follow the name into the new file, not the rotated one
    other.close()
    assert len(_lines(rotated)) == 3
    link = json.loads(_lines(path)[0])
    assert link["record"] == "continuation"
    assert link["previous_file"] == "audit.jsonl.2"
    assert link["previous_seq"] == 2 and link["seq"] == 3
    assert link["previous_head"] == hashlib.sha256(_lines(rotated)[-1]).hexdigest()
    assert link["ts"] == "2026-11-26T12:00:00.000Z"
    both = verify_logs([rotated, path])
    assert both.intact, both.findings
    assert both.head_seq == 5
    alone = verify_logs([path])
    assert alone.intact and alone.continues_from == "audit.jsonl.2"
    assert not list(tmp_path.glob(".audit.jsonl.rotating-*"))
    assert detect_input_kind(path) == "audit_log"  # it starts with the continuation record
    with pytest.raises(FileExistsError):
        AuditSink(path).rotate(rotated)


def test_checkpoints_every_n_and_on_close_in_the_log_and_a_second_file(tmp_path: Path) -> None:
    path, anchors = tmp_path / "audit.jsonl", tmp_path / "anchors" / "cp.jsonl"
    signer = CheckpointSigner(hmac_key=KEY)
    with AuditSink(path, signer=signer, checkpoint_every=2, checkpoints=anchors) as sink:
        for i in range(5):
            sink.append({"i": i})
        assert sink.written == 5
    kinds = [json.loads(line).get("record") for line in _lines(path)]
    assert kinds.count("checkpoint") == 3  # after 2, after 4, and on close
    assert kinds[-1] == "checkpoint"
    assert KEY.decode() not in path.read_text() + anchors.read_text()
    res = verify_logs([path], verifier=CheckpointVerifier(hmac_key=KEY), checkpoints=anchors)
    assert res.intact, res.findings
    assert res.anchored_seq == res.head_seq == 7
    assert res.external_checkpoints == 3
    head_fd = os.open(path, os.O_RDONLY)
    try:
        head, torn = find_head(head_fd, path.stat().st_size)
    finally:
        os.close(head_fd)
    assert (head.seq, head.digest, torn) == (7, res.head_digest, False)


def test_checkpoints_need_a_signer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="signer"):
        AuditSink(tmp_path / "a.jsonl", checkpoints=tmp_path / "cp.jsonl")
    with pytest.raises(ValueError, match="checkpoint_every"):
        AuditSink(tmp_path / "a.jsonl", checkpoint_every=0)
    with pytest.raises(ValueError, match="no signer"):
        AuditSink(tmp_path / "a.jsonl").checkpoint()
    assert "k" * 16 not in repr(CheckpointSigner(hmac_key=KEY))


def test_callback_handler_writes_through_a_signing_sink(tmp_path: Path) -> None:
    from langchain_cris.tracing.handler import CRISCallbackHandler
    from tests.unit_tests.test_callbacks_fakes import FakeCRISChatModel

    path = tmp_path / "audit.jsonl"
    sink = AuditSink(path, fsync=False, signer=CheckpointSigner(hmac_key=KEY))
    with CRISCallbackHandler(audit_path=sink) as handler:
        FakeCRISChatModel().invoke("hello", config={"callbacks": [handler]})
    assert sink.closed
    res = verify_logs([path], verifier=CheckpointVerifier(hmac_key=KEY))
    assert res.intact, res.findings
    assert res.chained == 2 and res.checkpoints == 1  # the call and the closing checkpoint
