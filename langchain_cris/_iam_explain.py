"""The plain-text explanation of a generated IAM document (``langchain-cris iam --explain``).

Reviewers approve IAM changes from this table, so it says per statement why it exists, and for
an SCP why each Region is on the allow-list; Region lists are shortened here only, never in
the documents themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from langchain_cris._iam_arns import UNSPECIFIED_REGION
from langchain_cris._text import format_table
from langchain_cris.regions import region_table

if TYPE_CHECKING:
    from langchain_cris._iam_document import IamDocument
    from langchain_cris._iam_plan import GrantPlan

__all__ = ["explain_document", "short_regions"]


def explain_document(doc: IamDocument) -> str:
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


def short_regions(regions: Iterable[str]) -> str:
    """Full list up to eight Regions, else a count with the first and last (the JSON has all)."""
    items = sorted(regions)
    if not items:
        return "-"
    real = [r for r in items if r != UNSPECIFIED_REGION]
    if len(real) > 8:
        text = f"{len(real)} Regions ({real[0]} … {real[-1]})"
        if frozenset(real) == region_table().partition_regions("aws"):
            text = f"all {len(real)} commercial Regions"
    else:
        text = ", ".join(real)
    if UNSPECIFIED_REGION in items:
        text = f"{text}, {UNSPECIFIED_REGION}" if text else UNSPECIFIED_REGION
    return text


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
