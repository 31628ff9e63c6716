"""The HTML report's style sheet: inline in the page, system fonts, and an A4 print layout.

Kept apart from :mod:`._render_html` so the page's structure reads on its own. ``@media print``
drops backgrounds and shadows, repeats table headers on every page and keeps rows whole.
"""

from __future__ import annotations

__all__ = ["REPORT_CSS"]

REPORT_CSS = """
:root { --ink:#1d2433; --muted:#5b6478; --line:#d9dee8; --bg:#f5f7fa; --ok:#1f7a4d;
  --bad:#b3261e; --warn:#8a5a00; --accent:#2b5fb3; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width:1180px; margin:0 auto; padding:24px 28px 48px; }
header { display:flex; flex-wrap:wrap; align-items:center; gap:12px 20px; margin-bottom:8px; }
h1 { font-size:26px; margin:0; letter-spacing:-0.01em; }
h2 { font-size:18px; margin:0 0 10px; }
.sub { color:var(--muted); margin:0 0 18px; }
.badge { display:inline-block; padding:4px 12px; border-radius:999px; font-weight:700;
  font-size:14px; color:#fff; }
.pass { background:var(--ok); } .fail { background:var(--bad); } .warn { background:var(--warn); }
section { background:#fff; border:1px solid var(--line); border-radius:10px;
  padding:18px 20px; margin:16px 0; box-shadow:0 1px 2px rgba(20,30,50,.05); }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(260px, 1fr)); gap:16px; }
.kv { border-collapse:collapse; width:100%; }
.kv th { text-align:left; font-weight:500; color:var(--muted); padding:4px 12px 4px 0;
  vertical-align:top; width:46%; }
.kv td { padding:4px 0; }
.scroll { overflow-x:auto; }
table.data { border-collapse:collapse; width:100%; font-size:14px; }
table.data th { text-align:left; background:#eef1f6; border-bottom:1px solid var(--line);
  padding:7px 10px; white-space:nowrap; font-weight:600; }
table.data td { border-bottom:1px solid var(--line); padding:6px 10px; vertical-align:top; }
table.data tr:nth-child(even) td { background:#fafbfd; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
.id { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px;
  overflow-wrap:anywhere; }
.bad { color:var(--bad); font-weight:600; } .ok { color:var(--ok); font-weight:600; }
.muted { color:var(--muted); } .nw { white-space:nowrap; }
table.violations td:nth-child(1) { width:26%; } table.violations td:nth-child(2) { width:18%; }
table.violations td:nth-child(3) { width:22%; }
.note { color:var(--muted); font-size:13px; margin:8px 0 0; }
ul.findings { margin:6px 0 0; padding-left:20px; }
svg { max-width:100%; height:auto; display:block; }
footer { color:var(--muted); font-size:12.5px; margin-top:24px; }
@media print {
  @page { size:A4; margin:14mm 12mm; }
  body { background:#fff; font-size:10pt; }
  main { max-width:none; padding:0; }
  section { box-shadow:none; border:none; border-top:1px solid var(--line); border-radius:0;
    padding:10px 0; margin:8px 0; break-inside:auto; }
  .scroll { overflow:visible; }
  table.data { font-size:8.5pt; }
  table.data th { white-space:normal; padding:4px 5px; }
  table.data td { padding:4px 5px; }
  .id { font-size:7.5pt; }
  thead { display:table-header-group; }
  tr, .kv, svg { break-inside:avoid; }
  h2 { break-after:avoid; }
  * { -webkit-print-color-adjust:exact; print-color-adjust:exact; }
}
"""
