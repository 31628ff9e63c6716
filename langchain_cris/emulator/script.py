"""Scripted mode: queue exact replies or faults for the next text-generation calls.

Each Converse, ConverseStream or text InvokeModel call takes the next item, if any; embedding
calls never consume the script. A scripted reply still goes through routing, CloudTrail and
invocation logging, so only the model's output is replaced. A scripted ``throttle`` answers
ThrottlingException without trying any Region; other scripted faults happen in the serving
Region like injected ones.

Example:
    .. code-block:: python

        bedrock.script.reply("Paris.")
        bedrock.script.tool_call("get_weather", {"city": "Paris"})
        bedrock.script.fault("stream_error", after_events=3)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_cris.emulator.config import FaultKind, FaultRule

__all__ = ["Script", "ScriptedReply"]


@dataclass(frozen=True)
class ScriptedReply:
    """Exact output for one call: optional text, then tool calls ``(name, input)``."""

    text: str | None = None
    tool_calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    stop_reason: str | None = None


@dataclass
class Script:
    """Thread-safe FIFO of :class:`ScriptedReply` and :class:`FaultRule` items."""

    _items: deque[ScriptedReply | FaultRule] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, text: str, *, times: int = 1, stop_reason: str | None = None) -> None:
        """Answer the next ``times`` calls with exactly ``text``."""
        self._push(ScriptedReply(text=text, stop_reason=stop_reason), times)

    def tool_call(
        self,
        name: str,
        input: Mapping[str, Any],
        *,
        text: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls with a call of tool ``name`` (after ``text``)."""
        self._push(ScriptedReply(text=text, tool_calls=((name, dict(input)),)), times)

    def fault(self, kind: FaultKind, *, times: int = 1, **options: Any) -> None:
        """Fail the next ``times`` calls with fault ``kind`` (options as in ``FaultRule``)."""
        self._push(FaultRule(kind=kind, **options), times)

    def push(self, item: ScriptedReply | FaultRule) -> None:
        with self._lock:
            self._items.append(item)

    def _push(self, item: ScriptedReply | FaultRule, times: int) -> None:
        with self._lock:
            self._items.extend([item] * times)

    def pop(self) -> ScriptedReply | FaultRule | None:
        with self._lock:
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
