"""The Train page's memory estimate against the peak resident memory of each phase of a real run on CPU: the bundled
SmolLM2-135M-Instruct on the sample dataset, full fine-tune and LoRA, at two batch shapes.

    python bench/memory_phases.py [--methods full,lora] [--steps 3]

Each case trains in a fresh process (``loop.run_job``, the code path the page's run takes) with the recommended
preset, ``max_steps`` cut short, and records the peak RSS (the kernel's VmHWM, reset at each phase's start through
/proc/self/clear_refs) of each phase: imports, the base's load and the data (until the first step), the first
forward and backward, the first optimizer step (AdamW's moments made), the later steps (a backward beside the
moments), and the end (evaluation, saving). Prints each, the run's peak, and the estimate (``memory.for_run`` on the
training split's token lengths, as the page makes it) over that peak: it must never be under 1.00 (it gates "this
will not fit") and should stay close above it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the bundled copy offline
# (records of the sample, batch size): 8 x 73 tokens is the recommended preset's largest batch on a 40-fact FAQ;
# 16 of them is 16 x 73 tokens, twice the tokens a step
CASES = ((40, 8), (40, 16))
MIB = 2**20
ENTERED: list[int] = []  # the RSS at each phase's start, in order


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _hwm() -> int:
    """The peak RSS since the last ``_reset`` (bytes)."""
    return _status("VmHWM")


def _reset() -> None:
    """Starts a phase: its resident memory at the start kept (``ENTERED``), the peak counted from there."""
    ENTERED.append(_status("VmRSS"))
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")  # resets the peak RSS (VmHWM) to the current RSS


def one(method: str, n_records: int, batch: int, steps: int) -> dict:
    """Train one case in this process and return each phase's peak RSS and the estimate."""
    phases: dict[str, int] = {}
    _reset()
    from studio import config
    from studio.train import loop, memory, runs

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import Trainer, TrainerCallback

    phases["imports"] = _hwm()
    _reset()

    class Phases(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            phases["load and data"] = _hwm()
            _reset()

        def on_pre_optimizer_step(self, args, state, control, **kw):
            if state.global_step == 0:
                phases["first forward and backward"] = _hwm()
                _reset()

        def on_optimizer_step(self, args, state, control, **kw):
            if state.global_step == 0:
                phases["first optimizer step"] = _hwm()
                _reset()

        def on_train_end(self, args, state, control, **kw):
            phases["later steps"] = _hwm()
            _reset()

    init = Trainer.__init__

    def with_phases(self, *a, **kw):
        init(self, *a, **kw)
        self.add_callback(Phases())

    Trainer.__init__ = with_phases
    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[:n_records]
    shape = memory.shape_for_base(BASE)
    cfg, _ = loop.recommend(len(records), base=BASE, method=method, parameters=shape.params)
    cfg = cfg.replace(batch_size=batch, max_steps=steps, save_steps=1000)
    loop.run_job(cfg, records, runs.run_dir(runs.new_run_id(f"mem-{method}")), dataset={"name": "sample"}, name="mem")
    phases["end (evaluation, save)"] = _hwm()
    from studio.models import loading

    run = memory.for_run(cfg, memory.train_lengths(loading.load_tokenizer(BASE), records, cfg), shape=shape)
    e = run.estimate
    return {"phases": phases, "entered": ENTERED[:len(phases)], "batch": f"{run.rows} x {run.seq}", "estimate": e.total,
            "parts": {name: n for name, n in e.parts()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="full,lora")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--records", type=int, default=40, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=8, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.records, args.batch, args.steps)))
        return
    for n_records, batch in CASES:
        for method in args.methods.split(","):
            with tempfile.TemporaryDirectory() as home:  # a workspace each: every case imports the GGUF (a first use)
                env = {**os.environ, "STUDIO_HOME": home, "HF_HUB_OFFLINE": "1"}
                out = subprocess.run([sys.executable, __file__, "--one", method, "--records", str(n_records),
                                      "--batch", str(batch), "--steps", str(args.steps)],
                                     capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-3000:])
                r = json.loads(out.stdout.strip().splitlines()[-1])
                peak = max(r["phases"].values())
                print(f"{method}, {n_records} records, largest batch {r['batch']} tokens:")
                for (name, n), at in zip(r["phases"].items(), r["entered"]):
                    print(f"  {name:<28} peak RSS {n / MIB:7,.0f} MiB (from {at / MIB:6,.0f} MiB at its start)")
                parts = " + ".join(f"{k} {v / MIB:,.0f}" for k, v in r["parts"].items())
                print(f"  estimate {r['estimate'] / MIB:,.0f} MiB ({parts}) / run's peak {peak / MIB:,.0f} MiB "
                      f"= {r['estimate'] / peak:.2f}x", flush=True)


if __name__ == "__main__":
    main()
