"""A transformers tokenizer as GGUF metadata: tokens, types, merges or scores, special tokens, chat template.

Two tokenizer families, told apart by ``tokenizer.json`` as llama.cpp's converter tells them:
- byte-level BPE (GPT-2, SmolLM2, the studio's scratch tokenizers): ``tokenizer.ggml.model = "gpt2"``,
  tokens in GPT-2's byte-to-unicode spelling, the merges, and a pre-tokenizer name llama.cpp knows
  (``gpt-2`` for a plain ByteLevel split, ``smollm`` when digits are split one by one first);
- SentencePiece-style BPE with byte fallback (Llama 2, Phi-3): ``tokenizer.ggml.model = "llama"``,
  ``<0xNN>`` byte tokens typed BYTE, and scores from the merge order (llama.cpp's SPM tokenizer merges
  the pair whose result scores highest, which reproduces BPE's rank order).

Token types follow ``get_vocab_base``: added special tokens CONTROL, other added tokens
USER_DEFINED, ids the tokenizer lacks (an embedding padded past the vocabulary) UNUSED.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from studio.errors import StudioError


@dataclass
class Vocab:
    model: str  # "gpt2" or "llama"
    pre: str | None
    tokens: list[str]
    types: list[int]
    merges: list[str] = field(default_factory=list)
    scores: list[float] | None = None
    special_ids: dict[str, int] = field(default_factory=dict)  # "bos", "eos", "unk", "pad" -> id
    add_bos: bool = False
    add_eos: bool = False
    chat_template: str | None = None
    eos_text: str | None = None  # the stop token as text ("<|im_end|>")
    add_space_prefix: bool | None = None  # SentencePiece-style: "▁" put before the text (Llama 2, Phi-3)


def _pre_name(pre: dict | None) -> str:
    """llama.cpp's pre-tokenizer name for a byte-level tokenizer's ``pre_tokenizer`` section."""
    if not pre:
        raise StudioError("This tokenizer splits no words before BPE: llama.cpp has no matching pre-tokenizer, so "
                          "the model cannot be exported.")
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"  # SmolLM/StarCoder: each digit alone, then GPT-2's split
    raise StudioError(f"This tokenizer's pre-tokenizer ({' + '.join(map(str, kinds))}) has no llama.cpp "
                      "equivalent the exporter knows (ByteLevel, or Digits + ByteLevel): it cannot be exported.")


def _merges(model: dict) -> list[str]:
    merges = model.get("merges") or []
    if merges and isinstance(merges[0], list):  # transformers >= 4.45 stores pairs; spaces spelled as llama.cpp does
        return [" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in part) for part in pair)
                for pair in merges]
    return list(merges)


def _looks_special(token: str) -> bool:
    return bool(re.fullmatch(r"<\|.*\|>|<[a-z_]+>|\[[A-Z_]+\]", token))


def build(tokenizer: Any, vocab_size: int, chat_template: str | None) -> Vocab:
    """The GGUF vocabulary of ``tokenizer`` for a model whose embedding has ``vocab_size`` rows."""
    import gguf

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise StudioError("This model's tokenizer has no tokenizer.json (a slow tokenizer): save it with a fast "
                          "tokenizer and export again.")
    spec = json.loads(backend.to_str())
    bpe = spec.get("model") or {}
    if bpe.get("type") != "BPE":
        raise StudioError(f"This model's tokenizer is {bpe.get('type')!r}: the exporter writes BPE tokenizers "
                          "(byte-level or with byte fallback).")
    byte_fallback = bool(bpe.get("byte_fallback"))
    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = {t.content: t for t in getattr(tokenizer, "added_tokens_decoder", {}).values()}
    if len(reverse) > vocab_size:
        raise StudioError(f"The tokenizer has {len(reverse):,} tokens but the model only {vocab_size:,} embeddings: "
                          "they do not belong together.")
    merges = _merges(bpe)
    rank = {}
    if byte_fallback:
        for r, m in enumerate(merges):
            rank.setdefault(m.replace(" ", "", 1), r)
    tokens, types, scores = [], [], []
    for i in range(vocab_size):
        token = reverse.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            scores.append(-1000.0)
            continue
        if token in added:
            kind = gguf.TokenType.CONTROL if added[token].special or _looks_special(token) else gguf.TokenType.USER_DEFINED
            score = 0.0
        elif byte_fallback and re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", token):
            kind, score = gguf.TokenType.BYTE, 0.0
        else:
            kind = gguf.TokenType.NORMAL
            score = -float(rank[token]) if token in rank else 0.0
        tokens.append(token)
        types.append(kind)
        scores.append(score)
    ids = {}
    for kind in ("bos", "eos", "unk", "pad"):
        value = getattr(tokenizer, f"{kind}_token_id", None)
        if isinstance(value, int) and 0 <= value < vocab_size:
            ids[kind] = value
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    out = Vocab(model="llama" if byte_fallback else "gpt2", pre=None if byte_fallback else _pre_name(spec.get("pre_tokenizer")),
                tokens=tokens, types=[int(t) for t in types], merges=[] if byte_fallback else merges,
                scores=scores if byte_fallback else None, special_ids=ids,
                add_bos="bos" in ids and bool(probe) and probe[0] == ids["bos"],
                add_eos="eos" in ids and bool(probe) and probe[-1] == ids["eos"] and len(probe) > 1,
                chat_template=chat_template, eos_text=tokenizer.eos_token,
                add_space_prefix=_space_prefix(spec) if byte_fallback else None)
    return out


def _space_prefix(spec: dict) -> bool:
    """Whether a SentencePiece-style tokenizer puts "▁" before the text (a Prepend normalizer, or a
    Metaspace pre-tokenizer that prepends): llama.cpp's ``add_space_prefix``."""
    def walk(node: dict | None, key: str):
        if not node:
            return
        yield node
        for child in node.get(key) or []:
            yield from walk(child, key)

    for n in walk(spec.get("normalizer"), "normalizers"):
        if n.get("type") == "Prepend" and n.get("prepend") == "\u2581":
            return True
    for n in walk(spec.get("pre_tokenizer"), "pretokenizers"):
        if n.get("type") == "Metaspace" and n.get("prepend_scheme", "always") != "never":
            return True
    return False


def write(writer: Any, vocab: Vocab) -> None:
    """Add ``vocab``'s key/values to a ``gguf.GGUFWriter``."""
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    for kind, value in vocab.special_ids.items():
        getattr(writer, f"add_{kind}_token_id")(value)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
