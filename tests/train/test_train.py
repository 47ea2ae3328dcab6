"""The training engine: a real few-step run on a tiny model; stop, resume; run folders; bad input."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from studio import config, jobs
from studio.errors import ModelLoadError, TrainingError
from studio.models import loading as models
from studio.train import loop as train
from studio.train import runs

RECORDS = [
    {"question": "How long is a match?", "answer": "Two halves of 45 minutes."},
    {"question": "How many players are on a team?", "answer": "Eleven, one of them the goalkeeper."},
    {"question": "What is a corner kick?", "answer": "A restart when the defenders last touched the ball over their goal line."},
    {"question": "Who enforces the laws?", "answer": "The referee."},
    {"question": "How big is the ball?", "answer": "Size five, 68 to 70 centimetres around."},
    {"question": "What is offside?", "answer": "Being nearer the goal line than the ball and the second-last opponent."},
]
DATASET = {"id": None, "name": "tiny", "version": None, "sha256": "x", "count": len(RECORDS), "file": None}


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_config_round_trips_through_a_dict_and_validates():
    cfg = train.preset("scratch", epochs=3)
    assert train.TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert train.TrainConfig.from_dict({**cfg.to_dict(), "from_the_future": 1}) == cfg
    assert train.TrainConfig() == train.PRESETS["tutorial"]
    tutorial = train.TrainConfig()
    assert (tutorial.base, tutorial.learning_rate, tutorial.batch_size, tutorial.epochs, tutorial.weight_decay,
            tutorial.test_fraction) == ("distilgpt2", 3e-5, 8, 5.0, 0.01, 0.15)
    with pytest.raises(TrainingError, match="Learning rate"):
        train.TrainConfig(learning_rate=0)
    with pytest.raises(TrainingError, match="Unknown preset"):
        train.preset("huge")
    with pytest.raises(TrainingError, match=r"Question word dropout 0.6 is out of range: use 0 \(off\) to 0.5"):
        train.TrainConfig(question_dropout=0.6)


def test_few_steps_change_the_parameters_and_write_the_run_folder(tiny_gpt2, tmp_path, offline):
    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-2, batch_size=2, max_steps=4, logging_steps=1,
                            test_fraction=0.34)
    result = train.run_job(cfg, RECORDS, out, dataset=DATASET, name="first")
    assert result.state == "finished" and result.steps == 4
    before, after = _weights(tiny_gpt2), _weights(out / "model")
    changed = [k for k in after if k in before and not (after[k] == before[k]).all()]
    assert len(changed) >= len(after) // 2

    meta = json.loads((out / "run.json").read_text())
    assert meta["config"] == cfg.to_dict() and meta["dataset"]["name"] == "tiny" and meta["format"] == "question-answer"
    # what the model library reads: the base folder's fingerprint (runs_using) and the parameter count
    assert meta["base_fingerprint"] == models.folder_fingerprint(tiny_gpt2) and meta["truncated"] == 0
    assert meta["parameters"] == meta["trainable_parameters"] > 0 and meta["method"] == "full"  # full: all trainable
    split = json.loads((out / "split.json").read_text())
    assert sorted(split["train"] + split["test"]) == list(range(len(RECORDS))) and len(split["test"]) == 2
    rows = runs.read_metrics(out)
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert all(r["tokens_per_s"] > 0 and r["learning_rate"] >= 0 and "time" in r for r in train_rows)
    assert any("eval_loss" in r for r in rows)
    status = jobs.read_status(out)
    assert status.state == "finished" and status.progress == 1.0

    lm = models.load_causal_lm(str(out), device="cpu")
    assert lm.ref.source.endswith("model")


def test_question_word_dropout_changes_what_is_trained_and_is_recorded(tiny_gpt2, tmp_path, offline):
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-2, batch_size=2, max_steps=3, test_fraction=0.0)
    plain = train.run_job(cfg, RECORDS, tmp_path / "plain", dataset=DATASET)
    varied = train.run_job(cfg.replace(question_dropout=0.5), RECORDS, tmp_path / "varied", dataset=DATASET)
    assert plain.state == varied.state == "finished" and varied.steps == 3
    a, b = _weights(tmp_path / "plain" / "model"), _weights(tmp_path / "varied" / "model")
    assert any(not (a[k] == b[k]).all() for k in a)  # the same seed and data, other questions: other weights
    assert json.loads((tmp_path / "varied" / "run.json").read_text())["config"]["question_dropout"] == 0.5


def test_stop_asked_during_the_last_step_finishes_the_run_with_its_model(tiny_gpt2, tmp_path, offline):
    """Stop clicked while a run took its last step (a short run's only one): the run was "stopped at step 2: resume
    from its checkpoint" with no model, though every step had run, and Resume then trained a third step past its end.
    The last step ends the run anyway: it finishes, its model saved, the stop forgotten."""
    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=2, max_steps=2, logging_steps=1,
                            test_fraction=0.0)
    result = train.run_job(cfg, RECORDS, out, dataset=DATASET,
                           on_progress=lambda f: f["step"] >= 1 and jobs.request_stop(out))  # seen as step 2 ends
    assert result.state == "finished" and result.steps == 2
    status = jobs.read_status(out)
    assert status.state == "finished" and status.message.startswith("finished: 2 steps")
    assert (out / "model").is_dir() and not jobs.stop_requested(out)
    assert [r["step"] for r in runs.read_metrics(out) if "loss" in r] == [1, 2]


def test_resuming_a_run_stopped_at_its_last_step_finishes_it_without_training_past_its_end(tiny_gpt2, tmp_path,
                                                                                           offline):
    """A run whose checkpoint is at its last step (stopped there before Stop on the last step let a run finish):
    Resume trained a step past its end (step 3 of 2). It finishes now with the checkpoint's model, no step trained."""
    import shutil

    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=2, max_steps=2, logging_steps=1,
                            test_fraction=0.0, save_steps=1, save_total_limit=2)
    assert train.run_job(cfg, RECORDS, out, dataset=DATASET).steps == 2
    shutil.rmtree(out / "model")  # as such a run was left: stopped at step 2 of 2, its checkpoint-2 and no model
    jobs.update_status(out, state="stopped", message="stopped at step 2")
    result = train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True)
    assert result.state == "finished" and result.steps == 2
    assert [r["step"] for r in runs.read_metrics(out) if "loss" in r] == [1, 2]
    assert jobs.read_status(out).message.startswith("finished: 2 steps")
    ckpt, model = _weights(out / "checkpoints" / "checkpoint-2"), _weights(out / "model")
    assert all((model[k] == ckpt[k]).all() for k in ckpt)


