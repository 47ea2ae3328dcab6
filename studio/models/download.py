"""Hub downloads with progress: a background job (``python -m studio model download ID``) that the
Models page starts, watches (MB, MB/s, ETA) and can stop.

The file list, sizes and hashes are asked first (``model_info`` with file metadata) and the free
disk checked before a byte is written. Each file then streams into the Hugging Face cache's layout
(``studio.models.hub_cache``) from the commit that was asked about, hashed as it arrives: a file is
placed only when its size and its sha256 (git blob id for small files) match the Hub's, and the
repository is listed only once every file is (``hub_cache.usable_snapshot``). A cut connection, a
short body, a server error, a corrupt file and Stop each end in one line that says which; what
arrived intact stays in ``blobs/<etag>.incomplete`` and the next download resumes it (HTTP Range).

The transfer runs in the calling thread, reading at most a second between checks of ``stop()``: Stop
or Ctrl-C ends it within about a second, and no byte is read or written after.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio import config, jobs
from studio.errors import ModelLoadError, NetworkError, StudioError
from studio.models import hub_cache, weights

# What a causal LM needs; other weight formats (onnx, tflite, flax, ...) stay on the Hub.
PATTERNS = ("*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py", "tokenizer*")
FALLBACK_PATTERNS = ("pytorch_model*.bin", "adapter_model.bin")  # only when the repository has no safetensors weights
READ_WAIT_S = 1.0  # longest wait for bytes before stop() is asked again (then the read resumes where it was)
STALL_S = 60.0  # a server silent this long has failed


@dataclass(frozen=True)
class HubFile:
    name: str
    size: int  # bytes, as the Hub lists it
    sha256: str | None  # LFS files
    blob_id: str | None  # git's blob id: the others' hash and the cache's name for them

    @property
    def etag(self) -> str:
        return self.sha256 or self.blob_id or ""


@dataclass(frozen=True)
class Plan:
    repo_id: str
    commit: str
    files: tuple[HubFile, ...]
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
    """Which files a download takes, with their sizes and hashes, asked of the Hub before anything is written."""
    import fnmatch

    from huggingface_hub import HfApi

    repo_id = check_repo_id(repo_id)
    try:
        info = HfApi(token=token or None).model_info(repo_id, files_metadata=True, timeout=15)
    except Exception as exc:
        raise _explain(repo_id, exc) from None
    siblings = {s.rfilename: s for s in info.siblings or []}
    refuse_unloadable(repo_id, list(siblings), lambda: adapter_base(repo_id, info.sha, token, 15))
    has_safetensors = any(weights.is_weights(n) and n.endswith(".safetensors") for n in siblings if "/" not in n)
    patterns = PATTERNS if has_safetensors else PATTERNS + FALLBACK_PATTERNS
    # from the top level only: transformers reads nothing from a subfolder (onnx/, original/, a quantized copy's
    # folder), whose weights were fetched too
    chosen = sorted(n for n in siblings if "/" not in n and any(fnmatch.fnmatch(n, p) for p in patterns))
    files = []
    for n in chosen:
        s = siblings[n]
        lfs = s.lfs
        size = lfs["size"] if lfs else s.size
        sha = lfs["sha256"] if lfs else None
        if size is None or not (sha or s.blob_id) or not info.sha:
            raise ModelLoadError(f"The Hub did not say the size and hash of {repo_id}/{n}, so a download could not be "
                                 "verified: try again later.")
        files.append(HubFile(n, int(size), sha, s.blob_id))
    return Plan(repo_id, info.sha, tuple(files), sum(f.size for f in files), patterns)


def refuse_unloadable(repo_id: str, names: list[str], base: Callable[[], str]) -> None:
    """One line, before anything is fetched, for a repository transformers cannot load a model from (its files'
    names, as the Hub lists them): no model weights at its top (a README, a tokenizer, a trainer's checkpoint files,
    weights only in subfolders), GGUF files only, or no config.json. Each was downloaded, then listed as unusable
    with advice to download it again. A LoRA adapter is loaded on its base: ``base`` reads the base it names (its
    adapter_config.json, asked of the Hub, only for an adapter), which must be in the library."""
    top = [n for n in names if "/" not in n]
    if any(weights.is_weights(n) and not n.endswith(".gguf") for n in top):
        if "config.json" not in top and "adapter_config.json" in top:
            refuse_missing_base(repo_id, base())
            return
        if "config.json" not in top:
            raise ModelLoadError(f"{repo_id} has no config.json, so transformers cannot load it as a model: pick a "
                                 "repository that has config.json and model weights (model*.safetensors or "
                                 "pytorch_model*.bin).")
        return
    ggufs = sorted(n for n in names if n.endswith(".gguf"))
    if ggufs:
        raise ModelLoadError(f"{repo_id} has its weights as GGUF files only ({_few(ggufs)}): download the .gguf file you want and "
                             "import it (Models page: Import a GGUF file, or python -m studio model import FILE.gguf).")
    raise ModelLoadError(f"{repo_id} has no model weights (no model*.safetensors or pytorch_model*.bin at its top "
                         f"level, no .gguf file; its files: {_few(names) or 'none'}): pick a repository that has them.")


def _few(names: list[str], n: int = 4) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(sorted(names)[:n]) + more


def check_repo_id(repo_id: str) -> str:
    """The id, checked by the Hub's own rules before anything starts: one a Hub cannot have (``x/y@main``, a
    newline, ``a--b``) was a job folder named after it and a subprocess whose error quoted it over two lines."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    repo_id = (repo_id or "").strip()
    try:
        validate_repo_id(repo_id)
        if not repo_id:
            raise HFValidationError("empty")
    except HFValidationError:
        raise ModelLoadError(f"{repo_id!r} is not a Hub model id: use owner/name (letters, digits, '-', '_' and '.'), "
                             "e.g. distilgpt2 or HuggingFaceTB/SmolLM2-135M-Instruct.") from None
    return repo_id


