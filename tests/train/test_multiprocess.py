"""Several devices through accelerate: the Train job's command for 2 GPUs (``studio.train.launch``:
``accelerate launch --multi_gpu --num_processes 2 -m studio train``) run on CPU (two processes, gloo) makes one run folder with one status and one metrics row per step, and
trains exactly as one process does at the same global batch (2 x 2 records against 1 x 4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from studio import jobs
from studio.train import runs
from tests.conftest import build_tiny_causal_lm

RECORDS = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball and goal line {i}."}
           for i in range(16)]


def _train(argv_head: list[str], data, base, out, batch_size: int, home, **settings) -> subprocess.CompletedProcess:
    cfg = {"base": str(base), "batch_size": batch_size, "max_steps": 3, "learning_rate": 1e-3, "test_fraction": 0.0,
           "logging_steps": 1, "eval_per_epoch": False, **settings}
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([*argv_head, "-m", "studio", "train", "--dataset", str(data), "--out", str(out),
                           "--config-json", json.dumps(cfg)], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_two_processes_train_one_run_like_one_process_at_the_same_global_batch(tmp_path, method):
    """LoRA too: its processes probe the model (``base.uses_every_parameter``) before DDP wraps it, a one-row forward
    one process never makes; the probe must leave the adapters reached (no search for unused parameters) and the
    losses as one process has them."""
    pytest.importorskip("accelerate")
    lora = {"method": "lora", "lora_dropout": 0.0, "lora_r": 4, "lora_alpha": 8} if method == "lora" else {}
    base = build_tiny_causal_lm(tmp_path / "base")
    conf = json.loads((base / "config.json").read_text())
    conf.update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # dropout draws differ per process
    (base / "config.json").write_text(json.dumps(conf))
    data = tmp_path / "faq.json"
    data.write_text(json.dumps(RECORDS))

    one = _train([sys.executable], data, base, tmp_path / "one", 4, tmp_path / "home", **lora)
    assert one.returncode == 0, one.stderr[-2000:]
    from studio.train import launch

    two = _train(launch.launcher(2, available=2), data, base, tmp_path / "two", 2, tmp_path / "home",  # the job's own
                 **lora)  # command
    assert two.returncode == 0, two.stderr[-2000:]
    # a dense model uses every parameter in its forward: DDP is not asked to look for unused ones (a graph traversal
    # a step, and a warning from each process that it found none)
    assert "find_unused_parameters" not in two.stdout + two.stderr, (two.stdout + two.stderr)[-2000:]

    a = [r for r in runs.read_metrics(tmp_path / "one") if "loss" in r]
    b = [r for r in runs.read_metrics(tmp_path / "two") if "loss" in r]
    assert [r["step"] for r in b] == [1, 2, 3]  # one row per step: only the first process writes
    assert [r["loss"] for r in b] == pytest.approx([r["loss"] for r in a], rel=1e-4)
    assert [r["tokens_seen"] for r in b] == [r["tokens_seen"] for r in a]  # both processes' tokens, summed
    status = jobs.read_status(tmp_path / "two")
    assert status.state == "finished"
    # one session of training, however many processes: each process counted its own ("resumed once" of a new run,
    # "resumed 3 times" after one resume, the time in all and the steps' time doubled, the tokens/s on average halved)
    assert runs.training_time(tmp_path / "two")[1] == 1 and "resumed" not in status.message, status.message
    weights = "adapter_model.safetensors" if method == "lora" else "model.safetensors"  # LoRA keeps its adapters
    assert (tmp_path / "two" / "model" / weights).is_file()
    assert runs.load_run_dir(tmp_path / "two").config["method"] == method
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.is_dir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir() if p.is_dir())  # the same one run folder layout


def test_two_processes_share_a_token_budgets_batches_each_record_once_an_epoch(tmp_path):
    """accelerate hands the budget's batches out in turn: each process a batch a step, every record once an
    epoch across the two, and half the steps of one process. Resumed from a checkpoint in the second epoch,
    the two processes continue with the batches the run had (accelerate's skip-ahead wraps its shard of the
    batches, where the Trainer's own ``set_epoch`` does not reach them: the epoch comes from its state)."""
    pytest.importorskip("accelerate")
    from transformers import AutoTokenizer

    from studio.train import batches, launch, recipe

    base = build_tiny_causal_lm(tmp_path / "base")
    records = [dict(r, answer=r["answer"] + " more" * (i % 5)) for i, r in enumerate(RECORDS)]  # lengths vary
    data = tmp_path / "faq.json"
    data.write_text(json.dumps(records))
    tok = AutoTokenizer.from_pretrained(base)
    lengths = [len(e.input_ids) for e in recipe.encode_records(tok, records, range(len(records)), 64)]
    per_epoch = len(batches.plan(lengths, 160))
    assert per_epoch % 2 == 0  # even: no batch is repeated to give both processes the same count
    out = tmp_path / "two"
    two = _train(launch.launcher(2, available=2), data, base, out, 8, tmp_path / "home", batch_tokens=160,
                 max_length=64, max_steps=-1, epochs=2, save_steps=per_epoch // 2 + 1, save_total_limit=5)
    assert two.returncode == 0, two.stderr[-2000:]
    rows = [r for r in runs.read_metrics(out) if "loss" in r]
    assert [r["step"] for r in rows] == list(range(1, per_epoch + 1))  # per_epoch / 2 steps an epoch, 2 epochs
    assert rows[per_epoch // 2 - 1]["tokens_seen"] == sum(lengths)  # the first epoch: every record, once
    assert rows[-1]["tokens_seen"] == 2 * sum(lengths)
    assert jobs.read_status(out).state == "finished"

    mid = out / "checkpoints" / f"checkpoint-{per_epoch // 2 + 1}"  # one step into the second epoch
    assert mid in runs.checkpoints(out)
    for later in [c for c in runs.checkpoints(out) if c != mid] + [out / "model"]:  # as if stopped there
        shutil.rmtree(later)
    assert runs.last_checkpoint(out) == mid
    jobs.update_status(out, state="stopped")  # a finished run is not resumed (it would write over its model)
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    again = subprocess.run([*launch.launcher(2, available=2), "-m", "studio", "train", "--resume", "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert runs.training_time(out)[1] == 2 and "(resumed once)" in jobs.read_status(out).message
    resumed = [r for r in runs.read_metrics(out) if "loss" in r]
    assert [r["step"] for r in resumed] == [r["step"] for r in rows]
    assert [r["tokens_seen"] for r in resumed] == [r["tokens_seen"] for r in rows]  # the same batches, step by step
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in rows], rel=1e-4)


def test_a_resumed_run_of_several_cpu_processes_loads_its_optimizer_state(tmp_path, monkeypatch):
    """accelerate names each CPU process's device ``cpu:0``; transformers 5.17 (the GPU image's) handed it to
    ``torch.load`` as ``map_location`` when there are several processes, and torch cannot restore to an indexed CPU
    device: the resume above failed there ("don't know how to restore data location ... cpu:0"). The device and
    the process count are set as accelerate sets them in a second process (one process cannot be two); the
    optimizer state is restored for real. Fails without the fix under transformers 5.17 (/tmp/devenv)."""
    import torch
    from transformers import AutoModelForCausalLM, TrainingArguments

    from studio.train import loop

    base = build_tiny_causal_lm(tmp_path / "base")
    model = AutoModelForCausalLM.from_pretrained(base)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], max_steps=2)
    trainer = loop._trainer_class()(model=model, args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=2)
    model(input_ids=torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]])).loss.backward()
    trainer.optimizer.step()
    ckpt = tmp_path / "checkpoint-1"
    ckpt.mkdir()
    torch.save(trainer.optimizer.state_dict(), ckpt / "optimizer.pt")
    torch.save(trainer.lr_scheduler.state_dict(), ckpt / "scheduler.pt")
    saved = {k: v.clone() for k, v in trainer.optimizer.state_dict()["state"][0].items()}

    resumed = loop._trainer_class()(model=model, args=args)
    resumed.create_optimizer_and_scheduler(num_training_steps=2)
    monkeypatch.setattr(type(args), "device", property(lambda self: torch.device("cpu", 0)))
    monkeypatch.setattr(type(args), "world_size", property(lambda self: 2))
    resumed._load_optimizer_and_scheduler(str(ckpt))
    state = resumed.optimizer.state_dict()["state"][0]
    assert all(torch.equal(state[k], v) for k, v in saved.items())  # the moments it had, not a fresh optimizer


