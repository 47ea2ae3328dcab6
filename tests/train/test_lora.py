"""LoRA runs on a tiny llama built from its config: adapters saved, only adapters trained, loaded
everywhere a run loads, merged into a full model that answers the same; presets sized to the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from studio.errors import StudioError, TrainingError
from studio.train import config as train_config
from studio.train import loop as train
from studio.train import lora, runs

FAQ = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball and the goal."} for i in range(12)]


def lora_run(base: Path, **overrides) -> Path:
    settings = dict(method="lora", learning_rate=5e-3, epochs=3, test_fraction=0.0, batch_size=4, max_length=64,
                    logging_steps=1, lora_r=4, lora_alpha=8)
    cfg = train_config.TrainConfig(base=str(base), **{**settings, **overrides})
    folder = runs.run_dir(runs.new_run_id("lora"))
    train.run_job(cfg, FAQ, folder, dataset={"name": "faq"}, name="lora run")
    return folder


@pytest.fixture(scope="module")
def lora_folder(tiny_llama, tmp_path_factory):
    """One trained LoRA run shared by the tests below (its own workspace, kept for the module)."""
    import os

    home = tmp_path_factory.mktemp("lora-home")
    old = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    try:
        folder = lora_run(tiny_llama)
    finally:
        os.environ["STUDIO_HOME"] = old or ""
    return folder


def test_a_lora_run_stores_only_the_adapter_and_its_base(lora_folder, tiny_llama):
    model_dir = lora_folder / "model"
    assert (model_dir / "adapter_model.safetensors").is_file() and (model_dir / "adapter_config.json").is_file()
    assert not (model_dir / "model.safetensors").exists()
    meta = json.loads((lora_folder / "run.json").read_text())
    assert meta["method"] == "lora" and meta["base"] == str(tiny_llama) and meta["base_fingerprint"].startswith("sha256:")
    assert 0 < meta["trainable_parameters"] < meta["parameters"] * 0.5


def test_only_adapter_weights_change(lora_folder, tiny_llama):
    from safetensors.torch import load_file

    base = load_file(str(Path(tiny_llama) / "model.safetensors"))
    adapter = load_file(str(lora_folder / "model" / "adapter_model.safetensors"))
    assert adapter and all("lora_" in k for k in adapter)
    assert any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)  # B starts at zero: it moved
    assert (Path(tiny_llama) / "model.safetensors").is_file() and base  # the base on disk is untouched


def test_a_lora_run_loads_in_chat_and_evaluation_and_its_merge_answers_the_same(lora_folder, tiny_llama, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(lora_folder.parent.parent))
    from studio.chat import ChatParams
    from studio.chat.local import LocalBackend
    from studio.models import generate, loading

    lm = loading.load_causal_lm(f"run:{lora_folder.name}")
    assert lm.ref.kind == "adapter"
    base = loading.load_causal_lm(str(tiny_llama))
    q = ["What is rule 3?"]
    tuned = generate.generate_answers(lm, q, max_new_tokens=12)
    assert tuned != generate.generate_answers(base, q, max_new_tokens=12)  # the adapter changed the answers
    chat = LocalBackend(lm).complete([{"role": "user", "content": q[0]}], ChatParams(max_new_tokens=12, do_sample=False))
    assert chat.strip() == tuned[0].strip()
    merged = lora.merge(lora_folder)
    assert (merged / "config.json").is_file() and (merged / "model.safetensors").is_file()
    after = loading.load_causal_lm(f"run:{lora_folder.name}")  # now the merged folder
    assert after.ref.kind == "run" and Path(after.ref.source) == merged
    assert generate.generate_answers(after, q, max_new_tokens=12) == tuned
    with pytest.raises(StudioError, match="exists and is not empty"):
        lora.merge(lora_folder)


def test_training_on_from_a_lora_run_resolves_the_run_and_its_base_once_each(tiny_llama, tmp_path, monkeypatch):
    from studio.models import adapters, loading

    lora_folder = lora_run(tiny_llama, epochs=1)  # its own run: the module's shared one is merged above
    seen = []
    real = loading.resolve
    monkeypatch.setattr(loading, "resolve", lambda spec: seen.append(str(spec)) or real(spec))
    cfg = train_config.TrainConfig(base=str(lora_folder), method="lora", learning_rate=5e-3, max_steps=2, batch_size=4,
                                   max_length=64, test_fraction=0.0, lora_r=4, lora_alpha=8)
    result = train.run_job(cfg, FAQ, tmp_path / "more", dataset={"name": "faq"})
    assert result.state == "finished" and seen == [str(lora_folder), str(tiny_llama)]
    assert adapters.is_adapter(tmp_path / "more" / "model")  # the run's adapter, trained further
    meta = json.loads((tmp_path / "more" / "run.json").read_text())
    assert meta["base_fingerprint"] == loading.folder_fingerprint(lora_folder / "model")


def test_a_merged_folder_without_weights_is_not_a_merge_and_a_new_merge_replaces_it(tiny_llama):
    """What a merge that died before this fix left (configs, no weights): the run still loads as its
    adapter, Merge is still due, and merging writes the whole model in its place."""
    from studio.models import adapters, loading

    folder = lora_run(tiny_llama, epochs=1)
    half = folder / "merged"
    half.mkdir()
    (half / "config.json").write_text((Path(tiny_llama) / "config.json").read_text())
    (folder / ".merging-merged.999999.x").mkdir()  # a killed merge's temporary folder (no such process)
    assert not adapters.is_complete_model(half)
    assert loading.resolve(f"run:{folder.name}").kind == "adapter"
    assert lora.merge(folder) == half and adapters.is_complete_model(half)
    assert loading.resolve(f"run:{folder.name}").kind == "run"
    assert sorted(p.name for p in folder.iterdir() if "merg" in p.name) == ["merged"]


def test_merge_refuses_a_full_run(tiny_gpt2):
    cfg = train.preset("quick", max_steps=2)
    folder = runs.run_dir(runs.new_run_id("full"))
    train.run_job(cfg, FAQ, folder, dataset={"name": "faq"})
    with pytest.raises(StudioError, match="is not a LoRA run"):
        lora.merge(folder)


@pytest.mark.parametrize("overrides, message", [
    ({"lora_r": 0}, "LoRA rank 0 is out of range"),
    ({"method": "dora"}, "Unknown method 'dora'"),
])
def test_bad_lora_settings_are_refused_before_training(tiny_llama, overrides, message):
    with pytest.raises(TrainingError, match=message):
        train_config.TrainConfig(base=str(tiny_llama), **overrides)


def test_a_rank_above_the_hidden_size_or_unknown_targets_fail_the_run_with_the_layer_names(tiny_llama):
    with pytest.raises(TrainingError, match="above the model's hidden size"):
        lora_run(tiny_llama, lora_r=64)
    with pytest.raises(TrainingError, match="No linear layer named wq.*down_proj.*q_proj"):
        lora_run(tiny_llama, lora_targets="wq")
    failed = [r for r in runs.list_runs() if r.status.state == "failed"]
    assert failed and all("LoRA" in r.status.error or "linear layer" in r.status.error for r in failed)


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine QLoRA runs")
def test_qlora_without_cuda_says_so_and_offers_lora(tiny_llama):
    with pytest.raises(TrainingError, match="QLoRA needs a CUDA GPU.*choose method lora"):
        lora_run(tiny_llama, method="qlora")


def test_a_new_qlora_run_on_a_cpu_is_refused_in_one_line_and_leaves_no_failed_run(tiny_llama, tmp_path, monkeypatch,
                                                                                   capsys):
    from studio.__main__ import main
    from studio.models import loading

    monkeypatch.setattr(loading, "pick_device", lambda: "cpu")  # the same on a GPU machine
    data = tmp_path / "faq.json"
    data.write_text(json.dumps(FAQ), encoding="utf-8")
    assert main(["train", "--dataset", str(data), "--base", str(tiny_llama), "--method", "qlora"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: QLoRA needs a CUDA GPU") and "choose method lora" in err and err.count("\n") == 1
    assert not runs.list_runs()  # no failed run left in the Runs list for a setting refused at once


def test_presets_are_sized_to_the_records():
    cfg, why = train_config.recommend(40)
    assert (cfg.test_fraction, cfg.epochs, cfg.learning_rate, cfg.question_dropout) == (0.0, 12, 2e-4, 0.15)
    assert why.startswith("40 records: a FAQ, nothing held out, 12 epochs at 2e-4")
    assert "15% of each question's words left out at random" in why
    cfg, why = train_config.recommend(40, method="lora")
    assert (cfg.epochs, cfg.learning_rate, cfg.method) == (12, 2e-3, "lora") and "LoRA rank 16" in why
    small = train_config.recommend(1000)[0]
    assert (small.test_fraction, small.learning_rate, small.question_dropout) == (0.1, 1e-4, 0.0)
    assert train_config.recommend(50_000)[0].epochs == 2
    assert train_config.recommend(40, parameters=3_800_000_000)[0].learning_rate == 2e-5  # Phi-3.5-mini's size
    assert train_config.default_preset("distilgpt2") == "recommended"
    assert train_config.PRESETS["tutorial"].learning_rate == 3e-5  # the tutorial's settings stay available


def test_the_lora_runs_workspace_is_not_leaked(lora_folder):
    assert lora_folder.is_dir() and runs.list_runs() == []  # the shared run lives in its own workspace


def test_a_run_deleted_while_its_merge_loads_is_not_made_again(tiny_llama, monkeypatch):
    """``runs delete`` during a merge: the merge made the run's folder again, holding merged/ alone."""
    import shutil

    from studio.models import loading

    folder = lora_run(tiny_llama, epochs=1)
    load, depth = loading.load_causal_lm, []

    def load_then_delete(*args, **kwargs):
        depth.append(1)  # the adapter's load loads its base through the same function
        lm = load(*args, **kwargs)
        depth.pop()
        if not depth:
            shutil.move(str(folder), str(folder.parent.parent / "trash-of-the-run"))  # what runs delete does meanwhile
        return lm

    monkeypatch.setattr(loading, "load_causal_lm", load_then_delete)
    with pytest.raises(StudioError, match=f"Run {folder.name} was deleted during the merge: nothing was written."):
        lora.merge(folder)
    assert not folder.exists()


