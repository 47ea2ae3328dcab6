"""Hostile inputs to the command line (each found by a probe of every subcommand): the command answers in
one line and exit 2, or does what the user asked, and nothing the user had is lost or replaced."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from studio.__main__ import main

RECORDS = [{"question": f"What is rule {i}?", "answer": f"Rule {i} says so."} for i in range(6)]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    return path


def _refused(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_an_output_that_is_a_link_stays_a_link_and_its_file_gets_the_export(data, tmp_path):
    """--out qa.sharegpt.json -> shared/qa.sharegpt.json: the link was replaced by a plain file, the shared file
    left stale."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "out.json").write_text("old", encoding="utf-8")
    link = tmp_path / "out.json"
    link.symlink_to(shared / "out.json")
    assert main(["dataset", "export", str(data), "--to", "sharegpt", "--out", str(link), "--force"]) == 0
    assert link.is_symlink()
    assert len(json.loads((shared / "out.json").read_text(encoding="utf-8"))) == len(RECORDS)


def test_an_output_that_is_a_pipe_is_written_into_not_replaced(data, tmp_path):
    """--out /dev/stdout, /dev/null or a FIFO: the writer put a plain file in the device's place (as root,
    ``--out /dev/null --force`` replaced the machine's /dev/null)."""
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["dedup", str(data), "--threshold", "90", "--report", str(fifo)]) == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(got[0])["records"] == len(RECORDS)
