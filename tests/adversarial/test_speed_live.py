"""The live catalog after the speed-up: AWS widening a profile between calls, memo per endpoint.

``ChatBedrockCRIS._live()`` is now memoised on the model (endpoint and identity fields, base
catalog), and the live re-check before a send is skipped for candidates in the route's own
source Region ("the route was resolved on that Region's live rows moments before"). Attacks:

* AWS (the local Bedrock's control plane) widens ``eu.`` Sonnet 4.5 beyond the EU between two
  calls, in the primary source Region and in a failover Region; the live answer's TTL expires
  by an injected clock, never by waiting;
* the widening lands *between* the route decision and the send (a callback handler of the
  run's start does it, with the clock past the TTL);
* two models on different endpoints sharing one base catalog; a model whose ``endpoint_url``
  or credentials are reassigned after its first call.

Emulator only: the independent recorder has no control plane (its ``ListInferenceProfiles``
is a 404, so the live layer stays on the bundle there and a widening cannot be staged). A test
fails when a runtime request is sent after AWS widened the route outside the policy.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from pydantic import SecretStr

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.emulator import LocalBedrock
from langchain_cris.errors import ResidencyError
from tests.adversarial.conftest import EU, FORMS, SONNET, run_form

EU_SONNET = "eu." + SONNET
TTL = 3600.0


class Clock:
    """The live catalog's injected monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def widened_catalog(region: str, tmp_path: Path) -> ProfileCatalog:
    """The bundle with ``eu.`` Sonnet 4.5, called from ``region``, also reaching us-east-1."""
    data = ProfileCatalog.bundled().to_json()
    for p in data["profiles"]:
        if p["id"] == EU_SONNET:
            p["routes"][region] = sorted({*p["routes"][region], "us-east-1"})
    path = tmp_path / f"widened-{region}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return ProfileCatalog.from_file(path)


@pytest.fixture
def bedrock() -> Iterator[LocalBedrock]:
    with LocalBedrock(seed=0) as lb:
        yield lb


def model(bedrock: LocalBedrock, clock: Clock, **kwargs: Any) -> ChatBedrockCRIS:
    """A model with its own base catalog (its own LiveCatalog) on the injected clock."""
    params: dict[str, Any] = {
        "model": SONNET,
        "region_name": "eu-central-1",
        "endpoint_url": bedrock.endpoint_url,
        "residency_policy": EU,
        "failover": False,
        "failover_backoff": 0.0,
        "catalog": ProfileCatalog.bundled().copy(),
        **kwargs,
    }
    llm = ChatBedrockCRIS(**params)
    live = llm._live()
    assert live is not None
    live._clock = clock
    return llm


def attempt(form: str, llm: Any, **kwargs: Any) -> Any:
    try:
        return run_form(form, llm, "hi", **kwargs)
    except ResidencyError as exc:
        return exc


def runtime(bedrock: LocalBedrock) -> list[Any]:
    return list(bedrock.wire_log.runtime())


def lists(bedrock: LocalBedrock) -> list[str]:
    return [
        f"{r.source_region}:{r.operation}"
        for r in bedrock.wire_log
        if r.operation == "ListInferenceProfiles"
    ]


# -- AWS widens the primary source Region's route between two calls ----------------------------
@pytest.mark.parametrize("form", FORMS)
def test_primary_widened_after_ttl_is_refused(
    bedrock: LocalBedrock, tmp_path: Path, form: str
) -> None:
    clock = Clock()
    llm = model(bedrock, clock)
    assert not isinstance(attempt(form, llm), Exception)
    before = len(runtime(bedrock))
    asked = lists(bedrock)
    assert before and asked and set(asked) == {"eu-central-1:ListInferenceProfiles"}
    bedrock.state.catalog = widened_catalog("eu-central-1", tmp_path)
    clock.now += TTL + 1
    result = attempt(form, llm)
    assert isinstance(result, ResidencyError), result
    assert runtime(bedrock)[before:] == [], "sent after AWS widened the route beyond the EU"
    assert len(lists(bedrock)) > len(asked), "the expired answer was not asked for again"


class WidenOnStart(BaseCallbackHandler):
    """At the model run's start (after the route was decided): AWS widens, the TTL runs out."""

    def __init__(self, bedrock: LocalBedrock, catalog: ProfileCatalog, clock: Clock) -> None:
        self.bedrock, self.catalog, self.clock = bedrock, catalog, clock
        self.fired = 0

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        if self.fired == 0:
            self.bedrock.state.catalog = self.catalog
            self.clock.now += TTL + 1
        self.fired += 1


