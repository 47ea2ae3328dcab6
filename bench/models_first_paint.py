"""How long the Models page's first run takes to draw the library, against the run it replaced, in one process.

The page listed the library without loading tokenizers, then loaded every unchecked one before its first run ended
(transformers' import, then each tokenizer: 11 s after a fresh start here, 48 s seen on a busy machine). It now ends
its first run once the library is drawn, and another process loads them while the runs after it (0.5 s apart)
ask it what it has found. The old first run did both:
the first paint, then every load. This times, on a new workspace holding N tiny models with tokenizers of their own
(built here) and the bundled SmolLM2-135M-Instruct (imported here when its package is installed), the first run of
the page (AppTest) and the runs after it until every tokenizer is checked, and prints the ratio.

    HF_HUB_OFFLINE=1 python bench/models_first_paint.py [N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _build(n: int) -> None:
    """The workspace, built in a child process: this one starts as the studio's server does, transformers not
    imported yet."""
    from conftest import build_tiny_causal_lm  # the tests' tiny model builder

    from studio import config
    from studio.models import bundled, library

    if bundled.gguf_path() is not None:
        library.ensure_bundled()
    for i in range(n):  # each a tokenizer of its own content (a file beside it): each is loaded once
        folder = build_tiny_causal_lm(config.models_dir() / f"tiny-{i}", arch=("gpt2", "llama")[i % 2])
        (folder / "notes.txt").write_text(str(i))


def main(n: int = 3) -> None:
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="models-first-paint-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    subprocess.run([sys.executable, __file__, "--build", str(n)], check=True, capture_output=True)
    from streamlit.testing.v1 import AppTest

    from studio import config
    from studio.models import library, tokenizer_check

    (config.home() / tokenizer_check.FILE).unlink(missing_ok=True)  # as a workspace new to these models
    loads = []
    real = tokenizer_check._load_note
    tokenizer_check._load_note = lambda f: loads.append(f) or real(f)

    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=600)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    loaded_first = len(loads)
    runs = 0
    t = time.perf_counter()
    while tokenizer_check.pending() and runs < 1200:
        time.sleep(0.5)  # the timed check's tick: another process loads them
        at.run()
        runs += 1
    after = time.perf_counter() - t
    print(f"{len(library.list_models(load=False))} models: the first run drew the library in {first:.2f} s "
          f"({loaded_first} tokenizers loaded); {len(loads) - loaded_first} loaded by the page's process, every answer in "
          f"after {runs} runs, {after:.2f} s. The old first run (both): {first + after:.2f} s, {(first + after) / first:.1f}x the new one")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--build"]:
        _build(int(sys.argv[2]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
