"""Pushing a run to the Hub: its model card, and every failure in one line without the token."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from hub_servers import refusing_hub

from studio.evaluate import card
from studio.evaluate import results as eval_results
from studio.train import publish, runs
from tests.conftest import REPO

SECRET = "hf_secretvalue123"


def _run(tiny_gpt2) -> runs.RunInfo:
    run_id = "20261201-120000-soccer"
    folder = runs.run_dir(run_id)
    shutil.copytree(tiny_gpt2, folder / "model")
    runs.write_run(folder, {"name": "Soccer FAQ · distilgpt2", "created": "2026-12-01T12:00:00+00:00",
                            "base": "distilgpt2", "device": "cpu",
                            "config": {"method": "full", "epochs": 3, "learning_rate": 5e-5, "batch_size": 8},
                            "dataset": {"name": "Soccer rules", "version": 4, "sha256": "ab12cd", "count": 120}})
    (folder / "split.json").write_text(json.dumps({"train": list(range(100)), "test": list(range(100, 120))}))
    return runs.load_run(run_id)


def test_the_model_card_says_base_method_data_settings_and_the_latest_evaluation(tiny_gpt2):
    run = _run(tiny_gpt2)
    eval_results.save({"id": "e1", "created": "2026-12-01T13:00:00+00:00", "status": "done",
                       "models": [{"label": "base", "spec": "distilgpt2"}, {"label": "tuned", "spec": run.model_spec}],
                       "rows": [], "summary": {"base": {"f1": 0.1234, "answered": 20},
                                               "tuned": {"f1": 0.61789, "answered": 20}}})
    text = publish.model_card(run, card.section(run.model_spec))
    assert text.startswith("---\nlibrary_name: transformers") and "base_model: distilgpt2" in text
    assert "a fine-tune of `distilgpt2`" in text and "Soccer rules, version 4" in text and "`ab12cd`" in text
    assert "| learning_rate | 5e-05 |" in text and "| method | full |" in text and "20 records" in text
    assert "| tuned | 0.618 | 20 |" in text and "Intended use" in text


def test_a_run_json_from_before_lora_or_edited_by_hand_still_gives_a_card_and_a_push(tiny_gpt2):
    """A run.json that names no method (runs from before LoRA were full fine-tunes), no dataset and no device, and a
    setting edited to hold a "|" and a line break: the card says full, keeps its table whole, and ``push`` goes on to
    its one error line (here: offline) instead of a KeyError traceback."""
    run = _run(tiny_gpt2)
    runs.write_run(run.dir, {"name": "Old run", "created": "2025-01-01T12:00:00+00:00", "base": "distilgpt2",
                             "config": {"epochs": 2, "lr_scheduler": "cosine|x\nlinear"}})
    text = publish.model_card(runs.load_run(run.id))
    assert "| method | full |" in text and "| epochs | 2 |" in text and "| lr_scheduler | cosine\\|x linear |" in text
    assert "- Dataset: unknown" in text and "| device | - |" in text
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    out = cli("push", run.id, "alice/soccer", env={**clean, "HF_TOKEN": SECRET, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2 and "HF_HUB_OFFLINE=1" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.splitlines()) == 1


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)


def test_push_without_a_token_or_offline_or_of_an_unfinished_run_is_one_line(tiny_gpt2, tmp_path):
    run = _run(tiny_gpt2)
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    out = cli("push", run.id, "alice/soccer", env=clean)
    assert out.returncode == 2 and out.stderr.startswith("error: No Hugging Face token")
    out = cli("push", run.id, "alice/soccer", env={**clean, "HF_TOKEN": SECRET, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2 and "HF_HUB_OFFLINE=1" in out.stderr and SECRET not in out.stderr
    out = cli("push", run.id, "no slash", env={**clean, "HF_TOKEN": SECRET})
    assert out.returncode == 2 and "not a Hub model id" in out.stderr
    shutil.rmtree(run.dir / "model")
    out = cli("push", run.id, "alice/soccer", env={**clean, "HF_TOKEN": SECRET})
    assert out.returncode == 2 and "has no saved model yet" in out.stderr
    assert all(len(o.stderr.splitlines()) == 1 for o in [out])


@pytest.mark.parametrize("status,words", [(401, "refused the token (HTTP 401)"), (500, "answered HTTP 500")])
def test_push_to_a_hub_that_refuses_is_one_line_without_the_token(tiny_gpt2, tmp_path, status, words):
    run = _run(tiny_gpt2)

    with refusing_hub(status) as url:
        env = {**os.environ, "HF_TOKEN": SECRET, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": url}
        env.pop("HF_HUB_OFFLINE", None)
        out = cli("push", run.id, "alice/soccer", env=env)
    assert out.returncode == 2 and words in out.stderr and SECRET not in out.stderr + out.stdout, out.stderr
    assert len(out.stderr.splitlines()) == 1


def _eval(eval_id: str, created: str, specs: list[str], f1: float) -> None:
    eval_results.save({"id": eval_id, "created": created, "status": "done",
                       "models": [{"label": f"m{i}", "spec": s} for i, s in enumerate(specs)], "rows": [],
                       "summary": {f"m{i}": {"f1": f1, "answered": 5} for i in range(len(specs))}})


def test_the_latest_evaluation_is_looked_up_once_until_the_evaluations_change(tiny_gpt2, monkeypatch):
    run = _run(tiny_gpt2)
    for i in range(30):
        _eval(f"other{i}", f"2026-12-01T10:{i:02d}:00+00:00", ["distilgpt2"], 0.1)
    _eval("mine", "2026-12-01T09:00:00+00:00", [run.model_spec], 0.5)
    reads = []
    real_list, real_load = eval_results.list_evals, eval_results.load
    monkeypatch.setattr(eval_results, "list_evals", lambda: reads.append("list") or real_list())
    monkeypatch.setattr(eval_results, "load", lambda i: reads.append(i) or real_load(i))
    assert card.latest_summary(run.model_spec)[0] == "mine" and len(reads) == 32  # the listing, then 31 files
    reads.clear()
    for _ in range(5):  # reruns of the Train page: nothing read again
        assert card.latest_summary(run.model_spec)[0] == "mine"
    assert reads == []
    _eval("newer", "2026-12-01T11:00:00+00:00", [run.model_spec], 0.9)  # a new evaluation: looked up again
    assert card.latest_summary(run.model_spec) == ("newer", {"m0": {"f1": 0.9, "answered": 5}}) and reads


def test_the_push_panel_builds_the_card_only_when_asked(tiny_gpt2, monkeypatch):
    from streamlit.testing.v1 import AppTest

    run = _run(tiny_gpt2)
    built = []
    real = publish.model_card
    monkeypatch.setattr(publish, "model_card", lambda *a: built.append(1) or real(*a))
    at = AppTest.from_string("from studio.train import runs\nfrom studio.ui import train_live as train\n"
                             f"train.push_panel(runs.load_run({run.id!r}))\n", default_timeout=60)
    for _ in range(3):
        at.run()
    assert not at.exception and built == [] and not at.code
    at.toggle(key=f"train.push.preview.{run.id}").set_value(True).run()
    assert built == [1] and "## Training data" in at.code[0].value


def test_push_delivers_the_model_and_its_card_privately_and_the_token_only_as_authorization(tiny_gpt2, tmp_path):
    """`python -m studio push` against the loopback stand-in for huggingface.co (tests/hub_servers.py)."""
    from hub_servers import standin_hub, token_leaks

    run = _run(tiny_gpt2)
    (run.dir / "model" / "training_args.bin").write_bytes(b"not for the Hub")
    _eval("e1", "2026-12-01T13:00:00+00:00", [run.model_spec], 0.61789)
    with standin_hub() as hub:
        env = {**os.environ, "HF_TOKEN": SECRET, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url,
               "HF_HUB_DISABLE_XET": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        out = cli("push", run.id, "alice/soccer", env=env)
        assert out.returncode == 0, out.stderr
        public = cli("push", run.id, "alice/soccer-public", "--public", env=env)
        assert public.returncode == 0, public.stderr
    assert out.stdout.strip().splitlines()[-1].endswith(f"to {hub.url}/alice/soccer (private)") and not hub.unknown
    repo = hub.repos[("model", "alice/soccer")]
    assert repo.private and not hub.repos[("model", "alice/soccer-public")].private
    sent = {f.name: f.read_bytes() for f in (run.dir / "model").iterdir() if f.name != "training_args.bin"}
    assert {k: v for k, v in repo.files.items() if k != "README.md"} == sent  # weights byte for byte, no args
    assert "model.safetensors" in repo.files and "config.json" in repo.files
    assert repo.files["README.md"].decode() == publish.model_card(run, card.section(run.model_spec))
    assert "| m0 | 0.618 | 5 |" in repo.files["README.md"].decode()
    assert token_leaks(hub, SECRET, tmp_path) == [] and SECRET not in out.stdout + out.stderr


def test_a_connection_dropped_during_the_lfs_upload_of_the_weights_is_one_line(tiny_gpt2, tmp_path):
    from hub_servers import standin_hub

    run = _run(tiny_gpt2)
    with standin_hub() as hub:
        hub.faults["*"] = "drop-upload"
        env = {**os.environ, "HF_TOKEN": SECRET, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url,
               "HF_HUB_DISABLE_XET": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        out = cli("push", run.id, "alice/soccer", env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error")]  # (the Hub client's retry notes aside)
    assert len(errors) == 1 and errors[0].startswith("error: The connection to the Hub dropped while uploading to "
                                                     "alice/soccer"), out.stderr
    assert not hub.repos[("model", "alice/soccer")].files  # nothing committed
    assert (run.dir / "model" / "model.safetensors").is_file() and SECRET not in out.stderr


def test_push_takes_a_run_folder_as_ask_evaluate_and_model_export_do(tiny_gpt2, tmp_path, monkeypatch, capsys):
    """`push runs/faq alice/x` was refused "No training run 'runs/faq'" while `ask runs/faq`, `evaluate --model
    runs/faq` and `model export runs/faq` took the folder: push finds the run by its folder too (here it goes on to
    ask for a token, so the run was found)."""
    from studio.__main__ import main

    run = _run(tiny_gpt2)
    elsewhere = tmp_path / "elsewhere" / "runs" / "faq"  # trained with --out elsewhere/runs/faq
    shutil.copytree(run.dir, elsewhere)
    monkeypatch.chdir(tmp_path / "elsewhere")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for given in ("runs/faq", str(elsewhere), str(run.dir), run.id, f"run:{run.id}"):
        capsys.readouterr()
        assert main(["push", given, "alice/soccer"]) == 2
        assert capsys.readouterr().err.startswith("error: No Hugging Face token"), given
    assert main(["push", "runs/nope", "alice/soccer"]) == 2
    assert capsys.readouterr().err.startswith("error: No training run 'runs/nope'")


def test_the_push_panel_previews_the_card_of_a_run_json_that_names_no_method(tiny_gpt2):
    """The Train page's card preview of a run from before LoRA (its run.json names no method) stopped on a KeyError
    traceback; it shows the card, method full."""
    from streamlit.testing.v1 import AppTest

    run = _run(tiny_gpt2)
    runs.write_run(run.dir, {"name": "Old run", "created": "2025-01-01T12:00:00+00:00", "base": "distilgpt2",
                             "config": {"epochs": 2}})
    at = AppTest.from_string("from studio.train import runs\nfrom studio.ui import train_live as train\n"
                             f"train.push_panel(runs.load_run({run.id!r}))\n", default_timeout=60).run()
    at.toggle(key=f"train.push.preview.{run.id}").set_value(True).run()
    assert not at.exception and "| method | full |" in at.code[0].value
