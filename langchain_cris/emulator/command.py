"""``langchain-cris emulator`` / ``python -m langchain_cris.emulator``: run it until Ctrl-C.

It lives with the emulator (the CLI re-exports it) so that the emulator never imports the CLI.

It prints the environment variables that point unmodified AWS SDKs (and ChatBedrockConverse)
at it. Exit codes: 0 after a clean stop, 2 for a bad config file.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

HELP = "run the embedded local Bedrock (Converse, CRIS routing, CloudTrail) until Ctrl-C."

__all__ = ["HELP", "configure", "main", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=4566, help="TCP port (0 = any free port)")
    parser.add_argument("--seed", type=int, default=None, help="seed for routing and faults")
    parser.add_argument("--config", default=None, help="JSON or TOML emulator config file")
    parser.add_argument(
        "--profiles",
        default=None,
        metavar="PATH",
        help="serve inference-profile routes from this snapshot instead of the bundle "
        "(rehearse AWS changing a profile)",
    )
    parser.add_argument(
        "--region", default="eu-central-1", help="AWS_DEFAULT_REGION to suggest (source Region)"
    )


def run(args: argparse.Namespace) -> int:
    from langchain_cris.emulator.local import LocalBedrock

    kwargs: dict[str, Any] = {"host": args.host, "port": args.port, "profiles": args.profiles}
    try:
        bedrock = (
            LocalBedrock(args.config, seed=args.seed, **kwargs)
            if args.seed is not None
            else LocalBedrock(args.config, **kwargs)
        )
    except (OSError, ValueError) as exc:
        print(f"langchain-cris emulator: bad config: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with bedrock:
            print(f"Local Bedrock listening on {bedrock.endpoint_url}", flush=True)
            print("Export these to point AWS SDKs at it:", flush=True)
            for key, value in bedrock.env(args.region).items():
                print(f"export {key}={value}", flush=True)
            try:
                while not done.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
        print("Local Bedrock stopped.", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m langchain_cris.emulator", description=HELP)
    configure(parser)
    return run(parser.parse_args(argv))
