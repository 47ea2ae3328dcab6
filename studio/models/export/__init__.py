"""Export any studio model as a GGUF file for llama.cpp, Ollama and LM Studio, in pure Python.

``export_gguf(spec, out, quant=...)`` loads the model the pickers name (a run, ``model:NAME``, the
bundled model's id, a folder, a Hub id in the cache): a LoRA run is merged into its base in memory,
so nothing half-merged ever reaches the disk. The weights are laid out as llama.cpp expects
(``layout``), the tokenizer and chat template carried (``vocab``), and the file written with
``gguf.GGUFWriter`` and ``gguf.quants`` (``writer``) to a hidden temporary name beside ``out``,
renamed only once complete: a failure (a full disk, an interrupt) leaves no half file. An Ollama
``Modelfile`` is written beside it (``ollama``).

Architectures: llama, gpt2, phi3 (what the studio trains); anything else is refused in one line.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import atomic
from studio.errors import StudioError, disk_error
from studio.models import generate
from studio.models.export import layout as layout_mod
from studio.models.export import ollama, vocab, writer
from studio.models.export.layout import SUPPORTED_TEXT
from studio.models.export.writer import QUANTS

Progress = Callable[[str, float], None]  # (what it is doing, fraction done)
PARTIAL = ".partial"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    modelfile: Path
    size: int  # bytes
    quant: str
    architecture: str
    seconds: float
    ollama_command: str
    default_system: str | None = None  # the system prompt the Modelfile gives a conversation that has none
    chat_template: bool = True  # False: the Modelfile's TEMPLATE is the studio's "Question: ... Answer:" format

    @property
    def size_text(self) -> str:
        return fmt_size(self.size)


def fmt_size(n: int) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


def model_title(title: str, tokens: list[str]) -> str:
    """``general.name``: llama.cpp treats a model whose name contains "phi3" or "phi-3" as Phi-3 and
    then looks up <s>, </s>, <unk> and <|endoftext|> in its vocabulary, failing to load a model that
    lacks one (any studio model, named by its file). Such a name is spelled "phi_3" instead."""
    if all(t in tokens for t in ("<s>", "</s>", "<unk>", "<|endoftext|>")):
        return title
    return re.sub(r"(?i)phi-?3", lambda m: m.group(0)[:3] + "_3", title)


def free_space(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def modelfile_path(path: Path) -> Path:
    """The Ollama Modelfile written beside the GGUF file ``path``: ``faq.F16.gguf`` -> ``faq.F16.Modelfile``."""
    return path.with_name(path.stem + ".Modelfile")  # stem: ".GGUF" is a GGUF file too


def check_out(out: str | Path, force: bool, *, zipped: bool = False) -> Path:
    """The output path, checked before anything slow: a .gguf name in an existing folder, not taken, and neither
    the Modelfile written beside it (a Modelfile the user edited was replaced) nor, with ``zipped``, the zip."""
    path = Path(out).expanduser()
    if path.suffix.lower() != ".gguf":
        raise StudioError(f"{path.name} does not end in .gguf: name the output like model.Q8_0.gguf.")
    if not ollama.fits_from_line(path.name):
        raise StudioError(f"{path.name!r} has a line break or control character, which the Modelfile's FROM line "
                          "cannot hold: choose another --out.")
    if path.is_dir():
        raise StudioError(f"{path} is a folder: give a file name ending in .gguf.")
    if not path.parent.is_dir():
        raise StudioError(f"No folder {path.parent}: create it first, or choose another --out.")
    for taken in (path, modelfile_path(path), *([path.with_suffix(".zip")] if zipped else [])):
        if taken.is_dir():
            raise StudioError(f"{taken} is a folder: move it away, or choose another --out.")
        if taken.exists() and not force:
            raise StudioError(f"{taken} already exists: pass --force to replace it, or choose another --out.")
    # before the free-space check (a read-only disk with little room said "Not enough disk") and before the load
    atomic.check_writable(path)
    return path


def check_architecture(spec: str) -> None:
    """Refuse an unsupported architecture from the model's config.json alone, before loading any weights."""
    import json

    from studio.models import loading

    ref = loading.resolve(spec)
    folder = Path(ref.source)
    if ref.kind == "adapter":
        return  # its base is checked once loaded
    cfg = folder / "config.json"
    if ref.kind in ("run", "model", "path") and cfg.is_file():
        try:
            model_type = json.loads(cfg.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError):
            return
        layout_mod.architecture_of(type("Config", (), {"model_type": model_type})())


def load(spec: str, progress: Progress) -> tuple[Any, Any]:
    """(model, tokenizer) on the CPU in float32; a LoRA run comes back merged into its base."""
    from studio.models import bundled, loading

    check_architecture(spec)
    loading.check_reachable(spec)  # a Hub id that cannot be had: its error line alone, not "loading ..." above it
    first_use = spec.strip() == bundled.SPEC and not bundled.imported() and bundled.gguf_path() is not None
    progress(bundled.FIRST_USE if first_use else f"loading {spec}", 0.0)  # "loading ..." for a minute said nothing
    lm = loading.load_causal_lm(spec, device="cpu")
    model = lm.model
    if hasattr(model, "merge_and_unload"):  # a PeftModel that was not merged yet
        model = model.merge_and_unload()
    return model.float().eval(), lm.tokenizer


