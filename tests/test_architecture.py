"""Architecture rules read from the source: no import cycle, no reaching into another module's privates.

Both tests parse ``src/josef`` with :mod:`ast` (nothing is imported), so they see every import: at module
level, inside functions and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "josef"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """The josef modules ``name`` imports, with the line: ``from josef.x import y`` is an edge to
    ``josef.x.y`` when that is a module, else to ``josef.x``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    yield sub, node.lineno
                elif base in MODULES:
                    yield base, node.lineno


# Imports that close a cycle today, each with its reason; the list only shrinks.
_ALLOWED_EDGES: dict[tuple[str, str], str] = {}


def _graph(exclude: tuple[str, ...] = (), allowed: bool = True) -> dict[str, set[str]]:
    def kept(module: str) -> bool:
        return not any(module == e or module.startswith(e + ".") for e in exclude)

    return {
        name: {
            target
            for target, _ in _imports(name, path)
            if kept(target) and target != name and not (allowed and (name, target) in _ALLOWED_EDGES)
        }
        for name, path in MODULES.items()
        if kept(name)
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _describe(cycle: list[str], graph: dict[str, set[str]]) -> str:
    members = set(cycle)
    edges = [f"  {a} -> {b}" for a in cycle for b in sorted(graph[a] & members)]
    return " / ".join(cycle) + "\n" + "\n".join(edges)


def test_client_modules_import_no_cycle() -> None:
    """The client (josef without the mock cluster and the CLI, which sit on top of it)."""
    graph = _graph(exclude=("josef.testing", "josef.cli"))
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_mock_cluster_and_cli_import_no_cycle_either() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_allowed_edges_still_exist() -> None:
    graph = _graph(allowed=False)
    stale = sorted(edge for edge in _ALLOWED_EDGES if edge[1] not in graph.get(edge[0], set()))
    assert not stale, f"delete these allow-list entries: {stale}"


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# --- private names -------------------------------------------------------------------------------------

# Underscore names that are public API of what they belong to.
_PUBLIC_UNDERSCORE = {
    "_replace": "NamedTuple API",
    "_asdict": "NamedTuple API",
    "_fields": "NamedTuple API",
    "_make": "NamedTuple API",
}

# (module, name): accesses allowed with a reason.
_ALLOWED: dict[tuple[str, str], str] = {
    ("josef.future", "_metadata"): "RecordFuture's own field, read on another RecordFuture (producer.py has one too)",
}


def _defined_private_names(tree: ast.AST) -> set[str]:
    """Underscore names this module defines: functions, classes, assignments (``self._x = ...``), slots."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)  # __slots__ entries, dataclass-style field names
    return {n for n in names if n.startswith("_")}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_elsewhere() -> dict[str, set[str]]:
    """Private name -> the modules defining it."""
    out: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        for name in _defined_private_names(ast.parse(path.read_text(), str(path))):
            out.setdefault(name, set()).add(module)
    return out


def _private_accesses(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """``x._name`` with ``x`` not self/cls, unless ``_name`` is defined in this module and no other (another
    instance of the module's own class), and ``from m import _name`` from another module."""
    tree = ast.parse(path.read_text(), str(path))
    definers = _DEFINERS
    own = {name for name in _defined_private_names(tree) if definers.get(name) == {module}}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != module:
            for alias in node.names:
                if _private(alias.name):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
                continue
            if node.attr in own or node.attr in _PUBLIC_UNDERSCORE:
                continue  # the module's own private name, on another instance of its own class
            yield node.lineno, node.attr


_DEFINERS = _defined_elsewhere()


def test_no_module_reaches_into_another_modules_private_names() -> None:
    found = [
        f"{path.relative_to(SRC)}:{line}: {name}"
        for module, path in MODULES.items()
        for line, name in _private_accesses(module, path)
        if (module, name) not in _ALLOWED
    ]
    assert not found, "private names used from another module:\n" + "\n".join(found)


def test_allowed_private_accesses_still_exist() -> None:
    """An allow-list entry whose access is gone must be deleted, so the list only shrinks."""
    used = {(module, name) for module, path in MODULES.items() for _, name in _private_accesses(module, path)}
    stale = sorted(set(_ALLOWED) - used)
    assert not stale, f"delete these allow-list entries: {stale}"
