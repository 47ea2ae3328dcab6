"""The training recipe: Q&A records to token ids and labels, batches without wasted padding, a seeded split.

The tutorial this studio grew from padded every record to 512 tokens and trained on
``labels = input_ids``: with pad == EOS the loss was dominated by padding, the prompt was learned as
much as the answer, and the collator masked every EOS, so the model never learned to stop. Here:

- a record is the training format (``studio.models.prompt_format``) or the model's chat template, the same
  text generation uses later;
- labels are -100 on the prompt and on padding; the answer's tokens and one end of turn carry loss (the
  chat template's own, such as ChatML's ``<|im_end|>``, else the EOS appended after the answer);
- each batch is padded to its own longest record, and records of similar length are batched together;
  on a GPU a batch can go unpadded: its records end to end in one row (``PackedCollator``; the attention
  that keeps them apart is ``studio.train.packing``).

Everything here is pure data in, data out; torch is imported only by the collator.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from studio.errors import TrainingError
from studio.models import prompt_format

IGNORE = -100
"""The label value the loss ignores (PyTorch's cross-entropy default)."""

FORMAT_QA = "question-answer"
FORMAT_CHAT = "chat-template"


@dataclass(frozen=True)
class Encoded:
    """One record as the model sees it."""

    input_ids: list[int]
    labels: list[int]  # IGNORE on the prompt; the answer's ids and the EOS otherwise
    prompt_len: int  # how many leading tokens are prompt
    truncated: bool  # the record was longer than max_length and lost its tail (and its EOS)
    full_length: int = 0  # its tokens before the cut to max_length (0: not counted)

    @property
    def loss_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def format_name(tokenizer: Any) -> str:
    """Which training format a tokenizer gets: its chat template when it has one, else Question/Answer."""
    return FORMAT_CHAT if getattr(tokenizer, "chat_template", None) else FORMAT_QA


def render(tokenizer: Any, question: str, answer: str, context: str | None = None) -> tuple[str, str]:
    """(prompt text, completion text) exactly as the model is trained on them; EOS is added as a token id.

    A record's passage (``context``) goes into the prompt, before the question; the loss stays on the answer.
    """
    if format_name(tokenizer) == FORMAT_CHAT:
        user = [{"role": "user", "content": prompt_format.user_content(question, context)}]
        prompt_text = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": answer.strip()}], tokenize=False)
        if full.startswith(prompt_text):
            return prompt_text, full[len(prompt_text):]
        return prompt_text, answer.strip()  # a template that re-renders earlier turns: train on the answer alone
    return prompt_format.prompt(question, context), prompt_format.completion(answer)


def encode_record(tokenizer: Any, question: str, answer: str, max_length: int, context: str | None = None) -> Encoded:
    """Token ids and labels of one record: loss on the answer and the EOS that ends it.

    A record longer than ``max_length`` keeps its prompt and loses the tail of its answer (and so its
    EOS); ``truncated`` says so and the caller warns.
    """
    prompt_text, completion_text = render(tokenizer, question, answer, context)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(completion_text, add_special_tokens=False)["input_ids"]
    answer_ids = _end_of_turn(tokenizer, answer_ids)
    ids = prompt_ids + answer_ids
    full_length = len(ids)
    truncated = len(ids) > max_length
    if truncated:
        ids = ids[:max_length]
    n_prompt = min(len(prompt_ids), len(ids))
    labels = [IGNORE] * n_prompt + ids[n_prompt:]
    return Encoded(ids, labels, n_prompt, truncated, full_length)


def _end_of_turn(tokenizer: Any, answer_ids: list[int]) -> list[int]:
    """The answer's ids ending with exactly one end of turn, which carries loss. A chat template that
    ends the turn itself (ChatML's ``<|im_end|>``, Phi-3's ``<|end|>``) keeps its own end and loses
    the whitespace after it; otherwise the tokenizer's EOS is appended."""
    ends = _turn_ends(tokenizer)
    last = len(answer_ids)
    while last and answer_ids[last - 1] not in ends and not tokenizer.decode(answer_ids[last - 1:last]).strip():
        last -= 1  # the newline a template writes after the turn's end
    if last and answer_ids[last - 1] in ends:
        return answer_ids[:last]
    eos = tokenizer.eos_token_id
    return answer_ids + [eos] if eos is not None else answer_ids


def _turn_ends(tokenizer: Any) -> frozenset[int]:
    """The ids that end an answer (generation's stop rule), worked out once per tokenizer."""
    ends = getattr(tokenizer, "_studio_turn_ends", None)
    if ends is None:
        from studio.models.generate import stop_token_ids

        ends = frozenset(stop_token_ids(tokenizer))
        try:
            tokenizer._studio_turn_ends = ends
        except AttributeError:  # a tokenizer that refuses new attributes: computed each time
            pass
    return ends


def usable(record: dict) -> bool:
    """A record that can be trained on: a non-empty question and answer."""
    q, a = record.get("question"), record.get("answer")
    return isinstance(q, str) and isinstance(a, str) and bool(q.strip()) and bool(a.strip())


def usable_indices(records: Sequence[dict]) -> list[int]:
    """Indices of the records that can be trained on; raises when fewer than two remain."""
    keep = [i for i, r in enumerate(records) if usable(r)]
    if not records:
        raise TrainingError("The dataset is empty: add at least two Q&A records on the Dataset page.")
    if not keep:
        raise TrainingError("No record has both a question and an answer: fix the dataset on the Dataset page.")
    if len(keep) < 2:
        raise TrainingError(f"Only {len(keep)} usable record: training needs at least two Q&A records.")
    return keep


def split_indices(indices: Sequence[int], test_fraction: float, seed: int) -> dict[str, list[int]]:
    """A seeded train/test split of record indices: ``{"train": [...], "test": [...]}``, each sorted.

    ``test_fraction`` 0 keeps every record for training (a FAQ bot must answer all of them); otherwise
    at least one record is held out and at least one trained on.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise TrainingError(f"Held-out fraction {test_fraction} is out of range: use 0 to 0.9.")
    order = list(indices)
    random.Random(seed).shuffle(order)
    n_test = 0 if test_fraction == 0 else min(len(order) - 1, max(1, round(len(order) * test_fraction)))
    return {"train": sorted(order[n_test:]), "test": sorted(order[:n_test])}


def encode_records(tokenizer: Any, records: Sequence[dict], indices: Sequence[int], max_length: int) -> list[Encoded]:
    return [encode_record(tokenizer, records[i]["question"], records[i]["answer"], max_length,
                          prompt_format.context_of(records[i])) for i in indices]


def features(encoded: Sequence[Encoded]) -> list[dict[str, list[int]]]:
    """The Trainer's dataset: a list of dicts (its length-grouped sampler reads ``input_ids``)."""
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]


