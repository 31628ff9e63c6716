"""The ``langchain-cris`` command: a thin layer over the public API.

Each sub-command lives in its own module of this package exposing ``HELP`` (one line),
``configure(parser)`` and ``run(args) -> int``. Exit codes: 0 success, 1 policy violations found
(``audit``/``reconcile``) or a log that is not intact (``verify``), 2 bad input (unknown model,
Region, policy file …).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from langchain_cris.errors import ResidencyError

__all__ = ["main"]

# name -> module; the order is the order of ``--help``.
_COMMANDS: dict[str, str] = {
    "demo": "langchain_cris.cli.demo",
    "resolve": "langchain_cris.cli.resolve",
    "profiles": "langchain_cris.cli.profiles",
    "emulator": "langchain_cris.cli.emulator",
    "reconcile": "langchain_cris.cli.reconcile",
    "iam": "langchain_cris.cli.iam",
    "audit": "langchain_cris.cli.audit",
    "verify": "langchain_cris.cli.verify",
}

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langchain-cris",
        description="Residency-aware Amazon Bedrock cross-Region inference for LangChain.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in _COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # sub-command not shipped in this build
            raise
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def utc_now() -> datetime:
    """The wall clock, in UTC: the default ``clock`` of :func:`main`."""
    return datetime.now(UTC)


def main(argv: Sequence[str] | None = None, *, clock: Callable[[], datetime] = utc_now) -> int:
    """Entry point; returns the process exit code.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).
        clock: What "now" is for relative times (``--since 2h``) and CloudTrail's 90-day
            LookupEvents horizon; sub-commands read it as ``args.clock`` and never the wall clock
            themselves, so tests (and replays of old evidence) can fix it.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.clock = clock
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args._run(args))
    except ResidencyError as exc:
        print(f"langchain-cris {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into e.g. ``head``: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
