"""The code's shape (issue #11), checked from the sources with ``ast`` -- no imports executed:

* no import cycle among the project's Python modules (``pipeline``, ``keras_model``), counting imports inside
  functions too;
* no stage module (``pipeline/stages/*``) imports another stage module's private (``_``) names;
* no function in ``pipeline/`` longer than ``MAX_FUNCTION_LINES``;
* every stage of ``unet-fsic run`` is a module of one shape (``STAGE``, ``register_cli``).
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "keras_model")
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*.py")):
            parts = list(p.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import statement in the file, anywhere in it."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            names = [a.name for a in node.names]
            subs = [n for n in names if f"{mod}.{n}" in mods]  # `from pkg import submodule`: an edge to it
            out += [(f"{mod}.{n}", []) for n in subs]
            if len(subs) < len(names):  # names defined in `mod` itself
                out.append((mod, [n for n in names if n not in subs]))
    return [(m, n) for m, n in out if m in mods]


def _graph():
    mods = _modules()
    return mods, {m: _imports(m, p, mods) for m, p in mods.items()}


def test_no_import_cycles():
    mods, imports = _graph()
    edges = {m: sorted({t for t, _ in imports[m] if t != m}) for m in mods}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in edges[m]:
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
    assert len(mods) > 30 and sum(len(v) for v in edges.values()) > 40, "the import scan found too little"


def test_stage_modules_take_no_private_names_from_each_other():
    mods, imports = _graph()
    bad = []
    for m, imps in imports.items():
        if not m.startswith("pipeline.stages."):
            continue
        for target, names in imps:
            if target.startswith("pipeline.stages.") and target != m:
                bad += [f"{m} imports {target}.{n}" for n in names if n.startswith("_")]
    assert not bad, bad


def test_no_long_functions():
    long = []
    for p in sorted((REPO / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{p.relative_to(REPO)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long


def test_every_stage_has_the_same_shape():
    from pipeline import run
    from pipeline.stages import Stage

    names = []
    for st in run.stages():
        assert isinstance(st, Stage) and callable(st.run) and callable(st.headline)
        names.append(st.name)
    assert names == ["train", "evaluate", "convert", "csim", "wrap", "cosim", "firmware", "estimate"]
    mods = _modules()
    for n in names:
        tree = ast.parse(mods[f"pipeline.stages.{n}"].read_text())
        top = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
               if isinstance(t, ast.Name)} | {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert {"STAGE", "register_cli", "run_stage", "headline"} <= top, n
