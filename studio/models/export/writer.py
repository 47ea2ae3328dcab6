"""Writing the GGUF file: which type each tensor gets, how big the file will be, and the streamed write.

Types follow llama.cpp's converter: 1-D tensors (norms, biases), position embeddings and rope
factors stay F32; every 2-D weight takes the chosen type (F16, Q8_0 or Q4_0, quantized with
``gguf.quants``, the converter's own numpy code), falling back to F16 where a row is not a whole
number of 32-value blocks. For Q4_0 the token embedding and the output head (one matrix when they
are tied) are Q8_0: llama-quantize also keeps the output head at a higher precision, since Q4_0
there costs far more accuracy than anywhere else.

The header is written from shapes alone; tensors are then converted and written one at a time, so
memory holds the model plus one converted tensor, and progress is reported per tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

QUANTS = ("f16", "q8_0", "q4_0")
_HIGH_PRECISION = ("position_embd.weight", "rope_factors_long.weight", "rope_factors_short.weight")


@dataclass(frozen=True)
class TensorPlan:
    name: str
    shape: tuple[int, ...]  # numpy order (rows, columns)
    qtype: Any  # gguf.GGMLQuantizationType
    nbytes: int


def file_type(quant: str) -> Any:
    import gguf

    return {"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
            "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[quant]


def choose_type(name: str, shape: tuple[int, ...], quant: str, tied_head: bool) -> Any:
    import gguf

    T = gguf.GGMLQuantizationType  # noqa: N806
    if len(shape) <= 1 or name.endswith("_norm.weight") or name in _HIGH_PRECISION or not name.endswith(".weight"):
        return T.F32
    if quant == "f16":
        return T.F16
    qtype = T.Q8_0 if quant == "q8_0" else T.Q4_0
    if quant == "q4_0" and (name == "output.weight" or (name == "token_embd.weight" and tied_head)):
        qtype = T.Q8_0
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    return qtype if shape[-1] % block == 0 else T.F16


def nbytes(shape: tuple[int, ...], qtype: Any) -> int:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return int(np.prod(shape, dtype=np.int64)) // block * size


def convert(array: np.ndarray, qtype: Any) -> np.ndarray:
    """``array`` (float32) in ``qtype``: F32/F16 as floats, quantized types as packed bytes."""
    import gguf

    T = gguf.GGMLQuantizationType  # noqa: N806
    if qtype == T.F32:
        return np.ascontiguousarray(array, dtype=np.float32)
    if qtype == T.F16:
        return np.ascontiguousarray(array, dtype=np.float16)
    return gguf.quants.quantize(np.ascontiguousarray(array, dtype=np.float32), qtype)


def estimate(plans: list[TensorPlan], metadata_bytes: int) -> int:
    """The file's size in bytes: header and key/values, tensor infos, each tensor padded to 32 bytes."""
    infos = sum(24 + len(p.name) + 8 * len(p.shape) for p in plans)
    return metadata_bytes + infos + 64 + sum((p.nbytes + 31) // 32 * 32 for p in plans)


def write(path: Path, writer: Any, plans: list[TensorPlan], arrays: Iterator[tuple[str, np.ndarray]],
          progress: Callable[[int, int, str], None] | None = None) -> None:
    """Write the header, key/values and tensor infos of ``writer``, then each tensor as ``arrays`` yields it.

    ``arrays`` yields float32 numpy arrays in ``plans`` order; ``progress(done, total, name)`` after each.
    """
    import gguf

    for p in plans:
        if p.qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            dtype = np.float32 if p.qtype == gguf.GGMLQuantizationType.F32 else np.float16
            writer.add_tensor_info(p.name, p.shape, np.dtype(dtype), p.nbytes)
        else:
            block, size = gguf.GGML_QUANT_SIZES[p.qtype]
            byte_shape = (*p.shape[:-1], p.shape[-1] // block * size)
            writer.add_tensor_info(p.name, byte_shape, np.dtype(np.uint8), p.nbytes, raw_dtype=p.qtype)
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    total = len(plans)
    for done, (p, (name, array)) in enumerate(zip(plans, arrays, strict=True), start=1):
        assert name == p.name, (name, p.name)
        writer.write_tensor_data(convert(array, p.qtype))
        if progress is not None:
            progress(done, total, name)
    writer.close()
