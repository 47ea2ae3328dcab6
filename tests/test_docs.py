"""The docs' promises about the command line: every `python -m studio ...` line in a docs/*.md code block
parses, synopses included (`[--opt X]` as given, `a|b` as its first choice), so a renamed or dropped flag
cannot stay documented."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from studio.__main__ import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs"
PLACEHOLDERS = {"N": "1", "T": "90", "S": "1", "MB": "512", "SECONDS": "60", "<run-id>": "r1", "<id>": "r1"}


def command_lines(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        block = re.sub(r"\\\n\s*", " ", block)  # shell continuations
        block = re.sub(r"\n\s+(?=\[|--)", " ", block)  # a synopsis wrapped onto indented lines
        lines += [ln.split("  #")[0].strip() for ln in block.splitlines() if " -m studio " in ln]
    return lines


def argv_of(line: str) -> list[str]:
    line = line.split(" -m studio ", 1)[1]
    line = re.sub(r"\[[^\]]*\.\.\.\]", "", line)  # [--model B ...]: more of an option already shown
    line = re.sub(r"(\S+?)\|\S+", r"\1", line.replace("[", " ").replace("]", " "))
    return [PLACEHOLDERS.get(t, t) for t in shlex.split(line)]


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md")))
def test_every_command_line_example_in_the_docs_parses(doc):
    parser = build_parser()
    for line in command_lines((DOCS / doc).read_text(encoding="utf-8")):
        args = parser.parse_args(argv_of(line))  # exits (SystemExit) on an unknown command or option
        assert callable(args.func), line


def test_the_examples_are_found():
    found = sum(len(command_lines(p.read_text(encoding="utf-8"))) for p in DOCS.glob("*.md"))
    assert found >= 25
