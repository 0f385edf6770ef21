"""The web layer's shape: no import circles, routers imported only by the app factory, no private name
borrowed from another module, and no module too long to read."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
MAX_LINES = 600
FACTORY = "app.main"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def imports(name: str) -> list[tuple[str, list[str]]]:
    """(module, names) for every import of an app module in `name`, at any depth (a deferred import is
    still a dependency)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "app"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "app":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # `from app.exports import maps` imports the module app.exports.maps
                    found.append((sub, []))
                else:
                    found.append((base, [alias.name]))
    return [(m, n) for m, n in found if m in MODULES]


GRAPH = {name: {m for m, _ in imports(name)} - {name} for name in MODULES}


def routers() -> set[str]:
    """Modules that define a FastAPI router."""
    out = set()
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "router" for t in node.targets):
                out.add(name)
    return out


def cycles() -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each a circle of imports."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_in_app():
    assert cycles() == []


def test_routers_live_in_app_http_and_only_the_factory_imports_them():
    found = routers()
    assert found and all(name.startswith("app.http.") for name in found), found
    importers = {name: sorted(m for m in GRAPH if name in GRAPH[m] and m != FACTORY) for name in found}
    assert {name: who for name, who in importers.items() if who} == {}


def test_no_private_name_is_borrowed_from_another_module():
    borrowed = [(name, module, n) for name in MODULES for module, names in imports(name) for n in names
                if n.startswith("_") and module != name]
    assert borrowed == []


def test_no_app_module_is_longer_than_the_limit():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
