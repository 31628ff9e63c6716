"""``CRISCallbackHandler``: every Bedrock call's residency facts on its trace and in an audit log.

For each Bedrock chat-model run (``ChatBedrockCRIS``; plain ``ChatBedrockConverse`` as far as
its metadata tells) the handler records the policy, profile, geography, source Region,
allowed Regions, request id, latency, tokens, outcome and the served Region (or ``pending``):

* on the **LangSmith LLM run itself** as metadata (``cris_*`` keys) and searchable tags
  (``residency:eu``, ``cris:eu``, ``source:eu-central-1``, ``served:pending``), added to the
  live run before the tracer PATCHes it (see :mod:`langchain_cris.tracing.langsmith`);
* on an **OpenTelemetry** span with GenAI semantic-convention attributes (``otel=True``);
* in an append-only **JSON Lines audit log** (``audit_path=``), one ``call`` record per run.

With ``reconcile="background"`` a daemon thread later learns the served Region from the source
Region's CloudTrail (and optionally Model Invocation Logs), appends a ``reconciliation``
record, attaches it to the LangSmith run as feedback and, if the Region is outside the policy,
calls ``on_violation``. The chain only ever enqueues; it is never blocked by AWS lookups.

No prompt or response text and no credentials are recorded unless ``include_prompts=True``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from os import PathLike
from types import TracebackType
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from langchain_cris.audit.costs import CHAIN_METADATA_KEY
from langchain_cris.audit.evidence import Finding, PendingCall
from langchain_cris.audit.reconciler import (
    DEFAULT_DEADLINE_S,
    DEFAULT_FIRST_POLL_S,
    DEFAULT_MAX_INTERVAL_S,
    ServedRegionReconciler,
)
from langchain_cris.audit.records import (
    PENDING,
    CallState,
    ViolationEvent,
    call_record,
    format_ts,
    parse_ts,
    summarize_records,
)
from langchain_cris.audit.sink import AuditSink
from langchain_cris.audit.sources import AwsClients, CloudTrailLookup, InvocationLogLookup, Source
from langchain_cris.errors import ResidencyError, RouteRefusedError
from langchain_cris.pricing import plain_run_cost
from langchain_cris.tracing import _run_facts as facts
from langchain_cris.tracing.langsmith import (
    RunRef,
    calling_tracers,
    enrich_live_run,
    write_served_region_feedback,
)

__all__ = ["CRISCallbackHandler", "ReconcileMode"]

logger = logging.getLogger(__name__)

ReconcileMode = Literal["off", "background"]
_RECONCILE_MODES: tuple[str, ...] = ("off", "background")
_MAX_RECORDS_IN_MEMORY = 10_000


def _running_in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CRISCallbackHandler(BaseCallbackHandler):
    """Records where every Bedrock chat-model call was sent and, later, where it ran.

    Attach it per call/chain (``config={"callbacks": [handler]}``), or for every call of a
    model/chain (``ChatBedrockCRIS(..., callbacks=[handler])`` /
    ``chain.with_config(callbacks=[handler])``). It works in sync and async runs: it runs
    inline (so its metadata reaches the tracer's PATCH), and inside an event loop the fsync'd
    audit write is handed to a writer thread so the loop never waits on the disk.

    Args:
        audit_path: JSON Lines audit log to append to (``None``: no log), or an
            :class:`AuditSink` to write through (e.g. one with a checkpoint ``signer``; the
            handler closes it on ``close()``).
        reconcile: ``"background"`` looks the served Region up in CloudTrail (and invocation
            logs if ``invocation_log_group`` is set) on a daemon thread; ``"off"`` leaves calls
            ``pending`` for ``langchain-cris reconcile`` to fill in later.
        tracer: A ``LangChainTracer`` (or several) to enrich when it is not found
            automatically among the run's callback handlers.
        langsmith_client: Client used for after-the-fact served-Region feedback (default: the
            tracer's client).
        otel: ``True`` for spans from the global OpenTelemetry tracer provider, or a tracer.
        include_prompts: Also record prompt and response text in the audit log (opt-in).
        on_violation: Called with a :class:`~langchain_cris.audit.records.ViolationEvent` when
            a call is (audit mode) or turns out to have been (reconciliation) outside policy.
        fsync: ``fsync`` each audit record (default) — durable against power loss.
        boto3_session: Session for the CloudTrail/Logs clients (default ``boto3.Session()``:
            profiles, env credentials and ``AWS_ENDPOINT_URL`` work as in boto3).
        endpoint_url: Endpoint for those clients (e.g. a local Bedrock).
        cloudtrail_client_factory: ``factory(region) -> cloudtrail client`` (overrides the two
            above).
        logs_client_factory: ``factory(region) -> logs client``.
        invocation_log_group: CloudWatch Logs group of Model Invocation Logging, to use as a
            second source (``None``: CloudTrail only).
        reconcile_deadline: Seconds to keep looking for each call (default 15 min).
        reconcile_first_poll: Seconds before the first look (default 5).
        reconcile_max_interval: Cap on the backoff between looks (default 60).
        reconcile_sources: Custom sources (tests, other stores); replaces the AWS ones.
        clock: What "now" is for record timestamps and CloudTrail's 90-day lookup horizon
            (default: the wall clock, UTC); inject one in tests and replays.

    Raises:
        ValueError: ``reconcile`` is not ``"off"``/``"background"``, or ``background`` was
            asked without any place to write or report results.
        ImportError: ``otel`` was requested but OpenTelemetry is not installed.

    Example:
        .. code-block:: python

            from langchain_cris.tracing import CRISCallbackHandler

            handler = CRISCallbackHandler(audit_path="cris-audit.jsonl", reconcile="background")
            chain.invoke(x, config={"callbacks": [handler]})
            handler.wait_reconciled(timeout=60)  # scripts and tests only
            for call in handler.records():
                print(call.request_id, call.served_region)
    """

    run_inline = True
    raise_error = False

    def __init__(
        self,
        *,
        audit_path: str | PathLike[str] | AuditSink | None = None,
        reconcile: ReconcileMode = "off",
        tracer: Any = None,
        langsmith_client: Any = None,
        otel: Any = False,
        include_prompts: bool = False,
        on_violation: Callable[[ViolationEvent], None] | None = None,
        fsync: bool = True,
        boto3_session: Any = None,
        endpoint_url: str | None = None,
        cloudtrail_client_factory: Callable[[str], Any] | None = None,
        logs_client_factory: Callable[[str], Any] | None = None,
        invocation_log_group: str | None = None,
        reconcile_deadline: float = DEFAULT_DEADLINE_S,
        reconcile_first_poll: float = DEFAULT_FIRST_POLL_S,
        reconcile_max_interval: float = DEFAULT_MAX_INTERVAL_S,
        reconcile_sources: Sequence[Source] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self._clock: Callable[[], datetime] = clock or _utc_now
        if reconcile not in _RECONCILE_MODES:
            raise ValueError(
                f"reconcile={reconcile!r} is not supported; allowed: "
                + ", ".join(repr(m) for m in _RECONCILE_MODES)
            )
        self.reconcile_mode: ReconcileMode = reconcile
        self.include_prompts = include_prompts
        self.on_violation = on_violation
        self._tracers = (
            list(tracer)
            if isinstance(tracer, (list, tuple))
            else ([tracer] if tracer is not None else [])
        )
        self._ls_client = langsmith_client
        self._spans = None
        if otel is not False and otel is not None:
            from langchain_cris.tracing.otel import CRISSpans, load_tracer

            self._spans = CRISSpans(load_tracer(otel))
        self._sink: AuditSink | None = None
        if isinstance(audit_path, AuditSink):  # e.g. one that signs checkpoints
            self._sink = audit_path
        elif audit_path is not None:
            self._sink = AuditSink(audit_path, fsync=fsync)
        self._runs: dict[UUID, facts.RunStart] = {}
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=_MAX_RECORDS_IN_MEMORY)
        self._refs: dict[str, tuple[RunRef | None, Any]] = {}
        self._writer: ThreadPoolExecutor | None = None
        self._last_write: Future[None] | None = None
        self._reconciler: ServedRegionReconciler | None = None
        self._reconcile_timing = (reconcile_deadline, reconcile_first_poll, reconcile_max_interval)
        self._custom_sources = list(reconcile_sources) if reconcile_sources else None
        self._clients = AwsClients(
            boto3_session=boto3_session,
            endpoint_url=endpoint_url,
            cloudtrail_client_factory=cloudtrail_client_factory,
            logs_client_factory=logs_client_factory,
        )
        self._log_group = invocation_log_group
        self._closed = False
        if reconcile == "background":
            self._ensure_reconciler()  # validates the timing now; its thread starts on first use

    # -- langchain-core callbacks -------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember what the run starts with (policy, model, Region) and start its span."""
        meta = dict(metadata or {})
        if not facts.is_bedrock(serialized, meta):
            return
        model = meta.get("ls_model_name")
        source = facts.source_region(serialized, meta)
        start = facts.RunStart(
            started=time.perf_counter(),
            ts=format_ts(self._clock()),
            parent_run_id=str(parent_run_id) if parent_run_id else None,
            metadata=meta,
            model=str(model) if model else None,
            source_region=source,
        )
        if self.include_prompts:
            start.prompts = [
                {"type": m.type, "content": facts.message_text(m)}
                for batch in messages
                for m in batch
            ]
        if self._spans is not None:
            start.span = self._spans.start(start.model, source)
        with self._lock:
            self._runs[run_id] = start

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Build the call record, put it on the trace and the audit log, queue reconciliation."""
        start = self._pop(run_id)
        if start is None:
            return
        message = facts.first_message(response)
        response_metadata: Mapping[str, Any] = (
            message.response_metadata if message is not None else {}
        )
        cris = response_metadata.get("cris")
        if isinstance(cris, Mapping):
            fields = facts.fields_from_contract(cris, start)
        else:
            fields = facts.fields_from_plain(response_metadata, start)
        usage = getattr(message, "usage_metadata", None) if message is not None else None
        if usage:
            fields["input_tokens"] = usage.get("input_tokens")
            fields["output_tokens"] = usage.get("output_tokens")
        if "cost" not in fields:  # a plain ChatBedrockConverse run: price it from its route
            fields["cost"] = plain_run_cost(fields, usage)
        if self.include_prompts and message is not None:
            fields["prompts"] = start.prompts or []
            fields["response"] = facts.message_text(message)
        violations = list(cris.get("violations") or ()) if isinstance(cris, Mapping) else []
        if violations:
            fields["outcome"] = "violation"
        record = self._finish(run_id, start, fields, error=None)
        if violations and self.on_violation is not None:
            self._notify(
                ViolationEvent(
                    kind="route",
                    request_id=record["request_id"],
                    run_id=record["run_id"],
                    policy=record["policy"],
                    source_region=record["source_region"],
                    served_region=None
                    if record["served_region"] == PENDING
                    else record["served_region"],
                    allowed_regions=tuple(record["allowed_regions"]),
                    evidence="route",
                    details=tuple(str(v) for v in violations),
                )
            )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record a refusal (``ResidencyError``, nothing was sent) or a failed call."""
        start = self._pop(run_id)
        if start is None:
            return
        name, digest, allowed = facts.policy_from_metadata(start.metadata)
        fields: dict[str, Any] = {
            "policy": name,
            "policy_digest": digest,
            "mode": (start.metadata.get("cris_policy") or {}).get("mode")
            if isinstance(start.metadata.get("cris_policy"), Mapping)
            else None,
            "model_id": start.model,
            "source_region": start.source_region,
            "allowed_regions": allowed,
            "served_region": None,
            "error_type": type(error).__name__,
        }
        if isinstance(error, ResidencyError):
            fields["outcome"] = "refused"
            fields.update(facts.refusal_side_channels(error))  # guardrail / trace refusals
            if isinstance(error, RouteRefusedError):
                fields["model_id"] = error.model
                fields["source_region"] = error.source_region
                fields["policy"] = error.policy_name or name
        else:
            fields["outcome"] = "error"
            aws = getattr(error, "response", None)
            if isinstance(aws, Mapping):
                code = (aws.get("Error") or {}).get("Code")
                if code:
                    fields["error_type"] = str(code)
                fields["request_id"] = facts.request_id(aws)
        self._finish(run_id, start, fields, error=error)

    # -- record building ------------------------------------------------------------------------
    def _finish(
        self,
        run_id: UUID,
        start: facts.RunStart,
        fields: dict[str, Any],
        *,
        error: BaseException | None,
    ) -> dict[str, Any]:
        fields.setdefault("latency_ms", round((time.perf_counter() - start.started) * 1000, 3))
        fields.setdefault("chain", start.metadata.get(CHAIN_METADATA_KEY))
        record = call_record(
            ts=start.ts, run_id=str(run_id), parent_run_id=start.parent_run_id, **fields
        )
        ref = enrich_live_run(
            [*self._tracers, *calling_tracers()],
            run_id,
            facts.trace_metadata(record),
            facts.tags(record),
        )
        if start.span is not None and self._spans is not None:
            self._spans.finish(start.span, record, error)
        span_context = start.span.get_span_context() if start.span is not None else None
        pending = self._pending_call(record)
        if pending is not None:
            if ref is None and self._ls_client is not None:
                ref = RunRef(str(run_id), None, None, None, self._ls_client)
            with self._lock:
                self._refs[pending.request_id or str(run_id)] = (ref, span_context)
        self._write(record, then_reconcile=pending)
        return record

    def _pending_call(self, record: Mapping[str, Any]) -> PendingCall | None:
        if self.reconcile_mode != "background" or record["served_region"] != PENDING:
            return None
        if not record["source_region"] or not (record["request_id"] or record["run_id"]):
            return None
        return PendingCall(
            request_id=record["request_id"],
            run_id=record["run_id"],
            source_region=record["source_region"],
            call_time=parse_ts(record["ts"]),
            allowed_regions=frozenset(record["allowed_regions"]),
            policy=record["policy"],
        )

    # -- writing --------------------------------------------------------------------------------
    def _write(self, record: dict[str, Any], then_reconcile: PendingCall | None = None) -> None:
        """Append to memory and the audit log; off the event loop when called from one."""

        def job() -> None:
            with self._lock:
                self._log.append(record)
            if self._sink is not None:
                try:
                    self._sink.append(record)
                except Exception:  # a full disk must not fail the user's chain
                    logger.exception("could not append to the CRIS audit log %s", self._sink.path)
            if then_reconcile is not None:
                self._ensure_reconciler().submit(then_reconcile)

        if self._sink is not None and _running_in_event_loop():
            with self._lock:
                if self._writer is None:
                    self._writer = ThreadPoolExecutor(1, thread_name_prefix="cris-audit")
                self._last_write = self._writer.submit(job)
        else:
            job()

    def _ensure_reconciler(self) -> ServedRegionReconciler:
        with self._lock:
            if self._reconciler is None:
                sources: list[Source] = self._custom_sources or [
                    CloudTrailLookup(self._clients, clock=self._clock)
                ]
                if self._custom_sources is None and self._log_group:
                    sources.append(InvocationLogLookup(self._clients, self._log_group))
                deadline, first_poll, max_interval = self._reconcile_timing
                self._reconciler = ServedRegionReconciler(
                    sources,
                    on_result=self._on_reconciled,
                    on_give_up=self._on_give_up,
                    deadline=deadline,
                    first_poll=first_poll,
                    max_interval=max_interval,
                )
            return self._reconciler

    def _on_reconciled(self, call: PendingCall, finding: Finding) -> None:
        record = call.record_for(finding)
        self._write(record)
        with self._lock:
            ref, span_context = self._refs.pop(call.request_id or str(call.run_id), (None, None))
        if ref is not None:
            write_served_region_feedback(
                ref,
                served_region=record["served_region"],
                compliant=record["compliant"],
                evidence=record["evidence"],
                allowed_regions=record["allowed_regions"],
                client=self._ls_client,
            )
        if self._spans is not None:
            self._spans.reconciled(span_context, record)
        if not record["compliant"]:
            self._notify(ViolationEvent.from_reconciliation(record))

    def _on_give_up(self, call: PendingCall) -> None:
        # The call stays ``pending`` in the log; ``langchain-cris reconcile`` can finish it.
        with self._lock:
            self._refs.pop(call.request_id or str(call.run_id), None)

    def _notify(self, event: ViolationEvent) -> None:
        if self.on_violation is None:
            return
        try:
            self.on_violation(event)
        except Exception:  # an alerting bug must not break the chain
            logger.exception("on_violation callback failed")

    def _pop(self, run_id: UUID) -> facts.RunStart | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    # -- public ---------------------------------------------------------------------------------
    def records(self) -> list[CallState]:
        """Calls seen by this handler (latest 10,000 records), reconciliations folded in."""
        self._flush_writer()
        with self._lock:
            snapshot = list(self._log)
        return summarize_records(snapshot)

    def wait_reconciled(self, timeout: float | None = None) -> bool:
        """Block until every pending call is reconciled or given up (scripts and tests only).

        Returns:
            False if ``timeout`` seconds passed first.
        """
        end = None if timeout is None else time.monotonic() + timeout
        self._flush_writer(timeout)
        reconciler = self._reconciler
        if reconciler is None:
            return True
        remaining = None if end is None else max(0.0, end - time.monotonic())
        done = reconciler.wait(remaining)
        self._flush_writer(None if end is None else max(0.0, end - time.monotonic()))
        return done

    def _flush_writer(self, timeout: float | None = None) -> None:
        last = self._last_write
        if last is not None:
            try:
                last.result(timeout)
            except Exception:  # logged by the job itself
                logger.debug("audit writer job failed", exc_info=True)

    def close(self) -> None:
        """Stop reconciling (pending calls stay ``pending``), flush and close the audit log."""
        if self._closed:
            return
        self._closed = True
        if self._reconciler is not None:
            self._reconciler.close()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        if self._sink is not None:
            self._sink.close()

    def __enter__(self) -> CRISCallbackHandler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        sink = str(self._sink.path) if self._sink is not None else None
        return (
            f"CRISCallbackHandler(audit_path={sink!r}, reconcile={self.reconcile_mode!r}, "
            f"otel={self._spans is not None}, include_prompts={self.include_prompts})"
        )