def cache_folder(repo_id: str) -> Path:
    return hub_cache.repo_folder(repo_id)


def _have(folder: Path, f: HubFile) -> int:
    """Bytes of ``f`` already here: its whole blob, or the part a stopped download left."""
    for path in (folder / "blobs" / f.etag, folder / "blobs" / f"{f.etag}.incomplete"):
        with contextlib.suppress(OSError):
            return min(path.stat().st_size, f.size)
    return 0


def download(repo_id: str, token: str | None = None, *,
             progress: Callable[[int, int, float, float | None], None] | None = None,
             stop: Callable[[], bool] | None = None) -> Path:
    """Download ``repo_id`` into the Hugging Face cache; ``progress(done, total, bytes_per_s, eta_s)``
    about every second. Returns the snapshot folder. Raises one-line errors; ``stop()`` True ends
    the transfer within about a second (the part that arrived stays and the next download resumes it)."""
    p = plan(repo_id, token)
    folder = cache_folder(p.repo_id)
    if hub_cache.verified_commit(folder) == p.commit and hub_cache.usable_snapshot(p.repo_id) is not None:
        if progress is not None:
            progress(p.size, p.size, 0.0, 0.0)
        return folder / "snapshots" / p.commit
    have = sum(_have(folder, f) for f in p.files)
    free = shutil.disk_usage(folder.parent if folder.parent.exists() else config.home()).free
    if p.size - have > free:
        raise ModelLoadError(f"Not enough disk for {p.repo_id}: it needs {p.size / 2**30:.2f} GB, "
                             f"{free / 2**30:.2f} GB is free.")
    meter = _Meter(p.size, have, progress)
    try:
        hub_cache.forget(folder)  # from here until every file is verified, the repository is not listed
        (folder / "blobs").mkdir(parents=True, exist_ok=True)
        for f in p.files:
            _fetch(p, f, folder, token, meter, _every(stop or (lambda: False), 0.2))
            hub_cache.link(folder, p.commit, f.name, f.etag)
        hub_cache.record(folder, p.commit, {f.name: f.size for f in p.files})
    except OSError as exc:
        from studio.errors import disk_error

        raise (disk_error(exc, folder) or ModelLoadError(f"Could not write {p.repo_id} into the Hugging Face cache "
                                                         f"({folder}): {exc.strerror or exc}")) from None
    meter.tick(force=True)
    return folder / "snapshots" / p.commit


def _every(check: Callable[[], bool], seconds: float) -> Callable[[], bool]:
    """``check`` asked at most every ``seconds`` (it reads a file in a job); True once it said so."""
    state = {"at": 0.0, "yes": False}

    def ask() -> bool:
        now = time.monotonic()
        if not state["yes"] and now - state["at"] >= seconds:
            state["at"], state["yes"] = now, bool(check())
        return state["yes"]

    return ask


