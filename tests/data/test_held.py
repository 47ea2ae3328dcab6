"""The parsed imports held for every session together, within one byte budget (``studio.data.held``)."""

from __future__ import annotations

import json
import sys
import tracemalloc

from studio.data import formats, held


def test_past_the_budget_the_preview_used_longest_ago_is_dropped_first_never_the_newest():
    previews = held.Held(budget=100)
    previews.put("a", "A", 40)
    previews.put("b", "B", 40)
    assert previews.get("a") == "A"  # read: now the most recently used
    previews.put("c", "C", 40)  # 120 bytes: "b" goes, used longest ago
    assert (previews.get("a"), previews.get("b"), previews.get("c")) == ("A", None, "C")
    previews.put("big", "BIG", 500)  # a file bigger than the whole budget is still shown to the person who read it
    assert (previews.get("big"), len(previews), previews.held_bytes()) == ("BIG", 1, 500)
    previews.drop("big")
    assert previews.get("big") is None and previews.held_bytes() == 0


def test_a_put_lets_go_of_the_values_of_owners_gone_and_keeps_the_others():
    """A tab closed with a preview held it for the server's life: the next put, by any tab, drops it now."""
    previews = held.Held(budget=10_000)
    previews.put("closed", "C", 40, owner="tab-1")
    previews.put("open", "O", 40, owner="tab-2")
    previews.put("mine", "M", 40, owner="tab-3", gone=lambda owner: owner == "tab-1")
    assert (previews.get("closed"), previews.get("open"), previews.get("mine")) == (None, "O", "M")
    assert previews.held_bytes() == 80
    previews.put("mine", "M2", 50, owner="tab-3", gone=lambda owner: True)  # its own owner is never taken for gone
    assert (previews.get("open"), previews.get("mine")) == (None, "M2")


def test_a_parsed_file_is_charged_about_the_memory_it_takes():
    """The charge is what bounds the app's memory: an estimate from 200 records, within a factor of 1.5 of what
    parsing the whole file allocated and kept."""
    data = "".join(json.dumps({"question": f"Question {n} about rule {n % 17}?" * (1 + n % 3),
                               "answer": f"Answer {n}, with a reason." * (1 + n % 5), "id": n}) + "\n"
                   for n in range(20_000)).encode()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        parsed = formats.parse(data, "qa.jsonl", legacy=True)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    charged = held.rows_bytes(parsed.rows)
    assert kept / 1.5 < charged < kept * 1.5, (charged, kept, len(data))
    records = formats.apply_mapping(parsed.rows, formats.FieldMap("answer", "question"))  # new dicts, same strings
    assert charged < held.rows_bytes(parsed.rows, records) < 2 * charged


def test_the_problems_found_in_a_file_are_charged_too():
    """A file whose every record is invalid holds a problem per record beside its records: counted in its charge."""
    from studio.data import validate

    rows = [{"question": f"Question {n}?"} for n in range(5_000)]  # no answer: one problem each
    found = validate.check(rows)
    assert len(found.problems) == 5_000
    alone = held.rows_bytes(rows)
    one = found.problems[0]
    assert held.rows_bytes(rows, found.problems) > alone + 5_000 * (sys.getsizeof(one) + sys.getsizeof(one.message))


def test_the_budget_is_the_previews_mb_setting_and_a_bad_value_is_refused_in_one_line(monkeypatch):
    """The budgets were constants (256 MB on a public app, 2 GB on one's own machine): a deployment with more or less
    memory could not move them. ``[studio] previews_mb`` sets it; a value that is not a number of MB is refused in one
    line on the page, and the budget in force stays."""
    from streamlit.testing.v1 import AppTest

    from tests.test_tenancy import REPO

    monkeypatch.setattr(held, "_configured", held.Budget())
    monkeypatch.setenv("STUDIO_TENANCY", "0")
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=60)
    at.secrets["studio"] = {"previews_mb": 1}
    at.run()
    assert not at.exception and not at.error and held.previews.budget == 2**20
    previews = held.Held()  # as the Import tab's: past 1 MB the preview used longest ago goes
    previews.put("first", "F", 600_000)
    previews.put("second", "S", 600_000)
    assert (previews.get("first"), previews.get("second")) == (None, "S")
    for bad in ("lots", 0):  # said as every [studio] limit is: the range, and the budget in force
        at.secrets["studio"] = {"previews_mb": bad}
        at.run()
        assert not at.exception and [e.value for e in at.error] == [
            f"[studio] previews_mb must be a number from 1 to 1048576, not {bad!r}: fix it in the app's secrets. "
            "Meanwhile it is 1."]
        assert held.previews.budget == 2**20
    held.configure(None)  # left out
    assert held.previews.budget == held.LOCAL_MB * 2**20  # by mode (tenancy off here)
