"""The character-count bound that drops fuzzy candidates before scoring never drops a real pair."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from bench.corpus import questions
from studio.dedup import bounds
from studio.dedup import fuzzy as dedup

# Few letters make many near-equal strings; other scripts, digits and long runs (over 255 of one
# letter: the capped bins) test the edges of the bound.
_text = st.one_of(st.text(alphabet="ab c1é漢", max_size=40), st.text(max_size=30),
                  st.integers(250, 300).map(lambda k: "a" * k))


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(_text, _text), min_size=1, max_size=30), threshold=st.floats(0, 100))
def test_the_bound_keeps_every_pair_that_reaches_the_threshold(pairs, threshold):
    texts = [t for pair in pairs for t in pair]
    counts = bounds.char_counts(texts)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    a, b = np.arange(0, len(texts), 2), np.arange(1, len(texts), 2)
    kept = bounds.may_reach(counts, lengths, a, b, threshold)
    for k, (x, y) in enumerate(pairs):
        if fuzz.ratio(x, y) >= threshold:
            assert kept[k], (x, y)


def test_the_bound_drops_most_unrelated_candidates():
    texts = dedup.prepare(questions(2000, seed=5))
    counts = bounds.char_counts(texts)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(texts), 20_000), rng.integers(0, len(texts), 20_000)
    kept = bounds.may_reach(counts, lengths, a, b, 90)
    assert kept.mean() < 0.05
