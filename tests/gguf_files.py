"""Tiny GGUF files for tests, written with the gguf package's ``GGUFWriter``.

``write_tiny_llama_gguf`` writes a random two-layer llama with a small byte-level BPE vocabulary
(ChatML special tokens, 256 bytes, a few merges) and a ChatML chat template, in llama.cpp's layout
(q/k permuted), so transformers loads it with ``gguf_file=`` exactly as it loads a real one. It
returns the state dict transformers should rebuild, for exact checks.
"""

from __future__ import annotations

import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Words whose BPE merges are baked into the tiny vocabulary (so encoding is not purely per-byte).
_TINY_WORDS = ["user", "assistant", "system", "hello", "world", "the", "capital", "of", "France", "is"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable unicode char table (same as transformers' convert_slow_tokenizer)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _tiny_bpe_vocab(vocab_size: int | None):
    """(tokens, token_types, merges) for a gpt2-style byte-level BPE; ids 0/1/2 are the specials."""
    from gguf import TokenType

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0,1,2 like SmolLM2
    tokens = list(specials)
    types = [TokenType.CONTROL] * len(specials)
    alphabet = _bytes_to_unicode()
    tokens += [alphabet[b] for b in range(256)]
    types += [TokenType.NORMAL] * 256
    merges: list[str] = []
    known = set(tokens)
    for word in _TINY_WORDS:
        # char-by-char merges build "word"; one last merge "Ġ word" builds "Ġword" (with leading space)
        pairs, cur = [], word[0]
        for ch in word[1:]:
            pairs.append((cur, ch))
            cur += ch
        pairs.append(("\u0120", word))
        for left, right in pairs:
            if left + right not in known:
                merges.append(f"{left} {right}")
                tokens.append(left + right)
                types.append(TokenType.NORMAL)
                known.add(left + right)
    if vocab_size is not None:
        if vocab_size < len(tokens):
            raise ValueError(f"vocab_size must be >= {len(tokens)} (specials + 256 bytes + merges)")
        for i in range(vocab_size - len(tokens)):
            tokens.append(f"<|reserved_{i}|>")
            types.append(TokenType.UNUSED)
    return tokens, [int(t) for t in types], merges


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf q/k permutation (transformers undoes it on load)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _llama_cpp_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of _llama_cpp_permute (what LlamaTensorProcessor._reverse_permute_weights does)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_llama_gguf(
    path,
    vocab_size: int | None = None,
    n_layers: int = 2,
    hidden: int = 32,
    n_heads: int = 4,
    n_kv_heads: int = 2,
    intermediate: int = 64,
    context_length: int = 128,
    dtype: str = "f32",
    tie_embeddings: bool = False,
    seed: int = 0,
    chat_template: str | None = CHATML_TEMPLATE,
    name: str = "tiny-llama",
    architecture: str = "llama",
    norm_dtype: str = "f32",
    meta: dict | None = None,
    skip_layers: tuple[int, ...] = (),
    skip_tensors: tuple[str, ...] = (),
    extra_tensors: dict | None = None,
) -> dict:
    """Write a tiny random llama GGUF loadable by transformers (AutoTokenizer/AutoModelForCausalLM).

    Returns the HF-layout float32 state dict that transformers should reconstruct (for checks).
    dtype: "f32" or "f16" for the 2-D weights (1-D norms always F32, as llama.cpp does), or a
    gguf.quants type name such as "Q8_0"/"Q4_0" (needs hidden and intermediate multiples of 32).
    architecture / norm_dtype: only for negative tests -- e.g. architecture="rwkv6" (unsupported by
    transformers) or norm_dtype="f64" (an F64 tensor type that gguf.quants cannot dequantize).
    meta / skip_layers / extra_tensors: hostile files. ``meta`` overwrites header keys after the real
    ones ({"llama.block_count": 2**31}, a str or float where a number belongs, a short token list);
    ``skip_layers`` leaves those layers' tensors out, ``skip_tensors`` those tensors; ``extra_tensors`` adds raw numpy arrays (a 0-d
    array gives a tensor with n_dims = 0).
    """
    import gguf

    qtype = None
    if dtype not in ("f32", "f16"):
        qtype = gguf.GGMLQuantizationType[dtype.upper()]  # KeyError for unknown names
    if hidden % n_heads or n_heads % n_kv_heads:
        raise ValueError("hidden must be divisible by n_heads, n_heads by n_kv_heads")
    head_dim = hidden // n_heads
    tokens, types, merges = _tiny_bpe_vocab(vocab_size)
    vocab = len(tokens)
    np_dtype = np.float16 if dtype == "f16" else np.float32
    norm_np = {"f32": np.float32, "f16": np.float16, "f64": np.float64}[norm_dtype]
    rng = np.random.default_rng(seed)

    def rnd(*shape):  # rounded through the storage dtype so `expected` matches exactly
        return (rng.standard_normal(shape, dtype=np.float32) * 0.2).astype(np_dtype).astype(np.float32)

    def add2d(name, arr):  # 2-D weight in the requested storage type; returns what a loader should see
        if qtype is None:
            w.add_tensor(name, arr.astype(np_dtype))
            return arr
        packed = gguf.quants.quantize(arr, qtype)
        w.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=qtype)
        return gguf.quants.dequantize(packed, qtype).reshape(arr.shape)

    w = gguf.GGUFWriter(str(path), architecture)
    # --- metadata the transformers legacy loader maps into LlamaConfig (integrations/ggml.py) ---
    w.add_name(name)  # NB: a name containing "mistral" flips model_type to mistral
    w.add_context_length(context_length)  # max_position_embeddings
    w.add_block_count(n_layers)  # num_hidden_layers
    w.add_embedding_length(hidden)  # hidden_size
    w.add_feed_forward_length(intermediate)  # intermediate_size
    w.add_head_count(n_heads)  # num_attention_heads
    w.add_head_count_kv(n_kv_heads)  # num_key_value_heads (also used to un-permute attn_k)
    w.add_rope_dimension_count(head_dim)  # head_dim
    w.add_rope_freq_base(10000.0)  # rope_theta
    w.add_layer_norm_rms_eps(1e-5)  # rms_norm_eps
    w.add_vocab_size(vocab)  # vocab_size (else len(tokens))
    if qtype is None:
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    else:
        w.add_file_type(getattr(gguf.LlamaFileType, f"MOSTLY_{qtype.name}", gguf.LlamaFileType.GUESSED))
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    # --- tokenizer (integrations/gguf/gguf_tokenizer_mapping.py) ---
    w.add_tokenizer_model("gpt2")  # -> byte-level BPE (GPT2Tokenizer)
    w.add_tokenizer_pre("default")  # unknown pre names just keep GPT-2's ByteLevel pre-tokenizer
    w.add_token_list(tokens)
    w.add_token_types(types)  # 3 = CONTROL -> added as special tokens
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)  # <|im_end|>, as SmolLM2 does: generation stops at end of turn
    w.add_pad_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(False)
    if chat_template is not None:
        w.add_chat_template(chat_template)
    for key, value in (meta or {}).items():
        _add_meta(w, key, value)

    expected = {}
    emb = rnd(vocab, hidden)
    emb = add2d("token_embd.weight", emb)
    expected["model.embed_tokens.weight"] = emb
    for i in range(n_layers):
        if i in skip_layers:
            continue
        p = f"model.layers.{i}."
        tensors = {
            "attn_q": ("self_attn.q_proj", rnd(n_heads * head_dim, hidden), n_heads),
            "attn_k": ("self_attn.k_proj", rnd(n_kv_heads * head_dim, hidden), n_kv_heads),
            "attn_v": ("self_attn.v_proj", rnd(n_kv_heads * head_dim, hidden), None),
            "attn_output": ("self_attn.o_proj", rnd(hidden, n_heads * head_dim), None),
            "ffn_gate": ("mlp.gate_proj", rnd(intermediate, hidden), None),
            "ffn_up": ("mlp.up_proj", rnd(intermediate, hidden), None),
            "ffn_down": ("mlp.down_proj", rnd(hidden, intermediate), None),
        }
        for gname, (hname, arr, permute_heads) in tensors.items():
            if f"blk.{i}.{gname}.weight" in skip_tensors:
                continue
            stored = _llama_cpp_permute(arr, permute_heads) if permute_heads else arr
            # numpy shape is (out, in); GGUFWriter stores it reversed (ggml order) by itself
            seen = add2d(f"blk.{i}.{gname}.weight", stored)
            if permute_heads:  # transformers un-permutes after dequantizing
                seen = _llama_cpp_unpermute(seen, permute_heads)
            expected[p + hname + ".weight"] = seen
        for gname, hname in (("attn_norm", "input_layernorm"), ("ffn_norm", "post_attention_layernorm")):
            norm = (1.0 + rng.standard_normal(hidden, dtype=np.float32) * 0.05).astype(norm_np)
            w.add_tensor(f"blk.{i}.{gname}.weight", norm)
            norm = norm.astype(np.float32)
            expected[p + hname + ".weight"] = norm
    out_norm = np.ones(hidden, dtype=np.float32)
    w.add_tensor("output_norm.weight", out_norm)
    expected["model.norm.weight"] = out_norm
    if tie_embeddings:  # no output.weight -> transformers sets tie_word_embeddings=True
        expected["lm_head.weight"] = emb
    else:
        expected["lm_head.weight"] = add2d("output.weight", rnd(vocab, hidden))

    for tname, arr in (extra_tensors or {}).items():
        w.add_tensor(tname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return expected


def _add_meta(w, key: str, value) -> None:
    """One header key with the GGUF type its Python value suggests (overwriting any earlier value)."""
    import logging

    import gguf

    logging.getLogger("gguf.gguf_writer").setLevel(logging.ERROR)  # "Duplicated key name": on purpose here
    if isinstance(value, bool):
        w.add_bool(key, value)
    elif isinstance(value, int):
        (w.add_uint32 if 0 <= value < 2**32 else w.add_int64)(key, value)
    elif isinstance(value, float):
        w.add_float32(key, value)
    elif isinstance(value, str):  # add_string skips an empty string: "" is a hostile value worth writing
        w.add_key_value(key, value, gguf.GGUFValueType.STRING)
    elif isinstance(value, list):
        w.add_array(key, value)
    else:
        raise TypeError(f"no GGUF type for {type(value).__name__}")
