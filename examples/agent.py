"""A tool-using agent that serves an EU tenant and a global tenant under their own policies.

One ``create_agent`` graph, one ``ChatBedrockCRIS`` and one ``ResidencyMiddleware``: the policy
comes from the runtime context of each invocation (``Tenant.cris_policy``), so the EU tenant's
model calls go to ``eu.`` profiles from an EU source Region and the global tenant's to
``global.`` profiles. The ``order_summary`` tool runs a sub-chain with its own
``ChatBedrockCRIS``; it inherits the tenant's policy through the middleware.

For every model call (the agent's and the tool sub-chain's) it prints the profile, the source
Region and the served Region (from CloudTrail, via ``CRISCallbackHandler``).

Run it::

    python examples/agent.py            # embedded local Bedrock, no AWS account needed
    python examples/agent.py --aws      # real Amazon Bedrock (or LANGCHAIN_CRIS_USE_AWS=1)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CallLine,
    add_backend_args,
    load_policy,
    open_backend,
    print_calls,
    use_aws,
)
from langchain.agents import create_agent
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import BaseTool, tool

from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.middleware import ResidencyMiddleware
from langchain_cris.policy import ResidencyPolicy

AGENT_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TOOL_MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"
QUESTION = "Give me an order summary for order A-1001, please."
SYSTEM_PROMPT = (
    "You are a customer-support agent. Use the order_summary tool for questions about an "
    "order and delivery_eta for delivery times. Answer in two sentences."
)

ORDERS: dict[str, dict[str, Any]] = {
    "A-1001": {"status": "shipped", "items": ["router", "cable"], "carrier": "DHL"},
    "B-2002": {"status": "processing", "items": ["laptop"], "carrier": None},
}
ETA_DAYS = {"DE": 1, "FR": 2, "US": 5}
_ORDER_ID = re.compile(r"\b[A-Z]-\d{4}\b")


@dataclass(frozen=True)
class Tenant:
    """Runtime context of one invocation: who is asking and under which residency policy."""

    name: str
    cris_policy: ResidencyPolicy


def build_tools(summarizer_model: ChatBedrockCRIS) -> list[BaseTool]:
    """``order_summary`` (runs a sub-chain on Bedrock) and ``delivery_eta`` (pure lookup)."""
    summarizer = (
        ChatPromptTemplate.from_messages(
            [("human", "Summarize this order record for a customer in one sentence: {record}")]
        )
        | summarizer_model
        | StrOutputParser()
    )

    @tool
    def order_summary(order_id: str) -> str:
        """Summarize an order (status, items, carrier) given its id, e.g. A-1001."""
        match = _ORDER_ID.search(order_id.upper())
        key = match.group(0) if match else order_id.strip()
        record = ORDERS.get(key, {"error": f"no order {key!r}", "known": sorted(ORDERS)})
        # No config passed: the sub-chain inherits the tenant's policy from the tool's run.
        return summarizer.invoke({"record": json.dumps({"order_id": key, **record})})

    @tool
    def delivery_eta(country: str) -> str:
        """Typical delivery time in days to a country (ISO code such as DE)."""
        days = ETA_DAYS.get(country.strip().upper()[:2])
        return f"{days} days" if days is not None else "unknown country"

    return [order_summary, delivery_eta]


def build_agent(region: str, model_kwargs: dict[str, Any]) -> Any:
    """The agent: one model, two tools, the residency middleware (policy from the context)."""
    llm = ChatBedrockCRIS(model_id=AGENT_MODEL, region_name=region, **model_kwargs)
    summarizer_model = ChatBedrockCRIS(model_id=TOOL_MODEL, region_name=region, **model_kwargs)
    return create_agent(
        llm,
        tools=build_tools(summarizer_model),
        system_prompt=SYSTEM_PROMPT,
        middleware=[ResidencyMiddleware()],
        context_schema=Tenant,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Answer the same question for an EU tenant and a global tenant; print every call.

    Returns:
        0 when every call whose served Region is known ran inside its tenant's policy, else 1.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_args(parser)
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)

    tenants = [
        Tenant("acme-eu", load_policy("eu")),
        Tenant("globex-global", load_policy("global-cheapest")),
    ]
    lines: list[CallLine] = []
    with open_backend(use_aws(args), args.reconcile_timeout) as backend:
        print(f"Agent on {backend.name}; client Region {args.region}\n")
        agent = build_agent(args.region, backend.model_kwargs)
        for tenant in tenants:
            with backend.handler() as handler:
                result = agent.invoke(
                    {"messages": [{"role": "user", "content": args.question}]},
                    context=tenant,
                    config={"callbacks": [handler]},
                )
                answer = result["messages"][-1].text
                print(f"tenant {tenant.name} (policy {tenant.cris_policy.name}): {_short(answer)}")
                lines += print_calls(handler, backend, tenant.name)
                print()
    outside = [line for line in lines if line.in_policy == "NO"]
    if outside:
        print(f"RESIDENCY VIOLATION: {len(outside)} call(s) served outside their policy")
        return 1
    print(f"{len(lines)} model calls, every known served Region inside its tenant's policy.")
    return 0


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    raise SystemExit(main())
