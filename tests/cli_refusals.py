"""What the command-line tests share: a small valid dataset file and the check that a command refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

from studio.__main__ import main

RECORDS = [{"question": f"What is rule {i}?", "answer": f"Rule {i} says so."} for i in range(6)]


def write_records(folder: Path) -> Path:
    """``RECORDS`` as ``folder/qa.json``."""
    path = folder / "qa.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    return path


def refused(capsys, argv: list[str]) -> str:
    """Run ``python -m studio argv``: it must exit 2 with exactly one ``error: ...`` line, which is returned."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err
