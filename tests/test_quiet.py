"""No library noise on a CPU machine: a process that embeds or trains prints only the studio's own lines.

bitsandbytes (which peft, transformers and sentence-transformers import when it is installed) asks the
``kernels`` package for a Hub kernel on AVX512-BF16 processors and prints two warnings when it cannot have
it. These run in fresh processes, with ``kernels`` installed, as a user's terminal would see them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from studio.quiet import has_nvidia_driver
from tests.conftest import REPO, build_tiny_causal_lm

pytestmark = pytest.mark.skipif(has_nvidia_driver(), reason="bitsandbytes stays importable where a GPU is")


def run(code_or_args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, timeout=600, cwd=REPO,
                          env=env)


def test_kernels_and_bitsandbytes_are_installed_so_these_tests_mean_something():
    assert importlib.util.find_spec("kernels") is not None
    assert importlib.metadata.version("bitsandbytes")  # installed; what the studio hides is its import


def test_importing_the_libraries_that_pull_in_bitsandbytes_prints_nothing():
    out = run(["-c", "import studio, peft, sentence_transformers, transformers, sys;"
                     "from transformers.utils import is_bitsandbytes_available;"
                     "print(is_bitsandbytes_available(), sys.modules.get('bitsandbytes'))"])
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.strip() == "False None"  # hidden: nothing asked the Hub for a kernel


def test_semantic_embedding_in_a_fresh_process_prints_only_its_result(tmp_path, static_build):
    src = tmp_path / "qa.json"
    src.write_text(json.dumps([{"question": "How long is a match?", "answer": "90 minutes."},
                               {"question": "How long does a match last?", "answer": "Ninety minutes."},
                               {"question": "Who enforces the laws?", "answer": "The referee."}]))
    env = {"STUDIO_HOME": str(static_build.parent.parent)}  # the static model built once for the suite
    for scoring in ("fast", "precise"):  # precise re-scores with MiniLM through sentence-transformers
        out = run(["-m", "studio", "dedup", str(src), "--method", "semantic", "--threshold", "0.8",
                   "--scoring", scoring, "--report", str(tmp_path / "r.json")], env)
        assert out.returncode == 0, out.stderr
        lines = out.stderr.splitlines()
        assert lines and lines[-1].startswith("1 cluster, 2 records in it"), out.stderr  # the studio's summary
        for line in lines:  # the estimate and the summary, nothing from a library
            assert not any(w in line.lower() for w in ("kernel", "bitsandbytes", "warning", "traceback")), line


def test_a_short_lora_training_in_a_fresh_process_prints_only_the_studios_lines(tmp_path):
    base = build_tiny_causal_lm(tmp_path / "tiny")
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": f"What is rule {i}?", "answer": f"Rule {i} says play on."}
                                for i in range(8)]))
    out = run(["-m", "studio", "train", "--dataset", str(data), "--base", str(base), "--method", "lora",
               "--preset", "quick", "--max-steps", "2", "--out", str(tmp_path / "run")])
    assert out.returncode == 0, out.stderr
    text = (out.stdout + out.stderr).lower()
    for foreign in ("kernel", "bitsandbytes", "warning", "traceback", "futurewarning"):
        assert foreign not in text, out.stdout + out.stderr
    log = (tmp_path / "run").rglob("*.log")
    for path in log:
        assert "kernel" not in path.read_text().lower(), path
