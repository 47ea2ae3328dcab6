"""GGUF files (llama.cpp, Ollama, LM Studio): check one from its header, load it as a torch model.

``inspect(path)`` reads only the header (memory-mapped, nothing dequantized: milliseconds) and says
in one line why a file cannot be used: not GGUF, truncated, an architecture or tensor type the
installed transformers cannot dequantize. ``load(path)`` dequantizes through transformers
(``from_pretrained(folder, gguf_file=...)``) and returns a plain model that ``save_pretrained``
accepts: transformers marks a GGUF-loaded model as not serializable, so it is rebuilt from its
config (without ``quantization_config``) and given the state dict.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import mmap
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import ModelLoadError, StudioError
from studio.models import gguf_checks, hf_import

MAGIC = b"GGUF"
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_SMALL_ARRAY = 64  # numeric arrays up to this length are kept; longer ones (token scores) become their length
TensorProgress = Callable[[int, int], None]  # (tensors dequantized, tensors in the file)
LoadProgress = Callable[[float], None]  # how far a load got, 0..1
# Where a load is when each step ends, as shares of its time: measured on SmolLM2-135M (Q4_1 ->
# float32, 2 busy cores: 52 s): the tokenizer 3%, transformers reading the file up to its first
# tensor 35%, dequantizing the 272 tensors 24%, building its model 4%, the rebuilt model's
# initialisation 20%, copying the weights into it 14%.
_AT = {"tokenizer": 0.03, "first tensor": 0.38, "tensors": 0.62, "loaded": 0.66, "rebuilt": 0.86, "done": 1.0}
_load_lock = threading.Lock()  # the loading speed-up swaps two gguf module functions for the call


@dataclass(frozen=True)
class GgufInfo:
    path: str
    file_size: int
    architecture: str
    name: str | None
    parameters: int
    context_length: int | None
    layers: int | None
    hidden_size: int | None
    vocab_size: int | None
    has_chat_template: bool
    tensor_types: dict[str, int] = field(default_factory=dict)  # ggml type -> tensor count
    feed_forward: int | None = None  # the MLP's width; these three size the training estimate (studio.train.memory)
    heads: int | None = None  # attention heads
    kv_heads: int | None = None  # key/value heads (fewer than heads: grouped-query attention)

    @property
    def quantization(self) -> str:
        """The main tensor type ("Q4_1", "F16", ...): the one most tensors use, norms aside."""
        types = {k: v for k, v in self.tensor_types.items() if k != "F32"} or self.tensor_types
        return max(types, key=types.get) if types else "unknown"

    @property
    def model_type(self) -> str:
        """The architecture as transformers' config names it: what the import's config.json will say."""
        return model_type(self.architecture, self.name)


# How transformers' GGUF reader (``load_gguf_checkpoint``) renames a ``general.architecture`` into the config's
# ``model_type``. Its rules are code with no table to import, and asking it means importing torch (seconds,
# and never in API mode), so they are kept here and tests/models/test_gguf_names.py checks them against the
# reader for every architecture it supports.
_RENAMED = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe", "gpt-oss": "gpt_oss", "minimax-m2": "minimax_m2",
            "gemma3": "gemma3_text", "gemma4": "gemma4_text"}


def model_type(architecture: str, name: str | None = None) -> str:
    """A GGUF ``general.architecture`` as transformers' ``model_type`` ("qwen2moe" -> "qwen2_moe", "gemma3" ->
    "gemma3_text", "llama" named exactly "mistral" -> "mistral", "t5encoder" -> "t5"); any other keeps its name."""
    if "llama" in architecture and name == "mistral":
        return "mistral"
    if "t5" in architecture:
        return "umt5" if name and "umt5" in name.lower() else "t5"
    return _RENAMED.get(architecture, architecture)


class _Reader:
    def __init__(self, buf: Any, name: str):
        self.buf, self.pos, self.name = buf, 0, name

    def take(self, fmt: str) -> Any:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise struct.error("a string runs past the end of the file")
        text = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8")
        self.pos += n
        return text

    def value(self, vtype: int, keep: int = _SMALL_ARRAY) -> Any:
        if vtype in _SCALAR:
            return self.take(_SCALAR[vtype])
        if vtype == 8:
            return self.string()
        if vtype != 9:
            raise struct.error(f"unknown metadata type {vtype}")
        etype, count = self.take("<IQ")
        if etype == 8:  # a string array (tokens, merges): skipped, its length kept
            for _ in range(count):
                self.pos += 8 + struct.unpack_from("<Q", self.buf, self.pos)[0]
        elif etype in _SCALAR:
            size = struct.calcsize(_SCALAR[etype])
            values = list(struct.unpack_from(f"<{count}{_SCALAR[etype][1]}", self.buf, self.pos)) \
                if count <= keep else None
            self.pos += count * size
            if values is not None:
                return values
        else:
            raise struct.error(f"unknown array type {etype}")
        if self.pos > len(self.buf):
            raise struct.error("an array runs past the end of the file")
        return count


def inspect(path: str | Path, *, check_support: bool = True) -> GgufInfo:
    """Check a GGUF file from its header and describe it; a one-line ``ModelLoadError`` when unusable."""
    import gguf

    path = Path(path).expanduser()
    name = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            magic = f.read(4)
            if size == 0:  # an interrupted download or copy, or a file created but never written
                raise ModelLoadError(f"{name} is empty (0 bytes): download or copy the .gguf file again, and wait "
                                     "until it has finished before importing it.")
            if magic != MAGIC or size < 24:
                raise ModelLoadError(f"{name} is not a GGUF file (it does not start with 'GGUF'): choose a .gguf "
                                     "model file from llama.cpp, Ollama or LM Studio.")
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ModelLoadError(f"Cannot read {name}: {exc.strerror or exc}.") from None
    try:
        r = _Reader(buf, name)
        r.pos = 4
        version = r.take("<I")
        if version not in (2, 3):
            raise ModelLoadError(f"{name} is GGUF version {version}; transformers reads versions 2 and 3 "
                                 "(little-endian): convert it again with a current llama.cpp.")
        n_tensors, n_kv = r.take("<QQ")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise ModelLoadError(f"{name} has a corrupt GGUF header: download or copy it again.")
        try:
            meta = {}
            for _ in range(n_kv):
                key = r.string()
                meta[key] = r.value(r.take("<I"), keep=4096 if gguf_checks.keeps_array(key) else _SMALL_ARRAY)
            tensors = []
            for _ in range(n_tensors):
                tname = r.string()
                n_dims = r.take("<I")
                gguf_checks.check_tensor(name, tname, n_dims)
                dims = r.take(f"<{n_dims}Q")
                dims = (dims,) if isinstance(dims, int) else tuple(dims)
                qtype, offset = r.take("<IQ")
                tensors.append((tname, dims, qtype, offset))
        except (struct.error, UnicodeDecodeError):
            raise ModelLoadError(f"{name} is truncated or corrupt (its header ends early): download or copy it "
                                 "again.") from None
        header_end = r.pos
    finally:
        buf.close()
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch.strip():
        raise ModelLoadError(f"{name} names no architecture (general.architecture): it is not a model file.")
    align = gguf_checks.alignment(name, meta)
    gguf_checks.check_header(name, meta, tensors)
    data_start = (header_end + align - 1) // align * align
    types: dict[str, int] = {}
    params, needed = 0, data_start
    ranges: list[tuple[int, int, str]] = []  # each tensor's bytes in the data section: (start, end, name)
    for tname, dims, qtype, offset in tensors:
        try:
            qt = gguf.GGMLQuantizationType(qtype)
        except ValueError:
            raise ModelLoadError(f"{name}: tensor {tname!r} has an unknown type ({qtype}).") from None
        n = math.prod(dims)
        block, type_size = gguf.GGML_QUANT_SIZES[qt]
        if dims[0] % block or offset % align:
            raise ModelLoadError(f"{name} cannot be imported: tensor {tname!r} is not laid out as {qt.name} data "
                                 "must be (its rows or its offset do not fit the type's blocks). Convert it again.")
        params += n
        needed = max(needed, data_start + offset + n // block * type_size)
        ranges.append((offset, offset + n // block * type_size, tname))
        types[qt.name] = types.get(qt.name, 0) + 1
    if size < needed:
        raise ModelLoadError(f"{name} is truncated ({size:,} bytes of the {needed:,} its tensors need): download "
                             "or copy it again.")
    gguf_checks.check_layout(name, ranges, align, size - data_start)
    vocab = meta.get(f"{arch}.vocab_size", meta.get("tokenizer.ggml.tokens"))
    info = GgufInfo(str(path), size, arch, meta.get("general.name"), params, meta.get(f"{arch}.context_length"),
                    meta.get(f"{arch}.block_count"), meta.get(f"{arch}.embedding_length"), vocab if isinstance(vocab, int) else None,
                    isinstance(meta.get("tokenizer.chat_template"), str), types,
                    **{f: v for f, key in (("feed_forward", "feed_forward_length"), ("heads", "attention.head_count"),
                                           ("kv_heads", "attention.head_count_kv"))
                       if isinstance(v := meta.get(f"{arch}.{key}"), int)})
    if check_support:
        _check_support(info, meta.get("tokenizer.ggml.model"))
        gguf_checks.check_chat_template(name, meta)
    return info


@functools.lru_cache(maxsize=1)
def supported() -> dict[str, list[str]]:
    """What the installed transformers loads from GGUF: architectures and tokenizer models."""
    hf_import.ready()
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    try:
        from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_TYPES
        wrong: set[str] = set()
    except ImportError:  # transformers before ~5.2x (5.17 on the lent GPU machine): one converter per architecture,
        GGUF_TOKENIZER_TYPES = ("gpt2", "llama", "t5")  # noqa: N806  each reading BPE, SentencePiece or Unigram
        # ... but its Phi-3 converter builds a bare BPE from the merges alone: a SentencePiece vocabulary (llama.cpp's
        # Phi-3 files) or a byte-level one comes back with other token ids (tests/models/test_export.py).
        wrong = {"phi3"}
    try:
        from transformers.integrations.gguf.gguf_config_mapping import GGUF_CONFIG_ARCHS
    except ImportError:  # an older transformers has only the one loader
        GGUF_CONFIG_ARCHS = ()  # noqa: N806
    archs = sorted(((set(GGUF_CONFIG_MAPPING) - {"general", "tokenizer"}) | set(GGUF_CONFIG_ARCHS)) - wrong)
    return {"architectures": archs, "native": sorted(GGUF_CONFIG_ARCHS), "tokenizers": sorted(GGUF_TOKENIZER_TYPES)}


def _check_support(info: GgufInfo, tokenizer_model: Any) -> None:
    import gguf
    import numpy as np

    sup = supported()
    arch = info.architecture
    name = Path(info.path).name
    if arch not in sup["architectures"] and info.model_type not in sup["architectures"]:  # transformers asks both
        raise ModelLoadError(f"{name} is a {info.architecture!r} model, which transformers cannot load from GGUF "
                             f"(it can: {', '.join(sup['architectures'])}).")
    if tokenizer_model not in sup["tokenizers"]:
        raise ModelLoadError(f"{name} has a {tokenizer_model!r} tokenizer, which transformers cannot rebuild "
                             f"(it can: {', '.join(sup['tokenizers'])}).")
    if arch in sup["native"]:
        return  # transformers' own dequantizer handles every type it lists
    bad = []
    for tname in info.tensor_types:
        qt = gguf.GGMLQuantizationType[tname]
        _, type_size = gguf.GGML_QUANT_SIZES[qt]
        try:  # one block of zeros tells whether gguf.quants can dequantize the type (microseconds)
            gguf.quants.dequantize(np.zeros(type_size, dtype=np.uint8), qt)
        except NotImplementedError:
            bad.append(tname)
    if bad:
        raise ModelLoadError(f"{name} stores tensors as {', '.join(sorted(bad))}, which cannot be dequantized: "
                             "use a file quantized as Q8_0, Q4_K_M, Q4_1, F16 or similar.")


@contextlib.contextmanager
def _fast_loading(on_tensor: TensorProgress | None = None):
    """transformers' GGUF loader parses the file twice and rebuilds gguf's tensor-name map per layer
    (~400 times): caching both for the duration of one load halves the time on SmolLM2. Its own
    progress bar (plain tqdm) is replaced by ``on_tensor(done, total)``: the studio says what it does
    in its own lines."""
    import gguf
    hf_import.ready()
    from transformers import modeling_gguf_pytorch_utils as loader

    def counted(iterable, *args, **kwargs):
        if on_tensor is None:
            return iterable
        items = list(iterable)

        def each():
            for i, item in enumerate(items):
                on_tensor(i, len(items))
                yield item
            on_tensor(len(items), len(items))
        return each()

    with _load_lock:
        reader, name_map, bar = gguf.GGUFReader, gguf.get_tensor_name_map, loader.tqdm
        gguf.GGUFReader = functools.lru_cache(maxsize=2)(reader)
        gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(name_map)
        loader.tqdm = counted
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map, loader.tqdm = reader, name_map, bar


def _check_implied_size(folder: str, fname: str, parameters: int) -> None:
    """Refuse a header that describes a bigger model than the file's tensors hold, before building it:
    the model its config implies is built on the meta device (no memory) and counted. Whatever the
    architecture, this catches a size the per-field checks cannot tie to a tensor (a feed-forward
    width with no ffn weights in the file). The file's header is parsed once: the reader is cached."""
    import torch
    hf_import.ready()
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(folder, gguf_file=fname)
    with torch.device("meta"):
        implied = sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())
    if implied > 1.25 * parameters + 1_000_000:
        raise ModelLoadError(f"{fname} cannot be imported: its header describes a model of {implied:,} parameters "
                             f"but its tensors hold {parameters:,}. The file is corrupt or was written by a broken "
                             "converter: convert or download it again.")


