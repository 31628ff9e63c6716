"""``langchain-cris audit`` in-process: exit codes, formats, inputs, live lookup (stubbed)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from langchain_cris.audit._progress import Progress
from langchain_cris.cli import main
from tests.unit_tests.audit.factories import ct_event, inv_record, write_lines, write_records

NOW = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
""""Now" for the live-lookup tests: an hour after the factories' events (12:00)."""


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return write_records(tmp_path / "clean.json.gz", [ct_event("c1"), ct_event("c2")], gz=True)


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    return write_records(tmp_path / "dirty.json", [ct_event("d1", served="us-west-2")])


def test_clean_audit_exits_0(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--policy", "eu", str(clean)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("PASS: no violation of policy 'eu'")
    assert out.err == ""  # no progress line when stderr is not a terminal


def test_violations_exit_1_and_name_the_call(
    clean: Path, dirty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--policy", "eu", "--format", "json", str(clean), str(dirty)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["calls"] == 3
    assert [(v["request_id"], v["served_region"]) for v in data["violations"]] == [
        ("d1", "us-west-2")
    ]


def test_directory_input_and_explicit_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trail = tmp_path / "trail" / "2026" / "11"
    trail.mkdir(parents=True)
    write_records(trail / "a.json.gz", [ct_event("a")], gz=True)
    write_records(trail / "b.json", [ct_event("b")])
    inv = write_lines(tmp_path / "inv.jsonl", [inv_record("z")])
    code = main(
        [
            "audit",
            "--policy",
            "eu",
            "--format",
            "json",
            str(tmp_path / "trail"),
            "--invocation-logs",
            str(inv),
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["evidence"] == {"cloudtrail": 2, "invocation_log": 1}


def test_markdown_to_output_file(
    dirty: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.md"
    assert (
        main(["audit", "--policy", "eu", "--format", "markdown", "-o", str(out), str(dirty)]) == 1
    )
    assert out.read_text().startswith("# Bedrock residency audit")
    assert "report written to" in capsys.readouterr().err


def test_audit_log_cross_check_and_strict(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_lines(
        tmp_path / "cris-audit.jsonl",
        [
            {
                "record": "call",
                "schema": 1,
                "ts": "2026-11-26T12:00:00Z",
                "run_id": "r",
                "request_id": "c1",
                "served_region": "eu-west-1",
                "outcome": "ok",
            },
            {
                "record": "call",
                "schema": 1,
                "ts": "2026-11-26T12:00:00Z",
                "run_id": "r2",
                "request_id": "lost",
                "served_region": "pending",
                "outcome": "ok",
            },
        ],
    )
    assert main(["audit", "--policy", "eu", str(clean), "--audit-log", str(log)]) == 0
    table = capsys.readouterr().out
    assert "In the audit log, not in AWS     1" in table
    assert main(["audit", "--policy", "eu", "--strict", str(clean), str(log)]) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "--policy", "eu"], "nothing to audit"),
        (["audit", "--policy", "eu", "/no/such/file.json"], "no such file"),
        (["audit", "--policy", "eu", "--lookup"], "need at least one --region"),
        (
            [
                "audit",
                "--policy",
                "eu",
                "--since",
                "yesterday",
                "--lookup",
                "--region",
                "eu-west-1",
            ],
            "--since/--until",
        ),
        (["audit", "--policy", "atlantis", "x"], "atlantis"),
    ],
)
def test_bad_usage_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_format_is_rejected_by_argparse(clean: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--policy", "eu", "--format", "pdf", str(clean)])
    assert exc.value.code == 2


def test_account_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_records(
        tmp_path / "f.json",
        [ct_event("mine"), ct_event("theirs", account="111122223333", served="us-east-1")],
    )
    assert main(["audit", "--policy", "eu", "--account", "123456789012", str(path)]) == 0
    assert "account 111122223333 is not one of 123456789012" in capsys.readouterr().out


def test_live_lookup_uses_lookup_events(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("cloudtrail", region_name="eu-central-1")
    stub = Stubber(client)
    event = ct_event("live", served="us-east-1")
    stub.add_response(
        "lookup_events",
        {
            "Events": [
                {"EventId": "e1", "EventName": "Converse", "CloudTrailEvent": json.dumps(event)}
            ]
        },
        {"LookupAttributes": ANY, "StartTime": ANY, "EndTime": ANY},
    )
    made: list[tuple[str, dict[str, Any]]] = []

    def fake_client(service: str, **kwargs: Any) -> Any:
        made.append((service, kwargs))
        return client

    monkeypatch.setattr(boto3, "client", fake_client)
    with stub:
        code = main(
            [
                "audit",
                "--policy",
                "eu",
                "--lookup",
                "--region",
                "eu-central-1",
                "--since",
                "2h",
                "--endpoint-url",
                "http://127.0.0.1:1",
                "--format",
                "json",
            ],
            clock=lambda: NOW,  # the event is at 12:00; "2h" must mean 11:00-13:00 on any day
        )
    assert code == 1
    assert made == [
        ("cloudtrail", {"region_name": "eu-central-1", "endpoint_url": "http://127.0.0.1:1"})
    ]
    assert json.loads(capsys.readouterr().out)["violations"][0]["request_id"] == "live"


def test_live_lookup_failure_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("cloudtrail", region_name="eu-central-1")
    stub = Stubber(client)
    stub.add_client_error(
        "lookup_events", service_error_code="AccessDeniedException", http_status_code=403
    )
    monkeypatch.setattr(boto3, "client", lambda *_a, **_k: client)
    with stub:
        assert main(["audit", "--policy", "eu", "--lookup", "--region", "eu-central-1"]) == 2
    assert "reading AWS failed: AccessDeniedException" in capsys.readouterr().err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_tty_only() -> None:
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(stream, interval=0.0)
        bar.update(5000, "trail/a.json.gz")
        bar.close()
    assert "5,000 records" in tty.getvalue() and tty.getvalue().endswith("\r")
    assert pipe.getvalue() == ""


def test_since_accepts_iso_and_ages() -> None:
    from langchain_cris.cli.audit import _when

    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert _when("90m", now) == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    assert _when("2026-11-25T00:00:00Z", now) == datetime(2026, 11, 25, tzinfo=UTC)
    assert _when(None, now) is None


def _stub_lookup(monkeypatch: pytest.MonkeyPatch, expected_start: datetime | None) -> Stubber:
    client = boto3.client("cloudtrail", region_name="eu-central-1")
    stub = Stubber(client)
    stub.add_response(
        "lookup_events",
        {"Events": []},
        {
            "LookupAttributes": ANY,
            "StartTime": expected_start if expected_start is not None else ANY,
            "EndTime": ANY,
        },
    )
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: client)
    return stub


def test_lookup_older_than_90_days_is_cut_and_said(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LookupEvents sees 90 days back: a longer window is cut to that, with a message."""
    stub = _stub_lookup(monkeypatch, expected_start=NOW - timedelta(days=90))
    argv = ["audit", "--policy", "eu", "--lookup", "--region", "eu-central-1", "--since", "120d"]
    with stub:
        assert main(argv, clock=lambda: NOW) == 0
    stub.assert_no_pending_responses()
    err = capsys.readouterr().err
    assert "only returns the last 90 days" in err
    assert (NOW - timedelta(days=90)).isoformat() in err


def test_lookup_wholly_before_the_horizon_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A window LookupEvents can no longer see is an error (exit 2), never a clean report."""
    made: list[str] = []
    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: made.append(service))
    argv = [
        "audit",
        "--policy",
        "eu",
        "--lookup",
        "--region",
        "eu-central-1",
        "--since",
        "2026-01-01T00:00:00Z",
        "--until",
        "2026-02-01T00:00:00Z",
    ]
    assert main(argv, clock=lambda: NOW) == 2
    assert made == []  # refused before any AWS client was made
    assert "90-day horizon" in capsys.readouterr().err


def test_relative_windows_follow_the_injected_clock(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command a year later asks AWS for a window a year later (no wall clock)."""
    later = NOW + timedelta(days=365)
    stub = _stub_lookup(monkeypatch, expected_start=later - timedelta(hours=2))
    argv = ["audit", "--policy", "eu", "--lookup", "--region", "eu-central-1", "--since", "2h"]
    with stub:
        assert main(argv, clock=lambda: later) == 0
    stub.assert_no_pending_responses()
