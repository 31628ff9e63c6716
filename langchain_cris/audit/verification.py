"""What verifying an audit log found: the findings and the summary, as plain data.

Filled by :mod:`.verify`; read by ``langchain-cris verify``, the audit CLI and the reports
(through :meth:`ChainVerification.to_dict`, whose keys are stable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChainFinding", "ChainVerification"]


@dataclass
class ChainFinding:
    """One problem: where (file and 1-based line), what (``kind``) and in words (``detail``)."""

    kind: str
    file: str
    line: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "line": self.line, "detail": self.detail}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.detail}"


@dataclass
class ChainVerification:
    """What :func:`verify_logs` found.

    Attributes:
        files: The logs checked, in order.
        records: JSON records read (chained, checkpoint and legacy alike).
        chained: Records carrying ``seq``/``prev``.
        unchained: Legacy records without them.
        checkpoints: Checkpoint records in the log.
        checkpoints_verified: Of those (and of the external ones), how many had a valid
            signature; 0 when no key was given.
        external_checkpoints: Checkpoints read from the ``checkpoints`` file.
        signatures: ``verified``, ``not checked`` (no key given) or ``none present``.
        head_seq / head_digest: The last chained record (what to keep elsewhere).
        anchored_seq: The highest ``seq`` a valid checkpoint covers (``None``: none).
        continues_from: The rotated file the first record links to, when it was not given.
        findings: The first ``max_findings`` problems; ``findings_total`` counts all.
    """

    files: list[str] = field(default_factory=list)
    records: int = 0
    chained: int = 0
    unchained: int = 0
    checkpoints: int = 0
    checkpoints_verified: int = 0
    external_checkpoints: int = 0
    signatures: str = "none present"
    algorithms: tuple[str, ...] = ()
    head_seq: int | None = None
    head_digest: str | None = None
    anchored_seq: int | None = None
    continues_from: str | None = None
    findings: list[ChainFinding] = field(default_factory=list)
    findings_total: int = 0

    @property
    def intact(self) -> bool:
        """True when nothing at all was found (legacy records count as a finding)."""
        return self.findings_total == 0

    @property
    def first(self) -> ChainFinding | None:
        return self.findings[0] if self.findings else None

    @property
    def unanchored_records(self) -> int:
        """Chained records after the last valid checkpoint (normal for a live log)."""
        if self.head_seq is None:
            return 0
        return self.head_seq - (self.anchored_seq if self.anchored_seq is not None else -1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "files": list(self.files),
            "records": self.records,
            "chained": self.chained,
            "unchained": self.unchained,
            "checkpoints": self.checkpoints,
            "checkpoints_verified": self.checkpoints_verified,
            "external_checkpoints": self.external_checkpoints,
            "signatures": self.signatures,
            "algorithms": list(self.algorithms),
            "head": {"seq": self.head_seq, "sha256": self.head_digest},
            "anchored_seq": self.anchored_seq,
            "continues_from": self.continues_from,
            "unanchored_records": self.unanchored_records,
            "findings_total": self.findings_total,
            "findings": [f.to_dict() for f in self.findings],
        }
