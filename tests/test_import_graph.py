"""The import graph of driver/ and ml/: no circle (lazy imports inside functions count),
and no library module imports a command-line module (a CLI is a thin layer on top)."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = ("driver", "ml")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def is_cli(path: Path, tree: ast.Module) -> bool:
    """A command-line module: a ``__main__.py`` or one ending in ``if __name__ == "__main__"``."""
    if path.name == "__main__.py":
        return True
    return any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
               for node in tree.body)


def imports(name: str, path: Path, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # import a.b.c of a module a.b: a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node, lazy imports inside functions included, except what an ``if
    TYPE_CHECKING:`` block holds (never executed: annotations only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in _runtime_nodes_and_self(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _runtime_nodes_and_self(node: ast.AST):
    yield node
    yield from _runtime_nodes(node)


def graph() -> tuple[dict[str, set[str]], set[str]]:
    files = modules()
    known = set(files)
    edges, clis = {}, set()
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[name] = imports(name, path, tree, known)
        if is_cli(path, tree):
            clis.add(name)
    return edges, clis


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_in_driver_or_ml():
    edges, _ = graph()
    assert circles(edges) == []


def test_no_library_module_imports_a_cli_module():
    edges, clis = graph()
    wrong = sorted(f"{a} -> {b}" for a, targets in edges.items() if a not in clis
                   for b in targets if b in clis)
    assert wrong == []


def test_the_check_sees_a_circle_and_a_cli_import():
    """The checks above can fail: a made-up graph with a lazy circle is caught."""
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from . import study\n")
    assert imports("driver.x", ROOT / "driver" / "x.py", tree,
                   {"driver", "driver.study", "driver.x"}) == {"driver.study"}
    assert is_cli(ROOT / "ml" / "t.py", ast.parse("if __name__ == '__main__':\n    pass\n"))
    typing_only = ast.parse("if TYPE_CHECKING:\n    from . import study\n")
    assert imports("driver.x", ROOT / "driver" / "x.py", typing_only,
                   {"driver", "driver.study", "driver.x"}) == set()