def test_stop_does_not_evaluate_the_held_out_set_before_it_stops(tiny_gpt2, tmp_path, offline):
    """Stop ended the epoch early, and the epoch's end evaluated the held-out questions (and saved the checkpoint a
    second time) before the run stopped: minutes of "stopping" for SmolLM2 on a CPU after the step it waited for.
    The held-out loss comes with the epoch's real end, after Resume."""
    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=1, max_steps=6, logging_steps=1,
                            test_fraction=0.3)  # 4 records train: 4 steps an epoch
    result = train.run_job(cfg, RECORDS, out, dataset=DATASET,
                           on_progress=lambda f: f["step"] >= 1 and jobs.request_stop(out))
    assert result.state == "stopped" and result.steps == 2  # half-way through the first epoch
    assert not [r for r in runs.read_metrics(out) if "eval_loss" in r]
    assert [c.name for c in (out / "checkpoints").iterdir()] == ["checkpoint-2"]
    resumed = train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True)
    assert resumed.state == "finished" and [r for r in runs.read_metrics(out) if "eval_loss" in r]


def test_a_resumed_run_stopped_again_reports_the_last_held_out_loss_measured(tiny_gpt2, tmp_path, offline):
    """A run stopped at an epoch's end, resumed, then stopped again said "eval loss" of the epoch before: its
    checkpoint (save_steps, as the presets set) was saved as the step ended, before that epoch's evaluation, and the
    resume's history was the checkpoint's ("stopped: 54 steps · eval loss 5.5820", step 36's; step 54's was 5.4152)."""
    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=1, max_steps=12, logging_steps=1,
                            test_fraction=0.3, save_steps=100)  # 4 records train: 4 steps an epoch
    first = train.run_job(cfg, RECORDS, out, dataset=DATASET,
                          on_progress=lambda f: f["step"] >= 7 and jobs.request_stop(out))  # seen as step 8 ends
    assert first.state == "stopped" and first.steps == 8
    evals = [(r["step"], r["eval_loss"]) for r in runs.read_metrics(out) if "eval_loss" in r]
    assert [s for s, _ in evals] == [4, 8] and evals[0][1] != evals[1][1]
    assert first.eval_loss == pytest.approx(evals[1][1])
    again = train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True,
                          on_progress=lambda f: jobs.request_stop(out))
    assert again.state == "stopped" and again.steps == 10  # asked as step 9 ended: stops as step 10 ends
    assert again.eval_loss == pytest.approx(evals[1][1])  # step 8's, the last measured, not step 4's
    assert again.train_loss == pytest.approx([r["loss"] for r in runs.read_metrics(out) if "loss" in r][-1])


