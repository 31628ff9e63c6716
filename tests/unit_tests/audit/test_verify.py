"""``verify_logs`` and ``langchain-cris verify``: every kind of damage named at its first line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_cris.audit.checkpoints import (
    CheckpointKeyError,
    CheckpointSigner,
    CheckpointVerifier,
    load_hmac_key,
)
from langchain_cris.audit.sink import AuditSink
from langchain_cris.audit.verify import VerifyInputError, verify_logs
from langchain_cris.cli import main

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def signed_log(tmp_path: Path) -> tuple[Path, Path]:
    """Ten calls, a checkpoint every four records and on close, anchors in a second file."""
    path, anchors = tmp_path / "audit.jsonl", tmp_path / "anchors.jsonl"
    signer = CheckpointSigner(hmac_key=KEY)
    with AuditSink(path, fsync=False, signer=signer, checkpoint_every=4, checkpoints=anchors) as s:
        for i in range(10):
            s.append({"record": "call", "schema": 1, "i": i, "served_region": "eu-west-1"})
    return path, anchors


def _rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _kinds(res: object) -> list[tuple[str, int]]:
    return [(f.kind, f.line) for f in res.findings]  # type: ignore[attr-defined]


def test_intact_signed_log(signed_log: tuple[Path, Path]) -> None:
    path, anchors = signed_log
    res = verify_logs([path], verifier=CheckpointVerifier(hmac_key=KEY), checkpoints=anchors)
    assert res.intact
    assert res.chained == 13 and res.checkpoints == 3  # 10 calls + 3 checkpoints
    assert res.signatures == "verified"
    assert res.unanchored_records == 0


def test_edited_line_is_named(signed_log: tuple[Path, Path]) -> None:
    path, _ = signed_log
    lines = path.read_bytes().splitlines()
    lines[2] = lines[2].replace(b"eu-west-1", b"us-east-1")
    _rewrite(path, lines)
    res = verify_logs([path])
    assert _kinds(res) == [("edited", 3)]
    assert "line 4" in res.findings[0].detail


def test_deleted_record_is_missing(signed_log: tuple[Path, Path]) -> None:
    path, _ = signed_log
    lines = path.read_bytes().splitlines()
    del lines[6]
    _rewrite(path, lines)
    res = verify_logs([path])
    assert _kinds(res) == [("missing", 7)]
    assert "seq 6 absent" in res.findings[0].detail


def test_swapped_records_are_reordered(signed_log: tuple[Path, Path]) -> None:
    path, _ = signed_log
    lines = path.read_bytes().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    _rewrite(path, lines)
    res = verify_logs([path])
    assert res.findings[0].kind == "reordered"
    assert res.findings[0].line == 2
    assert "missing" not in [k for k, _ in _kinds(res)]


def test_front_truncation_is_missing(signed_log: tuple[Path, Path]) -> None:
    path, _ = signed_log
    _rewrite(path, path.read_bytes().splitlines()[3:])
    assert _kinds(verify_logs([path])) == [("missing", 1)]


def test_tail_truncation_shows_only_against_an_outside_anchor(
    signed_log: tuple[Path, Path],
) -> None:
    path, anchors = signed_log
    lines = path.read_bytes().splitlines()
    _rewrite(path, lines[:9])  # cut the last four records: the log alone looks whole
    verifier = CheckpointVerifier(hmac_key=KEY)
    assert verify_logs([path], verifier=verifier).intact
    res = verify_logs([path], verifier=verifier, checkpoints=anchors)
    assert _kinds(res) == [("truncated", 10)]
    assert "seq 12" in res.findings[0].detail and "ends at seq 8" in res.findings[0].detail
    assert json.loads(lines[-1])["seq"] == 12
    assert _kinds(verify_logs([path], expect_head=(12, "a" * 64))) == [("truncated", 10)]


def test_a_rewritten_chain_fails_its_signatures(signed_log: tuple[Path, Path]) -> None:
    """Whoever lacks the key can recompute every hash, but not a checkpoint's HMAC."""
    path, _ = signed_log
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    records[1]["served_region"] = "us-east-1"
    forged = AuditSink(path.with_name("forged.jsonl"), fsync=False)
    for record in records:
        forged.append(record)  # the sink re-chains every record: the hashes all match
    forged.close()
    res = verify_logs([forged.path], verifier=CheckpointVerifier(hmac_key=KEY))
    assert [k for k, _ in _kinds(res)] == ["bad_signature"] * 3 + ["unanchored"]
    assert verify_logs([forged.path]).intact  # without the key the forgery is invisible


