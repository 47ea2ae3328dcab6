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
import mmap
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import ModelLoadError

MAGIC = b"GGUF"
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_SMALL_ARRAY = 64  # numeric arrays up to this length are kept; longer ones (token scores) become their length
# transformers renames these general.architecture values before checking support
_ALIASES = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe", "gpt-oss": "gpt_oss", "t5encoder": "t5"}
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

    @property
    def quantization(self) -> str:
        """The main tensor type ("Q4_1", "F16", ...): the one most tensors use, norms aside."""
        types = {k: v for k, v in self.tensor_types.items() if k != "F32"} or self.tensor_types
        return max(types, key=types.get) if types else "unknown"


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

    def value(self, vtype: int) -> Any:
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
                if count <= _SMALL_ARRAY else None
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
    import numpy as np

    path = Path(path).expanduser()
    name = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            magic = f.read(4)
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
                meta[key] = r.value(r.take("<I"))
            tensors = []
            for _ in range(n_tensors):
                tname = r.string()
                dims = r.take(f"<{r.take('<I')}Q")
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
    if not isinstance(arch, str):
        raise ModelLoadError(f"{name} names no architecture (general.architecture): it is not a model file.")
    align = meta.get("general.alignment", 32) if isinstance(meta.get("general.alignment"), int) else 32
    data_start = (header_end + align - 1) // align * align
    types: dict[str, int] = {}
    params, needed = 0, data_start
    for tname, dims, qtype, offset in tensors:
        try:
            qt = gguf.GGMLQuantizationType(qtype)
        except ValueError:
            raise ModelLoadError(f"{name}: tensor {tname!r} has an unknown type ({qtype}).") from None
        n = int(np.prod(dims, dtype=np.int64)) if dims else 1
        block, type_size = gguf.GGML_QUANT_SIZES[qt]
        params += n
        needed = max(needed, data_start + offset + n // block * type_size)
        types[qt.name] = types.get(qt.name, 0) + 1
    if size < needed:
        raise ModelLoadError(f"{name} is truncated ({size:,} bytes of the {needed:,} its tensors need): download "
                             "or copy it again.")
    vocab = meta.get(f"{arch}.vocab_size", meta.get("tokenizer.ggml.tokens"))
    info = GgufInfo(str(path), size, arch, meta.get("general.name"), params, meta.get(f"{arch}.context_length"),
                    meta.get(f"{arch}.block_count"), meta.get(f"{arch}.embedding_length"), vocab if isinstance(vocab, int) else None,
                    isinstance(meta.get("tokenizer.chat_template"), str), types)
    if check_support:
        _check_support(info, meta.get("tokenizer.ggml.model"))
    return info


@functools.lru_cache(maxsize=1)
def supported() -> dict[str, list[str]]:
    """What the installed transformers loads from GGUF: architectures and tokenizer models."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_TYPES

    try:
        from transformers.integrations.gguf.gguf_config_mapping import GGUF_CONFIG_ARCHS
    except ImportError:  # an older transformers has only the one loader
        GGUF_CONFIG_ARCHS = ()  # noqa: N806
    archs = sorted((set(GGUF_CONFIG_MAPPING) - {"general", "tokenizer"}) | set(GGUF_CONFIG_ARCHS))
    return {"architectures": archs, "native": sorted(GGUF_CONFIG_ARCHS), "tokenizers": sorted(GGUF_TOKENIZER_TYPES)}


def _check_support(info: GgufInfo, tokenizer_model: Any) -> None:
    import gguf
    import numpy as np

    sup = supported()
    arch = _ALIASES.get(info.architecture, info.architecture)
    name = Path(info.path).name
    if arch not in sup["architectures"]:
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
def _fast_loading():
    """transformers' GGUF loader parses the file twice and rebuilds gguf's tensor-name map per layer
    (~400 times): caching both for the duration of one load halves the time on SmolLM2. Its own
    progress bar (plain tqdm) is turned off too: the studio says what it does in its own lines."""
    import gguf
    from transformers import modeling_gguf_pytorch_utils as loader

    with _load_lock:
        reader, name_map, bar = gguf.GGUFReader, gguf.get_tensor_name_map, loader.tqdm
        gguf.GGUFReader = functools.lru_cache(maxsize=2)(reader)
        gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(name_map)
        loader.tqdm = lambda iterable, *args, **kwargs: iterable
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map, loader.tqdm = reader, name_map, bar


def load(path: str | Path, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) from a GGUF file, dequantized to ``dtype`` and free to ``save_pretrained``."""
    import torch
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "de-quantizing" bars in the CLI's output or the server log
    path = Path(path).expanduser().resolve()
    info = inspect(path)
    torch_dtype = getattr(torch, dtype)
    folder, fname = str(path.parent), path.name
    try:
        with _fast_loading():
            # The direct class: AutoTokenizer would rebuild the whole model config just to pick it.
            tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, gguf_file=fname)
            # transformers maps a GPT-2 file's context length to n_ctx only; its position table needs n_positions
            extra = {"n_positions": info.context_length} if info.architecture == "gpt2" and info.context_length else {}
            loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32, **extra)
    except (ValueError, OSError, NotImplementedError, struct.error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelLoadError(f"Could not load {fname}: {first}") from None
    cfg = copy.deepcopy(loaded.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    for attr in ("_model_name_or_path", "_name_or_path"):
        if hasattr(cfg, attr):
            setattr(cfg, attr, "")
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch_dtype)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = copy.deepcopy(loaded.generation_config)
    model.eval()
    del loaded
    for key in ("is_local", "local_files_only", "gguf_file", "vocab_file"):
        tokenizer.init_kwargs.pop(key, None)
    if info.context_length:
        tokenizer.model_max_length = int(info.context_length)  # the GGUF tokenizer says 1e30 otherwise
    return model, tokenizer


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer (with its chat template) from a GGUF file: a second, no weights dequantized."""
    from transformers import PreTrainedTokenizerFast

    path = Path(path).expanduser().resolve()
    info = inspect(path)
    try:
        with _fast_loading():
            tok = PreTrainedTokenizerFast.from_pretrained(str(path.parent), gguf_file=path.name)
    except (ValueError, OSError, struct.error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelLoadError(f"Could not read the tokenizer of {path.name}: {first}") from None
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
