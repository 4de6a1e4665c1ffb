"""No import cycles among the project's modules, read from the source with ast.

Every import counts wherever it stands: at the top, inside a function (a lazy import is still a
dependency, only a later one) and under ``if TYPE_CHECKING`` (the type checker follows it).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("smtp_session", "web", "transcripts")
TOP_LEVEL = ("app.py", "wsgi.py", "sandbox_main.py")


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for the packages and the top-level entry points."""
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    files += [ROOT / name for name in TOP_LEVEL]
    modules = {}
    for path in files:
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts:  # Alembic loads these by path; nothing imports them
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports, relative imports made absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # pkg.name if that is a module, else pkg (import_graph strips what is not one).
            # The package's __init__ runs for any import of its modules, so it is no edge.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in _imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph is a few hundred nodes deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_path_within(graph, sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _path_within(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A path from the component's first module back to itself, for the failure message."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return component


def test_the_project_has_no_import_cycle() -> None:
    modules = project_modules()
    assert {"app", "smtp_session.wire.session", "web.views.ws", "transcripts.store"} <= set(modules)
    found = cycles(import_graph(modules))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checker_sees_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    """The checker itself: a function-level import closing a loop is reported."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import thing\n")
    (tmp_path / "pkg" / "b.py").write_text("def thing():\n    from . import a\n    return a\n")
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\n")
    modules = {
        name: tmp_path / "pkg" / f"{name.rpartition('.')[2]}.py"
        for name in ("pkg.a", "pkg.b", "pkg.c")
    }
    assert cycles(import_graph(modules)) == [["pkg.a", "pkg.b", "pkg.a"]]
