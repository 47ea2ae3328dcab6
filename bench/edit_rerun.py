"""Benchmark: the Dataset page's rerun after one cell edit, on a 500-record dataset.

    python bench/edit_rerun.py [--records 500] [--edits 20]

Typing right after Tab in a new row can be lost in Streamlit's grid while the rerun of the edit before runs: the
shorter the rerun, the smaller that window. The page runs in ``AppTest`` (in this process, no browser); each edit
sets the editor's state and reruns, and the script's own time is measured inside its thread. Printed: the median and
fastest of ``--edits`` reruns with the Check tab's plots made once per version (now) and made at every rerun (before:
their cache cleared before each), alternated edit by edit, and the ratios now / before.
"""

from __future__ import annotations

import argparse
import os
import statistics

from dataset_page_timing import timed_page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    open_page = timed_page()

    from studio.data import store
    from studio.ui import dataset_tabs

    info = store.create_dataset("Bench", [{"question": f"Question {i} about the offside rule?",
                                           "answer": f"Answer {i}."} for i in range(args.records)])
    at = open_page(300)
    at.run()
    at.selectbox(key="dataset.picker").select(info.id).run()

    def rerun_after_edit(n: int, fresh_plots: bool) -> float:
        key = at.data_editor[0].key
        state = at.session_state[key] if key in at.session_state else {}
        rows = {**(state.get("edited_rows", {}) if state else {}), n % 150: {"answer": f"Edited {n}."}}
        at.session_state[key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
        at.session_state["_bench"] = []
        if fresh_plots:
            dataset_tabs._check_plots.clear()
        at.run()
        return at.session_state["_bench"][-1]

    print(f"Dataset page edit rerun bench, {args.records} records, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    found: dict[str, list[float]] = {"before": [], "now": []}
    for n in range(2 * args.edits):  # alternated, so a busy machine's moods fall on both alike
        found["before" if n % 2 else "now"].append(rerun_after_edit(n, fresh_plots=bool(n % 2)))
    for label, times in found.items():
        print(f"{label:6} median {statistics.median(times) * 1000:6.1f} ms, fastest {min(times) * 1000:6.1f} ms")
    now, before = found["now"], found["before"]
    print(f"now / before: medians {statistics.median(now) / statistics.median(before):.2f}, "
          f"fastest {min(now) / min(before):.2f}")


if __name__ == "__main__":
    main()
