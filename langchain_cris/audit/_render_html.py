"""The audit as one self-contained HTML page: for a DPO or an auditor, on screen or as a PDF.

Self-contained means no request leaves the page: the CSS is inline, the chart is inline SVG,
the fonts are the reader's system fonts, there is no script. Every piece of text from the
evidence (request ids, model ids, Region names, reasons, file names) goes through
:func:`html.escape`, since a log line is input, not markup. ``@media print`` turns the page
into a clean A4 document (no shadows, table headers repeated on each page, rows not split).

Like :mod:`._render`, it reads only :mod:`.summary`'s data, never the auditor.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from langchain_cris.audit._render_css import REPORT_CSS as _CSS
from langchain_cris.audit.summary import AuditSummary, ChainGroup, iso_utc

__all__ = ["render_html"]

NOT_KNOWN = "not known"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _n(value: int) -> str:
    return f"{value:,}"


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()
) -> str:
    """A data table; cells are already-escaped HTML; ``numeric`` columns are right-aligned."""
    nums = set(numeric)
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i in nums else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in nums else f"<td>{c}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _region(name: str, css: str = "nw") -> str:
    return f'<span class="{css}">{_e(name)}</span>'


def _spread(counts: dict[str, int]) -> str:
    """``eu-west-1 (6), eu-central-1 (2)``, each item kept on one line."""
    if not counts:
        return "-"
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(_region(f"{k} ({v:,})") for k, v in items)


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{cells}</table>'


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


# -- the chart ----------------------------------------------------------------------------
def served_region_counts(r: AuditSummary) -> dict[str, int]:
    """Successful calls per served Region, largest first (failed calls were served nowhere)."""
    counts: dict[str, int] = {}
    for g in r.groups:  # ``calls`` are served calls; ``failed`` ones are counted apart
        if g.calls > 0:
            counts[g.served_region] = counts.get(g.served_region, 0) + g.calls
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _chart(r: AuditSummary) -> str:
    counts = served_region_counts(r)
    if not counts:
        return '<p class="muted">No call was served in the period.</p>'
    allowed = set(r.policy.regions)
    row, label_w, bar_w, pad = 30, 170, 560, 8
    width, height = label_w + bar_w + 90, row * len(counts) + 2 * pad
    top = max(counts.values())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" role="img" aria-labelledby="chart-title">',
        '<title id="chart-title">Calls per served Region</title>',
    ]
    for i, (region, count) in enumerate(counts.items()):
        y = pad + i * row
        length = max(2.0, bar_w * count / top)
        inside = region in allowed
        color = "#1f7a4d" if inside else "#b3261e"
        mark = "" if inside else " (outside policy)"
        parts.append(
            f'<text x="{label_w - 10}" y="{y + 19}" text-anchor="end" font-size="14" '
            f'fill="#1d2433">{_e(region)}</text>'
            f'<rect x="{label_w}" y="{y + 5}" width="{length:.1f}" height="20" rx="3" '
            f'fill="{color}"><title>{_e(region)}{_e(mark)}: {_n(count)} call(s)</title></rect>'
            f'<text x="{label_w + length + 8:.1f}" y="{y + 19}" font-size="13" '
            f'fill="#1d2433">{_n(count)}</text>'
        )
    parts.append("</svg>")
    legend = (
        '<p class="note"><span class="ok">&#9632;</span> inside the policy\'s Regions &nbsp; '
        '<span class="bad">&#9632;</span> outside them</p>'
    )
    return "".join(parts) + legend


# -- sections -----------------------------------------------------------------------------
def _when(value: datetime) -> str:
    """``2026-11-26 08:00:00 UTC``, kept on one line."""
    text = iso_utc(value).replace("T", " ").replace("Z", " UTC")
    return f'<span class="nw">{_e(text)}</span>'


def _period(r: AuditSummary) -> str:
    if r.first_event and r.last_event:
        return f"{_when(r.first_event)} to {_when(r.last_event)}"
    return "no events"


def _overview(r: AuditSummary) -> str:
    evidence = ", ".join(f"{k} {_n(v)}" for k, v in r.evidence.items()) or "none"
    policy = r.policy
    left = _kv(
        [
            ("Policy", f"<b>{_e(policy.name)}</b> <span class='id'>{_e(policy.digest)}</span>"),
            ("Allowed Regions", _e(", ".join(sorted(policy.regions)))),
            ("Allowed source Regions", _e(", ".join(sorted(policy.allowed_sources)) or "any")),
            ("Direct in-Region calls", "allowed" if policy.allow_in_region else "not allowed"),
            ("Period (first to last event)", _period(r)),
        ]
    )
    viol = f'<span class="{"bad" if r.violations_total else "ok"}">{_n(r.violations_total)}</span>'
    right = _kv(
        [
            ("Calls served", _n(r.calls)),
            ("Violations", viol),
            ("Failed calls (served nowhere)", _n(r.failed_calls)),
            ("Global profile calls", _n(r.global_calls)),
            ("Bypassed CRIS (direct model id)", _n(r.bypassed_cris)),
            ("Evidence records read", f"{_n(r.events_read)} ({_e(evidence)})"),
            ("Bad input skipped", _n(r.problems_total)),
            ("Cost", f"{NOT_KNOWN} <span class='muted'>(the evidence has tokens, not prices)"),
        ]
    )
    return f'<div class="grid"><div>{left}</div><div>{right}</div></div>'


def _integrity(r: AuditSummary) -> str:
    if not r.audit_log_checks:
        return (
            '<p class="muted">No langchain-cris audit log was given (<code>--audit-log</code>), '
            "so this report rests on AWS's evidence alone.</p>"
        )
    out = []
    for check in r.audit_log_checks:
        files = ", ".join(check.get("files", []))
        if not check.get("intact"):
            badge = '<span class="badge fail">NOT INTACT</span>'
        elif check.get("signatures") == "verified":
            badge = '<span class="badge pass">INTACT, signatures valid</span>'
        else:  # a chain anyone can recompute: say so
            badge = '<span class="badge warn">CHAIN INTACT, signatures not checked</span>'
        items = "".join(
            f"<li><b>{_e(f['kind'])}</b> at <span class='id'>{_e(f['file'])}:{_e(f['line'])}"
            f"</span>: {_e(f['detail'])}</li>"
            for f in check.get("findings", [])[:20]
        )
        more = int(check.get("findings_total", 0)) - min(20, len(check.get("findings", [])))
        if more > 0:
            items += f"<li>… and {_n(more)} more (<code>langchain-cris verify --json</code>)</li>"
        head = check.get("head") or {}
        out.append(
            f"<p>{badge} <span class='id'>{_e(files)}</span></p>"
            f"<p>{_e(check.get('summary', ''))}</p>"
            + (f'<ul class="findings">{items}</ul>' if items else "")
            + (
                f"<p class='note'>Head to keep elsewhere: <span class='id'>"
                f"{_e(head.get('seq'))}:{_e(head.get('sha256'))}</span></p>"
                if head.get("sha256")
                else ""
            )
        )
    out.append(
        '<p class="note">The chain shows edits, removals and reordering after the fact; signed '
        "checkpoints show a rewrite by anyone without the key, and a cut-off end only up to the "
        "last checkpoint kept outside the log. It cannot stop a writer who holds the key.</p>"
    )
    return "".join(out)


def _violations(r: AuditSummary) -> str:
    if not r.violations_total:
        return '<p class="ok">No call broke the policy.</p>'
    by_kind = ", ".join(f"{_e(k)}: {_n(n)}" for k, n in r.violations_by_kind.items())
    rows = [
        [
            f"<span class='id'>{_e(v.request_id)}</span><br>{_when(v.event_time)}"
            f"<br><span class='muted'>account {_e(v.account_id or NOT_KNOWN)}</span>",
            f"{_region(v.source_region)} &rarr; {_region(v.served_region, 'nw bad')}",
            f"<span class='id'>{_e(v.model_id or NOT_KNOWN)}</span>",
            f"{_e('; '.join(v.reasons))}<br><span class='muted'>evidence: {_e(v.evidence)}</span>",
        ]
        for v in r.violations
    ]
    table = _table(("call (request id, time, account)", "source → served", "model", "why"), rows)
    table = table.replace('<table class="data">', '<table class="data violations">', 1)
    more = r.violations_total - len(r.violations)
    tail = f'<p class="note">… and {_n(more)} more, counted above.</p>' if more else ""
    return f"<p>By rule: {by_kind}</p>{table}{tail}"


def _chains(chains: Sequence[ChainGroup]) -> str:
    if not chains:
        return (
            '<p class="muted">Not known: chains and runs are recorded only in the langchain-cris '
            "audit log (give it with <code>--audit-log</code>).</p>"
        )
    rows = [
        [
            _e(g.policy),
            f"<span class='id'>{_e(g.chain)}</span>",
            _n(g.calls),
            _n(g.refused),
            f"<span class='{'bad' if g.violations else ''}'>{_n(g.violations)}</span>",
            _spread(g.served_regions),
            f"<span class='id'>{_e(', '.join(sorted(g.models)) or NOT_KNOWN)}</span>",
            _n(g.input_tokens),
            _n(g.output_tokens),
        ]
        for g in chains
    ]
    headers = (
        "policy",
        "chain (parent run)",
        "calls",
        "refused",
        "violations",
        "served Regions",
        "models",
        "tokens in",
        "tokens out",
    )
    return _table(headers, rows, numeric=(2, 3, 4, 7, 8))


def _models(r: AuditSummary) -> str:
    merged: dict[str, dict[str, Any]] = {}
    for g in r.groups:
        m = merged.setdefault(
            g.model_id, {"calls": 0, "failed": 0, "violations": 0, "in": 0, "out": 0, "served": {}}
        )
        m["calls"] += g.calls
        m["failed"] += g.failed
        m["violations"] += g.violations
        m["in"] += g.input_tokens
        m["out"] += g.output_tokens
        if g.calls:
            m["served"][g.served_region] = m["served"].get(g.served_region, 0) + g.calls
    if not merged:
        return '<p class="muted">No calls.</p>'
    rows = [
        [
            f"<span class='id'>{_e(model)}</span>",
            _n(m["calls"]),
            _n(m["failed"]),
            f"<span class='{'bad' if m['violations'] else ''}'>{_n(m['violations'])}</span>",
            _spread(m["served"]),
            _n(m["in"]),
            _n(m["out"]),
            f"<span class='muted'>{NOT_KNOWN}</span>",
        ]
        for model, m in sorted(merged.items(), key=lambda kv: (-kv[1]["calls"], kv[0]))
    ]
    headers = (
        "model / profile",
        "calls",
        "failed",
        "violations",
        "served Regions",
        "tokens in",
        "tokens out",
        "cost",
    )
    return _table(headers, rows, numeric=(1, 2, 3, 5, 6))


def _groups(r: AuditSummary) -> str:
    rows = [
        [
            f"<span class='id'>{_e(g.model_id)}</span>",
            _e(g.route),
            _region(g.source_region),
            _region(g.served_region, "nw bad" if g.violations else "nw"),
            _n(g.calls),
            _n(g.failed),
            _n(g.violations),
            _n(g.input_tokens),
            _n(g.output_tokens),
        ]
        for g in r.groups
    ]
    headers = ("model / profile", "route", "source", "served", "calls", "failed", "violations")
    return _table((*headers, "tokens in", "tokens out"), rows, numeric=(4, 5, 6, 7, 8))


def _cross_check(r: AuditSummary) -> str:
    summary = _kv(
        [
            ("Audit-log calls", f"{_n(r.audit_log_calls)} ({_n(r.matched)} matched in AWS)"),
            ("In AWS, not in the audit log", _n(r.aws_only_total)),
            ("In the audit log, not in AWS", _n(r.audit_log_only_total)),
            ("Served Region disagrees", _n(r.served_region_differs_total)),
            ("Audit-log calls outside the evidence window", _n(r.not_covered_by_window)),
        ]
    )
    rows = [
        [_e(d.kind), f"<span class='id'>{_e(d.request_id)}</span>", _e(d.detail)]
        for d in r.discrepancies
    ]
    return summary + (_table(("kind", "request id", "detail"), rows) if rows else "")


def render_html(r: AuditSummary) -> str:
    """The whole report as one HTML document (UTF-8, no external resources)."""
    verdict = (
        f'<span class="badge fail">FAIL: {_n(r.violations_total)} violation(s)</span>'
        if r.exit_code
        else '<span class="badge pass">PASS: no violation</span>'
    )
    title = f"Bedrock residency audit: policy {r.policy.name}"
    sections = [
        f"<header><h1>{_e(title)}</h1>{verdict}</header>",
        f'<p class="sub">Period {_period(r)} &middot; policy digest '
        f'<span class="id">{_e(r.policy.digest)}</span></p>',
        _section("Overview", _overview(r), "overview"),
        _section("Can this audit log be trusted?", _integrity(r), "integrity"),
        _section("Calls per served Region", _chart(r), "chart"),
        _section("Violations and their evidence", _violations(r), "violations"),
        _section("Calls per chain", _chains(r.chains), "chains"),
        _section("Calls per model", _models(r), "models"),
    ]
    if r.groups:
        sections.append(
            _section("Calls by profile, source and served Region", _groups(r), "groups")
        )
    if r.cross_checked:
        sections.append(_section("Cross-check with the audit log", _cross_check(r), "cross"))
    if r.problem_samples:
        items = "".join(f"<li>{_e(m)}</li>" for m in r.problem_samples)
        more = r.problems_total - len(r.problem_samples)
        if more > 0:
            items += f"<li>… and {_n(more)} more</li>"
        sections.append(_section("Bad input (skipped)", f"<ul>{items}</ul>", "problems"))
    sections.append(
        "<footer>Written by langchain-cris from CloudTrail, Model Invocation Logs and its own "
        "audit log. Where a value is absent from the evidence the report says "
        f"&ldquo;{NOT_KNOWN}&rdquo; rather than guess.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )
