"""Check an audit log's hash chain and checkpoints, streaming, in flat memory.

What is found, by ``kind`` (each names the first line where it shows):

* ``edited`` — a line's bytes differ from what its successor (or a checkpoint) recorded.
* ``missing`` — ``seq`` jumps: records were removed (also at the start of a file whose first
  record is neither a chain's first record nor a ``continuation``).
* ``reordered`` — a ``seq`` appears after a later one (a move, or a duplicate).
* ``restarted`` — a new chain (``seq`` 0, genesis ``prev``) starts in the middle of a file.
* ``torn_tail`` — the file ends inside a line: a write cut short (crash, disk full). Damage,
  not tampering: the writer never acknowledged that record.
* ``unreadable`` — a complete line that is not a JSON object (a torn write sealed by the next
  writer, or damage); it is nobody's predecessor, so the chain around it still verifies.
* ``truncated`` — a checkpoint kept outside the log (``checkpoints=``) or an expected head
  names a ``seq`` the log no longer reaches.
* ``bad_signature`` — a checkpoint whose HMAC / Ed25519 signature does not verify.
* ``unanchored`` — a key was given but no valid checkpoint covers any record.
* ``unchained`` — records without ``seq``/``prev`` (written before the chain existed): they
  are read by every reader but cannot be verified, so they are reported, never passed.

Memory is a few counters, a bounded list of findings, the external checkpoints (one per
``checkpoint_every`` records) and the open ``seq`` gaps (bounded), whatever the log's size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_cris.audit.chain import GENESIS, line_digest, parse_line
from langchain_cris.audit.checkpoints import CheckpointVerifier
from langchain_cris.audit.verification import ChainFinding, ChainVerification
from langchain_cris.errors import ResidencyError

__all__ = ["ChainFinding", "ChainVerification", "VerifyInputError", "verify_logs"]

DEFAULT_MAX_FINDINGS = 100
_MAX_OPEN_GAPS = 1024
_HEX = frozenset("0123456789abcdef")


class VerifyInputError(ResidencyError):
    """The verifier's input is unusable (a log or checkpoint file missing or unreadable)."""


@dataclass
class _Anchor:
    seq: int
    digest: str
    where: str
    valid: bool


def _span(lo: int, hi: int) -> str:
    return f"seq {lo}" if lo == hi else f"seq {lo}..{hi}"


