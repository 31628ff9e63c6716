"""Recording each call: the callback handler and where its records go.

- :mod:`.handler` — :class:`CRISCallbackHandler`: one audit record per Bedrock chat-model run,
  written to the JSONL audit log, the live LangSmith run and an OpenTelemetry span, then handed
  to the served-Region reconciler (:mod:`langchain_cris.audit`);
- :mod:`._run_facts` — what a run's callback arguments say about its route (pure functions);
- :mod:`.langsmith` — the LangSmith plumbing (live-run metadata, feedback after the run ended);
- :mod:`.otel` — OpenTelemetry spans with GenAI semantic-convention attributes.
"""

from langchain_cris.tracing.handler import CRISCallbackHandler, ReconcileMode

__all__ = ["CRISCallbackHandler", "ReconcileMode"]
