"""One dataset, two residency variants of one chain, compared with LangSmith's evaluation API.

The same ``prompt | ChatBedrockCRIS | parser`` chain is bound once to the EU policy and once to
the global-cheapest policy (``with_residency``) and evaluated on a small dataset with
``langsmith.evaluation.evaluate`` and a deterministic evaluator. Every experiment run carries
the residency facts: the LLM runs get ``cris_*`` metadata and ``residency:``/``source:`` tags
from ``CRISCallbackHandler``; each row's outputs name the profile, source Region and request id;
the served Region is written as ``cris_served_region`` feedback once CloudTrail names it.

Without ``LANGSMITH_API_KEY`` nothing is uploaded: ``evaluate(..., upload_results=False)`` keeps the
experiment runs local, and the chain inside each run executes with tracing off (langchain-core
would otherwise attach a ``LangChainTracer`` that POSTs the child runs even in LangSmith's
"local" tracing mode). The residency facts then live on the experiment run (metadata and
outputs) and the served Regions in the results JSON under ``--out``. With a key, the
experiments, the traced LLM runs and the served-Region feedback go to LangSmith.

The summary compares the variants: quality, latency, tokens and Regions used.

Run it::

    python examples/langsmith_experiment.py                # local Bedrock, nothing uploaded
    python examples/langsmith_experiment.py --out results  # keep the JSON here
    LANGSMITH_API_KEY=... python examples/langsmith_experiment.py --aws
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Backend, add_backend_args, load_policy, open_backend, print_calls, use_aws
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langsmith import Client, get_current_run_tree, tracing_context
from langsmith.evaluation import evaluate
from langsmith.schemas import Example, Run

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.tracing import CRISCallbackHandler

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
VARIANTS = (("eu", "eu"), ("global", "global-cheapest"))  # (variant name, bundled policy)
DATASET: tuple[tuple[str, str], ...] = (
    ("Which AWS Regions may process an EU customer's prompt?", "EU"),
    ("What does cross-Region inference route between?", "Regions"),
    ("Name the cheapest inference profile family for Claude Sonnet 4.5.", "global"),
    ("Which log records the Region that served a Bedrock request?", "CloudTrail"),
)
DATASET_ID = uuid.UUID("4f2d6c1e-8a53-4c1b-9a57-2f0d3e6b8c11")


class _CrisCapture(BaseCallbackHandler):
    """Keeps the last ``response_metadata["cris"]`` (the parser turns the message into text)."""

    def __init__(self) -> None:
        self.cris: dict[str, Any] = {}

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        message = getattr(response.generations[0][0], "message", None)
        self.cris = dict(getattr(message, "response_metadata", {}).get("cris") or {})


def examples() -> list[Example]:
    """The dataset as LangSmith ``Example`` objects (stable ids, so runs compare across runs)."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Example(
            id=uuid.uuid5(DATASET_ID, question),
            dataset_id=DATASET_ID,
            inputs={"question": question},
            outputs={"keyword": keyword},
            created_at=created,
        )
        for question, keyword in DATASET
    ]


def mentions_keyword(run: Run, example: Example) -> dict[str, Any]:
    """Deterministic quality: 1 when the answer mentions the expected keyword, else 0."""
    answer = str((run.outputs or {}).get("answer", ""))
    keyword = str((example.outputs or {}).get("keyword", ""))
    return {"key": "mentions_keyword", "score": int(keyword.lower() in answer.lower())}


def build_chain(region: str, backend: Backend) -> Runnable[dict[str, Any], str]:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer in one short sentence."), ("human", "{question}")]
    )
    llm = ChatBedrockCRIS(model_id=MODEL, region_name=region, **backend.model_kwargs)
    return prompt | llm | StrOutputParser()