def test_qlora_checkpoints_without_torchs_use_reentrant_warning(tiny_llama, monkeypatch, offline):
    """QLoRA (CUDA only) always checkpoints, through peft's prepare_model_for_kbit_training. Here a float32 model
    stands in for the 4-bit one (loading it in 4-bit needs CUDA): a training step on it runs checkpointed and says
    nothing about use_reentrant (torch warns when it is not passed, into the run's log)."""
    import warnings

    from studio.models import loading
    from studio.train import base

    real = loading.load_weights

    def stand_in(ref, kwargs):
        assert kwargs["quantization_config"].load_in_4bit and kwargs["device_map"] == {"": 0}
        model = real(ref, {"dtype": "float32"})
        model.is_loaded_in_4bit = True  # what prepare_model_for_kbit_training reads
        return model

    monkeypatch.setattr(loading, "load_weights", stand_in)
    cfg = train_config.TrainConfig(base=str(tiny_llama), method="qlora", lora_r=4, lora_alpha=8)
    model = lora.apply(base._load_weights(cfg, loading.materialize(loading.resolve(str(tiny_llama))), None), cfg)
    model.train()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
    assert model.get_base_model().is_gradient_checkpointing
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)  # the adapters learn


def test_each_process_of_a_multi_gpu_qlora_run_loads_its_base_on_its_own_gpu(tiny_llama, monkeypatch, offline):
    """bitsandbytes' 4-bit weights stay on the GPU they were loaded to: under accelerate launch (LOCAL_RANK) the
    second process must load onto the second GPU, not onto the first beside the first process's copy."""
    from studio.models import loading
    from studio.train import base

    seen = []
    monkeypatch.setattr(loading, "load_weights", lambda ref, kwargs: seen.append(kwargs["device_map"]) or torch.nn.Linear(1, 1))
    monkeypatch.setattr("peft.prepare_model_for_kbit_training", lambda model, **kw: model)
    cfg = train_config.TrainConfig(base=str(tiny_llama), method="qlora")
    ref = loading.materialize(loading.resolve(str(tiny_llama)))
    for rank in ("1", "0"):
        monkeypatch.setenv("LOCAL_RANK", rank)
        base._load_weights(cfg, ref, None)
    monkeypatch.delenv("LOCAL_RANK")
    base._load_weights(cfg, ref, None)  # one process: the first (visible) GPU
    assert seen == [{"": 1}, {"": 0}, {"": 0}]


