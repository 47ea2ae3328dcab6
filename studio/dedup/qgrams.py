"""Candidate pairs for fuzzy dedup: texts that share one of their rarest character q-grams.

Near-duplicates keep most of their q-grams, and a global rarest-first order makes two near-duplicates
pick the same rare q-grams as their "prefix" (prefix filtering, Chaudhuri et al. 2006). A typo makes
new q-grams that no other text has; those are dropped before choosing, so they cannot crowd out the
shared ones. All of it is vectorised numpy over hashed q-grams, in chunks to bound memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from studio.errors import CancelledError

Q = 5  # q-gram length: long enough that common words do not make every pair a candidate
BUCKETS = 1 << 24  # q-grams are hashed into 16M buckets (64 MB of counts); collisions only add candidates
CHUNK = 25_000  # texts per chunk: keeps the int64 working arrays near 50 MB (peak memory of a million texts)
MAX_POSTING = 2_000  # texts sharing one q-gram (or word key), at most, for it to choose candidates
WORD_KEYS = 4  # a text's rarest words whose pairs are keys: 6 keys; two edited words still leave one shared
CACHE_GRAMS = 80_000_000  # q-grams kept between the counting and the choosing pass (4 bytes each)
_MUL = np.uint64(0x9E3779B97F4A7C15)


def prefix_size(n_grams: np.ndarray) -> np.ndarray:
    """How many of its rarest q-grams a text indexes: more for longer texts, which allow more edits."""
    return 3 + n_grams // 6


def _chunk_grams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(text index within the chunk, q-gram bucket) for every distinct q-gram of each text."""
    pad = "\x01" * (Q - 1)
    joined = pad + (pad + pad).join(texts) + pad
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 2 * (Q - 1)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lens)
    n = len(codes) - Q + 1
    h = codes[:n] * _MUL  # hashed in place: no temporaries of the chunk's size per character
    for k in range(1, Q):
        h ^= codes[k:k + n]
        h *= _MUL
    del codes
    valid = owner[:n] == owner[Q - 1:Q - 1 + n]
    h >>= np.uint64(40)
    key = _unique(owner[:n][valid] * BUCKETS + h[valid].astype(np.int64))
    return key // BUCKETS, key % BUCKETS


