"""Does the `scratch` preset learn the 40-question FAQ? Trains it on this machine and scores the answers.

    python bench/scratch_faq.py [--records 40] [--epochs N] [--threads N]

Prints the training time, the mean token F1 of the greedy answers to the trained questions (target
>= 0.9), and how many answers stopped cleanly (the raw greedy continuation emits EOS before the token limit,
without help from stop strings).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config  # noqa: E402
from studio.models import generate
from studio.models import loading as models
from studio.train import loop as train  # noqa: E402


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_f1(pred: str, ref: str) -> float:
    """SQuAD-style token F1 (lower-cased word tokens, punctuation ignored)."""
    p, r = tokens(pred), tokens(ref)
    if not p or not r:
        return float(p == r)
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def ends_with_eos(lm, questions: list[str], max_new_tokens: int) -> int:
    """How many greedy continuations emit EOS before the token limit (no stop strings involved)."""
    import torch

    batch = generate.encode_left_padded(lm.tokenizer, generate.prompts(lm, questions), lm.device)
    with torch.inference_mode():
        out = lm.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=lm.tokenizer.pad_token_id, eos_token_id=lm.tokenizer.eos_token_id)
    return int((out[:, batch["input_ids"].shape[1]:] == lm.tokenizer.eos_token_id).any(dim=1).sum())


def run(n_records: int = 40, **overrides) -> dict:
    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))[:n_records]
    cfg = train.preset("scratch", **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.time()
        result = train.run_job(cfg, records, out, dataset={"name": "faq", "count": len(records)})
        seconds = time.time() - t0
        lm = models.load_causal_lm(str(out), device="cpu")
        questions = [r["question"] for r in records]
        max_new = 96
        answers = generate.generate_answers(lm, questions, max_new_tokens=max_new)
        clean = ends_with_eos(lm, questions, max_new)
    f1 = [token_f1(a, r["answer"]) for a, r in zip(answers, records)]
    worst = sorted(zip(f1, questions, answers))[:3]
    return {"seconds": round(seconds, 1), "steps": result.steps, "train_loss": result.train_loss,
            "mean_f1": round(sum(f1) / len(f1), 4), "exact": sum(x == 1.0 for x in f1),
            "clean_stops": clean, "n": len(records), "worst": worst}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--epochs", type=float)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("learning_rate", args.lr)) if v is not None}
    res = run(args.records, **overrides)
    print(json.dumps(res, indent=1))
    print(f"scratch preset on {res['n']} FAQ records: mean token F1 {res['mean_f1']:.3f} (target >= 0.9), "
          f"{res['clean_stops']}/{res['n']} clean stops, trained in {res['seconds']:.0f} s")
    return 0 if res["mean_f1"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
