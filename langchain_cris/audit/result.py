"""The :class:`AuditReport`: an audit's summary together with its renderings.

The data is :class:`~.summary.AuditSummary`; the writing out is :mod:`._render`. This module
joins the two, so the renderer depends only on the data and nothing imports back up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_cris.audit._render import render_report, report_to_dict
from langchain_cris.audit.summary import AuditSummary, OutputFormat

__all__ = ["AuditReport"]


@dataclass
class AuditReport(AuditSummary):
    """The result of an audit: counts, violations, cross-check and input problems.

    ``exit_code`` is what the CLI returns: 1 when any violation was found (or, with
    ``strict``, any cross-check discrepancy), else 0.
    """

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (stable keys; ``schema`` bumps on incompatible change)."""
        return report_to_dict(self)

    def render(self, fmt: OutputFormat = "table") -> str:
        """The report as ``table`` (terminal), ``json`` or ``markdown`` (compliance report)."""
        return render_report(self, fmt)
