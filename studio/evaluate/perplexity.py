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
    out: list[float | None] = []
    for start in range(0, len(encoded), batch_size):
        if stop is not None and stop():
            return out + [None] * (len(encoded) - start)
        chunk = encoded[start:start + batch_size]
        batch = collate(recipe.features(chunk))
        batch = {k: v.to(lm.device) for k, v in batch.items()}
        with torch.inference_mode():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        labels = batch["labels"][:, 1:]
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        mask = labels != recipe.IGNORE
        picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        scored = mask.sum(dim=1)
        nll = -(picked * mask).sum(dim=1) / scored.clamp(min=1)
        out.extend(math.exp(min(float(x), 50.0)) if n else None for x, n in zip(nll, scored))
    return out