class _Loaded(Exception):
    """Raised in place of loading weights: the arguments they would have been loaded with are what is checked."""


@pytest.mark.parametrize("major, dtype", [(7, torch.float16), (9, torch.bfloat16)])
def test_a_gpu_that_only_emulates_bf16_trains_and_answers_in_fp16(tiny_llama, offline, monkeypatch, major, dtype):
    """A T4 or a V100 (compute capability 7) can hold bf16 tensors, so torch's ``is_bf16_supported()`` says yes, but
    its arithmetic in bf16 is emulated, far slower than fp16: chat, training's autocast, LoRA's frozen base and
    QLoRA's 4-bit compute take fp16 (and float32 for the frozen base) there, bf16 on an Ampere or later GPU (an
    H100: 9). No GPU here: torch.cuda's answers about the device are faked, and the weights are not loaded."""
    from types import SimpleNamespace

    from studio.models import loading
    from studio.train import base

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: SimpleNamespace(major=major))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True)  # a bf16 tensor can be made
    assert loading.pick_dtype("cuda") is dtype
    assert lora.frozen_base_dtype("cuda") == ("bfloat16" if dtype is torch.bfloat16 else "float32")

    seen: dict = {}

    def capture(ref, kwargs):
        seen.update(kwargs)
        raise _Loaded

    monkeypatch.setattr(loading, "load_weights", capture)
    monkeypatch.setattr(base, "process_gpu", lambda: 0)
    cfg = train_config.TrainConfig(base=str(tiny_llama), method="qlora")
    with pytest.raises(_Loaded):
        base._load_weights(cfg, loading.resolve(str(tiny_llama)), None)
    assert seen["dtype"] is dtype and seen["quantization_config"].bnb_4bit_compute_dtype is dtype