class _Meter:
    """Bytes done across files, reported about once a second."""

    def __init__(self, total: int, have: int, report: Callable | None):
        self.total, self.done, self.start_bytes, self.report = total, have, have, report
        self.started = self.last = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        self.tick()

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.report is None or (not force and now - self.last < 1.0):
            return
        self.last = now
        rate = (self.done - self.start_bytes) / (now - self.started) if now > self.started else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.report(min(self.done, self.total), self.total, rate, 0.0 if force else eta)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _fetch(p: Plan, f: HubFile, folder: Path, token: str | None, meter: _Meter, stop: Callable[[], bool]) -> None:
    """One file into ``blobs/<etag>``, resuming ``<etag>.incomplete``, verified before it is renamed into place."""
    import httpx2
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session

    blob = folder / "blobs" / f.etag
    partial = folder / "blobs" / f"{f.etag}.incomplete"
    if blob.is_file():
        if blob.stat().st_size == f.size and hub_cache.hash_file(blob, f.sha256, f.size).hexdigest() == f.etag:
            return  # already here and whole (another tool's download, or an earlier commit's)
        blob.unlink()  # a cut or corrupt blob: fetched again
    offset = partial.stat().st_size if partial.is_file() else 0
    if offset > f.size:
        partial.unlink()
        offset = 0
    h = hub_cache.hash_file(partial, f.sha256, f.size) if offset else hub_cache.start_hash(f.sha256, f.size)
    url = hf_hub_url(p.repo_id, f.name, revision=p.commit)
    what = f"{f.name} of {p.repo_id}"
    quiet_since = time.monotonic()
    while offset < f.size:
        if stop():
            raise ModelLoadError(f"Download of {p.repo_id} stopped: start it again to resume.")
        headers = {**build_hf_headers(token=token or None), "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        timeout = httpx2.Timeout(15.0, read=READ_WAIT_S)
        try:
            with get_session().stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as r:
                if r.status_code >= 400:
                    raise _http_error(p.repo_id, f.name, r.status_code)
                if offset and r.status_code != 206:  # the server ignored the range: start the file over
                    offset, h = 0, hub_cache.start_hash(f.sha256, f.size)
                    partial.unlink(missing_ok=True)
                with open(partial, "ab") as out:
                    for chunk in r.iter_bytes():  # as it arrives: a partial read is kept, Stop is seen
                        if offset + len(chunk) > f.size:
                            raise ModelLoadError(f"The server sent more than the Hub's {_mb(f.size)} for {what}: "
                                                 "the file on the server is not the one listed; try again later.")
                        out.write(chunk)
                        h.update(chunk)
                        offset += len(chunk)
                        meter.add(len(chunk))
                        quiet_since = time.monotonic()
                        if stop():
                            raise ModelLoadError(f"Download of {p.repo_id} stopped: start it again to resume.")
        except httpx2.ReadTimeout:
            if time.monotonic() - quiet_since > STALL_S:
                raise NetworkError(f"The server stopped sending {what} ({_mb(offset)} of {_mb(f.size)} arrived, "
                                   f"nothing for {STALL_S:.0f} s): download again to resume.") from None
            continue  # no bytes for a second: ask stop(), then resume from where the file is
        except (httpx2.RemoteProtocolError, httpx2.ReadError) as exc:
            raise NetworkError(f"The connection was cut while downloading {what} ({_mb(offset)} of {_mb(f.size)} "
                               f"arrived: {str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__}): "
                               "download again to resume.") from None
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise _explain(p.repo_id, ConnectionError(str(exc))) from None
        if offset < f.size:
            raise NetworkError(f"The server sent {_mb(offset)} of {what}, which the Hub lists at {_mb(f.size)} "
                               "(the transfer ended early): download again to resume.")
    partial.touch()  # an empty file has no body to write
    if h.hexdigest() != f.etag:
        partial.unlink(missing_ok=True)
        kind = "sha256" if f.sha256 else "git hash"
        raise ModelLoadError(f"{what} arrived whole ({_mb(f.size)}) but its {kind} does not match the Hub's: the bytes "
                             "were corrupted on the way; it was not kept, download again.")
    partial.replace(blob)


def _http_error(repo_id: str, name: str, status: int) -> Exception:
    what = f"{name} of {repo_id}"
    if status == 401:
        return ModelLoadError("The Hugging Face token was rejected (401): check it in secrets or the token field.")
    if status == 403:
        return ModelLoadError(f"The Hub refused {what} (403): {repo_id} may be gated; accept its licence on its Hub "
                              "page and set a token that can read it.")
    if status == 404:
        return ModelLoadError(f"The Hub lists {what} but answered 404 for it: the repository changed, try again.")
    if status >= 500:
        return NetworkError(f"The Hub answered {status} (a server error) for {what}: try again later; what arrived "
                            "is kept and resumes.")
    return ModelLoadError(f"The Hub answered {status} for {what}: try again later.")


def adapter_base(repo_id: str, revision: str | None, token: str | None, timeout: float) -> str:
    """The base model a LoRA adapter on the Hub names (``base_model_name_or_path`` in its adapter_config.json)."""
    import json

    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session

    url = hf_hub_url(repo_id, "adapter_config.json", revision=revision)
    try:
        r = get_session().get(url, headers=build_hf_headers(token=token or None), timeout=timeout,
                              follow_redirects=True)
        r.raise_for_status()
        cfg = json.loads(r.content)
    except ValueError:
        cfg = {}
    except Exception as exc:
        raise _explain(repo_id, exc) from None
    base = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    return base.strip() if isinstance(base, str) else ""


def refuse_missing_base(repo_id: str, base: str) -> None:
    """A LoRA adapter whose base is not in the library (nothing here to load it on) is refused in one line naming it."""
    from studio.models import library

    if not base:
        raise ModelLoadError(f"{repo_id} is a LoRA adapter whose adapter_config.json names no base model "
                             "(base_model_name_or_path), so it cannot be loaded: pick a repository that has a whole "
                             "model.")
    if library.base_facts(base) == (None, None):
        raise ModelLoadError(f"{repo_id} is a LoRA adapter on {base}, which is not in the library: add {base} first "
                             "(download it here), then download the adapter.")


# --- as a background job ----------------------------------------------------------------------------

def job_dir(repo_id: str) -> Path:
    return config.jobs_dir() / f"download-{check_repo_id(repo_id).replace('/', '--')}"


CHECK_S = 10  # how long the click waits for the Hub's file list before leaving the checks to the job


def check_at_once(repo_id: str, token: str | None = None, timeout: float = CHECK_S) -> None:
    """The refusals a download's job would make 5-7 s later (no such repository, gated, token rejected, nothing
    transformers can load), asked of the Hub at the click. On a timeout, a network error or any other answer this
    says nothing: the job asks again and says what it finds, so nothing is lost."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    try:
        info = HfApi(token=token or None).model_info(repo_id, timeout=timeout)
    except (GatedRepoError, RepositoryNotFoundError) as exc:
        raise _explain(repo_id, exc) from None
    except HfHubHTTPError as exc:
        if exc.response is not None and exc.response.status_code == 401:
            raise _explain(repo_id, exc) from None
        return
    except Exception:  # offline, unreachable, slow: the job's own look-up says which
        return
    if info.siblings is not None:
        unsure = []

        def base() -> str:  # an adapter's base, from its adapter_config.json; not read: the job reads it and says
            try:
                return adapter_base(repo_id, info.sha, token, timeout)
            except StudioError:
                unsure.append(True)
                return ""

        try:
            refuse_unloadable(repo_id, [s.rfilename for s in info.siblings], base)
        except ModelLoadError:
            if not unsure:
                raise


def start_download(repo_id: str, token: str | None = None) -> Path:
    """Start ``python -m studio model download ID`` as a job; returns its folder (for ``jobs.read_status``).
    A repository the job would refuse is refused here, at once (``check_at_once``)."""
    workdir = job_dir(repo_id)
    check_at_once(check_repo_id(repo_id), token)
    jobs.start_job("download", ["model", "download", check_repo_id(repo_id)], workdir, uses_device=False,
                   env={"HF_TOKEN": token} if token else None)
    return workdir


def fmt_progress(done: int, total: int, rate: float, eta: float | None) -> str:
    eta_text = "" if eta is None else f", {eta:.0f} s left"
    return f"{done / 2**20:,.0f} of {total / 2**20:,.0f} MB at {rate / 2**20:.1f} MB/s{eta_text}"