def drop_words(text: str, share: float, rng: random.Random) -> str:
    """``text`` with each word left out with probability ``share``; at least two words stay."""
    words = text.split()
    if share <= 0 or len(words) <= 2:
        return text
    kept = [w for w in words if rng.random() >= share]
    return " ".join(kept) if len(kept) >= 2 else text


class Reworded:
    """The training records as a dataset that leaves out a random share of each question's words every
    time a record is drawn (word dropout), so the model learns to answer from what a question is about
    rather than from its exact wording. Answers, passages and the template are never touched.

    Seeded: the same seed and order of draws give the same questions.
    """

    def __init__(self, tokenizer: Any, records: Sequence[dict], max_length: int, share: float, seed: int):
        self.tokenizer, self.records, self.max_length, self.share = tokenizer, list(records), max_length, share
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        r = self.records[i]
        e = encode_record(self.tokenizer, drop_words(r["question"], self.share, self.rng), r["answer"],
                          self.max_length, prompt_format.context_of(r))
        return {"input_ids": e.input_ids, "labels": e.labels}


class Collator:
    """Dynamic padding: each batch is right-padded to its longest record, labels padded with -100.

    ``pad_to_multiple_of`` (8 on GPUs) keeps tensor cores busy. ``tokens_seen`` counts the real
    (non-padding) tokens batched so far, for the tokens/s the studio reports.
    """

    def __init__(self, pad_id: int, pad_to_multiple_of: int | None = None):
        self.pad_id = pad_id
        self.multiple = pad_to_multiple_of
        self.tokens_seen = 0

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in batch)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        ids, labels, mask = [], [], []
        for f in batch:
            n = len(f["input_ids"])
            pad = width - n
            ids.append(list(f["input_ids"]) + [self.pad_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE] * pad)
            mask.append([1] * n + [0] * pad)
            self.tokens_seen += n
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }


