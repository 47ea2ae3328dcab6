"""Training: the loop (Hugging Face Trainer) that writes a run folder; the settings are in ``studio.train.config``.

``train(cfg, records, out_dir, dataset=...)`` is the whole engine; the CLI (``python -m studio train``)
and the Train page's background job both call it. See ``studio.train.runs`` for the run folder's layout
and ``studio.train.recipe`` for how records become token ids and labels.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import config, jobs
from studio.data.ref import DatasetRef
from studio.errors import StudioError, TrainingError, disk_error
from studio.models import adapters
from studio.models import loading as models
from studio.train import callbacks, lora, memory, packing, recipe, runs, scratch
from studio.train.config import (  # noqa: F401 (the engine's public names, used as train.TrainConfig, ...)
    METHODS,
    PRESET_NOTES,
    PRESETS,
    SCRATCH,
    SMALL_MODEL_PARAMS,
    TrainConfig,
    default_base,
    default_preset,
    preset,
    recommend,
)

# --- the loop --------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    state: str  # "finished" or "stopped"
    run_dir: Path
    steps: int
    train_loss: float | None
    eval_loss: float | None
    truncated: int  # records cut at max_length
    seconds: float


def _load_base(cfg: TrainConfig, records: Sequence[dict], train_idx: Sequence[int], out: Path, token: str | None) -> tuple[Any, Any]:
    """(model in float32, tokenizer) for training; a scratch tokenizer is learned once and kept in the run."""
    from transformers import AutoTokenizer

    if cfg.base == SCRATCH:
        tok_dir = out / "tokenizer"
        if (tok_dir / "tokenizer.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        else:
            tokenizer = scratch.train_tokenizer(scratch.corpus(records[i] for i in train_idx), cfg.vocab_size)
            tokenizer.save_pretrained(tok_dir)
        return scratch.build_model(tokenizer, cfg.scratch_size, n_positions=cfg.max_length, seed=cfg.seed), tokenizer
    ref = models.materialize(models.resolve(cfg.base), progress=lambda line: print(line, flush=True))
    if cfg.method == "qlora" and models.pick_device() != "cuda":
        raise TrainingError("QLoRA needs a CUDA GPU (bitsandbytes 4-bit): on this machine choose method lora, "
                            "which trains the same adapters on the unquantized base.")
    if ref.kind == "adapter":  # continue from a LoRA run: its base with the adapter
        adapter = Path(ref.source)
        base_ref = models.materialize(models.resolve(models.base_for_adapter(ref)))
        tokenizer = models.load_tokenizer(str(adapter), token)
        model = _load_weights(cfg, base_ref, token)
        model = adapters.attach(model, adapter, trainable=cfg.method != "full")
        return model, tokenizer
    tokenizer = models.load_tokenizer(ref, token)  # the ref resolved above, not the spec again
    model = _load_weights(cfg, ref, token)
    if cfg.method != "full":
        model = lora.apply(model, cfg)
    return model, tokenizer


def _load_weights(cfg: TrainConfig, ref: Any, token: str | None) -> Any:
    """The base's weights: float32 for full training (the optimizer's master copy) and for LoRA on CPU;
    bf16 for LoRA on a GPU that has it (the base is frozen: nothing is lost, half the memory and traffic;
    the adapters stay float32, peft's default); a 4-bit NF4 base for QLoRA (CUDA)."""
    kwargs = {**models.pretrained_kwargs(ref, token), "dtype": "float32"}
    if cfg.method == "lora" and lora.frozen_base_dtype(models.pick_device()) == "bfloat16":
        kwargs["dtype"] = "bfloat16"
    if cfg.method == "qlora":
        import torch
        from transformers import BitsAndBytesConfig

        kwargs.update(dtype=torch.bfloat16, device_map="cuda", quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16))
        from peft import prepare_model_for_kbit_training

        return prepare_model_for_kbit_training(models.load_weights(ref, kwargs), use_gradient_checkpointing=True)
    return models.load_weights(ref, kwargs)