class _Checker:
    def __init__(
        self,
        verifier: CheckpointVerifier | None,
        anchors: dict[int, _Anchor],
        max_findings: int,
        on_record: Callable[[Mapping[str, Any]], None] | None,
    ) -> None:
        self.result = ChainVerification()
        self.verifier = verifier
        self.anchors = anchors
        self.max_findings = max_findings
        self.on_record = on_record
        self.prev_digest: str | None = None  # None: nothing read yet in this run
        self.prev_seq = -1  # the highest seq so far: a moved-back record does not lower it
        self.high_digest: str | None = None  # digest of the record holding that seq
        self.prev_line = 0
        self.prev_file = ""
        self.gaps: dict[tuple[int, int], ChainFinding | None] = {}
        self.legacy_first: tuple[str, int] | None = None
        self.min_seq: int | None = None

    def find(self, kind: str, file: str, line: int, detail: str) -> ChainFinding | None:
        self.result.findings_total += 1
        if len(self.result.findings) >= self.max_findings:
            return None
        finding = ChainFinding(kind, file, line, detail)
        self.result.findings.append(finding)
        return finding

    def file(self, path: str) -> None:
        name = os.path.basename(path)
        self.result.files.append(path)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below; streamed line by line
        except OSError as exc:
            raise VerifyInputError(f"cannot read audit log {path}: {exc}") from exc
        with fh:
            for number, raw in enumerate(fh, start=1):
                terminated = raw.endswith(b"\n")
                body = raw[:-1] if terminated else raw
                record = parse_line(body)
                if record is None:
                    if not body.strip():
                        continue
                    if terminated:
                        self.find(
                            "unreadable",
                            name,
                            number,
                            "not a JSON object (a torn write sealed by the next writer, or "
                            "damage); skipped, it is nobody's predecessor",
                        )
                    else:
                        self.find(
                            "torn_tail",
                            name,
                            number,
                            "the file ends inside this line: a write cut short (crash or full "
                            "disk), not an edit; that record was never acknowledged",
                        )
                    continue
                self.record(name, number, body, record)

    def record(self, name: str, number: int, body: bytes, record: dict[str, Any]) -> None:
        res = self.result
        res.records += 1
        if self.on_record is not None:
            self.on_record(record)
        digest = line_digest(body)
        seq, prev = record.get("seq"), record.get("prev")
        if seq is None and prev is None:
            res.unchained += 1
            if self.legacy_first is None:
                self.legacy_first = (name, number)
            self.prev_digest, self.prev_seq, self.high_digest = digest, -1, None
            self.prev_line, self.prev_file = number, name
            return
        if (
            not isinstance(seq, int)
            or isinstance(seq, bool)
            or seq < 0
            or not isinstance(prev, str)
            or len(prev) != 64
            or not _HEX.issuperset(prev)
        ):
            self.find("edited", name, number, f"seq/prev are malformed (seq={seq!r})")
        else:
            self.link(name, number, seq, prev, record)
            self.anchor(name, number, seq, digest, record)
            res.chained += 1
            res.head_seq, res.head_digest = seq, digest
            self.min_seq = seq if self.min_seq is None else min(self.min_seq, seq)
            if seq > self.prev_seq or self.high_digest is None or seq == 0:
                self.prev_seq, self.high_digest = seq, digest
        self.prev_digest = digest
        self.prev_line, self.prev_file = number, name

    def link(self, name: str, number: int, seq: int, prev: str, record: Mapping[str, Any]) -> None:
        expected = self.prev_seq + 1
        if self.prev_digest is not None and prev == self.prev_digest and seq == expected:
            return
        if self.high_digest is not None and seq == expected and prev == self.high_digest:
            return  # resumes after a block that was moved back (already reported)
        where = f"line {self.prev_line}" + (
            f" of {self.prev_file}" if self.prev_file != name else ""
        )
        if self.prev_digest is None:  # the first record of the run
            if prev == GENESIS and seq == 0:
                return
            if record.get("record") == "continuation":
                # Continues a rotated file that was not given: that link is not checked here.
                self.result.continues_from = str(record.get("previous_file"))
                return
            self.find(
                "missing",
                name,
                number,
                f"the file starts at seq {seq} whose predecessor is not in it: earlier "
                "records were removed (or give the rotated file before this one)",
            )
            return
        if seq == 0 and prev == GENESIS:
            self.find(
                "restarted",
                name,
                number,
                f"a new chain starts here after seq {self.prev_seq} ({where}): the log before "
                "it was replaced, or a writer lost the chain",
            )
        elif seq > expected:
            finding = self.find(
                "missing",
                name,
                number,
                f"{_span(expected, seq - 1)} absent: {seq - expected} record(s) removed "
                f"between {where} and this line",
            )
            if len(self.gaps) < _MAX_OPEN_GAPS:
                self.gaps[(expected, seq - 1)] = finding
        elif seq < expected:
            moved = [g for g in self.gaps if g[0] <= seq <= g[1]]
            for gap in moved:
                earlier = self.gaps.pop(gap)
                if earlier is not None:
                    earlier.kind = "reordered"
                    earlier.detail = (
                        f"{_span(*gap)} should come here but appears later, at line {number} "
                        f"of {name}: records moved"
                    )
            self.find(
                "reordered",
                name,
                number,
                f"seq {seq} comes after seq {self.prev_seq} ({where}): records moved or duplicated",
            )
        else:
            self.find(
                "edited",
                self.prev_file,
                self.prev_line,
                f"its bytes no longer hash to the prev that line {number}"
                + (f" of {name}" if self.prev_file != name else "")
                + " recorded (this line, or that record's prev, was altered)",
            )

    def anchor(
        self, name: str, number: int, seq: int, digest: str, record: Mapping[str, Any]
    ) -> None:
        res = self.result
        if record.get("record") == "checkpoint":
            res.checkpoints += 1
            if self.verifier is not None:
                why = self.verifier.check(record)
                if why is not None:
                    self.find("bad_signature", name, number, f"checkpoint seq {seq}: {why}")
                else:
                    res.checkpoints_verified += 1
                    res.anchored_seq = max(res.anchored_seq or -1, seq)
        outside = self.anchors.get(seq)
        if outside is not None and outside.digest != digest:
            self.find(
                "edited",
                name,
                number,
                f"seq {seq} does not hash to what {outside.where} recorded for it",
            )
        elif outside is not None and outside.valid:
            res.anchored_seq = max(res.anchored_seq or -1, seq)

    def finish(self) -> ChainVerification:
        res = self.result
        last = res.head_seq if res.head_seq is not None else -1
        last_file = os.path.basename(res.files[-1]) if res.files else ""
        beyond = [a for a in self.anchors.values() if a.seq > last and a.valid]
        if beyond:
            anchor = max(beyond, key=lambda a: a.seq)
            self.find(
                "truncated",
                last_file,
                self.prev_line + 1,
                f"{anchor.where} covers seq {anchor.seq} but the log ends at seq {last}: "
                f"{anchor.seq - last} record(s) cut off after line {self.prev_line}",
            )
        if self.legacy_first is not None:
            file, line = self.legacy_first
            self.find(
                "unchained",
                file,
                line,
                f"{res.unchained:,} record(s) without seq/prev (written before the chain "
                "existed) from here on: read, but not verifiable",
            )
        if self.verifier is not None:
            res.algorithms = self.verifier.algorithms
            res.signatures = "verified"
            if res.chained and res.anchored_seq is None:
                self.find(
                    "unanchored",
                    last_file,
                    self.prev_line,
                    "a key was given but no validly signed checkpoint covers any record",
                )
        elif res.checkpoints or res.external_checkpoints:
            res.signatures = "not checked"
        order = {os.path.basename(f): i for i, f in enumerate(res.files)}
        res.findings.sort(key=lambda f: (order.get(f.file, -1), f.line))
        return res


