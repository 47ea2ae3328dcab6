"""Hostile inputs to the command line (each found by a probe of every subcommand): the command answers in
one line and exit 2, or does what the user asked, and nothing the user had is lost or replaced."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from studio.__main__ import main
from tests import tmpfs
from tests.cli_refusals import RECORDS, write_records
from tests.cli_refusals import refused as _refused


@pytest.fixture
def data(tmp_path):
    return write_records(tmp_path)


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


@pytest.mark.parametrize("flag", ["--out", "--html", "--csv"])
def test_evaluate_keeps_a_file_the_user_had_unless_forced(flag, data, tmp_path, capsys):
    """`evaluate --out notes.json` replaced the user's file with a report (exit 0), after every answer."""
    mine = tmp_path / f"mine.{flag.lstrip('-').replace('out', 'json')}"
    mine.write_text("KEEP ME", encoding="utf-8")
    argv = ["evaluate", "--dataset", str(data), "--model", "no/such-model-anywhere", flag, str(mine)]
    err = _refused(capsys, argv)
    assert err == f"error: {mine} exists: add --force to replace it, or choose another file name."
    assert mine.read_text(encoding="utf-8") == "KEEP ME"
    assert not list((tmp_path / "studio-home").glob("evals/*.json"))  # refused before any question was asked


