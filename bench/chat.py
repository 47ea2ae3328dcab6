"""Does the chat backend add overhead? Time to first token and tokens/s of ``LocalBackend.stream``
against a bare ``model.generate`` on the same model, prompt and settings, in one process.

    python bench/chat.py                 # a GPT-2 of ~30M parameters built from config (CPU is fine)
    python bench/chat.py --phi35         # Phi-3.5-mini's shape with random weights: bf16 vs 4-bit (CUDA)
    python bench/chat.py --model HuggingFaceTB/SmolLM2-135M-Instruct   # a real model (the bundled copy offline)
    python bench/chat.py ... --fast-decoding   # also: the backend with fast decoding against without, same model
    python bench/chat.py --save          # only: keeping a conversation with a long paste, its turns scrubbed again or not

``--save`` times ``studio.chat.saved.save`` of a conversation holding a pasted text of ``--paste-chars``
characters (into a temporary workspace): each turn scrubbed of secrets from scratch (the cache emptied) against
the next answer's save, which finds the unchanged turns already scrubbed; it prints both medians and the ratio.

``--fast-decoding`` adds, per model, the backend with a static cache and a compiled decoding step
(``studio.models.fast_decoding``) against the same backend without, alternating, after one answer
that compiles; the compile time is reported apart, and whether the greedy answers are identical.
With ``--phi35`` it measures the bf16 model (last, so a long compilation only costs this row); the
4-bit one prints why it cannot use it.

Prints medians over ``--repeats`` alternating runs and the ratios backend / bare (target: within 10%).
No download: models are built from a configuration with random weights; greedy decoding with EOS
switched off makes every run produce exactly ``--tokens`` tokens.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.chat import ChatParams, StreamStats  # noqa: E402
from studio.chat.local import LocalBackend  # noqa: E402
from studio.models.loading import load_causal_lm  # noqa: E402

TEXT = [
    "Question: How long is a match?\nAnswer: Two halves of 45 minutes each, with a break of up to 15 minutes.",
    "Question: How many players does a team have?\nAnswer: Eleven, one of whom is the goalkeeper.",
    "Question: What happens after a foul in the penalty area?\nAnswer: The referee awards a penalty kick.",
]
MESSAGES = [{"role": "user", "content": "How long is a match, and what happens at half-time?"}]

# microsoft/Phi-3.5-mini-instruct's config.json (3.8B parameters); the context is shortened, the
# per-token cost is the same.
PHI35 = dict(vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, rope_theta=10000.0,
             hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=False)


def build(path: Path, phi3: dict | None = None) -> Path:
    """A random model and a locally trained tokenizer saved to ``path`` (no network): a Phi-3 of the
    configuration ``phi3`` (``PHI35``: Phi-3.5-mini's; in bf16, on CUDA when there is one), else a GPT-2."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXT * 50, vocab_size=1000, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.save_pretrained(path)
    torch.manual_seed(0)
    if phi3:
        cfg = Phi3Config(**phi3, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = Phi3ForCausalLM(cfg).to(torch.bfloat16)
    else:
        cfg = GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=512, n_layer=8, n_head=8,
                         eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
        model = GPT2LMHeadModel(cfg)
    model.save_pretrained(path)
    del model
    return path


class _Clock:
    """A bare streamer for ``generate``: records when the first new token and the last arrive."""

    def __init__(self) -> None:
        self.calls, self.first, self.last = 0, None, None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2:  # the first call carries the prompt
            self.first = time.perf_counter()

    def end(self) -> None:
        self.last = time.perf_counter()


def bare(loaded, params: ChatParams, tokens: int) -> tuple[float, float]:
    import torch

    backend = LocalBackend(loaded)  # only to build identical inputs; generation below is plain generate
    inputs = backend.encode(MESSAGES)
    clock = _Clock()
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                                    temperature=None, top_p=None, top_k=None, streamer=clock,
                                    pad_token_id=loaded.tokenizer.pad_token_id)
    n = out.shape[1] - inputs["input_ids"].shape[1]
    return clock.first - start, (n - 1) / (clock.last - clock.first)


def through_backend(loaded, params: ChatParams, tokens: int, fast: bool = False) -> tuple[float, float]:
    return _answer(loaded, params, tokens, fast)[:2]


def _answer(loaded, params: ChatParams, tokens: int, fast: bool = False) -> tuple[float, float, str, StreamStats]:
    params = ChatParams.from_dict({**params.to_dict(), "max_new_tokens": tokens})
    backend = LocalBackend(loaded, fast_decoding=fast)
    backend._eos = [-1]  # no stop token: every run makes exactly `tokens` tokens, like min_new_tokens above
    stats = StreamStats()
    text = "".join(backend.stream(MESSAGES, params, stats=stats))
    assert stats.tokens == tokens, stats.tokens
    return stats.ttft_s, stats.tokens_per_s, text, stats


def measure_fast(loaded, tokens: int, repeats: int) -> None:
    """Fast decoding against the same backend without it, on one model: compile time apart, then medians."""
    from studio.models import fast_decoding

    why = fast_decoding.unavailable(loaded)
    if why:
        print(f"  fast decoding: not measured. {why}")
        return
    params = ChatParams(max_new_tokens=tokens, temperature=0)
    start = time.perf_counter()
    _, _, fast_text, stats = _answer(loaded, params, tokens, fast=True)  # compiles the decoding step
    first_answer = time.perf_counter() - start
    eager_text = _answer(loaded, params, tokens)[2]
    rows = {"eager_ttft": [], "eager_tps": [], "fast_ttft": [], "fast_tps": []}
    for _ in range(repeats):
        for kind, fast in (("eager", False), ("fast", True)):
            t, s = through_backend(loaded, params, tokens, fast)
            rows[f"{kind}_ttft"].append(t)
            rows[f"{kind}_tps"].append(s)
    m = {k: statistics.median(v) for k, v in rows.items()}
    print(f"  fast decoding, first answer: {first_answer:.1f} s, {stats.tokens_per_s or 0:.1f} tokens/s "
          f"({stats.decoding}); greedy answer {'identical' if fast_text == eager_text else 'DIFFERENT'} to eager")
    print(f"  fast decoding, time to first token: eager {m['eager_ttft'] * 1000:8.1f} ms   fast {m['fast_ttft'] * 1000:8.1f} ms"
          f"   ratio {m['fast_ttft'] / m['eager_ttft']:.3f}")
    print(f"  fast decoding, tokens/s           : eager {m['eager_tps']:8.1f}      fast {m['fast_tps']:8.1f}"
          f"      ratio {m['fast_tps'] / m['eager_tps']:.3f}")


def measure(loaded, tokens: int, repeats: int) -> dict[str, float]:
    params = ChatParams(max_new_tokens=tokens, temperature=0)
    through_backend(loaded, params, 4)  # warm-up (kernels, allocator)
    bare(loaded, params, 4)
    rows = {"bare_ttft": [], "bare_tps": [], "app_ttft": [], "app_tps": []}
    for _ in range(repeats):
        t, s = bare(loaded, params, tokens)
        rows["bare_ttft"].append(t)
        rows["bare_tps"].append(s)
        t, s = through_backend(loaded, params, tokens)
        rows["app_ttft"].append(t)
        rows["app_tps"].append(s)
    return {k: statistics.median(v) for k, v in rows.items()}


def report(name: str, m: dict[str, float], extra: str = "") -> None:
    print(f"{name}{extra}")
    print(f"  time to first token: bare {m['bare_ttft'] * 1000:8.1f} ms   backend {m['app_ttft'] * 1000:8.1f} ms"
          f"   ratio {m['app_ttft'] / m['bare_ttft']:.3f}")
    print(f"  tokens/s           : bare {m['bare_tps']:8.1f}      backend {m['app_tps']:8.1f}"
          f"      ratio {m['app_tps'] / m['bare_tps']:.3f}")


def measure_save(paste_chars: int, repeats: int) -> None:
    import os

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STUDIO_HOME"] = tmp
        from studio.chat import saved

        paste = ("A line of a pasted report, with a figure of 42 and a name or two. " * (paste_chars // 67 + 1))[
            :paste_chars]
        turns = [{"role": "user", "content": f"Summarise this:\n{paste}"}, {"role": "assistant", "content": "A summary."}]
        secrets = ["sk-bench-session-key-0001"]
        cold, warm = [], []
        for _ in range(repeats):
            saved._SCRUBBED.clear()
            saved._SCRUBBED_CHARS[0] = 0
            t = time.perf_counter()
            saved.save(turns, secrets)
            cold.append(time.perf_counter() - t)
            turns += [{"role": "user", "content": "And the figures?"}, {"role": "assistant", "content": "42."}]
            t = time.perf_counter()
            saved.save(turns, secrets)  # the next answer's save: the paste unchanged
            warm.append(time.perf_counter() - t)
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"save with a {paste_chars:,}-character paste, median of {repeats}: scrubbed from scratch {c * 1000:.1f} ms, "
          f"unchanged turns kept scrubbed {w * 1000:.1f} ms   ratio {w / c:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phi35", action="store_true", help="Phi-3.5-mini-sized random model, bf16 and 4-bit (CUDA)")
    ap.add_argument("--model", help="a model spec to load instead of a random one (a Hub id, model:NAME, a folder)")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--fast-decoding", action="store_true",
                    help="also measure the backend with fast decoding (static cache + torch.compile) against without")
    ap.add_argument("--save", action="store_true", help="only time keeping a conversation with a long paste")
    ap.add_argument("--paste-chars", type=int, default=2_000_000)
    args = ap.parse_args()
    if args.save:
        measure_save(args.paste_chars, args.repeats)
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model:
        loaded = load_causal_lm(args.model)
        report(f"{loaded.ref.label} on {loaded.device}, {loaded.dtype}, {args.tokens} tokens, median of {args.repeats}",
               measure(loaded, args.tokens, args.repeats))
        if args.fast_decoding:
            measure_fast(loaded, args.tokens, args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp) / "model", PHI35 if args.phi35 else None)
        variants = [None, "4bit"] if args.phi35 else [None]
        if args.fast_decoding:  # the compilation last: a part that runs out of time loses only the fast row
            variants.reverse()
        for quant in variants:
            loaded = load_causal_lm(str(path), quantization=quant)
            extra = ""
            if loaded.device == "cuda":
                extra = f"  (GPU memory {torch.cuda.memory_allocated() / 2**30:.2f} GiB)"
            report(f"{'Phi-3.5-mini shape' if args.phi35 else 'GPT-2 8x512'} on {loaded.device}, "
                   f"{quant or loaded.dtype}, {args.tokens} tokens, median of {args.repeats}",
                   measure(loaded, args.tokens, args.repeats), extra)
            if args.fast_decoding:
                measure_fast(loaded, args.tokens, args.repeats)
            del loaded
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
