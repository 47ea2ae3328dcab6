"""Benchmark: the Dataset page's Save of 5,000 records, the rerun after it included.

    python bench/save_rerun.py [--records 5000] [--saves 4]

A Save wrote the version in about 0.1 s, but took 7.2 s in Chromium (3.3 s here) with its rerun: a new version made the
Duplicates tab estimate its fuzzy run again, a timed sample of 1,000 texts (on these very similar texts, the refused
"threshold 80 would make about 12 million duplicate pairs"). First the sample's pairs were counted before any cluster
was made (0.61x); now the Duplicates tab is drawn only while it is shown, so a Save in the Edit tab makes no estimate
at all. The page runs in ``AppTest`` (this process, no browser), on the Edit tab; each save edits one cell and presses
Save, and the script's own time is measured inside its thread, for the save's run and the rerun after it. Printed: the
median of ``--saves`` saves now and with the Duplicates tab drawn on every run (as before), alternated save by save,
and the ratio.
"""

from __future__ import annotations

import argparse
import statistics

from dataset_page_timing import timed_page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--saves", type=int, default=4)
    args = parser.parse_args()
    open_page = timed_page()

    from studio.data import store
    from studio.ui import dataset as dui

    new = dui.DRAWN_WHEN_OPEN
    old = frozenset()  # before: every tab drawn on every run, the Duplicates tab and its estimate included

    # Each save on a dataset of its own: the same edit typed again onto the version it made changes nothing, so the
    # page rightly shows "All changes saved (version 2)" and no Save button (Chromium shows the same; no save is made).
    def save(n: int, path: frozenset) -> float:  # a dataset of its own, opened, one cell edited, Save pressed
        info = store.create_dataset(f"Bench {n} {'now' if path == new else 'before'}", [
            {"question": f"Question {i} about the offside rule?", "answer": f"Answer {i} is a sentence of some length."}
            for i in range(args.records)])
        at = open_page(600)
        at.run()
        at.selectbox(key="dataset.picker").select(info.id).run()
        key = at.data_editor[0].key
        at.session_state[key] = {"edited_rows": {3: {"answer": "Edited."}}, "added_rows": [], "deleted_rows": []}
        at.run()
        at.session_state["_bench"] = []
        dui.DRAWN_WHEN_OPEN = path
        try:
            at.button(key="dataset.save").click().run()
        finally:
            dui.DRAWN_WHEN_OPEN = new
        assert [s for s in at.success if s.value.startswith("Saved version 2")], "not saved"
        return sum(at.session_state["_bench"])

    times: dict[str, list[float]] = {"now": [], "before": []}
    for n in range(args.saves):
        for name, path in (("now", new), ("before", old)) if n % 2 == 0 else (("before", old), ("now", new)):
            times[name].append(save(n, path))
    now, before = statistics.median(times["now"]), statistics.median(times["before"])
    print(f"{args.records:,} records, {args.saves} saves each: save + rerun now {now:.2f} s, before {before:.2f} s "
          f"(median); ratio now / before {now / before:.2f}x")
    print("each, now:", " ".join(f"{t:.2f}" for t in times["now"]), "| before:",
          " ".join(f"{t:.2f}" for t in times["before"]))


if __name__ == "__main__":
    main()
