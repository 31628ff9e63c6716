"""What a chat-model run tells about its route, read from the run's own callback arguments.

The handler (:mod:`.handler`) learns everything from what langchain-core hands every callback:
the serialized model, the run metadata (``cris_*`` keys stamped by the binding and by
``ChatBedrockCRIS``, LangChain's ``ls_*`` keys) and the final ``LLMResult``. These pure
functions read those and turn an audit record into LangSmith metadata and tags; keeping them
apart leaves the handler about callbacks, writing and reconciliation only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from langchain_cris.audit.records import PENDING
from langchain_cris.errors import ResidencyError

__all__ = [
    "RunStart",
    "fields_from_contract",
    "fields_from_plain",
    "first_message",
    "is_bedrock",
    "message_text",
    "plain_route",
    "policy_from_metadata",
    "request_id",
    "source_region",
    "tags",
    "trace_metadata",
]

BEDROCK_PROVIDERS = frozenset({"amazon_bedrock", "bedrock", "aws_bedrock"})
"""``ls_provider`` values langchain-aws's models report."""


def policy_from_metadata(metadata: Mapping[str, Any]) -> tuple[str | None, str | None, list[str]]:
    """(name, digest, allowed Regions) of the policy bound to the chain, if any."""
    policy = metadata.get("cris_policy")
    name = metadata.get("cris_policy_name")
    regions: list[str] = []
    if isinstance(policy, Mapping):
        name = name or policy.get("name")
        regions = sorted(str(r) for r in policy.get("regions") or ())
    return (
        str(name) if name else None,
        str(metadata["cris_policy_digest"]) if metadata.get("cris_policy_digest") else None,
        regions,
    )


def is_bedrock(serialized: Mapping[str, Any] | None, metadata: Mapping[str, Any]) -> bool:
    if metadata.get("ls_provider") in BEDROCK_PROVIDERS or "cris_policy" in metadata:
        return True
    ident = (serialized or {}).get("id") or []
    return any("Bedrock" in str(part) for part in ident)


def source_region(serialized: Mapping[str, Any] | None, metadata: Mapping[str, Any]) -> str | None:
    params = metadata.get("ls_invocation_params")
    if isinstance(params, Mapping) and params.get("region_name"):
        return str(params["region_name"])
    kwargs = (serialized or {}).get("kwargs")
    if isinstance(kwargs, Mapping) and isinstance(kwargs.get("region_name"), str):
        return str(kwargs["region_name"])
    return None


def plain_route(
    model_id: str | None, source_region: str | None
) -> tuple[str | None, str | None, str | None]:
    """(geography, profile id, in-band served Region) of a plain ``ChatBedrockConverse`` call.

    A base model id is served in the source Region, so that is known at once; a profile's
    serving Region is only known after reconciliation.
    """
    if not model_id:
        return None, None, None
    from langchain_cris.routing import parse_model_identifier

    try:
        parsed = parse_model_identifier(model_id)
    except ResidencyError:
        return None, None, None
    if parsed.kind in ("base", "foundation_arn"):
        return "in-region", None, source_region
    if parsed.kind == "application":
        return "application", None, None
    return parsed.model_id.split(".", 1)[0], parsed.model_id, None


def request_id(response_metadata: Mapping[str, Any]) -> str | None:
    meta = response_metadata.get("ResponseMetadata")
    if isinstance(meta, Mapping) and meta.get("RequestId"):
        return str(meta["RequestId"])
    return None


def message_text(message: BaseMessage) -> str:
    return message.text if isinstance(message.text, str) else str(message.content)


def first_message(response: LLMResult) -> BaseMessage | None:
    for generations in response.generations:
        for generation in generations:
            if isinstance(generation, ChatGeneration):
                return generation.message
    return None


