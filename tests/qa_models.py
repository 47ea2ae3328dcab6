"""Tiny extractive (BERT question-answering) models, built from a config and saved locally.

``build_tiny_qa(path)`` is random: it loads and answers like any extractive model, with no skill.
``build_trained_qa(path)`` is trained here for a few seconds to point at one name ("Marcundes", the
tutorial's) wherever it stands in a passage: tests use it to check that the span comes back with the
right offsets, also from the far end of a passage longer than one window.
"""

from __future__ import annotations

from pathlib import Path

NAME = "Marcundes"
QUESTION = "Qual é o meu nome?"
FILLER = ("Estou gravando uma aula sobre Hugging Face e modelos de linguagem pequenos. "
          "A aula fala de tokens, janelas de contexto e perguntas sobre um texto. ")
TEXTS = [FILLER, f"Meu nome é {NAME} e estou gravando uma aula sobre Hugging Face.", QUESTION,
         "The referee enforces the Laws of the Game. A match lasts two halves of 45 minutes."]


def _tokenizer(path: Path):
    from tokenizers import BertWordPieceTokenizer
    from transformers import PreTrainedTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(TEXTS * 10, vocab_size=300, min_frequency=1)
    tok = PreTrainedTokenizerFast(tokenizer_object=wp._tokenizer, unk_token="[UNK]", sep_token="[SEP]", cls_token="[CLS]",
                                  pad_token="[PAD]", mask_token="[MASK]", model_max_length=128,
                                  model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    tok.save_pretrained(path)
    return tok


def build_tiny_qa(path: Path, *, max_positions: int = 128):
    """A randomly initialised ``BertForQuestionAnswering`` and its WordPiece tokenizer, saved to ``path``."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    path.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(path)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=max_positions, pad_token_id=tok.pad_token_id)
    model = BertForQuestionAnswering(cfg)
    model.save_pretrained(path)
    return model, tok


def build_trained_qa(path: Path) -> Path:
    """A tiny extractive model that answers ``QUESTION`` with ``NAME`` wherever it stands (60 steps, ~3 s)."""
    import random

    import torch

    model, tok = build_tiny_qa(path)
    rng = random.Random(0)
    examples = []
    for _ in range(24):  # the name at a different place in each passage
        words = FILLER.split()
        at = rng.randrange(len(words))
        context = " ".join(words[:at] + [NAME] + words[at:])
        start = context.index(NAME)
        enc = tok(QUESTION, context, return_offsets_mapping=True, truncation="only_second", max_length=96)
        seq = enc.sequence_ids()
        tok_start = next(i for i, (s, o) in enumerate(zip(seq, enc["offset_mapping"])) if s == 1 and o[0] == start)
        tok_end = max(i for i, (s, o) in enumerate(zip(seq, enc["offset_mapping"]))
                      if s == 1 and o[1] <= start + len(NAME) and o[1] > start)
        examples.append((enc["input_ids"], enc["token_type_ids"], tok_start, tok_end))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(60):
        ids, types, s, e = examples[step % len(examples)]
        out = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]),
                    start_positions=torch.tensor([s]), end_positions=torch.tensor([e]))
        out.loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.save_pretrained(path)
    return path
