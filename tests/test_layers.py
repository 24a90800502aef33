"""The tree shows the data flow: a module imports only from its own layer or the layers below it, and no
impasto module imports itself back in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "impasto"

# Lowest first. inputs -> features -> objective -> optimiser -> the core API -> look development, shots, the fast
# model -> the shells (CLI, studio, cluster).
LAYERS: list[tuple[str, ...]] = [
    ("impasto.version", "impasto.errors", "impasto.progress", "impasto.threads", "impasto.files", "impasto.lru", "impasto.devices"),
    ("impasto.io", "impasto.motion"),
    ("impasto.features",),
    ("impasto.objective", "impasto.look"),
    ("impasto.optim",),
    ("impasto.api",),
    ("impasto.lookdev",),
    ("impasto.shot",),
    ("impasto.fast",),
    ("impasto.commands", "impasto.studio", "impasto.cluster", "impasto.farm", "impasto.cli", "impasto.demo", "impasto.__main__",
     "impasto"),
]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def _imports(path: Path) -> set[str]:
    """impasto modules imported by a file, wherever the import stands (deferred imports count too)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "impasto"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "impasto":
                found.add(name)
                # `from impasto.x import y` may import the module impasto.x.y
                found |= {f"{name}.{a.name}" for a in node.names if (ROOT.parent / f"{name}.{a.name}".replace(".", "/")).with_suffix(".py").exists()}
    return found - {module}


FILES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down_the_layers(path: Path) -> None:
    module = _module(path)
    mine = _layer(module)
    up = sorted(m for m in _imports(path) if m != "impasto" and _layer(m) > mine)
    if module != "impasto":
        assert "impasto" not in _imports(path) or mine == len(LAYERS) - 1, f"{module} imports the package root"
    assert not up, f"{module} (layer {mine}) imports from higher layers: {up}"


def test_no_import_cycles() -> None:
    graph = {_module(p): {m for m in _imports(p) if m != "impasto"} for p in FILES}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_no_function_over_120_lines() -> None:
    long = []
    for path in FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 120:
                long.append(f"{_module(path)}.{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


# The shot layer and its shells stay small (issue 23's targets): a module a reader takes in at once, classes that
# hold one thing each.
SMALL = ("impasto.shot", "impasto.commands", "impasto.cluster", "impasto.farm")


def test_shot_layer_modules_and_classes_stay_small() -> None:
    big = []
    for path in FILES:
        module = _module(path)
        if not any(module == p or module.startswith(p + ".") for p in SMALL):
            continue
        source = path.read_text()
        if (lines := source.count("\n")) > 450:
            big.append(f"{module} ({lines} lines, at most 450)")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and (size := node.end_lineno - node.lineno + 1) > 200:
                big.append(f"{module}.{node.name} ({size} lines, at most 200)")
    assert not big, big
