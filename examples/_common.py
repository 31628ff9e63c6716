"""Plumbing shared by the examples: the backend, the served-Region handler, the report lines.

Every example runs against an in-process local Bedrock by default (no AWS account, no
credentials) and against real Amazon Bedrock with ``--aws`` or ``LANGCHAIN_CRIS_USE_AWS=1``.
In both cases the served Region of each model call is learned the same way: the
``CRISCallbackHandler`` looks the request id up in the source Region's CloudTrail
(``additionalEventData.inferenceRegion``). On AWS CloudTrail takes minutes to deliver, so
calls show ``pending`` unless ``--reconcile-timeout`` waits long enough.

Each model call is printed as one ``key=value`` line starting with ``call`` (the tests parse
them)::

    call label=acme-eu policy=eu profile=eu.anthropic.… source=eu-central-1 served=eu-west-3 …
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_cris.policy import ResidencyPolicy
from langchain_cris.tracing import CRISCallbackHandler

__all__ = [
    "AWS_ENV_VAR",
    "Backend",
    "CallLine",
    "add_backend_args",
    "load_policy",
    "open_backend",
    "parse_lines",
    "print_calls",
    "use_aws",
]

AWS_ENV_VAR = "LANGCHAIN_CRIS_USE_AWS"
POLICY_DIR = Path(__file__).resolve().parent / "policies"
DEFAULT_REGION = "eu-central-1"
LOCAL_RECONCILE_TIMEOUT_S = 30.0


def load_policy(name: str) -> ResidencyPolicy:
    """One of the bundled example policies (``eu``, ``europe``, ``global-cheapest``)."""
    return ResidencyPolicy.from_file(POLICY_DIR / f"{name}.toml")


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--aws",
        action="store_true",
        help=f"use real Amazon Bedrock with your credentials (or set {AWS_ENV_VAR}=1)",
    )
    parser.add_argument("--region", default=DEFAULT_REGION, help="source Region of the client")
    parser.add_argument(
        "--reconcile-timeout",
        type=float,
        default=None,
        help="seconds to wait for CloudTrail to name the served Regions "
        f"(default {LOCAL_RECONCILE_TIMEOUT_S:g} locally, 0 on AWS: calls stay 'pending')",
    )


def use_aws(args: argparse.Namespace) -> bool:
    return bool(args.aws) or os.environ.get(AWS_ENV_VAR, "").strip().lower() in ("1", "true", "yes")


@dataclass
class Backend:
    """Where the examples send their calls, and how to learn where those calls ran."""

    aws: bool
    reconcile_timeout: float
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra constructor arguments for Bedrock models/embeddings (endpoint, fake credentials)."""
    local: Any = None
    """The running ``LocalBedrock`` (None on AWS)."""

    @property
    def name(self) -> str:
        return "real Amazon Bedrock" if self.aws else "the embedded local Bedrock (no AWS account)"

    def handler(self, **kwargs: Any) -> CRISCallbackHandler:
        """A callback handler that reconciles served Regions from CloudTrail in the background."""
        if self.local is not None:
            local = self.local
            kwargs.setdefault("cloudtrail_client_factory", lambda r: local.client("cloudtrail", r))
            kwargs.setdefault("reconcile_first_poll", 0.05)
            kwargs.setdefault("reconcile_max_interval", 0.5)
            kwargs.setdefault("reconcile_deadline", LOCAL_RECONCILE_TIMEOUT_S)
        return CRISCallbackHandler(reconcile="background", **kwargs)

    def runtime_calls(self, operation: str | None = None) -> list[Any]:
        """Local only: the emulator's wire log of bedrock-runtime calls (what AWS never shows)."""
        if self.local is None:
            return []
        return [r for r in self.local.wire_log.runtime() if operation in (None, r.operation)]


@contextlib.contextmanager
def open_backend(aws: bool, reconcile_timeout: float | None = None) -> Iterator[Backend]:
    """The chosen backend; locally a ``LocalBedrock`` runs for the duration of the block."""
    if aws:
        yield Backend(aws=True, reconcile_timeout=reconcile_timeout or 0.0)
        return
    # Examples may import the emulator; the library never does.
    from langchain_cris.emulator import LocalBedrock
    from langchain_cris.emulator.local import FAKE_CREDENTIALS

    timeout = LOCAL_RECONCILE_TIMEOUT_S if reconcile_timeout is None else reconcile_timeout
    with LocalBedrock(seed=0) as bedrock:
        yield Backend(
            aws=False,
            reconcile_timeout=timeout,
            model_kwargs={
                "endpoint_url": bedrock.endpoint_url,
                "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            },
            local=bedrock,
        )


@dataclass(frozen=True)
class CallLine:
    """One model call as the example reports it."""

    label: str
    policy: str
    profile: str
    source: str
    served: str
    in_policy: str
    outcome: str
    input_tokens: int
    output_tokens: int
    latency_ms: float | None

    def render(self) -> str:
        return (
            f"call label={self.label} policy={self.policy} profile={self.profile} "
            f"source={self.source} served={self.served} in_policy={self.in_policy} "
            f"outcome={self.outcome} tokens={self.input_tokens}/{self.output_tokens}"
        )


def print_calls(
    handler: CRISCallbackHandler, backend: Backend, label: str, *, reconcile: bool = True
) -> list[CallLine]:
    """Wait for the served Regions (up to the backend's timeout), then print one line per call."""
    if reconcile and backend.reconcile_timeout > 0:
        handler.wait_reconciled(timeout=backend.reconcile_timeout)
    lines = [_line(label, state.call or {}, state.served_region) for state in handler.records()]
    for line in lines:
        print(line.render())
    return lines


def _line(label: str, call: Mapping[str, Any], served: str | None) -> CallLine:
    allowed: Sequence[str] = call.get("allowed_regions") or ()
    served_text = served or "unknown"
    if served_text in ("pending", "unknown") or not allowed:
        verdict = "unknown"
    else:
        verdict = "yes" if served_text in allowed else "NO"
    return CallLine(
        label=label,
        policy=str(call.get("policy")),
        profile=str(call.get("profile_id") or call.get("model_id")),
        source=str(call.get("source_region")),
        served=served_text,
        in_policy=verdict,
        outcome=str(call.get("outcome")),
        input_tokens=int(call.get("input_tokens") or 0),
        output_tokens=int(call.get("output_tokens") or 0),
        latency_ms=call.get("latency_ms"),
    )


def parse_lines(text: str, kind: str = "call") -> list[dict[str, str]]:
    """The ``key=value`` report lines of ``kind`` in an example's output (used by the tests)."""
    rows = []
    for raw in text.splitlines():
        if raw.startswith(kind + " "):
            rows.append(dict(part.split("=", 1) for part in raw.split()[1:] if "=" in part))
    return rows
