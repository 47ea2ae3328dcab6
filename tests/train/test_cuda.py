"""What only a CUDA GPU can show: QLoRA trains, stops, resumes, merges and answers; 4-bit chat streams,
stops and serves two sessions; LoRA's frozen base is bf16 and its adapters float32; packed training
counts every real token once. Skipped without CUDA (``pytest -m cuda`` selects them; bench/gpu.sh runs
them on the GPU machine)."""

from __future__ import annotations

import functools
import threading

import pytest
import torch

from studio import jobs
from studio.models import adapters
from studio.models import loading as models
from studio.train import base, lora, runs
from studio.train import config as train_config
from studio.train import loop as train

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

FAQ = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball and the goal."} for i in range(12)]


def test_qlora_trains_stops_resumes_merges_and_answers(tiny_llama, tmp_path, offline):
    out = runs.run_dir(runs.new_run_id("qlora"))
    cfg = train_config.TrainConfig(base=str(tiny_llama), method="qlora", learning_rate=5e-3, batch_size=4, max_steps=6,
                                   test_fraction=0.0, logging_steps=1, max_length=64, lora_r=4, lora_alpha=8,
                                   gradient_checkpointing=True)

    def stop_at_two(fields: dict) -> None:
        if fields["step"] >= 2:
            jobs.request_stop(out)

    first = train.run_job(cfg, FAQ, out, dataset={"name": "faq"}, on_progress=stop_at_two)
    assert first.state == "stopped" and runs.last_checkpoint(out) is not None
    resumed = train.run_job(cfg, FAQ, out, dataset={"name": "faq"}, resume=True)
    assert resumed.state == "finished" and resumed.steps == 6
    assert [r["step"] for r in runs.read_metrics(out) if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert adapters.is_adapter(out / "model")
    from studio.models import generate

    # The run itself, its base in 4-bit and the adapter merged into it: before the merge below, after which the run
    # folder resolves to its merged/ copy and this path would not be taken.
    assert models.resolve(str(out)).kind == "adapter"
    run_lm = models.load_causal_lm(str(out), quantization="4bit")
    assert run_lm.quantization == "4bit" and isinstance(generate.answer(run_lm, "What is rule 3?", max_new_tokens=8), str)
    del run_lm
    merged = lora.merge(out)
    lm = models.load_causal_lm(str(merged))
    assert lm.device == "cuda"
    assert isinstance(generate.answer(lm, "What is rule 3?", max_new_tokens=8), str)


def test_lora_on_cuda_keeps_the_frozen_base_in_bf16_and_the_adapters_in_float32(tiny_llama, offline):
    cfg = train_config.TrainConfig(base=str(tiny_llama), method="lora", lora_r=4, lora_alpha=8)
    model = lora.apply(base._load_weights(cfg, models.materialize(models.resolve(str(tiny_llama))), None), cfg)
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    trained = {p.dtype for p in model.parameters() if p.requires_grad}
    assert frozen == {torch.bfloat16} and trained == {torch.float32}


def test_packed_training_on_cuda_counts_every_real_token_once(tiny_gpt2, tmp_path, offline, monkeypatch):
    from transformers import AutoTokenizer

    from studio.train import recipe

    monkeypatch.setenv("STUDIO_PACKED_BATCHES", "1")  # packed batches are opt-in (docs/train.md)

    out = tmp_path / "run"
    cfg = train_config.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-3, batch_size=4, epochs=1, test_fraction=0.0,
                                   logging_steps=1, eval_per_epoch=False)
    train.run_job(cfg, FAQ, out, dataset={"name": "faq"})
    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    real = sum(len(e.input_ids) for e in recipe.encode_records(tok, FAQ, range(len(FAQ)), cfg.max_length))
    assert runs.read_metrics(out)[-1]["tokens_seen"] == real


def test_4bit_chat_streams_stops_and_serves_two_sessions(tiny_phi3, offline):
    from studio.chat import BackendSpec, ChatParams, StreamStats, make_backend

    backend = make_backend(BackendSpec(kind="local", model=str(tiny_phi3), quantization="4bit"))
    assert "4bit" in backend.describe() and "on cuda" in backend.describe()
    params = ChatParams(max_new_tokens=24, temperature=0)
    msgs = [{"role": "user", "content": "How long is a match?"}]
    backend._eos = [-1]  # a random model: no early end, so every answer is max_new_tokens long
    answers: list[str] = []
    stats = [StreamStats(), StreamStats()]
    threads = [threading.Thread(target=lambda s=s: answers.append("".join(backend.stream(msgs, params, stats=s))))
               for s in stats]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 2 and answers[0] == answers[1]  # the per-model lock: no interleaving, same greedy answer
    assert all(s.tokens == 24 for s in stats)
    stop = threading.Event()
    stop.set()  # Stop pressed: generation on the model's thread ends at its next token
    st = StreamStats()
    "".join(backend.stream(msgs, ChatParams(max_new_tokens=200, temperature=0), stats=st, stop=stop))
    assert st.tokens < 5


