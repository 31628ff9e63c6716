"""The prompt's other destinations on one call: the guardrail that evaluates it, the trace.

The model route (``resolve_route``) decides where Bedrock *infers*. Two more places see the
prompt and the reply, and this module puts them under the same policy before anything is sent:

* the call's **guardrail** (the model's ``guardrail_config`` / ``guardrails=``, or a per-call
  ``guardrailConfig``): its guardrail profile's destinations for the source Region must lie
  inside the policy (:mod:`langchain_cris.guardrails`). Every failover candidate is checked
  the same way from its own source Region, and a candidate from which the guardrail would be
  invalid (it does not exist there, or it would leave the policy) is dropped, so failover
  never moves the guardrail out of the policy either;
* the **trace** (:mod:`langchain_cris.telemetry`): where LangSmith / OpenTelemetry would send
  the run.

Two hook points call in here, one line each: :func:`gate_bound_chain` when a
``with_residency`` binding starts (before any run of the chain exists, so a refused chain's
inputs are never queued for the trace endpoint), and :func:`plan_side_channels` at the end of
``ChatBedrockCRIS._plan`` (before the model sends). ``response_metadata["cris"]`` then carries
``guardrail`` and ``trace_destinations``, which the callback handler copies to the trace
metadata and the audit record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_cris.errors import GuardrailLookupError, GuardrailResidencyViolation
from langchain_cris.guardrails import (
    GuardrailCatalog,
    GuardrailRef,
    GuardrailRoute,
    default_guardrail_catalog,
    guardrail_ref,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.routing import RouteCandidate
from langchain_cris.telemetry import TraceDestination, check_telemetry, trace_destinations
from langchain_cris.transport.failover import CallPlan

__all__ = [
    "SideChannelPlan",
    "call_guardrail",
    "gate_bound_chain",
    "plan_for_model",
    "plan_side_channels",
]

_GUARDRAIL_KWARGS = ("guardrailConfig", "guardrail_config")


class SideChannelPlan(CallPlan):
    """A :class:`CallPlan` whose candidates keep the guardrail valid, with the side channels
    named in ``response_metadata["cris"]``."""

    __slots__ = ("guardrails", "traces")

    def __init__(
        self,
        base: CallPlan,
        guardrails: Mapping[str, GuardrailRoute],
        traces: tuple[TraceDestination, ...],
        candidates: tuple[RouteCandidate, ...] | None = None,
    ) -> None:
        route = base.route
        if candidates is not None:
            route = dataclasses.replace(route, candidates=candidates)
        super().__init__(
            route, base.policy, base.catalog, base.settings, base.run_id, live=base.live
        )
        self.guardrails = dict(guardrails)
        self.traces = traces

    def metadata(self, cand: RouteCandidate, request_id: str | None) -> dict[str, Any]:
        out = super().metadata(cand, request_id)
        guardrail = self.guardrails.get(cand.source_region)
        out["guardrail"] = guardrail.as_metadata() if guardrail is not None else None
        out["trace_destinations"] = [d.as_metadata() for d in self.traces]
        if guardrail is not None and guardrail.violations:
            out["violations"] = [*out["violations"], *guardrail.violations]
        return out


def gate_bound_chain(config: Mapping[str, Any], policy: ResidencyPolicy) -> None:
    """Check where a bound chain would be traced, before it starts (``with_residency``).

    Raises:
        TelemetryResidencyError: ``telemetry="refuse"`` and the chain would be traced with
            content to an endpoint outside the policy.
    """
    if policy.telemetry == "ignore":
        return
    check_telemetry(policy, trace_destinations(config.get("callbacks")), stacklevel=6)


def call_guardrail(model: Any, kwargs: Mapping[str, Any]) -> GuardrailRef | None:
    """The guardrail of this call: a per-call ``guardrailConfig`` wins over the model's."""
    for key in _GUARDRAIL_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, Mapping) and value:
            return guardrail_ref(value)
    return guardrail_ref(getattr(model, "guardrail_config", None))


