"""Request dispatch: one endpoint for every emulated service, plus the ``/_local`` control API.

* ``/model/{modelId}/{action}`` → bedrock-runtime (model ids arrive percent-encoded: the raw path
  is split first, then each segment unquoted, so ARNs with ``/`` survive);
* ``/inference-profiles…``, ``/foundation-models`` → bedrock control plane;
* ``POST /`` with ``X-Amz-Target`` → CloudTrail ``LookupEvents`` / Logs ``FilterLogEvents``;
* ``/_local/…`` → emulator control (never an AWS path, so it cannot be mistaken for one).

The source Region of every AWS call is the Region of its SigV4 credential scope.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from langchain_cris.emulator.aws_errors import AwsError, Protocol
from langchain_cris.emulator.cloudtrail import CallIdentity
from langchain_cris.emulator.control_api import ControlApi
from langchain_cris.emulator.control_plane import ControlPlane
from langchain_cris.emulator.guardrails import GuardrailApi
from langchain_cris.emulator.protocol import Request, Response, parse_authorization
from langchain_cris.emulator.runtime import RUNTIME_ACTIONS, Runtime
from langchain_cris.emulator.state import EmulatorState
from langchain_cris.emulator.wire_log import WireRecord

__all__ = ["Emulator"]

_CLOUDTRAIL_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
_LOGS_TARGET = "Logs_20140328."


class Emulator:
    """Transport-independent Bedrock emulator: ``handle(Request) -> Response``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.runtime = Runtime(state)
        self.control_plane = ControlPlane(state)
        self.control_api = ControlApi(state)
        self.guardrail_api = GuardrailApi(state.guardrails, state.config.account_id)

    def handle(self, request: Request) -> Response:
        segments = [unquote(s) for s in request.path.split("/")[1:]]
        if segments and segments[0] == "_local":
            return self.control_api.handle(request, segments[1:])
        target = request.headers.get("x-amz-target", "")
        protocol: Protocol = "json" if target else "rest-json"
        try:
            credential = parse_authorization(request.headers.get("authorization"))
        except AwsError as error:
            return Response.error(error, protocol)
        if credential is None:
            return Response.error(
                AwsError("MissingAuthenticationTokenException", "Missing Authentication Token"),
                protocol,
            )
        source = credential.region or self.state.config.bearer_token_region
        identity = CallIdentity(
            account_id=self.state.config.account_id,
            principal_arn=self.state.config.principal_arn,
            access_key_id=credential.access_key_id,
            source_ip=request.client_ip,
            user_agent=request.headers.get("user-agent", ""),
        )
        if target:
            return self._json_rpc(request, target, source)
        if len(segments) == 3 and segments[0] == "model" and segments[2] in RUNTIME_ACTIONS:
            if request.method != "POST":
                return self._unknown_operation()
            operation = RUNTIME_ACTIONS[segments[2]]
            return self.runtime.handle(request, operation, segments[1], source, identity)
        return self._rest(request, segments, source)

    # -- bedrock control plane -------------------------------------------------------------
    def _rest(self, request: Request, segments: list[str], source: str) -> Response:
        cp = self.control_plane
        route: tuple[str, Callable[[], Response]] | None = None
        if segments == ["inference-profiles"] and request.method == "GET":
            route = ("ListInferenceProfiles", lambda: cp.list_inference_profiles(request, source))
        elif segments == ["inference-profiles"] and request.method == "POST":
            route = ("CreateInferenceProfile", lambda: cp.create_inference_profile(request, source))
        elif len(segments) == 2 and segments[0] == "inference-profiles" and request.method == "GET":
            route = ("GetInferenceProfile", lambda: cp.get_inference_profile(segments[1], source))
        elif segments == ["foundation-models"] and request.method == "GET":
            route = ("ListFoundationModels", lambda: cp.list_foundation_models(request, source))
        route = route or self.guardrail_api.route(request, segments, source)
        if route is None:
            return self._unknown_operation()
        model_id = segments[1] if len(segments) == 2 and route[0] != "GetGuardrail" else None
        return self._logged("bedrock", route[0], source, model_id, route[1], "rest-json")

    # -- JSON 1.1 services ---------------------------------------------------------------------
    def _json_rpc(self, request: Request, target: str, source: str) -> Response:
        if target == _CLOUDTRAIL_TARGET + "LookupEvents":
            trail = self.state.cloudtrail
            return self._logged(
                "cloudtrail",
                "LookupEvents",
                source,
                None,
                lambda: _json11(trail.lookup_events(source, request.json())),
                "json",
            )
        if target == _LOGS_TARGET + "FilterLogEvents":
            logs = self.state.invocation_logs
            return self._logged(
                "logs",
                "FilterLogEvents",
                source,
                None,
                lambda: _json11(logs.filter_log_events(source, request.json())),
                "json",
            )
        error = AwsError("UnknownOperationException", f"Unknown operation {target}")
        return Response.error(error, "json")

    # -- helpers -------------------------------------------------------------------------------
    def _logged(
        self,
        service: str,
        operation: str,
        source: str,
        model_id: str | None,
        action: Callable[[], Response],
        protocol: Protocol,
    ) -> Response:
        started = time.time()
        try:
            response = action()
            outcome = "ok"
        except AwsError as error:
            response = Response.error(error, protocol)
            outcome = error.code
        self.state.wire_log.append(
            WireRecord(
                time=started,
                source_region=source,
                service=service,
                operation=operation,
                model_id=model_id,
                served_region=None,
                request_id=response.request_id,
                outcome=outcome,
                status=response.status,
            )
        )
        return response

    @staticmethod
    def _unknown_operation() -> Response:
        return Response.error(AwsError("UnknownOperationException", "Unknown operation"))


def _json11(payload: Any) -> Response:
    return Response.json(payload, content_type="application/x-amz-json-1.1")