def test_a_checkpoint_at_an_epoch_s_end_holds_that_epoch_s_evaluation_and_a_resume_goes_on_from_it(tiny_gpt2, tmp_path,
                                                                                                  offline):
    """A checkpoint saved as an epoch's last step ended (Stop's, save_steps', the run's last) came before that epoch's
    held-out evaluation: its trainer_state.json lacked it, and so did the history of the run resumed from it and of every
    checkpoint after. Each holds every evaluation the run's metrics hold now; the resumed run goes on at the next step,
    its progress and ETA from there."""
    import json

    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=1, max_steps=12, logging_steps=1,
                            test_fraction=0.3, save_steps=100)  # 4 records train: 4 steps an epoch, 3 epochs

    def history(checkpoint: Path) -> list[tuple[int, float]]:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        return [(h["step"], pytest.approx(h["eval_loss"])) for h in state["log_history"] if "eval_loss" in h]

    def measured() -> list[tuple[int, float]]:
        return [(r["step"], r["eval_loss"]) for r in runs.read_metrics(out) if "eval_loss" in r]

    first = train.run_job(cfg, RECORDS, out, dataset=DATASET,
                          on_progress=lambda f: f["step"] >= 7 and jobs.request_stop(out))  # seen as step 8 ends
    assert first.state == "stopped" and first.steps == 8 and runs.last_checkpoint(out).name == "checkpoint-8"
    assert [s for s, _ in measured()] == [4, 8]
    assert history(out / "checkpoints" / "checkpoint-8") == measured()
    seen = []
    again = train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True, on_progress=seen.append)
    assert again.state == "finished" and again.steps == 12
    assert [f["step"] for f in seen] == [9, 10, 11, 12] and seen[0]["progress"] == pytest.approx(9 / 12)
    assert seen[0]["eta_s"] > seen[-1]["eta_s"] >= 0
    assert [s for s, _ in measured()] == [4, 8, 12]
    assert history(runs.last_checkpoint(out)) == measured()  # the run's last checkpoint: its whole history


def test_max_steps_0_is_off_and_the_run_goes_by_its_epochs(tiny_gpt2, tmp_path, offline):
    """Max steps 0 is "off" on the page and the command line (as -1), but the Trainer took it as a run of 0 steps and
    trained one: `train --max-steps 0` said "finished: 1 step" for a run of 2 epochs."""
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=2, epochs=2, max_steps=0,
                            test_fraction=0.0, logging_steps=1)
    result = train.run_job(cfg, RECORDS, tmp_path / "run", dataset=DATASET)
    assert result.state == "finished" and result.steps == 6  # 6 records, 2 a step: 3 steps an epoch


def test_stop_keeps_a_checkpoint_and_resume_finishes(tiny_gpt2, tmp_path, offline):
    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=2, max_steps=6, logging_steps=1,
                            test_fraction=0.0)

    def stop_at_two(fields: dict) -> None:
        if fields["step"] >= 2:
            jobs.request_stop(out)

    result = train.run_job(cfg, RECORDS, out, dataset=DATASET, on_progress=stop_at_two)
    assert result.state == "stopped" and result.steps == 3  # asked after step 2: stops at the end of step 3
    ckpt = runs.last_checkpoint(out)
    assert ckpt is not None and int(ckpt.name.split("-")[1]) == result.steps
    assert jobs.read_status(out).state == "stopped" and not (out / "model").exists()
    assert models.resolve(str(out)).source == str(ckpt)  # an unfinished run still answers from its checkpoint

    for step in (4, 5):  # what a worker killed after its checkpoint had logged before dying
        runs.append_metrics(out, {"step": step, "epoch": 1.0, "loss": 9.9})
    etas = []
    resumed = train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True, on_progress=lambda f: etas.append(f["eta_s"]))
    assert resumed.state == "finished" and resumed.steps == 6
    assert len(etas) == 3 and all(e is not None and e >= 0 for e in etas) and etas[-1] < 1  # the real Trainer's fields
    steps = [r["step"] for r in runs.read_metrics(out) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # the curve continues where the checkpoint was, each step once
    assert 9.9 not in [r["loss"] for r in runs.read_metrics(out) if "loss" in r]


def test_scratch_quick_run_is_loadable_by_run_id(tmp_path, offline):
    out = runs.run_dir(runs.new_run_id("quick"))
    cfg = train.preset("quick", max_steps=3)
    train.run_job(cfg, RECORDS, out, dataset=DATASET, name="quick one")
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    run = runs.load_run(out.name)
    assert run.name == "quick one" and run.has_model and run.status.state == "finished"
    lm = models.load_causal_lm(run.model_spec, device="cpu")
    assert lm.tokenizer.eos_token == "<|endoftext|>"
    assert runs.list_runs()[0].id == out.name and runs.count_runs() == 1


def test_a_scratch_run_says_it_builds_its_model_while_it_loads(tmp_path, offline, monkeypatch):
    """Before its first step a scratch run's status line (the Train page's "running · ...") read "loading scratch" for
    10-20 s, as if "scratch" were a model to load; it says what the run does."""
    from studio.train import base as base_mod

    out = tmp_path / "run"
    said: list[str] = []

    def load_and_note(*args, **kwargs):
        said.append(jobs.read_status(out).message)
        return base_mod.load_base(*args, **kwargs)

    monkeypatch.setattr(train, "load_base", load_and_note)
    train.run_job(train.preset("quick", max_steps=1), RECORDS, out, dataset=DATASET)
    assert said and "scratch" not in said[0] and "building a new GPT-2 from zero" in said[0]


def test_offline_hub_base_fails_fast_with_the_remedy(tmp_path, offline):
    out = tmp_path / "run"
    cfg = train.TrainConfig(base="distilgpt2-not-cached")
    with pytest.raises(ModelLoadError, match="No network: choose a model from the library, .* or train from scratch"):
        train.run_job(cfg, RECORDS, out, dataset=DATASET, name="offline try")
    status = jobs.read_status(out)
    assert status.state == "failed" and "No network" in status.error
    run = runs.load_run_dir(out)  # run.json was written before the base failed: listed by its name and settings
    assert run.name == "offline try" and run.config == cfg.to_dict() and run.base == "distilgpt2-not-cached"


def test_the_base_is_resolved_once_per_run(tiny_gpt2, tmp_path, offline, monkeypatch):
    """The spec is resolved once; the reference is passed down (tokenizer, weights, run.json's fingerprint)."""
    seen = []
    real = models.resolve
    monkeypatch.setattr(models, "resolve", lambda spec: seen.append(str(spec)) or real(spec))
    result = train.run_job(train.TrainConfig(base=str(tiny_gpt2), batch_size=2, max_steps=1), RECORDS, tmp_path / "run",
                           dataset=DATASET)
    assert result.state == "finished" and seen == [str(tiny_gpt2)]


def test_too_few_records_fail_before_loading_anything(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match="at least two"):
        train.run_job(train.preset("quick"), RECORDS[:1], out, dataset=DATASET)
    assert jobs.read_status(out).state == "failed"


def test_full_disk_marks_the_run_failed_with_the_remedy(tiny_gpt2, tmp_path, offline, monkeypatch):
    """A full disk cannot be caused safely on a shared machine: saving raises ENOSPC through a patch."""
    from transformers import Trainer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Trainer, "save_model", full)
    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), batch_size=2, max_steps=1, test_fraction=0.0)
    with pytest.raises(TrainingError, match="disk full: free space in STUDIO_HOME"):
        train.run_job(cfg, RECORDS, out, dataset=DATASET)
    assert jobs.read_status(out).error.startswith("disk full")


