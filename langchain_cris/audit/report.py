"""The residency audit: what really ran, judged against a :class:`ResidencyPolicy`.

Evidence is streamed through an :class:`Auditor`, which keeps only counters, a bounded list of
violations and sample problems, so a million CloudTrail events are audited with flat memory.
Two things need per-call memory and are only paid for when asked for:

* cross-checking with the package's own audit log keeps the log's request ids (one entry per
  call the application made, which is what is being checked);
* reading CloudTrail **and** invocation logs together keeps CloudTrail's request ids, so a call
  present in both is counted once (CloudTrail gives the call, the invocation log its tokens).

A call is a **violation** when it was served outside the policy's Regions, sent from a source
Region outside the policy, sent on a route whose possible destinations leave the policy (a
``global.`` profile under ``eu``, an ``eu.`` Claude profile from London), or sent in-Region
when the policy forbids direct calls. Failed calls (``errorCode``) were served nowhere and are
only counted.

This module is the public face; the work lives in modules by concern, and its names are
re-exported here: :mod:`.auditor` (the streaming :class:`Auditor`: judging and counting),
:mod:`.files` (:func:`audit_files`: sorting inputs by kind and feeding them in order),
:mod:`.summary` (the data the report and the renderer share), :mod:`.result`
(:class:`AuditReport`), :mod:`._render` (writing it out) and :mod:`._jsonstream` (reading input
files; ``detect_input_kind`` and ``expand_paths``).

Example:
    .. code-block:: python

        from langchain_cris import ResidencyPolicy
        from langchain_cris.audit.report import audit_files

        report = audit_files(ResidencyPolicy.preset("eu"), ["trail/file.json.gz"])
        print(report.render("table"))
        raise SystemExit(report.exit_code)
"""

from __future__ import annotations

from langchain_cris.audit._jsonstream import InputKind, detect_input_kind, expand_paths
from langchain_cris.audit.auditor import CLOCK_SLACK as CLOCK_SLACK
from langchain_cris.audit.auditor import DEFAULT_MAX_SAMPLES as DEFAULT_MAX_SAMPLES
from langchain_cris.audit.auditor import DEFAULT_MAX_VIOLATIONS as DEFAULT_MAX_VIOLATIONS
from langchain_cris.audit.auditor import Auditor
from langchain_cris.audit.files import audit_files
from langchain_cris.audit.result import AuditReport
from langchain_cris.audit.summary import (
    CallGroup,
    Discrepancy,
    OutputFormat,
    Violation,
    ViolationKind,
)
from langchain_cris.audit.summary import DiscrepancyKind as DiscrepancyKind
from langchain_cris.audit.summary import RouteClass as RouteClass

__all__ = [
    "AuditReport",
    "Auditor",
    "CallGroup",
    "Discrepancy",
    "InputKind",
    "OutputFormat",
    "Violation",
    "ViolationKind",
    "audit_files",
    "detect_input_kind",
    "expand_paths",
]
