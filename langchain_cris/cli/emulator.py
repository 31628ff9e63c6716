"""``langchain-cris emulator``: the embedded local Bedrock's own command, under the CLI."""

from langchain_cris.emulator.command import HELP, configure, main, run

__all__ = ["HELP", "configure", "main", "run"]
