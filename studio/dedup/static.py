"""A static embedding model distilled from the sentence-transformer: tens of thousands of texts a second.

all-MiniLM-L6-v2 embeds a few hundred texts a second on a 2-core CPU; semantic dedup of 100,000
questions took minutes. A static model (model2vec's recipe, Tulkens & van Dongen 2024) gives every
token of the model's vocabulary one vector, made once by the transformer itself: each token is
passed alone (``[CLS] token [SEP]``, mean-pooled as MiniLM pools), the vectors are centred and
reduced to ``DIMS`` with PCA, and weighted by SIF with a Zipf estimate of each token's frequency
(frequent tokens weigh less). A text's embedding is then the sum of its tokens' vectors,
normalised: a sparse sum instead of six transformer layers.

It is built here, offline, from the packaged weights, once per workspace (``build``: 30,522
forward passes of three tokens, with progress), and loaded from disk afterwards (numpy and
``tokenizers`` only: no torch import). model2vec's own ``distill`` needs ``transformers<5.4`` (this
studio runs 5.x), and its inference is the same sum; the ~60 lines below are the whole method.
Static vectors only see which words occur, not their order or roles ("capital of France" and
"capital of Germany" score 0.93), so ``studio.dedup.semantic_records`` can re-score its candidate
pairs with the sentence-transformer itself where that matters.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio import config
from studio.errors import CancelledError, ModelLoadError, StudioError
from studio.tasks import LoadOnce, ProgressFn

VERSION = 1  # bump when the recipe changes: older builds are rebuilt
DIMS = 256  # PCA dimensions kept (model2vec's default): 2/3 of MiniLM's 384, the same pairs
SIF = 1e-4  # SIF coefficient: weight = SIF / (SIF + p(token)), p from the token's rank (Zipf)
MAX_CHARS = 2_000  # characters of a text embedded: MiniLM itself reads 256 tokens (~1,000 characters)
CHUNK = 10_000  # texts embedded per step: bounds the working arrays, and reports progress
BUILD_BATCH = 512  # tokens per forward pass while building


@dataclass
class StaticModel:
    """Token vectors and the tokenizer that splits texts into those tokens."""

    vectors: np.ndarray = field(repr=False)  # (vocabulary, DIMS) float32, SIF-weighted
    tokenizer: Any = field(repr=False)  # tokenizers.Tokenizer (no special tokens added)
    source: str  # the model it was distilled from, for the page: "all-MiniLM-L6-v2 (static, 256-d)"
    folder: Path

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> np.ndarray:
        """Unit-length float32 rows, one per text; an empty text is a zero row (similar to nothing)."""
        from scipy import sparse  # sentence-transformers' own dependency: a sparse sum is 3x a dense one here

        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        words = _Words(self)
        for start in range(0, n, CHUNK):
            if cancel is not None and cancel.is_set():
                raise CancelledError("Embedding stopped; nothing was changed.")
            cols, ends = words.split(texts[start:start + CHUNK])
            counts = sparse.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, np.r_[0, ends]),
                                       shape=(len(ends), words.size))
            out[start:start + CHUNK] = counts @ words.vectors[:words.size]
            if progress:
                progress(min(n, start + CHUNK), n)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


class _Words:
    """Whitespace-separated words seen in one ``encode`` call, each tokenized once (the tokenizer splits
    punctuation itself), with its vector: the sum of its tokens'. A repeated word costs a dictionary look-up."""

    LIMIT = 1_000_000  # distinct words kept (256 MB of vectors); past that the table starts again

    def __init__(self, model: StaticModel):
        self.model = model
        self.index: dict[str, int] = {}
        self.vectors = np.zeros((1024, model.dim), dtype=np.float32)
        self.size = 0

    def split(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if len(self.index) > self.LIMIT:
            self.__init__(self.model)
        index, cols, new = self.index, [], []
        ends = np.zeros(len(texts), dtype=np.int64)
        for k, t in enumerate(texts):
            for w in (t if isinstance(t, str) else "")[:MAX_CHARS].split():
                i = index.get(w)
                if i is None:
                    i = index[w] = len(index)
                    new.append(w)
                cols.append(i)
            ends[k] = len(cols)
        if new:
            self._add(new)
        return np.asarray(cols, dtype=np.int64), ends

    def _add(self, new: list[str]) -> None:
        encoded = self.model.tokenizer.encode_batch_fast(new, add_special_tokens=False)
        lens = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(encoded))
        ids = np.fromiter((i for e in encoded for i in e.ids), dtype=np.int64, count=int(lens.sum()))
        need = self.size + len(new)
        if need > len(self.vectors):
            grown = np.zeros((max(need, 2 * len(self.vectors)), self.model.dim), dtype=np.float32)
            grown[:self.size] = self.vectors[:self.size]
            self.vectors = grown
        self.vectors[self.size:need] = _segment_sums(self.model.vectors[ids], lens)
        self.size = need


