"""What the studio runs on, found without importing torch (Home and the Dataset page stay light):
the GPUs, what this installation can do (``capabilities``: every page and command asks it, so the
API-mode install of Community Cloud never reaches an import error), and the process's memory."""

from __future__ import annotations

import gc
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Gpu:
    name: str
    total_mb: int
    used_mb: int


@dataclass(frozen=True)
class DeviceInfo:
    gpus: list[Gpu]
    local_models: bool  # torch and transformers are installed: local training and chat are possible
    public: bool = False  # the public app: API mode whatever is installed (Capabilities.public)

    @property
    def summary(self) -> str:
        if self.public:
            return "API mode: this public app answers through API models, for every visitor"
        if self.gpus:
            g = self.gpus[0]
            more = f" (+{len(self.gpus) - 1} more)" if len(self.gpus) > 1 else ""
            return f"GPU: {g.name}, {g.used_mb / 1024:.1f} of {g.total_mb / 1024:.1f} GiB in use{more}"
        if self.local_models:
            return "CPU only: local training and chat work, slowly; API models work as usual"
        return "API mode: torch is not installed, so chat and evaluation go through API models"


def gpus() -> list[Gpu]:
    """NVIDIA GPUs as ``nvidia-smi`` reports them; empty when there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            found.append(Gpu(parts[0], int(parts[1]), int(parts[2])))
    return found


def describe() -> DeviceInfo:
    can = capabilities()
    return DeviceInfo(gpus=[] if can.public else gpus(), local_models=can.local_models, public=can.public)


FULL_INSTALL = "the full install (the README's first command) adds it"


@dataclass(frozen=True)
class Capabilities:
    """What this installation can do, decided by which packages are installed (never by importing them)."""

    local_models: bool  # torch, transformers and tokenizers: local chat, local evaluation, training, the Models page
    semantic: bool  # sentence-transformers (and torch): semantic de-duplication, answer similarity, semantic leakage
    lora: bool  # peft: LoRA and QLoRA training and adapters
    gguf: bool  # gguf: importing GGUF files
    public: bool = False  # the public app (per-visitor workspaces): API mode whatever is installed

    @property
    def api_only(self) -> bool:
        return not self.local_models

    def note(self) -> str:
        """One line: what this deployment does, and what needs the full install."""
        if self.local_models:
            return "Full install: local models, training and API models all work here."
        if self.public:
            return ("API mode: this public app runs no local model (one server serves every visitor), so datasets "
                    "(import, edit, de-duplicate, export, push to the Hub), chat and evaluation with API models work "
                    "here; local models and training need a studio of your own (the README's first command).")
        return ("API mode: this deployment has no torch or transformers, so datasets (import, edit, de-duplicate, "
                "export, push to the Hub), chat and evaluation with API models work here; local models and "
                "training need the full install (the README's first command).")

    def require_local(self, what: str) -> None:
        """Raise a one-line StudioError when ``what`` needs local models and this install has none."""
        if not self.local_models:
            from studio.errors import StudioError

            if self.public:
                raise StudioError(f"{what} runs on this server, and this public app (API mode) runs no local model: "
                                  "use an API model (api:<model id>), or a studio of your own (the README's first "
                                  "command).")
            raise StudioError(f"{what} needs torch and transformers, which this install (API mode) leaves out: "
                              f"use an API model (api:<model id>), or {FULL_INSTALL}.")


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def capabilities() -> Capabilities:
    """What this install does; the public app (per-visitor workspaces) is API mode whatever is installed: one server
    shared by every visitor trains and runs no local model for any of them."""
    from studio import config

    public = config.tenancy()
    return Capabilities(
        local_models=_installed("torch", "transformers", "tokenizers") and not public,
        public=public,
        semantic=_installed("sentence_transformers", "torch"),
        lora=_installed("peft"),
        gguf=_installed("gguf"),
    )


def memory_mb() -> int | None:
    """Total system memory in MiB (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return None


def _cuda() -> Any:
    """``torch.cuda`` when torch is already imported (fully: a worker may be importing it) and sees a GPU."""
    torch = sys.modules.get("torch")
    try:
        return torch.cuda if torch is not None and torch.cuda.is_available() else None
    except AttributeError:  # torch half-imported by a loading worker
        return None


def free_memory() -> None:
    """Give memory of dropped models back (the GPU's too, when torch is already loaded)."""
    gc.collect()
    cuda = _cuda()
    if cuda is not None:
        cuda.empty_cache()


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (Linux ``/proc``); 0 where unavailable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def memory_summary() -> str:
    """Device memory in one line: the GPU's when torch uses CUDA, else this process's resident memory."""
    cuda = _cuda()
    if cuda is not None:
        free, total = cuda.mem_get_info()
        used = cuda.memory_allocated() / 2**30
        return f"GPU: {used:.1f} GiB held by models, {(total - free) / 2**30:.1f} of {total / 2**30:.1f} GiB in use"
    return f"Memory: {rss_mb():.0f} MB resident (CPU)"
