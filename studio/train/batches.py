"""Batches filled to a token budget (``TrainConfig.batch_tokens``): many short records a step, fewer long ones.

A batch of ``batch_size`` records costs a step's fixed overhead whatever the records' lengths, so on a GPU
a step of short records leaves it idle. Here each batch is filled up to a number of tokens instead, as
fairseq's ``--max-tokens`` and torchtune's packing do:

- padded batches count what the step computes, padding included: records x the batch's longest;
- packed rows (``studio.train.packing``) count their real tokens, the row's length;
- a record longer than the budget is a batch of its own (records are cut at ``max_length`` as always),
  never dropped; every training record is in exactly one batch per epoch.

How the batches are made, per epoch (fairseq's ``batch_by_size`` over a length-sorted order):
records sorted by length, ties broken at random; filled greedily in that order; the batches' order
shuffled. Both draws come from ``random.Random`` seeded with the run's seed and the epoch, so every
process of an ``accelerate launch`` makes the same batches (accelerate hands them out in turn) and a run
resumed mid-epoch continues with the very batches it would have had. Breaking ties only permutes
records of equal length, so the batches' boundaries, and their count (``len``: the Trainer's steps per
epoch, the schedule, the progress), are the same every epoch.

Pure data in, data out: no torch here, so the contract is tested on plain lists (tests/train/test_batches.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from studio.models import hf_import


def cost(lengths: Sequence[int], packed: bool) -> int:
    """Tokens a batch of records of these ``lengths`` costs: the sum packed, records x longest padded."""
    if not lengths:
        return 0
    return sum(lengths) if packed else len(lengths) * max(lengths)


def plan(lengths: Sequence[int], budget: int, *, packed: bool = False, seed: int = 0, epoch: int = 0) -> list[list[int]]:
    """One epoch's batches: lists of indices into ``lengths``, each costing at most ``budget`` tokens (``cost``)
    unless it is one record longer than the budget; every index exactly once; deterministic in (seed, epoch)."""
    if budget < 1:
        raise ValueError(f"a token budget is a positive number of tokens, not {budget}")
    rng = random.Random(f"studio-batches:{seed}:{epoch}")  # a str seed hashes the same in every process
    ties = [rng.random() for _ in lengths]
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], ties[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    total = longest = 0
    for i in order:
        n = lengths[i]
        grown = total + n if packed else (len(current) + 1) * max(longest, n)
        if current and grown > budget:
            batches.append(current)
            current, total, longest = [], 0, 0
        current.append(i)
        total += n
        longest = max(longest, n)
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def largest(lengths: Sequence[int], budget: int, packed: bool = False) -> tuple[int, int]:
    """(records, tokens each) of the batch that costs the most under ``budget``: what the memory estimate sizes.
    Padded it is that batch's shape; packed, one row of its real tokens."""
    if not lengths:
        return 0, 0
    worst = max(plan(lengths, budget, packed=packed), key=lambda b: cost([lengths[i] for i in b], packed))
    sizes = [lengths[i] for i in worst]
    return (1, sum(sizes)) if packed else (len(sizes), max(sizes))


class TokenBudgetSampler:
    """A batch sampler (``DataLoader(batch_sampler=...)``) over ``plan``'s batches. ``set_epoch`` picks the
    epoch's order; the Trainer calls it at each epoch's start (``EpochCallback``, whatever wraps the sampler)."""

    def __init__(self, lengths: Sequence[int], budget: int, *, packed: bool = False, seed: int = 0):
        self.lengths, self.budget, self.packed, self.seed = list(lengths), int(budget), packed, seed
        self.epoch = 0
        self._count = len(plan(self.lengths, self.budget, packed=packed, seed=seed))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        yield from plan(self.lengths, self.budget, packed=self.packed, seed=self.seed, epoch=self.epoch)

    def __len__(self) -> int:
        return self._count


def epoch_callback(sampler: TokenBudgetSampler) -> Any:
    """A Trainer callback that sets the sampler's epoch from the Trainer's state at each epoch's start, before
    the epoch's batches are drawn. The Trainer's own ``set_epoch`` calls do not reach a batch sampler under every
    wrapping (accelerate's shard under its skip-ahead on a resumed multi-process run); the state's epoch does:
    resumed mid-epoch it is e.g. 1.5, whose whole part is the epoch being finished."""
    hf_import.ready()
    from transformers import TrainerCallback

    class EpochCallback(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            sampler.set_epoch(int(state.epoch or 0))

    return EpochCallback()
