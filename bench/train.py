"""The studio's training recipe against the tutorial's, on the same model, data and machine, in one run.

    python bench/train.py                      # CPU: a 4-layer, 128-wide GPT-2 built from config
    python bench/train.py --shape distilgpt2   # distilgpt2's shape (6 layers, 768 wide, 50257 vocab), for a GPU
    python bench/train.py --epochs 3 --records 158 --lr 1e-3
    python bench/train.py --against trl --method lora   # the bundled SmolLM2-135M-Instruct, studio vs TRL's SFTTrainer
    python bench/train.py --shape distilgpt2 --batch-tokens 4096   # the studio's batches filled to 4,096 tokens a step
    python bench/train.py --shape smollm2 --liger   # SmolLM2-135M's shape (Llama), the studio's run again with Liger Kernel

The tutorial's recipe: every record padded to 512 tokens, ``labels = input_ids`` (padding, which is
EOS, carries loss), a plain Trainer. The studio's: answer-only labels with the EOS learned, dynamic
padding, length-grouped batches (``studio.train.loop.train``). Both start from the same initial weights,
see the same records in the same training format for the same epochs, batch size and learning rate.

Reported: non-padding tokens per second of training (target: studio >= 5x tutorial) and the held-out
loss of both final models measured the same way (mean cross-entropy over the held-out answers'
tokens and their EOS; target: studio no worse), and each recipe's optimizer steps. The studio's time is
its training steps'; its checkpoint saves (one per epoch, what Stop and resume need), which neither
baseline makes, are timed apart and printed beside it (``saves``, ``save_s``), not counted.

``--batch-tokens N``: the studio's batches are filled to N tokens a step (``TrainConfig.batch_tokens``;
padded: records x longest, packed rows with ``STUDIO_PACKED_BATCHES=1`` on CUDA: real tokens) instead of
``--batch-size`` records; the tutorial's recipe is unchanged. Fewer, fuller steps: tokens/s rises where a
step's fixed cost dominates (a GPU), while the same epochs make fewer optimizer updates, which the
held-out loss shows. N is at least 512 (the max length both recipes use).

``--against trl`` compares the studio's recipe with TRL's ``SFTTrainer`` instead, on the bundled
SmolLM2-135M-Instruct (a real pretrained model): the same records as prompt-completion chat turns
(completion-only loss, padding-free batches), the same method (full or LoRA with the same rank,
alpha, dropout and target layers), epochs, batch size, learning rate, schedule and weight decay.
Target: studio >= 1.0x TRL's non-padding tokens/s with an equal or lower held-out loss. TRL is a
benchmark dependency only (requirements-dev.txt): the engine does not import it.

``--liger``: after the other rows, the studio's run once more with Liger Kernel (``TrainConfig.liger``), in the
same process against the same tutorial baseline: tokens/s, peak GPU memory allocated and held-out loss beside
the run without it. It needs CUDA and liger-kernel (on a CPU the row says "skipped: needs CUDA") and an
architecture Liger covers: ``--shape smollm2`` (SmolLM2-135M's Llama shape) or ``llama-tiny`` (to check the
script on a CPU); GPT-2 has no Liger kernels. Its row runs last, as Liger's RoPE and norm patches last for the
process. With ``--liger`` the exit status says whether every row ran (the Liger row skipped without CUDA
counts), not whether the tutorial targets were met (still printed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config  # noqa: E402
from studio.models import prompt_format
from studio.train import loop as train  # noqa: E402
from studio.train import recipe, runs, scratch

SHAPES = {
    "small": {"n_layer": 4, "n_embd": 128, "n_head": 4, "vocab": None},  # the scratch preset's; vocab: the tokenizer's
    "distilgpt2": {"n_layer": 6, "n_embd": 768, "n_head": 12, "vocab": 50257},
    # Llama shapes (what Liger Kernel has kernels for): SmolLM2-135M's sizes, and a tiny one for a CPU
    "smollm2": {"n_layer": 30, "n_embd": 576, "n_head": 9, "kv_heads": 3, "inner": 1536, "vocab": 49152, "arch": "llama"},
    "llama-tiny": {"n_layer": 2, "n_embd": 64, "n_head": 4, "kv_heads": 2, "inner": 128, "vocab": None, "arch": "llama"},
}


def build_base(folder: Path, records: list[dict], shape: str, seed: int) -> tuple[Path, object]:
    """A randomly initialised GPT-2 (or Llama) of the given shape and a BPE tokenizer, saved like a Hub model."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tok = scratch.train_tokenizer(scratch.corpus(records), vocab_size=2000)
    s = SHAPES[shape]
    torch.manual_seed(seed)
    if s.get("arch") == "llama":
        cfg = LlamaConfig(vocab_size=s["vocab"] or len(tok), hidden_size=s["n_embd"], intermediate_size=s["inner"],
                          num_hidden_layers=s["n_layer"], num_attention_heads=s["n_head"],
                          num_key_value_heads=s["kv_heads"], max_position_embeddings=1024, tie_word_embeddings=True,
                          bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        LlamaForCausalLM(cfg).save_pretrained(folder)
    else:
        cfg = GPT2Config(vocab_size=s["vocab"] or len(tok), n_positions=1024, n_embd=s["n_embd"], n_layer=s["n_layer"],
                         n_head=s["n_head"], bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
        GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, tok


def tutorial_run(base: Path, tok, records: list[dict], split: dict, cfg: train.TrainConfig, device: str) -> dict:
    """The tutorial's recipe: pad to 512, labels = input_ids, default collator."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, default_data_collator

    feats, real = [], 0
    for i in split["train"]:
        text = prompt_format.prompt(records[i]["question"]) + prompt_format.completion(records[i]["answer"]) + tok.eos_token
        enc = tok(text, padding="max_length", max_length=512, truncation=True)
        real += sum(enc["attention_mask"])
        feats.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": list(enc["input_ids"])})
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
            num_train_epochs=cfg.epochs, weight_decay=cfg.weight_decay, save_strategy="no", eval_strategy="no",
            report_to="none", disable_tqdm=True, logging_strategy="no", seed=cfg.seed, use_cpu=device == "cpu",
            **train.mixed_precision(device),  # bf16 as the studio run has it
        )
        trainer = Trainer(model=model, args=args, train_dataset=feats, data_collator=default_data_collator)
        threads = torch.get_num_threads()
        _reset_peak(device)
        if device == "cpu" and sum(p.numel() for p in model.parameters()) < train.SMALL_MODEL_PARAMS:
            torch.set_num_threads(1)  # the same thread policy as studio.train.loop, so only the recipe differs
        t0 = time.time()
        trainer.train()
        torch.set_num_threads(threads)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.time() - t0
    return {"model": trainer.model, "seconds": seconds, "peak_gib": _peak_gib(device), "tokens": real * math.ceil(cfg.epochs),
            "padded_tokens": 512 * len(feats) * math.ceil(cfg.epochs), "steps": trainer.state.global_step}


def _reset_peak(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    """The most memory torch allocated on the GPU since ``_reset_peak`` (None on a CPU)."""
    if device != "cuda":
        return None
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 3)


def timed_studio_train(cfg: train.TrainConfig, records: list[dict], out: Path) -> dict:
    """The studio's recipe (``studio.train.loop.train``), timed over its training steps: its checkpoint saves (one
    per epoch, for Stop and resume), which neither baseline makes (``save_strategy="no"``), are timed apart."""
    from transformers import Trainer

    saves: list[float] = []
    plain = Trainer._save_checkpoint

    def timed(self, *args, **kwargs):
        t0 = time.time()
        try:
            return plain(self, *args, **kwargs)
        finally:
            saves.append(time.time() - t0)

    Trainer._save_checkpoint = timed  # the studio's trainer saves through it (loop.StudioTrainer)
    try:
        done = train.train(cfg, records, out, dataset={"name": "bench"})
    finally:
        Trainer._save_checkpoint = plain
    step_s = runs.step_time(out)  # the run's time in training steps: its saves left out (studio.train.callbacks)
    return {"seconds": step_s, "tokens": round((done.tokens_per_s or 0.0) * step_s), "steps": done.steps,
            "save_s": sum(saves), "saves": len(saves)}


def studio_run(base: Path, records: list[dict], split: dict, cfg: train.TrainConfig, out: Path) -> dict:
    from transformers import AutoModelForCausalLM

    from studio.models import loading

    device = loading.pick_device()
    _reset_peak(device)
    timing = timed_studio_train(cfg.replace(base=str(base)), records, out)
    peak = _peak_gib(device)
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    assert json.loads((out / "split.json").read_text()) == split
    return {"model": model, "peak_gib": peak, **timing}


def heldout_loss(model, tok, records: list[dict], indices: list[int], device: str) -> float:
    """Token-weighted cross-entropy of the held-out answers (and their EOS) given their prompts."""
    import torch

    model.to(device).eval()
    enc = recipe.encode_records(tok, records, indices, 512)
    batch = {k: v.to(device) for k, v in recipe.Collator(tok.pad_token_id)(recipe.features(enc)).items()}
    with torch.inference_mode():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                             batch["labels"][:, 1:].reshape(-1), ignore_index=recipe.IGNORE)
    return float(loss)


def bundled_base(folder: Path) -> Path:
    """The bundled SmolLM2-135M-Instruct as a plain model folder (dequantized once, as the studio does)."""
    from studio.models import loading

    ref = loading.materialize(loading.resolve("HuggingFaceTB/SmolLM2-135M-Instruct"))
    return Path(ref.source)


def trl_run(base: Path, records: list[dict], split: dict, cfg: train.TrainConfig, device: str) -> dict:
    """TRL's SFTTrainer with the studio run's settings: prompt-completion turns, completion-only loss, padding-free."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(base)
    rows = [{"prompt": [{"role": "user", "content": records[i]["question"].strip()}],
             "completion": [{"role": "assistant", "content": records[i]["answer"].strip()}]} for i in split["train"]]
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="sdpa")
    peft_config = None
    if cfg.method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(
            output_dir=tmp, learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
            num_train_epochs=cfg.epochs, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps,
            lr_scheduler_type=cfg.lr_scheduler, save_strategy="no", eval_strategy="no", report_to="none",
            disable_tqdm=True, logging_strategy="no", seed=cfg.seed, data_seed=cfg.seed, use_cpu=device == "cpu",
            **train.mixed_precision(device),  # bf16 as the studio run has it
            max_length=None,  # padding-free batches are not cut; no sample record comes near cfg.max_length (512)
            gradient_checkpointing=cfg.gradient_checkpointing,  # TRL turns it on by default; the studio run has it off
            completion_only_loss=True, padding_free=True, dataloader_num_workers=0,
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                             peft_config=peft_config)
        real = sum(len(x) for x in trainer.train_dataset["input_ids"])
        t0 = time.time()
        trainer.train()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.time() - t0
        trained = trainer.model.merge_and_unload() if cfg.method == "lora" else trainer.model
    return {"model": trained, "seconds": seconds, "tokens": real * math.ceil(cfg.epochs)}


