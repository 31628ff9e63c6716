"""The adversarial suite watches the wire: the local Bedrock's wire log and an independent recorder.

Every test runs against both endpoints (``wire`` is parametrised): the embedded local Bedrock
(``langchain_cris.emulator``, which also knows where a call was served) and
:class:`~tests.adversarial._recorder.Recorder`, a few dozen lines written from botocore's
service model, which shares none of the package's assumptions. A test passes only if every
request that reached the wire lies inside the policy; refusals must be typed
(``ResidencyError``) and leave the wire untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_socket import socket_allow_hosts

from langchain_cris.catalog import default_catalog
from langchain_cris.emulator import LocalBedrock
from langchain_cris.policy import ResidencyPolicy
from tests.adversarial._recorder import Recorder

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EU = ResidencyPolicy.preset("eu")
EUROPE = ResidencyPolicy.preset("europe")
GLOBAL = ResidencyPolicy.preset("global")

#: The call shapes every class is tried in.
FORMS = ("invoke", "stream", "ainvoke", "astream", "batch")


@dataclass(frozen=True)
class Sent:
    """One runtime request as an endpoint saw it."""

    operation: str | None
    model_id: str | None
    region: str | None


class Wire:
    """One endpoint and what reached it."""

    def __init__(self, name: str, endpoint_url: str, read: Callable[[], list[Sent]]) -> None:
        self.name = name
        self.endpoint_url = endpoint_url
        self._read = read

    def sent(self) -> list[Sent]:
        return self._read()

    def __repr__(self) -> str:
        return f"Wire({self.name})"


@pytest.fixture(autouse=True)
def _loopback_only() -> None:
    socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)


@pytest.fixture(autouse=True)
def _no_env_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGCHAIN_CRIS_POLICY", raising=False)


@pytest.fixture(scope="session")
def _emulator() -> Iterator[LocalBedrock]:
    with LocalBedrock(seed=0) as bedrock:
        yield bedrock


@pytest.fixture(scope="session")
def _recorder() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


@pytest.fixture(params=["emulator", "recorder"])
def wire(request: pytest.FixtureRequest) -> Wire:
    """One of the two endpoints, its log emptied for this test (servers live per session)."""
    if request.param == "emulator":
        bedrock: LocalBedrock = request.getfixturevalue("_emulator")
        bedrock.reset()

        def read_log() -> list[Sent]:
            return [
                Sent(r.operation, r.model_id, r.source_region)
                for r in bedrock.wire_log.records(service="bedrock-runtime")
            ]

        return Wire("emulator", bedrock.endpoint_url, read_log)
    rec: Recorder = request.getfixturevalue("_recorder")
    rec.clear()

    def read_rec() -> list[Sent]:
        return [
            Sent(r.operation, r.model_id, r.region)
            for r in rec.requests()
            if not r.control_plane_read
        ]

    return Wire("recorder", rec.endpoint_url, read_rec)


def outside(sent: Sent, policy: ResidencyPolicy) -> list[str]:
    """Why one request left ``policy`` (empty when it did not).

    Judged from the request alone: the source Region must be allowed, and the model id must be
    a profile whose destinations from that source lie inside the policy, or a plain model id
    (served in the source Region) with the source inside the policy's Regions.
    """
    problems: list[str] = []
    if sent.region is None:
        return ["unsigned request: source Region unknown"]
    if sent.region not in policy.allowed_sources:
        problems.append(f"sent from {sent.region}")
    model = sent.model_id or ""
    profile = default_catalog().get(model)
    if (profile is not None and profile.profile_id == model) or model.startswith("arn:"):
        if profile is None:
            return [*problems, f"unknown ARN {model}"]
        reach = profile.destinations(sent.region)
        if not reach or not reach <= policy.regions:
            problems.append(
                f"{model} from {sent.region} may reach {sorted(reach - policy.regions)}"
            )
    elif sent.region not in policy.regions:
        problems.append(f"{model} served in {sent.region}")
    return problems


def assert_inside(wire: Wire, policy: ResidencyPolicy, before: int = 0) -> list[Sent]:
    sent = wire.sent()[before:]
    bad = {f"{s.operation} {s.model_id} @ {s.region}": outside(s, policy) for s in sent}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"requests outside policy {policy.name!r} on {wire.name}: {bad}"
    return sent


def run_form(form: str, runnable: Any, value: Any, **kwargs: Any) -> Any:
    """Call ``runnable`` in one of :data:`FORMS` (async forms on a fresh event loop)."""
    if form == "invoke":
        return runnable.invoke(value, **kwargs)
    if form == "stream":
        return list(runnable.stream(value, **kwargs))
    if form == "batch":
        return runnable.batch([value, value], **kwargs)
    if form == "ainvoke":
        return asyncio.run(runnable.ainvoke(value, **kwargs))
    if form == "astream":

        async def collect() -> list[Any]:
            return [chunk async for chunk in runnable.astream(value, **kwargs)]

        return asyncio.run(collect())
    raise AssertionError(form)


def inner_call(llm: Any, form: str, config: dict[str, Any]) -> Any:
    """A chain step that calls ``llm`` itself, with a config of its own, in ``form``'s shape."""
    from langchain_core.runnables import RunnableLambda

    if form in ("ainvoke", "astream"):

        async def call(x: Any) -> Any:
            if form == "astream":
                return [c async for c in llm.astream(x, config=config)]
            return await llm.ainvoke(x, config=config)

        return RunnableLambda(lambda x: None, afunc=call)

    def call_sync(x: Any) -> Any:
        if form == "stream":
            return list(llm.stream(x, config=config))
        return llm.invoke(x, config=config)

    return RunnableLambda(call_sync)
