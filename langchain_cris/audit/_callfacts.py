"""One fact per call out of CloudTrail and invocation logs together, for the audit report.

CloudTrail records are folded by :class:`~._ctjoin.CallAssembler` (copies dropped, completions
joined). When invocation logs are read too, the same call may be in both; this module decides,
call by call, what the report counts (the rules of :mod:`langchain_cris.audit.strength`):

* CloudTrail's call is counted once; a log entry for it only adds the tokens CloudTrail lacked;
* a streamed call CloudTrail left *assumed* (no completion event) is held until the logs are
  read: a log entry naming its ``inferenceRegion`` replaces the assumption; otherwise it is
  counted as assumed when the evidence ends;
* a log entry CloudTrail does not have is a call of its own (confirmed with the field, assumed
  without).

Memory: with both sources, CloudTrail's request ids and each call's group key are kept (that is
what joins a log entry to its call), plus the assumed streams waiting for the logs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from langchain_cris.audit._ctjoin import CallAssembler
from langchain_cris.audit.cloudtrail import CloudTrailCall, StreamCompletion
from langchain_cris.audit.invocation_logs import InvocationLogEntry
from langchain_cris.audit.strength import Strength

__all__ = ["CallFact", "CallFacts", "Counted", "TokenTopUp"]


@dataclass(frozen=True, slots=True)
class CallFact:
    """One call as the report counts it, when it is not simply CloudTrail's call (same
    attribute names as :class:`~langchain_cris.audit.cloudtrail.CloudTrailCall`)."""

    request_id: str
    event_time: datetime
    model_id: str | None
    source_region: str
    served_region: str
    account_id: str | None
    error_code: str | None
    input_tokens: int | None
    output_tokens: int | None
    evidence: str
    strength: Strength
    api_call_seen: bool = True

    @classmethod
    def from_cloudtrail(cls, call: CloudTrailCall) -> CallFact:
        return cls(
            call.request_id,
            call.event_time,
            call.model_id,
            call.source_region,
            call.served_region,
            call.account_id,
            call.error_code,
            call.input_tokens,
            call.output_tokens,
            call.evidence,
            call.strength,
            call.api_call_seen,
        )

    @classmethod
    def from_log(cls, entry: InvocationLogEntry) -> CallFact:
        return cls(
            entry.request_id,
            entry.timestamp,
            entry.model_id,
            entry.source_region,
            entry.served_region,
            entry.account_id,
            None,
            entry.input_tokens,
            entry.output_tokens,
            entry.evidence,
            entry.strength,
        )


Counted = CallFact | CloudTrailCall
"""What the report counts: CloudTrail's call as it is, or a fact merged with a log entry."""


@dataclass(frozen=True, slots=True)
class TokenTopUp:
    """Tokens an invocation log adds to a call CloudTrail already counted."""

    group: tuple[str | None, str, str]
    input_tokens: int
    output_tokens: int


class CallFacts:
    """Feeds CloudTrail records and invocation-log entries; returns what to count.

    Args:
        join_logs: Keep CloudTrail's request ids so a log entry of the same call is joined to
            it rather than counted again (set when both sources are read).
    """

    def __init__(self, *, join_logs: bool) -> None:
        self.join_logs = join_logs
        self.assembler = CallAssembler()
        self._known: dict[str, tuple[tuple[str | None, str, str], bool]] = {}
        self._assumed: dict[str, CloudTrailCall] = {}

    def add_cloudtrail(self, record: CloudTrailCall | StreamCompletion) -> list[Counted]:
        """A CloudTrail record (raw or already assembled); returns calls now final."""
        return self._cloudtrail_calls(self.assembler.add(record))

    def end_cloudtrail(self) -> list[Counted]:
        """No more CloudTrail for now: emit the streams still waiting for a completion."""
        return self._cloudtrail_calls(self.assembler.finish())

    def _cloudtrail_calls(self, calls: list[CloudTrailCall]) -> list[Counted]:
        if not self.join_logs:
            return list(calls)  # the common case: CloudTrail alone, its calls as they are
        out: list[Counted] = []
        for call in calls:
            if call.strength == "assumed" and call.error_code is None:
                self._assumed[call.request_id] = call  # a log entry may still name its Region
                continue
            out.append(self._counted(call))
        return out

    def _counted(self, fact: Counted) -> Counted:
        if self.join_logs:
            key = (fact.model_id, fact.source_region, fact.served_region)
            self._known[fact.request_id] = (key, fact.input_tokens is not None)
        return fact

    def add_log(self, entry: InvocationLogEntry) -> list[Counted | TokenTopUp]:
        """An invocation-log entry; returns a call to count, tokens to add, or nothing."""
        request_id = entry.request_id
        held = self._assumed.pop(request_id, None)
        if held is not None:
            fact: Counted = CallFact.from_cloudtrail(held)
            if fact.input_tokens is None:
                fact = dataclasses.replace(
                    fact, input_tokens=entry.input_tokens, output_tokens=entry.output_tokens
                )
            if entry.strength == "confirmed":  # the log names the Region CloudTrail lacked
                fact = dataclasses.replace(
                    fact,
                    served_region=entry.served_region,
                    evidence=entry.evidence,
                    strength=entry.strength,
                )
            return [self._counted(fact)]
        known = self._known.get(request_id)
        if known is not None:
            key, had_tokens = known
            if had_tokens:
                return []
            self._known[request_id] = (key, True)
            return [TokenTopUp(key, entry.input_tokens or 0, entry.output_tokens or 0)]
        return [self._counted(CallFact.from_log(entry))]

    def finish(self) -> list[Counted]:
        """The evidence ended: every call still held is counted with what it has."""
        out = self.end_cloudtrail()
        out += [self._counted(c) for c in self._assumed.values()]
        self._assumed.clear()
        return out