def against_trl(args: argparse.Namespace, device: str) -> int:
    from transformers import AutoTokenizer

    from studio.models import loading

    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[: args.records]
    cfg = train.TrainConfig(base="bench", method=args.method, learning_rate=args.lr, batch_size=args.batch_size,
                            epochs=args.epochs, test_fraction=0.15, logging_steps=1, eval_per_epoch=False,
                            save_total_limit=1)
    split = recipe.split_indices(recipe.usable_indices(records), cfg.test_fraction, cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["STUDIO_HOME"] = tmp  # the dequantized bundled model and the run stay in the temporary folder
        base = bundled_base(Path(tmp))
        tok = AutoTokenizer.from_pretrained(base)
        trl = trl_run(base, records, split, cfg, device)
        trl_loss = heldout_loss(trl.pop("model"), tok, records, split["test"], device)
        out = Path(tmp) / "run"
        stu = timed_studio_train(cfg.replace(base=str(base)), records, out)
        stu_loss = heldout_loss(loading.load_causal_lm(str(out), device=device).model, tok, records, split["test"], device)
    trl_tps, stu_tps = trl["tokens"] / trl["seconds"], stu["tokens"] / stu["seconds"]
    result = {"device": device, "base": "SmolLM2-135M-Instruct (bundled)", "method": args.method,
              "records": len(records), "train": len(split["train"]), "test": len(split["test"]), "epochs": args.epochs,
              "learning_rate": args.lr,
              "trl": {"seconds": round(trl["seconds"], 1), "non_padding_tokens": trl["tokens"],
                      "tokens_per_s": round(trl_tps, 1), "heldout_loss": round(trl_loss, 4)},
              "studio": {"seconds": round(stu["seconds"], 1), "non_padding_tokens": stu["tokens"],
                         "tokens_per_s": round(stu_tps, 1), "heldout_loss": round(stu_loss, 4),
                         "saves": stu["saves"], "save_s": round(stu["save_s"], 2)},
              "ratio": round(stu_tps / trl_tps, 2)}
    print(json.dumps(result, indent=1))
    ok = stu_tps >= trl_tps and stu_loss <= trl_loss + 1e-4
    print(f"studio recipe ({args.method}): {result['ratio']}x TRL SFTTrainer's non-padding tokens/s (target >= 1.0x); "
          f"held-out answer loss {stu_loss:.3f} vs {trl_loss:.3f} (target: equal or lower) -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", choices=["tutorial", "trl"], default="tutorial",
                    help="the baseline: the tutorial's recipe (default) or TRL's SFTTrainer on the bundled model")
    ap.add_argument("--method", choices=["full", "lora"], default="lora", help="--against trl: full or LoRA")
    ap.add_argument("--shape", choices=list(SHAPES), default="small")
    ap.add_argument("--records", type=int, default=158, help="records of the sample dataset to use")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--lr", type=float, help="both recipes (default 1e-3: a random model needs more than 3e-5; "
                                               "--against trl: 1e-4 full, 1e-3 LoRA)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--batch-tokens", default="0",
                    help="the studio recipe's batches filled to this many tokens a step (0: --batch-size records); "
                         "several, comma-separated (1024,16384), train one studio run each against one tutorial run")
    ap.add_argument("--liger", action="store_true",
                    help="one more studio run with Liger Kernel (CUDA, liger-kernel; a Llama shape: smollm2 or llama-tiny)")
    ap.add_argument("--check", action="store_true",
                    help="check the script (bench/gpu.sh --cpu-smoke): exit 0 once every row is measured, whatever the "
                         "verdict (a loaded CPU's speed ratio is no measurement: 4.99x failed the 5x target there)")
    args = ap.parse_args()
    try:
        budgets = [int(x) for x in str(args.batch_tokens).split(",")]
    except ValueError:
        ap.error(f"--batch-tokens takes whole numbers, comma-separated, not {args.batch_tokens!r}")
    if any(budgets) and (args.against == "trl" or any(0 < b < 512 for b in budgets)):
        ap.error("--batch-tokens is 0 or at least 512 (the max length), for the tutorial comparison")
    if args.liger and (args.against == "trl" or SHAPES[args.shape].get("arch") != "llama"):
        ap.error("--liger needs a shape Liger Kernel has kernels for (--shape smollm2 or llama-tiny; GPT-2 has none), "
                 "against the tutorial")

    from studio.models import loading as models

    device = models.pick_device()
    if args.against == "trl":
        args.lr = args.lr or (1e-3 if args.method == "lora" else 1e-4)
        return against_trl(args, device)
    args.lr = args.lr or 1e-3
    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[: args.records]
    cfg = train.TrainConfig(base="bench", learning_rate=args.lr, batch_size=args.batch_size, epochs=args.epochs,
                            test_fraction=0.15, logging_steps=1, eval_per_epoch=False, save_total_limit=1)
    split = recipe.split_indices(recipe.usable_indices(records), cfg.test_fraction, cfg.seed)
    studio = []
    with tempfile.TemporaryDirectory() as tmp:
        base, tok = build_base(Path(tmp) / "base", [records[i] for i in split["train"]], args.shape, cfg.seed)
        tut = tutorial_run(base, tok, records, split, cfg, device)
        tut_loss = heldout_loss(tut.pop("model"), tok, records, split["test"], device)
        tut_tps = tut["tokens"] / tut["seconds"]
        # Each row as soon as it is measured: a run cut short by a time limit (bench/gpu.sh) keeps the rows done
        print(f"tutorial recipe: {tut_tps:,.1f} non-padding tokens/s, held-out answer loss {tut_loss:.3f}, "
              f"{tut['steps']} steps", flush=True)
        for budget in budgets:  # the tutorial's recipe has no budget: only the studio's batches change
            stu = studio_run(base, records, split, cfg.replace(batch_tokens=budget), Path(tmp) / f"run-{budget}")
            stu_loss = heldout_loss(stu.pop("model"), tok, records, split["test"], device)
            row = {"batch_tokens": budget or None, "seconds": round(stu["seconds"], 1),
                   "non_padding_tokens": stu["tokens"], "tokens_per_s": round(stu["tokens"] / stu["seconds"], 1),
                   "heldout_loss": round(stu_loss, 4), "steps": stu["steps"], "peak_gib": stu["peak_gib"],
                   "saves": stu["saves"], "save_s": round(stu["save_s"], 2)}
            row["speedup"] = round(row["tokens_per_s"] / tut_tps, 2)
            studio.append(row)
            print(verdict_line(row, tut_loss, tut["steps"]), flush=True)
        kernels = liger_row(args, base, tok, records, split, cfg.replace(batch_tokens=budgets[0]), device, Path(tmp))
    result = {
        "device": device, "shape": args.shape, "records": len(records), "train": len(split["train"]),
        "test": len(split["test"]), "epochs": args.epochs, "batch_size": args.batch_size,
        "tutorial": {"seconds": round(tut["seconds"], 1), "non_padding_tokens": tut["tokens"],
                     "padded_tokens": tut["padded_tokens"], "tokens_per_s": round(tut_tps, 1), "heldout_loss": round(tut_loss, 4),
                     "steps": tut["steps"], "peak_gib": tut["peak_gib"]},
        "studio": studio[0] if len(studio) == 1 else studio,
        "speedup": studio[0]["speedup"],
        **({"liger": kernels} if args.liger else {}),
    }
    print(json.dumps(result, indent=1))
    if args.liger:
        return liger_verdict(kernels, studio[0])
    if args.check:
        return 0
    return 0 if any(_passes(row, tut_loss) for row in studio) else 1  # several budgets: whether one meets both targets


def _passes(row: dict, tut_loss: float) -> bool:
    return row["speedup"] >= 5 and row["heldout_loss"] <= round(tut_loss, 4)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def verdict_line(row: dict, tut_loss: float, tut_steps: int) -> str:
    """One studio row against the tutorial's: tokens/s ratio, held-out loss, steps, PASS or FAIL."""
    budget = f", {row['batch_tokens']} tokens a step" if row["batch_tokens"] else ""
    return (f"studio recipe{budget}: {row['speedup']}x the tutorial's non-padding tokens/s (target >= 5x); held-out "
            f"answer loss {row['heldout_loss']:.3f} vs {tut_loss:.3f} (target: no worse); {row['steps']} steps vs "
            f"{tut_steps}; its {plural(row['saves'], 'checkpoint save')} ({row['save_s']:.1f} s) not counted, as the "
            f"tutorial makes none -> {'PASS' if _passes(row, tut_loss) else 'FAIL'}")


def liger_row(args: argparse.Namespace, base: Path, tok, records: list[dict], split: dict, cfg: train.TrainConfig,
              device: str, tmp: Path) -> dict | str | None:
    """The studio's run (the first budget's) once more with Liger Kernel; a reason string where it cannot run."""
    if not args.liger:
        return None
    from studio.train import liger

    if device != "cuda":
        return "skipped: needs CUDA"
    why = liger.problem(device)
    if why:
        return f"not run: {why}"
    stu = studio_run(base, records, split, cfg.replace(liger=True), tmp / "run-liger")
    loss = heldout_loss(stu.pop("model"), tok, records, split["test"], device)
    return {"seconds": round(stu["seconds"], 1), "non_padding_tokens": stu["tokens"],
            "tokens_per_s": round(stu["tokens"] / stu["seconds"], 1), "heldout_loss": round(loss, 4),
            "steps": stu["steps"], "peak_gib": stu["peak_gib"]}


def liger_verdict(row: dict | str | None, plain: dict) -> int:
    """One line: Liger Kernel's run against the same studio run without it; 0 when it ran or was skipped for want
    of CUDA, 1 when it could not run on a GPU (liger-kernel missing) or its loss is not a number."""
    if isinstance(row, str):
        print(f"Liger Kernel: {row}")
        return 0 if row.startswith("skipped") else 1
    peak = (f"peak {row['peak_gib']:.2f} vs {plain['peak_gib']:.2f} GiB allocated "
            f"({row['peak_gib'] / plain['peak_gib']:.2f}x)" if row["peak_gib"] and plain["peak_gib"] else "peak: no CUDA")
    print(f"Liger Kernel: {row['tokens_per_s']:,.0f} tokens/s vs {plain['tokens_per_s']:,.0f} without "
          f"({row['tokens_per_s'] / plain['tokens_per_s']:.2f}x); {peak}; held-out answer loss "
          f"{row['heldout_loss']:.3f} vs {plain['heldout_loss']:.3f}; {row['steps']} steps each")
    return 0 if math.isfinite(row["heldout_loss"]) else 1


if __name__ == "__main__":
    sys.exit(main())