def _segment_sums(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sum of consecutive runs of ``rows``, ``counts[k]`` rows each (0 gives a zero row)."""
    out = np.zeros((len(counts), rows.shape[1]), dtype=np.float32)
    has = counts > 0
    if has.any():
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        out[has] = np.add.reduceat(rows, starts[has], axis=0)
    return out


def folder_for(model_name: str) -> Path:
    """Where the static model distilled from ``model_name`` lives in the workspace."""
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(model_name).name)[-60:]
    digest = hashlib.sha1(model_name.encode("utf-8")).hexdigest()[:8]
    return config.home() / "embeddings" / f"{slug}-{digest}-static{DIMS}-v{VERSION}"


def is_built(model_name: str) -> bool:
    return (folder_for(model_name) / "meta.json").is_file()


def build_info(model_name: str) -> dict | None:
    """The saved model's meta data (source, dimensions, seconds the build took), or None."""
    try:
        return json.loads((folder_for(model_name) / "meta.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


def load(model_name: str) -> StaticModel:
    """The built static model of ``model_name``; ``ModelLoadError`` when it is missing or damaged."""
    folder = folder_for(model_name)
    meta = build_info(model_name)
    if meta is None:
        raise ModelLoadError(f"The fast embedding model for {model_name} is not built yet: run semantic dedup once "
                             "(it builds it, about a minute here).")
    try:
        from tokenizers import Tokenizer

        vectors = np.load(folder / "vectors.npy")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as e:  # noqa: BLE001 - a damaged build: say how to rebuild it
        raise ModelLoadError(f"The fast embedding model in {folder} is damaged ({type(e).__name__}): "
                             "delete that folder and run semantic dedup again to rebuild it.") from None
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return StaticModel(vectors.astype(np.float32, copy=False), tokenizer, meta.get("source", model_name), folder)


def build(embedder: Any, progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> StaticModel:
    """Distil the static model from a loaded ``studio.dedup.embed.Embedder`` into the workspace.

    ``progress(done, total)`` counts vocabulary tokens embedded; setting ``cancel`` stops it and
    leaves nothing behind. Written to a temporary folder and renamed, so a half-built model never loads.
    """
    import torch

    st = embedder.model
    try:
        transformer = st[0].auto_model
        tokenizer = st.tokenizer.backend_tokenizer
    except (AttributeError, IndexError, TypeError):
        raise StudioError(f"{embedder.model_name} is not a transformer sentence model: the fast embeddings "
                          "need one (the default all-MiniLM-L6-v2 works).") from None
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    cls = vocab.get("[CLS]", vocab.get("<s>"))
    sep = vocab.get("[SEP]", vocab.get("</s>"))
    if cls is None or sep is None:
        raise StudioError(f"{embedder.model_name}'s tokenizer has no [CLS]/[SEP] tokens: use a BERT-style model.")
    started = time.perf_counter()
    raw = np.zeros((size, transformer.config.hidden_size), dtype=np.float32)
    device = next(transformer.parameters()).device
    with embedder.lock, torch.inference_mode():
        for s in range(0, size, BUILD_BATCH):
            if cancel is not None and cancel.is_set():
                raise CancelledError("Building the fast embedding model stopped; nothing was changed.")
            ids = torch.arange(s, min(size, s + BUILD_BATCH), device=device)
            x = torch.stack([torch.full_like(ids, cls), ids, torch.full_like(ids, sep)], dim=1)
            hidden = transformer(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            raw[s:s + len(ids)] = hidden.mean(dim=1).float().cpu().numpy()
            if progress:
                progress(min(size, s + BUILD_BATCH), size)
    vectors = _pca_sif(raw)
    folder = folder_for(embedder.model_name)
    tmp = folder.with_name(folder.name + f".tmp{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "vectors.npy", vectors)
    tokenizer.to_str()  # fails early for a tokenizer that cannot be saved
    (tmp / "tokenizer.json").write_text(tokenizer.to_str(), "utf-8")
    source = f"{Path(embedder.model_name).name} (static {DIMS}-d, distilled here from {embedder.source})"
    meta = {"model": embedder.model_name, "source": source, "dims": DIMS, "vocabulary": size, "version": VERSION,
            "build_seconds": round(time.perf_counter() - started, 1)}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), "utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return load(embedder.model_name)


def _pca_sif(raw: np.ndarray) -> np.ndarray:
    """Centre, keep the top ``DIMS`` principal directions, weight each token by SIF (model2vec's post-processing).

    Centring matters: every raw token vector shares one large common direction, and without removing
    it all texts look alike (cosine 0.9 for unrelated questions).
    """
    x = raw - raw.mean(axis=0)
    _, vecs = np.linalg.eigh((x.T @ x) / max(len(x) - 1, 1))
    x = x @ vecs[:, ::-1][:, :min(DIMS, x.shape[1])]
    rank = np.arange(2, len(x) + 2, dtype=np.float64)  # vocabulary order as a frequency rank, as model2vec does
    p = (1 / rank) / (1 / rank).sum()
    return (x * (SIF / (SIF + p))[:, None]).astype(np.float32)


_loaded = LoadOnce()  # workspace folder -> StaticModel


def shared(model_name: str) -> StaticModel:
    """``load`` once per process and workspace folder.

    A second caller for the same folder waits for the load under way and shares it; a caller for another model,
    or one whose model is loaded already, does not wait for it (one lock across every load held them all)."""
    return _loaded.get(str(folder_for(model_name)), lambda: load(model_name))


def estimate_build_seconds(embedder: Any) -> float:
    """Seconds ``build`` will take here: one timed batch of the forward passes, scaled to the vocabulary."""
    import torch

    transformer = embedder.model[0].auto_model
    size = embedder.model.tokenizer.backend_tokenizer.get_vocab_size()
    x = torch.full((BUILD_BATCH, 3), 100, device=next(transformer.parameters()).device)
    with embedder.lock, torch.inference_mode():
        transformer(input_ids=x[:8], attention_mask=torch.ones_like(x[:8]))  # warm-up
        start = time.perf_counter()
        transformer(input_ids=x, attention_mask=torch.ones_like(x))
    return (time.perf_counter() - start) * size / BUILD_BATCH + 1.0
