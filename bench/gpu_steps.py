"""Where does a training step's time go? The studio's own loop, profiled, padded against packed batches.

    python bench/gpu_steps.py               # CUDA: distilgpt2's shape (6 layers, 768 wide), full fine-tune
    python bench/gpu_steps.py --cpu         # any machine: the small GPT-2 (checks the script)

Kinds, each ``--steps`` steps of batch 8 through ``studio.train.loop.train``:
  padded         length-grouped, padded rows (the default)
  packed-sdpa    one packed row under transformers' sdpa (the first packing: a host sync per forward and a
                 T x T mask; studio.train.packing explains)
  packed-varlen  one packed row under the studio's own attention (torch's varlen flash kernel on CUDA)
  varlen-lora    the same with LoRA
For each: the median wall ms per step after the first few, non-padding tokens/s from the run's metrics, and
over a window of steps a ``torch.profiler`` trace: device syncs per step (``aten::_local_scalar_dense``,
``cudaStreamSynchronize``, ``cudaDeviceSynchronize``), kernel launches per step and the share of the wall
time the GPU was busy. A GPU busy a small share of the step is fed too little work or waits on the host.
Bounded: ``--budget-s`` (90 s) stops starting new kinds; each kind's line is printed when it ends. The
lines go to ``--out``/steps.txt, the profiler tables to ``--out``/steps_profile.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class Probe:
    """The studio's callback, plus step timing and a profiler over a window of steps."""

    def __init__(self, inner, first: int, last: int, cuda: bool):
        self.inner, self.first, self.last, self.cuda = inner, first, last, cuda
        self.ends: list[float] = []
        self.prof = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def on_step_begin(self, args, state, control, **kw):
        if state.global_step == self.first and self.prof is None:
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
            self.prof = profile(activities=acts)
            self.prof.__enter__()
            self.t_prof = time.perf_counter()
        return self.inner.on_step_begin(args, state, control, **kw)

    def on_step_end(self, args, state, control, **kw):
        self.ends.append(time.perf_counter())
        if self.prof is not None and state.global_step == self.last and not hasattr(self, "wall_prof"):
            if self.cuda:
                import torch

                torch.cuda.synchronize()
            self.wall_prof = time.perf_counter() - self.t_prof
            self.prof.__exit__(None, None, None)
        return self.inner.on_step_end(args, state, control, **kw)


