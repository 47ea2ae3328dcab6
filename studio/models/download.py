"""Hub downloads with progress: a background job (``python -m studio model download ID``) that the
Models page starts, watches (MB, MB/s, ETA) and can stop.

The size is asked first (``model_info``) and the free disk checked before a byte is written; the
files go into the Hugging Face cache with ``snapshot_download``, which resumes a download that was
interrupted. Progress is the growth of the repository's cache folder, measured every second, so
it covers every file in flight. Gated, 401, 404 and no network are each one line.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio import config, jobs
from studio.errors import ModelLoadError, NetworkError

# What a causal LM needs; other weight formats (onnx, tflite, flax, ...) stay on the Hub.
PATTERNS = ("*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py", "tokenizer*")
FALLBACK_PATTERNS = ("*.bin",)  # only when the repository has no safetensors


@dataclass(frozen=True)
class Plan:
    repo_id: str
    files: tuple[str, ...]
    size: int  # bytes
    patterns: tuple[str, ...]


def _explain(repo_id: str, exc: Exception) -> Exception:
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    if isinstance(exc, GatedRepoError):
        return ModelLoadError(f"{repo_id} is gated: accept its licence on its Hub page, then set HF_TOKEN (or type "
                              "it in the token field) and download again.")
    if isinstance(exc, RepositoryNotFoundError):
        return ModelLoadError(f"No model {repo_id!r} on the Hub (404), or it is private: check the id, or set a token "
                              "that can read it.")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code == 401:
        return ModelLoadError("The Hugging Face token was rejected (401): check it in secrets or the token field.")
    if isinstance(exc, OfflineModeIsEnabled) or "offline" in str(exc).lower():
        return NetworkError("HF_HUB_OFFLINE is set, so nothing can be downloaded: unset it, or use a model in the "
                            "library (the bundled SmolLM2-135M-Instruct works offline).")
    if "connect" in type(exc).__name__.lower() or "connect" in str(exc).lower() or isinstance(exc, OSError):
        return NetworkError(f"Cannot reach the Hugging Face Hub to download {repo_id}: check the network, or use a "
                            "model in the library (the bundled SmolLM2-135M-Instruct works offline).")
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return ModelLoadError(f"Could not download {repo_id}: {first}")


def plan(repo_id: str, token: str | None = None) -> Plan:
    """Which files a download takes and their total size, asked of the Hub before anything is written."""
    import fnmatch

    from huggingface_hub import HfApi

    repo_id = check_repo_id(repo_id)
    try:
        info = HfApi(token=token or None).model_info(repo_id, files_metadata=True, timeout=15)
    except Exception as exc:
        raise _explain(repo_id, exc) from None
    names = {s.rfilename: (s.size or 0) for s in info.siblings or []}
    has_safetensors = any(n.endswith(".safetensors") for n in names)
    patterns = PATTERNS if has_safetensors else PATTERNS + FALLBACK_PATTERNS
    files = tuple(sorted(n for n in names if any(fnmatch.fnmatch(Path(n).name, p) for p in patterns)))
    if not any(n.endswith((".safetensors", ".bin")) for n in files):
        raise ModelLoadError(f"{repo_id} has no transformers weights (safetensors or .bin): is it a GGUF-only "
                             "repository? Download the .gguf file and import it instead.")
    return Plan(repo_id, files, sum(names[n] for n in files), patterns)


def check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip()
    parts = repo_id.split("/")
    if not repo_id or len(parts) > 2 or any(not p or p in (".", "..") for p in parts) or " " in repo_id:
        raise ModelLoadError(f"{repo_id!r} is not a Hub model id: use owner/name, e.g. distilgpt2 or "
                             "HuggingFaceTB/SmolLM2-135M-Instruct.")
    return repo_id


def cache_folder(repo_id: str) -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size  # blobs hold the bytes; snapshots are links
            except OSError:
                pass
    return total


def download(repo_id: str, token: str | None = None, *,
             progress: Callable[[int, int, float, float | None], None] | None = None,
             stop: Callable[[], bool] | None = None) -> Path:
    """Download ``repo_id`` into the Hugging Face cache; ``progress(done, total, bytes_per_s, eta_s)``
    about every second. Returns the snapshot folder. Raises one-line errors; ``stop()`` True ends
    the wait (the partial files stay and the next download resumes them)."""
    from huggingface_hub import snapshot_download

    p = plan(repo_id, token)
    folder = cache_folder(p.repo_id)
    have = _folder_bytes(folder) if folder.exists() else 0
    free = shutil.disk_usage(folder.parent if folder.parent.exists() else config.home()).free
    if p.size - have > free:
        raise ModelLoadError(f"Not enough disk for {p.repo_id}: it needs {p.size / 2**30:.2f} GB, "
                             f"{free / 2**30:.2f} GB is free.")
    result: dict = {}

    def work() -> None:
        try:
            result["path"] = snapshot_download(p.repo_id, allow_patterns=list(p.patterns), token=token or None)
        except Exception as exc:  # reported by the waiting thread, in one line
            result["error"] = _explain(p.repo_id, exc)

    worker = threading.Thread(target=work, name="download", daemon=True)
    worker.start()
    start_bytes, started = have, time.monotonic()
    while worker.is_alive():
        worker.join(1.0)
        if stop is not None and stop():
            raise ModelLoadError(f"Download of {p.repo_id} stopped: start it again to resume.")
        done = min(_folder_bytes(folder) if folder.exists() else 0, p.size)
        elapsed = time.monotonic() - started
        rate = (done - start_bytes) / elapsed if elapsed > 0 else 0.0
        eta = (p.size - done) / rate if rate > 0 else None
        if progress is not None:
            progress(done, p.size, rate, eta)
    if "error" in result:
        raise result["error"]
    if progress is not None:
        progress(p.size, p.size, 0.0, 0.0)
    return Path(result["path"])


# --- as a background job ----------------------------------------------------------------------------

def job_dir(repo_id: str) -> Path:
    return config.jobs_dir() / f"download-{check_repo_id(repo_id).replace('/', '--')}"


def start_download(repo_id: str, token: str | None = None) -> Path:
    """Start ``python -m studio model download ID`` as a job; returns its folder (for ``jobs.read_status``)."""
    workdir = job_dir(repo_id)
    jobs.start_job("download", ["model", "download", check_repo_id(repo_id)], workdir, uses_device=False,
                   env={"HF_TOKEN": token} if token else None)
    return workdir


def fmt_progress(done: int, total: int, rate: float, eta: float | None) -> str:
    eta_text = "" if eta is None else f", {eta:.0f} s left"
    return f"{done / 2**20:,.0f} of {total / 2**20:,.0f} MB at {rate / 2**20:.1f} MB/s{eta_text}"
