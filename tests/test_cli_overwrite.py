"""A file the CLI reads is never the file it writes: ``evaluate --dataset qa.json --out qa.json`` and
``dedup qa.json --report qa.json`` wrote a report over the user's dataset (exit 0). Refused in one line,
before anything runs, with the dataset as it was."""

from __future__ import annotations

import json

import pytest

from studio.__main__ import main
from tests.cli_refusals import RECORDS, write_records
from tests.cli_refusals import refused as _refused


@pytest.fixture
def data(tmp_path):
    return write_records(tmp_path)


@pytest.mark.parametrize(("argv", "said"), [
    (["evaluate", "--dataset", "{data}", "--model", "distilgpt2", "--out", "{data}"],
     "error: --out {data} is the --dataset file: writing there would replace it. Choose another file name."),
    (["evaluate", "--dataset", "{data}", "--model", "distilgpt2", "--out", "{dir}/r.json", "--csv", "{dir}/r.json"],
     "error: --csv {dir}/r.json is also --out: one would replace the other. Choose another file name."),
    (["dedup", "{data}", "--threshold", "90", "--report", "{data}"],
     "error: --report {data} is the input file: writing there would replace it. Choose another file name."),
    (["dedup", "{data}", "--threshold", "90", "--report", "{dir}/r.json", "--out", "{data}"],
     "error: --out {data} is the input file: writing there would replace it. Choose another file name."),
    (["dataset", "export", "{data}", "--out", "{data}", "--to", "sharegpt"],
     "error: --out {data} is the input file: writing there would replace it. Choose another file name."),
])
def test_a_command_never_writes_over_the_file_it_reads(argv, said, data, capsys):
    fill = {"data": str(data), "dir": str(data.parent)}
    err = _refused(capsys, [a.format(**fill) for a in argv])
    assert err == said.format(**fill)
    assert json.loads(data.read_text(encoding="utf-8")) == RECORDS
    assert not (data.parent / "r.json").exists()


def test_distinct_files_still_work(data, capsys):
    report, kept = data.parent / "report.json", data.parent / "kept.json"
    assert main(["dedup", str(data), "--threshold", "90", "--report", str(report), "--out", str(kept)]) == 0
    assert report.is_file() and kept.is_file() and json.loads(data.read_text()) == RECORDS


@pytest.mark.parametrize(("out", "said"), [
    ("{dir}/folder", "error: --out {dir}/folder is a folder: give a file name, e.g. {dir}/folder/qa.json."),
    ("{dir}/note.txt/x.json", "error: {dir}/note.txt is a file, not a folder: choose another path for "
                              "{dir}/note.txt/x.json."),
    ("/proc/x.json", "error: cannot write /proc/x.json: /proc is there but no file can be made in it (No such file or "
                     "directory); choose a writable folder."),
])
def test_export_to_a_path_that_cannot_be_a_file_is_one_line(out, said, data, capsys):
    """These ended in an IsADirectoryError, FileExistsError or FileNotFoundError traceback."""
    (data.parent / "folder").mkdir()
    (data.parent / "note.txt").write_text("mine")
    fill = {"dir": str(data.parent)}
    assert _refused(capsys, ["dataset", "export", str(data), "--out", out.format(**fill), "--to", "json"]) \
        == said.format(**fill)
    assert (data.parent / "note.txt").read_text() == "mine" and not any((data.parent / "folder").iterdir())


def test_evaluate_refuses_a_report_path_that_is_a_folder_before_answering(data, capsys, offline):
    """``--out results.json`` naming a folder failed only after every question had been answered."""
    folder = data.parent / "results.json"
    folder.mkdir()
    err = _refused(capsys, ["evaluate", "--dataset", str(data), "--model", "no/such-model-anywhere", "--out",
                            str(folder)])
    assert err == f"error: {folder} is a folder: give a file name, e.g. {folder}/report.json."
    assert not list(folder.iterdir())


def test_export_replaces_an_existing_file_only_with_force(data, capsys):
    """``dataset export`` wrote over any file at --out without a word (import and model export ask for --force)."""
    import os

    mine = data.parent / "notes.csv"
    mine.write_text("my own notes\n", encoding="utf-8")
    os.chmod(mine, 0o600)
    err = _refused(capsys, ["dataset", "export", str(data), "--out", str(mine)])
    assert err == f"error: {mine} exists: add --force to replace it, or choose another --out."
    assert mine.read_text(encoding="utf-8") == "my own notes\n"
    assert main(["dataset", "export", str(data), "--out", str(mine), "--force"]) == 0
    assert mine.read_bytes().startswith(b"question,answer\r\nWhat is rule 0?") and (mine.stat().st_mode & 0o777) == 0o600


def test_dedup_replaces_an_existing_out_only_with_force(data, capsys):
    """``--out`` is a dataset: one the user had there was replaced without a word (the report is regenerated
    output and is always replaced)."""
    report, kept = data.parent / "report.json", data.parent / "kept.json"
    kept.write_text('[{"question": "mine", "answer": "hand-edited"}]', encoding="utf-8")
    argv = ["dedup", str(data), "--threshold", "90", "--report", str(report), "--out", str(kept)]
    assert _refused(capsys, argv) == f"error: {kept} exists: add --force to replace it, or choose another --out."
    assert json.loads(kept.read_text(encoding="utf-8"))[0]["answer"] == "hand-edited" and not report.exists()
    assert main([*argv, "--force"]) == 0
    replaced = json.loads(kept.read_text(encoding="utf-8"))
    assert replaced and all(r in RECORDS for r in replaced)  # the records kept by the suggestions


def test_a_report_that_cannot_be_written_is_one_line(data, capsys):
    """dedup's report says what stops the write as export does (and evaluate's report: one writer for both)."""
    err = _refused(capsys, ["dedup", str(data), "--threshold", "90", "--report", "/proc/r.json"])
    assert err == ("error: cannot write /proc/r.json: /proc is there but no file can be made in it (No such file or "
                   "directory); choose a writable folder.")


@pytest.mark.parametrize("argv", [
    ["evaluate", "--dataset", "{data}", "--model", "no/such-model-anywhere", "--csv", "/proc/x.csv"],
    ["evaluate", "--dataset", "{data}", "--model", "no/such-model-anywhere", "--out", "/proc/x.json"],
    ["evaluate", "--dataset", "{data}", "--model", "no/such-model-anywhere", "--html", "/proc/x.html"],
    ["dedup", "{data}", "--threshold", "90", "--report", "{dir}/r.json", "--out", "/proc/x.json"],
])
def test_an_output_in_a_folder_that_is_there_but_takes_no_file_is_not_called_missing(argv, data, capsys, offline):
    """``evaluate --csv /proc/x.csv`` said "The folder of /proc/x.csv does not exist": /proc is there; no file can be
    made in it. Every output flag goes through one check, before anything runs."""
    argv = [a.format(data=data, dir=data.parent) for a in argv]
    target = argv[-1]
    err = _refused(capsys, argv)
    assert err == (f"error: cannot write {target}: /proc is there but no file can be made in it (No such file or "
                   "directory); choose a writable folder.")
    assert not (data.parent / "r.json").exists()  # refused before the report beside it was written