class PackedCollator:
    """Padding-free batches (CUDA): the batch's records end to end in ONE row, no attention mask, and
    ``position_ids`` that restart at 0 on each record, so attention never crosses from one record into
    the next (transformers builds a block-diagonal causal mask from them, as for its own
    ``DataCollatorWithFlattening``). Labels stay answer-only; each record's first label is -100 so the
    last token of a record is never trained to predict the next record's first. The loss equals the
    padded batch's (tests/train/test_packing.py), with no compute spent on padding.
    """

    def __init__(self) -> None:
        self.tokens_seen = 0

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for f in batch:
            n = len(f["input_ids"])
            ids.extend(f["input_ids"])
            labels.append(IGNORE)
            labels.extend(f["labels"][1:])
            pos.extend(range(n))
        self.tokens_seen += len(ids)
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([pos], dtype=torch.long),
        }


def token_rows(tokenizer: Any, enc: Encoded) -> list[dict[str, Any]]:
    """One row per token for the preview: position, id, the token's text, whether it carries loss."""
    rows = []
    for pos, (tid, label) in enumerate(zip(enc.input_ids, enc.labels)):
        text = tokenizer.decode([tid])
        rows.append({"pos": pos, "id": tid, "token": text, "loss": label != IGNORE})
    return rows


def preview_rows(tokenizer: Any, records: Sequence[dict], indices: Sequence[int], max_length: int) -> list[dict[str, Any]]:
    """One row per record for the pre-launch preview: the exact text, its token counts, truncation."""
    rows = []
    for i in indices:
        enc = encode_record(tokenizer, records[i]["question"], records[i]["answer"], max_length,
                            prompt_format.context_of(records[i]))  # as trained: the passage in the prompt
        rows.append({
            "record": i + 1, "text": tokenizer.decode(enc.input_ids), "tokens": len(enc.input_ids),
            "loss tokens": enc.loss_tokens, "truncated": enc.truncated, "tokens before the cut": enc.full_length,
        })
    return rows


def nothing_kept(train: Sequence[int], held_out: Sequence[int], max_length: int, setting: int | None = None) -> str | None:
    """The one-line refusal when no training record, or no held-out one, keeps a token of its answer within
    ``max_length`` (each prompt fills it: a run trained on nothing and said "train loss 0.0000", or reported "eval
    loss nan" at every evaluation), else None. ``train``, ``held_out``: per record, its tokens that carry loss.
    ``setting``: the run's Max length where the base's positions (``max_length``) end sooner: raising it cannot help."""
    by_positions = setting is not None and max_length < setting
    if by_positions:
        cut = f"within the base's {max_length:,} positions (whatever Max length is): each prompt fills them, so "
        remedy = "Shorten the questions"
    else:
        cut = f"within Max length ({max_length:,} tokens): each prompt fills it, so "
        remedy = "Raise Max length or shorten the questions"
    if train and not any(train):
        return f"No training record keeps any of its answer {cut}the run would learn nothing (a loss of 0). {remedy}."
    if held_out and not any(held_out):
        return (f"No held-out record keeps any of its answer {cut}the held-out loss cannot be measured (it would read "
                f"nan). {remedy.replace(' or ', ', ') if not by_positions else remedy}, or set Held-out fraction to 0.")
    return None


def answerless_line(n: int, max_length: int) -> str:
    """How many records lose their whole answer to the cut (they train on nothing), for the preview and the log."""
    return (f"{n:,} record{'s' if n != 1 else ''} lose{'' if n != 1 else 's'} {'their' if n != 1 else 'its'} whole "
            f"answer (the prompt fills the {max_length:,} tokens) and train{'' if n != 1 else 's'} on nothing.")


def longest_line(rows: Sequence[dict[str, Any]], max_length: int) -> str:
    """The preview's "Longest: N tokens" over ``preview_rows``: the longest record as written, not as cut ("Longest:
    128 tokens" under a Max length of 128 hid a 211-token record), and how many records the cut shortens."""
    longest = max((r["tokens before the cut"] for r in rows), default=0)
    cut = sum(bool(r["truncated"]) for r in rows)
    return f"Longest: {longest:,} tokens" + (f" ({cut:,} record{'s' if cut != 1 else ''} cut to {max_length:,})"
                                             if cut else "") + "."
