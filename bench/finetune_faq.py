"""Does fine-tuning with the studio's defaults teach a real model? The bundled SmolLM2-135M-Instruct on a
40-fact FAQ (the first 40 records of the sample dataset), full and LoRA, with the recommended preset only.

    python bench/finetune_faq.py [--methods full,lora] [--records 40] [--set FIELD=VALUE ...]
    python bench/finetune_faq.py --memory-only --set max_steps=6   # the peak RSS against the estimate only

``--set`` (and ``--epochs``, ``--neftune``) override the preset to measure what else would do;
``FAQ_DUMP=answers.json`` keeps every answer of the last method for reading.

For each method, in a fresh process: train with ``recommend()``'s settings, then answer the trained
questions and hand-written paraphrases of them (bench/faq_paraphrases.json) greedily. Prints the
base model's and the run's mean token F1 on both, the share of answers that stop by themselves,
the training time, the run folder's size, and the measured peak RSS against the studio's estimate.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from studio import config  # noqa: E402
from studio.evaluate import metrics  # noqa: E402

PARAPHRASES = Path(__file__).with_name("faq_paraphrases.json")
BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"
MAX_NEW = 96


def answers(spec: str, questions: list[str]) -> tuple[list[str], int]:
    """Greedy answers and how many stopped on a stop token before the limit."""
    from studio.models import generate, loading

    lm = loading.load_causal_lm(spec)
    out = generate.generate_answers(lm, questions, max_new_tokens=MAX_NEW, batch_size=8)
    lengths = [len(lm.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in out]
    return out, sum(1 for n in lengths if n < MAX_NEW - 2)


def f1(preds: list[str], refs: list[str]) -> float:
    return sum(metrics.score_answer(p, r)["f1"] for p, r in zip(preds, refs)) / len(refs)


def one(method: str, n_records: int, home: str, overrides: dict | None = None) -> dict:
    """Train and score one method (runs in its own process, so its peak RSS is its own)."""
    import os

    os.environ["STUDIO_HOME"] = home
    from studio.train import loop as train
    from studio.train import memory, runs

    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[:n_records]
    paraphrased = json.loads(PARAPHRASES.read_text(encoding="utf-8"))[:n_records]
    shape = memory.shape_for_base(BASE)
    cfg, why = train.recommend(len(records), base=BASE, method=method, parameters=shape.params)
    if overrides:
        cfg = cfg.replace(**overrides)
        why += f" Overridden: {overrides}."
    folder = runs.run_dir(runs.new_run_id(f"faq-{method}"))
    t0 = time.time()
    result = train.run_job(cfg, records, folder, dataset={"name": "faq"}, name=f"faq {method}")
    seconds = time.time() - t0
    peak_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # The Train page's estimate (``memory.for_run``): the largest batch the training records' token lengths make.
    from studio.models import loading

    tok = loading.load_tokenizer(BASE)
    run = memory.for_run(cfg, memory.train_lengths(tok, records, cfg), shape=shape)
    rows, seq, est = run.rows, run.seq, run.estimate
    if os.environ.get("FAQ_MEMORY_ONLY"):
        return {"method": method, "why": why, "steps": result.steps, "seconds": seconds, "batch": f"{rows} x {seq}",
                "peak_mb": peak_train / 2**20, "estimate_mb": est.total / 2**20}
    questions = [r["question"] for r in records]
    refs = [r["answer"] for r in records]
    trained, stops = answers(f"run:{folder.name}", questions)
    para, _ = answers(f"run:{folder.name}", [p["question"] for p in paraphrased])
    if os.environ.get("FAQ_DUMP"):  # every answer, for reading what the model says
        Path(os.environ["FAQ_DUMP"]).write_text(json.dumps(
            [{"question": q, "reference": r, "trained": t, "reworded": p["question"], "reworded_answer": a}
             for q, r, t, p, a in zip(questions, refs, trained, paraphrased, para)], indent=1), encoding="utf-8")
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and "checkpoints" not in f.parts)
    return {"method": method, "why": why, "steps": result.steps, "seconds": seconds, "train_f1": f1(trained, refs),
            "para_f1": f1(para, [p["answer"] for p in paraphrased]), "stops": stops / len(records),
            "run_mb": size / 2**20, "peak_mb": peak_train / 2**20, "estimate_mb": est.total / 2**20,
            "final_loss": result.train_loss}


def base_scores(n_records: int) -> dict:
    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[:n_records]
    paraphrased = json.loads(PARAPHRASES.read_text(encoding="utf-8"))[:n_records]
    trained, stops = answers(BASE, [r["question"] for r in records])
    para, _ = answers(BASE, [p["question"] for p in paraphrased])
    return {"train_f1": f1(trained, [r["answer"] for r in records]),
            "para_f1": f1(para, [p["answer"] for p in paraphrased]), "stops": stops / len(records)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="full,lora")
    ap.add_argument("--skip-base", action="store_true", help="do not score the base model first")
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--neftune", type=float, default=None, help="override the preset's NEFTune alpha")
    ap.add_argument("--epochs", type=float, default=None, help="override the preset's epochs")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override any other preset field, e.g. --set batch_size=4 (repeatable)")
    ap.add_argument("--memory-only", action="store_true",
                    help="train only (e.g. with --set max_steps=6) and compare the peak RSS with the estimate")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    args = ap.parse_args()
    overrides = {k: v for k, v in (("neftune_alpha", args.neftune), ("epochs", args.epochs)) if v is not None}
    for item in args.set:
        field, _, value = item.partition("=")
        try:
            overrides[field] = json.loads(value)
        except json.JSONDecodeError:
            overrides[field] = value
    if args.one:
        print(json.dumps(one(args.one, args.records, args.home, overrides)))
        return
    with tempfile.TemporaryDirectory() as home:
        import os

        os.environ["STUDIO_HOME"] = home
        if args.memory_only:
            os.environ["FAQ_MEMORY_ONLY"] = "1"  # read by the --one processes
            args.skip_base = True
        base = None if args.skip_base else base_scores(args.records)
        if base:
            print(f"base {BASE} (bundled copy offline): trained questions F1 {base['train_f1']:.2f}, "
                  f"paraphrases F1 {base['para_f1']:.2f}, stops {base['stops']:.0%}", flush=True)
        for method in args.methods.split(","):
            extra = [a for k, v in overrides.items() for a in ("--set", f"{k}={json.dumps(v)}")]
            out = subprocess.run([sys.executable, __file__, "--one", method, "--records", str(args.records),
                                  "--home", home, *extra], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{method}: {r['why']}")
            if args.memory_only:
                print(f"  {r['steps']} steps in {r['seconds']:.0f} s · largest batch {r['batch']} tokens · peak RSS "
                      f"{r['peak_mb']:.0f} MB, estimate {r['estimate_mb']:.0f} MB ({r['estimate_mb'] / r['peak_mb']:.2f}x)")
                continue
            print(f"  {r['steps']} steps in {r['seconds']:.0f} s · final train loss {r['final_loss']:.3f} · "
                  f"trained questions F1 {r['train_f1']:.2f}"
                  + (f" ({r['train_f1'] - base['train_f1']:+.2f} vs base)" if base else "") + " · "
                  f"paraphrases F1 {r['para_f1']:.2f} · clean stops {r['stops']:.0%}")
            print(f"  run folder {r['run_mb']:.1f} MB (checkpoints aside) · peak RSS {r['peak_mb']:.0f} MB, "
                  f"estimate {r['estimate_mb']:.0f} MB ({r['estimate_mb'] / r['peak_mb']:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