def _arrays(state: dict, lay: layout_mod.Layout) -> Iterator[tuple[str, Any]]:
    for gguf_name, hf_name, transform in lay.tensors:
        array = state[hf_name].detach().float().cpu().numpy()
        yield gguf_name, transform(array) if transform else array
    yield from lay.extra.items()


def _metadata_bytes(voc: vocab.Vocab) -> int:
    return (sum(len(t.encode()) + 12 for t in voc.tokens) + sum(len(m.encode()) + 8 for m in voc.merges)
            + len((voc.chat_template or "").encode()) + 4096)


def export_gguf(spec: str, out: str | Path, *, quant: str = "q8_0", force: bool = False, name: str | None = None,
                progress: Progress | None = None, zipped: bool = False) -> ExportResult:
    """Write the model ``spec`` names to ``out`` as GGUF (``quant``: f16, q8_0 or q4_0), with a Modelfile beside it
    (``zipped``: a zip of both will be written too; it is checked with the rest)."""
    import gguf
    import torch

    say = progress or (lambda _line, _frac: None)
    quant = (quant or "").lower()
    if quant not in QUANTS:
        raise StudioError(f"Unknown quantization {quant!r}: choose {', '.join(QUANTS)}.")
    path = check_out(out, force, zipped=zipped)
    started = time.monotonic()
    model, tokenizer = load(spec, say)
    config = model.config
    state = model.state_dict()
    lay = layout_mod.plan(config, set(state))
    voc = vocab.build(tokenizer, int(config.vocab_size), getattr(tokenizer, "chat_template", None))
    tied = not any(n == "output.weight" for n, _, _ in lay.tensors)
    plans = []
    for gguf_name, hf_name, transform in lay.tensors:
        shape = tuple(state[hf_name].shape)
        shape = shape[::-1] if transform is layout_mod.transpose else shape
        qtype = writer.choose_type(gguf_name, shape, quant, tied)
        plans.append(writer.TensorPlan(gguf_name, shape, qtype, writer.nbytes(shape, qtype)))
    for gguf_name, array in lay.extra.items():
        plans.append(writer.TensorPlan(gguf_name, array.shape, gguf.GGMLQuantizationType.F32, array.nbytes))
    size = writer.estimate(plans, _metadata_bytes(voc))
    free = free_space(path.parent)
    if free < size + 2**20:
        raise StudioError(f"Not enough disk for {path.name}: it needs {fmt_size(size)}, {fmt_size(free)} is free in "
                          f"{path.parent}. Free some space, or export as q4_0 (smaller).")
    say(f"writing {path.name}: {lay.arch}, {quant.upper()}, about {fmt_size(size)} ({fmt_size(free)} free)", 0.05)
    title = model_title(name or path.stem, voc.tokens)
    w = gguf.GGUFWriter(None, lay.arch)
    w.add_name(title)
    w.add_file_type(writer.file_type(quant))
    if quant != "f16":
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for method, value in lay.metadata:
        getattr(w, method)(value)
    stop_ids = generate.stop_token_ids(tokenizer, model)
    stops = [t for t in (tokenizer.convert_ids_to_tokens(i) for i in stop_ids) if isinstance(t, str)]
    parts = ollama.chat_parts(tokenizer, stops, voc.add_bos) if voc.chat_template else None
    if parts is not None and parts.stop != voc.eos_text and parts.stop in stops:
        w.add_eot_token_id(stop_ids[stops.index(parts.stop)])  # the end-of-turn token, when it is not EOS
    vocab.write(w, voc)
    modelfile_text = ollama.modelfile(path.name, tokenizer, stops, voc.add_bos)  # refused before the slow write
    tmp = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL}")

    def tensor_progress(done: int, total: int, tname: str) -> None:
        say(f"tensor {done}/{total} ({tname})", 0.05 + 0.9 * done / total)

    try:
        with torch.no_grad():
            writer.write(tmp, w, plans, _arrays(state, lay), tensor_progress)
        os.replace(tmp, path)
    except BaseException as exc:
        w.close()
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and " requested and " in str(exc):  # numpy's tofile: a short write, no errno
            exc = OSError(28, "No space left on device")
        err = disk_error(exc, path) if isinstance(exc, OSError) else None
        if err is not None:
            raise err from None
        raise
    modelfile = modelfile_path(path)
    try:
        atomic.write_text(modelfile, modelfile_text)
    except BaseException:
        path.unlink(missing_ok=True)  # the pair is one export: no file without its Modelfile
        raise
    result = ExportResult(path, modelfile, path.stat().st_size, quant, lay.arch, time.monotonic() - started,
                          ollama.create_command(modelfile, path.stem), parts.default_system if parts else None,
                          bool(voc.chat_template))
    say(f"wrote {path.name} ({result.size_text}) in {result.seconds:.1f} s", 1.0)
    return result


__all__ = ["QUANTS", "SUPPORTED_TEXT", "ExportResult", "export_gguf", "fmt_size"]