@pytest.mark.parametrize(("kind", "every"), [("GPT2Config", True), ("LlamaConfig", True), ("Qwen2Config", True),
                                             ("MixtralConfig", False), ("Qwen2MoeConfig", False), ("OlmoeConfig", False),
                                             ("LlavaConfig", False)])
def test_a_configuration_of_experts_or_of_several_models_rules_out_skipping_the_search(kind, every):
    """A model of experts routes each token to some of them: the others get no gradient that step, and DDP must look
    for them or the step hangs waiting for their gradients; a vision tower beside a text model is not run on text."""
    import transformers

    from studio.train.base import config_reaches_every_parameter

    assert config_reaches_every_parameter(getattr(transformers, kind)()) is every


def _tiny(kind: str):
    import torch
    import transformers

    torch.manual_seed(0)
    if kind in ("gpt2", "gpt2+lora", "gpt2+value head"):
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=100))
        if kind == "gpt2+lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))
        if kind == "gpt2+value head":  # a head the causal-LM loss never uses (a value head left on by a tool)
            model.add_module("value_head", torch.nn.Linear(32, 1))
        return model
    if kind == "mllama text":  # a dense text model whose configuration leaves its cross-attention layers unrun on text
        return transformers.MllamaForCausalLM(transformers.MllamaTextConfig(
            vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, cross_attention_layers=[1], pad_token_id=0))
    return transformers.MixtralForCausalLM(transformers.MixtralConfig(  # one probe row may reach every expert
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2))


@pytest.mark.parametrize(("kind", "every"), [("gpt2", True), ("gpt2+lora", True), ("gpt2+value head", False),
                                             ("mllama text", False), ("mixtral", False)])
def test_only_a_model_whose_forward_reaches_every_trainable_parameter_skips_the_search(kind, every):
    """A yes where a parameter gets no gradient crashes a multi-GPU run at its second step (DDP waits for that gradient):
    a dense configuration is not enough, the model's own forward must reach every trainable parameter."""
    import torch

    from studio.train.base import uses_every_parameter

    model = _tiny(kind)
    state = torch.get_rng_state()
    assert uses_every_parameter(model) is every
    assert all(p.grad is None for p in model.parameters())  # the probe made no gradients
    assert torch.equal(torch.get_rng_state(), state)  # and left the run's random draws as they were


def test_the_probe_names_the_parameters_a_forward_leaves_out():
    from studio.train.base import unreached_parameters

    assert unreached_parameters(_tiny("gpt2+value head")) == ["value_head.weight", "value_head.bias"]
    missed = unreached_parameters(_tiny("mllama text"))
    assert "model.layers.1.cross_attn.q_proj.weight" in missed and not any(".layers.0." in n for n in missed)
