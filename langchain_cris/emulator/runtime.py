"""bedrock-runtime: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream.

One call goes through the same steps AWS takes, in order: resolve the model identifier for the
source Region, evaluate the (simulated) SCP on every Region the call may reach, validate the body,
route to a destination with capacity, apply faults, answer. Whatever the outcome, the call is
recorded in the wire log and the source Region's CloudTrail; successful calls also in the
invocation log, and a stream that was read to its end gets its CloudTrail stream-completion event
then. The served Region is written only there, never into the response.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_cris.catalog import InferenceProfile, parse_model_arn_region
from langchain_cris.emulator import eventstream
from langchain_cris.emulator.aws_errors import (
    AwsError,
    access_denied,
    invalid_model_identifier,
    on_demand_not_supported,
    throttling,
    validation,
)
from langchain_cris.emulator.cloudtrail import (
    CallIdentity,
    build_completion_record,
    build_record,
    data_copy,
)
from langchain_cris.emulator.config import FaultRule
from langchain_cris.emulator.converse import converse_body, stream_events, validate_converse
from langchain_cris.emulator.guardrails import GuardrailRun, guardrail_run
from langchain_cris.emulator.invocation_logs import build_log_record
from langchain_cris.emulator.invoke_formats import (
    Family,
    embed_response,
    family_of,
    from_converse_reply,
    parse_body,
    to_converse_request,
)
from langchain_cris.emulator.model import Reply, TextBlock, ToolUse, count_tokens, generate
from langchain_cris.emulator.protocol import CUT, Request, Response, StreamItem
from langchain_cris.emulator.script import ScriptedReply
from langchain_cris.emulator.state import EmulatorState
from langchain_cris.emulator.wire_log import WireRecord

__all__ = ["RUNTIME_ACTIONS", "Runtime"]

#: URL action -> operation name.
RUNTIME_ACTIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
}
_STREAMING = frozenset({"ConverseStream", "InvokeModelWithResponseStream"})
_STATUS_FAULTS = {
    "service_unavailable": (
        "ServiceUnavailableException",
        "Bedrock is unable to process your request.",
    ),
    "internal_error": ("InternalServerException", "The server encountered an internal error."),
    "model_not_ready": (
        "ModelNotReadyException",
        "Model is not ready to serve inference requests.",
    ),
    "model_timeout": ("ModelTimeoutException", "Model has timed out in processing the request."),
    "model_error": (
        "ModelErrorException",
        "The model encountered an error processing the request.",
    ),
}
_NOT_CONVERSATIONAL = (
    "This action doesn't support the model that you provided. Try again with a supported text or "
    "chat model."
)


@dataclass(frozen=True)
class Target:
    """What a model identifier means when called from one source Region."""

    base_model: str
    destinations: tuple[str, ...]
    profile: InferenceProfile | None = None

    @property
    def resource_type(self) -> str:
        return "AWS::Bedrock::InferenceProfile" if self.profile else "AWS::Bedrock::Model"


@dataclass
class _Call:
    """Bookkeeping for one runtime call (what ends up in the logs)."""

    operation: str
    model_id: str
    source: str
    identity: CallIdentity
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)
    served: str | None = None
    attempted: tuple[str, ...] = ()
    reply: Reply | None = None
    base_model: str | None = None
    api_event: dict[str, Any] | None = None
    guardrail: GuardrailRun | None = None


class Runtime:
    """Handles bedrock-runtime requests against shared :class:`EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- entry point -----------------------------------------------------------------------
    def handle(
        self, request: Request, operation: str, model_id: str, source: str, identity: CallIdentity
    ) -> Response:
        call = _Call(operation, model_id, source, identity)
        try:
            response = self._serve(request, call)
        except AwsError as error:
            self._record(call, outcome=error.code, status=error.status, error=error)
            response = Response.error(error)
            response.request_id = call.request_id
            return response
        response.request_id = call.request_id
        return response

    def _serve(self, request: Request, call: _Call) -> Response:
        target = self.resolve(call.model_id, call.source)
        call.base_model = target.base_model
        self._check_scp(target, call)
        family = family_of(target.base_model)
        is_converse = call.operation in ("Converse", "ConverseStream")
        embedding = family in ("titan-embed", "cohere-embed")
        if is_converse and embedding:
            raise validation(_NOT_CONVERSATIONAL)
        if not is_converse and family is None:
            raise validation(f"The model {target.base_model} is not supported by this emulator.")
        if embedding and family is not None:
            if call.operation in _STREAMING:
                raise validation("The model is unsupported for streaming.")
            return self._embed(request, call, target, family)
        body = request.json() if is_converse else parse_body(request.body)
        if is_converse:
            converse = body
        else:
            assert family is not None
            converse = to_converse_request(family, body)
        validate_converse(converse, model_id=target.base_model)
        if is_converse:
            call.guardrail = guardrail_run(self.state.guardrails, converse, call.source)
            if call.guardrail is not None and call.guardrail.input_blocked:
                return self._blocked_input(call, body, call.guardrail)
        scripted = self.state.script.pop()
        if isinstance(scripted, FaultRule) and scripted.kind == "throttle":
            raise throttling(scripted.message or throttling().message)
        reply = _scripted_reply(scripted, converse) if isinstance(scripted, ScriptedReply) else None
        call.reply = reply or generate(
            converse, model_id=target.base_model, call_id=call.request_id
        )
        self._route(call, target, call.reply.total_tokens)
        assert call.served is not None
        if call.guardrail is not None:
            call.reply = call.guardrail.check_output(call.reply)
        fault = scripted if isinstance(scripted, FaultRule) else None
        fault = fault or self.state.simulation.draw_fault(
            call.served, call.operation, call.model_id
        )
        if fault is not None and fault.kind in _STATUS_FAULTS:
            code, message = _STATUS_FAULTS[fault.kind]
            raise AwsError(code, fault.message or message)
        first, per_token = self.state.simulation.latency(call.served, call.reply.output_tokens)
        latency_ms = max(1, round((first + per_token * call.reply.output_tokens) * 1000))
        if fault is not None and fault.kind in ("hang", "reset"):
            self._record(
                call, outcome=f"fault:{fault.kind}", status=0, error=None, cloudtrail=False
            )
            kind: Literal["hang", "reset"] = "hang" if fault.kind == "hang" else "reset"
            return Response(fault=kind, hang_seconds=fault.seconds, delay=first)
        if call.operation == "Converse":
            payload = converse_body(call.reply, latency_ms)
            _add_trace(payload, call.guardrail)
            response = Response.json(payload)
            response.delay = first + per_token * call.reply.output_tokens
            self._record(call, outcome="ok", status=200, input_body=body, output_body=payload)
            return response
        if call.operation == "ConverseStream":
            events = list(stream_events(call.reply, latency_ms))
            _add_trace(events[-1][1], call.guardrail)
            frames = _frames(events, per_token, fault)
            outcome = f"fault:{fault.kind}" if fault else "ok"
            output = [{name: payload} for name, payload, _ in events]
            self._record(call, outcome=outcome, status=200, input_body=body, output_body=output)
            return _stream_response(self._completing(frames, call, fault), first)
        assert family is not None
        native = from_converse_reply(family, call.reply, model_id=target.base_model)
        self._record(call, outcome="ok", status=200, input_body=body, output_body=native)
        if call.operation == "InvokeModel":
            response = Response.json(native)
            response.headers += _invoke_headers(call.reply, latency_ms)
            response.delay = first + per_token * call.reply.output_tokens
            return response
        chunks = _invoke_stream_chunks(family, native, call.reply, latency_ms, first)
        frames = _frames(chunks, per_token, fault)
        return _stream_response(self._completing(frames, call, fault), first)

    def _blocked_input(self, call: _Call, body: Any, run: GuardrailRun) -> Response:
        """The guardrail blocked the input: the model is never invoked (nothing is served)."""
        call.reply = run.blocked_input_reply()
        if call.operation == "Converse":
            payload = converse_body(call.reply, 1)
            _add_trace(payload, run)
            self._record(call, outcome="ok", status=200, input_body=body, output_body=payload)
            return Response.json(payload)
        events = list(stream_events(call.reply, 1))
        _add_trace(events[-1][1], run)
        output = [{name: payload} for name, payload, _ in events]
        self._record(call, outcome="ok", status=200, input_body=body, output_body=output)
        return _stream_response(_frames(events, 0.0, None), 0.0)

    # -- model identifiers -------------------------------------------------------------------
    def resolve(self, model_id: str, source: str) -> Target:
        """What ``model_id`` means from ``source`` (AWS's ValidationExceptions otherwise)."""
        catalog = self.state.catalog
        profile = catalog.get(model_id)
        if profile is not None:
            if model_id.startswith("arn:") and model_id.split(":")[3] != source:
                raise invalid_model_identifier()
            if (
                profile.profile_type == "APPLICATION"
                and (profile.arn or "").split(":")[3] != source
            ):
                raise invalid_model_identifier()
            destinations = profile.destinations(source)
            if not destinations:
                raise invalid_model_identifier()
            return Target(profile.model_id, tuple(sorted(destinations)), profile)
        base = model_id
        if model_id.startswith("arn:"):
            try:
                region, base = parse_model_arn_region(model_id)
            except ValueError:
                raise invalid_model_identifier() from None
            if region != source:
                raise invalid_model_identifier()
        if source in catalog.on_demand_regions(base):
            return Target(base, (source,))
        if base in catalog.model_ids():
            raise on_demand_not_supported(base)
        raise invalid_model_identifier()

    def _check_scp(self, target: Target, call: _Call) -> None:
        """AWS fails the call if ANY Region it may reach is denied, naming that Region's ARN."""
        action = (
            "bedrock:InvokeModelWithResponseStream"
            if call.operation in _STREAMING
            else "bedrock:InvokeModel"
        )
        simulation = self.state.simulation
        account = self.state.config.account_id
        checks: list[tuple[str, str]] = []
        if target.profile is not None:
            checks.append((call.source, target.profile.arn_for(call.source, account)))
        if target.profile is not None and target.profile.geography == "global":
            # Global profiles are evaluated with aws:RequestedRegion = "unspecified".
            checks.append((call.source, _fm_arn(call.source, target.base_model)))
            checks.append(("unspecified", _fm_arn("", target.base_model)))
        else:
            checks += [(r, _fm_arn(r, target.base_model)) for r in target.destinations]
        for region, arn in checks:
            if simulation.denied(region):
                raise access_denied(self.state.config.principal_arn, action, arn)

    def _route(self, call: _Call, target: Target, tokens: int) -> None:
        result = self.state.simulation.route(
            target.destinations,
            call.source,
            operation=call.operation,
            model_id=call.model_id,
            tokens=tokens,
        )
        call.attempted = tuple(result.attempted)
        if result.served is None:
            raise throttling()
        call.served = result.served

    # -- embeddings ----------------------------------------------------------------------------
    def _embed(self, request: Request, call: _Call, target: Target, family: Family) -> Response:
        body = parse_body(request.body)
        payload, tokens = embed_response(family, body)
        call.reply = Reply(input_tokens=tokens)
        self._route(call, target, tokens)
        assert call.served is not None
        fault = self.state.simulation.draw_fault(call.served, call.operation, call.model_id)
        if fault is not None and fault.kind in _STATUS_FAULTS:
            code, message = _STATUS_FAULTS[fault.kind]
            raise AwsError(code, fault.message or message)
        first, _ = self.state.simulation.latency(call.served, 0)
        self._record(call, outcome="ok", status=200, input_body=body, output_body=None)
        response = Response.json(payload)
        response.headers += _invoke_headers(call.reply, max(1, round(first * 1000)))
        response.delay = first
        return response

    # -- recording -----------------------------------------------------------------------------
    def _record(
        self,
        call: _Call,
        *,
        outcome: str,
        status: int,
        error: AwsError | None = None,
        input_body: Any = None,
        output_body: Any = None,
        cloudtrail: bool = True,
    ) -> None:
        reply = call.reply if outcome == "ok" or outcome.startswith("fault:") else None
        state = self.state
        state.wire_log.append(
            WireRecord(
                time=call.started,
                source_region=call.source,
                service="bedrock-runtime",
                operation=call.operation,
                model_id=call.model_id,
                served_region=call.served,
                request_id=call.request_id,
                outcome=outcome,
                status=status,
                input_tokens=reply.input_tokens if reply else 0,
                output_tokens=reply.output_tokens if reply else 0,
                attempted_regions=call.attempted,
                guardrail_id=call.guardrail.guardrail.guardrail_id if call.guardrail else None,
                guardrail_region=call.guardrail.region if call.guardrail else None,
            )
        )
        if cloudtrail:
            config = state.config
            record = build_record(
                identity=call.identity,
                event_name=call.operation,
                source_region=call.source,
                model_id=call.model_id,
                request_id=call.request_id,
                served_region=call.served,
                error_code=error.code if error else None,
                error_message=error.message if error else None,
                when=call.started,
                name_inference_region=(
                    call.operation not in _STREAMING or config.cloudtrail_stream_inference_region
                ),
            )
            resource_type = "AWS::Bedrock::Model"
            profile = state.catalog.get(call.model_id)
            if profile is not None:
                resource_type = "AWS::Bedrock::InferenceProfile"
            self._trail(call, record, resource_type=resource_type, epoch=call.started)
            call.api_event = record
        if error is None and reply is not None and call.served is not None:
            metadata = input_body.get("requestMetadata") if isinstance(input_body, dict) else None
            log = build_log_record(
                account_id=state.config.account_id,
                principal_arn=state.config.principal_arn,
                source_region=call.source,
                served_region=call.served,
                request_id=call.request_id,
                operation=call.operation,
                model_id=call.model_id,
                input_body=input_body,
                input_tokens=reply.input_tokens,
                output_body=output_body,
                output_tokens=reply.output_tokens,
                request_metadata=metadata,
                when=call.started,
                name_inference_region=state.config.invocation_log_inference_region,
            )
            state.invocation_logs.write(call.source, log)

    def _trail(
        self,
        call: _Call,
        record: dict[str, Any],
        *,
        resource_type: str = "AWS::Bedrock::Model",
        resource_name: str | None = None,
        epoch: float | None = None,
    ) -> None:
        """Store a record in the source Region's trail (and its data-event copy, if recorded)."""
        trail = self.state.cloudtrail
        trail.record(
            call.source,
            record,
            resource_type=resource_type,
            resource_name=resource_name,
            epoch=epoch,
        )
        if self.state.config.cloudtrail_data_events:
            copy = data_copy(
                record, model_arn=_fm_arn(call.source, call.base_model or call.model_id)
            )
            trail.record(
                call.source,
                copy,
                resource_type=resource_type,
                resource_name=resource_name,
                epoch=epoch,
            )

    def _completing(
        self, frames: Iterator[StreamItem], call: _Call, fault: FaultRule | None
    ) -> Iterator[StreamItem]:
        """Pass the stream through; once it was sent to its end, record its completion event."""
        for item in frames:
            yield item
            if item is CUT:
                return
        if fault is None and call.api_event is not None and call.reply and call.served:
            model_arn = _fm_arn(call.source, call.base_model or call.model_id)
            done = build_completion_record(
                api_call=call.api_event,
                served_region=call.served,
                input_tokens=call.reply.input_tokens,
                output_tokens=call.reply.output_tokens,
                model_arn=model_arn,
            )
            self._trail(call, done, resource_name=model_arn)


# -- helpers ---------------------------------------------------------------------------------
def _add_trace(payload: dict[str, Any], run: GuardrailRun | None) -> None:
    """The guardrail trace on a Converse body or the stream's ``metadata`` event."""
    trace = run.trace_payload() if run is not None else None
    if trace is not None:
        payload["trace"] = trace


def _fm_arn(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def _scripted_reply(scripted: ScriptedReply, request: dict[str, Any]) -> Reply:
    from langchain_cris.emulator.model import count_input_tokens

    reply = Reply(input_tokens=count_input_tokens(request))
    if scripted.text is not None:
        reply.blocks.append(TextBlock(scripted.text))
    for index, (name, args) in enumerate(scripted.tool_calls):
        reply.blocks.append(
            ToolUse(f"tooluse_scripted{index:02d}{uuid.uuid4().hex[:8]}", name, args)
        )
    reply.stop_reason = scripted.stop_reason or ("tool_use" if scripted.tool_calls else "end_turn")
    reply.output_tokens = sum(
        count_tokens(b.text) if isinstance(b, TextBlock) else count_tokens(json.dumps(b.input))
        for b in reply.blocks
    )
    return reply


def _invoke_headers(reply: Reply, latency_ms: int) -> list[tuple[str, str]]:
    return [
        ("X-Amzn-Bedrock-Invocation-Latency", str(latency_ms)),
        ("X-Amzn-Bedrock-Input-Token-Count", str(reply.input_tokens)),
        ("X-Amzn-Bedrock-Output-Token-Count", str(reply.output_tokens)),
    ]


def _frames(
    events: list[tuple[str, dict[str, Any], int]], per_token: float, fault: FaultRule | None
) -> Iterator[StreamItem]:
    """Event frames with generation delays; a stream fault replaces the tail."""
    cut_after = (
        fault.after_events if fault and fault.kind in ("stream_error", "stream_cut") else None
    )
    for sent, (name, payload, tokens) in enumerate(events):
        if cut_after is not None and sent >= cut_after:
            assert fault is not None
            if fault.kind == "stream_cut":
                yield CUT
                return
            message = (
                fault.message
                or "The system encountered an unexpected error during processing. "
                "Try your request again."
            )
            extra = (
                {"originalStatusCode": 500}
                if fault.exception == "modelStreamErrorException"
                else {}
            )
            yield eventstream.encode_exception(fault.exception, message, **extra)
            return
        if tokens and per_token:
            yield per_token * tokens
        yield eventstream.encode_event(name, payload)


def _stream_response(frames: Iterator[StreamItem], first: float) -> Response:
    return Response(
        headers=[("Content-Type", eventstream.CONTENT_TYPE)], stream=frames, delay=first
    )


def _invoke_stream_chunks(
    family: str, native: dict[str, Any], reply: Reply, latency_ms: int, first: float
) -> list[tuple[str, dict[str, Any], int]]:
    """InvokeModelWithResponseStream ``chunk`` events (Anthropic's native events, else one)."""
    metrics = {
        "inputTokenCount": reply.input_tokens,
        "outputTokenCount": reply.output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": max(1, round(first * 1000)),
    }
    if family != "anthropic":
        parts: list[tuple[dict[str, Any], int]] = [
            ({**native, "amazon-bedrock-invocationMetrics": metrics}, reply.output_tokens)
        ]
    else:
        start = {**native, "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": reply.input_tokens, "output_tokens": 1}
        parts = [({"type": "message_start", "message": start}, 0)]
        for index, block in enumerate(native["content"]):
            opening = dict(block, text="") if block["type"] == "text" else dict(block, input={})
            parts.append(
                ({"type": "content_block_start", "index": index, "content_block": opening}, 0)
            )
            if block["type"] == "text":
                delta: dict[str, Any] = {"type": "text_delta", "text": block["text"]}
            else:
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            tokens = count_tokens(block.get("text", ""))
            parts.append(({"type": "content_block_delta", "index": index, "delta": delta}, tokens))
            parts.append(({"type": "content_block_stop", "index": index}, 0))
        parts.append(
            (
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": native["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": reply.output_tokens},
                },
                0,
            )
        )
        parts.append(({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}, 0))
    return [
        ("chunk", {"bytes": base64.b64encode(json.dumps(p).encode("utf-8")).decode("ascii")}, t)
        for p, t in parts
    ]
