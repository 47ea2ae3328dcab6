"""The Dataset page in ``AppTest``, timed from inside its own script run: shared by the Dataset page's rerun benches.

``timed_page()`` points the studio at a fresh workspace and returns a function that opens the page; each run appends
its seconds to ``session_state["_bench"]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIMED_PAGE = '''import os, time
import streamlit as st
page = os.environ["BENCH_PAGE"]
start = time.perf_counter()
try:
    exec(compile(open(page).read(), page, "exec"), {"__name__": "__main__", "__file__": page})
finally:
    st.session_state.setdefault("_bench", []).append(time.perf_counter() - start)
'''


def timed_page() -> Callable[[int], object]:
    """A fresh workspace for the studio; returns ``open_page(timeout_s) -> AppTest`` (not yet run)."""
    work = Path(tempfile.mkdtemp())
    os.environ["STUDIO_HOME"] = str(work / "home")
    os.environ["BENCH_PAGE"] = str(ROOT / "pages" / "1_Dataset.py")
    (work / "timed.py").write_text(TIMED_PAGE)
    from streamlit.testing.v1 import AppTest

    return lambda timeout_s: AppTest.from_file(str(work / "timed.py"), default_timeout=timeout_s)
