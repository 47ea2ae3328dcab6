"""Batched evaluation generation against a one-question-at-a-time loop, on the same model and questions.

A GPT-2 built from config (4 layers x 256, randomly initialised, a byte-level BPE trained here on the
sample questions) answers the sample dataset's questions greedily, first one at a time, then in
left-padded batches through ``studio.models.generate.generate_answers`` (the path evaluations take). The
answers must be identical; the script prints questions/s for both and the ratio (target: >= 5x).

    python bench/eval.py [--questions 64] [--batch-size 32] [--max-new-tokens 32]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config  # noqa: E402
from studio.models import generate
from studio.models import loading as models  # noqa: E402


def build_model(path: Path, questions: list[str]) -> None:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(questions * 4, vocab_size=2000, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=512, n_embd=256, n_layer=4, n_head=4,
                     eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    records = json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))
    questions = [r["question"] for r in records][: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        build_model(Path(tmp), [r["question"] + " " + r["answer"] for r in records])
        lm = models.load_causal_lm(tmp, device="cpu")
        generate.generate_answers(lm, questions[:2], max_new_tokens=4, batch_size=2)  # warm-up

        t0 = time.perf_counter()
        single = [generate.answer(lm, q, max_new_tokens=args.max_new_tokens) for q in questions]
        t_single = time.perf_counter() - t0

        t0 = time.perf_counter()
        batched = generate.generate_answers(lm, questions, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
        t_batched = time.perf_counter() - t0

    same = sum(a == b for a, b in zip(single, batched))
    qps_single, qps_batched = len(questions) / t_single, len(questions) / t_batched
    print(f"model: GPT-2 4 layers x 256 (random init), {len(questions)} questions, max_new_tokens={args.max_new_tokens}, "
          f"greedy, torch threads={torch.get_num_threads()}")
    print(f"one at a time:      {qps_single:8.2f} questions/s ({t_single:.2f} s)")
    print(f"batched (bs={args.batch_size:>3}):  {qps_batched:8.2f} questions/s ({t_batched:.2f} s)")
    print(f"speed-up: {qps_batched / qps_single:.1f}x (target >= 5x)")
    print(f"identical answers: {same}/{len(questions)}")
    if same != len(questions):
        for q, a, b in zip(questions, single, batched):
            if a != b:
                print(f"  differs: {q!r}\n    single:  {a!r}\n    batched: {b!r}")
                break
        return 1
    return 0 if qps_batched / qps_single >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