def trace_metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``cris_*`` run metadata (``cris_policy`` itself is the bound policy; left alone)."""
    keys = (
        "policy_digest",
        "mode",
        "model_id",
        "profile_id",
        "geography",
        "source_region",
        "allowed_regions",
        "destination_regions",
        "request_id",
        "latency_ms",
        "outcome",
        "error_type",
        "served_region",
        "cost",
    )
    out = {f"cris_{k}": record[k] for k in keys if record.get(k) not in (None, [])}
    out.update(side_channel_metadata(record))
    if record.get("policy"):
        out["cris_policy_name"] = record["policy"]
    return out


def side_channel_metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    """``cris_guardrail_*`` and ``cris_trace_endpoints``: the prompt's other destinations."""
    out: dict[str, Any] = {}
    guardrail = record.get("guardrail")
    if isinstance(guardrail, Mapping):
        out["cris_guardrail_id"] = guardrail.get("guardrail_id")
        if guardrail.get("guardrail_profile_id"):
            out["cris_guardrail_profile_id"] = guardrail["guardrail_profile_id"]
        out["cris_guardrail_regions"] = list(guardrail.get("destination_regions") or ())
    traces = record.get("trace_destinations") or ()
    if traces:
        out["cris_trace_endpoints"] = sorted({str(t.get("endpoint")) for t in traces})
    return out


def refusal_side_channels(error: BaseException) -> dict[str, Any]:
    """Audit fields of a guardrail or telemetry refusal (what it would have reached)."""
    guardrail_id = getattr(error, "guardrail_id", None)
    if guardrail_id is not None:
        return {
            "guardrail": {
                "guardrail_id": guardrail_id,
                "guardrail_version": getattr(error, "guardrail_version", None),
                "guardrail_profile_id": getattr(error, "guardrail_profile_id", None),
                "source_region": getattr(error, "source_region", None),
                "outside_regions": sorted(getattr(error, "outside_regions", ()) or ()),
                "violations": [str(error)],
            }
        }
    endpoints = getattr(error, "endpoints", None)
    if endpoints:
        return {
            "trace_destinations": [
                {"kind": "langsmith", "endpoint": e, "content": True} for e in endpoints
            ]
        }
    return {}


def tags(record: Mapping[str, Any]) -> list[str]:
    """Searchable tags: ``residency:<policy>``, ``cris:<geo>``, ``source:…``, ``served:…``."""
    tags = []
    for prefix, key in (
        ("residency", "policy"),
        ("cris", "geography"),
        ("source", "source_region"),
        ("served", "served_region"),
    ):
        if record.get(key):
            tags.append(f"{prefix}:{record[key]}")
    if record.get("outcome") in ("violation", "refused"):
        tags.append(f"cris-{record['outcome']}")
    return tags


@dataclass
class RunStart:
    """What is known when a chat-model run starts."""

    started: float
    ts: str
    parent_run_id: str | None
    metadata: dict[str, Any]
    model: str | None
    source_region: str | None
    span: Any = None
    prompts: list[dict[str, Any]] | None = None


def fields_from_contract(cris: Mapping[str, Any], start: RunStart) -> dict[str, Any]:
    """Audit-record fields of a ``ChatBedrockCRIS`` run, from its ``response_metadata["cris"]``."""
    return {
        "policy": cris.get("policy"),
        "policy_digest": cris.get("policy_digest"),
        "mode": cris.get("mode"),
        "model_id": cris.get("model_id"),
        "profile_id": cris.get("profile_id"),
        "profile_arn": cris.get("profile_arn"),
        "geography": cris.get("geography"),
        "source_region": cris.get("source_region") or start.source_region,
        "allowed_regions": sorted(cris.get("allowed_regions") or ()),
        "destination_regions": sorted(cris.get("destination_regions") or ()),
        "request_id": cris.get("request_id"),
        "served_region": cris.get("served_region") or PENDING,
        "attempts": list(cris.get("attempts") or ()),
        "cost": cris.get("cost"),
        "guardrail": cris.get("guardrail"),
        "trace_destinations": list(cris.get("trace_destinations") or ()),
    }


def fields_from_plain(response_metadata: Mapping[str, Any], start: RunStart) -> dict[str, Any]:
    """Audit-record fields of a plain ``ChatBedrockConverse`` run, as far as its metadata tells."""
    name, digest, allowed = policy_from_metadata(start.metadata)
    model_id = response_metadata.get("model_name") or start.model
    geography, profile_id, served = plain_route(model_id, start.source_region)
    return {
        "policy": name,
        "policy_digest": digest,
        "model_id": model_id,
        "profile_id": profile_id,
        "geography": geography,
        "source_region": start.source_region,
        "allowed_regions": allowed,
        "request_id": request_id(response_metadata),
        "served_region": served or PENDING,
    }
