"""``langchain-cris demo``: one model, an EU-bound chain, a global-bound chain, one refusal.

Runs on the embedded local Bedrock by default (no AWS account needed); ``--aws`` runs the same
scenario against real Amazon Bedrock with your credentials. For every call it prints the
policy, the profile sent, the source Region, the Region that served it and the tokens.

The served Region is never in a Converse response: ``CRISCallbackHandler`` reconciles it from
the source Region's CloudTrail (``additionalEventData.inferenceRegion``; absent = the source
Region), exactly as on AWS, where delivery takes minutes (``--wait`` bounds how long the demo
waits; the audit log can be reconciled later with ``langchain-cris reconcile``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.cli._common import format_table
from langchain_cris.errors import ResidencyError
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.regions import region_table
from langchain_cris.tracing import CRISCallbackHandler

HELP = "show EU vs global routing on the embedded local Bedrock (or real AWS with --aws)"

DEFAULT_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
DEFAULT_QUESTION = "In one sentence: where is my prompt processed?"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aws", action="store_true", help="use real AWS (your credentials)")
    parser.add_argument("--region", default="eu-central-1", help="source Region (client)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="base model id to route")
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    parser.add_argument(
        "--audit-log", metavar="FILE", help="also append the audit records to this JSONL file"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        help="seconds to wait for CloudTrail (default: 30 locally, 900 on AWS)",
    )


class _Capture(BaseCallbackHandler):
    """Keeps the chat model's AIMessage, which the chain's parser turns into a string."""

    def __init__(self) -> None:
        self.message: AIMessage | None = None

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        generation = response.generations[0][0]
        message = getattr(generation, "message", None)
        if isinstance(message, AIMessage):
            self.message = message


@contextlib.contextmanager
def _backend(use_aws: bool) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(model settings, handler settings) for the chosen backend."""
    if use_aws:
        yield {}, {"reconcile_first_poll": 30.0}
        return
    from langchain_cris.emulator import LocalBedrock  # the demo may import the emulator
    from langchain_cris.emulator.local import FAKE_CREDENTIALS

    with LocalBedrock(seed=0) as bedrock:
        settings = {
            "endpoint_url": bedrock.endpoint_url,
            "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        # The handler reads CloudTrail through the same endpoint, as boto3 would on AWS.
        yield (
            settings,
            {
                "cloudtrail_client_factory": lambda region: bedrock.client("cloudtrail", region),
                "reconcile_first_poll": 0.05,
            },
        )


def run(args: argparse.Namespace) -> int:
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    headers = ["chain", "policy", "profile sent", "source", "served in", "tokens in/out", "answer"]
    rows: list[list[str]] = []
    wait = args.wait if args.wait is not None else (900.0 if args.aws else 30.0)
    messages: dict[str, AIMessage] = {}
    with _backend(args.aws) as (settings, handler_settings):
        handler = CRISCallbackHandler(
            audit_path=args.audit_log,
            reconcile="background",
            reconcile_deadline=wait,
            **handler_settings,
        )
        llm = ChatBedrockCRIS(model_id=args.model, region_name=args.region, **settings)
        chains = {
            "EU-bound": with_residency(
                prompt | llm | StrOutputParser(), ResidencyPolicy.preset("eu")
            ),
            "global-bound": with_residency(
                prompt | llm | StrOutputParser(), ResidencyPolicy.preset("global")
            ),
        }
        answers: dict[str, str] = {}
        for label, chain in chains.items():
            capture = _Capture()
            answers[label] = chain.invoke(
                {"question": args.question}, config={"callbacks": [capture, handler]}
            )
            assert capture.message is not None
            messages[label] = capture.message
        handler.wait_reconciled(timeout=wait)
        served = {state.request_id: state.served_region for state in handler.records()}
        handler.close()
        for label, message in messages.items():
            cris = message.response_metadata["cris"]
            usage: dict[str, Any] = dict(message.usage_metadata or {})
            rows.append(
                [
                    label,
                    cris["policy"],
                    cris["model_id"],
                    cris["source_region"],
                    served.get(cris["request_id"]) or "pending",
                    f"{usage.get('input_tokens', '?')}/{usage.get('output_tokens', '?')}",
                    _short(answers[label]),
                ]
            )
        refused_id = _global_id(args.model)
        refusal = with_residency(
            prompt | llm.bind(model=refused_id) | StrOutputParser(), ResidencyPolicy.preset("eu")
        )
        try:
            refusal.invoke({"question": args.question})
            refusal_message = "(not refused: the catalog has no global profile for this model)"
        except ResidencyError as exc:
            refusal_message = f"{type(exc).__name__}: {exc}"
        rows.append(["EU-bound", "eu", refused_id, args.region, "not sent", "-", "REFUSED"])

    if args.json:
        for row in rows:
            print(json.dumps(dict(zip(headers, row, strict=True))))
        print(json.dumps({"refusal": refusal_message}))
        return 0
    backend = "real AWS" if args.aws else "the embedded local Bedrock (no AWS account used)"
    print(f"One ChatBedrockCRIS ({args.model}, client in {args.region}) on {backend}:\n")
    print(format_table(headers, rows))
    print(
        "\n'served in' is reconciled from the source Region's CloudTrail "
        "(Converse responses never name it)."
    )
    print(f"\nRefusal, raised before anything was sent:\n  {refusal_message}")
    return 0


def _global_id(model: str) -> str:
    """The ``global.`` profile id of ``model`` (a base model id or any geo profile id)."""
    head, _, rest = model.partition(".")
    base = rest if head in region_table().profile_prefixes else model
    return f"global.{base}"


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
