"""``with_residency`` after its config merge was hand-written (one ``merge_configs``, not two).

``_ResidencyBinding._merge_configs`` now lays the three residency keys on the merged config
itself. Two kinds of attack:

* **Differential**: what the bound runnable receives under ``with_residency`` must equal what
  it receives under a plain ``RunnableBinding`` with the same ``config`` (langchain-core's own
  merge), plus exactly the residency metadata of the combined policy — for configs with their
  own ``metadata``, ``tags``, ``callbacks`` (list or manager), ``run_name``, ``configurable``,
  with ``.with_config`` / ``.with_listeners`` on top, at top level and inside a chain step
  that passes its own config. Fails when the hand-laid merge drops, adds or reorders anything.
* **On the wire**: compositions (``with_config``, ``bind``, ``configurable_fields``,
  ``with_listeners``, nested bindings narrower / wider / disjoint) in every call form on both
  wires; the model's run must carry the combined policy's digest, and nothing outside the
  combined policy may be sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManager
from langchain_core.runnables import ConfigurableField, RunnableBinding, RunnableLambda
from langchain_core.runnables.config import merge_configs

from langchain_cris._model_guard import ModelGuard
from langchain_cris._policy_values import POLICY_DIGEST_KEY, residency_metadata
from langchain_cris.binding import with_residency
from langchain_cris.errors import PolicyConflictError, ResidencyError
from langchain_cris.policy import ResidencyPolicy
from tests.adversarial.conftest import EU, EUROPE, FORMS, GLOBAL, Wire, assert_inside, run_form
from tests.adversarial.test_leak_classes import EU_SONNET, GLOBAL_SONNET, attempt, cris

US = ResidencyPolicy.preset("us")
RESIDENCY_KEYS = set(residency_metadata(EU))


class Probe(BaseCallbackHandler):
    """Remembers every chat-model run's metadata (what the model saw) and chain-run tags."""

    def __init__(self) -> None:
        self.model_metadata: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.model_metadata.append(dict(kwargs.get("metadata") or {}))


# -- differential: the config the bound runnable receives ---------------------------------------
def _seen(runnable: Any, config: Any, parent: Any) -> dict[str, Any]:
    """The config a probe step receives when ``runnable`` (wrapping the probe) is invoked."""
    seen: dict[str, Any] = {}

    def probe(x: Any, config: Any) -> Any:
        seen.update(config)
        return x

    bound = runnable(RunnableLambda(probe))
    if parent is None:
        bound.invoke("x", config=config)
    else:  # a chain step that calls the runnable with a config of its own
        RunnableLambda(lambda x: bound.invoke(x, config=config)).invoke("x", config=parent)
    return seen


def _handlers(config: Any) -> list[int]:
    """The handlers a config carries, without the binding's own ``ModelGuard`` (by design)."""
    callbacks = config.get("callbacks")
    handlers: Any = getattr(callbacks, "handlers", None)
    if handlers is None:
        handlers = callbacks or []
    return sorted(id(h) for h in handlers if not isinstance(h, ModelGuard))


H1, H2, H_PARENT = BaseCallbackHandler(), BaseCallbackHandler(), BaseCallbackHandler()
CONFIGS: dict[str, Any] = {
    "none": None,
    "own-metadata": {"metadata": {"tenant": "a", "cris_policy": "eu"}},
    "tags": {"tags": ["inner", "b"]},
    "callbacks-list": {"callbacks": [H1]},
    "callbacks-manager": {"callbacks": CallbackManager(handlers=[H1], inheritable_handlers=[H1])},
    "run_name": {"run_name": "mine"},
    "configurable": {"configurable": {"k": "mine"}},
    "everything": {
        "metadata": {"tenant": "a"},
        "tags": ["x"],
        "callbacks": [H1, H2],
        "run_name": "mine",
        "configurable": {"k": "mine"},
    },
}
PARENT = {
    "metadata": {"parent": 1, "cris_policy": "europe"},
    "tags": ["parent"],
    "callbacks": [H_PARENT],
    "configurable": {"k": "parent"},
}
ON_TOP: dict[str, Any] = {
    "bare": {},
    "with_config": {"metadata": {"bound": 1}, "tags": ["t0"], "run_name": "bound-name"},
    "with_config-callbacks": {"callbacks": [H2], "metadata": {"cris_policy": "global"}},
}