def packs(device: str) -> bool:
    """Padding-free batches (``studio.train.packing``): on CUDA, only when ``STUDIO_PACKED_BATCHES=1``.

    On the one H200 run so far (docs/train.md), training with packed batches on by default measured
    slower than the padded recipe before it (distilgpt2's shape 0.37x the tutorial's tokens/s, against
    0.88x padded), so padded, length-grouped batches stay the default until a GPU run shows packing
    faster. On CPU padded batches always: a packed row's attention mask is O(total tokens squared)."""
    return device == "cuda" and os.environ.get("STUDIO_PACKED_BATCHES") == "1"


def _optimizer(cfg: TrainConfig, device: str) -> str:
    """AdamW as one fused kernel per step on CUDA (not one launch per tensor); bitsandbytes' paged
    AdamW for QLoRA (the QLoRA recipe: optimizer state pages out instead of running out of memory)."""
    if cfg.method == "qlora":
        return "paged_adamw_32bit"
    return "adamw_torch_fused" if device == "cuda" else "adamw_torch"


def _trainer_class() -> Any:
    from transformers import Trainer

    class StudioTrainer(Trainer):
        """The Trainer, less one device sync per step: it counted the tokens seen with ``.item()`` after
        every step; here they are summed where they already are (on the GPU, no wait) and read at logging
        and checkpoint time, which wait for the GPU anyway."""

        _pending: Any = 0

        def training_step(self, model, inputs, *args, **kwargs):
            mask = inputs.get("attention_mask")
            self._pending = self._pending + (mask.sum() if mask is not None else inputs["input_ids"].numel())
            return super().training_step(model, inputs, *args, **kwargs)

        def flush_tokens(self) -> None:
            if not isinstance(self._pending, int) or self._pending:
                n = int(self._pending)
                if self.accelerator.num_processes > 1:
                    import torch

                    n = int(self.accelerator.reduce(torch.tensor(n, device=self.args.device), reduction="sum"))
                self.state.num_input_tokens_seen += n
                self._pending = 0

        def log(self, logs, *args, **kwargs):
            self.flush_tokens()
            return super().log(logs, *args, **kwargs)

        def _save_checkpoint(self, *args, **kwargs):
            self.flush_tokens()
            return super()._save_checkpoint(*args, **kwargs)

    return StudioTrainer


def _disk_full(exc: BaseException) -> bool:
    err = disk_error(exc, "")
    return err is not None and err.errno == errno.ENOSPC


def _drop_unfinished_checkpoints(out: Path) -> None:
    """A checkpoint cut off by a full disk has no trainer_state.json (written last): resuming from it
    would fail, and removing it gives the space back for the run's status."""
    for ckpt in out.rglob("checkpoint-*"):
        if ckpt.is_dir() and not (ckpt / "trainer_state.json").is_file():
            shutil.rmtree(ckpt, ignore_errors=True)


