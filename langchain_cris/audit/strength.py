"""What AWS evidence says about a served Region, and how strongly it says it.

Bedrock's response never names the Region that served a cross-Region call; only AWS's records
do, and they do not all say it equally well. Every served Region this package records carries
one of these **evidence kinds**, and with it a **strength**, so no report claims more than AWS
gave:

* ``cloudtrail:inferenceRegion`` — **confirmed**: the API-call event's
  ``additionalEventData.inferenceRegion``;
* ``cloudtrail:completion:inferenceRegion`` — **confirmed**: a stream-completion event's
  ``serviceEventDetails.AdditionalEventData.additionalEntries.inferenceRegion``;
* ``cloudtrail:absent-field=source`` — **documented** for a Converse / InvokeModel API-call
  event without ``additionalEventData`` (AWS: "processed without being re-routed"), but only
  **assumed** for a *streamed* call whose completion event was not (yet) seen, because the
  completion event is where AWS reports where a stream's inference ran;
* ``invocation_log:inferenceRegion`` — **confirmed**: an invocation-log record's top-level
  ``inferenceRegion`` (shown by AWS's 2024 blog, not in the documented log format);
* ``invocation_log:no-field`` — **assumed**: an invocation-log record without it (what the
  absence means is not documented); the source Region is recorded as an assumption.

Rules that follow (applied by the readers, the reconciler and the audit report):

* stronger evidence replaces weaker evidence; at equal strength CloudTrail wins;
* an **assumed** served Region is never final while stronger evidence may still arrive: live
  reconciliation keeps polling until its deadline, batch reconciliation records it only once
  the call is older than the deadline, and a later run replaces it when CloudTrail confirms;
* an assumed Region is still judged against the policy (outside it is a violation), and the
  audit report counts assumed Regions separately.

Sources: AWS's Bedrock user guide pages "Monitor Amazon Bedrock API calls using CloudTrail"
(stream-completion events) and "Monitor model invocation using CloudWatch Logs and Amazon S3"
(log entry format), and the AWS ML blog "Getting started with cross-region inference in Amazon
Bedrock" (2024); copies and commits are listed in ``tests/fixtures/aws/README.md``.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "CLOUDTRAIL_ABSENT",
    "CLOUDTRAIL_COMPLETION",
    "CLOUDTRAIL_FIELD",
    "LOG_FIELD",
    "LOG_NO_FIELD",
    "STRENGTHS",
    "EvidenceKind",
    "Strength",
    "evidence_source",
    "is_stronger",
    "strength_rank",
]

Strength = Literal["confirmed", "documented", "assumed"]
"""How strongly the evidence names the served Region (see the module docstring)."""
STRENGTHS: tuple[Strength, ...] = ("confirmed", "documented", "assumed")

EvidenceKind = Literal[
    "cloudtrail:inferenceRegion",
    "cloudtrail:completion:inferenceRegion",
    "cloudtrail:absent-field=source",
    "invocation_log:inferenceRegion",
    "invocation_log:no-field",
]

CLOUDTRAIL_FIELD: EvidenceKind = "cloudtrail:inferenceRegion"
CLOUDTRAIL_COMPLETION: EvidenceKind = "cloudtrail:completion:inferenceRegion"
CLOUDTRAIL_ABSENT: EvidenceKind = "cloudtrail:absent-field=source"
LOG_FIELD: EvidenceKind = "invocation_log:inferenceRegion"
LOG_NO_FIELD: EvidenceKind = "invocation_log:no-field"

_RANK = {"assumed": 1, "documented": 2, "confirmed": 3}


def strength_rank(strength: str | None) -> int:
    """``confirmed`` 3, ``documented`` 2, ``assumed`` 1; anything else (older records) 0."""
    return _RANK.get(strength or "", 0)


def evidence_source(evidence: str | None) -> str:
    """``cloudtrail`` or ``invocation_log`` (the part before the first colon)."""
    return (evidence or "").split(":", 1)[0]


def is_stronger(
    strength: str | None, evidence: str | None, than_strength: str | None, than_evidence: str | None
) -> bool:
    """Whether (``strength``, ``evidence``) should replace (``than_strength``, ``than_evidence``).

    Stronger wins; at equal strength CloudTrail beats the invocation log; otherwise keep the
    first.
    """
    new, old = strength_rank(strength), strength_rank(than_strength)
    if new != old:
        return new > old
    return evidence_source(evidence) == "cloudtrail" != evidence_source(than_evidence)
