"""The plain-text explanation of a generated IAM document (``langchain-cris iam --explain``).

Reviewers approve IAM changes from this table, so it says per statement why it exists, and for
an SCP why each Region is on the allow-list; Region lists are shortened here only, never in
the documents themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from langchain_cris._text import format_table
from langchain_cris.iam.arns import UNSPECIFIED_REGION, short_regions
from langchain_cris.iam.plan import GrantPlan

__all__ = ["ExplainedDocument", "ExplainedStatement", "explain_document"]


class ExplainedStatement(Protocol):
    """What the table reads of one statement (:class:`~.document.StatementInfo` has it)."""

    @property
    def sid(self) -> str: ...
    @property
    def effect(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def source_regions(self) -> Iterable[str]: ...
    @property
    def regions(self) -> Iterable[str]: ...


class ExplainedDocument(Protocol):
    """What the table reads of a document (:class:`~.document.IamDocument` has it).

    A protocol rather than the class itself, so that ``document`` can call this module for
    ``IamDocument.explain()`` without this module importing ``document`` back.
    """

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def statements(self) -> Sequence[object]: ...
    @property
    def info(self) -> Sequence[ExplainedStatement]: ...
    @property
    def plan(self) -> GrantPlan | None: ...
    @property
    def size(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def over_limit(self) -> bool: ...


def explain_document(doc: ExplainedDocument) -> str:
    """A plain-text table: per statement, why it exists and which Regions it names."""
    headers = ("Sid", "Effect", "Subject", "Sources", "Regions", "Why")
    rows = [
        (
            i.sid,
            i.effect,
            i.subject,
            short_regions(i.source_regions),
            short_regions(i.regions),
            i.purpose,
        )
        for i in doc.info
    ]
    lines = [format_table(headers, rows)]
    lines.append("")
    lines.append(
        f"{doc.kind} policy {doc.name}: {len(doc.statements)} statement(s), "
        f"{doc.size}/{doc.max_size} characters compact"
    )
    if doc.over_limit:
        lines.append("WARNING: larger than the AWS quota; split it by model or by source Region.")
    if doc.plan is not None:
        if doc.kind == "scp":
            lines.extend(f"allow-list: {need}" for need in _route_needs(doc.plan))
        for reason in doc.plan.skipped:
            lines.append(f"not granted: {reason}")
    return "\n".join(lines)


def _route_needs(plan: GrantPlan) -> list[str]:
    """Why each Region is on the SCP allow-list: the routes that need it, grouped."""
    grouped: dict[tuple[str, frozenset[str]], set[str]] = {}
    for g in plan.grants:
        subject = g.profile_id or f"{g.base_model_id} in-Region"
        needs = (
            frozenset({g.source_region, UNSPECIFIED_REGION})
            if g.kind == "global"
            else g.destination_regions | {g.source_region}
        )
        grouped.setdefault((subject, needs), set()).add(g.source_region)
    return [
        f"{subject} from {short_regions(sources)} needs {short_regions(needs)}"
        for (subject, needs), sources in sorted(grouped.items(), key=lambda kv: kv[0][0])
    ]