@pytest.mark.parametrize("form", ["invoke", "stream", "ainvoke", "astream"])
def test_primary_widened_between_decision_and_send_is_refused(
    bedrock: LocalBedrock, tmp_path: Path, form: str
) -> None:
    clock = Clock()
    llm = model(bedrock, clock)
    llm.invoke("learn the rows")
    before = len(runtime(bedrock))
    hook = WidenOnStart(bedrock, widened_catalog("eu-central-1", tmp_path), clock)
    result = attempt(form, llm, config={"callbacks": [hook]})
    assert hook.fired
    assert runtime(bedrock)[before:] == [], f"sent on rows older than the TTL ({result!r})"
    assert isinstance(result, ResidencyError), result


# -- AWS widens a failover Region's route between two calls ------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_failover_region_widened_between_calls_is_refused(
    bedrock: LocalBedrock, tmp_path: Path, form: str
) -> None:
    clock = Clock()
    llm = model(bedrock, clock, failover=["eu-west-1"], max_failover_attempts=3)
    bedrock.throttle()  # every send is throttled: each call fails over to eu-west-1
    with contextlib.suppress(Exception):  # throttled everywhere: the error is expected
        attempt(form, llm)  # what matters is that eu-west-1 was used
    sent = runtime(bedrock)
    assert {r.source_region for r in sent} >= {"eu-west-1"}, "never failed over"
    bedrock.state.catalog = widened_catalog("eu-west-1", tmp_path)
    clock.now += TTL + 1
    result = attempt(form, llm)
    after = [r for r in runtime(bedrock)[len(sent) :] if r.source_region == "eu-west-1"]
    assert after == [], "sent from eu-west-1 after AWS widened its route beyond the EU"
    assert isinstance(result, ResidencyError), result


# -- the memo: endpoints and identities are never mixed ----------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_two_endpoints_sharing_a_base_catalog(tmp_path: Path, form: str) -> None:
    clock, shared = Clock(), ProfileCatalog.bundled().copy()
    with LocalBedrock(seed=0) as plain, LocalBedrock(seed=0) as wide:
        wide.state.catalog = widened_catalog("eu-central-1", tmp_path)
        ok = model(plain, clock, catalog=shared)
        bad = model(wide, clock, catalog=shared)
        for _ in range(2):  # interleaved: neither model may see the other's answer
            assert not isinstance(attempt(form, ok), Exception)
            assert isinstance(attempt(form, bad), ResidencyError)
        assert runtime(wide) == [], "the widened endpoint was sent to"
        assert runtime(plain), "the plain endpoint was refused"
        assert ok._live() is not bad._live()


@pytest.mark.parametrize("form", FORMS)
def test_endpoint_reassigned_after_first_use(tmp_path: Path, form: str) -> None:
    clock = Clock()
    with LocalBedrock(seed=0) as plain, LocalBedrock(seed=0) as wide:
        wide.state.catalog = widened_catalog("eu-central-1", tmp_path)
        llm = model(plain, clock)
        assert not isinstance(attempt(form, llm), Exception)
        first = llm._live()
        llm.endpoint_url = wide.endpoint_url
        result = attempt(form, llm)
        assert llm._live() is not first, "the memo kept the old endpoint's live catalog"
        assert runtime(wide) == [], f"sent to the widened endpoint ({result!r})"
        assert isinstance(result, ResidencyError), result


def test_identity_reassigned_after_first_use_asks_again(
    bedrock: LocalBedrock, tmp_path: Path
) -> None:
    """Another identity is another account: its rows are asked for, never the old ones used.

    (Not tried with ``bedrock_api_key``: the local Bedrock attributes a bearer-token request
    to its ``bearer_token_region``, us-east-1, so the control-plane answer would be another
    Region's, whatever the library does.)
    """
    clock = Clock()
    llm = model(bedrock, clock)
    llm.invoke("hi")
    first = llm._live()
    asked = len(lists(bedrock))
    assert asked
    bedrock.state.catalog = widened_catalog("eu-central-1", tmp_path)  # seen by this identity
    before = len(runtime(bedrock))
    llm.aws_access_key_id = SecretStr("AKIDOTHERACCOUNT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = attempt("invoke", llm)
    assert llm._live() is not first, "the memo kept the old identity's live catalog"
    assert len(lists(bedrock)) > asked, "the new identity's routes were not asked for"
    assert runtime(bedrock)[before:] == [], f"sent on the old identity's rows ({result!r})"
