"""The house holds: every import points down the layers, and no module imports itself round a circle.

Layers, bottom to top (docs/interfaces.md draws them): foundation → metrics → ttsr → baselines →
training → benchmarks → ttsr_bench (the Python API). The test parses every module's source (imports inside functions included,
since a lazy import is still a dependency) and fails naming the file, line and offending import.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("foundation", "metrics", "ttsr", "baselines", "training", "benchmarks", "ttsr_bench")
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom, own: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = own.split(".") if is_package else own.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a project module in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    result = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, node, name, path.name == "__init__.py")
            # `from pkg import mod` imports the submodule when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] in RANK:
                result.append((node.lineno, target))
    return result


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_layer_has_modules():
    for package in LAYERS:
        assert package in MODULES, f"{package}/ is not a package"


def test_no_import_points_up():
    upward = []
    for name, imports in GRAPH.items():
        rank = RANK[name.split(".")[0]]
        for line, target in imports:
            if RANK[target.split(".")[0]] > rank:
                upward.append(f"{MODULES[name].relative_to(REPO_ROOT)}:{line} imports {target}")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_import_circles():
    # a package's __init__ importing its submodules to expose its API is an edge like any other, so a
    # submodule importing its parent package back closes a circle.
    edges = {name: sorted({t for _, t in imports if t != name})
             for name, imports in GRAPH.items()}
    circles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == "open":
                circles.append(" → ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_checker_sees_a_violation(tmp_path):
    """The parser finds an upward import, a lazy one included (so the tests above can fail)."""
    fake = tmp_path / "lte.py"
    fake.write_text("import torch\n\ndef f():\n    from benchmarks import run\n    return run\n")
    assert _imports("ttsr.lte", fake) == [(4, "benchmarks.run")]
