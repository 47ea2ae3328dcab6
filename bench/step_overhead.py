"""What does the studio add to each training step over a bare Trainer? Measured in one process.

    python bench/step_overhead.py                # CPU: a 1-layer, 16-wide GPT-2, 150 steps x 2 rounds
    python bench/step_overhead.py --steps 400 --rounds 3
    python bench/step_overhead.py --cuda         # the same on a GPU

The model is made so small that a step is almost all host-side work (the Trainer's and the studio's).
Both runs train the same model on the same records with the same TrainingArguments, the same collator
(``recipe.Collator``) and the same logging interval:
  bare    ``transformers.Trainer`` with its default callbacks
  studio  ``studio.train.loop.train``: its Trainer subclass (the token count kept on the device), its
          callback (status file, stop file, metrics.jsonl, the progress line) and everything around it
Each row: the median wall milliseconds per step (steps after the 10th, so the first steps' warm-up is left
out; medians, since a shared machine's load comes in bursts), rounds interleaved bare/studio. Printed: the
studio's ms per step over the bare Trainer's (the ratio; 1.00 = no overhead) and the difference in ms.
On a GPU with a real model a step takes milliseconds too, so what the studio adds per step is what it
costs there; on this CPU it is a share of a small model's step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config  # noqa: E402
from studio.train import loop, recipe, scratch  # noqa: E402


def build(folder: Path, records: list[dict]) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = scratch.train_tokenizer(scratch.corpus(records), vocab_size=300)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=512, n_embd=16, n_layer=1, n_head=2,
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def median_ms(ends: list[float]) -> float:
    gaps = [b - a for a, b in zip(ends[10:], ends[11:])]
    return 1000 * statistics.median(gaps)


def bare(base: Path, records: list[dict], cfg: loop.TrainConfig, device: str) -> float:
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(base)
    enc = recipe.encode_records(tok, records, range(len(records)), cfg.max_length)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
            max_steps=cfg.max_steps, save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
            logging_strategy="steps", logging_steps=cfg.logging_steps, seed=cfg.seed, use_cpu=device == "cpu",
            train_sampling_strategy="group_by_length", remove_unused_columns=False, dataloader_num_workers=0,
            optim="adamw_torch_fused" if device == "cuda" else "adamw_torch",
            **loop.mixed_precision(device))  # bf16 as the studio run has it
        trainer = Trainer(model=model, args=args, train_dataset=recipe.features(enc),
                          data_collator=recipe.Collator(tok.pad_token_id), callbacks=[Clock()])
        trainer.remove_callback(PrinterCallback)  # as the studio does: no dict printed per log step
        trainer.train()
    return median_ms(ends)


def studio(base: Path, records: list[dict], cfg: loop.TrainConfig, out: Path) -> tuple[float, float, float, float]:
    """(median ms per step; wall and CPU ms per step the training thread spent in the studio's callback;
    the 99th percentile of one callback call, ms: the steps that wrote a file wait for the disk)."""
    ends: list[float] = []
    spent = [0.0, 0.0]
    calls: list[float] = []
    make = _callback_factory()
    if make is not None:
        def timed(folder, on_progress, **options):
            cb = make(folder, on_progress, **options)
            for name in ("on_step_end", "on_log"):
                inner = getattr(cb, name)

                def wrapper(*a, _inner=inner, **kw):
                    t, c = time.perf_counter(), time.thread_time()
                    try:
                        return _inner(*a, **kw)
                    finally:
                        dt = time.perf_counter() - t
                        spent[0] += dt  # wall: includes waiting on the disk (fsync)
                        spent[1] += time.thread_time() - c  # CPU: without the machine's other load
                        calls.append(dt)
                setattr(cb, name, wrapper)
            return cb
        _set_callback_factory(timed)
    try:
        loop.train(cfg.replace(base=str(base)), records, out, dataset={"name": "bench"},
                   on_progress=lambda fields: ends.append(time.perf_counter()))
    finally:
        if make is not None:
            _set_callback_factory(make)
    n = max(1, len(ends))
    p99 = sorted(calls)[int(0.99 * (len(calls) - 1))] if calls else 0.0
    return median_ms(ends), 1000 * spent[0] / n, 1000 * spent[1] / n, 1000 * p99


def _callback_factory():
    """The studio's callback factory, where this version of the studio has it (callbacks.make, or loop's own)."""
    try:
        from studio.train import callbacks
        return callbacks.make
    except ImportError:
        return getattr(loop, "_callback", None)


def _set_callback_factory(make) -> None:
    try:
        from studio.train import callbacks
        callbacks.make = make
    except ImportError:
        loop._callback = make


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--logging-steps", type=int, default=10)
    ap.add_argument("--cuda", action="store_true", help="train on the GPU (default: CPU)")
    args = ap.parse_args()
    import torch

    device = "cuda" if args.cuda else "cpu"
    if args.cuda and not torch.cuda.is_available():
        print("error: no CUDA GPU here: run without --cuda", file=sys.stderr)
        return 2
    if not args.cuda:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the studio picks its device itself
    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))
    cfg = loop.TrainConfig(base="scratch", learning_rate=1e-3, batch_size=8, max_steps=args.steps, test_fraction=0.0,
                           logging_steps=args.logging_steps, save_steps=100_000, eval_per_epoch=False, max_length=256)
    rows: dict[str, list[float]] = {"bare": [], "studio": [], "callback": [], "callback_cpu": [], "p99": []}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STUDIO_HOME"] = str(Path(tmp) / "home")
        base = build(Path(tmp) / "base", records)
        torch.set_num_threads(1)  # the studio's policy for small models; both runs the same
        for r in range(args.rounds):
            rows["bare"].append(bare(base, records, cfg, device))
            ms, wall, cpu, p99 = studio(base, records, cfg, Path(tmp) / f"run{r}")
            rows["p99"].append(p99)
            rows["studio"].append(ms)
            rows["callback"].append(wall)
            rows["callback_cpu"].append(cpu)
            print(f"round {r + 1}: bare {rows['bare'][-1]:.2f} ms/step, studio {ms:.2f} ms/step "
                  f"(its callback {wall:.3f} ms/step, {cpu:.3f} CPU ms, p99 of a call {p99:.2f} ms)", flush=True)
    b, s = statistics.median(rows["bare"]), statistics.median(rows["studio"])
    print(f"{args.steps} steps x {args.rounds} rounds on {device}, logging every {args.logging_steps} steps "
          f"(a shared, busy machine: the ratio is what counts)")
    print(f"bare Trainer {b:.2f} ms/step, studio {s:.2f} ms/step: ratio {s / b:.3f}, overhead {s - b:+.2f} ms/step; "
          f"the studio's callback {statistics.median(rows['callback']):.3f} ms/step in the training thread "
          f"({statistics.median(rows['callback_cpu']):.3f} CPU ms; p99 of a call {statistics.median(rows['p99']):.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