def _broken_model(source: Path, tmp_path: Path, name: str) -> str:
    """A model folder the command reaches (so it is not refused before the run) but cannot load: its weights are cut."""
    import shutil

    folder = tmp_path / name
    shutil.copytree(source, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return str(folder)


def test_evaluate_force_replaces_the_report(data, tmp_path, monkeypatch, tiny_gpt2):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = tmp_path / "report.json"
    report.write_text("an older report", encoding="utf-8")
    main(["evaluate", "--dataset", str(data), "--model", _broken_model(tiny_gpt2, tmp_path, "cut-model"), "--out", str(report),
          "--force"])
    assert json.loads(report.read_text(encoding="utf-8"))["rows"]


def test_evaluate_where_every_model_failed_exits_1_in_one_line(data, tmp_path, monkeypatch, capsys, tiny_gpt2):
    """Both models failed to load: exit 0 with two warnings, as if the evaluation had scored something. (A model the
    command cannot reach at all is refused before the run, exit 2: tests/test_cli.py.)"""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = tmp_path / "report.json"
    capsys.readouterr()
    first, second = _broken_model(tiny_gpt2, tmp_path, "cut-model"), _broken_model(tiny_gpt2, tmp_path, "other-cut")
    rc = main(["evaluate", "--dataset", str(data), "--model", first, "--model", second, "--out", str(report)])
    err = capsys.readouterr().err
    assert rc == 1, err
    lines = [ln for ln in err.splitlines() if ln.startswith(("error:", "warning:", "Traceback"))]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: every model failed, so nothing was scored; the first, {first}: ")
    assert lines[0].endswith("(the report has the other 1 reasons)")
    assert json.loads(report.read_text(encoding="utf-8"))["rows"]  # the report is still written


def test_evaluate_help_says_what_its_exit_codes_mean(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 it ran but every model failed" in text and "2 a bad input" in text and "130 stopped" in text


@pytest.fixture
def read_only_folder(tmp_path):
    with tmpfs.mounted(tmp_path / "ro", read_only=True) as where:
        yield where


@pytest.mark.parametrize("flag", ["--out", "--html", "--csv"])
def test_evaluate_into_a_read_only_folder_is_refused_before_the_first_question(flag, data, read_only_folder,
                                                                               tmp_path, monkeypatch, capsys):
    """The whole evaluation ran (every model answered every question) and only then failed to write the report."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target = read_only_folder / f"report.{flag.lstrip('-').replace('out', 'json')}"
    err = _refused(capsys, ["evaluate", "--dataset", str(data), "--model", "no/such-model-anywhere", flag,
                            str(target)])
    assert err.startswith(f"error: cannot write {target}: the folder is read-only"), err
    assert not list((tmp_path / "studio-home").glob("evals/*.json"))  # refused before any question was asked
    assert list(read_only_folder.iterdir()) == []


def test_evaluate_output_check_leaves_nothing_behind(data, tmp_path, monkeypatch):
    """The check that the folder is writable creates neither the report nor a file of its own before the run."""
    from studio.commands import evaluate as evaluate_command

    seen: list[list[str]] = []
    real = evaluate_command._config

    def config_after_checks(args):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        return real(args)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(evaluate_command, "_config", config_after_checks)
    main(["evaluate", "--dataset", str(data), "--model", "no/such-model-anywhere", "--out",
          str(tmp_path / "report.json")])
    assert "report.json" not in seen[0] and not [n for n in seen[0] if n.startswith(".")]


def test_import_never_writes_over_the_file_it_reads_even_forced(tmp_path, capsys):
    """`dataset import qa.json --out qa.json --skip-invalid --force` replaced the user's only copy with the valid
    records: the broken ones, which the user meant to fix, were gone."""
    mine = tmp_path / "qa.json"
    text = json.dumps(RECORDS + [{"question": "", "answer": "to fix"}])
    mine.write_text(text, encoding="utf-8")
    err = _refused(capsys, ["dataset", "import", str(mine), "--out", str(mine), "--skip-invalid", "--force"])
    assert err == f"error: --out {mine} is the input file: writing there would replace it. Choose another file name."
    assert mine.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(("beside", "flags"), [("out.Modelfile", []), ("out.zip", ["--zip"])])
def test_model_export_keeps_a_modelfile_or_zip_the_user_had(beside, flags, tmp_path, capsys):
    """`model export ... --out out.gguf` replaced out.Modelfile (one the user had edited for Ollama) and, with
    --zip, out.zip, without --force; refused now before the model loads, as the .gguf itself is."""
    mine = tmp_path / beside
    mine.write_text("FROM ./out.gguf\nPARAMETER temperature 0.2\n", encoding="utf-8")
    err = _refused(capsys, ["model", "export", "run:no-such-run", "--out", str(tmp_path / "out.gguf"), *flags])
    assert err == f"error: {mine} already exists: pass --force to replace it, or choose another --out."
    assert mine.read_text(encoding="utf-8") == "FROM ./out.gguf\nPARAMETER temperature 0.2\n"
    assert not (tmp_path / "out.gguf").exists()


@pytest.mark.parametrize("budget", ["-1", "0"])
def test_model_import_refuses_a_memory_budget_that_is_no_budget(budget, tmp_path, capsys):
    """-1 was tried as a ceiling and blamed the file ("needed more memory than its ceiling (-1 MB)"); 0 was read
    as no ceiling at all."""
    from gguf_files import write_tiny_llama_gguf

    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path)
    err = _refused(capsys, ["model", "import", str(path), "--memory-budget", budget])
    assert err == (f"error: --memory-budget {budget} is not a budget: give the megabytes the import may take "
                   "(e.g. 4096), or leave it out for no ceiling.")
    assert not list((tmp_path / "studio-home").glob("models/*"))


def test_model_export_never_writes_over_the_gguf_it_reads_even_forced(tmp_path, capsys):
    """`model export tiny.gguf --out tiny.gguf --force` replaced the user's original file with a Q8_0 copy."""
    from gguf_files import write_tiny_llama_gguf

    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path)
    before = path.read_bytes()
    err = _refused(capsys, ["model", "export", str(path), "--out", str(path), "--force"])
    assert err == f"error: --out {path} is the SPEC file: writing there would replace it. Choose another file name."
    assert path.read_bytes() == before


def test_model_export_into_a_read_only_folder_says_read_only_before_loading(read_only_folder, tmp_path, capsys,
                                                                            monkeypatch):
    """A read-only disk with under 1 MB free said "Not enough disk for x.gguf" (the free-space margin was checked
    first), and only after the model had loaded."""
    from gguf_files import write_tiny_llama_gguf

    from studio.models import export

    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path)
    monkeypatch.setattr(export, "load", lambda *a, **k: pytest.fail("the model loaded before the folder was checked"))
    target = read_only_folder / "x.gguf"
    err = _refused(capsys, ["model", "export", str(path), "--out", str(target)])
    assert err.startswith(f"error: cannot write {target}: the folder is read-only"), err
    assert list(read_only_folder.iterdir()) == []


REPO = Path(__file__).resolve().parents[2]


SLOW_EXIT = """import atexit, sys, time


def _slow_exit():
    print("exiting", file=sys.stderr, flush=True)
    time.sleep(5)


atexit.register(_slow_exit)
"""