def train(
    cfg: TrainConfig,
    records: Sequence[dict],
    out_dir: Path,
    *,
    dataset: DatasetRef | dict[str, Any] | None = None,
    name: str | None = None,
    resume: bool = False,
    token: str | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train ``cfg.base`` on ``records`` into the run folder ``out_dir``; the job's status follows along.

    ``resume=True`` continues from the run's last checkpoint with its saved config and split. Raises
    ``StudioError`` subclasses with a one-line remedy (the run is then marked failed by the caller).
    """
    import torch
    from transformers import PrinterCallback, TrainingArguments

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    ckpt = runs.last_checkpoint(out) if resume else None
    if resume and ckpt is None:
        raise TrainingError(f"Run {out.name} has no checkpoint to resume from: start a new run instead.")
    if ckpt is not None:
        runs.rewind_metrics(out, ckpt)  # the steps after the checkpoint are trained (and logged) again
    usable = recipe.usable_indices(records)
    if resume and (out / runs.SPLIT_JSON).is_file():
        split = json.loads((out / runs.SPLIT_JSON).read_text(encoding="utf-8"))
    else:
        split = recipe.split_indices(usable, cfg.test_fraction, cfg.seed)
    if not split["train"]:
        raise TrainingError("Nothing left to train on after holding records out: lower the held-out fraction.")
    device = models.pick_device()
    jobs.update_status(out, state="running", message=f"loading {cfg.base}", pid=jobs.read_status(out).pid or os.getpid())
    dataset_meta = dataset.to_dict() if isinstance(dataset, DatasetRef) else \
        {k: (dataset or {}).get(k) for k in ("id", "name", "version", "sha256", "count", "file")}
    meta = {"id": out.name, "name": name or out.name, "created": runs.now_iso(), "config": cfg.to_dict(),
            "base": cfg.base, "method": cfg.method, "dataset": dataset_meta, "device": device,
            "python": platform.python_version()}
    if not resume:  # written before the base loads, so a run that fails there is listed with its reason
        runs.write_run(out, meta)
    model, tokenizer = _load_base(cfg, records, split["train"], out, token)
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(inner, "loss_type", None) is None:  # the loss transformers picks anyway; named, it warns no more
        inner.loss_type = "ForCausalLM"
    fmt = recipe.format_name(tokenizer)
    limit = min(cfg.max_length, int(getattr(model.config, "n_positions", 0) or getattr(model.config, "max_position_embeddings", 0) or cfg.max_length))
    train_enc = recipe.encode_records(tokenizer, records, split["train"], limit)
    test_enc = recipe.encode_records(tokenizer, records, split["test"], limit)
    truncated = sum(e.truncated for e in train_enc + test_enc)
    if truncated:
        print(f"warning: {truncated} record(s) longer than {limit} tokens were truncated (they lose their answer's end)", flush=True)
    n_trainable, n_total = lora.trainable(model)
    if cfg.method != "full":
        print(f"{cfg.method}: {memory.trainable_line(n_trainable, n_total)}", flush=True)  # the page's words
    if not resume:
        runs.write_run(out, {**meta, "base_fingerprint": models.fingerprint(cfg.base), "trainable_parameters": n_trainable,
                             "parameters": n_total, "format": fmt, "truncated": truncated})
        runs.write_split(out, split)
    if device == "cpu":
        print("note: training on CPU in float32: fine for small models, slow for large ones", flush=True)
    mixed = models.pick_dtype(device) if device == "cuda" else None
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps, lr_scheduler_type=cfg.lr_scheduler,
        gradient_accumulation_steps=cfg.grad_accum,
        eval_strategy="epoch" if (test_enc and cfg.eval_per_epoch) else "no", prediction_loss_only=True,
        save_strategy="steps" if cfg.save_steps else "epoch", save_steps=cfg.save_steps or 500,
        save_total_limit=cfg.save_total_limit,
        logging_strategy="steps", logging_steps=cfg.logging_steps, logging_first_step=True,
        train_sampling_strategy="group_by_length", include_num_input_tokens_seen="no",  # StudioTrainer counts
        use_cpu=device == "cpu", bf16=mixed is torch.bfloat16, fp16=mixed is torch.float16,
        seed=cfg.seed, data_seed=cfg.seed, report_to="none", disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0, optim=_optimizer(cfg, device),
        neftune_noise_alpha=cfg.neftune_alpha or None,
    )
    use_cache = getattr(model.config, "use_cache", None)
    model.config.use_cache = False  # no key/value cache is built in training forwards; restored for the saved model
    if cfg.gradient_checkpointing and cfg.method != "qlora":  # QLoRA's preparation already turned it on
        model.gradient_checkpointing_enable()
        if cfg.method == "lora":
            model.enable_input_require_grads()  # checkpointed frozen layers must still pass gradients to adapters
        model.config.use_cache = False
    packed = packs(device) and not cfg.neftune_alpha  # NEFTune scales its noise by the row's length: keep rows per record
    attn = None  # the attention implementation packed rows replace (studio.train.packing), put back after training
    if packed:
        if getattr(model, "hf_device_map", None) is None and not getattr(model, "is_loaded_in_4bit", False):
            model.to(device)  # where the Trainer puts it anyway; the check below runs there
        attn = packing.prepare(model)
        packed = attn is not None
        if not packed:
            print(f"note: {cfg.base} mixes packed records' attention here: training on padded batches", flush=True)
    collator = packing.VarlenCollator() if packed else recipe.Collator(tokenizer.pad_token_id)
    callback = callbacks.make(out, on_progress)
    trainer = _trainer_class()(
        model=model, args=args, train_dataset=recipe.Reworded(
            tokenizer, [records[i] for i in split["train"]], limit, cfg.question_dropout, cfg.seed)
        if cfg.question_dropout else recipe.features(train_enc),
        eval_dataset=recipe.features(test_enc) if test_enc else None,
        data_collator=collator, processing_class=tokenizer, callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # our callback prints one readable line per log step
    threads = torch.get_num_threads()
    if device == "cpu" and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS:
        torch.set_num_threads(1)
    try:
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        state = "stopped" if callback.stopped else "finished"
        if state == "finished":
            jobs.update_status(out, message="saving the model")
            if use_cache is not None:
                model.config.use_cache = use_cache
            trainer.save_model(str(out / "model"))
            tokenizer.save_pretrained(out / "model")
    except torch.OutOfMemoryError:
        raise TrainingError(
            f"Out of memory on {device}: lower the batch size (now {cfg.batch_size}) or max length (now {cfg.max_length}), "
            "turn on gradient checkpointing, or pick a smaller base; then resume or start again."
        ) from None
    except MemoryError:
        raise TrainingError(
            f"Out of memory (RAM): lower the batch size (now {cfg.batch_size}) or max length, or pick a smaller base."
        ) from None
    except Exception as exc:  # a full disk reaches here as OSError, RuntimeError or safetensors' own error
        if _disk_full(exc):
            _drop_unfinished_checkpoints(out)
            raise TrainingError(f"disk full: free space in STUDIO_HOME ({config.home()}) and resume the run.") from None
        raise
    finally:
        torch.set_num_threads(threads)
        callback.close()  # its status writer's last write lands before the final state is written
        if attn:
            packing.restore(model, attn)
    history = trainer.state.log_history
    train_losses = [h["loss"] for h in history if "loss" in h]
    eval_losses = [h["eval_loss"] for h in history if "eval_loss" in h]
    return TrainResult(state, out, trainer.state.global_step, train_losses[-1] if train_losses else None,
                       eval_losses[-1] if eval_losses else None, truncated, time.time() - t_start)


def run_job(cfg: TrainConfig, records: Sequence[dict], out_dir: Path, **kwargs: Any) -> TrainResult:
    """``train`` with the job status kept up to date: finished/stopped, or failed with its one-line reason.

    Any exception marks the run failed (a bug's traceback goes to log.txt) before propagating.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        result = train(cfg, records, out, **kwargs)
    except StudioError as exc:
        jobs.update_status(out, state="failed", error=str(exc), message="failed")
        raise
    except KeyboardInterrupt:
        jobs.update_status(out, state="stopped", message="interrupted")
        raise
    except BaseException as exc:
        reason = f"the worker crashed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (see log.txt)"
        jobs.update_status(out, state="failed", error=reason[:400], message="failed")
        raise
    finally:  # every session counts, a stopped or failed one too: the total is across resumes
        runs.add_training_time(out, time.time() - t0)
    msg = (f"finished: {result.steps} steps in {runs.time_note(out)}" if result.state == "finished"
           else f"stopped at step {result.steps}: resume from its checkpoint")
    jobs.update_status(out, state=result.state, progress=1.0 if result.state == "finished" else jobs.read_status(out).progress,
                       eta_s=0 if result.state == "finished" else None, message=msg)
    jobs.clear_stop(out)
    return result

