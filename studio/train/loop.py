"""Training: the loop (Hugging Face Trainer) that writes a run folder; the settings are in ``studio.train.config``.

``train(cfg, records, out_dir, dataset=...)`` is the whole engine; the CLI (``python -m studio train``)
and the Train page's background job both call it. See ``studio.train.runs`` for the run folder's layout
and ``studio.train.recipe`` for how records become token ids and labels.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import config, jobs
from studio.data.display import plural
from studio.data.ref import DatasetRef
from studio.errors import StudioError, TrainingError, disk_error
from studio.models import hf_import, loading
from studio.train import batches, callbacks, liger, lora, memory, packing, recipe, runs
from studio.train.base import Base, first_process, load_base, process_device, uses_every_parameter
from studio.train.config import (  # noqa: F401 (the engine's public names, used as train.TrainConfig, ...)
    METHODS,
    PRESET_NOTES,
    PRESETS,
    SCRATCH,
    SMALL_MODEL_PARAMS,
    TrainConfig,
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
    tokens_per_s: float | None = None  # the run's average: its non-padding tokens over its time in training steps


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


def mixed_precision(device: str) -> dict[str, bool]:
    """The Trainer's bf16 / fp16 flags for ``device``: bf16 only where the GPU computes in it, fp16 on one that only
    emulates bf16 (a T4, a V100: ``loading.pick_dtype``), neither on a CPU. bench/ passes the same to its baselines."""
    import torch

    mixed = loading.pick_dtype(device) if device == "cuda" else None
    return {"bf16": mixed is torch.bfloat16, "fp16": mixed is torch.float16}


def _nan_filter(device: str, mixed: Any) -> bool:
    """Whether the Trainer swaps a NaN or infinite step loss for the average in the logged loss: not on CUDA in bf16.

    The Trainer asks ``torch.isnan(loss) or torch.isinf(loss)`` after every step when it filters: Python control
    flow on a GPU tensor, one host-device sync per step (the CPU waits for the step to finish before it queues
    the next). In bf16 no step is skipped for an overflow, so a NaN loss means the weights are NaN from then on:
    the log says so instead of showing the last good average. fp16 keeps the filter (its loss scaler skips the
    steps that overflow, and the filter keeps their inf out of the logged loss); on the CPU a sync costs nothing."""
    import torch

    return not (device == "cuda" and mixed is torch.bfloat16)


def warmup_steps(setting: float, total: int) -> int:
    """The steps a run's learning rate rises over: ``setting`` steps, or that share of ``total`` when under 1, rounded
    to the nearest step (a share under half a step is none), and always fewer than ``total``. A warm-up's first step
    trains at rate 0: a 1-step run with the 5% share (the Trainer rounds any share up to a step) trained its only step
    at 0 and came back unchanged."""
    steps = int(setting) if setting >= 1 else int(total * setting + 0.5)
    return max(0, min(steps, total - 1))


def _trainer_class() -> Any:
    hf_import.ready()
    from transformers import Trainer

    class StudioTrainer(Trainer):
        """The Trainer, less one device sync per step: it counted the tokens seen with ``.item()`` after
        every step; here they are summed where they already are (on the GPU, no wait) and read at logging
        and checkpoint time, which wait for the GPU anyway. With a token budget, its own training batches."""

        _pending: Any = 0
        token_batches: Any = None  # a batches.TokenBudgetSampler when the run has a token budget

        def training_step(self, model, inputs, *args, **kwargs):
            mask = inputs.get("attention_mask")
            self._pending = self._pending + (mask.sum() if mask is not None else inputs["input_ids"].numel())
            return super().training_step(model, inputs, *args, **kwargs)

        def create_scheduler(self, num_training_steps, optimizer=None):
            """The schedule over the run's steps, its warm-up as ``warmup_steps`` rounds it (at least one step at a
            rate above 0)."""
            if self.lr_scheduler is None:
                self.args.warmup_steps = warmup_steps(self.args.warmup_steps, num_training_steps)
            return super().create_scheduler(num_training_steps, optimizer)

        def get_train_dataloader(self):
            """Batches filled to the run's token budget (``studio.train.batches``) when it has one. accelerate
            prepares the loader as it does the Trainer's own: under several processes each takes every n-th batch."""
            if self.token_batches is None:
                return super().get_train_dataloader()
            from torch.utils.data import DataLoader

            loader = DataLoader(self.train_dataset, batch_sampler=self.token_batches, collate_fn=self.data_collator,
                                num_workers=self.args.dataloader_num_workers,
                                pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(loader)

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

        def _load_optimizer_and_scheduler(self, checkpoint):
            """A resumed run of several CPU processes loads its optimizer state onto the plain CPU. accelerate names
            each CPU process's device ``cpu:0``, and transformers 5.17 (the GPU image's) passes that device to
            ``torch.load`` as ``map_location`` whenever there are several processes: torch cannot restore a storage
            to an indexed CPU device ("don't know how to restore data location ... (tagged with cpu:0)"), and the
            resume failed. transformers 5.25 maps to "cpu" there itself; this does the same on either."""
            device = self.args.device
            if (checkpoint is None or device.type != "cpu" or device.index is None or self.is_deepspeed_enabled
                    or self.is_fsdp_enabled):
                return super()._load_optimizer_and_scheduler(checkpoint)
            import torch

            hf_import.ready()  # imported already by now (this is a Trainer); the one way in, all the same
            from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME

            optimizer, scheduler = Path(checkpoint) / OPTIMIZER_NAME, Path(checkpoint) / SCHEDULER_NAME
            if not (optimizer.is_file() and scheduler.is_file()):  # as the Trainer: nothing to load, a fresh optimizer
                return super()._load_optimizer_and_scheduler(checkpoint)
            self.optimizer.load_state_dict(torch.load(optimizer, map_location="cpu", weights_only=True))
            self.lr_scheduler.load_state_dict(torch.load(scheduler, map_location="cpu", weights_only=True))
            return None

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
    The stages: the split, ``run.json`` (``runs.start_run``), the base (``base.load_base``), the
    encoded records (``runs.record_base`` then completes ``run.json``), the Trainer, the run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    ckpt = _resume_from(out, resume)
    split = _split(cfg, records, out, resume)
    device = loading.pick_device()
    kernels = _liger_here(cfg, device, resume)
    doing = loading_line(cfg, ckpt)
    jobs.update_status(out, state="running", message=doing, pid=jobs.read_status(out).pid or os.getpid())
    if not resume:
        runs.start_run(out, cfg, name=name, dataset=dataset, device=device)
    # the bundled model's first use imports it (a minute, several on a busy machine): the status line follows the
    # import's lines ("dequantizing ... to float32"), where it said "loading model:..." alone all along
    base = load_base(cfg, records, split["train"], out, token, resume=resume,
                     say=lambda line: jobs.update_status(out, message=f"{doing}: {line}"))
    data = _encode(cfg, base, records, split)
    n_trainable, n_total = lora.trainable(base.model)
    if cfg.method != "full":
        print(f"{cfg.method}: {memory.trainable_line(n_trainable, n_total)}", flush=True)  # the page's words
    if first_process():
        print(f"memory: {_memory_line(cfg, base, data, device)}", flush=True)
    if not resume:
        runs.record_base(out, fingerprint=base.fingerprint, trainable=n_trainable, parameters=n_total,
                         format=recipe.format_name(base.tokenizer), truncated=data.truncated, base_as=base.base_as)
        runs.write_split(out, split)
    if device == "cpu":
        print("note: training on CPU in float32: fine for small models, slow for large ones", flush=True)
    use_cache = getattr(base.model.config, "use_cache", None)  # off while training, restored for the saved model
    kernels = kernels and _liger_fits(base)
    trainer, callback, attn = _trainer(cfg, base, data, records, split, out, device, on_progress, use_liger=kernels)
    state = _fit(trainer, callback, attn, ckpt, cfg, base, out, device, use_cache)
    # across resumes, like the tokens the state counts; one process's steps (every process trains them at once)
    step_s = runs.add_step_time(out, callback.trained_s) if first_process() else runs.step_time(out) + callback.trained_s
    tokens = trainer.state.num_input_tokens_seen or 0
    train_loss, eval_loss = last_losses(runs.read_metrics(out) if first_process() else [], trainer.state.log_history)
    return TrainResult(state, out, trainer.state.global_step, train_loss, eval_loss, data.truncated,
                       time.time() - t_start, tokens / step_s if tokens > 0 and step_s > 0 else None)


def loading_line(cfg: TrainConfig, ckpt: Path | None = None) -> str:
    """What a run does before its first step, as its status line says it: a scratch run has no base to load (the Train
    page said "loading scratch" for the 10-20 s it learns a tokenizer and builds its model); a resume's model is its
    checkpoint's."""
    if ckpt is not None:
        return f"loading the model to go on from step {ckpt.name.split('-')[-1]}"
    if cfg.base == SCRATCH:
        return "building a new GPT-2 from zero: learning its tokenizer from the training records"
    return f"loading {cfg.base}"


def last_losses(rows: Sequence[dict], history: Sequence[dict]) -> tuple[float | None, float | None]:
    """The run's last train loss and last held-out loss: from its ``metrics.jsonl`` rows (every log and evaluation
    made, across resumes, in order), else from the Trainer's history (a process that writes no rows). The history was
    once short of evaluations (a checkpoint at an epoch's end was saved before that epoch's evaluation, so a run
    resumed from it and stopped again said the epoch before's: "stopped: 54 steps · eval loss 5.5820", step 36's;
    step 54's was 5.4152); the metrics rows are the record the page draws, so they say it."""
    def last(source: Sequence[dict], key: str) -> float | None:
        values = [h[key] for h in source if isinstance(h.get(key), (int, float))]
        return float(values[-1]) if values else None

    source = rows if any("loss" in r or "eval_loss" in r for r in rows) else history
    return last(source, "loss"), last(source, "eval_loss")


def _memory_line(cfg: TrainConfig, base: Base, data: Encoded, device: str) -> str:
    """The Train page's memory estimate for this run, term by term (``memory.breakdown``), from the same function on the
    same lengths (``memory.for_run``), so the command line says what the page says. The shape is the page's
    (``memory.run_shape``: a model from zero as its settings size it, not as its learned vocabulary came out); a
    pretrained base's is its loaded config's, the one run_shape reads from its folder or file, not the base resolved
    a second time."""
    inner = base.model.get_base_model() if hasattr(base.model, "get_base_model") else base.model
    shape = memory.run_shape(cfg) if cfg.base == SCRATCH else memory.shape_of_config(inner.config)
    run = memory.for_run(cfg, [len(e.input_ids) for e in data.train], shape=shape, device=device)
    return memory.breakdown(run.estimate, f"batch {run.rows} × {run.seq} tokens, the data's longest")


def _liger_here(cfg: TrainConfig, device: str, resume: bool) -> bool:
    """Whether Liger Kernel can be asked for (``studio.train.liger``). A new run that asks for it where it cannot
    run is refused in one line; a resumed one (its settings are fixed) trains on without it, with a note: the
    kernels compute the same loss, so the run continues as it was."""
    if not cfg.liger:
        return False
    if not resume:
        liger.refuse(device)
        return True
    why = liger.problem(device, "this run, started with it, resumes without it (the same loss, from PyTorch's kernels)")
    if why:
        print(f"note: {why}", flush=True)
    return not why


def _liger_fits(base: Base) -> bool:
    """Whether the loaded model's architecture has Liger kernels; a note in the log when it has none."""
    model = base.model.get_base_model() if hasattr(base.model, "get_base_model") else base.model
    model_type = getattr(model.config, "model_type", "")
    if liger.supported(model_type):
        print(f"Liger Kernel: on ({model_type}: fused linear cross-entropy, RMSNorm, RoPE, SwiGLU)", flush=True)
        return True
    print(f"note: {liger.unsupported_note(model_type)}", flush=True)
    return False


def _resume_from(out: Path, resume: bool) -> Path | None:
    """The checkpoint a resume continues from (its later metrics rows dropped: those steps run again)."""
    from studio.train import resumable  # only a resume needs it

    if not resume:
        return None
    ckpt = resumable.checkpoint(out)  # one line naming a missing or damaged file, before the Trainer reads it
    runs.rewind_metrics(out, ckpt)
    return ckpt


def _split(cfg: TrainConfig, records: Sequence[dict], out: Path, resume: bool) -> dict[str, list[int]]:
    """The records to train on and to hold out: a resumed run's own split, else a new one."""
    usable = recipe.usable_indices(records)
    if resume and (out / runs.SPLIT_JSON).is_file():
        split = json.loads((out / runs.SPLIT_JSON).read_text(encoding="utf-8"))
    else:
        split = recipe.split_indices(usable, cfg.test_fraction, cfg.seed)
    if not split["train"]:
        raise TrainingError("Nothing left to train on after holding records out: lower the held-out fraction.")
    return split


def check_answers_fit(cfg: TrainConfig, records: Sequence[dict], token: str | None = None) -> None:
    """Refuse a new run (``TrainingError``, one line: ``recipe.nothing_kept``'s) whose training records, or held-out
    ones, keep no token of their answer within Max length, before its run folder is made: ``train --max-length 8``
    left a failed run behind. Stops at the first record of each side that keeps one (a record or two encoded, as a
    rule; a scratch run's tokenizer is learned for it, as ``base.load_base`` learns it again in the run). ``_encode``
    checks again with the loaded model's positions."""
    from studio.train import scratch

    split = recipe.split_indices(recipe.usable_indices(records), cfg.test_fraction, cfg.seed)
    limit = cfg.max_length
    if cfg.base == SCRATCH:
        tokenizer = scratch.train_tokenizer(scratch.corpus(records[i] for i in split["train"]), cfg.vocab_size)
    else:
        from studio.train.config import offline_remedy

        with offline_remedy():
            tokenizer = loading.load_tokenizer(cfg.base, token)
        try:  # where the base's positions end sooner, records are cut there (``_encode``)
            context = memory.shape_for_base(cfg.base, token=token).context
        except (StudioError, OSError, ValueError):
            context = 0
        limit = memory.record_limit(limit, context)

    def kept(indices: Sequence[int]) -> list[int]:  # the loss tokens up to the first record that keeps any
        found = []
        for i in indices:
            found.append(recipe.encode_records(tokenizer, records, [i], limit)[0].loss_tokens)
            if found[-1]:
                break
        return found

    refused = recipe.nothing_kept(kept(split["train"]), kept(split["test"]), limit, cfg.max_length)
    if refused:
        raise TrainingError(refused)


@dataclass
class Encoded:
    train: list  # recipe.encode_records' rows
    test: list
    limit: int  # tokens a record keeps: max_length, or less where the model's positions end sooner
    truncated: int  # records cut at the limit


def _encode(cfg: TrainConfig, base: Base, records: Sequence[dict], split: dict[str, list[int]]) -> Encoded:
    model = base.model
    limit = memory.record_limit(cfg.max_length, int(getattr(model.config, "n_positions", 0)
                                                    or getattr(model.config, "max_position_embeddings", 0) or 0))
    train_enc = recipe.encode_records(base.tokenizer, records, split["train"], limit)
    test_enc = recipe.encode_records(base.tokenizer, records, split["test"], limit)
    truncated = sum(e.truncated for e in train_enc + test_enc)
    if truncated:
        print(f"warning: {truncated} record(s) longer than {limit} tokens were truncated (they lose their answer's end)", flush=True)
    refused = recipe.nothing_kept([e.loss_tokens for e in train_enc], [e.loss_tokens for e in test_enc], limit,
                                  cfg.max_length)
    if refused:
        raise TrainingError(refused)
    answerless = sum(not e.loss_tokens for e in train_enc + test_enc)
    if answerless:
        print(f"warning: {recipe.answerless_line(answerless, limit)}", flush=True)
    return Encoded(train_enc, test_enc, limit, truncated)


def _trainer(cfg: TrainConfig, base: Base, data: Encoded, records: Sequence[dict], split: dict[str, list[int]],
             out: Path, device: str, on_progress: Callable[[dict], None] | None,
             use_liger: bool = False) -> tuple[Any, Any, Any]:
    """The Trainer (and the callback that writes metrics and follows the stop file), the model made ready for it."""
    hf_import.ready()
    from transformers import PrinterCallback, TrainingArguments

    model, tokenizer = base.model, base.tokenizer
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(inner, "loss_type", None) is None:  # the loss transformers picks anyway; named, it warns no more
        inner.loss_type = "ForCausalLM"
    mixed = loading.pick_dtype(device) if device == "cuda" else None
    # several processes: DDP need not look for unused parameters each step where none are (a model that routes none
    # and whose one-row forward reaches every trainable one, probed on this process's device, where the Trainer puts
    # it anyway); otherwise the Trainer's choice (look, unless gradient checkpointing is on)
    every = False
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        if getattr(model, "hf_device_map", None) is None and not getattr(model, "is_loaded_in_4bit", False):
            model.to(process_device(device))
        every = uses_every_parameter(model)
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,  # 0 is off, as -1 (the Trainer's 0 ran one step)
        weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps, lr_scheduler_type=cfg.lr_scheduler,
        gradient_accumulation_steps=cfg.grad_accum,
        eval_strategy="epoch" if (data.test and cfg.eval_per_epoch) else "no", prediction_loss_only=True,
        save_strategy="steps" if cfg.save_steps else "epoch", save_steps=cfg.save_steps or 500,
        save_total_limit=cfg.save_total_limit,
        logging_strategy="steps", logging_steps=cfg.logging_steps, logging_first_step=True,
        train_sampling_strategy="group_by_length", include_num_input_tokens_seen="no",  # StudioTrainer counts
        use_cpu=device == "cpu", **mixed_precision(device),
        logging_nan_inf_filter=_nan_filter(device, mixed),
        seed=cfg.seed, data_seed=cfg.seed, report_to="none", disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0, optim=_optimizer(cfg, device),
        neftune_noise_alpha=cfg.neftune_alpha or None,
        use_liger_kernel=use_liger,  # the Trainer patches the model (a PEFT model's base) as training starts
        ddp_find_unused_parameters=False if every else None,
    )
    model.config.use_cache = False  # no key/value cache is built in training forwards
    if cfg.gradient_checkpointing and cfg.method != "qlora":  # QLoRA's preparation already turned it on
        model.gradient_checkpointing_enable()
        if cfg.method == "lora":
            model.enable_input_require_grads()  # checkpointed frozen layers must still pass gradients to adapters
        model.config.use_cache = False
    packed = packs(device) and not cfg.neftune_alpha  # NEFTune scales its noise by the row's length: keep rows per record
    attn = None  # the attention implementation packed rows replace (studio.train.packing), put back after training
    if packed:
        if getattr(model, "hf_device_map", None) is None and not getattr(model, "is_loaded_in_4bit", False):
            # where the Trainer puts it anyway (each process of a multi-GPU run on its own GPU); the check runs there
            model.to(process_device(device))
        attn = packing.prepare(model, autocast=mixed)  # under the autocast training uses: the same attention path
        packed = attn is not None
        if not packed:
            print(f"note: packed rows do not work for {cfg.base} here (its records' attention mixes, or the attention "
                  "kernel failed): training on padded batches", flush=True)
    collator = packing.VarlenCollator() if packed else recipe.Collator(tokenizer.pad_token_id)
    callback = callbacks.make(out, on_progress, eval_batches=-(-len(data.test) // cfg.batch_size) if data.test else 0)
    extra = []
    sampler = None
    if cfg.batch_tokens:  # lengths before word dropout (which only shortens questions): the budget holds
        sampler = batches.TokenBudgetSampler([len(e.input_ids) for e in data.train], cfg.batch_tokens, packed=packed,
                                             seed=cfg.seed)
        extra.append(batches.epoch_callback(sampler))
    trainer = _trainer_class()(
        model=model, args=args, train_dataset=recipe.Reworded(
            tokenizer, [records[i] for i in split["train"]], data.limit, cfg.question_dropout, cfg.seed)
        if cfg.question_dropout else recipe.features(data.train),
        eval_dataset=recipe.features(data.test) if data.test else None,
        data_collator=collator, processing_class=tokenizer, callbacks=[callback, *extra],
    )
    trainer.token_batches = sampler
    trainer.remove_callback(PrinterCallback)  # our callback prints one readable line per log step
    return trainer, callback, attn


def _fit(trainer: Any, callback: Any, attn: Any, ckpt: Path | None, cfg: TrainConfig, base: Base, out: Path, device: str,
         use_cache: bool | None) -> str:
    """Run the Trainer; a finished run saves its model and tokenizer to ``model/``. Returns "finished" or
    "stopped"; running out of memory or disk is one line saying what to change."""
    import torch

    model = base.model
    threads = torch.get_num_threads()
    if device == "cpu" and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS:
        torch.set_num_threads(1)
    try:
        try:
            trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        except callbacks.StopBeforeFirstStep:
            pass  # nothing of this session trained: a resumed run keeps its checkpoint, a new one has none
        except callbacks.AllStepsDone:
            pass  # a resume of a checkpoint at the run's last step: nothing to train, its model is the run's
        state = "stopped" if callback.stopped else "finished"
        if state == "finished":
            jobs.update_status(out, message="saving the model")
            if use_cache is not None:
                model.config.use_cache = use_cache
            trainer.save_model(str(out / "model"))
            base.tokenizer.save_pretrained(out / "model")
    except torch.OutOfMemoryError:
        raise TrainingError(
            f"Out of memory on {device}: lower {_batch_words(cfg)} or max length (now {cfg.max_length}), "
            "turn on gradient checkpointing, or pick a smaller base; then resume or start again."
        ) from None
    except MemoryError:
        raise TrainingError(
            f"Out of memory (RAM): lower {_batch_words(cfg)} or max length, or pick a smaller base."
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
            packing.restore(base.model, attn)
    return state


def _batch_words(cfg: TrainConfig) -> str:
    """What sizes a step, as a remedy names it: the token budget when set, else the batch size."""
    return f"tokens per step (now {cfg.batch_tokens})" if cfg.batch_tokens else f"the batch size (now {cfg.batch_size})"


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
        if first_process():  # one session however many processes train it: 2 CPU processes said "resumed 3 times"
            runs.add_training_time(out, time.time() - t0)
    if not first_process():  # the first process says how the run ended, from the time it kept
        return result
    # The run's average, said as such: the live figure was the last logging interval's (about 3x the average)
    average = f" · {result.tokens_per_s:,.0f} tokens/s on average" if result.tokens_per_s else ""
    if result.state == "finished":
        msg = f"finished: {plural(result.steps, 'step')} in {runs.time_note(out)}{average}"
    elif runs.last_checkpoint(out) is None:
        msg = "stopped before its first step: nothing was trained; start a new run"
    else:
        msg = f"stopped at step {result.steps}: resume from its checkpoint{average}"
    jobs.update_status(out, state=result.state, progress=1.0 if result.state == "finished" else jobs.read_status(out).progress,
                       eta_s=0 if result.state == "finished" else None, message=msg,
                       tokens_per_s=round(result.tokens_per_s, 1) if result.tokens_per_s else None)
    jobs.clear_stop(out)
    return result