def _chunk_words(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(text index within the chunk, word bucket) for every distinct word of each text.

    ``str.split`` per text, then one ``map(hash, ...)`` over all the chunk's words and a numpy
    de-duplication: C loops, where a set comprehension per text cost ~6 s a million texts.
    """
    split = [s.split() for s in texts]
    lens = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
    words = list(itertools.chain.from_iterable(split))
    bucket = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)) & (BUCKETS - 1)
    key = _unique(np.repeat(np.arange(len(texts), dtype=np.int64), lens) * BUCKETS + bucket)
    return key // BUCKETS, key % BUCKETS


def _chunks(texts: Sequence[str], cancel: threading.Event | None,
            words: bool = False) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    for start in range(0, len(texts), CHUNK):
        if cancel is not None and cancel.is_set():
            raise CancelledError("Dedup stopped before it finished: nothing was changed. Run it again when ready.")
        owner, bucket = (_chunk_words if words else _chunk_grams)(texts[start:start + CHUNK])
        yield start, owner + start, bucket


def _prefixes(texts, cancel, words: bool = False, max_count: int = 1 << 20,
              size: Callable[[np.ndarray], np.ndarray] | None = None,
              chunks: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(text, bucket) of each text's rarest shared q-grams (or words), grouped by text, rarest first.

    ``size(counts)`` is how many each text keeps given how many it has: by default a prefix that grows
    with the text (q-grams) or the rarer half (words). ``chunks``: ``_chunks``' output, already made.
    """
    if size is None:
        size = (lambda sizes: sizes // 2 + 1) if words else prefix_size
    counts = np.zeros(BUCKETS, dtype=np.uint32)
    cached: list[tuple[int, np.ndarray, np.ndarray]] | None = []
    held = 0
    for start, owner, bucket in chunks if chunks is not None else _chunks(texts, cancel, words):
        np.add.at(counts, bucket, np.uint32(1))  # in place: bincount made 192 MB of temporaries a chunk
        held += len(bucket)
        # Keep the q-grams for the second pass while they fit in CACHE_GRAMS (a million questions' do);
        # past that, hash them again. Compactly: the buckets, and how many each text has.
        if chunks is None:
            cached = cached + [(start, np.bincount(owner - start, minlength=min(CHUNK, len(texts) - start))
                                .astype(np.int32), bucket.astype(np.int32))] \
                if cached is not None and held <= CACHE_GRAMS else None
    if chunks is not None:
        cached = [(start, owner, bucket) for start, owner, bucket in chunks]
    owners, buckets = [], []

    def cached_chunks():  # each freed as it is used: the cache shrinks as the prefixes grow
        cached.reverse()
        while cached:
            yield cached.pop()

    for start, owner, bucket in cached_chunks() if cached is not None else _chunks(texts, cancel, words):
        if chunks is None and cached is not None:  # the compact form: owners from the per-text counts
            owner = np.repeat(np.arange(start, start + len(owner), dtype=np.int64), owner)
        owner, bucket = owner.astype(np.int64), bucket.astype(np.int64)
        c = np.minimum(counts[bucket], (1 << 20) - 1).astype(np.int64)
        # A q-gram no other text has cannot make a pair; one in very many texts makes too many.
        shared = (c >= 2) & (c <= max_count)
        local = owner[shared] - start
        # One int64 sort orders each text's q-grams rarest first, ties by bucket (a global order).
        key = np.sort((local << 44) | (c[shared] << 24) | bucket[shared])
        owner, bucket = (key >> 44) + start, key & (BUCKETS - 1)
        first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
        sizes = np.diff(np.r_[first, len(owner)])
        rank = np.arange(len(owner)) - np.repeat(first, sizes)
        take = rank < np.repeat(size(sizes), sizes)
        owners.append(owner[take])
        buckets.append(bucket[take])
    return np.concatenate(owners or [np.zeros(0, np.int64)]), np.concatenate(buckets or [np.zeros(0, np.int64)])


def word_keys(texts: Sequence[str], cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(text, key) for a second blocking of the same texts, on words rather than characters.

    Each text's WORD_KEYS rarest words that another text also has, in the global rarest-first order,
    give a key per pair of them; one more key is its set of words. At a million short texts every
    5-gram can be common, yet two rare words rarely are together: one edited, dropped or inserted word
    leaves the other pairs shared, and swapped or repeated words leave the word set as it was.
    Keys shared by more than MAX_POSTING texts are dropped, as common q-grams are.
    """
    # The words of every text, split and hashed once (a Python pass, ~3 s a million texts): ~10 per text.
    chunks = [(start, owner.astype(np.int32), bucket.astype(np.int32))
              for start, owner, bucket in _chunks(texts, cancel, words=True)]
    owner, bucket = _prefixes(texts, cancel, words=True, size=lambda sizes: np.minimum(sizes, WORD_KEYS),
                              chunks=chunks)
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1] if len(owner) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[first, len(owner)])
    owners, keys = [], []
    for i in range(WORD_KEYS):
        for j in range(i + 1, WORD_KEYS):
            has = first[sizes > j]
            owners.append(owner[has])
            keys.append(_fold(bucket[has + i].astype(np.uint64) * np.uint64(BUCKETS) + bucket[has + j].astype(np.uint64)))
    for _, w_owner, w_bucket in chunks:
        starts = np.r_[0, np.flatnonzero(np.diff(w_owner)) + 1]
        mixed = (w_bucket.astype(np.uint64) + np.uint64(1)) * _MUL  # a sum of mixed words: order-free
        owners.append(w_owner[starts])
        keys.append(_fold(np.add.reduceat(mixed, starts)))
    owner, key = np.concatenate(owners), np.concatenate(keys)
    del owners, keys, chunks  # freed before the sorts below: the peak of a million texts is about here
    if len(texts) < 1 << 23:  # one int64 sort of (text, key) codes: keys are 40 bits
        code = _unique(owner.astype(np.int64) << 40 | key)
        owner, key = code >> 40, code & ((1 << 40) - 1)
        del code
    else:
        order = np.lexsort((key, owner))  # grouped by text, as the pair search expects
        owner, key = owner[order], key[order]
        if len(key):  # a text's keys once each (two of its word pairs may fold to one key)
            once = np.r_[True, (key[1:] != key[:-1]) | (owner[1:] != owner[:-1])]
            owner, key = owner[once], key[once]
    if not len(key):
        return owner, key
    # Each key's posting size, by one sort of the keys, scattered back: no set membership test.
    order = np.argsort(key)
    sorted_keys = key[order]
    starts = np.r_[0, np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1]
    size = np.diff(np.r_[starts, len(key)])
    keep = np.empty(len(key), dtype=bool)
    keep[order] = np.repeat(size <= MAX_POSTING, size)
    return owner[keep], key[keep]


def _fold(x: np.ndarray) -> np.ndarray:
    """A 40-bit key from a 64-bit value: mixed so that the top bits depend on all of it."""
    return ((x * _MUL) >> np.uint64(24)).astype(np.int64)


def _full_index(texts, cancel) -> tuple[np.ndarray, np.ndarray]:
    owners, buckets = [], []
    for _, owner, bucket in _chunks(texts, cancel, words=True):
        owners.append(owner.astype(np.int32))
        buckets.append(bucket.astype(np.int32))
    return np.concatenate(owners), np.concatenate(buckets)


def _unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (numpy's hash-based ``unique`` is far slower on large int64 arrays)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if len(x) else x


def _unique_inplace(x: np.ndarray) -> np.ndarray:
    """``_unique`` that sorts ``x`` itself: one copy fewer of arrays of tens of millions of pair codes."""
    x.sort()
    if len(x) < 2:
        return x
    keep = np.empty(len(x), dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _split(code: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair codes ``a * n + b`` back to (a, b), as int32 where n allows: half the memory of int64.

    In slices, so no int64 temporary as long as all the codes is ever made.
    """
    kind = np.int32 if n < 2**31 else np.int64
    a, b = np.empty(len(code), dtype=kind), np.empty(len(code), dtype=kind)
    for s in range(0, len(code), 4_000_000):
        q, r = np.divmod(code[s:s + 4_000_000], n)
        a[s:s + len(q)], b[s:s + len(r)] = q, r
    return a, b


def _release() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, and peak RSS grows stage by
    stage with arrays already freed); a no-op where the C library has no ``malloc_trim``."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


_libc = None


def _search(keys: np.ndarray, needles: np.ndarray, side: str) -> np.ndarray:
    """``np.searchsorted`` with the needles sorted first: far fewer cache misses on large arrays."""
    order = np.argsort(needles, kind="stable")
    out = np.empty(len(needles), dtype=np.int64)
    out[order] = np.searchsorted(keys, needles[order], side=side)
    return out


def _expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, the indices starts[i] .. starts[i] + counts[i] - 1, with i repeated alongside."""
    idx = np.repeat(np.arange(len(starts)), counts)
    offsets = np.arange(len(idx)) - np.repeat(np.cumsum(counts) - counts, counts)
    return idx, starts[idx] + offsets


def candidate_pairs(
    texts: Sequence[str],
    lengths: np.ndarray,
    *,
    symmetric: bool = True,
    max_partner: Callable[[np.ndarray], np.ndarray],
    min_length: int = 0,
    min_shared: int = 1,
    cancel: threading.Event | None = None,
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (a, b) of texts worth scoring, each once, the shorter longer than ``min_length``.

    ``symmetric``: both texts' prefixes share ``min_shared`` q-grams, or one of their word keys (see
    ``word_keys``), for ``ratio``, whose partners have similar lengths; otherwise one of the rarer half
    of a text's words appears anywhere in the other (for partial and token-set scorers, where a short
    text can match inside a long one, in any word order). ``max_partner(lengths)`` bounds the longer
    text's length given the shorter one's. ``keep(a, b)``, when given, is a cheap test each batch of
    candidates must pass as it is made (``studio.dedup.bounds``): only those are held in memory.
    """
    common = dict(max_partner=max_partner, min_length=min_length, cancel=cancel, keep=keep)
    if symmetric:
        # The word blocking runs in a second thread beside the q-gram one: both are numpy sorts and
        # gathers that release the GIL, so the two cores share them (about a third off the wall time
        # of a million questions).
        def by_words() -> list[np.ndarray]:
            w_owner, w_key = word_keys(texts, cancel)
            _release()
            return _self_sharing(w_owner, w_key, lengths, min_shared=1, **common)

        with ThreadPoolExecutor(1) as pool:
            words = pool.submit(by_words)
            try:
                # Postings longer than MAX_POSTING would make candidates grow with the square of the input.
                p_owner, p_bucket = _prefixes(texts, cancel, max_count=MAX_POSTING)
                _release()
                codes = _self_sharing(p_owner, p_bucket, lengths, min_shared=min_shared, **common)
                del p_owner, p_bucket
                _release()
            finally:
                codes_w = words.result()
        codes += codes_w
        del codes_w
    else:
        p_owner, p_bucket = _prefixes(texts, cancel, words=True)
        f_owner, f_bucket = _full_index(texts, cancel)
        codes = _sharing(p_owner, p_bucket, f_owner, f_bucket, lengths, symmetric=False, min_shared=1, **common)
        del p_owner, p_bucket, f_owner, f_bucket
    # One join and one in-place sort of all pair codes: at a million texts they are tens of millions.
    code = np.empty(sum(len(c) for c in codes), dtype=np.int64)
    at = 0
    codes.reverse()
    while codes:  # piece by piece, each freed once copied: never all the codes twice
        piece = codes.pop()
        code[at:at + len(piece)] = piece
        at += len(piece)
        del piece
        _release()
    code = _unique_inplace(code)
    a, b = _split(code, len(texts))
    del code
    _release()
    return a, b


def _self_sharing(owner, bucket, lengths, *, max_partner, min_length, min_shared, cancel,
                  keep=None) -> list[np.ndarray]:
    """``_sharing`` of one index with itself, for ``ratio`` (partners of similar length).

    ``owner`` ascending (each text's keys together, each key once per text). One stable sort by
    (key, length) puts the index in (key, length, text) order; a text's partners under a key are then
    exactly the entries after its own, up to the longest length allowed. Each pair is made once, from
    its shorter text (or the lower index at equal lengths), as the code ``x * n + y``: no pair is
    made backwards and filtered away, no needles are sorted for the searches (they are sorted already).
    """
    n = len(lengths)
    own_len = lengths[owner]
    f_key = bucket.astype(np.int64) * (1 << 20) + own_len
    order = np.argsort(f_key, kind="stable")
    f_key = f_key[order]
    f_owner = owner[order].astype(np.int64)
    s_len = own_len[order]
    hi = np.searchsorted(f_key, f_key - s_len + np.minimum(max_partner(s_len), (1 << 20) - 1), side="right")
    del f_key, s_len
    at = np.empty(len(order), dtype=np.int64)  # where each entry of the index went in the sorted order
    at[order] = np.arange(len(order))
    del order
    long_enough = own_len > min_length
    q_owner, at = owner[long_enough], at[long_enough]
    lo = at + 1
    counts = hi[at] - lo
    del hi, at, own_len
    return _pairs_from_runs(q_owner, lo, counts, f_owner, n, min_shared, cancel, keep)


def _text_cuts(owner: np.ndarray, counts: np.ndarray, step: int) -> list[int]:
    """Where to cut postings grouped by text (``owner``) into passes of about ``step`` pair expansions
    (``counts`` per posting). Every pass ends on a text boundary, so a text's shared counts are complete."""
    cum = np.cumsum(counts)
    if not len(cum) or not cum[-1]:
        return []
    text_ends = np.r_[np.flatnonzero(np.diff(owner)) + 1, len(owner)]
    at = np.searchsorted(cum[text_ends - 1], np.arange(step, int(cum[-1]) + step, step)).clip(0, len(text_ends) - 1)
    return np.unique(text_ends[at]).tolist()


def _passes(owner: np.ndarray, lo: np.ndarray, counts: np.ndarray, f_owner: np.ndarray,
            cancel) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(text, partner) index arrays, a pass of about a million at a time: each posting's text (``owner``)
    against its run ``f_owner[lo:lo + count]``. Stop (``cancel``) ends it between passes."""
    first = 0
    for last in _text_cuts(owner, counts, 1_000_000):
        if cancel is not None and cancel.is_set():
            raise CancelledError("Dedup stopped before it finished: nothing was changed. Run it again when ready.")
        idx, partner = _expand(lo[first:last], counts[first:last])
        x, y = owner[first:last][idx].astype(np.int64), f_owner[partner]
        del idx, partner
        yield x, y
        first = last


def _pairs_from_runs(q_owner, lo, counts, f_owner, n, min_shared, cancel, keep) -> list[np.ndarray]:
    """Expand each query's run ``f_owner[lo:lo + count]`` into pair codes, a million at a time."""
    codes = []
    for x, y in _passes(q_owner, lo, counts, f_owner, cancel):  # a few int64 arrays of a pass's length, per thread
        if min_shared > 1:
            code = np.sort(x * n + y)
            if len(code):
                starts = np.r_[0, np.flatnonzero(np.diff(code)) + 1]
                mult = np.diff(np.r_[starts, len(code)])
                code = code[starts][mult >= min_shared]
            x, y = np.divmod(code, n)
        if keep is not None and len(x):
            ok = keep(x, y)
            x, y = x[ok], y[ok]
        if len(x):
            codes.append(x * n + y)
    return codes


def _sharing(p_owner, p_bucket, f_owner, f_bucket, lengths, *, symmetric, max_partner, min_length, min_shared,
             cancel, keep=None) -> list[np.ndarray]:
    """Pair codes ``a * n + b`` (a < b) of texts sharing ``min_shared`` keys of a text's ``p_bucket`` in
    another's ``f_bucket`` (``p_owner`` grouped by text), within the length bound: sorted chunks, which
    may repeat a pair across chunks (the caller joins and de-duplicates all of them at once)."""
    n = len(lengths)
    # The index sorted by (bucket, length): a text's partners in a bucket are one contiguous run.
    f_key = f_bucket.astype(np.int64) * (1 << 20) + lengths[f_owner]
    order = np.argsort(f_key, kind="stable")
    f_key, f_owner = f_key[order], f_owner[order].astype(np.int64)
    q_len = lengths[p_owner]
    long_enough = q_len > min_length
    p_owner, p_bucket, q_len = p_owner[long_enough], p_bucket[long_enough], q_len[long_enough]
    base = p_bucket.astype(np.int64) * (1 << 20)
    low = q_len if symmetric else np.zeros_like(q_len)
    lo = _search(f_key, base + low, "left")
    hi = _search(f_key, base + np.minimum(max_partner(q_len), (1 << 20) - 1), "right")
    counts = hi - lo
    del f_key, order, base, hi, q_len  # the pass below needs only lo, counts and the owners
    codes = []
    for x, y in _passes(p_owner, lo, counts, f_owner, cancel):  # about ten int64 arrays of a pass's length, per thread
        ly, lx = lengths[y], lengths[x]
        ok = (y != x) & ((ly > lx) | ((ly == lx) & (y > x)) | (not symmetric))
        a, b = np.minimum(x[ok], y[ok]), np.maximum(x[ok], y[ok])
        code = np.sort(a * n + b)
        if len(code):
            starts = np.r_[0, np.flatnonzero(np.diff(code)) + 1]
            mult = np.diff(np.r_[starts, len(code)])
            code = code[starts][mult >= min_shared]
            if keep is not None and len(code):
                code = code[keep(*np.divmod(code, n))]
            codes.append(code)
    return codes
