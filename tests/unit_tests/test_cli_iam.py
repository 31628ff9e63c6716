"""``langchain-cris iam``, run in-process through ``langchain_cris.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.cli import main
from langchain_cris.iam import build_identity_policy, build_scp
from langchain_cris.policy import ResidencyPolicy

ACCOUNT = "111122223333"
SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
EU = ResidencyPolicy.preset("eu")
GOLDEN = Path(__file__).parent / "golden" / "iam"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["iam", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_identity_policy_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--policy", "eu", "--model", SONNET45, "--account", ACCOUNT)
    assert code == 0 and err == ""
    assert json.loads(out) == json.loads((GOLDEN / "eu_identity.json").read_text())


def test_repeatable_model_and_source_region(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--policy", "eu", "--account", ACCOUNT, "--model", SONNET45, "--model", NOVA_PRO]
    argv += ["--source-region", "eu-west-1", "--source-region", "eu-south-1"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    expected = build_identity_policy(
        EU, [SONNET45, NOVA_PRO], account_id=ACCOUNT, source_regions=["eu-west-1", "eu-south-1"]
    )
    assert json.loads(out) == expected.to_json()
    sids = [s["Sid"] for s in json.loads(out)["Statement"]]
    assert len(sids) == 4 and any("NovaPro" in s for s in sids)


def test_scp_json_and_terraform(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--policy", "eu", "--scp")
    assert code == 0
    assert json.loads(out) == json.loads((GOLDEN / "eu_scp.json").read_text())
    code, out, _ = _run(
        capsys, "--policy", "europe", "--scp", "--model", SONNET45, "--format", "terraform"
    )
    assert code == 0
    tf = json.loads(out)
    assert tf["policy_name"] == "langchain-cris-europe-scp"
    assert tf["policy_type"] == "SERVICE_CONTROL_POLICY"
    assert json.loads(tf["policy_document"]) == json.loads((GOLDEN / "europe_scp.json").read_text())


def test_scp_deny_in_region_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--policy", "eu", "--scp", "--deny-in-region")
    assert code == 0
    assert json.loads(out) == build_scp(EU, deny_in_region=True).to_json()
    assert "DenyDirectFoundationModelInvocation" in out


def test_explain_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "--policy", "eu", "--model", SONNET45, "--account", ACCOUNT, "--explain"
    )
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["Sid", "Effect", "Subject", "Sources", "Regions", "Why"]
    assert "GrantGeoCrisModelAccessEuAnthropicClaudeSonnet4520250929V10" in out
    assert f"not granted: global.{SONNET45}" in out


def test_policy_file_and_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fr-de.toml"
    path.write_text('regions = ["eu-west-3", "eu-central-1"]\nallow_in_region = false\n')
    code, out, _ = _run(capsys, "--policy", str(path), "--scp", "--name", "acme residency")
    assert code == 0
    doc = json.loads(out)
    allow_list = doc["Statement"][1]["Condition"]["StringNotEquals"]["aws:RequestedRegion"]
    assert allow_list == ["eu-central-1", "eu-west-3"]
    assert doc["Statement"][2]["Sid"] == "DenyDirectFoundationModelInvocation"
    code, out, _ = _run(
        capsys, "--policy", str(path), "--scp", "--format", "terraform", "--name", "acme residency"
    )
    assert json.loads(out)["policy_name"] == "acme-residency"


def test_catalog_snapshot_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = tmp_path / "profiles.json"
    ProfileCatalog.bundled().to_file(snapshot)
    code, out, _ = _run(
        capsys,
        "--policy",
        "eu",
        "--model",
        SONNET45,
        "--account",
        ACCOUNT,
        "--catalog",
        str(snapshot),
    )
    assert code == 0
    assert json.loads(out) == json.loads((GOLDEN / "eu_identity.json").read_text())
    code, _, err = _run(
        capsys, "--policy", "eu", "--scp", "--catalog", str(tmp_path / "missing.json")
    )
    assert code == 2 and "cannot read profile catalog" in err


def test_oversized_document_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--policy", "global", "--model", SONNET45, "--account", ACCOUNT)
    assert code == 0 and json.loads(out)["Statement"]
    assert "over the AWS limit of 6144" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--policy", "eu", "--model", SONNET45, "--account", "1234"], "12 digits"),
        (
            ["--policy", "eu", "--model", "anthropic.claude-sonet", "--account", ACCOUNT],
            "close matches",
        ),
        (
            [
                "--policy",
                "eu",
                "--model",
                SONNET45,
                "--account",
                ACCOUNT,
                "--source-region",
                "eu-west-2",
            ],
            "SourceRegionNotAllowedError",
        ),
        (
            [
                "--policy",
                "eu",
                "--model",
                SONNET45,
                "--account",
                ACCOUNT,
                "--source-region",
                "eu-wst-1",
            ],
            "UnknownRegionError",
        ),
        (
            ["--policy", "eu", "--model", f"global.{SONNET45}", "--account", ACCOUNT],
            "What would comply",
        ),
        (["--policy", "eu", "--model", SONNET45], "needs --account"),
        (["--policy", "eu", "--account", ACCOUNT], "at least one --model"),
        (
            ["--policy", "eu", "--model", SONNET45, "--account", ACCOUNT, "--deny-in-region"],
            "--scp only",
        ),
        (["--policy", "atlantis", "--scp"], "allowed presets"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert needle in err
