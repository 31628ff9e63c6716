"""Schema-driven tool arguments: a JSON value valid for a tool's JSON schema, filled from the text.

A real model reads "What is magic_function(3)?" and calls ``magic_function(input=3)``; this
module does the same deterministically. Values are taken from the user's message wherever the
schema allows it (numbers in order or ``name=value``, quoted strings, non-ASCII text,
capitalised words, enum members mentioned in the text) and invented otherwise, always within the
schema's types, required fields, enums, bounds, formats and nested objects/arrays.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["ArgumentFactory", "generate_arguments"]

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w])")
_QUOTED = re.compile(
    r"(?<![\w])'([^'\n]+)'(?![\w])|\"([^\"\n]+)\"|\u201c([^\u201d]+)\u201d|"
    r"\u2018([^\u2019]+)\u2019|\u300c([^\u300d]+)\u300d"
)
# Letters/digits outside ASCII (CJK, accented words …), kept with inner spaces.
_NON_ASCII = re.compile(r"[^\x00-\x7f\s\u2018-\u201f\u3000-\u303f\uff01-\uff0f]+")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b(?:\s+[A-Z][a-z]+\b)*")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_URL = re.compile(r"https?://\S+")
_MAX_DEPTH = 8


def _mid_sentence(text: str, match: re.Match[str]) -> bool:
    """True unless the word starts a sentence (capitalised only by grammar)."""
    before = text[: match.start()].rstrip()
    return bool(before) and before[-1] not in ".!?:\n"


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        item = item.strip()
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out


class ArgumentFactory:
    """Builds schema-valid values from one message, consuming its candidates in order.

    Args:
        text: The user's message the values should come from.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._numbers = [m.group(0) for m in _NUMBER.finditer(text)]
        quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]
        non_ascii = [m.group(0) for m in _NON_ASCII.finditer(text)]
        capitalised = [m.group(0) for m in _CAPITALISED.finditer(text) if _mid_sentence(text, m)]
        self._strings = _dedupe(quoted + non_ascii + capitalised)
        self._number_pos = 0
        self._string_pos = 0
        self._fallback = text.strip().rstrip(".?!") or "value"

    # -- candidates ------------------------------------------------------------------------
    def _named_number(self, name: str | None) -> str | None:
        if not name:
            return None
        m = re.search(
            rf"\b{re.escape(name)}\s*(?:=|:|is)\s*([-+]?\d+(?:\.\d+)?)", self.text, re.IGNORECASE
        )
        return m.group(1) if m else None

    def _next_number(self, name: str | None) -> str | None:
        named = self._named_number(name)
        if named is not None:
            return named
        if self._number_pos < len(self._numbers):
            self._number_pos += 1
            return self._numbers[self._number_pos - 1]
        return None

    def _next_string(self) -> str:
        if self._string_pos < len(self._strings):
            self._string_pos += 1
            return self._strings[self._string_pos - 1]
        return self._fallback[:120]

    def _matching_string(self, pattern: str, default: Any) -> str:
        """A candidate (or any word of the text) matching ``pattern``, else the default."""
        try:
            compiled = re.compile(pattern)
        except re.error:
            return self._next_string()
        words = re.findall(r"[^\s,;:!?()'\"]+", self.text)
        for candidate in [*self._strings[self._string_pos :], *words]:
            if compiled.search(candidate):
                return candidate
        if isinstance(default, str):
            return default
        return self._next_string()  # no way to satisfy it from the text: best effort

    # -- schema walk -------------------------------------------------------------------------
    def value(
        self,
        schema: Mapping[str, Any],
        root: Mapping[str, Any] | None = None,
        name: str | None = None,
        depth: int = 0,
    ) -> Any:
        """A value valid for ``schema`` (``root`` resolves ``$ref``)."""
        root = root if root is not None else schema
        schema = self._resolve(schema, root)
        if depth > _MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._enum(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self._resolve(b, root) for b in schema[key]]
                non_null = [b for b in branches if b.get("type") != "null"] or branches
                return self.value(non_null[0], root, name, depth + 1)
        if "allOf" in schema:
            return self.value(_merge_all_of(schema, root, self), root, name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if kind == "object":
            return self._object(schema, root, depth)
        if kind == "array":
            return self._array(schema, root, name, depth)
        if kind in ("integer", "number"):
            return self._number(schema, name, integer=kind == "integer")
        if kind == "boolean":
            if "default" in schema and isinstance(schema["default"], bool):
                return schema["default"]
            return bool(re.search(r"\b(true|yes)\b", self.text, re.IGNORECASE))
        if kind == "null":
            return None
        return self._string(schema)

    @staticmethod
    def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema and seen < _MAX_DEPTH:
            ref = str(schema["$ref"])
            target: Any = root
            for part in ref.lstrip("#/").split("/") if ref.startswith("#") else []:
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**(target if isinstance(target, Mapping) else {}), **extra}
            seen += 1
        return schema

    def _object(self, schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
        props: Mapping[str, Any] = schema.get("properties") or {}
        return {
            key: self.value(sub, root, key, depth + 1)
            for key, sub in props.items()
            if isinstance(sub, Mapping)
        }

    def _array(
        self, schema: Mapping[str, Any], root: Mapping[str, Any], name: str | None, depth: int
    ) -> list[Any]:
        items = self._resolve(schema.get("items") or {"type": "string"}, root)
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 1)))
        count = low
        if items.get("type") in ("integer", "number"):
            remaining = len(self._numbers) - self._number_pos
            count = max(low, min(high, remaining))
        count = max(count, 1) if high >= 1 else 0
        return [self.value(items, root, name, depth + 1) for _ in range(count)]

    def _enum(self, options: list[Any]) -> Any:
        lowered = self.text.lower()
        for option in options:
            if isinstance(option, str) and option and option.lower() in lowered:
                return option
        return options[0] if options else None

    def _number(self, schema: Mapping[str, Any], name: str | None, *, integer: bool) -> Any:
        raw = self._next_number(name)
        if raw is not None:
            value: float = float(raw)
        elif isinstance(schema.get("default"), (int, float)):
            value = float(schema["default"])
        else:
            value = 0.0
        low = schema.get("minimum")
        high = schema.get("maximum")
        step = 1.0 if integer else 1e-6
        if isinstance(schema.get("exclusiveMinimum"), (int, float)):
            ex_low = float(schema["exclusiveMinimum"]) + step
            low = ex_low if low is None else max(float(low), ex_low)
        if isinstance(schema.get("exclusiveMaximum"), (int, float)):
            ex_high = float(schema["exclusiveMaximum"]) - step
            high = ex_high if high is None else min(float(high), ex_high)
        if low is not None:
            value = max(value, float(low))
        if high is not None:
            value = min(value, float(high))
        if integer:
            rounded = math.ceil(value) if low is not None and value == float(low) else round(value)
            return int(rounded)
        return int(value) if value.is_integer() and raw is not None and "." not in raw else value

    def _string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        if fmt == "date":
            m = _DATE.search(self.text)
            value = m.group(0) if m else "2026-01-01"
        elif fmt == "date-time":
            m = _DATE.search(self.text)
            value = f"{m.group(0) if m else '2026-01-01'}T00:00:00Z"
        elif fmt == "email":
            m = _EMAIL.search(self.text)
            value = m.group(0) if m else "user@example.com"
        elif fmt in ("uri", "url"):
            m = _URL.search(self.text)
            value = m.group(0) if m else "https://example.com/"
        elif fmt == "uuid":
            value = str(uuid.uuid5(uuid.NAMESPACE_URL, self.text))
        elif isinstance(schema.get("pattern"), str):
            value = self._matching_string(schema["pattern"], schema.get("default"))
        else:
            value = self._next_string()
        min_len = int(schema.get("minLength", 0))
        max_len = schema.get("maxLength")
        if len(value) < min_len:
            value = value + "x" * (min_len - len(value))
        if isinstance(max_len, int):
            value = value[:max_len]
        return value


def _merge_all_of(
    schema: Mapping[str, Any], root: Mapping[str, Any], factory: ArgumentFactory
) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = factory._resolve(part, root)
        for key, value in part.items():
            if key == "properties":
                merged.setdefault("properties", {}).update(value)
            elif key == "required":
                merged["required"] = sorted(set(merged.get("required", [])) | set(value))
            else:
                merged.setdefault(key, value)
    return merged


def generate_arguments(schema: Mapping[str, Any], text: str) -> Any:
    """A value valid for JSON ``schema`` with content taken from ``text`` where possible.

    Example:
        .. code-block:: python

            schema = {"type": "object", "properties": {"input": {"type": "integer"}},
                      "required": ["input"]}
            generate_arguments(schema, "What is magic_function(3)?")  # {"input": 3}
    """
    return ArgumentFactory(text).value(schema)