def test_wrong_key_and_unchecked_signatures(signed_log: tuple[Path, Path]) -> None:
    path, _ = signed_log
    res = verify_logs([path], verifier=CheckpointVerifier(hmac_key=b"x" * 32))
    assert [k for k, _ in _kinds(res)] == ["bad_signature"] * 3 + ["unanchored"]
    assert verify_logs([path]).signatures == "not checked"


def test_ed25519_checkpoints(tmp_path: Path) -> None:
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    private = ed25519.Ed25519PrivateKey.generate()
    key_file, pub_file = tmp_path / "key.pem", tmp_path / "pub.pem"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    path = tmp_path / "audit.jsonl"
    with AuditSink(path, fsync=False, signer=CheckpointSigner.from_ed25519_file(key_file)) as s:
        s.append({"record": "call"})
    verifier = CheckpointVerifier.from_public_key_file(pub_file)
    assert verify_logs([path], verifier=verifier).intact
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    res = verify_logs([path], verifier=CheckpointVerifier(ed25519_public_key=other))
    assert res.findings[0].kind == "bad_signature"
    assert main(["verify", str(path), "--public-key", str(pub_file)]) == 0
    with pytest.raises(CheckpointKeyError, match=r"not Ed25519|cannot read"):
        CheckpointVerifier.from_public_key_file(path)


def test_key_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key").write_bytes(KEY + b"\n")
    assert load_hmac_key(path=tmp_path / "key") == KEY
    monkeypatch.setenv("CRIS_TEST_KEY", KEY.decode())
    assert load_hmac_key(env="CRIS_TEST_KEY") == KEY
    with pytest.raises(CheckpointKeyError, match="at least 16"):
        monkeypatch.setenv("CRIS_TEST_KEY", "short")
        load_hmac_key(env="CRIS_TEST_KEY")
    with pytest.raises(CheckpointKeyError, match="not set"):
        load_hmac_key(env="CRIS_TEST_NOPE")
    with pytest.raises(CheckpointKeyError, match="exactly one"):
        load_hmac_key()


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(VerifyInputError, match="no such audit log"):
        verify_logs([tmp_path / "nope.jsonl"])


def test_cli_exit_codes_and_output(
    signed_log: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, anchors = signed_log
    key = tmp_path / "key"
    key.write_bytes(KEY)
    assert main(["verify", str(path), "--key", str(key), "--checkpoints", str(anchors)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: INTACT: 13 chained record(s)")
    assert KEY.decode() not in out
    assert main(["verify", str(path), "--head"]) == 0
    head = capsys.readouterr().out.strip()
    seq, digest = head.split(":")
    assert seq == "12" and len(digest) == 64
    assert main(["verify", str(path), "--expect-head", head]) == 0
    capsys.readouterr()
    lines = path.read_bytes().splitlines()
    lines[3] = lines[3].replace(b'"i":3', b'"i":30')
    _rewrite(path, lines)
    assert main(["verify", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["intact"] is False
    assert data["findings"][0] == {
        "kind": "edited",
        "file": "audit.jsonl",
        "line": 4,
        "detail": data["findings"][0]["detail"],
    }
    assert main(["verify", str(path)]) == 1
    assert f"{path.name}:4: edited:" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "nope.jsonl")]) == 2
    assert main(["verify", str(path), "--expect-head", "12:xyz"]) == 2
    (tmp_path / "short").write_bytes(b"abc")
    assert main(["verify", str(path), "--key", str(tmp_path / "short")]) == 2
    assert "at least 16" in capsys.readouterr().err