def test_the_memory_estimate_counts_loras_frozen_base_at_two_bytes_on_cuda():
    from studio.train import memory

    shape = memory.ModelShape(3_800_000_000, 32, 3072, 32064, 8192)  # Phi-3.5-mini's
    cpu = memory.estimate(shape, 4, 256, method="lora", device="cpu")
    gpu = memory.estimate(shape, 4, 256, method="lora", device="cuda")
    assert cpu.weights - gpu.weights == 2 * shape.params


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_packed_runs_on_cuda_go_through_the_varlen_kernel_and_train_like_padded(tiny_llama, tmp_path, offline,
                                                                             monkeypatch, method):
    """STUDIO_PACKED_BATCHES=1 on CUDA: the packed rows reach torch's varlen flash kernel (where this torch has
    it), and each step's loss is the padded run's (bf16 tolerance) with the same records per step."""
    from studio.train import packing

    kernel = packing._varlen_kernel("cuda")
    calls = []
    if kernel is not None:
        @functools.wraps(kernel)  # the studio reads the kernel's signature
        def counting(*args, **kwargs):
            calls.append(1)
            return kernel(*args, **kwargs)
        monkeypatch.setattr(packing, "_varlen_kernel", lambda device: counting)
    cfg = train_config.TrainConfig(base=str(tiny_llama), method=method, learning_rate=1e-3, batch_size=4, max_steps=4,
                                   test_fraction=0.0, logging_steps=1, eval_per_epoch=False, max_length=64, lora_r=4,
                                   lora_alpha=8, lora_dropout=0.0, gradient_checkpointing=method == "qlora")
    losses = {}
    for packed in ("0", "1"):
        monkeypatch.setenv("STUDIO_PACKED_BATCHES", packed)
        out = tmp_path / f"run-{packed}"
        assert train.run_job(cfg, FAQ, out, dataset={"name": "faq"}).state == "finished"
        losses[packed] = [r["loss"] for r in runs.read_metrics(out) if "loss" in r]
    assert losses["1"] == pytest.approx(losses["0"], rel=3e-2)
    if kernel is not None:
        assert calls, "the packed run never reached torch's varlen kernel"


def test_the_multi_gpu_probe_reaches_every_qlora_adapter_and_leaves_the_random_draws(tiny_llama, offline, monkeypatch):
    """Each process of a multi-GPU QLoRA run probes its 4-bit model (``base.uses_every_parameter``) on its own GPU before
    DDP wraps it, with the (non-reentrant) checkpointing QLoRA's preparation turned on: a reentrant one would hide
    the adapters from the probe's graph and have DDP search for unused parameters each step. The probe finds every
    adapter, makes no gradient and leaves the CPU's and the GPU's random state as they were."""
    monkeypatch.setenv("LOCAL_RANK", str(torch.cuda.device_count() - 1))  # the last process's GPU: not cuda:0
    cfg = train_config.TrainConfig(base=str(tiny_llama), method="qlora", lora_r=4, lora_alpha=8, lora_dropout=0.1)
    model = lora.apply(base._load_weights(cfg, models.materialize(models.resolve(str(tiny_llama))), None), cfg)
    model.train()
    gpu = torch.device(f"cuda:{torch.cuda.device_count() - 1}")
    assert model.get_input_embeddings().weight.device == gpu and model.is_gradient_checkpointing
    cpu_state, gpu_state = torch.get_rng_state(), torch.cuda.get_rng_state(gpu)
    assert base.unreached_parameters(model) == [] and base.uses_every_parameter(model)
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), cpu_state) and torch.equal(torch.cuda.get_rng_state(gpu), gpu_state)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
def test_two_gpus_train_qlora_like_one_gpu_at_the_same_global_batch(tiny_llama, tmp_path):
    """The job's own 2-GPU command on QLoRA: one run, no search for unused parameters (the probe found every adapter),
    the losses of one GPU at the same global batch (2 x 2 records against 1 x 4; 4-bit kernels: a looser match)."""
    import json
    import os
    import subprocess
    import sys

    from studio.train import launch

    data = tmp_path / "faq.json"
    data.write_text(json.dumps(FAQ))
    cfg = {"base": str(tiny_llama), "method": "qlora", "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0,
           "max_steps": 3, "learning_rate": 1e-3, "test_fraction": 0.0, "logging_steps": 1, "eval_per_epoch": False}
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}

    def train(head: list[str], out: str, batch: int) -> subprocess.CompletedProcess:
        return subprocess.run([*head, "-m", "studio", "train", "--dataset", str(data), "--out", str(tmp_path / out),
                               "--config-json", json.dumps({**cfg, "batch_size": batch})],
                              capture_output=True, text=True, env=env, timeout=900)

    one = train([sys.executable], "one", 4)
    assert one.returncode == 0, one.stderr[-2000:]
    two = train(launch.launcher(2, available=torch.cuda.device_count()), "two", 2)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "find_unused_parameters" not in two.stdout + two.stderr, (two.stdout + two.stderr)[-2000:]
    a = [r["loss"] for r in runs.read_metrics(tmp_path / "one") if "loss" in r]
    b = [r["loss"] for r in runs.read_metrics(tmp_path / "two") if "loss" in r]
    assert len(b) == 3 and b == pytest.approx(a, rel=2e-2)
