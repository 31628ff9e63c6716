"""Bedrock Guardrails in the local Bedrock: the control plane, and applying one on Converse.

Control plane (shapes from botocore's ``bedrock`` service model): ``CreateGuardrail``
(``POST /guardrails``, 202), ``GetGuardrail`` (``GET /guardrails/{id}?guardrailVersion=``),
``ListGuardrails`` (``GET /guardrails``). A guardrail lives in the Region it was created in
(the SigV4 scope); ``crossRegionConfig.guardrailProfileIdentifier`` must match the service
model's pattern and name a guardrail profile callable from that Region (the bundled
guardrail-profile table), and ``GetGuardrail`` answers ``crossRegionDetails``.

Applying (deterministic, a word policy only): a Converse/ConverseStream request whose
``guardrailConfig`` names a guardrail of the source Region is checked against the guardrail's
``wordPolicyConfig.wordsConfig`` words (case-insensitive, whole words). A blocked input is
never sent to the model: the reply is the guardrail's ``blockedInputMessaging`` with
``stopReason: guardrail_intervened``; a blocked output is replaced by
``blockedOutputsMessaging``. With ``trace: enabled`` the response carries
``trace.guardrail`` as AWS shapes it (``inputAssessment`` / ``outputAssessments`` keyed by
guardrail id, ``wordPolicy.customWords[]``). The Region the guardrail ran in (the source Region,
or one of its profile's destinations, in turn) goes to the wire log only.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_cris.emulator.aws_errors import AwsError, validation
from langchain_cris.emulator.model import Reply, TextBlock, count_tokens
from langchain_cris.emulator.protocol import Request, Response
from langchain_cris.guardrails import GuardrailProfile, bundled_guardrail_profiles

__all__ = ["GuardrailApi", "GuardrailRun", "GuardrailStore", "guardrail_run"]

_PROFILE_PATTERN = re.compile(
    r"[a-z0-9-]+[.]{1}guardrail[.]{1}v[0-9:]+"
    r"|arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail-profile/"
    r"[a-z0-9-]+[.]{1}guardrail[.]{1}v[0-9:]+"
)
_NAME_PATTERN = re.compile(r"[0-9a-zA-Z-_]+")
_IDENTIFIER_PATTERN = re.compile(
    r"(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))"
)
_NO_GUARDRAIL = "The guardrail identifier or version provided in the request does not exist."


def _constraint(value: Any, path: str, constraint: str) -> AwsError:
    return validation(
        f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy "
        f"constraint: {constraint}"
    )


@dataclass
class Guardrail:
    """One guardrail (its DRAFT version) in one Region."""

    guardrail_id: str
    arn: str
    region: str
    name: str
    description: str
    blocked_input: str
    blocked_output: str
    words: tuple[dict[str, Any], ...]
    profile: GuardrailProfile | None
    profile_arn: str | None
    created: float
    version: str = "DRAFT"

    def details(self) -> dict[str, Any] | None:
        if self.profile is None:
            return None
        return {
            "guardrailProfileId": self.profile.profile_id,
            "guardrailProfileArn": self.profile_arn,
        }


@dataclass
class GuardrailStore:
    """Guardrails per Region, thread-safe; the Region a profile's next evaluation runs in."""

    _by_region: dict[str, dict[str, Guardrail]] = field(default_factory=dict)
    _turns: dict[tuple[str, str], itertools.cycle[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, guardrail: Guardrail) -> None:
        with self._lock:
            self._by_region.setdefault(guardrail.region, {})[guardrail.guardrail_id] = guardrail

    def find(self, region: str, identifier: str) -> Guardrail | None:
        gid = identifier.rsplit("/", 1)[1] if identifier.startswith("arn:") else identifier
        if identifier.startswith("arn:") and identifier.split(":")[3] != region:
            return None
        with self._lock:
            return self._by_region.get(region, {}).get(gid)

    def in_region(self, region: str) -> list[Guardrail]:
        with self._lock:
            return sorted(self._by_region.get(region, {}).values(), key=lambda g: g.created)

    def evaluation_region(self, guardrail: Guardrail) -> str:
        """Where this evaluation runs: the source Region, or the profile's next destination."""
        if guardrail.profile is None:
            return guardrail.region
        key = (guardrail.region, guardrail.profile.profile_id)
        with self._lock:
            turn = self._turns.get(key)
            if turn is None:
                turn = itertools.cycle(sorted(guardrail.profile.destinations(guardrail.region)))
                self._turns[key] = turn
            return next(turn)

    def clear(self) -> None:
        with self._lock:
            self._by_region.clear()
            self._turns.clear()


class GuardrailApi:
    """The three control-plane operations, against a :class:`GuardrailStore`."""

    def __init__(self, store: GuardrailStore, account_id: str) -> None:
        self.store = store
        self.account_id = account_id

    def route(self, request: Request, segments: list[str], source: str) -> tuple[str, Any] | None:
        """``(operation, action)`` when ``segments`` is a guardrail path, else ``None``."""
        if segments == ["guardrails"] and request.method == "POST":
            return "CreateGuardrail", lambda: self.create(request, source)
        if segments == ["guardrails"] and request.method == "GET":
            return "ListGuardrails", lambda: self.list(request, source)
        if len(segments) == 2 and segments[0] == "guardrails" and request.method == "GET":
            return "GetGuardrail", lambda: self.get(segments[1], request, source)
        return None

    def create(self, request: Request, source: str) -> Response:
        body = request.json()
        name = body.get("name")
        for key in ("name", "blockedInputMessaging", "blockedOutputsMessaging"):
            if not body.get(key):
                raise _constraint("null", key, "Member must not be null")
        if len(name) > 50 or not _NAME_PATTERN.fullmatch(name):
            raise _constraint(
                name, "name", "Member must satisfy regular expression pattern: [0-9a-zA-Z-_]+"
            )
        for key in ("blockedInputMessaging", "blockedOutputsMessaging"):
            if len(body[key]) > 500:
                raise _constraint(
                    body[key], key, "Member must have length less than or equal to 500"
                )
        if any(g.name == name for g in self.store.in_region(source)):
            raise AwsError("ConflictException", f"A guardrail with name {name} already exists.")
        profile, profile_arn = self._profile(body.get("crossRegionConfig"), source)
        words = tuple((body.get("wordPolicyConfig") or {}).get("wordsConfig") or ())
        for i, word in enumerate(words):
            text = word.get("text") if isinstance(word, Mapping) else None
            if not text or len(text) > 100:
                raise _constraint(
                    text,
                    f"wordPolicyConfig.wordsConfig.{i}.member.text",
                    "Member must have length between 1 and 100",
                )
        gid = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        guardrail = Guardrail(
            guardrail_id=gid,
            arn=f"arn:aws:bedrock:{source}:{self.account_id}:guardrail/{gid}",
            region=source,
            name=name,
            description=str(body.get("description") or ""),
            blocked_input=body["blockedInputMessaging"],
            blocked_output=body["blockedOutputsMessaging"],
            words=tuple(dict(w) for w in words),
            profile=profile,
            profile_arn=profile_arn,
            created=time.time(),
        )
        self.store.add(guardrail)
        payload = {
            "guardrailId": gid,
            "guardrailArn": guardrail.arn,
            "version": "DRAFT",
            "createdAt": guardrail.created,
        }
        return Response.json(payload, status=202)

    def _profile(self, config: Any, source: str) -> tuple[GuardrailProfile | None, str | None]:
        if config is None:
            return None, None
        identifier = (config or {}).get("guardrailProfileIdentifier")
        path = "crossRegionConfig.guardrailProfileIdentifier"
        if not identifier:
            raise _constraint("null", path, "Member must not be null")
        if not _PROFILE_PATTERN.fullmatch(identifier) or not 15 <= len(identifier) <= 2048:
            raise _constraint(
                identifier,
                path,
                f"Member must satisfy regular expression pattern: {_PROFILE_PATTERN.pattern}",
            )
        profile_id = identifier.rsplit("/", 1)[-1]
        profile = bundled_guardrail_profiles().get(profile_id)
        arn_region = identifier.split(":")[3] if identifier.startswith("arn:") else source
        if profile is None or arn_region != source or not profile.destinations(source):
            raise validation(
                f"The guardrail profile {identifier} is not supported in the Region {source}."
            )
        return profile, profile.arn_for(source, self.account_id)

    def get(self, identifier: str, request: Request, source: str) -> Response:
        version = request.query_value("guardrailVersion") or "DRAFT"
        guardrail = self._require(identifier, version, source)
        payload: dict[str, Any] = {
            "name": guardrail.name,
            "guardrailId": guardrail.guardrail_id,
            "guardrailArn": guardrail.arn,
            "version": guardrail.version,
            "status": "READY",
            "createdAt": guardrail.created,
            "updatedAt": guardrail.created,
            "blockedInputMessaging": guardrail.blocked_input,
            "blockedOutputsMessaging": guardrail.blocked_output,
        }
        if guardrail.description:
            payload["description"] = guardrail.description
        if guardrail.words:
            payload["wordPolicy"] = {"words": [dict(w) for w in guardrail.words]}
        if guardrail.details() is not None:
            payload["crossRegionDetails"] = guardrail.details()
        return Response.json(payload)

    def _require(self, identifier: str, version: str, source: str) -> Guardrail:
        if not _IDENTIFIER_PATTERN.fullmatch(identifier):
            raise _constraint(
                identifier,
                "guardrailIdentifier",
                f"Member must satisfy regular expression pattern: {_IDENTIFIER_PATTERN.pattern}",
            )
        guardrail = self.store.find(source, identifier)
        if guardrail is None or version != guardrail.version:
            raise AwsError(
                "ResourceNotFoundException",
                f"Guardrail {identifier} with version {version} was not found.",
            )
        return guardrail

    def list(self, request: Request, source: str) -> Response:
        identifier = request.query_value("guardrailIdentifier")
        guardrails = self.store.in_region(source)
        if identifier:
            guardrails = [g for g in guardrails if g is self.store.find(source, identifier)]
        summaries = []
        for g in guardrails:
            summary: dict[str, Any] = {
                "id": g.guardrail_id,
                "arn": g.arn,
                "status": "READY",
                "name": g.name,
                "version": g.version,
                "createdAt": g.created,
                "updatedAt": g.created,
            }
            if g.description:
                summary["description"] = g.description
            if g.details() is not None:
                summary["crossRegionDetails"] = g.details()
            summaries.append(summary)
        return Response.json({"guardrails": summaries})


# -- applying a guardrail on Converse -----------------------------------------------------------
@dataclass
class GuardrailRun:
    """One evaluation of a guardrail on one Converse call."""

    guardrail: Guardrail
    region: str
    trace: bool
    input_matches: list[str] = field(default_factory=list)
    output_matches: list[str] = field(default_factory=list)

    @property
    def input_blocked(self) -> bool:
        return bool(self.input_matches)

    def blocked_input_reply(self) -> Reply:
        text = self.guardrail.blocked_input
        return Reply(blocks=[TextBlock(text)], stop_reason="guardrail_intervened")

    def check_output(self, reply: Reply) -> Reply:
        """The reply, or the blocked-output message when it contains a blocked word."""
        self.output_matches = _matches(self.guardrail.words, reply.text(), "output")
        if not self.output_matches:
            return reply
        text = self.guardrail.blocked_output
        return Reply(
            blocks=[TextBlock(text)],
            stop_reason="guardrail_intervened",
            input_tokens=reply.input_tokens,
            output_tokens=count_tokens(text),
        )

    def trace_payload(self) -> dict[str, Any] | None:
        """``trace`` of the Converse response (``None`` unless ``trace`` was enabled)."""
        if not self.trace:
            return None
        gid = self.guardrail.guardrail_id
        out: dict[str, Any] = {"inputAssessment": {gid: _assessment(self.input_matches)}}
        if not self.input_blocked:
            out["outputAssessments"] = {gid: [_assessment(self.output_matches)]}
        return {"guardrail": out}


def guardrail_run(
    store: GuardrailStore, request: Mapping[str, Any], source: str
) -> GuardrailRun | None:
    """Evaluate the request's ``guardrailConfig`` input side; ``None`` without one.

    Raises:
        AwsError: ValidationException when the guardrail (or version) does not exist in the
            source Region, as Bedrock answers.
    """
    config = request.get("guardrailConfig")
    if not config:
        return None
    identifier = str(config.get("guardrailIdentifier") or "")
    version = str(config.get("guardrailVersion") or "")
    trace = str(config.get("trace") or "disabled")
    if trace not in ("enabled", "disabled", "enabled_full"):
        raise _constraint(
            trace,
            "guardrailConfig.trace",
            "Member must satisfy enum value set: [enabled, disabled, enabled_full]",
        )
    guardrail = store.find(source, identifier) if identifier else None
    if guardrail is None or version != guardrail.version:
        raise validation(_NO_GUARDRAIL)
    run = GuardrailRun(guardrail, store.evaluation_region(guardrail), trace != "disabled")
    run.input_matches = _matches(guardrail.words, _request_text(request), "input")
    return run


def _request_text(request: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for block in request.get("system") or ():
        if isinstance(block, Mapping) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    for message in request.get("messages") or ():
        for block in message.get("content") or ():
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
    return "\n".join(parts)


def _matches(words: tuple[dict[str, Any], ...], text: str, side: str) -> list[str]:
    found = []
    for word in words:
        if word.get(f"{side}Enabled") is False or word.get(f"{side}Action", "BLOCK") != "BLOCK":
            continue
        if re.search(rf"(?<!\w){re.escape(word['text'])}(?!\w)", text, re.IGNORECASE):
            found.append(word["text"])
    return found


def _assessment(matches: list[str]) -> dict[str, Any]:
    assessment: dict[str, Any] = {
        "invocationMetrics": {"guardrailProcessingLatency": 1, "usage": {"wordPolicyUnits": 1}}
    }
    if matches:
        assessment["wordPolicy"] = {
            "customWords": [{"match": m, "action": "BLOCKED", "detected": True} for m in matches]
        }
    return assessment
