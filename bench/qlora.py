"""QLoRA against LoRA on a model of Phi-3.5-mini's shape (3.8B parameters, random weights): training
tokens/s and peak GPU memory, through the studio's own training loop, each method in a fresh process.

    python bench/qlora.py                  # CUDA: Phi-3.5-mini's configuration, 20 steps of each method
    python bench/qlora.py --shape tiny     # any machine: a 2-layer model of the same family (checks the script)
    python bench/qlora.py --liger --methods lora   # LoRA with and without Liger Kernel (CUDA, liger-kernel)

LoRA keeps the frozen base in bf16 on CUDA (float32 before issue 26) and computes in bf16 (autocast),
with fused AdamW; QLoRA keeps it in 4-bit NF4 with double quantization, bf16 compute, paged AdamW and
gradient checkpointing. Both train rank-16 adapters on every linear layer, batch 4 (``--batch-size``) or
batches filled to a token budget (``--batch-tokens``; ``--checkpointing`` checkpoints LoRA too),
the studio's default batches (padded; packed rows with STUDIO_PACKED_BATCHES=1), on the sample dataset's records. Reported per method:
non-padding tokens/s over the steps after the first (which pays for CUDA's warm-up), and the peak
memory torch allocated, beside the Train page's memory estimate for the same run (its largest batch; issue 26
wants it within 30% of the peak). QLoRA needs CUDA: without it, that row says so and LoRA runs alone.

``--liger``: each method once more with Liger Kernel (``TrainConfig.liger``; Phi-3 is among the architectures
it covers), in its own process too, and the ratios against the same method without it (tokens/s, peak memory,
final loss). Without CUDA those rows say "skipped: needs CUDA". ``--methods lora`` (or qlora) runs one method.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat import PHI35, build  # noqa: E402  (Phi-3.5-mini's config.json and the random-model builder)

from studio import config  # noqa: E402

TINY = {**PHI35, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4}


def one(method: str, base: str, home: str, steps: int, batch_size: int = 4, batch_tokens: int = 0,
        checkpointing: bool = False, liger: bool = False) -> dict:
    """Train ``steps`` steps of ``method`` (in its own process, so the peak is its own)."""
    import os

    os.environ["STUDIO_HOME"] = home
    import torch

    from studio.errors import StudioError
    from studio.train import loop as train
    from studio.train import runs

    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))
    cfg = train.TrainConfig(base=base, method=method, learning_rate=2e-4, batch_size=batch_size, max_steps=steps,
                            batch_tokens=batch_tokens, test_fraction=0.0, logging_steps=1, save_steps=10_000,
                            max_length=256, gradient_checkpointing=checkpointing or method == "qlora", liger=liger)
    folder = runs.run_dir(runs.new_run_id(f"bench-{method}"))
    try:
        train.run_job(cfg, records, folder, dataset={"name": "sample"})
    except StudioError as exc:
        return {"method": method, "error": str(exc)}
    rows = [r for r in runs.read_metrics(folder) if "loss" in r]
    later = [r for r in rows if r["step"] > 1]
    seconds = later[-1]["elapsed_s"] - rows[0]["elapsed_s"] if len(later) > 1 else None
    tokens = later[-1]["tokens_seen"] - rows[0]["tokens_seen"] if len(later) > 1 else None
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    reserved = torch.cuda.max_memory_reserved() if torch.cuda.is_available() else None
    est = page_estimate(cfg, records)
    return {"method": method, "steps": rows[-1]["step"] if rows else 0,
            "tokens_per_s": tokens / seconds if seconds else None, "peak_gib": peak / 2**30 if peak else None,
            "reserved_gib": reserved / 2**30 if reserved else None, "estimate_gib": est.total / 2**30,
            "estimate_core_gib": (est.total - est.runtime - est.slack) / 2**30,
            "final_loss": rows[-1]["loss"] if rows else None}


def page_estimate(cfg, records: list[dict]):
    """The Train page's memory estimate for this run (``studio.ui.train.memory_check``): the largest batch the
    records' token lengths make, the method, checkpointing and Liger Kernel as this machine applies them."""
    from studio.models import loading
    from studio.train import memory

    tok = loading.load_tokenizer(cfg.base)
    return memory.for_run(cfg, memory.train_lengths(tok, records, cfg)).estimate


