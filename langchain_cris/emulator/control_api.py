"""The emulator-only control endpoint under ``/_local`` (JSON in, JSON out).

Routes:
    ``GET  /_local/health``                      liveness
    ``GET  /_local/config``                      effective config
    ``GET  /_local/wire-log``                    every request seen (``?service=…&operation=…``)
    ``GET  /_local/cloudtrail/{region}``         that trail's records (incl. undelivered)
    ``GET  /_local/invocation-logs/{region}``    that Region's invocation-log records
    ``POST /_local/faults``                      ``{"faults": [FaultRule…], "replace": false}``
    ``DELETE /_local/faults``                    remove every fault
    ``POST /_local/regions``                     ``{"eu-west-1": {"outage": true, …}}`` (merged)
    ``POST /_local/scp``                         ``{"deny_regions": […], "allow_regions": …}``
    ``POST /_local/script``                      ``{"items": [{"text": …} | {"tool_call": {…}} |
                                                 {"fault": {…}}]}``
    ``POST /_local/reset``                       forget traffic, scripts, capacity, app profiles

Errors are ``400 {"error": "..."}`` with the reason, never an AWS error shape.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from langchain_cris.emulator.config import fault_rule, region_config
from langchain_cris.emulator.protocol import Request, Response
from langchain_cris.emulator.script import ScriptedReply
from langchain_cris.emulator.state import EmulatorState

__all__ = ["ControlApi"]


class ControlApi:
    """Dispatches ``/_local`` requests to small handlers."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._routes: dict[tuple[str, str], Callable[[Request, list[str]], Any]] = {
            ("GET", "health"): lambda r, a: {"status": "ok"},
            ("GET", "config"): lambda r, a: self.state.config.to_json(),
            ("GET", "wire-log"): self._wire_log,
            ("GET", "cloudtrail"): lambda r, a: {
                "records": self.state.cloudtrail.events(a[0], include_pending=True)
            },
            ("GET", "invocation-logs"): lambda r, a: {
                "records": self.state.invocation_logs.records(a[0], include_pending=True)
            },
            ("POST", "faults"): self._add_faults,
            ("DELETE", "faults"): self._clear_faults,
            ("POST", "regions"): self._regions,
            ("POST", "scp"): self._scp,
            ("POST", "script"): self._script,
            ("POST", "reset"): self._reset,
        }

    def handle(self, request: Request, segments: list[str]) -> Response:
        if not segments or (request.method, segments[0]) not in self._routes:
            known = sorted(f"{m} /_local/{p}" for m, p in self._routes)
            return Response.json({"error": "unknown control route", "routes": known}, status=404)
        try:
            payload = self._routes[(request.method, segments[0])](request, segments[1:])
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            return Response.json({"error": f"{type(exc).__name__}: {exc}"}, status=400)
        return Response.json(payload)

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return data

    def _reset(self, request: Request, _: list[str]) -> dict[str, Any]:
        self.state.reset()
        return {"status": "reset"}

    def _wire_log(self, request: Request, _: list[str]) -> dict[str, Any]:
        records = self.state.wire_log.records(
            service=request.query_value("service"), operation=request.query_value("operation")
        )
        return {"records": [r.to_json() for r in records]}

    def _faults_json(self) -> dict[str, Any]:
        return {"faults": [dataclasses.asdict(f) for f in self.state.config.faults]}

    def _add_faults(self, request: Request, _: list[str]) -> dict[str, Any]:
        body = self._body(request)
        rules = [fault_rule(f) for f in body.get("faults", [])]
        if body.get("replace"):
            self.state.config.faults[:] = rules
        else:
            self.state.config.faults.extend(rules)
        return self._faults_json()

    def _clear_faults(self, request: Request, _: list[str]) -> dict[str, Any]:
        self.state.config.faults.clear()
        return self._faults_json()

    def _regions(self, request: Request, _: list[str]) -> dict[str, Any]:
        config = self.state.config
        for region, changes in self._body(request).items():
            self.state.catalog.regions.check(region)
            current = dataclasses.asdict(config.region(region))
            config.regions[region] = region_config({**current, **changes})
        return {r: dataclasses.asdict(c) for r, c in sorted(config.regions.items())}

    def _scp(self, request: Request, _: list[str]) -> dict[str, Any]:
        body = self._body(request)
        config = self.state.config
        if "deny_regions" in body:
            config.deny_regions = set(body["deny_regions"])
        if "allow_regions" in body:
            allow = body["allow_regions"]
            config.allow_regions = None if allow is None else set(allow)
        return {
            "deny_regions": sorted(config.deny_regions),
            "allow_regions": None if config.allow_regions is None else sorted(config.allow_regions),
        }

    def _script(self, request: Request, _: list[str]) -> dict[str, Any]:
        for item in self._body(request).get("items", []):
            if "fault" in item:
                self.state.script.push(fault_rule(item["fault"]))
            elif "tool_call" in item:
                call = item["tool_call"]
                self.state.script.push(
                    ScriptedReply(
                        text=item.get("text"), tool_calls=((call["name"], call["input"]),)
                    )
                )
            else:
                self.state.script.push(ScriptedReply(text=str(item["text"])))
        return {"queued": len(self.state.script)}
