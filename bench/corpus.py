"""Realistic synthetic questions for the dedup benchmark: varied lengths, Zipf-distributed words,
and injected near-duplicates (case changes, typos, dropped/repeated/swapped words, "Please" prefixes)."""

from __future__ import annotations

import itertools
import random

_COMMON = (
    "the of and to in is for on that with as by at from this be are or an it was which can what how "
    "when why who where does do should would could will many much most best first last new old long "
    "short high low big small large good better right left main other same different each every some "
    "any all more less time year day way part place case point group number world area rule team game "
    "player ball goal field match referee penalty foul card kick throw corner offside line half minute "
    "period score win lose draw play start end stop restart keeper defender striker coach substitute "
    "model data training dataset question answer token learning rate epoch batch loss layer weight "
    "value function method system process result example reason problem issue difference between "
    "allowed required happen happens mean means count counts given taken made used called known"
).split()
_SYLLABLES = "ka ri to ne sa mu lo pe vi da ze ho ba ly cor tan mer vel gra pol sin dru fen hal qui".split()
_STARTS = ["What is", "How does", "Why is", "When can", "Who decides", "Where should", "Which", "How many",
           "Can a", "Is it", "What happens if", "How long", "What are", "Does the", "How do you"]


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    words = set(_COMMON)
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _variant(rng: random.Random, text: str) -> str:
    words = text.split()
    kind = rng.randrange(6)
    if kind == 0:
        return text.upper() if rng.random() < 0.5 else text.lower()
    if kind == 1 and len(text) > 3:  # one typo: substitute, delete or insert a character
        i = rng.randrange(len(text))
        op = rng.randrange(3)
        c = rng.choice("abcdefghijklmnopqrstuvwxyz")
        return text[:i] + c + text[i + 1:] if op == 0 else text[:i] + text[i + 1:] if op == 1 else text[:i] + c + text[i:]
    if kind == 2 and len(words) > 3:
        del words[rng.randrange(1, len(words))]
    elif kind == 3:
        i = rng.randrange(len(words))
        words.insert(i, words[i])
    elif kind == 4 and len(words) > 2:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == 5:
        return "Please " + text[0].lower() + text[1:]
    return " ".join(words)


def questions(n: int, *, seed: int = 0, duplicate_rate: float = 0.1) -> list[str]:
    """``n`` questions of 3 to 40 words; about ``duplicate_rate`` of them are variants of another."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    rng.shuffle(vocab)
    vocab = _COMMON + [w for w in vocab if w not in set(_COMMON)]  # common English words rank first
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]  # Zipf: a few words are very common
    cum = list(itertools.accumulate(weights))
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < duplicate_rate:
            out.append(_variant(rng, rng.choice(out)))
            continue
        length = max(1, min(40, int(rng.lognormvariate(2.2, 0.5))))
        body = " ".join(rng.choices(vocab, cum_weights=cum, k=length))
        out.append(f"{rng.choice(_STARTS)} {body}?")
    return out
