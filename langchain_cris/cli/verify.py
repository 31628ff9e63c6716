"""``langchain-cris verify``: is this audit log the one that was written?

Usage::

    langchain-cris verify cris-audit.jsonl --key-env CRIS_AUDIT_KEY --checkpoints anchors.jsonl
    langchain-cris verify cris-audit.jsonl.4999 cris-audit.jsonl      # a rotated series, in order
    langchain-cris verify cris-audit.jsonl --head                     # print the head to keep
    langchain-cris verify cris-audit.jsonl --expect-head 4999:9f2c…   # check against a kept head

Exit codes: 0 intact (every line chained; signatures valid when a key is given), 1 something was
found (the first bad line and what is wrong is printed; ``--json`` lists them all), 2 bad input
(missing file, unreadable or too short key, malformed ``--expect-head``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from langchain_cris.audit.chain import find_head
from langchain_cris.audit.checkpoints import (
    CheckpointKeyError,
    CheckpointVerifier,
    load_hmac_key,
)
from langchain_cris.audit.verify import ChainVerification, verify_logs

__all__ = ["HELP", "add_key_options", "configure", "run", "verifier_from_args"]

HELP = "verify an audit log's hash chain and signed checkpoints"

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_USAGE = 2


def add_key_options(parser: argparse.ArgumentParser | Any) -> None:
    """``--key``/``--key-env``/``--public-key``/``--checkpoints`` (shared with ``audit``)."""
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--key", metavar="FILE", help="HMAC key file the checkpoints are signed with")
    keys.add_argument("--key-env", metavar="VAR", help="environment variable holding the HMAC key")
    parser.add_argument(
        "--public-key", metavar="FILE", help="Ed25519 public key (PEM) of the checkpoints"
    )
    parser.add_argument(
        "--checkpoints",
        metavar="FILE",
        help="the second checkpoint file the sink wrote (shows a log cut short)",
    )


def verifier_from_args(args: argparse.Namespace) -> CheckpointVerifier | None:
    """The verifier the key options ask for (``None`` when none was given).

    Raises:
        CheckpointKeyError: a key file or variable is missing, unreadable or too short.
    """
    hmac_key = None
    if args.key or args.key_env:
        hmac_key = load_hmac_key(path=args.key, env=args.key_env)
    if args.public_key:
        return CheckpointVerifier.from_public_key_file(args.public_key, hmac_key=hmac_key)
    return CheckpointVerifier(hmac_key=hmac_key) if hmac_key is not None else None


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``verify`` options."""
    parser.add_argument(
        "logs", nargs="+", metavar="LOG", help="audit log(s); a rotated series oldest first"
    )
    add_key_options(parser)
    parser.add_argument(
        "--expect-head",
        metavar="SEQ:SHA256",
        help="a head kept elsewhere (from --head); the log must still reach it, unchanged",
    )
    parser.add_argument(
        "--head", action="store_true", help="print the last log's head (seq and SHA-256) and exit"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable result")
    parser.add_argument(
        "--max-findings", type=int, default=100, metavar="N", help="findings listed (default 100)"
    )


def _fail(message: str) -> int:
    print(f"langchain-cris verify: {message}", file=sys.stderr)
    return EXIT_USAGE


def _expect_head(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, sep, digest = text.partition(":")
    digest = digest.strip().lower()
    if not sep or not seq.strip().isdigit() or len(digest) != 64:
        raise ValueError(text)
    int(digest, 16)
    return int(seq), digest


def _print_head(path: str, as_json: bool) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        head, torn = find_head(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    if as_json:
        print(json.dumps({"file": path, "seq": head.seq, "sha256": head.digest, "torn": torn}))
    else:
        print(f"{head.seq}:{head.digest}")
        if not head.chained:
            print(f"langchain-cris verify: {path} has no chained record yet", file=sys.stderr)
    return EXIT_OK


def summary_line(res: ChainVerification) -> str:
    """One sentence for people: what was checked and how it came out."""
    span = (
        f"seq ..{res.head_seq}, head sha256 {res.head_digest}"
        if res.head_digest
        else "no chained record"
    )
    if res.signatures == "verified":
        algs = "+".join(res.algorithms)
        signed = f"{res.checkpoints_verified:,} checkpoint signature(s) valid ({algs})"
        if res.head_seq is not None:
            signed += f", {res.unanchored_records:,} record(s) after the last one"
    elif res.signatures == "not checked":
        count = res.checkpoints + res.external_checkpoints
        signed = f"{count:,} checkpoint(s) NOT checked (no key)"
    else:
        signed = "no checkpoints"
    verdict = "INTACT" if res.intact else f"NOT INTACT ({res.findings_total:,} finding(s))"
    return f"{verdict}: {res.chained:,} chained record(s), {span}; {signed}"


def run(args: argparse.Namespace) -> int:
    """Verify; returns 0 (intact), 1 (something found) or 2 (bad input)."""
    missing = [p for p in args.logs if not os.path.isfile(p)]
    if args.checkpoints and not os.path.isfile(args.checkpoints):
        missing.append(args.checkpoints)
    if missing:
        return _fail(f"no such file: {', '.join(missing)}")
    if args.max_findings < 1:
        return _fail("--max-findings must be 1 or more")
    if args.head:
        return _print_head(args.logs[-1], args.json)
    try:
        expect = _expect_head(args.expect_head)
    except ValueError:
        return _fail(f"--expect-head {args.expect_head!r}: use SEQ:SHA256 as --head prints it")
    try:
        verifier = verifier_from_args(args)
    except CheckpointKeyError as exc:
        return _fail(str(exc))
    res = verify_logs(
        args.logs,
        verifier=verifier,
        checkpoints=args.checkpoints,
        expect_head=expect,
        max_findings=args.max_findings,
    )
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(f"{' '.join(args.logs)}: {summary_line(res)}")
        if res.continues_from:
            print(f"  continues {res.continues_from} (not given, so that link is not checked)")
        for finding in res.findings:
            print(f"  {finding}")
        if res.findings_total > len(res.findings):
            print(f"  ... and {res.findings_total - len(res.findings):,} more")
    return EXIT_OK if res.intact else EXIT_FOUND