def test_truncated_records_are_counted(tiny_gpt2, tmp_path, offline):
    recs = RECORDS + [{"question": "Tell me everything?", "answer": "The referee " * 60}]
    cfg = train.TrainConfig(base=str(tiny_gpt2), batch_size=4, max_steps=1, max_length=96, test_fraction=0.0)
    result = train.run_job(cfg, recs, tmp_path / "run", dataset=DATASET)
    assert result.truncated == 1
    assert json.loads((tmp_path / "run" / "run.json").read_text())["truncated"] == 1


def test_compare_rename_delete(tmp_path):
    for name, lr in (("a", 1e-3), ("b", 2e-3)):
        folder = runs.run_dir(runs.new_run_id(name))
        folder.mkdir(parents=True)
        runs.write_run(folder, {"name": name, "created": runs.now_iso(), "base": "scratch",
                                "config": train.preset("scratch", learning_rate=lr).to_dict(),
                                "dataset": {"name": "d", "version": 1}})
    listed = runs.list_runs()
    rows = runs.compare_configs(listed)
    assert [r["setting"] for r in rows] == ["learning_rate"]
    renamed = runs.rename_run(listed[0].id, "renamed")
    assert renamed.name == "renamed"
    runs.delete_run(listed[1].id)
    assert [r.id for r in runs.list_runs()] == [listed[0].id]


def test_compare_shows_a_setting_added_since_an_old_run_only_when_it_truly_differs(tmp_path):
    """A run made before a setting existed (its run.json lacks it) trained with that setting's default."""
    for name, extra in (("old", {}), ("new", {"liger": False, "batch_tokens": 0}), ("budget", {"batch_tokens": 2048})):
        config = train.preset("scratch").to_dict()
        config.pop("liger"), config.pop("batch_tokens")
        folder = runs.run_dir(runs.new_run_id(name))
        folder.mkdir(parents=True)
        runs.write_run(folder, {"name": name, "created": runs.now_iso(), "base": "scratch", "config": {**config, **extra},
                                "dataset": {"name": "faq", "file": "/data/faq.json"} if name == "old" else
                                {"name": "faq", "id": "x", "version": 2}})
    by_name = {r.name: r for r in runs.list_runs()}
    assert runs.compare_configs([by_name["old"], by_name["new"]]) == [
        {"setting": "dataset", "old": "faq", "new": "faq v2"}]  # a file has no version: not "faq vNone"
    rows = runs.compare_configs([by_name["old"], by_name["budget"]])
    assert {r["setting"]: (r["old"], r["budget"]) for r in rows} == {"dataset": ("faq", "faq v2"), "batch_tokens": (0, 2048)}