def estimate_line(r: dict) -> str:
    """The Train page's estimate against the measured peak (issue 26: within 30%). The estimate's total holds a
    1 GiB runtime and 10% slack for the CUDA context and the allocator's reserve, so it is set against the peak
    torch reserved; its weights, optimizer state and activations alone against the peak allocated."""
    line = f"memory estimate {r['estimate_gib']:.2f} GiB (weights + optimizer + activations {r['estimate_core_gib']:.2f})"
    if not r.get("peak_gib"):
        return line + "; no CUDA peak to set it against"
    return (line + f": {r['estimate_gib'] / r['reserved_gib']:.2f}x the peak reserved ({r['reserved_gib']:.2f} GiB), "
            f"core {r['estimate_core_gib'] / r['peak_gib']:.2f}x the peak allocated ({r['peak_gib']:.2f} GiB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=["phi35", "tiny"], default="phi35")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4, help="records per step (default 4)")
    ap.add_argument("--batch-tokens", type=int, default=0,
                    help="fill each step to this many tokens instead (TrainConfig.batch_tokens; default off)")
    ap.add_argument("--checkpointing", action="store_true",
                    help="gradient checkpointing for LoRA too (QLoRA always checkpoints): what keeps a large "
                         "token budget's LoRA step inside 12 GiB on Phi-3.5-mini's shape")
    ap.add_argument("--liger", action="store_true", help="each method also with Liger Kernel (CUDA, liger-kernel)")
    ap.add_argument("--methods", default="lora,qlora", help="the methods to run, comma-separated (default lora,qlora)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or set(methods) - {"lora", "qlora"}:
        ap.error(f"--methods takes lora and/or qlora, not {args.methods!r}")
    if args.one:
        print(json.dumps(one(args.one, args.base, args.home, args.steps, args.batch_size, args.batch_tokens,
                             args.checkpointing, args.liger)))
        return 0
    import torch

    if args.shape == "phi35" and not torch.cuda.is_available():
        print("error: a model of Phi-3.5-mini's size needs a CUDA GPU: run with --shape tiny to check the script here",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        base = build(Path(tmp) / "base", PHI35 if args.shape == "phi35" else TINY)
        per_step = f"{args.batch_tokens} tokens" if args.batch_tokens else f"{args.batch_size} records"
        print(f"{args.shape} model built; {per_step} a step, gradient checkpointing "
              f"{'for both' if args.checkpointing else 'for QLoRA only'}; training on "
              f"{'cuda: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}", flush=True)
        results, failed = {}, False
        rows = [(m, kernels) for m in methods for kernels in ((False, True) if args.liger else (False,))]
        for method, kernels in rows:
            name = f"{method} + Liger Kernel" if kernels else method
            if kernels and not torch.cuda.is_available():
                print(f"{name}: skipped: needs CUDA")
                continue
            out = subprocess.run([sys.executable, __file__, "--one", method, "--base", str(base), "--home", tmp,
                                  "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                                  "--batch-tokens", str(args.batch_tokens),
                                  *(["--checkpointing"] if args.checkpointing else []),
                                  *(["--liger"] if kernels else [])],
                                 capture_output=True, text=True)
            if out.returncode != 0:  # say why, and still run the other method
                tail = "\n  ".join(out.stderr.strip().splitlines()[-6:])
                print(f"error: {name} crashed:\n  {tail}", file=sys.stderr)
                failed = True
                continue
            r = results[name] = json.loads(out.stdout.strip().splitlines()[-1])
            if "error" in r:
                print(f"{name}: not run: {r['error']}")
                failed = failed or kernels  # on a GPU the Liger rows are the point: liger-kernel missing fails
                continue
            peak = f"{r['peak_gib']:.1f} GiB peak allocated" if r["peak_gib"] else "peak: no CUDA"
            tps = f"{r['tokens_per_s']:,.0f} tokens/s" if r["tokens_per_s"] else "too few steps to time"
            print(f"{name}: {r['steps']} steps · {tps} · {peak} · final loss {r['final_loss']:.3f}", flush=True)
            print(f"  {estimate_line(r)}", flush=True)
        for method in methods:
            off, on = results.get(method, {}), results.get(f"{method} + Liger Kernel", {})
            if off.get("tokens_per_s") and on.get("tokens_per_s") and off.get("peak_gib") and on.get("peak_gib"):
                print(f"Liger Kernel with {method}: {on['tokens_per_s'] / off['tokens_per_s']:.2f}x the tokens/s, "
                      f"{on['peak_gib'] / off['peak_gib']:.2f}x the peak memory, final loss {on['final_loss']:.3f} "
                      f"vs {off['final_loss']:.3f}")
        lo, q = results.get("lora", {}), results.get("qlora", {})
        if lo.get("tokens_per_s") and q.get("tokens_per_s") and lo.get("peak_gib") and q.get("peak_gib"):
            print(f"QLoRA against LoRA: {q['tokens_per_s'] / lo['tokens_per_s']:.2f}x the tokens/s, "
                  f"{q['peak_gib'] / lo['peak_gib']:.2f}x the peak memory")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
