"""``ChatBedrockCRIS``: ``ChatBedrockConverse`` that routes every call by a residency policy.

Per call the model finds the policy in force, resolves the route (``resolve_route``: which
profile or plain model id, from which source Region, served where), refuses before sending if
nothing complies, and sends through langchain-aws on a copy of itself that carries the chosen id
and that source Region's client. Converse itself (messages, tools, structured output, guardrails,
streaming, usage) is langchain-aws's, unchanged.

Where the policy comes from, first match wins:

1. the call's config metadata ``cris_policy`` (``with_residency`` or
   ``config={"metadata": {"cris_policy": ...}}``), also as ``run_manager.metadata``, then
   its ``configurable["cris_policy"]``; when the call passed a config of its own without one,
   the config it inherits from the running chain; then the running agent's context
   (``context.cris_policy``);
2. whatever 1. finds is combined, strictest wins, with the enclosing ``with_residency``
   binding's ceiling (or is the ceiling, when 1. finds nothing): see
   :func:`langchain_cris.binding.policy_in_force`;
3. the model's own ``residency_policy`` field;
4. ``$LANGCHAIN_CRIS_POLICY`` (a preset name or a policy file, read by content);
5. otherwise the call fails with ``NoPolicyError``: there is no silent global default.

Per-call and bound kwargs are judged by the Converse key langchain-aws turns them into
(:mod:`langchain_cris._call_kwargs`), every send runs under its decided route for the wire
guard (:mod:`langchain_cris.transport.guard`), and ``get_num_tokens_from_messages`` (Bedrock
CountTokens) is routed and checked like a call.

Async: ``ainvoke`` / ``astream`` (and everything built on them) take the same decision path
(``_plan``, ``_delegate``, the failover loops of :mod:`langchain_cris.transport.failover`, the
same metadata stamping) and send through the native async transport (aiobotocore, the
``langchain-cris[async]`` extra; see :mod:`langchain_cris.transport.async_pool` for the choice
and measurements, :mod:`langchain_cris.transport.async_send` for how langchain-aws still builds
and parses every request). Two cases keep langchain-core's thread-pool path:
without the extra (warned once, with how to install it), and when the sync transport was
replaced, i.e. a user ``client=`` (a boto3 client has no async twin, and the user's client is
what they asked to be used) or a swapped ``RuntimeClientPool`` (the test seam).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import Any, ClassVar, cast

from langchain_aws import ChatBedrockConverse
from langchain_aws.utils import count_tokens_api_supported_for_model
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.utils.uuid import uuid7
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from langchain_cris._call_kwargs import pop_routing_kwargs, requested_model
from langchain_cris._core_shortcuts import handlers_may_stream, invocation_params, sign_methods
from langchain_cris._model_guard import release_started_run
from langchain_cris.binding import PolicySources, parse_policy, policy_sources
from langchain_cris.catalog import ProfileCatalog, default_catalog
from langchain_cris.catalog.live import LiveCatalog, endpoint_key, live_catalog_for, offline_mode
from langchain_cris.errors import (
    MissingSourceRegionError,
    NoPolicyError,
    PolicyFileError,
    ResidencyViolation,
    UnknownModelError,
)
from langchain_cris.guardrails import GuardrailCatalog
from langchain_cris.policy import POLICY_ENV_VAR, ResidencyPolicy
from langchain_cris.routing import Route, RouteCandidate, base_model_of, resolve_route
from langchain_cris.side_channels import plan_for_model
from langchain_cris.transport.async_send import (
    AsyncRuntime,
    SplitClient,
    agenerate_converse,
    astream_converse,
)
from langchain_cris.transport.clients import (
    DeferredControlClient,
    DeferredRuntimeClient,
    RuntimeClientPool,
    default_source_region,
)
from langchain_cris.transport.failover import (
    CallPlan,
    FailoverSettings,
    StreamAnnotator,
    asend_with_failover,
    astream_with_failover,
    finish_result,
    send_with_failover,
    stamp_request_metadata,
    stream_with_failover,
)
from langchain_cris.transport.guard import (
    DecidedRoute,
    adecided_iter,
    decided_iter,
    decided_route,
)
from langchain_cris.transport.model_clients import (
    ModelTransport,
    add_default_headers,
    client_config,
    new_async_pool,
    new_client,
)

__all__ = ["ChatBedrockCRIS"]

# Private invocation kwarg carrying what only invoke()/stream() can see (the config's policy
# and the pre-assigned run id) down to _generate/_stream; stripped from traces and cache keys.
_CALL_KEY = "_cris_call"


class _CallInfo:
    """What invoke()/stream() saw, plus the route once decided (reused by the call itself).

    ``sources`` are the policy sources read when the call started (its config, the config it
    inherits, the agent's context, the enclosing binding's ceiling), so the route decided for
    tracing is the one the call is sent on, decided under the policy in force.
    """

    __slots__ = ("callbacks", "live", "model", "policy", "route", "run_id", "sources")

    def __init__(self, sources: PolicySources, run_id: str | None, callbacks: Any) -> None:
        self.sources = sources
        self.run_id = run_id
        #: The call's (merged) config callbacks: a stream's run manager never reaches
        #: ``_stream``, so its trace check configures the run's handlers from these.
        self.callbacks = callbacks
        self.model: str | None = None
        self.policy: ResidencyPolicy | None = None
        self.route: Route | None = None
        self.live: LiveCatalog | None = None


class ChatBedrockCRIS(ChatBedrockConverse):
    """Amazon Bedrock Converse chat model whose every call obeys a data-residency policy.

    A drop-in for ``ChatBedrockConverse`` (same constructor arguments and features). The
    ``model`` may be a base model id (the best compliant profile is chosen per policy), a
    profile id (``eu.…``, ``global.…``; checked, never rewritten) or an ARN.

    Constructing the model makes no network call. Calls are refused with a
    ``ResidencyError`` subclass before anything is sent when no route complies.

    Every response carries ``response_metadata["cris"]`` (policy, profile, source Region,
    destination Regions, request id, failover attempts) and ``response_metadata["model_name"]``
    is the id actually sent.

    ``ainvoke`` / ``astream`` / ``abatch`` are natively async with the ``langchain-cris[async]``
    extra (same routing, policy checks, failover and metadata as the sync calls; concurrency
    bounded by Bedrock, not by a thread pool). Without it, or with a user ``client=``, they
    run the sync client on the event loop's thread pool.

    Example:
        .. code-block:: python

            from langchain_cris import ChatBedrockCRIS, ResidencyPolicy, with_residency

            llm = ChatBedrockCRIS(
                model="anthropic.claude-sonnet-4-5-20250929-v1:0", region_name="eu-central-1"
            )
            eu_chain = with_residency(prompt | llm, ResidencyPolicy.preset("eu"))
            eu_chain.invoke({"question": "..."})  # sent as eu.anthropic.claude-sonnet-4-5-…

            # or a model-level default:
            llm_eu = ChatBedrockCRIS(
                model="anthropic.claude-sonnet-4-5-20250929-v1:0",
                region_name="eu-central-1",
                residency_policy=ResidencyPolicy.preset("eu"),
            )
    """

    residency_policy: ResidencyPolicy | None = None
    """Default policy for calls whose chain binds none (see the module docstring for order)."""

    failover: bool | list[str] = True
    """Other source Regions a failed call may move to: ``True`` = any the policy allows,
    ``False`` = none (the route's own alternatives from this Region only), or a list."""

    max_failover_attempts: int = Field(default=3, ge=0)
    """Extra sends after the first on throttling/unavailability (so 1 + this in total)."""

    failover_backoff: float = Field(default=0.05, ge=0.0)
    """Base of the jittered backoff between sends, in seconds (see ``FailoverSettings``)."""

    failover_backoff_max: float = Field(default=2.0, ge=0.0)
    """Cap of one backoff wait, in seconds."""

    catalog: ProfileCatalog | None = Field(default=None, exclude=True)
    """Profile routing data; the process-wide bundled (refreshable) catalog by default."""

    live_catalog: bool = True
    """Refresh routes from the endpoint's ``ListInferenceProfiles`` on the first call from each
    source Region the policy allows (TTL-cached per endpoint; a live answer wins over the
    catalog, widenings included). ``False`` — or ``$LANGCHAIN_CRIS_OFFLINE=1`` — judges every
    call by the catalog alone. Off with a user ``client=`` (its endpoint is not ours to ask)."""

    guardrail_catalog: GuardrailCatalog | None = Field(default=None, exclude=True)
    """Guardrail profiles and guardrails' cross-Region config (see ``langchain_cris.guardrails``);
    the process-wide one by default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    _cris: ModelTransport = PrivateAttr()

    #: Read by ``with_residency``: every call's plan checks where its run is traced before
    #: anything is sent (``side_channels.plan_for_model``).
    _checks_traces_before_sending: ClassVar[bool] = True

    # -- construction (no network) ------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _defer_clients(cls, values: Any) -> Any:
        """Park placeholders so langchain-aws's validator builds no client and calls no API."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        catalog = values.get("catalog")
        region = values.get("region_name")
        if values.get("client") is None:
            values["client"] = DeferredRuntimeClient(region)
        if values.get("bedrock_client") is None:
            values["bedrock_client"] = DeferredControlClient(
                lambda: catalog if isinstance(catalog, ProfileCatalog) else default_catalog(),
                region_name=region,
            )
        return values

    @model_validator(mode="before")
    @classmethod
    def _catalog_identity(cls, values: Any) -> Any:
        """Provider and base model from the catalog, before langchain-aws guesses them.

        langchain-aws reads the provider off a fixed list of prefixes: ``ca.amazon.nova-lite-
        v1:0`` would get provider ``ca`` and streaming disabled with a warning, an ARN no
        provider at all. Every prefix the Region table knows and every ARN form is resolved
        here; an explicit ``provider`` / ``base_model_id`` wins, and an id the catalog cannot
        place is left to langchain-aws (routing refuses it, with the reason, when called).
        """
        if not isinstance(values, dict):
            return values
        model = values.get("model_id", values.get("model"))
        if not isinstance(model, str):
            return values
        catalog = values.get("catalog")
        base = base_model_of(model, catalog if isinstance(catalog, ProfileCatalog) else None)
        if base is None:
            return values
        values = dict(values)
        if not values.get("provider"):
            values["provider"] = base.split(".", 1)[0]
        explicit_base = values.get("base_model_id") or values.get("base_model")
        if model.startswith("arn:") and not explicit_base:
            values["base_model_id"] = base  # an ARN hides the model from langchain-aws
        return values

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        preset: dict[str, Any] = {}
        if not isinstance(self.client, DeferredRuntimeClient):
            region = getattr(getattr(self.client, "meta", None), "region_name", None)
            if region:
                preset[region] = self.client  # the user's own client serves its own Region
        self._cris = ModelTransport(
            RuntimeClientPool(self._new_runtime_client, preset), user_client=bool(preset)
        )
        if isinstance(self.bedrock_client, DeferredControlClient):
            self.bedrock_client._factory = lambda: self._new_client("bedrock", self._region())

    def _client_config(self) -> Any:
        """The botocore Config of every client (see :func:`~.model_clients.client_config`)."""
        return client_config(self._get_effective_config())

    def _new_client(self, service: str, region: str | None) -> Any:
        return new_client(self, service, region, self._client_config())

    def _new_runtime_client(self, region: str) -> Any:
        client = self._new_client("bedrock-runtime", region)
        add_default_headers(client, self.default_headers)
        return client

    def runtime_client(self, region: str) -> Any:
        """The shared bedrock-runtime client for source ``region`` (created on first use)."""
        return self._transport.pool.get(region)

    @property
    def _transport(self) -> ModelTransport:
        """``self._cris``, read straight from pydantic's private-attribute dict: the plain
        attribute read goes through pydantic's ``__getattr__`` fallback, ~3 µs, several
        times per call."""
        return cast(ModelTransport, self.__pydantic_private__["_cris"])  # type: ignore[index]

    def _async_runtime(self) -> AsyncRuntime | None:
        """The native async transport, or ``None`` when async must use the thread pool."""
        return self._transport.async_runtime(lambda: new_async_pool(self, self._client_config()))

    # -- serialization --------------------------------------------------------------------
    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_cris", "chat_models"]

    @property
    def _llm_type(self) -> str:
        return "amazon_bedrock_converse_cris_chat"

    def to_json(self) -> Any:
        out = super().to_json()
        kwargs = out.get("kwargs")
        if isinstance(kwargs, dict) and isinstance(kwargs.get("residency_policy"), ResidencyPolicy):
            kwargs["residency_policy"] = kwargs["residency_policy"].to_dict()
        return out

    # -- entry points: capture the config the model would otherwise not see ---------------
    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        config = _capture(config, kwargs, pin_run_id=self.streaming)
        return super().invoke(input, config, stop=stop, **kwargs)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        config = _capture(config, kwargs, pin_run_id=self.streaming)
        return await super().ainvoke(input, config, stop=stop, **kwargs)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        config = _capture(config, kwargs, pin_run_id=True)
        return super().stream(input, config, stop=stop, **kwargs)

    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        config = _capture(config, kwargs, pin_run_id=True)
        return super().astream(input, config, stop=stop, **kwargs)

    # -- tracing: show the id actually routed, keep the private kwarg out ----------------
    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        kwargs.pop(_CALL_KEY, None)
        params = invocation_params(self, stop, kwargs)  # see _core_shortcuts
        return params if params is not None else super()._get_invocation_params(stop, **kwargs)

    def _should_stream(
        self,
        *,
        async_api: bool,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> bool:
        if run_manager is not None and not handlers_may_stream(run_manager.handlers):
            run_manager = None  # its handlers cannot ask for streaming (see _core_shortcuts)
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    def _get_llm_string(self, stop: list[str] | None = None, **kwargs: Any) -> str:
        call = kwargs.pop(_CALL_KEY, None)
        if call is not None:  # the cache key holds the policy in force, never a stale one
            kwargs["cris_policy_digest"] = _safe_digest(call.sources)
        return super()._get_llm_string(stop=stop, **kwargs)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        call = kwargs.pop(_CALL_KEY, None)
        ls_params = super()._get_ls_params(stop=stop, **kwargs)
        try:  # best effort: a refusal must surface inside the run, not here
            policy = self._policy(call.sources if call else policy_sources())
            if policy is None:
                return ls_params
            model = requested_model(kwargs) or self.model_id
            live = self._live()
            # on an event loop (async calls) never ask AWS here: _agenerate refreshes off-loop
            route = self._resolve(model, policy, live, refresh=not _on_event_loop())
        except Exception:
            return ls_params
        if call is not None:  # the call reuses this decision instead of resolving again
            call.model, call.policy, call.route, call.live = model, policy, route, live
        ls_params["ls_model_name"] = route.model_id
        invocation = cast(dict[str, Any], ls_params.get("ls_invocation_params") or {})
        invocation["region_name"] = route.source_region
        ls_params["ls_invocation_params"] = invocation  # type: ignore[typeddict-unknown-key]
        return ls_params

    # -- the call -------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan, user_rm = self._plan(kwargs, run_manager)

        def send(cand: RouteCandidate) -> ChatResult:
            delegate = self._delegate(plan, cand, user_rm)
            with decided_route("Converse", cand.model_id, cand.source_region, plan.policy.name):
                return ChatBedrockConverse._generate(
                    delegate, messages, stop, run_manager, **kwargs
                )

        result, cand, request_id = send_with_failover(plan, send, _result_request_id)
        return finish_result(plan, result, cand, request_id)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        plan, user_rm = self._plan(kwargs, run_manager)

        def open_stream(cand: RouteCandidate) -> Iterator[ChatGenerationChunk]:
            delegate = self._delegate(plan, cand, user_rm)
            # No run_manager: tokens are reported only for chunks that reach the caller.
            chunks = ChatBedrockConverse._stream(delegate, messages, stop, None, **kwargs)
            route = DecidedRoute.of(
                "ConverseStream", cand.model_id, cand.source_region, plan.policy.name
            )
            return decided_iter(route, chunks)

        stamp = StreamAnnotator(plan)
        for chunk, cand in stream_with_failover(plan, open_stream, _has_content):
            stamp.annotate(chunk, cand)
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
        if (closing := stamp.closing_chunk()) is not None:
            if run_manager:
                run_manager.on_llm_new_token("", chunk=closing)
            yield closing

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        runtime = self._async_runtime()
        if runtime is None:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        await self._refresh_before_plan(kwargs)
        plan, user_rm = self._plan(kwargs, run_manager)

        async def send(cand: RouteCandidate) -> ChatResult:
            await self._refresh_off_loop(cand.source_region, plan.policy)
            delegate = self._delegate(plan, cand, user_rm, SplitClient(cand.source_region))
            with decided_route("Converse", cand.model_id, cand.source_region, plan.policy.name):
                return await agenerate_converse(delegate, runtime, messages, stop, kwargs)

        result, cand, request_id = await asend_with_failover(plan, send, _result_request_id)
        return finish_result(plan, result, cand, request_id)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        runtime = self._async_runtime()
        if runtime is None:
            fallback = cast(
                AsyncGenerator[ChatGenerationChunk, None],
                super()._astream(messages, stop, run_manager, **kwargs),
            )
            async with contextlib.aclosing(fallback):
                async for chunk in fallback:
                    yield chunk
            return
        await self._refresh_before_plan(kwargs)
        plan, user_rm = self._plan(kwargs, run_manager)

        def open_stream(cand: RouteCandidate) -> AsyncIterator[ChatGenerationChunk]:
            delegate = self._delegate(plan, cand, user_rm, SplitClient(cand.source_region))
            chunks = astream_converse(delegate, runtime, messages, stop, kwargs)
            route = DecidedRoute.of(
                "ConverseStream", cand.model_id, cand.source_region, plan.policy.name
            )
            return adecided_iter(route, chunks)

        stamp = StreamAnnotator(plan)
        chunks = astream_with_failover(plan, open_stream, _has_content)
        # aclosing: a consumer that stops early (or a cancelled task) closes the HTTP stream
        # now, not whenever the abandoned generator is collected.
        async with contextlib.aclosing(chunks):
            async for chunk, cand in chunks:
                stamp.annotate(chunk, cand)
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        if (closing := stamp.closing_chunk()) is not None:
            if run_manager:
                await run_manager.on_llm_new_token("", chunk=closing)
            yield closing

    # -- token counting: CountTokens is a call like any other ---------------------------
    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Input tokens of ``messages`` by Bedrock CountTokens, under the policy in force.

        CountTokens carries the whole prompt to a source Region and is processed there, so it
        is routed like a call: the policy is looked up in the documented order (none:
        ``NoPolicyError``), and the request goes to the first of the route's source Regions
        that is itself inside the policy, with the foundation-model id CountTokens takes. If
        no such Region exists the call is refused (``ResidencyViolation``; in ``audit`` mode
        it goes to the route's own source Region). Models CountTokens does not support are
        counted locally, as langchain-aws does.

        Raises:
            NoPolicyError: no policy anywhere.
            ResidencyViolation: no source Region of the route lies inside the policy.
        """
        policy = self._policy(policy_sources(ensure_config()))
        if policy is None:
            raise _no_policy_error()
        route = self._resolve(self.model_id, policy, self._live())
        base = route.base_model_id
        if not count_tokens_api_supported_for_model(base):
            return BaseChatModel.get_num_tokens_from_messages(self, messages, tools=tools)
        sources = [c.source_region for c in (route.candidates or ())] + [route.source_region]
        region = next((r for r in sources if r in policy.regions), None)
        if region is None:
            if policy.mode != "audit":
                raise ResidencyViolation(
                    f"CountTokens sends the prompt to the source Region; none of "
                    f"{sorted(set(sources))} is inside the policy",
                    model=base,
                    source_region=route.source_region,
                    policy_name=policy.name,
                    outside_regions=set(sources) - policy.regions,
                )
            region = route.source_region
        delegate = self.model_copy(
            update={
                "model_id": base,
                "base_model_id": base,
                "region_name": region,
                "client": self._transport.pool.get(region),
            }
        )
        with decided_route("CountTokens", base, region, policy.name):
            return ChatBedrockConverse.get_num_tokens_from_messages(delegate, messages, tools)

    # -- decision helpers -----------------------------------------------------------------
    def _plan(
        self,
        kwargs: dict[str, Any],
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    ) -> tuple[CallPlan, dict[str, str] | None]:
        """Decide everything before sending; pops our kwargs; raises ResidencyError."""
        release_started_run(run_manager)  # this run is routed: its guard has done its work
        call: _CallInfo | None = kwargs.pop(_CALL_KEY, None)
        override, user_rm = pop_routing_kwargs(kwargs)
        model = override or self.model_id
        if run_manager is not None:
            run_id: str | None = str(run_manager.run_id)
        else:
            run_id = call.run_id if call is not None else None
        if call is not None and call.route is not None and call.model == model:
            policy, route, live = cast(ResidencyPolicy, call.policy), call.route, call.live
        else:
            if call is not None:
                sources = call.sources
            elif run_manager is not None:
                sources = policy_sources({"metadata": run_manager.metadata})
            else:
                sources = policy_sources(ensure_config())
            found = self._policy(sources)
            if found is None:
                raise _no_policy_error()
            live = self._live()
            policy, route = found, self._resolve(model, found, live)
        catalog = self._catalog(live)
        plan = CallPlan(route, policy, catalog, self._failover_settings(), run_id, live=live)
        callbacks = call.callbacks if call is not None else ensure_config().get("callbacks")
        return plan_for_model(self, plan, kwargs, run_manager, callbacks), user_rm

    def _failover_settings(self) -> FailoverSettings:
        """The model's failover settings, rebuilt only when a field changed (frozen, shared)."""
        state = self._transport
        values = (1 + self.max_failover_attempts, self.failover_backoff, self.failover_backoff_max)
        settings = state.failover_settings
        if (
            settings is None
            or (
                settings.max_attempts,
                settings.backoff_base,
                settings.backoff_max,
            )
            != values
        ):
            settings = state.failover_settings = FailoverSettings(*values)
        return settings

    def _policy(self, sources: PolicySources) -> ResidencyPolicy | None:
        """The documented order: the policy in force (see ``PolicySources``), the model's own
        ``residency_policy``, then ``$LANGCHAIN_CRIS_POLICY``; None when there is none."""
        found = sources.resolve()
        if found is not None:
            return found
        if self.residency_policy is not None:
            return self.residency_policy
        env = os.environ.get(POLICY_ENV_VAR)
        return _env_policy(env) if env else None

    def _resolve(
        self,
        model: str,
        policy: ResidencyPolicy,
        live: LiveCatalog | None,
        *,
        refresh: bool = True,
    ) -> Route:
        """The route of ``model`` under ``policy`` from the model's source Region.

        ``live`` is :meth:`_live`'s answer, looked up once per call by the caller.

        ``refresh=False`` (tracing's early look, which runs on the event loop in async calls)
        never asks AWS: with a stale live answer it raises ``_RoutesNotFresh`` and the call
        resolves later, in ``_plan``, after the refresh.
        """
        failover = self.failover if isinstance(self.failover, bool) else tuple(self.failover)
        region = self._region()
        if region not in policy.allowed_sources or live is None:
            # a Region the policy refuses is never asked (the call is refused below)
            catalog = self._catalog(live)
            live = None
        elif refresh:
            catalog = live.ensure(region)
        elif (view := live.fresh_view(region)) is not None:
            catalog = view
        else:
            raise _RoutesNotFresh(region)
        try:
            return resolve_route(model, policy, region, catalog, failover=failover)
        except UnknownModelError:
            if live is None:
                raise
            # AWS may know what the catalog does not: ask once more before refusing
            catalog = live.ensure_unknown(region)
            return resolve_route(model, policy, region, catalog, failover=failover)

    async def _refresh_before_plan(self, kwargs: dict[str, Any]) -> None:
        """:meth:`_refresh_off_loop` for the model's own source Region, under the call's policy.

        Anything that makes the decision fail (no policy, an unreadable one, no source
        Region) is left for ``_plan`` to raise, typed, with nothing sent.
        """
        call: _CallInfo | None = kwargs.get(_CALL_KEY)
        try:
            policy = self._policy(call.sources if call else policy_sources(ensure_config()))
            region = self._region()
        except Exception:
            return
        await self._refresh_off_loop(region, policy)

    async def _refresh_off_loop(self, region: str, policy: ResidencyPolicy | None) -> None:
        """Ask AWS for ``region``'s live routes in a worker thread if they are stale.

        The async paths call this before deciding (and before a failover send from another
        source Region), so the boto3 ``ListInferenceProfiles`` request never blocks the event
        loop; the decision that follows finds the answer fresh. As on the sync path, only a
        source Region the policy allows is asked (none is asked before a refusal).
        """
        if policy is None or region not in policy.allowed_sources:
            return
        live = self._live()
        if live is None or region not in live.base.regions.regions or live.is_fresh(region):
            return
        await asyncio.to_thread(live.ensure, region)

    # -- live routes (see ``catalog.live``) ----------------------------------------------
    def _base_catalog(self) -> ProfileCatalog:
        return self.catalog if self.catalog is not None else default_catalog()

    def _catalog(self, live: LiveCatalog | None) -> ProfileCatalog:
        """The catalog as ``live`` (:meth:`_live`'s answer) sees it, without asking AWS."""
        return live.catalog() if live is not None else self._base_catalog()

    def _live(self) -> LiveCatalog | None:
        """The live layer for this model's endpoint and identity, or ``None`` when offline.

        Off with a user ``client=`` or a replaced client pool (the test seam): the model then
        talks to a transport whose control plane is not ours to ask.
        """
        state = self._transport
        if not self.live_catalog or offline_mode():
            return None
        if state.user_client or state.pool is not state.own_pool:
            return None
        # The key hashes the endpoint and identity; it and the shared LiveCatalog are looked
        # up again only when one of them or the base catalog changed (fields may be
        # reassigned), so a call pays a tuple compare, not a SHA-256 and a registry lookup.
        # The memo holds the model's own field values (``SecretStr`` objects), no plain secret.
        fields = (
            self.endpoint_url,
            self.credentials_profile_name,
            self.aws_access_key_id,
            self.bedrock_api_key,
        )
        base = self._base_catalog()
        memo = state.live_key
        if memo is not None and memo[2] is base and memo[0] == fields:
            return cast(LiveCatalog, memo[3])
        url, profile, key_id, api_key = fields
        digest = endpoint_key(url, profile, _secret(key_id), _secret(api_key))
        live = live_catalog_for(
            base,
            digest,
            lambda region: self._new_client("bedrock", region),
            label=self.endpoint_url or "AWS",
        )
        state.live_key = (fields, digest, base, live)
        return live

    def _check_live_candidate(self, plan: CallPlan, cand: RouteCandidate) -> None:
        """Before each send, re-check the candidate on its source Region's live routes.

        The plan was checked against the rows known when it was made; a Region first used
        for failover is refreshed now, and so is the primary Region if its answer expired
        since the decision (callbacks and retries run in between), so a profile AWS widened
        there is refused before anything is sent. Fresh rows cost a dictionary look-up.
        """
        if cand.profile_id is None:
            return
        if cand.source_region not in plan.policy.allowed_sources:
            return  # routing never offers such a candidate; nothing to ask about
        live = plan.live
        if live is None:
            return
        profile = live.ensure(cand.source_region).get(cand.profile_id)
        reach = (
            profile.destinations(cand.source_region)
            if profile is not None
            else frozenset(live.base.regions.regions)
        )
        outside = reach - plan.policy.regions
        if outside and plan.policy.mode == "enforce":
            raise ResidencyViolation(
                f"{cand.profile_id} called from {cand.source_region} may now be processed in "
                f"{', '.join(sorted(outside))} (live ListInferenceProfiles answer)",
                model=cand.model_id,
                source_region=cand.source_region,
                policy_name=plan.policy.name,
                outside_regions=outside,
            )

    def _region(self) -> str:
        state = self._transport
        if state.source_region is None:
            with state.lock:
                if state.source_region is None:
                    region = self.region_name
                    if region is None and not isinstance(self.client, DeferredRuntimeClient):
                        region = getattr(getattr(self.client, "meta", None), "region_name", None)
                    region = region or default_source_region(self.credentials_profile_name)
                    if not region:
                        raise MissingSourceRegionError(
                            "ChatBedrockCRIS has no source Region, so no route can be checked "
                            "against the policy: set region_name=… (e.g. 'eu-central-1') or "
                            "AWS_REGION / AWS_DEFAULT_REGION"
                        )
                    state.source_region = region
        return state.source_region

    def _delegate(
        self,
        plan: CallPlan,
        cand: RouteCandidate,
        user_rm: dict[str, str] | None,
        client: Any = None,
    ) -> ChatBedrockCRIS:
        """A shallow copy carrying the chosen id, Region and client (no validators re-run).

        ``client`` defaults to the Region's shared boto3 client; the native async path passes
        a ``SplitClient`` instead (no boto3 client is built for it).
        """
        route = plan.route
        self._check_live_candidate(plan, cand)
        if client is None:
            client = self._transport.pool.get(cand.source_region)
        update: dict[str, Any] = {
            "model_id": cand.model_id,
            "region_name": cand.source_region,
            "client": client,
            "request_metadata": stamp_request_metadata(
                user_rm or self.request_metadata, plan.policy, plan.run_id
            ),
        }
        if route.base_model_id != self.base_model_id:
            # The catalog knows the base model behind any id (ARNs included); langchain-aws
            # formats messages and picks features by it.
            update["base_model_id"] = route.base_model_id
            update["provider"] = route.base_model_id.split(".", 1)[0]
        return self.model_copy(update=update)


sign_methods(ChatBedrockCRIS, "_generate", "_agenerate")  # see _core_shortcuts


# -- module helpers -----------------------------------------------------------------------
class _RoutesNotFresh(Exception):
    """``_resolve(refresh=False)`` found the live answer stale (tracing then shows no route)."""


def _on_event_loop() -> bool:
    # asyncio's own non-raising check (in asyncio.events.__all__); get_running_loop raises
    return asyncio._get_running_loop() is not None


def _capture(
    config: RunnableConfig | None, kwargs: dict[str, Any], *, pin_run_id: bool
) -> RunnableConfig:
    """Carry the config's policy (and, for streams, a pinned run id) into the call.

    ``_stream`` never receives a run manager in langchain-core 1.x, so a stream's run id is
    chosen here and handed to the run through ``config["run_id"]``. Idempotent.
    """
    config = ensure_config(config)  # merged with the enclosing chain's config, if any
    if _CALL_KEY in kwargs:
        return config
    run_id = None
    if pin_run_id:
        config = cast(RunnableConfig, dict(config))
        run_id = config.get("run_id")
        if run_id is None:
            run_id = uuid7()
            config["run_id"] = run_id
    kwargs[_CALL_KEY] = _CallInfo(
        policy_sources(config), None if run_id is None else str(run_id), config.get("callbacks")
    )
    return config


def _has_content(chunk: ChatGenerationChunk) -> bool:
    message = chunk.message
    return bool(message.content) or bool(getattr(message, "tool_call_chunks", None))


def _result_request_id(result: ChatResult) -> str | None:
    meta = result.generations[0].message.response_metadata.get("ResponseMetadata") or {}
    rid = meta.get("RequestId")
    return str(rid) if rid else None


def _safe_digest(sources: PolicySources) -> str:
    try:
        policy = sources.resolve()
    except Exception:
        return repr(sources.spec)
    return policy.digest if policy is not None else "none"


def _env_policy(value: str) -> ResidencyPolicy:
    """``$LANGCHAIN_CRIS_POLICY`` (cached by content: a file by its path and ``stat``)."""
    try:
        return parse_policy(value)
    except PolicyFileError:
        raise
    except Exception as exc:
        raise PolicyFileError(f"${POLICY_ENV_VAR}={value!r}: {exc}") from exc


def _secret(value: Any) -> str | None:
    """The plain value of a ``SecretStr`` (hashed into a cache key, never stored)."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)


def _no_policy_error() -> NoPolicyError:
    presets = ", ".join(sorted(ResidencyPolicy.presets()))
    return NoPolicyError(
        "ChatBedrockCRIS found no residency policy for this call and has no default. Bind one "
        "with with_residency(chain, ResidencyPolicy.preset('eu')), pass config={'metadata': "
        "{'cris_policy': 'eu'}}, set ChatBedrockCRIS(residency_policy=...), or set "
        f"${POLICY_ENV_VAR}. Presets: {presets}. (There is no silent global default.)"
    )