def _token_f1(pred: str, ref: str) -> float:
    import re
    from collections import Counter

    p, r = re.findall(r"\w+", pred.lower()), re.findall(r"\w+", ref.lower())
    common = sum((Counter(p) & Counter(r)).values())
    return 0.0 if not common else 2 * common / (len(p) + len(r))


@pytest.mark.timeout(600)
def test_scratch_preset_learns_the_40_question_faq_and_stops_cleanly(tmp_path, offline, monkeypatch):
    """The scratch preset's promise, for real: ~2-3 minutes on a busy 2-core CPU (bench/scratch_faq.py prints more)."""
    from studio import config
    from studio.models import generate

    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[:40]
    out = tmp_path / "faq"
    result = train.run_job(train.preset("scratch"), records, out, dataset=DATASET)
    assert result.state == "finished"
    lm = models.load_causal_lm(str(out), device="cpu")
    # one greedy pass answers and shows the tokens each answer ended on (it generated every answer twice: ~2 x 20 s):
    # the answers as Evaluate reads them, and whether each emitted EOS before the 96-token limit (no stop strings
    # involved: a model from zero has no chat template, so its answers are also cut at stop strings)
    generated = []

    def kept(model, batch, kwargs):
        ids = real(model, batch, kwargs)
        generated.extend(ids[:, batch["input_ids"].shape[1]:].tolist())
        return ids

    real = generate._generate
    monkeypatch.setattr(generate, "_generate", kept)
    answers = generate.generate_answers(lm, [r["question"] for r in records], max_new_tokens=96)
    f1 = [_token_f1(a, r["answer"]) for a, r in zip(answers, records)]
    assert sum(f1) / len(f1) >= 0.9
    assert len(generated) == 40
    assert sum(lm.tokenizer.eos_token_id in row for row in generated) >= 38  # it learned to stop after the answer


def test_out_of_memory_is_caught_with_the_remedy(tiny_gpt2, tmp_path, offline, monkeypatch):
    """Running out of GPU memory cannot be caused on a CPU machine: the Trainer raises it through a patch."""
    import torch
    from transformers import Trainer

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "train", oom)
    out = tmp_path / "run"
    device = models.pick_device()  # the remedy names the device the run was on: cpu here, cuda on a GPU machine
    with pytest.raises(TrainingError, match=rf"Out of memory on {device}: lower the batch size \(now 2\)"):
        train.run_job(train.TrainConfig(base=str(tiny_gpt2), batch_size=2, max_steps=1), RECORDS, out, dataset=DATASET)
    assert jobs.read_status(out).state == "failed"


