"""A cheap lower bound on the edit distance behind rapidfuzz's ``ratio``, to drop candidates before scoring.

``ratio`` is 100 * (1 - d / (len_a + len_b)), d the Indel distance (insertions and deletions). Every
character of one text that the other lacks costs one insertion or deletion, so d is at least the
L1 distance of the two texts' character counts; counting characters into 32 bins (and capping a
bin at 255) only lowers that sum, so it stays a lower bound. A candidate whose bound already puts
it below the threshold cannot reach it and is not scored: exactly the same pairs are found.

At a million questions the q-gram and word blocking gives ~46 million candidates, of which ~0.2%
are duplicates; scoring them with ``cpdist`` was the largest cost of the run. Comparing 32 bytes per
pair in numpy drops most of them first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BINS = 32
CHUNK = 50_000  # texts counted per step: bounds the per-character arrays
PAIRS = 250_000  # pairs tested per step: ~40 MB of working arrays


def _ascii_bins() -> np.ndarray:
    table = np.full(128, 31, dtype=np.int64)  # punctuation and other symbols (normalisation removes most)
    table[ord("a"):ord("z") + 1] = np.arange(26)
    table[ord("A"):ord("Z") + 1] = np.arange(26)
    table[ord(" ")] = 26
    table[ord("0"):ord("9") + 1] = 27 + np.arange(10) % 4
    return table


_ASCII = _ascii_bins()
_EVEN = np.uint64(0x00FF00FF00FF00FF)  # the even bytes of a word
_LANES = np.uint64(0x0001000100010001)  # times this, a word's four 16-bit lanes add up in its top lane


def char_counts(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), 32) uint8: each text's characters counted into 32 bins, capped at 255."""
    out = np.zeros((len(texts), BINS), dtype=np.uint8)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start:start + CHUNK]
        lens = np.fromiter((len(s) for s in chunk), dtype=np.int64, count=len(chunk))
        codes = np.frombuffer("".join(chunk).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        bins = np.where(codes < 128, _ASCII[np.minimum(codes, 127)], 27 + codes % 5)  # other scripts: 5 bins
        bins += np.repeat(np.arange(len(chunk), dtype=np.int64) * BINS, lens)
        counts = np.bincount(bins, minlength=len(chunk) * BINS).reshape(len(chunk), BINS)
        out[start:start + len(chunk)] = np.minimum(counts, 255)
    return out


def may_reach(counts: np.ndarray, lengths: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """Which pairs (a[k], b[k]) can still reach ``threshold`` with ``ratio`` (False: certainly not)."""
    out = np.empty(len(a), dtype=bool)
    for s in range(0, len(a), PAIRS):  # 32 bytes a text, five arrays: slices bound the memory
        x, y = a[s:s + PAIRS], b[s:s + PAIRS]
        ca, cb = counts[x], counts[y]
        diff = np.maximum(ca, cb)
        diff -= np.minimum(ca, cb)
        # The 32 byte differences summed as four uint64 words (a fifth faster than numpy's row sum):
        # bytes paired into 16-bit lanes (at most 510 each), the four words added (at most 2,040 a
        # lane), then the four lanes summed into the top 16 bits by one multiplication.
        words = diff.view(np.uint64)
        lanes = (words & _EVEN) + ((words >> np.uint64(8)) & _EVEN)
        lanes = lanes[:, 0] + lanes[:, 1] + lanes[:, 2] + lanes[:, 3]
        low = (lanes * _LANES) >> np.uint64(48)
        out[s:s + PAIRS] = low <= (1.0 - threshold / 100.0) * (lengths[x] + lengths[y]) + 1e-6
    return out