def test_the_same_settings_train_the_same_lora_run_again_and_another_seed_another(tiny_llama):
    """peft draws each adapter's starting weights at random: the run's seed fixes them, as it fixes a scratch model's,
    so training again with the same settings gives the same adapters (and a 2-process run the losses of one)."""
    from safetensors.torch import load_file

    def adapters(seed: int, before: int) -> dict:
        torch.manual_seed(before)  # whatever the process drew before: the run's own seed decides
        folder = lora_run(tiny_llama, epochs=1, max_steps=2, seed=seed)
        return load_file(folder / "model" / "adapter_model.safetensors")

    first, again, other = adapters(7, before=1), adapters(7, before=2), adapters(8, before=1)
    assert first.keys() == again.keys() == other.keys() and first
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_a_lora_run_continued_from_a_lora_run_answers_with_its_own_adapter_once(tiny_llama, tmp_path):
    """Continuing a LoRA run with LoRA trains that run's adapter further: the new run's adapter holds both. It was
    loaded on the earlier run merged into its base, so the earlier adapter counted twice; now it goes on the base."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from studio.models import loading

    first = lora_run(tiny_llama, epochs=1)
    more = lora_run(f"run:{first.name}", max_steps=2)
    ids = torch.tensor([[5, 17, 42, 8, 3]])
    want = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama)), str(more / "model")).eval()
    got = loading.load_causal_lm(f"run:{more.name}", device="cpu").model.float().eval()
    with torch.no_grad():
        assert torch.allclose(got(ids).logits, want(ids).logits, atol=1e-4)


def _logits(model, ids):
    with torch.no_grad():
        return model.float().eval()(ids).logits


def test_a_lora_run_on_a_lora_run_keeps_to_what_it_was_trained_on_when_that_run_is_merged_or_unmerged(tiny_llama):
    """A LoRA run continued from a LoRA run holds both adapters and goes on the first run's base; one trained on the
    first run's merged model goes on those merged weights. run.json did not say which, and loading took whatever the
    first run's folder held now: merged later, the continued run counted the first adapter twice; its merged/ deleted,
    the other lost it. run.json records it now; an older run.json is guessed by when merged/ was written."""
    import shutil

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from studio.models import loading

    def base():
        return AutoModelForCausalLM.from_pretrained(str(tiny_llama))

    def loaded(run: Path):
        return _logits(loading.load_causal_lm(f"run:{run.name}", device="cpu").model, ids)

    def record(run: Path) -> dict:
        return json.loads((run / "run.json").read_text())

    ids = torch.tensor([[5, 17, 42, 8, 3]])
    first = lora_run(tiny_llama, epochs=1)
    continued = lora_run(f"run:{first.name}", max_steps=2)  # the first run's adapter, trained further
    lora.merge(first)
    on_merged = lora_run(f"run:{first.name}", max_steps=2, seed=3)  # a new adapter on the first run merged
    assert (record(continued)["base_as"], record(on_merged)["base_as"]) == ("adapter", "merged")
    first_merged = PeftModel.from_pretrained(base(), str(first / "model")).merge_and_unload()
    want_continued = _logits(PeftModel.from_pretrained(base(), str(continued / "model")), ids)
    want_on_merged = _logits(PeftModel.from_pretrained(first_merged, str(on_merged / "model")), ids)
    assert not torch.allclose(want_continued, _logits(PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(first / "merged")), str(continued / "model")), ids), atol=1e-3)

    assert torch.allclose(loaded(continued), want_continued, atol=1e-4)  # the first adapter once, merged/ or not
    assert torch.allclose(loaded(on_merged), want_on_merged, atol=1e-4)
    shutil.rmtree(first / "merged")  # the merged model deleted: the first run's adapter is merged again in memory
    assert torch.allclose(loaded(continued), want_continued, atol=1e-4)
    assert torch.allclose(loaded(on_merged), want_on_merged, atol=1e-4)

    # run.json files from before the record: merged/ written after a run started was not what it trained on (the
    # times a minute apart, as such runs' were: these tiny ones start within a second of the merge)
    from datetime import datetime, timezone

    lora.merge(first)
    merged_at = (first / "merged" / "config.json").stat().st_mtime
    for run, started in ((continued, merged_at - 60), (on_merged, merged_at + 60)):
        old = {k: v for k, v in record(run).items() if k != "base_as"}
        old["created"] = datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds")
        (run / "run.json").write_text(json.dumps(old))
    assert torch.allclose(loaded(continued), want_continued, atol=1e-4)
    assert torch.allclose(loaded(on_merged), want_on_merged, atol=1e-4)
    # both started in the second merged/ was written ("created" says seconds): the times cannot tell them apart, and a
    # run on the merged model was taken as continuing the adapter; the fingerprint each recorded of its base tells
    for run in (continued, on_merged):
        old = record(run)
        old["created"] = datetime.fromtimestamp(int(merged_at), timezone.utc).isoformat(timespec="seconds")
        (run / "run.json").write_text(json.dumps(old))
    assert torch.allclose(loaded(continued), want_continued, atol=1e-4)
    assert torch.allclose(loaded(on_merged), want_on_merged, atol=1e-4)


def test_resuming_a_lora_run_continued_from_a_lora_run_merged_since_goes_on_from_what_it_began_on(tiny_llama, tmp_path):
    """A stopped LoRA run continued from a LoRA run that was merged before the resume: the resume put a new adapter on
    the merged model and loaded the checkpoint's (which holds the first adapter already) over it, so the first adapter
    trained on twice. It resumes on the first run's base, as it began."""
    from peft import PeftModel, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from studio import jobs
    from studio.train.base import load_base

    first = lora_run(tiny_llama, epochs=1)
    out = tmp_path / "more"
    cfg = train_config.TrainConfig(base=f"run:{first.name}", method="lora", learning_rate=5e-3, max_steps=4,
                                   batch_size=4, max_length=64, test_fraction=0.0, lora_r=4, lora_alpha=8)
    stopped = train.run_job(cfg, FAQ, out, dataset={"name": "faq"},
                            on_progress=lambda f: f["step"] >= 1 and jobs.request_stop(out))
    assert stopped.state == "stopped"
    lora.merge(first)
    ckpt = runs.last_checkpoint(out)
    resumed = load_base(cfg, FAQ, [], out, None, resume=True)
    set_peft_model_state_dict(resumed.model, load_file(str(ckpt / "adapter_model.safetensors")))  # as the Trainer does
    want = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama)), str(ckpt))
    ids = torch.tensor([[5, 17, 42, 8, 3]])
    assert torch.allclose(_logits(resumed.model, ids), _logits(want, ids), atol=1e-4)


