"""A tiny Phi-3 with a SentencePiece-style tokenizer (BPE with byte fallback, ``▁`` for spaces, no
pre-tokenizer), the kind Phi-3.5-mini and Llama 2 ship: the exporter writes it as llama.cpp's
``llama`` (SPM) vocabulary with scores from the merge order. Built with the ``tokenizers`` library."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PHI35_TEMPLATE, TINY_TEXT


def build_tiny_spm_phi3(path: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]  # in the vocabulary, as in Llama's: ids 3..258
    tok = Tokenizer(models.BPE(byte_fallback=True, fuse_unk=True, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")  # for training only: pieces within words
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>", *byte_tokens],
                                  initial_alphabet=list("▁abcdefghijklmnopqrstuvwxyz"))
    tok.train_from_iterator(TINY_TEXT * 20, trainer)
    spec = json.loads(tok.to_str())
    spec["pre_tokenizer"] = None  # as Llama's tokenizer.json: a normalizer puts ▁ in, BPE runs on the whole text
    spec["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] in ("<unk>", "<s>", "</s>")]
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="</s>")
    fast.chat_template = PHI35_TEMPLATE
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = Phi3Config(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                     pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id, bos_token_id=fast.bos_token_id)
    Phi3ForCausalLM(cfg).save_pretrained(path)
    return path