def _read_anchors(
    path: str | os.PathLike[str], verifier: CheckpointVerifier | None, checker: _Checker
) -> None:
    name = os.path.basename(os.fspath(path))
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise VerifyInputError(f"cannot read checkpoint file {os.fspath(path)}: {exc}") from exc
    with fh:
        for number, raw in enumerate(fh, start=1):
            record = parse_line(raw.rstrip(b"\n"))
            if record is None:
                if raw.strip():
                    checker.find("unreadable", name, number, "not a checkpoint (not JSON)")
                continue
            seq, head = record.get("seq"), record.get("head")
            if not isinstance(seq, int) or not isinstance(head, str):
                checker.find("unreadable", name, number, "a checkpoint needs seq and head")
                continue
            checker.result.external_checkpoints += 1
            valid = True
            if verifier is not None:
                why = verifier.check(record)
                if why is not None:
                    valid = False
                    checker.find("bad_signature", name, number, f"checkpoint seq {seq}: {why}")
                else:
                    checker.result.checkpoints_verified += 1
            checker.anchors[seq] = _Anchor(seq, head, f"{name} line {number}", valid)


def verify_logs(
    paths: Iterable[str | os.PathLike[str]],
    *,
    verifier: CheckpointVerifier | None = None,
    checkpoints: str | os.PathLike[str] | None = None,
    expect_head: tuple[int, str] | None = None,
    max_findings: int = DEFAULT_MAX_FINDINGS,
    on_record: Callable[[Mapping[str, Any]], None] | None = None,
) -> ChainVerification:
    """Verify one log, or a rotated series given oldest first (links between them checked).

    Args:
        paths: The log file(s).
        verifier: Check checkpoint signatures with this key; ``None``: chain only.
        checkpoints: The second file the sink wrote checkpoints to (shows truncation).
        expect_head: ``(seq, sha256)`` of a head kept elsewhere (``verify --head``).
        max_findings: Findings kept in detail (all are counted).
        on_record: Called with every parsed record (e.g. to summarise the log in the same pass).

    Raises:
        VerifyInputError: a file cannot be read.
    """
    checker = _Checker(verifier, {}, max_findings, on_record)
    if checkpoints is not None:
        _read_anchors(checkpoints, verifier, checker)
    if expect_head is not None:
        seq, digest = expect_head
        checker.anchors.setdefault(seq, _Anchor(seq, digest, "the expected head", True))
    for path in paths:
        if not Path(path).is_file():
            raise VerifyInputError(f"no such audit log: {os.fspath(path)}")
        checker.file(os.fspath(path))
    return checker.finish()