def plan_side_channels(
    plan: CallPlan,
    *,
    model: Any,
    kwargs: Mapping[str, Any],
    callbacks: Any,
    control_client: Callable[[str], Any] | None,
    catalog: GuardrailCatalog | None = None,
    handlers: Iterable[Any] | None = None,
    local_callbacks: Any = None,
) -> SideChannelPlan:
    """Check the call's guardrail and trace under ``plan.policy``; filter the candidates.

    Args:
        plan: The model route's plan (candidates already inside the policy).
        model: The chat model (its ``guardrail_config``).
        kwargs: The call's kwargs (a per-call ``guardrailConfig``).
        callbacks: The config's callbacks for the trace check (when the run has not started).
        handlers: The started run's own handlers, used instead of ``callbacks``.
        local_callbacks: The model's own callbacks, configured with ``callbacks``.
        control_client: ``region -> bedrock control-plane client`` for ``GetGuardrail``.
        catalog: Guardrail catalog; the process-wide one by default.

    Raises:
        GuardrailResidencyViolation: the guardrail would be evaluated outside the policy from
            the call's source Region (and no candidate keeps it inside).
        GuardrailLookupError: where the guardrail runs cannot be told.
        TelemetryResidencyError: ``telemetry="refuse"`` and the run is traced outside.
    """
    policy = plan.policy
    traces = trace_destinations(callbacks, handlers=handlers, local_callbacks=local_callbacks)
    if policy.telemetry != "ignore":
        check_telemetry(policy, traces, stacklevel=7)
    ref = call_guardrail(model, kwargs)
    if ref is None:
        return SideChannelPlan(plan, {}, traces)
    catalog = catalog or default_guardrail_catalog()
    model_id = plan.route.model_id
    routes: dict[str, GuardrailRoute] = {}
    first_error: GuardrailResidencyViolation | GuardrailLookupError | None = None
    kept: list[RouteCandidate] = []
    for cand in plan.candidates:
        region = cand.source_region
        if region not in routes:
            try:
                routes[region] = catalog.route(
                    ref, policy, region, control_client, model=cand.model_id
                )
            except (GuardrailResidencyViolation, GuardrailLookupError) as exc:
                if region == plan.route.source_region:
                    raise  # the call's own Region: refuse, naming the guardrail
                first_error = first_error or exc
                continue
        kept.append(cand)
    if not kept:  # pragma: no cover - the primary candidate raised above
        raise first_error or GuardrailLookupError(
            "no route keeps the guardrail inside the policy",
            guardrail_id=ref.guardrail_id,
            guardrail_version=ref.version,
            model=model_id,
            source_region=plan.route.source_region,
            policy_name=policy.name,
        )
    return SideChannelPlan(plan, routes, traces, tuple(kept))


def plan_for_model(
    model: Any, plan: CallPlan, kwargs: Mapping[str, Any], run_manager: Any, callbacks: Any
) -> SideChannelPlan:
    """:func:`plan_side_channels` for a ``ChatBedrockCRIS`` call (its hook in ``_plan``).

    The run's own handlers decide the trace check. A stream's run manager never reaches
    ``_stream`` in langchain-core 1.x, so its handlers are configured here the way
    ``BaseChatModel.stream`` configures them: the call's config ``callbacks`` (inheritable)
    and the model's own ``callbacks`` (local). ``GetGuardrail`` goes through the model's own
    client settings (credentials, endpoint).
    """
    handlers = run_manager.handlers if run_manager is not None else None
    local = getattr(model, "callbacks", None) if handlers is None else None

    def control_client(region: str) -> Any:
        return model._new_client("bedrock", region)

    return plan_side_channels(
        plan,
        model=model,
        kwargs=kwargs,
        callbacks=callbacks,
        control_client=control_client,
        catalog=getattr(model, "guardrail_catalog", None),
        handlers=handlers,
        local_callbacks=local,
    )