def test_cli_train_ask_and_runs(tmp_path, offline, capsys):
    from studio.__main__ import main

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(RECORDS))
    out = tmp_path / "cli-run"
    assert main(["train", "--dataset", str(data), "--base", "scratch", "--preset", "quick", "--max-steps", "2",
                 "--question-dropout", "0.2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "finished: 2 steps" in printed and f"model: {out / 'model'}" in printed
    # the header said "epochs N" alone, though --max-steps ended the run long before (a 40-epoch header over a run
    # trained 67 epochs, or 3)
    assert " (stops at step 2: --max-steps overrides epochs) · lr " in printed
    assert json.loads((out / "run.json").read_text())["config"]["question_dropout"] == 0.2
    # the run says the Train page's memory estimate for it: a model from zero at the quick preset's Max length of
    # positions (128), the batch the records' lengths make (the command line counted the base at 512 positions)
    from transformers import AutoTokenizer

    from studio.train import memory

    cfg = train.TrainConfig.from_dict(json.loads((out / "run.json").read_text())["config"])
    assert cfg.max_length == 128
    run = memory.for_run(cfg, memory.train_lengths(AutoTokenizer.from_pretrained(out / "tokenizer"), RECORDS, cfg))
    assert run.shape.context == 128
    batch = f"batch {run.rows} × {run.seq} tokens, the data's longest"
    assert f"memory: {memory.breakdown(run.estimate, batch)}\n" in printed
    assert main(["train", "--dataset", str(data), "--preset", "quick", "--question-dropout", "0.9",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "error: Question word dropout 0.9 is out of range: use 0 (off) to 0.5." in capsys.readouterr().err
    assert main(["ask", str(out), "How long is a match?", "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.endswith("\n")
    assert main(["train", "--dataset", str(data), "--out", str(out)]) == 2  # refuses to overwrite a run
    assert "already holds a run" in capsys.readouterr().err
    assert main(["runs"]) == 0  # --out was outside the workspace: said, not "no runs yet" as if the run was lost
    assert capsys.readouterr().out.startswith(f"no runs in the workspace yet ({config.runs_dir()}); a run trained with "
                                              "--out elsewhere is not listed (give its folder to ask, evaluate or model "
                                              "export).")


def test_loss_curves_overlay_runs():
    from studio.train import plots as train_plots

    rows = [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.5}, {"step": 2, "eval_loss": 2.7}]
    fig = train_plots.loss_curves(rows)
    assert [t.name for t in fig.data] == ["train loss", "eval loss"] and list(fig.data[0].y) == [3.0, 2.5]
    both = train_plots.loss_curves({"a": rows, "b": rows[:2]})
    assert [t.name for t in both.data] == ["a: train loss", "a: eval loss", "b: train loss"]


def test_a_run_with_one_logged_step_shows_it_on_the_curve():
    """The Train page's live curve after the first logged step was empty axes: one point drawn as a line
    draws nothing. It is a marker until a second point makes a line."""
    from studio.train import plots as train_plots

    first = train_plots.loss_curves([{"step": 1, "loss": 3.08}]).data[0]
    assert "markers" in first.mode and list(first.y) == [3.08]
    assert train_plots.loss_curves([{"step": 1, "loss": 3.0}, {"step": 5, "loss": 2.1}]).data[0].mode == "lines"


def test_a_short_runs_curves_are_ticked_at_whole_steps():
    """A run stopped at step 4 showed ticks at steps 1.5, 2.5 and 3.5 under its loss curve: steps that do not exist."""
    from studio.train import plots as train_plots

    rows = [{"step": s, "loss": 3.0 - s / 2, "tokens_per_s": 5.0} for s in (1, 2, 3, 4)]
    for fig in (train_plots.loss_curves(rows), train_plots.loss_curves({"a": rows}), train_plots.throughput(rows)):
        assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.title.text == "step"
    assert train_plots.loss_curves([{"step": 200, "loss": 1.0}, {"step": 400, "loss": 0.5}]).layout.xaxis.dtick is None


def test_a_scratch_models_tokenizer_trains_without_printing(capfd):
    """The BPE trainer's progress bars came out as blank lines between `train`'s own lines (and in a job's log)."""
    from studio.train import scratch

    tok = scratch.train_tokenizer([r["question"] + " " + r["answer"] for r in RECORDS] * 20, vocab_size=300)
    assert tok("How long is a match?")["input_ids"]
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_new_run_on_a_base_that_is_not_there_is_refused_and_leaves_no_failed_run(tmp_path, offline, capsys):
    from studio.__main__ import main

    data = tmp_path / "faq.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    for base, words in ((str(tmp_path / "my-gpt2"), "No such folder"), ("run:20990101-gone", "No training run"),
                        ("model:nothing-here", "nothing-here"), ("distilgpt2", "No network: choose")):
        assert main(["train", "--dataset", str(data), "--base", base]) == 2, base
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and err.count("\n") == 1, err
    assert not runs.list_runs()  # nothing in the Runs list for a typo in --base


def test_a_one_step_run_says_1_step(tmp_path, offline, capsys):
    from studio.__main__ import main

    data = tmp_path / "faq.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(data), "--preset", "quick", "--max-steps", "1", "--out", str(out)]) == 0
    assert "\nfinished: 1 step in " in capsys.readouterr().out
    assert jobs.read_status(out).message.startswith("finished: 1 step in ")


def test_a_one_step_run_with_a_warm_up_share_trains_its_step(tiny_gpt2, tmp_path, offline):
    """The recommended preset's 5% warm-up on a 1-step run: the Trainer rounded the share up to one step, and a
    warm-up's first step trains at rate 0, so the run's only step changed nothing. A share under half a step is none."""
    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-2, batch_size=2, max_steps=1, test_fraction=0.0,
                            warmup_steps=0.05, lr_scheduler="cosine")
    assert train.run_job(cfg, RECORDS, out, dataset=DATASET).steps == 1
    before, after = _weights(tiny_gpt2), _weights(out / "model")
    assert any(not (after[k] == before[k]).all() for k in after if k in before)


@pytest.mark.parametrize("setting, total, steps", [(0.05, 1, 0), (0.05, 9, 0), (0.05, 10, 1), (0.05, 20, 1),
                                                   (0.05, 200, 10), (0.5, 2, 1), (20, 10, 9), (20, 1, 0), (3, 10, 3),
                                                   (0, 5, 0)])
def test_the_warm_up_rounds_to_whole_steps_and_leaves_a_step_at_a_rate_above_0(setting, total, steps):
    assert train.warmup_steps(setting, total) == steps


@pytest.mark.parametrize("device, mixed, filtered", [("cuda", "bfloat16", False), ("cuda", "float16", True),
                                                     ("cpu", None, True)])
def test_on_cuda_in_bf16_the_trainer_does_not_wait_on_each_step_loss(monkeypatch, tmp_path, device, mixed, filtered):
    """transformers' Trainer, asked to filter NaN/inf step losses out of the logged loss (its default), runs
    ``torch.isnan(loss) or torch.isinf(loss)`` after every step: on a GPU the CPU waits there for each step to
    finish. A bf16 run on CUDA asks for no such filter (a NaN loss shows in the log as it is); fp16, whose loss
    scaler skips overflowing steps, and the CPU keep it. The arguments are read here, where no GPU exists."""
    import sys
    import types

    import torch
    import transformers

    from studio.train.base import Base
    from studio.train.config import TrainConfig

    asked = {}

    class Seen(Exception):
        pass

    def arguments(**kwargs):
        asked.update(kwargs)
        raise Seen

    transformers.PrinterCallback  # noqa: B018 - loaded now: loading may put another module object in sys.modules
    monkeypatch.setattr(sys.modules["transformers"], "TrainingArguments", arguments)
    monkeypatch.setattr(models, "pick_dtype", lambda dev: getattr(torch, mixed) if mixed else torch.float32)
    model = types.SimpleNamespace(config=types.SimpleNamespace(use_cache=True))
    with pytest.raises(Seen):
        train._trainer(TrainConfig(base="x"), Base(model, None, None), train.Encoded([], [], 64, 0), [], {"train": []},
                       tmp_path, device, None)
    assert asked["logging_nan_inf_filter"] is filtered
    assert asked["bf16"] is (mixed == "bfloat16") and asked["use_cpu"] is (device == "cpu")


def test_a_short_run_logs_a_loss_row_every_step_and_a_long_one_as_asked(tiny_gpt2, tmp_path, offline):
    """A 3-step run logging every 10 steps (the default) drew its loss curve as one point, its first step's."""
    from studio.train.callbacks import logging_interval

    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), batch_size=2, max_steps=3, test_fraction=0.34)
    assert cfg.logging_steps == 10
    assert train.run_job(cfg, RECORDS, out, dataset=DATASET, name="short").state == "finished"
    assert [r["step"] for r in runs.read_metrics(out) if "loss" in r] == [1, 2, 3]
    assert [logging_interval(10, n) for n in (3, 19, 20, 50, 100, 5000)] == [1, 1, 2, 5, 10, 10]


def test_stop_while_the_base_loads_ends_the_run_before_its_first_step(tiny_gpt2, tmp_path, offline, monkeypatch):
    """Stop clicked while the base loads (or the Trainer sets up): the run stops at once, no step waited out (one can
    take minutes on a CPU). A resumed run keeps its checkpoint as it was and can resume again; a new one says
    nothing was trained."""
    from studio.train import base as base_mod

    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=2, max_steps=4, logging_steps=1,
                            test_fraction=0.0)
    real_load = base_mod.load_base

    def load_then_stop(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        jobs.request_stop(out)  # the user clicked Stop while the model loaded
        return loaded

    monkeypatch.setattr(train, "load_base", load_then_stop)
    steps: list[int] = []
    result = train.run_job(cfg, RECORDS, out, dataset=DATASET, on_progress=lambda f: steps.append(f["step"]))
    assert result.state == "stopped" and result.steps == 0 and steps == []  # no step ran
    status = jobs.read_status(out)
    assert status.state == "stopped" and "nothing was trained" in status.message
    assert runs.last_checkpoint(out) is None and not jobs.stop_requested(out)

    out = tmp_path / "run2"  # a run stopped at step 2, then resumed, then stopped again while it loads
    monkeypatch.setattr(train, "load_base", real_load)
    first = train.run_job(cfg, RECORDS, out, dataset=DATASET,
                          on_progress=lambda f: f["step"] >= 1 and jobs.request_stop(out))
    assert first.state == "stopped" and first.steps == 2
    before = _weights(runs.last_checkpoint(out))
    monkeypatch.setattr(train, "load_base", load_then_stop)
    steps.clear()
    jobs.update_status(out, state="running", progress=0.0)  # as a job's start writes it (jobs.start_job, claim_device)
    again = train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True, on_progress=lambda f: steps.append(f["step"]))
    assert again.state == "stopped" and again.steps == 2 and steps == []
    assert jobs.read_status(out).progress == pytest.approx(0.5)  # where it stands (step 2 of 4); it said 0.0
    after = _weights(runs.last_checkpoint(out))
    assert runs.last_checkpoint(out).name == "checkpoint-2" and all(after[k].equal(v) for k, v in before.items())
    assert jobs.read_status(out).message.startswith("stopped at step 2: resume from its checkpoint")
    monkeypatch.setattr(train, "load_base", real_load)
    assert train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True).steps == 4  # and it resumes on


