"""The layout rules of pipeline/ (issue #24), checked on the source itself.

No import cycle among pipeline modules (function-level imports included), no module
over MAX_LINES lines, a docstring at the top of every module, and a core that no
command's code reaches into: core imports nothing of records, package or serve, and
of scan only the option dataclasses that travel in a record's provenance, only in
core/schema.py. The rules are read from the modules' syntax trees, so a test here
fails as soon as a module breaks one, whether or not anything imports it.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pipeline"
MAX_LINES = 400                                   # issue #24: no module over ~400 lines
COMMANDS_OUTSIDE_CORE = ("pipeline.records", "pipeline.package", "pipeline.serve")
CORE_MAY_IMPORT_SCAN = "pipeline.core.schema"     # the stage options a record's provenance holds


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of pipeline/ by dotted name (a package by its __init__.py)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text("utf-8"), filename=str(modules()[name]))


def imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) of every `import`/`from` anywhere in the module.

    Relative imports are resolved; `from pipeline.scan import match` is an import of
    the module pipeline.scan.match, `from pipeline.scan.match import Hit` one of
    pipeline.scan.match taking Hit.
    """
    package = name if modules()[name].name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules():
                    found.append((submodule, [], node.lineno))
                else:
                    found.append((base, [alias.name], node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    """pipeline module -> the pipeline modules it imports."""
    return {name: {target for target, _, _ in imports(name) if target in modules() and target != name}
            for name in modules()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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


def test_the_cycle_finder_finds_a_cycle():
    """The check below can fail: a two-module loop and a longer one are both reported."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c", "f"}, "f": set()}
    assert cycles(graph) == [["a", "b"], ["c", "d", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_pipeline_modules():
    graph = import_graph()
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100   # the graph really was read
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(
        " <-> ".join(component) + " (" + ", ".join(f"{a} -> {b}" for a in component
                                                   for b in sorted(graph[a] & set(component))) + ")"
        for component in found)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_at_most_max_lines(name):
    lines = len(modules()[name].read_text("utf-8").splitlines())
    assert lines <= MAX_LINES, f"{modules()[name].relative_to(ROOT)} has {lines} lines (at most {MAX_LINES}): split it"


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_has_a_docstring(name):
    docstring = ast.get_docstring(tree(name))
    assert docstring and docstring.strip(), f"{modules()[name].relative_to(ROOT)} has no module docstring"


@pytest.mark.parametrize("name", sorted(n for n in modules() if n == "pipeline.core" or n.startswith("pipeline.core.")))
def test_core_uses_no_command_code(name):
    for target, taken, line in imports(name):
        where = f"{modules()[name].relative_to(ROOT)}:{line} imports {target}"
        assert not any(target == c or target.startswith(c + ".") for c in COMMANDS_OUTSIDE_CORE), where
        if target == "pipeline.scan" or target.startswith("pipeline.scan."):
            assert name == CORE_MAY_IMPORT_SCAN, f"{where}: only {CORE_MAY_IMPORT_SCAN} may use scan code"
            assert taken and all(n.endswith("Options") for n in taken), \
                f"{where} {taken}: only the stages' option dataclasses"