def run(kind: str, base: Path, records: list, steps: int, window: tuple[int, int], cuda: bool, out: Path,
        method: str = "full") -> dict:
    from studio.train import callbacks, loop, packing, recipe, runs

    probe: dict = {}
    orig = callbacks.make, loop.packs, packing.prepare, packing.VarlenCollator

    def patched(folder, on_progress, **options):
        probe["p"] = Probe(orig[0](folder, on_progress, **options), window[0], window[1], cuda)
        return probe["p"]

    callbacks.make = patched
    loop.packs = lambda device: kind != "padded"
    if kind == "packed-sdpa":  # the first packing: transformers' own mask from restarting position ids
        packing.prepare = lambda model, **_: model.config._attn_implementation
        packing.VarlenCollator = recipe.PackedCollator
    try:
        cfg = loop.TrainConfig(base=str(base), method=method, learning_rate=1e-3, batch_size=8, max_steps=steps,
                               test_fraction=0.0, logging_steps=10, save_steps=10_000, eval_per_epoch=False)
        folder = out / f"run-{kind}-{method}"
        loop.train(cfg, records, folder, dataset={"name": "bench"})
    finally:
        callbacks.make, loop.packs, packing.prepare, packing.VarlenCollator = orig
    p = probe["p"]
    rows = [r for r in runs.read_metrics(folder) if "loss" in r]
    later = [r for r in rows if r["step"] > 3]
    tps = ((later[-1]["tokens_seen"] - later[0]["tokens_seen"]) / (later[-1]["elapsed_s"] - later[0]["elapsed_s"])
           if len(later) > 1 and later[-1]["elapsed_s"] > later[0]["elapsed_s"] else None)
    gaps = [b - a for a, b in zip(p.ends[3:], p.ends[4:])]
    res = {"kind": kind, "method": method, "steps": len(p.ends), "ms_per_step": 1000 * sorted(gaps)[len(gaps) // 2] if gaps else None,
           "tokens_per_s": tps, "final_loss": rows[-1]["loss"] if rows else None}
    if p.prof is not None and hasattr(p, "wall_prof"):
        n = window[1] - window[0] + 1
        ev = p.prof.key_averages()
        count = {e.key: e.count for e in ev}
        res["syncs_per_step"] = sum(count.get(k, 0) for k in ("aten::_local_scalar_dense", "cudaStreamSynchronize",
                                                              "cudaDeviceSynchronize")) / n
        res["launches_per_step"] = sum(c for k, c in count.items() if k in ("cudaLaunchKernel", "cuLaunchKernel",
                                                                             "cudaLaunchKernelExC", "cuLaunchKernelEx")) / n
        if cuda:
            busy_us = sum(getattr(e, "self_device_time_total", 0) or 0 for e in ev if e.device_type.name == "CUDA")
            res["gpu_busy_share"] = busy_us / 1e6 / p.wall_prof
        res["table"] = ev.table(sort_by="self_cpu_time_total", row_limit=20)
    return res


def line(r: dict) -> str:
    def f(key, fmt):
        v = r.get(key)
        return format(v, fmt) if isinstance(v, (int, float)) else "-"

    return (f"{r['kind']:13} {r['method']:5} ms/step {f('ms_per_step', '7.1f')}  tokens/s {f('tokens_per_s', '9,.0f')}"
            f"  syncs/step {f('syncs_per_step', '5.1f')}  launches/step {f('launches_per_step', '6.0f')}"
            f"  GPU busy {f('gpu_busy_share', '6.1%')}  final loss {f('final_loss', '.3f')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", action="store_true", help="the small GPT-2 on the CPU (to check the script)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--budget-s", type=float, default=90.0, help="start no new kind after this many seconds")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    t_start = time.monotonic()
    import torch

    cuda = torch.cuda.is_available() and not args.cpu
    if not cuda and not args.cpu:
        print("error: no CUDA GPU: run with --cpu to check the script here", file=sys.stderr)
        return 2
    from train import build_base  # bench/train.py's random GPT-2 and tokenizer

    from studio import config

    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))
    shape = "distilgpt2" if cuda else "small"
    last = min(args.steps - 2, 12)
    window = (max(1, last - 4), last)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines, tables = [], []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STUDIO_HOME"] = tmp
        base, _ = build_base(Path(tmp) / "base", records, shape, 0)
        lines.append(f"GPT-2 of {shape}'s shape, batch 8 records, {args.steps} steps, profiled steps "
                     f"{window[0]}-{window[1]}, on {'cuda' if cuda else 'cpu'}")
        print(lines[-1], flush=True)
        for kind, method in (("padded", "full"), ("packed-varlen", "full"), ("packed-sdpa", "full"),
                             ("varlen-lora", "lora")):
            if time.monotonic() - t_start > args.budget_s:
                lines.append(f"{kind:13} {method:5} skipped: the {args.budget_s:.0f} s budget is spent")
                print(lines[-1], flush=True)
                continue
            try:
                r = run(kind, base, records, args.steps, window, cuda, Path(tmp), method)
                lines.append(line(r))
                tables.append(f"{lines[-1]}\n{r.get('table', '')}")
            except Exception as exc:  # one kind failing must not hide the others' numbers
                lines.append(f"{kind:13} {method:5} FAILED: {type(exc).__name__}: {str(exc)[:300]}")
            print(lines[-1], flush=True)
    (out / "steps.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "steps_profile.txt").write_text("\n\n".join(tables), encoding="utf-8")
    print(f"finished in {time.monotonic() - t_start:.0f} s", flush=True)
    return 1 if any(" FAILED: " in s for s in lines) else 0  # every row is printed; the exit status says one failed


if __name__ == "__main__":
    sys.exit(main())
