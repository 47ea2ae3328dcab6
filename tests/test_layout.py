"""The engine's shape: streamlit only in studio/ui/, no import cycles, few loose modules, one of each mechanism.

``ruff check .`` runs in the README's test command (tests/run.sh), before pytest.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STUDIO = REPO / "studio"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in STUDIO.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every studio module ``path`` imports, at the top or inside a function (lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # from studio.x import module
    return {m for m in found if m in MODULES}


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def test_only_studio_ui_imports_streamlit():
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("studio.ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m == "streamlit" or m.startswith("streamlit.") for m in mods):
                offenders.append(name)
    assert offenders == []


def test_no_import_cycles_between_studio_modules():
    """A package's __init__ is not an edge back: importing studio.chat.local runs studio.chat first by design."""
    def parents(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    graph = {n: {m for m in deps if m not in parents(n)} for n, deps in GRAPH.items()}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_engine_is_split_by_domain():
    loose = sorted(p.stem for p in STUDIO.glob("*.py"))
    assert len(loose) <= 10, loose
    for domain in ("data", "dedup", "models", "train", "chat", "evaluate", "ui", "commands"):
        assert (STUDIO / domain / "__init__.py").is_file(), domain


def test_one_model_cache_and_one_stop_token_rule():
    defined = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in ("ModelCache", "stop_token_ids"):
                defined.setdefault(node.name, []).append(name)
    assert defined == {"ModelCache": ["studio.models.cache"], "stop_token_ids": ["studio.models.generate"]}


def test_the_console_script_is_python_m_studio():
    import subprocess
    import sys

    studio = Path(sys.executable).with_name("studio")
    if not studio.exists():  # installed with `pip install -e .` (requirements-dev.txt does)
        raise AssertionError("the studio console script is not installed: pip install -e .")
    out = subprocess.run([str(studio), "--help"], capture_output=True, text=True, timeout=60)
    same = subprocess.run([sys.executable, "-m", "studio", "--help"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0 and out.stdout.replace("studio", "") == same.stdout.replace("__main__.py", "").replace(
        "studio", "")


def test_import_train_and_evaluate_give_a_hostile_file_the_same_verdict(tmp_path, capsys):
    """One dataset reader behind all three commands: the same file, the same one-line reason."""
    import json

    from studio.__main__ import main

    cases = {
        "no-answer.json": json.dumps([{"question": "How long is a match?", "answer": "90 minutes."}, {"question": "x"}]),
        "not-json.json": "{not json",
        "nan.json": '[{"question": "q", "answer": NaN}]',
        "scalar.json": "42",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        verdicts = []
        for argv in (["dataset", "import", str(path), "--out", str(tmp_path / "out.json")],
                     ["train", "--dataset", str(path), "--preset", "quick", "--out", str(tmp_path / "run")],
                     ["evaluate", "--dataset", str(path), "--model", "m", "--out", str(tmp_path / "r.json")]):
            assert main(argv) == 2, (name, argv[0])
            verdicts.append(capsys.readouterr().err.strip().splitlines()[-1])
        assert len(set(verdicts)) == 1 and verdicts[0].startswith("error: "), (name, verdicts)
