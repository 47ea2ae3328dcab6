"""GGUF export as a background job (the pages' Export buttons) and the zip the page offers for download.

The page starts ``python -m studio model export SPEC --out <job>/<name>.gguf --zip`` as a job
(``studio.jobs``) in ``STUDIO_HOME/jobs/export-<name>``; the command reports its progress into the
job's status, writes the GGUF file and its Modelfile, then ``<name>.zip`` holding both (stored, not
compressed: quantized weights do not compress). The zip is written under a temporary name and
renamed too, so the page never offers half of one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

from studio import config, jobs
from studio.errors import StudioError
from studio.models.export.writer import QUANTS
from studio.models.library import EXPORT_FILE, EXPORT_KIND, EXPORT_SPEC
from studio.models.spec import library_name_ok


def check_name(name: str) -> str:
    """An export's file name (without .gguf): letters, digits, '.', '_', '-'; no path characters."""
    name = re.sub(r"(?i)\.gguf$", "", (name or "").strip())
    if not library_name_ok(name):  # the model library's rule for a name
        raise StudioError(f"{name!r} cannot name an export: use letters, digits, '.', '_' or '-' (no slashes or "
                          "'..'), at most 80 characters.")
    return name


# A GGUF tensor type at the end of a name, as llama.cpp's files carry it ("smol.Q8_0", "Llama-3-8B-Q4_K_M", "x.F16")
_TYPE = r"(?:[IT]?Q\d+(?:_[A-Z0-9]+)*|F16|F32|BF16)"
_TYPE_TAG = re.compile(rf"[.-]{_TYPE}$", re.IGNORECASE)
# A note in brackets at the end of a label that names a type ("SmolLM2-135M-Instruct (bundled Q4_1 copy)")
_TYPE_NOTE = re.compile(rf"\s*\([^()]*\b{_TYPE}\b[^()]*\)\s*$", re.IGNORECASE)


def default_name(label: str, quant: str) -> str:
    """A file name from a model's name: "SmolLM2-135M-Instruct (bundled Q4_1 copy)" -> "SmolLM2-135M-Instruct.Q8_0"
    (a bracketed note naming the source's type is dropped: the file is the export's type, not two). A model imported from "smol.Q8_0.gguf" is named "smol.Q8_0": its type tag is replaced, not doubled
    ("smol.Q8_0.Q8_0", "smol.Q8_0.F16" for an F16 file). The bundled model's file is named after its upstream model
    (its label, "SmolLM2 · bundled (...)", would make "SmolLM2-bundled")."""
    from studio.models import bundled

    if label == bundled.LABEL:
        label = bundled.BUNDLED_ID.rsplit("/", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", _TYPE_NOTE.sub("", label) or label).strip("-.")[:70]
    stem = _TYPE_TAG.sub("", stem).strip("-.") or stem or "model"
    return f"{stem}.{quant.upper()}"


def job_dir(name: str) -> Path:
    return config.jobs_dir() / f"export-{check_name(name)}"


def start_export(spec: str, quant: str, name: str) -> Path:
    """Start the export job; returns its folder (``jobs.read_status`` reads its progress)."""
    if quant not in QUANTS:
        raise StudioError(f"Unknown quantization {quant!r}: choose {', '.join(QUANTS)}.")
    name = check_name(name)
    workdir = job_dir(name)
    out = workdir / f"{name}.gguf"
    jobs.start_job(EXPORT_KIND, ["model", "export", spec, "--out", str(out), "--quant", quant, "--force", "--zip"],
                   workdir, uses_device=False, record={EXPORT_SPEC: spec})
    return workdir


@contextlib.contextmanager
def terminal_export(spec: str, file_name: str) -> Iterator[Path]:
    """Record an export run from a terminal (``model export``) as a running job of this process while the block runs,
    as the page's are: deleting its model or run is refused while it reads it. Yields its folder; as the block ends,
    however it ends, the folder and its registry entry are removed, and the jobs/ folder (and workspace) where it made
    them (a refused export left jobs/ and its entry in a workspace that had none)."""
    run_id = spec.strip().removeprefix("run:")
    if "/" not in run_id and run_id and (config.runs_dir(make=False) / run_id).is_dir():  # a bare run id reads that run
        spec = f"run:{run_id}"
    made = config.missing(config.jobs_dir(make=False))  # jobs/, and the workspace itself where it is not there yet
    workdir = config.jobs_dir() / f"export-terminal-{os.getpid()}"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        jobs.clear_stop(workdir)
        jobs.update_status(workdir, state="running", kind=EXPORT_KIND, pid=os.getpid(), progress=0.0, eta_s=None,
                           message="starting", error="", uses_device=False, **{EXPORT_SPEC: spec, EXPORT_FILE: file_name})
        jobs.register_current(EXPORT_KIND, workdir)
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        jobs.unregister_current(workdir, made_registry=bool(made))
        config.take_back(made)


def write_zip(gguf_path: Path, modelfile: Path) -> Path:
    """``<name>.zip`` beside the GGUF file, holding it and its Modelfile."""
    target = gguf_path.with_suffix(".zip")
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.write(gguf_path, gguf_path.name)
            zf.write(modelfile, modelfile.name)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def finished_zip(workdir: Path) -> Path | None:
    """The zip a finished export job wrote, when it is there."""
    status = jobs.read_status(workdir)
    path = status.extra.get("zip")
    return Path(path) if status.state == "finished" and path and Path(path).is_file() else None
