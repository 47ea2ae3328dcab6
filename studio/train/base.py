"""The base a run trains from, loaded once: a pretrained model (full, LoRA or QLoRA), a LoRA run to
continue, or a new GPT-2 (``scratch``).

``load_base`` resolves the model spec once (``studio.models.loading.resolve``) and passes the
resolved reference down to the tokenizer, the weights and the fingerprint that ``run.json`` keeps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import TrainingError
from studio.models import adapters, hf_import, loading
from studio.train import lora, scratch
from studio.train.config import SCRATCH, TrainConfig, offline_remedy


def uses_every_parameter(model: Any) -> bool:
    """Whether a model's forward reaches every trainable parameter on every step, so that a multi-process run need not
    have DDP look for unused ones (a walk of the autograd graph each step, and a warning from each process when it finds
    none). A wrong yes crashes the run at its second step (DDP waits for gradients that never come), so a yes needs
    both: a configuration that routes nothing (``config_reaches_every_parameter``) and a one-batch forward that reaches
    every trainable parameter (``unreached_parameters``: a head the loss never uses, a module the configuration leaves
    out of the forward, as Mllama's cross-attention layers are on text). Anything the probe cannot run: no."""
    if not config_reaches_every_parameter(model.config):
        return False
    try:
        return not unreached_parameters(model)
    except Exception:  # a forward this probe cannot make (an unusual signature): let DDP look, as it would by default
        return False


def config_reaches_every_parameter(model_config: Any) -> bool:
    """What the configuration alone can rule out: a model of experts (Mixtral's num_local_experts, Qwen-MoE's num_experts,
    DeepSeek's n_routed_experts: the experts a batch's tokens are not routed to get no gradient that step, and one probe
    batch may happen to reach them all), one with layers dropped at random (``layerdrop``), or one with another model
    inside (a vision tower a text batch never runs)."""
    if hasattr(model_config, "to_dict"):
        fields = model_config.to_dict()
    elif isinstance(model_config, Mapping):
        fields = dict(model_config)
    else:  # a config-like object without to_dict (a wrapped model's): its attributes
        fields = dict(getattr(model_config, "__dict__", {}))
    for key, value in fields.items():
        if "expert" in key and isinstance(value, int) and not isinstance(value, bool) and value > 1:
            return False
        if "layerdrop" in key and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return False
        if key.endswith("_config") and isinstance(value, dict) and "model_type" in value:  # a part of its own
            if key != "text_config" or not config_reaches_every_parameter(value):
                return False
    return True


def unreached_parameters(model: Any, tokens: int = 8) -> list[str]:
    """The trainable parameters a forward of one short row does not reach, by name: what DDP's own search would find,
    read from the autograd graph of the loss without a backward (no gradients are made). The random state is put back,
    so the run draws what it would have drawn."""
    import torch

    embeddings = model.get_input_embeddings()
    device = embeddings.weight.device
    ids = (torch.arange(1, tokens + 1, device=device) % embeddings.num_embeddings).unsqueeze(0)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.enable_grad():
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
        reached: set[int] = set()
        seen: set[Any] = set()
        stack = [loss.grad_fn]
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            variable = getattr(node, "variable", None)  # an AccumulateGrad node: the parameter it fills
            if variable is not None:
                reached.add(id(variable))
            stack.extend(child for child, _ in node.next_functions)
        del loss
    return [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in reached]


@dataclass
class Base:
    model: Any  # float32 (bf16 frozen for LoRA on a GPU that has it, 4-bit for QLoRA), adapters applied
    tokenizer: Any
    fingerprint: str | None  # the base folder's (``loading.fingerprint``); None for a Hub id, a GGUF file, scratch
    base_as: str | None = None  # how a LoRA base was taken (``adapters.BASE_AS``): run.json records it; None for others


def load_base(cfg: TrainConfig, records: Sequence[dict], train_idx: Sequence[int], out: Path,
              token: str | None, resume: bool = False, say: Callable[[str], None] | None = None) -> Base:
    """The model and tokenizer to train; a scratch tokenizer is learned once and kept in the run folder. A resumed
    run takes a LoRA base as its ``run.json`` says it did (``loading.base_as``), whatever was merged since. ``say``:
    each line of a GGUF base's import (the bundled model's first use), as it comes, beside the log's copy."""
    hf_import.ready()
    from transformers import AutoTokenizer

    if cfg.base == SCRATCH:
        tok_dir = out / "tokenizer"
        if (tok_dir / "tokenizer.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        else:
            tokenizer = scratch.train_tokenizer(scratch.corpus(records[i] for i in train_idx), cfg.vocab_size)
            tokenizer.save_pretrained(tok_dir)
        model = scratch.build_model(tokenizer, cfg.scratch_size, n_positions=cfg.max_length, seed=cfg.seed)
        return Base(model, tokenizer, None)
    with offline_remedy():
        return _load_pretrained(cfg, token, out if resume else None, say)


def process_gpu() -> int:
    """The GPU this process trains on: its own under ``accelerate launch`` (which sets LOCAL_RANK for each of its
    processes), the first otherwise."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def first_process() -> bool:
    """Whether this is the first process of the run (``accelerate launch`` sets RANK for each; one process: yes): the one
    that writes what the run keeps once, as the trainer's own callbacks do on its first process."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def process_device(device: str) -> str:
    """Where this process's model goes: ``cuda:N`` for its own GPU (``process_gpu``), else ``device`` as it is."""
    return f"cuda:{process_gpu()}" if device == "cuda" else device


def refuse_qlora(method: str, device: str) -> None:
    """QLoRA where there is no CUDA GPU stops in one line offering LoRA (a new run: before anything is written)."""
    if method == "qlora" and device != "cuda":
        raise TrainingError("QLoRA needs a CUDA GPU (bitsandbytes 4-bit): on this machine choose method lora, "
                            "which trains the same adapters on the unquantized base.")


def _load_pretrained(cfg: TrainConfig, token: str | None, resumed: Path | None = None,
                     say: Callable[[str], None] | None = None) -> Base:
    """A pretrained base (a Hub id, a folder, a library model, a GGUF file) or a LoRA model to go on from: its adapter
    trained further (LoRA), or its weights with the adapter merged (a full run; LoRA on a LoRA run's merged model).
    ``resumed``: the run folder of a resume, whose record of how it took its base is followed."""
    spec_ref = loading.resolve(cfg.base)
    base_as = loading.base_as(resumed, spec_ref) if resumed else loading.base_as_new(spec_ref, cfg.method)
    def progress(line: str) -> None:
        print(line, flush=True)
        if say is not None:
            say(line)

    ref = loading.materialize(loading.as_taken(spec_ref, base_as), progress=progress)
    # A GGUF file stays named by its file (its sha256 finds the imported copy again); the bundled
    # model's imported copy is a library folder like any other.
    fingerprint = loading.fingerprint(spec_ref if spec_ref.kind == "gguf" else ref)
    refuse_qlora(cfg.method, loading.pick_device())
    tokenizer = loading.load_tokenizer(ref, token)  # the ref resolved above, not the spec again
    if ref.kind == "adapter" and cfg.method != "full" and base_as != adapters.BASE_MERGED:
        # LoRA on a LoRA run or a Hub adapter: its adapter trained further, on that adapter's own base
        base_ref = loading.materialize(loading.adapter_base_ref(ref))
        model = adapters.attach(_merged_weights(cfg, base_ref, token), Path(ref.source), trainable=True)
        return Base(model, tokenizer, fingerprint, base_as)
    model = _merged_weights(cfg, ref, token)
    if cfg.method == "full":
        model.requires_grad_(True)  # an adapter merged: peft froze every weight of the base, which a full run trains
    else:
        model = lora.apply(model, cfg)
    return Base(model, tokenizer, fingerprint, base_as)


def _merged_weights(cfg: TrainConfig, ref: loading.ModelRef, token: str | None) -> Any:
    """The weights of ``ref``; a LoRA adapter's are its base's with the adapter merged in (a chain of them each in turn)."""
    if ref.kind != "adapter":
        return _load_weights(cfg, ref, token)
    base_ref = loading.materialize(loading.adapter_base_ref(ref))
    return adapters.attach(_merged_weights(cfg, base_ref, token), Path(ref.source))


def _load_weights(cfg: TrainConfig, ref: loading.ModelRef, token: str | None) -> Any:
    """The base's weights: float32 for full training (the optimizer's master copy) and for LoRA on CPU;
    bf16 for LoRA on a GPU that computes in it (the base is frozen: nothing is lost, half the memory and traffic;
    the adapters stay float32, peft's default); a 4-bit NF4 base for QLoRA (CUDA)."""
    kwargs = {**loading.pretrained_kwargs(ref, token), "dtype": "float32"}
    if cfg.method == "lora" and lora.frozen_base_dtype(loading.pick_device()) == "bfloat16":
        kwargs["dtype"] = "bfloat16"
    if cfg.method == "qlora":
        hf_import.ready()
        from transformers import BitsAndBytesConfig

        # The 4-bit weights are made on the GPU they load to and cannot move: each process of a multi-GPU run
        # (accelerate launch sets LOCAL_RANK) loads onto its own GPU, not every one onto the first. They compute
        # in the dtype training autocasts to: bf16, or fp16 on a GPU without bf16 (a T4, a V100).
        compute = loading.pick_dtype("cuda")
        kwargs.update(dtype=compute, device_map={"": process_gpu()}, quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute))
        from peft import prepare_model_for_kbit_training

        # Non-reentrant checkpointing, as every other run gets (transformers' default): peft's own default passes
        # torch no use_reentrant, and torch then warns in the run's log on every QLoRA run and checkpoints reentrantly.
        return prepare_model_for_kbit_training(loading.load_weights(ref, kwargs), use_gradient_checkpointing=True,
                                               gradient_checkpointing_kwargs={"use_reentrant": False})
    return loading.load_weights(ref, kwargs)
