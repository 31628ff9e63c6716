"""LangSmith plumbing for ``CRISCallbackHandler``: the one place that touches tracer internals.

Two moments matter:

1. **While the run ends** (``on_llm_end`` / ``on_llm_error``) the residency facts go onto the
   LLM run *itself*. ``LangChainTracer`` POSTs a chat-model run when it starts and PATCHes it
   when it ends, sending the run's whole ``extra.metadata`` and ``tags``. A user handler sits
   before the tracer in the callback manager (the env-enabled tracer is appended after user
   handlers), so adding to the live run object before the tracer's ``on_llm_end`` lands the
   facts in that PATCH. langchain-core passes a handler neither the manager nor the tracer,
   so :func:`calling_tracers` reads them from the manager's dispatch frame; this is the only
   internal we rely on and it degrades to "no tracer found" if langchain-core changes.
2. **After the run ended** (reconciliation, minutes later) the run is gone from the tracer.
   LangSmith's public API offers ``Client.update_run`` and ``Client.create_feedback``.
   ``update_run`` (langsmith 0.15.1) sends ``extra`` and ``tags`` verbatim — the SDK itself
   always re-sends the *whole* ``extra`` when it PATCHes, so the server treats it as a
   replacement — and stamps ``end_time=now`` unless one is passed, which would corrupt the
   run's latency. Feedback is additive, made for after-the-fact facts, and filterable in the
   UI (``feedback_key``/``feedback_score``), so the served Region is written as feedback.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any
from uuid import UUID

__all__ = [
    "FEEDBACK_KEY",
    "RunRef",
    "calling_tracers",
    "enrich_live_run",
    "write_served_region_feedback",
]

logger = logging.getLogger(__name__)

FEEDBACK_KEY = "cris_served_region"
"""Feedback key carrying the reconciled served Region (value) and compliance (score 1/0)."""

_MANAGER_FILE = "langchain_core/callbacks/manager.py"
_DISPATCH_FUNCS = frozenset({"handle_event", "ahandle_event"})
_MAX_FRAMES = 8


def calling_tracers() -> list[Any]:
    """The ``LangChainTracer`` handlers of the callback manager dispatching the current event.

    Must be called from inside a callback method. Reads the ``handlers`` argument of
    langchain-core's ``handle_event``/``ahandle_event`` a few frames up (langchain-core gives a
    handler no public way to see its siblings). Returns ``[]`` when none is found.
    """
    try:
        from langchain_core.tracers.langchain import LangChainTracer
    except ImportError:  # pragma: no cover - langchain-core always ships it
        return []
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        code = frame.f_code
        if code.co_name in _DISPATCH_FUNCS and code.co_filename.replace("\\", "/").endswith(
            _MANAGER_FILE
        ):
            handlers = frame.f_locals.get("handlers")
            if isinstance(handlers, list):
                return [h for h in handlers if isinstance(h, LangChainTracer)]
            return []
        frame = frame.f_back
    return []


@dataclass(frozen=True)
class RunRef:
    """Where a traced LLM run lives in LangSmith, kept for after-the-fact feedback."""

    run_id: str
    trace_id: str | None
    session_name: str | None
    start_time: datetime | None
    client: Any


def enrich_live_run(
    tracers: Iterable[Any], run_id: UUID, metadata: Mapping[str, Any], tags: Iterable[str]
) -> RunRef | None:
    """Add metadata and tags to the live LLM run before its tracer PATCHes it.

    Returns:
        A :class:`RunRef` for the first tracer that holds the run (for later feedback), or
        ``None`` when no tracer has it (tracing off, or the tracer already ended the run —
        e.g. the handler was listed *after* the tracer).
    """
    ref: RunRef | None = None
    new_tags = list(tags)
    for tracer in tracers:
        run = getattr(tracer, "run_map", {}).get(str(run_id))
        if run is None:
            continue
        run.add_metadata(dict(metadata))
        run.add_tags([t for t in new_tags if t not in (run.tags or [])])
        if ref is None:
            ref = RunRef(
                run_id=str(run_id),
                trace_id=str(run.trace_id) if getattr(run, "trace_id", None) else None,
                session_name=getattr(run, "session_name", None),
                start_time=getattr(run, "start_time", None),
                client=getattr(tracer, "client", None),
            )
    return ref


_project_ids: dict[tuple[int, str], str | None] = {}
_project_lock = threading.Lock()


def _project_id(client: Any, project_name: str | None) -> str | None:
    """The project (session) id feedback needs, looked up once per client and project."""
    if not project_name:
        return None
    key = (id(client), project_name)
    with _project_lock:
        if key in _project_ids:
            return _project_ids[key]
    try:
        project_id: str | None = str(client.read_project(project_name=project_name).id)
    except Exception as exc:
        logger.debug("cannot resolve LangSmith project %r: %s", project_name, exc)
        project_id = None
    with _project_lock:
        _project_ids[key] = project_id
    return project_id


def write_served_region_feedback(
    ref: RunRef,
    *,
    served_region: str,
    compliant: bool,
    evidence: str,
    allowed_regions: Iterable[str] = (),
    client: Any = None,
) -> bool:
    """Attach the reconciled served Region to a finished LLM run as LangSmith feedback.

    ``value`` is the Region, ``score`` 1 (inside the policy) or 0 (violation), ``comment`` says
    where the evidence came from. Returns False (and logs) if LangSmith refused it; the
    audit log stays the system of record.
    """
    target = client or ref.client
    if target is None:
        return False
    allowed = sorted(allowed_regions)
    comment = (
        f"served in {served_region} per {evidence}; "
        + (f"policy allows {', '.join(allowed)}" if allowed else "no residency policy")
        + ("" if compliant else " - RESIDENCY VIOLATION")
    )
    try:
        target.create_feedback(
            run_id=ref.run_id,
            trace_id=ref.trace_id,
            key=FEEDBACK_KEY,
            value=served_region,
            score=1 if compliant else 0,
            comment=comment,
            session_id=_project_id(target, ref.session_name),
            start_time=ref.start_time,
            source_info={"evidence": evidence, "allowed_regions": allowed},
        )
    except Exception as exc:
        logger.warning("could not write served-Region feedback for run %s: %s", ref.run_id, exc)
        return False
    return True
