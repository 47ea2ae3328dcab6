"""transformers is imported through one lock (``studio.models.hf_import``): two threads of a fresh process that
import it at once (two browser tabs whose pages load or check a model in the background) failed with "cannot import
name 'AutoConfig' from 'transformers'"."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("transformers", "peft", "sentence_transformers", "liger_kernel")  # each imports transformers as it loads

TWO_THREADS = """
import sys, threading
from studio.models import gguf
from studio.train import memory

barrier, failures = threading.Barrier(2), []

def run(fn):
    barrier.wait()  # both start importing at once
    try:
        fn()
    except ImportError as exc:
        failures.append(repr(exc))

threads = [threading.Thread(target=run, args=(lambda: memory.shape_for_base(sys.argv[1]),)),
           threading.Thread(target=run, args=(gguf.supported,))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(failures or "ok")
"""


def test_two_threads_of_a_fresh_process_import_transformers_without_failing(tmp_path):
    """Without the lock this failed in about half the processes: eight in a row pass only with it."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2,
                                                    "vocab_size": 100}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "STUDIO_HOME": str(tmp_path / "home")}
    outcomes = [subprocess.run([sys.executable, "-c", TWO_THREADS, str(folder)], env=env, capture_output=True,
                               text=True, timeout=300).stdout.strip().splitlines()[-1:] for _ in range(8)]
    assert outcomes == [["ok"]] * 8


def _heavy(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] in HEAVY for a in node.names)
    return isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in HEAVY


def _own(fn: ast.AST) -> list[ast.AST]:
    """The statements of ``fn`` itself, not of the functions and classes defined in it."""
    out = []
    for child in ast.iter_child_nodes(fn):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            out.append(child)
            out.extend(_own(child))
    return out


def _readies(nodes: list[ast.AST]) -> list[int]:
    return [n.lineno for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "ready" and isinstance(n.func.value, ast.Name) and n.func.value.id == "hf_import"]


def test_every_import_of_transformers_in_the_studio_goes_through_the_lock():
    """A new lazy import of transformers (or of peft, sentence-transformers, Liger Kernel, which import it) without
    ``hf_import.ready()`` before it, in the same function, is a second way in that the lock does not cover."""
    unguarded = []
    for path in sorted((REPO / "studio").rglob("*.py")):
        if path.name == "hf_import.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        where = f"{path.relative_to(REPO)}"
        unguarded += [f"{where}:{n.lineno} (at the top)" for n in tree.body if _heavy(n)]
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nodes = _own(fn)
                first = min(_readies(nodes), default=None)
                unguarded += [f"{where}:{n.lineno} ({fn.name})" for n in nodes
                              if _heavy(n) and (first is None or first > n.lineno)]
    assert unguarded == []