@pytest.mark.parametrize("parent", [None, PARENT], ids=["top", "in-chain"])
@pytest.mark.parametrize("on_top", list(ON_TOP))
@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_bound_runnable_sees_core_merge_plus_residency_keys(
    cfg: str, on_top: str, parent: dict[str, Any] | None
) -> None:
    config, extra = CONFIGS[cfg], ON_TOP[on_top]

    def residency(r: Any) -> Any:
        return with_residency(r, EU).with_config(**extra) if extra else with_residency(r, EU)

    def plain(r: Any) -> Any:
        return RunnableBinding(bound=r, config=extra)

    got = _seen(residency, config, parent)
    want = _seen(plain, config, parent)
    meta = dict(got.get("metadata") or {})
    policy_meta = {k: meta.pop(k) for k in RESIDENCY_KEYS if k in meta}
    assert policy_meta[POLICY_DIGEST_KEY] == EU.digest  # EU: nothing outside narrows it here
    assert set(policy_meta) == RESIDENCY_KEYS
    want_meta = {k: v for k, v in (want.get("metadata") or {}).items() if k not in RESIDENCY_KEYS}
    assert meta == want_meta
    assert sorted(got.get("tags") or []) == sorted(want.get("tags") or [])
    assert _handlers(got) == _handlers(want)
    assert (got.get("configurable") or {}) == (want.get("configurable") or {})
    assert got.get("recursion_limit") == want.get("recursion_limit")


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_merge_equals_core_merge_configs_at_top_level(cfg: str) -> None:
    """Against langchain-core itself: ``merge_configs(bound config, call config)`` + the keys."""
    binding: Any = with_residency(RunnableLambda(lambda x: x), EU).with_config(
        metadata={"bound": 1}, tags=["t0"], callbacks=[H2]
    )
    config = CONFIGS[cfg]
    got = binding._merge_configs(config)
    keys: Any = {"metadata": residency_metadata(EU)}
    want = merge_configs(merge_configs(binding.config, config), keys)
    assert got["metadata"] == want["metadata"]
    assert sorted(got.get("tags") or []) == sorted(want.get("tags") or [])
    assert _handlers(got) == _handlers(want)
    assert got.get("run_name") == want.get("run_name")
    assert got.get("configurable") == want.get("configurable")


# -- on the wire: compositions -------------------------------------------------------------------
def _run_and_probe(form: str, runnable: Any, **kwargs: Any) -> tuple[Any, Probe]:
    probe = Probe()
    config = dict(kwargs.pop("config", None) or {})
    config["callbacks"] = [*(config.get("callbacks") or []), probe]
    return attempt(form, runnable, config=config, **kwargs), probe


def _digests(probe: Probe) -> set[Any]:
    return {m.get(POLICY_DIGEST_KEY) for m in probe.model_metadata}


