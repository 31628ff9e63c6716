"""Helpers shared by the sub-commands: policy option, plain-text tables."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from langchain_cris.policy import ResidencyPolicy

__all__ = ["add_policy_option", "format_table", "load_policy"]


def add_policy_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--policy",
        required=required,
        metavar="PRESET|FILE",
        help="a preset (eu, europe, us, apac, jp, au, ca, us-gov, global) or a .toml/.json file",
    )


def load_policy(spec: str) -> ResidencyPolicy:
    """``--policy`` value -> policy (raises a ResidencyError subclass on bad input)."""
    return ResidencyPolicy.load(spec)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, aligned text table (no third-party dependency)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
