"""The perplexity of a reference answer under a model: an evaluation metric that needs no generation.

It scores the answer exactly as training does (``studio.train.recipe``: the training format, labels only
on the answer and its end of turn), so it lives beside the evaluation, not in the models package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def reference_perplexity(lm: Any, questions: Sequence[str], answers: Sequence[str], *, batch_size: int = 16,
                         contexts: Sequence[str | None] | None = None,
                         stop: Callable[[], bool] | None = None) -> list[float | None]:
    """Perplexity of each reference answer's tokens (and the EOS ending it) given its prompt; None where no token of
    the answer fits in the model's context after its prompt (nothing was scored: not the perfect 1.0 it would read).

    ``stop``: asked before each batch; once it says so, the answers not yet scored get None (Evaluate's Stop ends the
    pass at once, not after its last batch).

    Uses the model's training format (``studio.train.recipe``): the chat template when it has one, else
    ``Question: ...\\nAnswer: ...<eos>``. Lower is better; it needs no generation.
    """
    import math

    import torch

    from studio.models.generate import context_limit
    from studio.train import recipe

    tok, model = lm.tokenizer, lm.model
    limit = context_limit(model) or 1024
    contexts = list(contexts) if contexts is not None else [None] * len(questions)
    encoded = [recipe.encode_record(tok, q, a, limit, c) for q, a, c in zip(questions, answers, contexts)]
    collate = recipe.Collator(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    # A prompt that fills the context leaves no word of the reference to score: None, without a pass of the model over
    # it (a pasted document of 8,000 tokens cost as long as its answer, for a "—").
    scorable = [i for i, e in enumerate(encoded) if e.prompt_len < len(e.input_ids)]
    out: list[float | None] = [None] * len(encoded)
    for start in range(0, len(scorable), batch_size):
        if stop is not None and stop():
            return out
        rows = scorable[start:start + batch_size]
        chunk = [encoded[i] for i in rows]
        batch = collate(recipe.features(chunk))
        batch = {k: v.to(lm.device) for k, v in batch.items()}
        width = batch["input_ids"].shape[1]
        # Only the positions that predict a word of the reference: the logits of a long prompt's every position (the
        # model's vocabulary wide, 1.6 GB for 8,000 tokens of SmolLM2, and again for their log-softmax) scored nothing.
        keep = width - min(e.prompt_len for e in chunk) + 1
        with torch.inference_mode():
            logits = _logits(model, batch, keep)
        labels = batch["labels"][:, width - logits.shape[1] + 1:]
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        mask = labels != recipe.IGNORE
        picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        scored = mask.sum(dim=1)
        nll = -(picked * mask).sum(dim=1) / scored.clamp(min=1)
        for i, x, n in zip(rows, nll, scored):
            out[i] = math.exp(min(float(x), 50.0)) if n else None
    return out


def _logits(model: Any, batch: dict[str, Any], keep: int) -> Any:
    """The logits of the last ``keep`` positions (``logits_to_keep``, where the model's forward takes it; else all of
    them, cut after)."""
    import inspect

    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        return model(**inputs, logits_to_keep=keep).logits
    return model(**inputs).logits[:, -keep:]
