"""Does LoRA's dropout change what the model learns, and what does it cost? The bundled SmolLM2-135M-Instruct
trained with LoRA and the recommended preset on a 40-fact FAQ (the sample dataset's first 40 records) with
``lora_dropout`` 0.05 (the default until 2026-12-07) and 0, same seed, a fifth of the records held out (docs/train.md:
``--records 20``, run on a loaded 2-core CPU in ~20 minutes a setting).

    python bench/lora_dropout.py [--records 40] [--dropouts 0.05,0] [--test-fraction 0.2] [--seed 42]

Each setting trains in a fresh process (its peak RSS is its own), then answers greedily: the trained questions,
hand-written rewordings of them (bench/faq_paraphrases.json) and the held-out questions. Prints the final train
loss, the held-out loss, mean token F1 on each set, the measured peak RSS and the studio's memory estimate
(``memory.for_run``) for this data's largest batch and for 8 records of Max length (512 tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_faq import BASE, PARAPHRASES, answers, f1  # noqa: E402

from studio import config  # noqa: E402


def one(dropout: float, n_records: int, test_fraction: float, seed: int, home: str) -> dict:
    os.environ["STUDIO_HOME"] = home
    from studio.models import loading
    from studio.train import loop as train
    from studio.train import memory, runs

    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[:n_records]
    paraphrased = json.loads(PARAPHRASES.read_text(encoding="utf-8"))[:n_records]
    shape = memory.shape_for_base(BASE)
    cfg, why = train.recommend(len(records), base=BASE, method="lora", parameters=shape.params)
    cfg = cfg.replace(lora_dropout=dropout, test_fraction=test_fraction, seed=seed)
    folder = runs.run_dir(runs.new_run_id(f"dropout-{dropout:g}"))
    t0 = time.time()
    result = train.run_job(cfg, records, folder, dataset={"name": "faq"}, name=f"lora dropout {dropout:g}")
    seconds = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tok = loading.load_tokenizer(BASE)
    data_est = memory.for_run(cfg, memory.train_lengths(tok, records, cfg), shape=shape)
    long_est = memory.for_run(cfg, None, shape=shape)  # 8 records of Max length
    split = runs.read_split(folder)
    train_i, test_i = split["train"], split["test"]
    spec = f"run:{folder.name}"
    trained, _ = answers(spec, [records[i]["question"] for i in train_i])
    reworded, _ = answers(spec, [paraphrased[i]["question"] for i in train_i])
    held, _ = answers(spec, [records[i]["question"] for i in test_i])
    return {"dropout": dropout, "why": why, "steps": result.steps, "seconds": seconds,
            "train_loss": result.train_loss, "eval_loss": result.eval_loss, "n_train": len(train_i),
            "n_test": len(test_i),
            "trained_f1": f1(trained, [records[i]["answer"] for i in train_i]),
            "reworded_f1": f1(reworded, [paraphrased[i]["answer"] for i in train_i]),
            "held_f1": f1(held, [records[i]["answer"] for i in test_i]),
            "peak_mb": peak / 2**20, "batch": f"{data_est.rows} x {data_est.seq}",
            "estimate_mb": data_est.estimate.total / 2**20, "long_mb": long_est.estimate.total / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--dropouts", default="0.05,0")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.records, args.test_fraction, args.seed, args.home)))
        return
    with tempfile.TemporaryDirectory() as home:
        for dropout in (float(d) for d in args.dropouts.split(",")):
            out = subprocess.run([sys.executable, __file__, "--one", str(dropout), "--records", str(args.records),
                                  "--test-fraction", str(args.test_fraction), "--seed", str(args.seed),
                                  "--home", home], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"lora_dropout {r['dropout']:g}: {r['why']} (held out {r['n_test']} of {args.records}, seed "
                  f"{args.seed})")
            print(f"  {r['steps']} steps in {r['seconds']:.0f} s · final train loss {r['train_loss']:.3f} · held-out "
                  f"loss {r['eval_loss']:.3f} · F1 trained {r['trained_f1']:.2f}, reworded {r['reworded_f1']:.2f}, "
                  f"held-out {r['held_f1']:.2f}")
            print(f"  peak RSS {r['peak_mb']:.0f} MB · estimate {r['estimate_mb']:.0f} MB at its largest batch "
                  f"({r['batch']} tokens), {r['long_mb']:.0f} MB at 8 x 512 tokens", flush=True)


if __name__ == "__main__":
    main()
