"""The README's first two commands are what CI runs; keep them in lock-step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_starts_with_demo_and_test_commands() -> None:
    demo, tests = _readme_commands()
    assert "langchain-cris demo" in demo
    assert "pytest" in tests
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("---", 1)[0]
    assert head.count("```bash") == 2


def test_ci_runs_exactly_the_readme_commands() -> None:
    demo, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"TEST_CMD='{tests}'" in ci
    assert f"DEMO_CMD='{demo}'" in ci