def test_a_hub_adapters_settings_come_from_its_adapter_config_and_odd_values_are_the_defaults():
    """What the Train page shows (and counts memory by) for a Hub adapter continued with LoRA: its own rank, alpha,
    dropout and targets; a value of another kind or out of the settings' range is the default, never an error."""
    defaults = train_config.TrainConfig()
    assert lora.adapter_settings({"r": 8, "lora_alpha": 16.0, "lora_dropout": 0, "target_modules": ["v_proj", "q_proj"]}
                                 ) == {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "lora_targets": "q_proj,v_proj"}
    assert lora.adapter_settings({"r": "8", "lora_alpha": 10**6, "lora_dropout": 0.9, "target_modules": ".*proj"}) == {
        "lora_r": defaults.lora_r, "lora_alpha": defaults.lora_alpha, "lora_dropout": defaults.lora_dropout,
        "lora_targets": ".*proj"}
    assert lora.adapter_settings(None) == {k: getattr(defaults, k) for k in lora.LORA_FIELDS}


def test_train_from_a_lora_run_on_the_command_line_continues_its_adapters_and_records_them(tiny_llama, tmp_path,
                                                                                          capsys):
    """``train --base run:<a LoRA run>`` trained a full model by default, and with --method lora run.json recorded
    rank 16 on every linear layer while the run's own rank-4 adapter on q_proj,v_proj trained: now it continues the
    adapter as LoRA, as the Train page does, records what trains and says so; a rank flag it cannot apply is refused.
    Its default name said the dataset twice ("faq · faq · <base>"): now once, and that it continues a run."""
    from studio.__main__ import main

    cfg = train_config.TrainConfig(base=str(tiny_llama), method="lora", learning_rate=5e-3, max_steps=1, batch_size=4,
                                   max_length=64, test_fraction=0.0, lora_r=4, lora_alpha=8, lora_targets="q_proj,v_proj")
    first = runs.run_dir(runs.new_run_id("faq"))
    train.run_job(cfg, FAQ, first, dataset={"name": "faq"}, name=runs.default_name("faq", str(tiny_llama)))
    data = tmp_path / "faq.json"
    data.write_text(json.dumps(FAQ), encoding="utf-8")
    base = f"run:{first.name}"
    assert main(["train", "--dataset", str(data), "--base", base, "--lora-r", "8", "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --lora-r 8 cannot apply") and "rank 4" in err.replace("LoRA rank", "rank")
    # the same in --config-json (the page's way) was replaced without a word: rank 4 trained, the JSON said 8
    given = {**cfg.to_dict(), "base": base, "lora_r": 8}
    assert main(["train", "--dataset", str(data), "--config-json", json.dumps(given)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: --config-json\'s "lora_r": 8 cannot apply') and "rank 4" in err.replace("LoRA rank", "rank")
    assert err.count("\n") == 1 and '"method": "full"' in err
    assert [r.id for r in runs.list_runs()] == [first.name]  # nothing started
    # a JSON with no "method" follows the base as the flags do: it trained a full model (the JSON's default)
    from studio.__main__ import build_parser
    from studio.commands import train as train_cmd

    args = build_parser().parse_args(["train", "--dataset", str(data), "--config-json", json.dumps({"base": base})])
    follows = train_cmd._config(args)
    assert (follows.method, follows.lora_r, follows.lora_targets) == ("lora", 4, "q_proj,v_proj")
    args = build_parser().parse_args(["train", "--dataset", str(data), "--config-json",
                                      json.dumps({"base": base, "method": "full"})])
    assert train_cmd._config(args).method == "full"
    assert lora.same_setting("lora_targets", "v_proj, q_proj", "q_proj,v_proj")  # the page's JSON, targets reordered
    assert not lora.same_setting("lora_targets", "all-linear", "q_proj,v_proj")
    out = tmp_path / "more"
    assert main(["train", "--dataset", str(data), "--base", base, "--max-steps", "1", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "method lora (this run's adapters continued, rank 4 on q_proj,v_proj)" in said
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["method"] == "lora"
    assert (record["config"]["lora_r"], record["config"]["lora_alpha"], record["config"]["lora_targets"]) == (
        4, 8, "q_proj,v_proj")
    assert json.loads((out / "model" / "adapter_config.json").read_text())["r"] == 4
    assert record["name"] == f"faq · {tiny_llama} (continued)"  # it was "faq · faq · <base>"
    assert runs.default_name("rules", base) == f"rules · faq · {tiny_llama} (continued)"  # another dataset: the run's name
