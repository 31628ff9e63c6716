"""OpenTelemetry spans for Bedrock chat-model runs (optional extra ``langchain-cris[otel]``).

One ``CLIENT`` span per chat-model run, named ``chat <model>`` and carrying the GenAI semantic
convention attributes (``gen_ai.system`` and its successor ``gen_ai.provider.name`` both set to
``aws.bedrock``, ``gen_ai.operation.name``, ``gen_ai.request.model``, ``gen_ai.response.id``,
``gen_ai.usage.*``), ``cloud.provider``/``cloud.region`` (the *source* Region: where the client
sent the call) and ``cris.*`` attributes for the residency facts.

An ended span cannot change, and the served Region arrives minutes later; reconciliation
therefore emits a short ``cris.reconcile`` span *linked* to the call's span, carrying
``cris.served_region`` and ``cris.compliant``. Backends show it next to the call via the link.

opentelemetry is imported lazily so that the package works without the extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["OTEL_MISSING_MESSAGE", "CRISSpans", "cost_attributes", "load_tracer"]

OTEL_MISSING_MESSAGE = (
    "CRISCallbackHandler(otel=...) needs OpenTelemetry, which is not installed; "
    "install the extra with: pip install 'langchain-cris[otel]' (or pass otel=False)"
)

_INSTRUMENTATION = "langchain_cris"


def load_tracer(otel: Any) -> Any:
    """Return an OTel tracer for ``otel`` (``True`` = the global provider's; a tracer = itself).

    Raises:
        ImportError: ``otel=True`` but opentelemetry-api is not installed (names the extra).
    """
    if otel is True:
        try:
            from opentelemetry import trace
        except ImportError as exc:
            raise ImportError(OTEL_MISSING_MESSAGE) from exc
        return trace.get_tracer(_INSTRUMENTATION)
    if not hasattr(otel, "start_span"):
        raise TypeError(
            f"otel must be False, True or an opentelemetry Tracer, got {type(otel).__name__}"
        )
    return otel


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OTel attributes may not be None and sequences must be homogeneous lists."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            value = (
                [str(v) for v in sorted(value)]
                if isinstance(value, (set, frozenset))
                else [str(v) for v in value]
            )
        out[key] = value
    return out


class CRISSpans:
    """Starts, finishes and links the spans of one handler (thread-safe: no shared state)."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry.trace import SpanKind

        self._tracer = tracer
        self._client_kind = SpanKind.CLIENT
        self._internal_kind = SpanKind.INTERNAL

    def start(self, model: str | None, source_region: str | None) -> Any:
        """Start the span of a chat-model run (not made current: callbacks hop threads)."""
        name = f"chat {model}" if model else "chat"
        return self._tracer.start_span(
            name,
            kind=self._client_kind,
            attributes=_clean(
                {
                    "gen_ai.system": "aws.bedrock",
                    "gen_ai.provider.name": "aws.bedrock",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": model,
                    "cloud.provider": "aws",
                    "cloud.region": source_region,
                }
            ),
        )

    def finish(self, span: Any, record: Mapping[str, Any], error: BaseException | None) -> None:
        """Set the outcome attributes from an audit ``call`` record and end the span."""
        from opentelemetry.trace import Status, StatusCode

        span.set_attributes(
            _clean(
                {
                    "gen_ai.request.model": record.get("model_id"),
                    "gen_ai.response.model": record.get("model_id"),
                    "gen_ai.response.id": record.get("request_id"),
                    "gen_ai.usage.input_tokens": record.get("input_tokens"),
                    "gen_ai.usage.output_tokens": record.get("output_tokens"),
                    "cloud.region": record.get("source_region"),
                    "cris.policy": record.get("policy"),
                    "cris.policy_digest": record.get("policy_digest"),
                    "cris.mode": record.get("mode"),
                    "cris.profile_id": record.get("profile_id"),
                    "cris.geography": record.get("geography"),
                    "cris.allowed_regions": _seq(record.get("allowed_regions")),
                    "cris.destination_regions": _seq(record.get("destination_regions")),
                    "cris.outcome": record.get("outcome"),
                    "cris.served_region": record.get("served_region"),
                    "error.type": record.get("error_type"),
                    **cost_attributes(record.get("cost")),
                }
            )
        )
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    def reconciled(self, span_context: Any, record: Mapping[str, Any]) -> None:
        """Emit a ``cris.reconcile`` span linked to the call's span (ended spans are frozen)."""
        from opentelemetry.trace import Link, Status, StatusCode

        links = [Link(span_context)] if span_context is not None else []
        span = self._tracer.start_span(
            "cris.reconcile",
            kind=self._internal_kind,
            links=links,
            attributes=_clean(
                {
                    "cloud.provider": "aws",
                    "cloud.region": record.get("source_region"),
                    "gen_ai.response.id": record.get("request_id"),
                    "cris.served_region": record.get("served_region"),
                    "cris.compliant": bool(record.get("compliant", True)),
                    "cris.evidence": record.get("evidence"),
                    "cris.policy": record.get("policy"),
                    "cris.allowed_regions": _seq(record.get("allowed_regions")),
                }
            ),
        )
        if not record.get("compliant", True):
            span.set_status(Status(StatusCode.ERROR, "served outside the residency policy"))
        span.end()


def cost_attributes(cost: Any) -> dict[str, Any]:
    """``cris.cost.*`` span attributes (USD) of a record's cost; ``gen_ai.usage.*`` stays tokens."""
    if not isinstance(cost, Mapping):
        return {}
    out = {f"cris.cost.{k}": cost.get(k) for k in ("pricing", "currency", "reason")}
    for key in ("input", "output", "cache_read", "cache_write", "total"):
        out[f"cris.cost.{key}"] = cost.get(key)
    return out


def _seq(value: Any) -> Sequence[str] | None:
    if not value:
        return None
    return [str(v) for v in value]
