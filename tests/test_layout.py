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


def test_streamlits_internal_api_is_reached_from_one_module_only():
    """Streamlit's internals (``streamlit.runtime``, ``streamlit.config``, ...) change between versions: every reach
    is in ``studio.ui.streamlit_internals``, each guarded there, so a newer Streamlit is checked in one place."""
    public = {"streamlit", "streamlit.testing.v1", "streamlit.components.v1", "streamlit.column_config"}
    offenders = []
    for path in [*STUDIO.rglob("*.py"), *(REPO / "pages").glob("*.py"), REPO / "Home.py"]:
        if path == STUDIO / "ui" / "streamlit_internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                if isinstance(node, ast.ImportFrom) and node.module == "streamlit" else
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(REPO)}: {m}" for m in mods
                          if m.startswith("streamlit.") and m not in public]
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


LAYERS = (
    ("studio",),  # the shared pieces every domain stands on: studio/*.py (config, errors, atomic, jobs, ...)
    ("studio.models",),
    ("studio.data",),  # data.conversations speaks models.prompt_format's Q&A text
    ("studio.dedup", "studio.train"),
    ("studio.chat",),  # chat.trained asks a run the way it trained
    ("studio.evaluate", "studio.cloud"),
    ("studio.ui", "studio.commands"),
    ("studio.__main__",),
)
"""The engine's layers, lowest first. A module imports its own package and the layers below; never a
layer above (publish would import evaluation, the model library training) nor a peer in its own layer."""


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, package) of a studio module: the longest package in ``LAYERS`` it is part of."""
    found = [(len(pkg), i, pkg) for i, pkgs in enumerate(LAYERS) for pkg in pkgs
             if module == pkg or module.startswith(pkg + ".")]
    _, index, pkg = max(found)
    return index, pkg


def test_every_studio_package_has_a_layer():
    packages = {module_name(p.parent) for p in STUDIO.rglob("__init__.py")} - {"studio"}
    top = {pkg for pkgs in LAYERS for pkg in pkgs}
    assert {p for p in packages if p.count(".") == 1} <= top


def climbing(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a module to another package in its own layer or one above it."""
    found = []
    for name, deps in graph.items():
        layer, pkg = layer_of(name)
        for dep in deps:
            dep_layer, dep_pkg = layer_of(dep)
            if dep_pkg != pkg and dep_layer >= layer:
                found.append(f"{name} -> {dep}")
    return sorted(found)


def test_imports_only_go_down_the_layers():
    assert climbing(GRAPH) == []


def test_an_arrow_up_or_sideways_is_caught():
    """The two arrows that once climbed (publish -> evaluation, the model library -> training), a peer
    import (training -> dedup), and what stays allowed: down a layer, and within a package."""
    assert climbing({"studio.train.publish": {"studio.evaluate.results", "studio.models.adapters"},
                     "studio.models.library": {"studio.train.runs", "studio.models.spec", "studio.config"},
                     "studio.train.loop": {"studio.dedup.semantic", "studio.train.runs", "studio.data.ref"}}) == [
        "studio.models.library -> studio.train.runs", "studio.train.loop -> studio.dedup.semantic",
        "studio.train.publish -> studio.evaluate.results"]


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
        # The same reason; what to do next is each command's own (import has --skip-invalid, train and evaluate
        # name the import that writes the valid records).
        reasons = {v.split("; fix it")[0] for v in verdicts}
        assert len(reasons) == 1 and verdicts[0].startswith("error: "), (name, verdicts)
        if "; fix it" in verdicts[0]:
            assert "--skip-invalid" in verdicts[0] and all("dataset import" in v for v in verdicts[1:]), verdicts


def test_one_rule_for_a_text_a_person_sees():
    """What counts as an empty cell (spaces and invisible characters alone) is written once, in the lowest layer
    that reads text: the dataset checks and the passage reader used to hold two copies that could drift apart."""
    defined = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                body = ast.dump(node)
                if "'Cf'" in body and "isspace" in body:
                    defined.append(f"{name}.{node.name}")
    assert defined == ["studio.models.text.shows"]
    sources = {(name, node.module) for name, path in MODULES.items() for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.ImportFrom) and any(a.name == "shows" for a in node.names)}
    assert {"studio.chat.base", "studio.data.validate"} <= {name for name, _ in sources}
    assert {source for _, source in sources} == {"studio.models.text"}, sources  # from its home, not through a re-export

    from studio.data import validate
    from studio.errors import StudioError
    from studio.models import extractive

    for text in ("\u200b", " \u2060\ufeff ", "\u200e", "x", "\u200bé"):
        empty_cell = any(p.message.startswith("question") for p in validate.errors(validate.validate([{"question": text,
                                                                                             "answer": "a"}])))
        try:
            extractive.check_passage(text, "a passage")
            refused = False
        except StudioError:
            refused = True
        assert empty_cell == refused == (not text.strip("\u200b\u2060\ufeff\u200e ")), repr(text)


def test_the_long_test_files_handed_out_first_are_there():
    """tests/conftest.py's ``LONG_FILES`` go first under ``--dist loadfile``; a name that no longer matches a file (one
    renamed or split) drops out of that order unsaid, and CI's last minutes run it alone again."""
    tree = ast.parse((REPO / "tests" / "conftest.py").read_text())
    (names,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "LONG_FILES" for t in node.targets)]
    assert names and [n for n in names if not (REPO / n).is_file()] == []