COMPOSITIONS: dict[str, tuple[Any, ResidencyPolicy]] = {
    # name: (build(wire) -> runnable, combined policy the wire must stay inside)
    "with_config-wider-metadata": (
        lambda w: with_residency(cris(w), EU).with_config(
            metadata={"cris_policy": "global"}, tags=["t"], run_name="rn"
        ),
        EU,
    ),
    "bind-global-model": (lambda w: with_residency(cris(w), EU).bind(model=GLOBAL_SONNET), EU),
    # (configurable_fields cannot be tried: langchain-aws's ChatBedrockConverse fails its own
    # validator when langchain-core rebuilds it from its fields, any field)
    "configurable_alternatives": (
        lambda w: with_residency(
            cris(w).configurable_alternatives(
                ConfigurableField(id="llm"), default_key="eu", wide=cris(w, model=GLOBAL_SONNET)
            ),
            EU,
        ).with_config(configurable={"llm": "wide"}),
        EU,
    ),
    "with_listeners": (
        lambda w: with_residency(cris(w), EU).with_listeners(on_start=lambda run: None),
        EU,
    ),
    "nested-inner-wider": (lambda w: with_residency(with_residency(cris(w), GLOBAL), EU), EU),
    "nested-inner-narrower": (lambda w: with_residency(with_residency(cris(w), EU), EUROPE), EU),
    "nested-through-a-step": (
        lambda w: with_residency(
            RunnableLambda(lambda x: with_residency(cris(w), GLOBAL).invoke(x, {"tags": ["own"]})),
            EU,
        ),
        EU,
    ),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", list(COMPOSITIONS))
def test_composition_stays_inside_the_combined_policy(wire: Wire, form: str, name: str) -> None:
    build, policy = COMPOSITIONS[name]
    result, probe = _run_and_probe(form, build(wire))
    sent = assert_inside(wire, policy)
    if isinstance(result, ResidencyError):
        assert sent == [], f"refused after sending: {result}"
        return
    assert not isinstance(result, Exception), result
    assert sent and all(s.model_id == EU_SONNET for s in sent)
    digests = _digests(probe)
    assert digests and None not in digests
    combined = {EU.digest, GLOBAL.combine(EU).digest, EU.combine(EUROPE).digest}
    assert digests <= combined, f"the model ran under {digests}, not the combined policy"


@pytest.mark.parametrize("form", FORMS)
def test_nested_disjoint_is_refused_before_the_wire(wire: Wire, form: str) -> None:
    chain = with_residency(with_residency(cris(wire), US), EU)
    try:
        run_form(form, chain, "hi")
    except PolicyConflictError:
        pass
    else:
        pytest.fail("an EU binding around a US binding ran")
    assert wire.sent() == []


def test_batch_items_with_different_policies(wire: Wire) -> None:
    """Per-item configs naming different policies: each item under its own combination."""
    chain = with_residency(cris(wire), EUROPE)
    configs: Any = [{"metadata": {"cris_policy": "eu"}}, {"metadata": {"cris_policy": "global"}}]
    chain.batch(["a", "b"], config=configs)
    assert_inside(wire, EUROPE)
    asyncio.run(chain.abatch(["a", "b"], config=configs))
    assert_inside(wire, EUROPE)


# -- a cris_policy bound with with_config is overwritten by an enclosing, wider binding ----------
OVERWRITE = (
    "a cris_policy bound with .with_config(metadata=...) on a runnable *inside* a binding is "
    "replaced by the binding's metadata when langchain-core's RunnableBinding merges the "
    "caller's config over its bound config (caller wins), before any code of ours runs: the "
    "bound EU value is gone and the call is routed to global.* (documented in the README's "
    "limits; narrow inside a binding with with_residency or a call-time config instead)"
)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    "where",
    [
        pytest.param("inner-with_config", marks=pytest.mark.xfail(strict=True, reason=OVERWRITE)),
        "outer-with_config",
    ],
)
def test_bound_metadata_policy_is_narrowed_not_replaced(wire: Wire, form: str, where: str) -> None:
    eu_meta: Any = {"metadata": {"cris_policy": "eu"}}
    if where == "inner-with_config":
        chain = with_residency(cris(wire).with_config(**eu_meta), GLOBAL)
    else:
        chain = with_residency(cris(wire), GLOBAL).with_config(**eu_meta)
    attempt(form, chain)
    # the same value passed at call time is honoured (eu+global): the bound one must be too
    assert_inside(wire, EU)
