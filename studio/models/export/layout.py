"""Where each weight of a transformers model goes in a GGUF file, and the hyperparameters llama.cpp reads.

The rules follow llama.cpp's own converter (``convert_hf_to_gguf.py``): tensor names from gguf-py's
tensor map, llama's q/k rows permuted into the interleaved rotary layout llama.cpp computes with
(transformers' GGUF loader undoes it), GPT-2's ``Conv1D`` weights transposed to (out, in), GPT-2's
tied output head written out as ``output.weight``, Phi-3's fused ``qkv_proj``/``gate_up_proj`` kept
fused (``attn_qkv``/``ffn_up``) and its long-context rope factors written as tensors.

``plan(model)`` returns a ``Layout``: the architecture's GGUF name, the key/values to write and an
ordered list of ``(gguf_name, hf_name, transform)``; nothing is converted until the writer asks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.errors import StudioError

# model_type (config.json) -> GGUF architecture; the architectures the studio trains
ARCHITECTURES = {"llama": "llama", "gpt2": "gpt2", "phi3": "phi3"}
SUPPORTED_TEXT = "llama (SmolLM2 and other Llama-style models), gpt2 (distilgpt2, scratch models), phi3 (Phi-3.5-mini)"

Transform = Callable[[np.ndarray], np.ndarray]


@dataclass
class Layout:
    arch: str  # the GGUF architecture name ("llama", "gpt2", "phi3")
    metadata: list[tuple[str, Any]] = field(default_factory=list)  # (GGUFWriter.add_* method, value)
    tensors: list[tuple[str, str, Transform | None]] = field(default_factory=list)  # (gguf, hf, transform)
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # tensors llama.cpp needs that HF has none of
    context_length: int = 0


def architecture_of(config: Any) -> str:
    """The GGUF architecture for a transformers config, or a one-line refusal naming what is supported."""
    model_type = getattr(config, "model_type", None) or "unknown"
    arch = ARCHITECTURES.get(model_type)
    if arch is None:
        raise StudioError(f"Cannot export a {model_type!r} model to GGUF: the exporter writes {SUPPORTED_TEXT}.")
    return arch


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k permutation (``LlamaModel.permute``): each head's two rotary halves interleaved."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def transpose(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.T)


def _rope(config: Any) -> tuple[float, dict]:
    """(rope_theta, the rope scaling dict) for transformers 4 and 5 configs alike."""
    params = dict(getattr(config, "rope_parameters", None) or {})
    scaling = dict(getattr(config, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    kind = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    merged = {**scaling, **params, "rope_type": kind}
    return float(theta), merged


def _llama(config: Any, names: set[str]) -> Layout:
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    theta, rope = _rope(config)
    out = Layout("llama", context_length=config.max_position_embeddings)
    out.metadata += [
        ("add_context_length", config.max_position_embeddings), ("add_embedding_length", config.hidden_size),
        ("add_block_count", config.num_hidden_layers), ("add_feed_forward_length", config.intermediate_size),
        ("add_head_count", n_head), ("add_head_count_kv", n_kv), ("add_rope_dimension_count", head_dim),
        ("add_rope_freq_base", theta), ("add_layer_norm_rms_eps", float(config.rms_norm_eps)),
        ("add_vocab_size", config.vocab_size),
    ]
    if head_dim != config.hidden_size // n_head:
        out.metadata += [("add_key_length", head_dim), ("add_value_length", head_dim)]
    if rope["rope_type"] == "linear":
        import gguf

        out.metadata += [("add_rope_scaling_type", gguf.RopeScalingType.LINEAR),
                         ("add_rope_scaling_factor", float(rope["factor"]))]
    elif rope["rope_type"] != "default":
        raise StudioError(f"Cannot export a llama model with {rope['rope_type']!r} rope scaling yet: the exporter "
                          "writes default and linear rope.")
    out.tensors.append(("token_embd.weight", "model.embed_tokens.weight", None))
    for i in range(config.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        for suffix in ("weight", "bias"):
            for hf, gg, heads in (("self_attn.q_proj", "attn_q", n_head), ("self_attn.k_proj", "attn_k", n_kv),
                                  ("self_attn.v_proj", "attn_v", None), ("self_attn.o_proj", "attn_output", None),
                                  ("mlp.gate_proj", "ffn_gate", None), ("mlp.up_proj", "ffn_up", None),
                                  ("mlp.down_proj", "ffn_down", None)):
                if f"{p}{hf}.{suffix}" in names:
                    fn = (lambda w, h=heads: permute(w, h)) if heads else None
                    out.tensors.append((f"{b}{gg}.{suffix}", f"{p}{hf}.{suffix}", fn))
        out.tensors += [(f"{b}attn_norm.weight", f"{p}input_layernorm.weight", None),
                        (f"{b}ffn_norm.weight", f"{p}post_attention_layernorm.weight", None)]
    out.tensors.append(("output_norm.weight", "model.norm.weight", None))
    if not getattr(config, "tie_word_embeddings", False) and "lm_head.weight" in names:
        out.tensors.append(("output.weight", "lm_head.weight", None))  # tied: llama.cpp reuses token_embd
    return out


def _gpt2(config: Any, names: set[str]) -> Layout:
    out = Layout("gpt2", context_length=config.n_positions)
    out.metadata += [
        ("add_context_length", config.n_positions), ("add_embedding_length", config.n_embd),
        ("add_block_count", config.n_layer), ("add_feed_forward_length", config.n_inner or 4 * config.n_embd),
        ("add_head_count", config.n_head), ("add_layer_norm_eps", float(config.layer_norm_epsilon)),
        ("add_vocab_size", config.vocab_size),
    ]
    prefix = "transformer." if "transformer.wte.weight" in names else ""
    out.tensors += [("token_embd.weight", f"{prefix}wte.weight", None),
                    ("position_embd.weight", f"{prefix}wpe.weight", None)]
    for i in range(config.n_layer):
        p, b = f"{prefix}h.{i}.", f"blk.{i}."
        for hf, gg, conv in (("ln_1", "attn_norm", False), ("attn.c_attn", "attn_qkv", True),
                             ("attn.c_proj", "attn_output", True), ("ln_2", "ffn_norm", False),
                             ("mlp.c_fc", "ffn_up", True), ("mlp.c_proj", "ffn_down", True)):
            out.tensors.append((f"{b}{gg}.weight", f"{p}{hf}.weight", transpose if conv else None))
            out.tensors.append((f"{b}{gg}.bias", f"{p}{hf}.bias", None))
    out.tensors += [("output_norm.weight", f"{prefix}ln_f.weight", None),
                    ("output_norm.bias", f"{prefix}ln_f.bias", None)]
    # llama.cpp's converter writes GPT-2's tied head out as its own tensor; so does this exporter
    head = "lm_head.weight" if "lm_head.weight" in names else f"{prefix}wte.weight"
    out.tensors.append(("output.weight", head, None))
    return out


def _phi3(config: Any, names: set[str]) -> Layout:
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    rope_dims = int(getattr(config, "partial_rotary_factor", 1.0) * config.hidden_size // n_head)
    theta, rope = _rope(config)
    ctx = config.max_position_embeddings
    orig = getattr(config, "original_max_position_embeddings", None) or ctx
    out = Layout("phi3", context_length=ctx)
    out.metadata += [
        ("add_context_length", ctx), ("add_rope_scaling_orig_ctx_len", orig),
        ("add_embedding_length", config.hidden_size), ("add_feed_forward_length", config.intermediate_size),
        ("add_block_count", config.num_hidden_layers), ("add_head_count", n_head), ("add_head_count_kv", n_kv),
        ("add_layer_norm_rms_eps", float(config.rms_norm_eps)), ("add_rope_dimension_count", rope_dims),
        ("add_rope_freq_base", theta), ("add_sliding_window", int(getattr(config, "sliding_window", None) or 0)),
        ("add_vocab_size", config.vocab_size),
    ]
    if rope["rope_type"] in ("longrope", "su"):
        long_f, short_f = rope.get("long_factor"), rope.get("short_factor")
        if not long_f or not short_f or len(long_f) != rope_dims // 2 or len(short_f) != rope_dims // 2:
            raise StudioError("This Phi-3 model's long-context rope factors do not match its head size: it cannot "
                              "be exported.")
        scale = ctx / orig
        attn = 1.0 if scale <= 1.0 else math.sqrt(1 + math.log(scale) / math.log(orig))
        out.metadata.append(("add_rope_scaling_attn_factors", attn))
        out.extra["rope_factors_long.weight"] = np.asarray(long_f, dtype=np.float32)
        out.extra["rope_factors_short.weight"] = np.asarray(short_f, dtype=np.float32)
    elif rope["rope_type"] != "default":
        raise StudioError(f"Cannot export a Phi-3 model with {rope['rope_type']!r} rope scaling: the exporter "
                          "writes default and longrope.")
    out.tensors.append(("token_embd.weight", "model.embed_tokens.weight", None))
    for i in range(config.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        out.tensors += [(f"{b}attn_norm.weight", f"{p}input_layernorm.weight", None),
                        (f"{b}attn_qkv.weight", f"{p}self_attn.qkv_proj.weight", None),
                        (f"{b}attn_output.weight", f"{p}self_attn.o_proj.weight", None),
                        (f"{b}ffn_norm.weight", f"{p}post_attention_layernorm.weight", None),
                        (f"{b}ffn_up.weight", f"{p}mlp.gate_up_proj.weight", None),
                        (f"{b}ffn_down.weight", f"{p}mlp.down_proj.weight", None)]
    out.tensors.append(("output_norm.weight", "model.norm.weight", None))
    if not getattr(config, "tie_word_embeddings", False) and "lm_head.weight" in names:
        out.tensors.append(("output.weight", "lm_head.weight", None))
    return out


_BUILDERS = {"llama": _llama, "gpt2": _gpt2, "phi3": _phi3}
_SKIP = re.compile(r"(\.attn\.bias|\.attn\.masked_bias|rotary_emb\.inv_freq)$")  # buffers, not weights


def plan(config: Any, names: set[str]) -> Layout:
    """The GGUF layout of a model with this config and these state-dict names; every weight placed."""
    arch = architecture_of(config)
    layout = _BUILDERS[arch](config, names)
    missing = [hf for _, hf, _ in layout.tensors if hf not in names]
    if missing:
        raise StudioError(f"This {arch} model lacks {missing[0]} (and {len(missing) - 1} more): it was not saved by "
                          "transformers' own class and cannot be exported.")
    placed = {hf for _, hf, _ in layout.tensors}
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    left = sorted(n for n in names - placed - tied if not _SKIP.search(n))
    if left:
        raise StudioError(f"This {arch} model has weights the exporter does not place ({left[0]}, ...): it cannot "
                          "be written as GGUF for llama.cpp.")
    return layout
