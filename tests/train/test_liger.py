"""Liger Kernel as a training option (``TrainConfig.liger``, ``studio.train.liger``): refused in one line where it
cannot run, kept in the run folder and across a resume, followed by the memory estimate; on CUDA with
liger-kernel installed, a run with it trains to the same losses as one without (bench/gpu.sh runs that test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from studio.errors import TrainingError
from studio.models import loading
from studio.train import liger, memory, runs
from studio.train import loop as train
from studio.train.config import TrainConfig
from tests.conftest import REPO

FAQ = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball and the goal number {i}."}
       for i in range(16)]


def _on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine has, the studio trains on its CPU (so the test means the same on the GPU machine)."""
    monkeypatch.setattr(loading, "pick_device", lambda: "cpu")


def test_a_new_run_asking_for_liger_on_a_cpu_is_refused_in_one_line_and_writes_nothing(offline, monkeypatch,
                                                                                        tmp_path, capsys):
    from studio.__main__ import main

    _on_cpu(monkeypatch)
    data = tmp_path / "faq.json"
    data.write_text(json.dumps(FAQ), encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(data), "--preset", "quick", "--liger", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Liger Kernel needs a CUDA GPU") and "--no-liger" in err and err.count("\n") == 1
    assert not out.exists() and not runs.list_runs()  # refused before a run folder, a claimed device or a job
    # the page's way in (a whole config as JSON) is refused the same way
    cfg = TrainConfig(base="scratch", scratch_size="tiny", liger=True).to_dict()
    assert main(["train", "--dataset", str(data), "--config-json", json.dumps(cfg), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: Liger Kernel needs a CUDA GPU")
    with pytest.raises(TrainingError, match="needs a CUDA GPU"):  # the engine itself, called directly
        train.train(TrainConfig(base="scratch", scratch_size="tiny", liger=True), FAQ, tmp_path / "direct")


def test_on_a_gpu_without_the_package_it_says_what_to_install(monkeypatch):
    """A GPU cannot be had here; the package check is transformers' own, set to say liger-kernel is absent."""
    import transformers.utils

    monkeypatch.setattr(transformers.utils, "is_liger_kernel_available", lambda: False)
    why = liger.problem("cuda")
    assert why.startswith("Liger Kernel is not installed: pip install liger-kernel==0.8.5") and "--no-liger" in why
    assert liger.off_reason("cuda") == "Liger Kernel is not installed: pip install liger-kernel==0.8.5 on this GPU machine."
    assert not liger.applies(True, "llama", "cuda")


def test_liger_with_an_adapter_on_the_output_layer_is_refused():
    """Liger's loss multiplies by lm_head.weight itself: an adapter there would never train."""
    with pytest.raises(TrainingError, match="adapter on lm_head would not train"):
        TrainConfig(method="lora", lora_targets="q_proj,lm_head", liger=True)
    assert TrainConfig(method="lora", lora_targets="q_proj,lm_head").liger is False  # fine without Liger


def test_the_setting_is_kept_in_the_run_folder_and_a_resume_without_liger_goes_on_with_a_note(
        offline, tiny_gpt2, monkeypatch, tmp_path):
    """The run starts where Liger "can run" (a GPU with liger-kernel is faked: neither exists here) on a GPT-2,
    which has no Liger kernels: it says so and trains. It stops; the resume, on this CPU, reads liger from
    run.json, says it goes on without it and finishes."""
    from studio import jobs

    out = tmp_path / "run"
    data = tmp_path / "faq.json"
    data.write_text(json.dumps(FAQ), encoding="utf-8")
    cfg = TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=4, max_steps=4, test_fraction=0.0,
                      logging_steps=1, save_steps=2, liger=True)

    def stop_at_two(fields: dict) -> None:
        if fields["step"] >= 2:
            jobs.request_stop(out)

    from studio.data.ref import load_dataset

    records, ref = load_dataset(str(data), None)
    with monkeypatch.context() as gpu:
        gpu.setattr(liger, "_missing", lambda device: None)
        first = train.run_job(cfg, records, out, dataset=ref, on_progress=stop_at_two)
    assert first.state == "stopped"
    assert TrainConfig.from_dict(runs.load_run_dir(out).config) == cfg  # liger=True is in run.json
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "studio", "train", "--resume", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "note: Liger Kernel needs a CUDA GPU (its kernels are Triton's) and this machine trains on the CPU: " \
           "this run, started with it, resumes without it" in done.stdout
    assert jobs.read_status(out).state == "finished"
    assert [r["step"] for r in runs.read_metrics(out) if "loss" in r] == [1, 2, 3, 4]
    assert "Traceback" not in done.stderr


def test_a_gpt2_base_says_it_has_no_liger_kernels(offline, tiny_gpt2, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(liger, "_missing", lambda device: None)  # as on a GPU with liger-kernel (faked, as above)
    cfg = TrainConfig(base=str(tiny_gpt2), batch_size=4, max_steps=1, test_fraction=0.0, liger=True)
    train.run_job(cfg, FAQ, tmp_path / "run", dataset={"name": "faq"})
    out = capsys.readouterr().out
    assert "note: Liger Kernel has no kernels for gpt2's architecture" in out and "trains without them" in out
    assert "Liger Kernel: on" not in out


def test_the_memory_estimate_drops_the_logits_with_liger():
    """Fused linear cross-entropy holds chunks about tokens x width, never tokens x vocabulary: with it the
    activations no longer grow with the vocabulary, and full fine-tuning adds the output layer's gradient."""
    def shape(vocab: int) -> memory.ModelShape:  # SmolLM2-135M's sizes, but for the vocabulary
        return memory.shape_from_sizes(30, 576, vocab, 1536, heads=9, kv_heads=3, model_type="llama")

    small, big = shape(49_152), shape(2 * 49_152)
    for method in ("lora", "full"):
        plain = memory.estimate(small, 32, 64, method=method, device="cpu")
        fused = memory.estimate(small, 32, 64, method=method, device="cpu", liger=True)
        assert fused.activations < plain.activations - 32 * 64 * 49_152 * 4  # at least the logits themselves
        assert fused.weights == plain.weights and fused.optimizer == plain.optimizer
    lora_gap = (memory.estimate(big, 32, 64, method="lora", device="cpu", liger=True).activations
                - memory.estimate(small, 32, 64, method="lora", device="cpu", liger=True).activations)
    assert lora_gap == 0
    full_gap = (memory.estimate(big, 32, 64, method="full", device="cpu", liger=True).activations
                - memory.estimate(small, 32, 64, method="full", device="cpu", liger=True).activations)
    assert full_gap == 49_152 * 576 * 4  # the added vocabulary's rows of the output layer's float32 gradient
    assert memory.shape_of_config(_llama_config()).model_type == "llama"


def _llama_config():
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       vocab_size=300)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.skipif(torch.cuda.is_available() and liger.problem("cuda") is not None,
                    reason=f"liger-kernel is not installed here (pip install {liger.PIN})")
@pytest.mark.parametrize("model, method", [("tiny_llama", "lora"), ("tiny_phi3", "full")])
def test_on_cuda_a_liger_run_trains_to_the_same_losses_as_one_without(model, method, request, tmp_path):
    """Each run in its own process (Liger's RoPE and norm patches last for a process): a few steps of the same
    run with and without Liger Kernel, in bf16: every logged loss and the held-out loss agree closely."""
    base = request.getfixturevalue(model)
    data = tmp_path / "faq.json"
    data.write_text(json.dumps(FAQ), encoding="utf-8")
    cfg = TrainConfig(base=str(base), method=method, learning_rate=2e-3, batch_size=4, max_steps=6, epochs=3,
                      test_fraction=0.25, logging_steps=1, max_length=64, lora_r=4, lora_alpha=8, save_steps=100)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "HF_HUB_OFFLINE": "1", "STUDIO_HOME": str(tmp_path / "home")}
    losses, evals, logs = {}, {}, {}
    for use in (False, True):
        out = tmp_path / f"run-{use}"
        done = subprocess.run([sys.executable, "-m", "studio", "train", "--dataset", str(data), "--config-json",
                               json.dumps(cfg.replace(liger=use).to_dict()), "--out", str(out)], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        rows = runs.read_metrics(out)
        losses[use] = [r["loss"] for r in rows if "loss" in r]
        evals[use] = [r["eval_loss"] for r in rows if "eval_loss" in r]
        logs[use] = done.stdout
    assert "Liger Kernel: on" in logs[True] and "Liger Kernel" not in logs[False]
    assert len(losses[True]) == len(losses[False]) == 6 and evals[True] and len(evals[True]) == len(evals[False])
    for a, b in zip(losses[False] + evals[False], losses[True] + evals[True]):
        assert b == pytest.approx(a, rel=0.02, abs=0.02)
    assert losses[True][-1] < losses[True][0]  # and it learns
