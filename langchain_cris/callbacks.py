"""Kept so ``from langchain_cris.callbacks import CRISCallbackHandler`` keeps working.

The handler lives in :mod:`langchain_cris.tracing` (with its LangSmith and OpenTelemetry
plumbing); import it from there or from :mod:`langchain_cris`.
"""

from langchain_cris.tracing.handler import CRISCallbackHandler, ReconcileMode

__all__ = ["CRISCallbackHandler", "ReconcileMode"]