def test_a_finished_or_stopped_run_reports_its_average_tokens_per_s_and_a_running_one_the_current(
        tiny_gpt2, tmp_path, offline):
    """The tokens/s of a finished or stopped run is its average (non-padding tokens over its time in the training
    loop, across resumes), said as such; while it runs, the last interval's rate, said as "now". Before, a finished
    run showed the last interval's rate (about 3x the average) as if it were the run's."""
    from studio.ui.train_live import progress_text

    out = tmp_path / "run"
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=2, max_steps=4, logging_steps=1,
                            test_fraction=0.0)
    live: list[str] = []

    def watch(fields: dict) -> None:
        live.append(fields["message"])
        if fields["step"] >= 2:
            jobs.request_stop(out)

    stopped = train.run_job(cfg, RECORDS, out, dataset=DATASET, on_progress=watch)
    assert stopped.state == "stopped" and any(m.endswith(" tokens/s now") for m in live)

    def average_says(status: jobs.JobStatus) -> float:
        tokens = [r["tokens_seen"] for r in runs.read_metrics(out) if "tokens_seen" in r][-1]
        seconds = json.loads((out / runs.TIME_JSON).read_text())["step_seconds"]
        assert status.extra["tokens_per_s"] == pytest.approx(tokens / seconds, rel=0.01)
        line = progress_text(status)
        assert line.count("tokens/s") == 1 and f"{tokens / seconds:,.0f} tokens/s on average" in line, line
        return seconds

    first = average_says(jobs.read_status(out))
    assert train.run_job(cfg, RECORDS, out, dataset=DATASET, resume=True).state == "finished"
    status = jobs.read_status(out)
    assert status.message.startswith("finished: 4 steps in ") and average_says(status) > first  # both sessions count


