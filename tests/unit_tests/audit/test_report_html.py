"""``langchain-cris audit --format html``: one self-contained, escaped page, checked in Chromium.

The Chromium test renders the page headless to a PNG (laptop-sized window) and to a PDF; it
skips when no ``chromium`` binary is installed (``apt-get install chromium``). Set
``CRIS_HTML_ARTIFACTS=DIR`` to keep the HTML, PNG and PDF for a look.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from langchain_cris.audit.checkpoints import CheckpointSigner
from langchain_cris.audit.records import call_record, reconciliation_record
from langchain_cris.audit.sink import AuditSink
from langchain_cris.cli import main
from tests.unit_tests.audit.factories import ct_event, write_records

KEY = b"report-test-key-0123456789abcdef"
EU = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
GLOBAL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
HOSTILE = '<img src=x onerror="alert(1)">'


def _scenario(tmp_path: Path) -> tuple[Path, Path]:
    """A day of EU traffic: most calls in the EU, a few served in the US via a global profile."""
    served = ["eu-west-1"] * 9 + ["eu-central-1"] * 6 + ["eu-west-3"] * 4 + ["eu-north-1"] * 2
    events = [
        ct_event(f"req-eu-{i:03d}", served=region, time=f"2026-11-26T{8 + i // 4:02d}:{i:02d}:00Z")
        for i, region in enumerate(served)
    ]
    events += [
        ct_event("req-us-001", model=GLOBAL, served="us-east-1", time="2026-11-26T15:02:00Z"),
        ct_event("req-us-002", model=GLOBAL, served="us-west-2", time="2026-11-26T15:03:00Z"),
        ct_event(HOSTILE, model=HOSTILE, served="us-east-2", time="2026-11-26T16:00:00Z"),
        ct_event("req-denied", served=None, error_code="AccessDenied"),
    ]
    trail = write_records(tmp_path / "trail.json", events)
    log = tmp_path / "cris-audit.jsonl"
    with AuditSink(
        log, fsync=False, signer=CheckpointSigner(hmac_key=KEY), checkpoint_every=8
    ) as s:
        for i, region in enumerate(served[:12]):
            s.append(
                call_record(
                    ts=f"2026-11-26T{8 + i // 4:02d}:{i:02d}:00.000Z",
                    run_id=f"run-{i}",
                    parent_run_id="chain-support-bot" if i % 3 else "chain-summariser",
                    policy="eu",
                    model_id=EU,
                    source_region="eu-central-1",
                    request_id=f"req-eu-{i:03d}",
                    input_tokens=1200 + i,
                    output_tokens=300,
                    served_region="pending",
                )
            )
            s.append(
                reconciliation_record(
                    request_id=f"req-eu-{i:03d}",
                    source_region="eu-central-1",
                    served_region=region,
                    evidence="cloudtrail",
                    allowed_regions=["eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"],
                    run_id=f"run-{i}",
                    policy="eu",
                    ts="2026-11-26T17:00:00.000Z",
                )
            )
        s.append(
            call_record(
                ts="2026-11-26T15:02:00.000Z",
                run_id="run-g",
                parent_run_id=HOSTILE,
                policy="eu",
                model_id=GLOBAL,
                source_region="eu-central-1",
                request_id="req-us-001",
                served_region="us-east-1",
                outcome="violation",
            )
        )
    return trail, log


def _render(tmp_path: Path, *extra: str) -> tuple[int, str]:
    trail, log = _scenario(tmp_path)
    out = tmp_path / "report.html"
    argv = ["audit", "--policy", "eu", str(trail), "--audit-log", str(log), *extra]
    code = main([*argv, "--format", "html", "-o", str(out)])
    return code, out.read_text("utf-8")


def test_html_is_one_self_contained_escaped_page(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    code, page = _render(tmp_path, "--key", str(key))
    assert code == 1  # three calls served in the US under an EU policy
    assert page.startswith("<!DOCTYPE html>")
    # Nothing is fetched: no scripts, stylesheets, fonts or images from anywhere.
    assert not re.search(
        r"<script|<link|<img|<iframe|@import|url\(|<[^>]+\s(src|href)=", page, re.I
    )
    assert "https://" not in page and "http://" not in page.replace(
        "http://www.w3.org/2000/svg", ""
    )
    assert HOSTILE not in page and html_escaped(HOSTILE) in page
    # The pieces an auditor asks for.
    for text in (
        "FAIL: 3 violation(s)",
        "INTACT, signatures valid",
        "Calls per served Region",
        "Violations and their evidence",
        "Calls per chain",
        "Calls per model",
        "chain-support-bot",
        "not known",
        "Can this audit log be trusted?",
        "INTACT",
        "checkpoint signature(s) valid (hmac-sha256)",
        "@media print",
    ):
        assert text in page, text
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert chart.count("<rect") == 7  # four EU Regions, three US ones
    assert "us-east-1 (outside policy)" in chart
    assert page.index(">eu-west-1<") < page.index(">eu-north-1<")  # largest bar first


def test_html_reports_a_tampered_log(tmp_path: Path) -> None:
    trail, log = _scenario(tmp_path)
    lines = log.read_bytes().splitlines()
    lines[3] = lines[3].replace(b'"eu-west-1"', b'"eu-west-2"')
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    out = tmp_path / "r.html"
    argv = ["audit", "--policy", "eu", str(trail), "--audit-log", str(log)]
    main([*argv, "--format", "html", "-o", str(out)])
    page = out.read_text()
    assert "NOT INTACT" in page and "<b>edited</b>" in page


def test_json_and_table_carry_the_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trail, log = _scenario(tmp_path)
    assert main(["audit", "--policy", "eu", str(trail), "--audit-log", str(log)]) == 1
    table = capsys.readouterr().out
    assert re.search(r"Audit-log integrity\s+.*cris-audit.jsonl: INTACT", table)
    assert main(["audit", "--policy", "eu", str(trail), str(log), "--format", "json"]) == 1
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["audit_log_verification"][0]["intact"] is True
    assert data["audit_log_verification"][0]["signatures"] == "not checked"
    chains = {c["chain"]: c for c in data["chains"]}
    assert chains["chain-support-bot"]["calls"] == 8
    assert chains["chain-summariser"]["served_regions"] == {
        "eu-central-1": 1,
        "eu-west-1": 3,
    }
    assert chains[HOSTILE]["violations"] == 1
    # The chain's checkpoint records are bookkeeping, not bad input for the auditor.
    assert data["problems"]["total"] == 0


def test_html_without_an_audit_log_says_what_is_not_known(tmp_path: Path) -> None:
    trail = write_records(tmp_path / "t.json", [ct_event("a")])
    out = tmp_path / "r.html"
    assert main(["audit", "--policy", "eu", str(trail), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text()
    assert "PASS: no violation" in page
    assert "No langchain-cris audit log was given" in page
    assert "chains and runs are recorded only in the langchain-cris" in page


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary (apt-get install chromium)")
def test_renders_in_headless_chromium_to_png_and_pdf(tmp_path: Path) -> None:
    _render(tmp_path)
    html_file = tmp_path / "report.html"
    keep = os.environ.get("CRIS_HTML_ARTIFACTS")
    out_dir = Path(keep) if keep else tmp_path
    out_dir.mkdir(parents=True, exist_ok=True)
    png, pdf = out_dir / "report.png", out_dir / "report.pdf"
    base = [
        str(_chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--hide-scrollbars",
    ]
    url = html_file.as_uri()
    for flags in (
        [f"--screenshot={png}", "--window-size=1366,900"],
        [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"],
    ):
        subprocess.run([*base, *flags, url], check=True, capture_output=True, timeout=120)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = pdf.read_bytes()
    assert document.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", document))
    assert 1 <= pages <= 6, pages
    if keep:
        shutil.copy(html_file, out_dir / "report.html")
