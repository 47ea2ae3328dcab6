"""Community Cloud, the way it installs the studio: a virtualenv holding only ``cloud/requirements.txt``
(no torch, transformers or tokenizers), ``streamlit run cloud/Home.py``, every page opened in Chromium,
then ten more visitors at once (``bench/cloud_memory.py``), all under 500 MB.

The virtualenv is built once per version of ``cloud/requirements.txt`` and of the lock (which pins what
those packages pull in, so the test repeats), and kept in the user's cache (about a minute to build,
640 MB); the measurement itself is ``bench/cloud_memory.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CHROMIUM

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "cloud" / "requirements.txt"
LOCK = REPO / "requirements.lock"


def cloud_venv() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + LOCK.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "slm-studio" / f"cloud-venv-{digest}"
    python = cache / "bin" / "python"
    if not (cache / ".complete").exists():
        shutil.rmtree(cache, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(cache)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                        str(REQUIREMENTS), "-c", str(LOCK)], check=True)
        (cache / ".complete").touch()
    return python


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
@pytest.mark.timeout(1500)  # the venv once, then ten more visitors opening every page on a 2-core machine
def test_the_cloud_install_opens_every_page_streams_an_answer_and_never_imports_torch():
    python = cloud_venv()
    for heavy in ("torch", "transformers", "tokenizers"):  # the install really is the light one
        probe = subprocess.run([str(python), "-c", f"import {heavy}"], capture_output=True, text=True)
        assert probe.returncode != 0 and "No module named" in probe.stderr
    out = subprocess.run([sys.executable, "bench/cloud_memory.py", "--python", str(python), "--entry", "cloud/Home.py"],
                         cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "torch/transformers imported: no" in out.stdout
    assert "+10 visitors" in out.stdout  # the peak covers ten visitors at once, each in a workspace of their own
    assert "10 streamed at once" in out.stdout and "10 answers streamed at once" in out.stdout
    peak = float(re.search(r"peak (\d+) MB", out.stdout).group(1))
    assert peak < 500, out.stdout
