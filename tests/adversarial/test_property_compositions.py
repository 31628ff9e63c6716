"""Property: however runnables are composed, every request lies inside the policies around it.

Hypothesis builds small composition trees of ordinary LangChain pieces (``bind`` with model
overrides in any spelling, ``with_fallbacks``, ``RunnableParallel``, nested ``with_residency``,
steps that call their child with a config of their own, ``create_agent`` agents with
``ResidencyMiddleware`` and another middleware that calls a model itself) over leaves that
are ``ChatBedrockCRIS`` models (with or without a model-level default) and plain
``ChatBedrockConverse`` models. Each leaf talks to the independent recorder through its own
``endpoint_url`` path, so every request on the wire is traced back to the leaf that sent it,
and is judged against that leaf's oracle: the strictest combination of the innermost binding
with every outer one (agents' tenant policies included), else the leaf's own default; a
``ChatBedrockCRIS`` leaf with no policy anywhere must send nothing.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_aws import ChatBedrockConverse
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.errors import PolicyConflictError
from langchain_cris.policy import ResidencyPolicy
from tests.adversarial._recorder import Recorder
from tests.adversarial.conftest import FORMS, SONNET, Sent, outside, run_form

EXAMPLES = 25
POLICIES = {name: ResidencyPolicy.preset(name) for name in ("eu", "europe", "global", "us")}
MODELS = (SONNET, "eu." + SONNET, "global." + SONNET, "us." + SONNET)
REGIONS = ("eu-central-1", "eu-west-1", "eu-west-2", "us-east-1")
SPELLINGS = ("model", "model_id", "modelId", "model_ID", "model__id", "model_id_")
_slots = itertools.count()


@dataclass
class Leaf:
    kind: str  # "cris" | "plain"
    model: str
    region: str
    default: str | None  # a ChatBedrockCRIS residency_policy preset, or None
    prefix: str = field(default_factory=lambda: f"leaf{next(_slots)}")


@dataclass
class Built:
    runnable: Runnable[Any, Any]
    #: leaf prefix -> the policies around it (outermost first)
    around: dict[str, list[ResidencyPolicy]]
    leaves: dict[str, Leaf]


def make_leaf(leaf: Leaf, endpoint: str) -> Any:
    url = f"{endpoint}/{leaf.prefix}"
    if leaf.kind == "plain":
        return ChatBedrockConverse(model=leaf.model, region_name=leaf.region, endpoint_url=url)
    policy = POLICIES[leaf.default] if leaf.default else None
    return ChatBedrockCRIS(
        model=leaf.model,
        region_name=leaf.region,
        endpoint_url=url,
        residency_policy=policy,
        failover_backoff=0.0,
        max_failover_attempts=1,
    )


leaves = st.builds(
    Leaf,
    kind=st.sampled_from(["cris", "cris", "plain"]),
    model=st.sampled_from([SONNET, SONNET, *MODELS]),  # mostly routable under any policy
    region=st.sampled_from(["eu-central-1", "eu-central-1", *REGIONS]),
    default=st.sampled_from([None, None, "eu", "global"]),
)
policy_names = st.sampled_from(["eu", "europe", "global", "global", "us"])


def trees() -> st.SearchStrategy[Any]:
    """Nested tuples describing a composition; built into runnables by :func:`build`."""
    leaf = st.tuples(st.just("leaf"), leaves)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(st.just("bind"), st.sampled_from(SPELLINGS), st.sampled_from(MODELS), inner),
            st.tuples(st.just("fallbacks"), inner, inner),
            st.tuples(st.just("parallel"), inner, inner),
            st.tuples(st.just("residency"), policy_names, inner),
            st.tuples(st.just("inner_config"), inner),
            st.tuples(st.just("agent"), policy_names, leaves, leaves),
        ),
        max_leaves=4,
    )


def _is_model(tree: Any) -> bool:
    return tree[0] == "leaf" or (tree[0] == "bind" and _is_model(tree[3]))


def build(tree: Any, endpoint: str, around: list[ResidencyPolicy], out: Built) -> Any:
    kind = tree[0]
    if kind == "leaf":
        leaf: Leaf = tree[1]
        out.around[leaf.prefix] = list(around)
        out.leaves[leaf.prefix] = leaf
        return make_leaf(leaf, endpoint)
    if kind == "bind":
        child = build(tree[3], endpoint, around, out)
        return child.bind(**{tree[1]: tree[2]}) if _is_model(tree[3]) else child
    if kind == "fallbacks":
        return build(tree[1], endpoint, around, out).with_fallbacks(
            [build(tree[2], endpoint, around, out)]
        )
    if kind == "parallel":
        return RunnableParallel(
            a=build(tree[1], endpoint, around, out), b=build(tree[2], endpoint, around, out)
        ) | RunnableLambda(lambda d: "combined")
    if kind == "residency":
        policy = POLICIES[tree[1]]
        return with_residency(build(tree[2], endpoint, [*around, policy], out), policy)
    if kind == "inner_config":
        child = build(tree[1], endpoint, around, out)

        def call(x: Any) -> Any:
            return child.invoke(x, config={"metadata": {"step": "inner"}, "tags": ["inner"]})

        return RunnableLambda(call)
    if kind == "agent":
        return _agent(tree, endpoint, around, out)
    raise AssertionError(kind)


def _agent(tree: Any, endpoint: str, around: list[ResidencyPolicy], out: Built) -> Any:
    from langchain.agents import create_agent
    from langchain.agents.middleware import ModelFallbackMiddleware, SummarizationMiddleware

    from langchain_cris.middleware import ResidencyMiddleware

    tenant = POLICIES[tree[1]]
    inside = [*around, tenant]
    main, helper = tree[2], tree[3]
    for leaf in (main, helper):
        out.around[leaf.prefix] = inside
        out.leaves[leaf.prefix] = leaf
    other = (
        SummarizationMiddleware(
            make_leaf(helper, endpoint), trigger=("messages", 3), keep=("messages", 1)
        )
        if len(helper.prefix) % 2
        else ModelFallbackMiddleware(make_leaf(helper, endpoint))
    )
    agent = create_agent(
        make_leaf(main, endpoint),
        tools=[],
        middleware=[ResidencyMiddleware(), other],
        context_schema=dict,
    )
    history = [HumanMessage("one"), AIMessage("two"), HumanMessage("three"), AIMessage("four")]

    def call(x: Any) -> Any:
        state = {"messages": [*history, HumanMessage(str(x))]}
        return agent.invoke(state, context={"cris_policy": tenant})

    return RunnableLambda(call)


def oracle(leaf: Leaf, around: list[ResidencyPolicy]) -> ResidencyPolicy | str | None:
    """The policy a leaf's requests must lie in; ``"nothing"`` when it must send nothing."""
    if around:
        policy = around[0]
        try:
            for inner in around[1:]:
                policy = policy.combine(inner)
        except PolicyConflictError:
            return "nothing"
        return policy
    if leaf.kind == "cris":
        return POLICIES[leaf.default] if leaf.default else "nothing"
    return None  # a plain model outside any binding is the user's own business


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def test_property_compositions_stay_inside_their_policies(recorder: Recorder) -> None:
    totals = {"examples": 0, "sent": 0, "checked": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(tree=trees(), form=st.sampled_from(FORMS))
    def check(tree: Any, form: str) -> None:
        recorder.clear()
        built = Built(runnable=RunnableLambda(lambda x: x), around={}, leaves={})
        runnable = build(tree, recorder.endpoint_url, [], built)
        # Refusals, Bedrock errors, agents' own errors: the wire decides.
        with contextlib.suppress(Exception):
            run_form(form, runnable, "hi")
        totals["examples"] += 1
        for rec in recorder.requests():
            if rec.control_plane_read:
                continue  # the live catalog's refresh: no prompt
            totals["sent"] += 1
            leaf = built.leaves.get(rec.prefix)
            assert leaf is not None, f"request from an unknown client: {rec}"
            expected = oracle(leaf, built.around[rec.prefix])
            if expected is None:
                continue
            totals["checked"] += 1
            assert expected != "nothing", f"{leaf} must send nothing, sent {rec}"
            assert isinstance(expected, ResidencyPolicy)
            sent = Sent(rec.operation, rec.model_id, rec.region)
            assert outside(sent, expected) == [], (tree, form, rec, expected.name)

    check()
    print("composition property totals:", totals)
    assert totals["examples"] == EXAMPLES
    assert totals["checked"] >= EXAMPLES // 3  # the generator must put requests on the wire
