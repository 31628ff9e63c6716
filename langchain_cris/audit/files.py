"""Auditing files: sort the inputs by kind, feed them to an :class:`Auditor` in order.

The audit log goes first (the cross-check matches AWS calls against it as they stream by),
then CloudTrail, then invocation logs. Reading and kind detection are :mod:`._jsonstream`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from langchain_cris.audit._jsonstream import detect_input_kind, expand_paths, iter_json_records
from langchain_cris.audit.auditor import Auditor
from langchain_cris.audit.chain import BOOKKEEPING_RECORDS
from langchain_cris.audit.cloudtrail import CloudTrailCall, iter_cloudtrail_records
from langchain_cris.audit.invocation_logs import InvocationLogEntry, iter_invocation_log_files
from langchain_cris.audit.result import AuditReport
from langchain_cris.policy import ResidencyPolicy

__all__ = ["audit_files"]


def audit_files(
    policy: ResidencyPolicy,
    files: Iterable[str | os.PathLike[str]] = (),
    *,
    cloudtrail: Iterable[str | os.PathLike[str]] = (),
    invocation_logs: Iterable[str | os.PathLike[str]] = (),
    audit_logs: Iterable[str | os.PathLike[str]] = (),
    cloudtrail_calls: Iterable[CloudTrailCall] | None = None,
    invocation_entries: Iterable[InvocationLogEntry] | None = None,
    progress: Callable[[int, str], None] | None = None,
    auditor: Auditor | None = None,
    **options: Any,
) -> AuditReport:
    """Audit files (kind auto-detected for ``files``) and/or already-read evidence.

    Args:
        policy: The policy to judge against.
        files: Files of any supported kind, detected by content. Directories (here and in
            the other path arguments) are walked recursively, like an ``aws s3 sync`` copy.
        cloudtrail: CloudTrail files (S3 delivery, ``.json``/``.gz``).
        invocation_logs: Invocation-log files (JSON Lines / S3, ``.gz`` ok).
        audit_logs: The package's own JSONL audit logs, for the cross-check.
        cloudtrail_calls: Calls already read (e.g. from ``lookup_cloudtrail_calls``).
        invocation_entries: Entries already read (e.g. from ``filter_invocation_logs``).
        progress: Called as ``progress(events_read, current_file)`` every few thousand events.
        auditor: Use this auditor (e.g. one whose ``on_error`` live readers already report
            to); ``options`` are then ignored.
        **options: Passed to :class:`Auditor` (``accounts``, ``since``, ``until``, ``strict`` …).

    Returns:
        The report; never raises for bad input (see ``problems`` in the report).
    """
    ct_files = list(expand_paths(cloudtrail))
    inv_files = list(expand_paths(invocation_logs))
    log_files = list(expand_paths(audit_logs))
    unknown: list[str] = []
    for text in expand_paths(files):
        kind = detect_input_kind(text)
        {"cloudtrail": ct_files, "invocation_log": inv_files, "audit_log": log_files}.get(
            kind, unknown
        ).append(text)
    has_ct = bool(ct_files) or cloudtrail_calls is not None
    has_inv = bool(inv_files) or invocation_entries is not None
    options.setdefault("dedupe_invocation_logs", has_ct and has_inv)
    if auditor is None:
        auditor = Auditor(policy, **options)
    elif has_ct and has_inv and not auditor.joins_invocation_logs:
        auditor.join_invocation_logs()
    for path in unknown:
        auditor.problem(
            "unrecognised",
            f"{path}: not a CloudTrail, invocation-log or langchain-cris audit-log file "
            "(empty, unreadable, or its first record has none of their fields)",
        )
    for path in log_files:
        for record in iter_json_records(path, auditor.on_error):
            if isinstance(record, dict) and record.get("record") in BOOKKEEPING_RECORDS:
                continue  # the hash chain's checkpoints and rotation links: no call in them
            auditor.add_audit_log_record(record, path)
    tick = _ticker(progress)
    for ct_path in ct_files:
        # Records, not calls: the auditor folds them across files (a stream's completion event
        # may be in the next file).
        for record in iter_cloudtrail_records([ct_path], on_error=auditor.on_error):
            auditor.add_cloudtrail(record)
            tick(auditor.events_read, ct_path)
    for call in cloudtrail_calls or ():
        auditor.add_cloudtrail(call)
        tick(auditor.events_read, "CloudTrail LookupEvents")
    for inv_path in inv_files:
        for entry in iter_invocation_log_files([inv_path], on_error=auditor.on_error):
            auditor.add_invocation_log(entry)
            tick(auditor.events_read, inv_path)
    for entry in invocation_entries or ():
        auditor.add_invocation_log(entry)
        tick(auditor.events_read, "CloudWatch Logs")
    if progress is not None:
        progress(auditor.events_read, "")
    return auditor.report()


def _ticker(progress: Callable[[int, str], None] | None) -> Callable[[int, str], None]:
    if progress is None:
        return lambda _n, _w: None

    def tick(count: int, where: str) -> None:
        if count & 0x0FFF == 0:  # every 4096 events: cheap enough for a million
            progress(count, where)

    return tick