def make_target(
    chain: Runnable[dict[str, Any], str], handler: CRISCallbackHandler, *, upload: bool
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The evaluated function: the answer plus the route it took (on each experiment run)."""

    def target(inputs: dict[str, Any]) -> dict[str, Any]:
        capture = _CrisCapture()
        inner = contextlib.nullcontext() if upload else tracing_context(enabled=False)
        with inner:
            answer = chain.invoke(inputs, config={"callbacks": [handler, capture]})
        cris = capture.cris
        facts = {
            "cris_policy": cris.get("policy"),
            "cris_profile_id": cris.get("profile_id") or cris.get("model_id"),
            "cris_source_region": cris.get("source_region"),
            "cris_request_id": cris.get("request_id"),
        }
        run = get_current_run_tree()
        if run is not None:  # the experiment run of this example
            run.add_metadata(facts)
        return {"answer": answer, **facts}

    return target


def run_variant(
    name: str,
    policy: ResidencyPolicy,
    chain: Runnable[dict[str, Any], str],
    backend: Backend,
    *,
    upload: bool,
) -> dict[str, Any]:
    """Evaluate one variant; return its rows and summary (served Regions reconciled)."""
    with backend.handler() as handler:
        results = evaluate(
            make_target(with_residency(chain, policy), handler, upload=upload),
            data=examples(),
            evaluators=[mentions_keyword],
            experiment_prefix=f"cris-{name}",
            metadata={
                "variant": name,
                "cris_policy_name": policy.name,
                "cris_policy_digest": policy.digest,
                "cris_allowed_regions": sorted(policy.regions),
            },
            max_concurrency=0,
            # ``upload_results``: the name every langsmith release accepts (0.15 also
            # spells it ``upload_runs``).
            upload_results=upload,
            # Offline: no background uploader thread (it would ask LangSmith for /info).
            client=Client() if upload else Client(auto_batch_tracing=False),
        )
        raw = list(results)
        lines = print_calls(handler, backend, name)
        served = {state.request_id: state.served_region for state in handler.records()}
    rows = [_row(item, served) for item in raw]
    return {
        "variant": name,
        "policy": policy.to_dict(),
        "experiment": results.experiment_name,
        "rows": rows,
        "calls": [line.__dict__ for line in lines],
        "summary": _summary(name, policy, rows, lines),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run both variants, print the comparison, write the results JSON.

    Returns:
        0 when every call whose served Region is known ran inside its variant's policy.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_args(parser)
    parser.add_argument("--out", type=Path, default=None, help="directory for the JSON results")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=r".*'upload_(runs|results)' parameter is in beta")
    upload = bool(os.environ.get("LANGSMITH_API_KEY") or os.environ.get("LANGCHAIN_API_KEY"))
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="cris-experiment-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    with open_backend(use_aws(args), args.reconcile_timeout) as backend:
        where = "uploaded to LangSmith" if upload else "kept locally (no LANGSMITH_API_KEY)"
        print(f"Experiment on {backend.name}; results {where}\n")
        chain = build_chain(args.region, backend)
        variants = [
            run_variant(name, load_policy(policy), chain, backend, upload=upload)
            for name, policy in VARIANTS
        ]

    print()
    for variant in variants:
        for row in variant["rows"]:
            shown = {k: v for k, v in row.items() if k not in ("answer", "run_metadata")}
            print("row " + " ".join(f"{k}={v}" for k, v in shown.items()))
    print()
    for variant in variants:
        print("summary " + " ".join(f"{k}={v}" for k, v in variant["summary"].items()))
    path = out_dir / "experiment_results.json"
    path.write_text(json.dumps(variants, indent=2, default=_jsonable), encoding="utf-8")
    print(f"\nresults written to {path}")
    violations = sum(v["summary"]["outside_policy"] for v in variants)
    if violations:
        print(f"RESIDENCY VIOLATION: {violations} call(s) served outside their policy")
        return 1
    return 0


def _row(item: Mapping[str, Any], served: Mapping[str | None, str | None]) -> dict[str, Any]:
    run: Run = item["run"]
    outputs = run.outputs or {}
    scores = [r.score for r in item["evaluation_results"]["results"]]
    latency = (run.end_time - run.start_time).total_seconds() * 1000 if run.end_time else None
    return {
        "example": str(item["example"].id)[:8],
        "score": scores[0] if scores else None,
        "profile": outputs.get("cris_profile_id"),
        "source": outputs.get("cris_source_region"),
        "served": served.get(outputs.get("cris_request_id")) or "unknown",
        "latency_ms": round(latency, 1) if latency is not None else None,
        "run_metadata": {k: v for k, v in run.metadata.items() if k.startswith("cris_")},
        "answer": outputs.get("answer"),
    }


def _summary(
    name: str, policy: ResidencyPolicy, rows: list[dict[str, Any]], lines: Sequence[Any]
) -> dict[str, Any]:
    scores = [r["score"] for r in rows if r["score"] is not None]
    latencies = [r["latency_ms"] for r in rows if r["latency_ms"] is not None]
    return {
        "variant": name,
        "policy": policy.name,
        "quality": round(statistics.fmean(scores), 3) if scores else None,
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "tokens_in": sum(line.input_tokens for line in lines),
        "tokens_out": sum(line.output_tokens for line in lines),
        "profiles": ",".join(sorted({str(line.profile) for line in lines})),
        "sources": ",".join(sorted({str(line.source) for line in lines})),
        "served": ",".join(sorted({str(line.served) for line in lines})),
        "outside_policy": sum(1 for line in lines if line.in_policy == "NO"),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value)
    return value


if __name__ == "__main__":
    raise SystemExit(main())