def _export_interrupted(tmp_path, when: str, wait: float, slow_exit: bool = False):
    """``model export`` in a process of its own, sent Ctrl-C (SIGINT) ``wait`` seconds after its stderr line
    starting with ``when``. ``slow_exit``: an exit handler that takes 5 s (a stand-in, via sitecustomize, for the
    seconds an exit takes after torch was loaded, which no test can time reliably)."""
    from gguf_files import write_tiny_llama_gguf

    src = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(src)
    out = tmp_path / "out" / "x.gguf"
    out.parent.mkdir()
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    if slow_exit:
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SLOW_EXIT, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-m", "studio", "model", "export", str(src), "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(when):
            import time

            time.sleep(wait)
            proc.send_signal(signal.SIGINT)
            break
    rest_out, rest_err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, rest_out, "".join(seen) + rest_err), out


def test_ctrl_c_as_model_export_exits_after_writing_its_file_is_130_in_one_line(tmp_path):
    """Ctrl-C as the command exited, its file written: exit -2 (killed by the signal) or a traceback from an exit
    handler, after the work was done and said."""
    done, out = _export_interrupted(tmp_path, "exiting", 0.5, slow_exit=True)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: interrupted while exiting: the command had finished, and what it reported is written "
                      "and complete"], done.stderr
    assert f"Ollama: {out.with_suffix('.Modelfile')} written" in done.stdout
    from studio.models import gguf

    assert gguf.inspect(out).architecture == "llama" and out.with_suffix(".Modelfile").is_file()


def test_ctrl_c_while_model_export_loads_says_nothing_was_written(tmp_path):
    done, out = _export_interrupted(tmp_path, "loading ", 0.5)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: interrupted: nothing was written"
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("model", ["run:faq", "model:smol"])
def test_evaluate_with_a_run_or_library_model_that_is_not_there_is_refused_before_any_question(model, data, tmp_path,
                                                                                             capsys):
    """`evaluate --model run:faq` (the run was trained with --out runs/faq, outside the workspace) asked every
    question, wrote the report, then exited 1: "every model failed"."""
    report = tmp_path / "report.json"
    err = _refused(capsys, ["evaluate", "--dataset", str(data), "--model", model, "--out", str(report)])
    assert err in ("error: No training run 'faq': it may have been deleted. `python -m studio runs` lists the "
                   "runs there are.",
                   "error: No model 'smol' in the library: import it on the Models page or with `python -m studio "
                   "model import FILE.gguf`.")
    assert not report.exists()


@pytest.mark.parametrize("argv", [["ask", "runs/nope", "hi"], ["model", "export", "runs/nope", "--out", "x.gguf"],
                                  ["evaluate", "--model", "runs/nope", "--dataset", "qa.json", "--out", "r.json"]])
def test_a_missing_folder_that_looks_like_a_path_is_no_such_folder_not_no_network(argv, data, tmp_path, monkeypatch,
                                                                                   capsys):
    """`ask runs/nope "hi"` beside a runs/ folder said "No network: ... 'runs/nope' cannot be downloaded" (it read as a
    Hub id); evaluate asked every question, then reported it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    err = _refused(capsys, argv)
    assert "No such folder: runs/nope" in err and "network" not in err.lower()
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "x.gguf").exists()


def test_a_setting_out_of_range_is_said_in_the_command_lines_words(data, tmp_path, capsys):
    """`evaluate --sample -5` said "(or leave it empty for every question)": a page's field, not a flag."""
    err = _refused(capsys, ["evaluate", "--model", "distilgpt2", "--dataset", str(data), "--out",
                            str(tmp_path / "r.json"), "--sample", "-5"])
    assert "leave --sample out" in err and "empty" not in err


@pytest.mark.parametrize("argv", [["dataset", "export", "{data}", "--to", "sharegpt", "--out", "{missing}"],
                                  ["dataset", "import", "{data}", "--out", "{missing}"],
                                  ["dedup", "{data}", "--threshold", "90", "--report", "{missing}"],
                                  ["dedup", "{data}", "--threshold", "90", "--report", "{tmp}/r.json", "--out",
                                   "{missing}"]])
def test_an_output_in_a_folder_that_is_not_there_is_refused_not_made(argv, data, tmp_path, capsys):
    """`dataset export qa --out typo/a/x.json`, `dataset import ... --out typo/x.json` and `dedup --report
    typo/x.json` made the typo'd folders and exited 0, where `evaluate` refused: every command refuses now."""
    missing = tmp_path / "typo" / "a" / "x.json"
    err = _refused(capsys, [a.format(data=data, missing=missing, tmp=tmp_path) for a in argv])
    assert err == f"error: The folder of {missing} does not exist: create it or choose another path."
    assert not (tmp_path / "typo").exists() and not (tmp_path / "r.json").exists()
