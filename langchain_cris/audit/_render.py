"""How an :class:`~langchain_cris.audit.report.AuditReport` is written out: JSON, table, Markdown
(and HTML, which lives in :mod:`._render_html`).

It reads only the data in :mod:`.summary` (never the report or the auditor), and is kept
apart from the auditing so the counting rules read on their own and a
change of wording or layout touches one file. The formats are contracts: the JSON keys are
stable (``schema`` bumps on an incompatible change), the table is what the CLI prints and the
Markdown is the compliance report handed to reviewers, so edits here must keep the golden
outputs identical.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_cris._text import format_table
from langchain_cris.audit._render_html import render_html
from langchain_cris.audit.summary import AuditSummary, CallGroup, OutputFormat, Violation, iso_utc

__all__ = ["REPORT_SCHEMA", "render_report", "report_to_dict"]

REPORT_SCHEMA = 1
"""``schema`` of the JSON report; bumped on an incompatible change."""


def render_report(r: AuditSummary, fmt: OutputFormat) -> str:
    """The report as ``table`` (terminal), ``json``, ``markdown`` or ``html`` (one page)."""
    if fmt == "html":
        return render_html(r)
    if fmt == "json":
        return json.dumps(report_to_dict(r), indent=2)
    if fmt == "markdown":
        return _render_markdown(r)
    if fmt == "table":
        return _render_table(r)
    raise ValueError(f"unknown report format {fmt!r}; allowed: table, json, markdown, html")


# -- JSON ---------------------------------------------------------------------------------
def report_to_dict(r: AuditSummary) -> dict[str, Any]:
    """JSON-ready report (stable keys; ``schema`` bumps on incompatible change)."""
    out: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "policy": {
            "name": r.policy.name,
            "digest": r.policy.digest,
            "regions": sorted(r.policy.regions),
            "source_regions": sorted(r.policy.allowed_sources),
            "allow_in_region": r.policy.allow_in_region,
        },
        "window": {
            "first_event": iso_utc(r.first_event) if r.first_event else None,
            "last_event": iso_utc(r.last_event) if r.last_event else None,
        },
        "summary": {
            "events_read": r.events_read,
            "calls": r.calls,
            "failed_calls": r.failed_calls,
            "violations": r.violations_total,
            "bypassed_cris": r.bypassed_cris,
            "global_calls": r.global_calls,
            "evidence": dict(r.evidence),
            "served_evidence": dict(r.served_evidence),
            "assumed_calls": r.assumed_calls,
            "skipped_outside_window": r.skipped_outside_window,
            "exit_code": r.exit_code,
        },
        "violations_by_kind": dict(r.violations_by_kind),
        "violations": [v.to_dict() for v in r.violations],
        "violations_truncated": r.violations_total - len(r.violations),
        "groups": [g.to_dict() for g in r.groups],
        "problems": {
            "total": r.problems_total,
            "by_kind": dict(r.problems_by_kind),
            "samples": list(r.problem_samples),
        },
    }
    if r.cross_checked:
        out["cross_check"] = {
            "audit_log_calls": r.audit_log_calls,
            "matched": r.matched,
            "aws_only": r.aws_only_total,
            "audit_log_only": r.audit_log_only_total,
            "served_region_differs": r.served_region_differs_total,
            "not_covered_by_window": r.not_covered_by_window,
            "samples": [d.to_dict() for d in r.discrepancies],
        }
    if r.audit_log_checks:
        out["audit_log_verification"] = list(r.audit_log_checks)
    if r.chains:
        out["chains"] = [g.to_dict() for g in r.chains]
    return out


# -- table and Markdown -------------------------------------------------------------------
def _summary_rows(r: AuditSummary) -> list[tuple[str, str]]:
    window = (
        f"{iso_utc(r.first_event)} .. {iso_utc(r.last_event)}"
        if r.first_event and r.last_event
        else "(no events)"
    )
    evidence = ", ".join(f"{k} {v:,}" for k, v in r.evidence.items()) or "none"
    served = ", ".join(f"{k} {v:,}" for k, v in r.served_evidence.items())
    rows = [
        ("Policy", f"{r.policy.name} ({r.policy.digest}): {', '.join(sorted(r.policy.regions))}"),
        ("Window", window),
        ("Evidence records read", f"{r.events_read:,} (used: {evidence})"),
        ("Calls served", f"{r.calls:,}"),
        ("Served Region evidence", served or "none"),
        ("Served Region only assumed", f"{r.assumed_calls:,}"),
        ("Failed calls (served nowhere)", f"{r.failed_calls:,}"),
        ("VIOLATIONS", f"{r.violations_total:,}"),
        ("Bypassed CRIS (direct model id)", f"{r.bypassed_cris:,}"),
        ("Global profile calls", f"{r.global_calls:,}"),
        ("Bad input skipped", f"{r.problems_total:,}"),
    ]
    if r.skipped_outside_window:
        rows.append(("Outside --since/--until", f"{r.skipped_outside_window:,}"))
    if r.cross_checked:
        rows += [
            ("Audit-log calls", f"{r.audit_log_calls:,} ({r.matched:,} matched in AWS)"),
            ("In AWS, not in the audit log", f"{r.aws_only_total:,}"),
            ("In the audit log, not in AWS", f"{r.audit_log_only_total:,}"),
            ("Served Region disagrees", f"{r.served_region_differs_total:,}"),
        ]
        if r.not_covered_by_window:
            rows.append(
                ("Audit-log calls outside the evidence window", f"{r.not_covered_by_window:,}")
            )
    for check in r.audit_log_checks:
        rows.append(("Audit-log integrity", f"{', '.join(check['files'])}: {check['summary']}"))
    return rows


_GROUP_HEADERS = (
    "model / profile",
    "route",
    "source",
    "served",
    "calls",
    "failed",
    "violations",
    "tokens in",
    "tokens out",
)
_VIOLATION_HEADERS = ("request id", "time", "source", "served", "model", "why")


def _group_cells(g: CallGroup) -> list[str]:
    return [
        g.model_id,
        g.route,
        g.source_region,
        g.served_region,
        f"{g.calls:,}",
        f"{g.failed:,}",
        f"{g.violations:,}",
        f"{g.input_tokens:,}",
        f"{g.output_tokens:,}",
    ]


def _violation_cells(v: Violation) -> list[str]:
    return [
        v.request_id,
        iso_utc(v.event_time),
        v.source_region,
        v.served_region,
        v.model_id or "",
        "; ".join(v.reasons),
    ]


def _render_table(r: AuditSummary) -> str:
    verdict = (
        f"FAIL: {r.violations_total:,} violation(s) of policy {r.policy.name!r}"
        if r.exit_code
        else f"PASS: no violation of policy {r.policy.name!r}"
    )
    width = max(len(k) for k, _ in _summary_rows(r))
    parts = [verdict, "", *(f"{k.ljust(width)}  {v}" for k, v in _summary_rows(r))]
    if r.groups:
        parts += ["", "Calls by profile, source and served Region:"]
        parts.append(format_table(_GROUP_HEADERS, [_group_cells(g) for g in r.groups]))
    if r.violations:
        parts += ["", "Violations:"]
        parts.append(format_table(_VIOLATION_HEADERS, [_violation_cells(v) for v in r.violations]))
        if r.violations_total > len(r.violations):
            parts.append(f"... and {r.violations_total - len(r.violations):,} more")
    if r.discrepancies:
        parts += ["", "Cross-check with the audit log:"]
        parts.append(
            format_table(
                ("kind", "request id", "detail"),
                [[d.kind, d.request_id, d.detail] for d in r.discrepancies],
            )
        )
    if r.problem_samples:
        parts += ["", "Bad input (skipped):"]
        parts += [f"  {m}" for m in r.problem_samples]
        if r.problems_total > len(r.problem_samples):
            parts.append(f"  ... and {r.problems_total - len(r.problem_samples):,} more")
    return "\n".join(parts)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _render_markdown(r: AuditSummary) -> str:
    verdict = (
        f"**FAIL**: {r.violations_total:,} violation(s)"
        if r.exit_code
        else "**PASS**: no violation"
    )
    parts = [
        f"# Bedrock residency audit: policy `{r.policy.name}`",
        "",
        verdict,
        "",
        _md_table(("", ""), [(k, v) for k, v in _summary_rows(r)]),
    ]
    if r.violations_by_kind:
        parts += ["", "## Violations by rule", ""]
        parts.append(
            _md_table(("rule", "calls"), [(k, f"{n:,}") for k, n in r.violations_by_kind.items()])
        )
    if r.groups:
        parts += ["", "## Calls by profile, source and served Region", ""]
        parts.append(_md_table(_GROUP_HEADERS, [_group_cells(g) for g in r.groups]))
    if r.violations:
        parts += ["", "## Violations", ""]
        parts.append(_md_table(_VIOLATION_HEADERS, [_violation_cells(v) for v in r.violations]))
        if r.violations_total > len(r.violations):
            parts.append(f"\n_… and {r.violations_total - len(r.violations):,} more._")
    if r.discrepancies:
        parts += ["", "## Cross-check with the audit log", ""]
        parts.append(
            _md_table(
                ("kind", "request id", "detail"),
                [[d.kind, d.request_id, d.detail] for d in r.discrepancies],
            )
        )
    if r.problem_samples:
        parts += ["", "## Bad input (skipped)", ""]
        parts += [f"- {_md_escape(m)}" for m in r.problem_samples]
    return "\n".join(parts) + "\n"