def test_the_command_line_says_the_run_s_average_and_never_offers_a_resume_it_cannot_do(tiny_gpt2, tmp_path, offline,
                                                                                       monkeypatch, capsys):
    """`train` ended on the last interval's pace missing from its line, and a run stopped before its first step
    printed "resume with: ...", which failed: there was no checkpoint."""
    from studio.__main__ import main

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", "--dataset", str(data), "--base", str(tiny_gpt2), "--max-steps", "2", "--out", str(out)]
    assert main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()
    finished = next(line for line in last if line.startswith("finished: 2 steps in "))
    assert finished.endswith("tokens/s on average") and last[-1] == f"model: {out / 'model'}"

    real_load = train.load_base

    def load_then_stop(*a, **k):
        loaded = real_load(*a, **k)
        jobs.request_stop(tmp_path / "run2")  # Stop while the base loads
        return loaded

    monkeypatch.setattr(train, "load_base", load_then_stop)
    assert main([*args[:-1], str(tmp_path / "run2")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == ("stopped before its first step: nothing was trained and there is nothing to resume; start "
                           "a new run.")
    assert not any("resume with" in line for line in printed)


def test_cli_ask_says_on_stderr_when_the_answer_was_cut_at_max_new_tokens(tiny_phi3, offline, capsys):
    """``python -m studio ask`` printed an answer cut mid-sentence at --max-new-tokens with no word of why, where
    ``python -m studio chat`` says so on stderr; the answer alone stays on stdout."""
    from studio.__main__ import main

    assert main(["ask", str(tiny_phi3), "How long is a match?", "--max-new-tokens", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and "Cut at" not in out  # the random tiny model never ends an answer by itself
    assert "note: Cut at 3 new tokens: raise --max-new-tokens to see more." in err


def test_a_gguf_base_s_import_is_said_in_the_run_s_status_as_it_happens(tmp_path, offline, monkeypatch):
    """The bundled model's first use imports its GGUF file (a minute, minutes on a busy machine): the Train page's
    status line said "loading model:..." all along, the import's lines only in the collapsed log. A GGUF base's import
    lines now follow in the status message (a spy on the status writes that calls through). The import runs in this
    process (``library.import_gguf``, what the import's own process runs, with the same lines): a process start costs
    more than the rest of this test."""
    from gguf_files import write_tiny_llama_gguf

    from studio.models import imports, library

    monkeypatch.setattr(imports, "import_and_wait",
                        lambda path, progress=None, **kw: library.import_gguf(path, progress=progress).name)

    gguf_file = tmp_path / "Pocket.gguf"
    write_tiny_llama_gguf(gguf_file)
    said: list[str] = []
    update = jobs.update_status

    def kept(workdir, **fields):
        said.append(fields.get("message", ""))
        return update(workdir, **fields)

    monkeypatch.setattr(jobs, "update_status", kept)
    out = tmp_path / "run"
    result = train.run_job(train.TrainConfig(base=str(gguf_file), batch_size=2, max_steps=1, test_fraction=0.0),
                           RECORDS, out, dataset=DATASET)
    assert result.state == "finished"
    assert f"loading {gguf_file}: dequantizing Pocket.gguf to float32" in said, said
    assert said.index(f"loading {gguf_file}") < said.index(f"loading {gguf_file}: dequantizing Pocket.gguf to float32")
