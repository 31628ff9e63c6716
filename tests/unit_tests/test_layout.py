"""The package's rooms, pinned: no import circles (lazy imports included), none into the emulator.

Every ``import`` statement of ``langchain_cris`` is read with :mod:`ast`, wherever it stands
(module level, inside functions, under ``TYPE_CHECKING``), so a circle hidden by a function-level
import is found as well as a plain one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import langchain_cris

PACKAGE_DIR = Path(langchain_cris.__file__).parent
PACKAGE = "langchain_cris"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _resolve(current: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    if current not in PACKAGES:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(name: str) -> Iterator[str]:
    """The package modules ``name`` imports (a ``from pkg import submodule`` names the module)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, node)
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target.startswith(PACKAGE) and target in MODULES and target != name:
                yield target


GRAPH = {name: set(_imports(name)) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _room(module: str) -> str:
    """``langchain_cris.audit.sink`` -> ``audit``; ``langchain_cris.policy`` -> ``policy``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def test_no_module_import_circles() -> None:
    assert _cycles(GRAPH) == []


def test_no_room_import_circles() -> None:
    """Rooms (top-level modules and sub-packages) form layers: none imports one above it."""
    rooms: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        if module == PACKAGE:
            continue  # the public face imports every room by design
        room = _room(module)
        rooms.setdefault(room, set()).update(
            _room(t) for t in targets if t != PACKAGE and _room(t) != room
        )
    assert _cycles(rooms) == []


def test_the_library_never_imports_the_emulator() -> None:
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if not module.startswith(f"{PACKAGE}.emulator")
        and not module.startswith(f"{PACKAGE}.cli")  # `langchain-cris demo/emulator` run it
        for target in targets
        if target.startswith(f"{PACKAGE}.emulator")
    )
    assert offenders == []


def test_the_checker_sees_a_circle() -> None:
    """The checker itself: a lazy two-module circle is found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
