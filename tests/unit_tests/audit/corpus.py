"""Paths and loaders for the AWS conformance corpus in ``tests/fixtures/aws`` (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "aws"
TRAIL_FILES = sorted((CORPUS / "trail").glob("*.json"))
SCENARIO_LOGS = CORPUS / "invocation-logs" / "scenario.jsonl"

# The scenario's four calls (README): request id -> (served Region, evidence, tokens in/out).
A = "5f1c2a90-0001-4e7b-9c3d-EXAMPLE0001A"
B = "5f1c2a90-0002-4e7b-9c3d-EXAMPLE0002A"
C = "5f1c2a90-0003-4e7b-9c3d-EXAMPLE0003A"
D = "5f1c2a90-0004-4e7b-9c3d-EXAMPLE0004A"
SCENARIO = {
    A: ("eu-west-1", "cloudtrail:inferenceRegion", None, None),
    B: ("eu-central-1", "cloudtrail:absent-field=source", None, None),
    C: ("eu-west-3", "cloudtrail:completion:inferenceRegion", 1520, 233),
    D: ("us-east-1", "cloudtrail:completion:inferenceRegion", 2048, 512),
}
SCENARIO_TIME = "2026-11-26T12:00:00Z"
EU = ["eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"]


def load(name: str) -> Any:
    """One corpus file, parsed (``name`` relative to the corpus root)."""
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def scenario_records() -> list[dict[str, Any]]:
    """Every CloudTrail record of the scenario, in file order."""
    return [r for path in TRAIL_FILES for r in json.loads(path.read_text())["Records"]]


class PagedLookup:
    """A CloudTrail client stand-in answering ``lookup_events`` from fixed pages (unit seam).

    Records the kwargs of every call so tests can check pagination and rate limiting.
    """

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def lookup_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        index = int(kwargs.get("NextToken", "0"))
        page = dict(self.pages[index])
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        else:
            page.pop("NextToken", None)
        return page


def lookup_page(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap records the way LookupEvents does (newest first, ``CloudTrailEvent`` as a string)."""
    ordered = sorted(records, key=lambda r: r["eventTime"], reverse=True)
    return {
        "Events": [
            {
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": "true" if r["readOnly"] else "false",
                "EventSource": r["eventSource"],
                "CloudTrailEvent": json.dumps(r),
            }
            for r in ordered
            if r.get("eventCategory", "Management") == "Management"  # no data events there
        ]
    }