def _one_line(fname: str, exc: Exception, what: str = "load") -> ModelLoadError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200].rstrip(".")
    # The header passed every check: what transformers trips on is in the file's data (a token list that is not
    # UTF-8, merges that are not text, a tensor of size 0). Said with what to do, as every other refusal is.
    return ModelLoadError(f"Could not {what} {fname} ({type(exc).__name__}: {first}): the file is damaged or was "
                          "written by a converter transformers cannot read; convert or download it again.")


def load(path: str | Path, dtype: str = "float32", progress: LoadProgress | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a GGUF file, dequantized to ``dtype`` and free to ``save_pretrained``.

    ``progress(f)`` says how far the load got (0..1, per tensor while dequantizing; it may raise to
    stop the load). A file whose tensors leave any weight of the model it describes unset is
    refused: it would run with random weights."""
    import torch
    hf_import.ready()
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "de-quantizing" bars in the CLI's output or the server log
    path = Path(path).expanduser().resolve()
    info = inspect(path)
    torch_dtype = getattr(torch, dtype)
    folder, fname = str(path.parent), path.name
    step = progress or (lambda _f: None)

    def on_tensor(done: int, total: int) -> None:
        step(_AT["first tensor"] + (_AT["tensors"] - _AT["first tensor"]) * done / max(total, 1))

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its "LOAD REPORT" table: what matters is said below, in one line
    try:
        with _fast_loading(on_tensor):
            # The direct class: AutoTokenizer would rebuild the whole model config just to pick it.
            tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, gguf_file=fname)
            step(_AT["tokenizer"])
            _check_implied_size(folder, fname, info.parameters)
            # transformers maps a GPT-2 file's context length to n_ctx only; its position table needs n_positions
            extra = {"n_positions": info.context_length} if info.architecture == "gpt2" and info.context_length else {}
            loaded, report = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32,
                                                                  output_loading_info=True, **extra)
    except (StudioError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file can make the loader fail anywhere: one line
        raise _one_line(fname, exc) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    step(_AT["loaded"])
    missing = sorted(report.get("missing_keys") or []) + sorted(report.get("mismatched_keys") or [])
    if missing:
        shown = ", ".join(str(k) for k in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelLoadError(f"{fname} cannot be imported: it lacks weights the model needs ({shown}), which would "
                             "run with random values. The file is incomplete: convert or download it again.")
    _check_finite(fname, loaded)
    cfg = copy.deepcopy(loaded.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    for attr in ("_model_name_or_path", "_name_or_path"):
        if hasattr(cfg, attr):
            setattr(cfg, attr, "")
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch_dtype)
    step(_AT["rebuilt"])
    model.load_state_dict(loaded.state_dict(), strict=True)
    step(_AT["done"])
    model.generation_config = copy.deepcopy(loaded.generation_config)
    model.eval()
    del loaded
    for key in ("is_local", "local_files_only", "gguf_file", "vocab_file"):
        tokenizer.init_kwargs.pop(key, None)
    if info.context_length:
        tokenizer.model_max_length = int(info.context_length)  # the GGUF tokenizer says 1e30 otherwise
    return model, tokenizer


def _check_finite(fname: str, model: Any) -> None:
    """Refuse weights that hold NaN or infinity (corrupt data, a bad conversion): the model imported and then
    answered nothing, or failed at its first sampled answer. Checked in slices of 16 M values: a few MB at a time."""
    import torch

    for tname, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not all(bool(torch.isfinite(part).all())
                                                  for part in tensor.reshape(-1).split(1 << 24)):
            raise ModelLoadError(f"{fname} cannot be imported: its weights hold NaN or infinite values ({tname}). The "
                                 "file is corrupt or was written by a broken converter: convert or download it again.")


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer (with its chat template) from a GGUF file: a second, no weights dequantized."""
    hf_import.ready()
    from transformers import PreTrainedTokenizerFast

    path = Path(path).expanduser().resolve()
    info = inspect(path)
    try:
        with _fast_loading():
            tok = PreTrainedTokenizerFast.from_pretrained(str(path.parent), gguf_file=path.name)
    except StudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file can make the tokenizer fail anywhere: one line
        raise _one_line(path.name, exc, "read the tokenizer of") from None
    for key in ("is_local", "local_files_only", "gguf_file", "vocab_file"):
        tok.init_kwargs.pop(key, None)
    if info.context_length:
        tok.model_max_length = int(info.context_length)
    if tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
    return tok


def file_sha256(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dtype_bytes(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


__all__ = ["GgufInfo", "dtype_bytes", "file_sha256", "inspect", "load", "load_tokenizer", "supported"]
