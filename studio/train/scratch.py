"""Training from zero: a byte-level BPE tokenizer learned from the dataset and a small GPT-2.

Works fully offline. The sizes are presets; ``small`` is what the ``scratch`` training preset uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from studio.models import hf_import, prompt_format

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class ScratchSize:
    n_layer: int
    n_embd: int
    n_head: int
    note: str


SIZES: dict[str, ScratchSize] = {
    # ~25 k parameters besides the embeddings: for tests and smoke runs, learns little.
    "tiny": ScratchSize(n_layer=2, n_embd=32, n_head=2, note="smoke tests"),
    # ~0.8 M parameters besides the embeddings: memorises a 40-question FAQ on a 2-core CPU in minutes.
    "small": ScratchSize(n_layer=4, n_embd=128, n_head=4, note="a FAQ of tens to hundreds of records"),
    # ~4.7 M parameters besides the embeddings: a few thousand records, wants a GPU.
    "medium": ScratchSize(n_layer=6, n_embd=256, n_head=8, note="thousands of records; a GPU helps"),
}


def corpus(records: Iterable[dict]) -> list[str]:
    """The texts the tokenizer learns from: every record in the training format."""
    return [prompt_format.prompt(r["question"], prompt_format.context_of(r)) + prompt_format.completion(r["answer"])
            for r in records]


def train_tokenizer(texts: list[str], vocab_size: int = 2000) -> Any:
    """A byte-level BPE tokenizer (GPT-2's kind) trained on ``texts``; EOS doubles as padding.

    Byte-level means any text can be encoded, including characters the dataset never had.
    """
    from tokenizers import ByteLevelBPETokenizer
    hf_import.ready()
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    # no progress bars: out of a terminal they are blank lines among `train`'s own lines and a job's log
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False)
    # the wrapper's inner Tokenizer: the wrapper itself lacks parts of the API (truncation direction)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOS, bos_token=EOS, pad_token=EOS,
                                  unk_token=EOS)
    tok.model_max_length = 1024
    return tok


def build_model(tokenizer: Any, size: str = "small", n_positions: int = 512, seed: int = 0) -> Any:
    """A randomly initialised GPT-2 of the given size for ``tokenizer``'s vocabulary."""
    import torch
    hf_import.ready()
    from transformers import GPT2Config, GPT2LMHeadModel

    if size not in SIZES:
        raise ValueError(f"unknown scratch size {size!r}; choose one of {', '.join(SIZES)}")
    s = SIZES[size]
    cfg = GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=s.n_embd, n_layer=s.n_layer, n_head=s.n_head,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        # small data: no dropout would over-fit, much dropout slows memorising; 0.1 is GPT-2's own
        resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
    )
    torch.manual_seed(seed)
    return GPT2LMHeadModel(cfg)
