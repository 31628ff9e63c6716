"""Helpers shared by the sub-commands: policy option, plain-text tables."""

from __future__ import annotations

import argparse

from langchain_cris._text import format_table
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table

__all__ = ["add_policy_option", "format_table", "load_policy"]


def add_policy_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--policy",
        required=required,
        metavar="PRESET|FILE",
        help=f"a preset ({', '.join(sorted(region_table().presets))}) or a .toml/.json file",
    )


def load_policy(spec: str) -> ResidencyPolicy:
    """``--policy`` value -> policy (raises a ResidencyError subclass on bad input)."""
    return ResidencyPolicy.load(spec)
