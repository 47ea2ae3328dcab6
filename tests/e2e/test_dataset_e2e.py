"""The Dataset page in a real Chromium against `streamlit run`: what a person clicks through."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from playwright.sync_api import expect

from studio.ui.dataset import ROW, WRAPPED_ROW

from .conftest import after_rerun, assert_no_exception, first_cluster, open_page, page_open, wait_idle

pytestmark = pytest.mark.e2e


def edit_cell(page, row: int, column: int, text: str, grid: int = 0, row_h: int = ROW) -> None:
    """Double-click a cell of the table editor (row 0 = first record; column 0 = Question) and type. ``row_h``: the
    table's row height (``WRAPPED_ROW`` where its questions or answers are longer than a line, as the sample's)."""
    grid_box = page.locator("[data-testid='stDataFrame']").nth(grid)
    grid_box.wait_for(state="visible")  # a busy machine draws the editor a moment after the rerun
    box = grid_box.bounding_box()
    header_h = 35
    # The grid starts with a narrow row-marker column; Question and Answer share the rest evenly.
    x = box["x"] + box["width"] * (0.3 if column == 0 else 0.75)
    editor = page.locator("textarea.gdg-input").first
    for _ in range(3):  # a grid drawn just now (a tab switched to under load) can miss the first double-click
        page.mouse.dblclick(x, box["y"] + header_h + row_h * row + row_h / 2)
        with contextlib.suppress(AssertionError):
            expect(editor).to_be_visible(timeout=10_000)
            break
    editor.fill(text)
    editor.press("Enter")
    page.get_by_text("Unsaved changes:").wait_for()
    wait_idle(page)


def save(page) -> None:
    page.get_by_role("button", name="Save", exact=True).click()
    wait_idle(page)


def search(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Search the records")
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


def test_import_edit_save_reload_shows_the_edit(page, studio, tmp_path):
    src = tmp_path / "rules.jsonl"
    rows = [{"prompt": "How long is a half?", "response": "45 minutes"},
            {"prompt": "¿Jugadores por equipo?", "response": "Once 👟"},
            {"prompt": "<script>alert('q')</script>越位?", "response": "<img src=x onerror=alert(1)> שלום"}]
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    open_page(page, studio, "Dataset")
    page.get_by_role("tab", name="Import").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(src))
    wait_idle(page)
    page.get_by_text("Read 3 records as JSONL.").wait_for()
    page.get_by_role("button", name="Import as new dataset").click()
    page.get_by_text("Imported 3 records into a new dataset").wait_for()
    wait_idle(page)

    edit_cell(page, 0, 1, "Forty-five minutes ⏱ <b>not bold</b>")
    save(page)
    page.get_by_text("Saved version 2: 3 records.").wait_for()

    page.reload()
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("All changes saved (version 2).").wait_for()
    search(page, "Forty-five minutes ⏱ <b>not bold</b>")
    page.get_by_text("1 matching · page 1 of 1").wait_for()
    assert page.locator("b", has_text="not bold").count() == 0  # shown as text, never as markup
    assert page.locator("img[src='x']").count() == 0 and dialogs == []
    saved = json.loads(next((studio.home / "datasets").glob("*/versions/0002.json")).read_text(encoding="utf-8"))
    assert saved == [{"question": "How long is a half?", "answer": "Forty-five minutes ⏱ <b>not bold</b>"},
                     {"question": "¿Jugadores por equipo?", "answer": "Once 👟"},
                     {"question": "<script>alert('q')</script>越位?", "answer": "<img src=x onerror=alert(1)> שלום"}]


def test_a_second_upload_stays_on_the_import_tab_and_an_import_opens_edit(page, studio, tmp_path):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps([{"question": "How long is a half?", "answer": "45 minutes."}]))
    second.write_text(json.dumps([{"question": f"Rule {i}?", "answer": f"Rule {i}."} for i in range(2)]))
    open_page(page, studio, "Dataset")
    page.get_by_role("tab", name="Import").click()
    wait_idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(first))
    page.get_by_text("Read 1 record as JSON.").wait_for()
    wait_idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(second))
    page.get_by_text("Read 2 records as JSON.").wait_for()
    wait_idle(page)
    expect(page.get_by_role("tab", name="Import")).to_have_attribute("aria-selected", "true", timeout=30_000)
    page.get_by_role("button", name="Import as new dataset").click()
    page.get_by_text("Imported 2 records into a new dataset").wait_for()
    wait_idle(page)
    expect(page.get_by_role("tab", name="Edit")).to_have_attribute("aria-selected", "true", timeout=30_000)
    assert_no_exception(page)


@contextlib.contextmanager
def _bob_refused(browser, studio, width: int, before_edits=None):
    """Two sessions on the sample: Alice saves version 2, then Bob's save of his own edit is refused (the conflict
    panel shown). Yields Bob's page; ``before_edits(bob)`` runs once both are open, before either edits."""
    contexts = [browser.new_context(viewport={"width": width, "height": 1000}) for _ in range(2)]
    try:
        alice, bob = (c.new_page() for c in contexts)
        for p in (alice, bob):
            p.set_default_timeout(30_000)
            open_page(p, studio, "Dataset")
            p.get_by_text("All changes saved (version 1).").wait_for()  # the sample, seeded on first start
        if before_edits is not None:
            before_edits(bob)
        edit_cell(alice, 0, 1, "Alice's answer", row_h=WRAPPED_ROW)
        edit_cell(bob, 1, 1, "Bob's answer", row_h=WRAPPED_ROW)
        save(alice)
        alice.get_by_text("Saved version 2").first.wait_for()
        save(bob)
        bob.get_by_text("This dataset was saved by someone else (version 2)").wait_for()
        yield bob
    finally:
        for c in contexts:
            c.close()


def test_two_sessions_the_second_save_is_refused_and_keeps_its_edit(browser, studio):
    with _bob_refused(browser, studio, 1400) as bob:
        expect(bob.get_by_text("Unsaved changes: 1 edited.")).to_be_visible(timeout=30_000)  # Bob's edit is still there
        assert_no_exception(bob)
        bob.get_by_text("Show their changes").click()
        bob.get_by_role("tabpanel", name="Edit").get_by_text("version 1 → version 2").wait_for()
        search(bob, "Bob's answer")
        bob.get_by_text("1 matching").wait_for()
        versions = sorted((studio.home / "datasets").glob("*/versions/*.json"))
        assert [v.name for v in versions] == ["0001.json", "0002.json"]  # nothing overwritten


def test_import_a_parquet_file_from_the_hub_format(page, studio, tmp_path):
    from studio.data import writers

    src = tmp_path / "train-00000-of-00001.parquet"
    src.write_bytes(writers.to_parquet([{"question": "¿Cuánto dura un partido? ⚽", "answer": "90 minutos."},
                                        {"question": "越位是什么？", "answer": "位置规则。"}]))
    open_page(page, studio, "Dataset")
    page.get_by_role("tab", name="Import").click()
    wait_idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(src))
    page.get_by_text("Read 2 records as PARQUET.").wait_for()
    page.get_by_role("button", name="Import as new dataset").click()
    page.get_by_text("Imported 2 records into a new dataset").wait_for()
    wait_idle(page)
    assert_no_exception(page)
    saved = json.loads(next((studio.home / "datasets").glob("train-00000*/versions/0001.json")).read_text(encoding="utf-8"))
    assert saved[1] == {"question": "越位是什么？", "answer": "位置规则。"}


def test_an_empty_dataset_has_room_for_the_rows_a_person_adds(page, studio):
    import os
    import subprocess
    import sys

    from .conftest import REPO

    made = subprocess.run([sys.executable, "-m", "studio", "dataset", "create", "Empty"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "STUDIO_HOME": str(studio.home)}, timeout=120)
    assert made.returncode == 0, made.stderr
    open_page(page, studio, "Dataset")
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option").filter(has_text="Empty · 0 records").click()
    wait_idle(page)
    grid = page.locator("[data-testid='stDataFrame']").first
    expect(grid).to_be_visible(timeout=30_000)  # drawn a moment after the pick's run under load
    assert grid.bounding_box()["height"] >= 35 * 5  # not one row tall: added rows show
    edit_cell(page, 0, 0, "Who starts the match?")  # the first row, typed into the table's empty add row
    page.get_by_text("1 record · page 1 of 1").wait_for()  # "1 record", not "1 records"
    # header, the added row and the empty add row below it all fit (the grid draws on a canvas)
    assert grid.bounding_box()["height"] >= 35 * 3 + 2
    assert_no_exception(page)


def test_a_typed_path_loads_with_one_click_on_load_or_with_enter(page, studio, tmp_path):
    """A person types the path and clicks Load once (the click also ends the typing), or presses Enter."""
    first, second = tmp_path / "rules.jsonl", tmp_path / "more.csv"
    first.write_text('{"prompt": "What is a drop ball?", "response": "A restart by the referee."}\n', encoding="utf-8")
    second.write_text("question,answer\nWhat is VAR?,Video assistant referee.\nWho keeps time?,The referee.\n",
                      encoding="utf-8")
    open_page(page, studio, "Dataset")
    page.get_by_role("tab", name="Import").click()
    page.get_by_role("radio", name="A path on this machine").check(force=True)
    wait_idle(page)
    box = page.get_by_role("textbox", name="Path on this machine")
    box.click()
    page.keyboard.type(str(first))
    page.get_by_role("button", name="Load").click(timeout=5_000)
    page.get_by_text("Read 1 record as JSONL.").wait_for()
    wait_idle(page)
    box.fill(str(second))
    box.press("Enter")
    page.get_by_text("Read 2 records as CSV (cells separated by commas).").wait_for()
    assert_no_exception(page)


def test_every_export_button_shows_its_whole_label(page, studio):
    """A label cut short ("messages + dataset_info.js…") leaves a person guessing which file the button gives."""
    open_page(page, studio, "Dataset")
    page.get_by_role("tab", name="Export").click()
    wait_idle(page)
    buttons = page.locator("[data-testid='stDownloadButton'] button")
    expect(buttons).to_have_count(10, timeout=30_000)
    for width in (1400, 800):  # at 800 px, in a quarter of the row each, every one read "Downl…"
        page.set_viewport_size({"width": width, "height": 1000})
        expect(buttons.first).to_be_visible()
        cut = [buttons.nth(i).inner_text() for i in range(buttons.count())
               if buttons.nth(i).evaluate("b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)")]
        assert cut == [], width


def test_every_duplicates_box_shows_its_whole_choice(page, studio):
    """Five boxes in one row cut "Semantic (same meaning)", "Question and answer" and "Precise (re-scored with
    MiniLM)" short at a laptop's width: a person saw "Semantic (same meanin" and guessed at the rest."""
    open_page(page, studio, "Dataset")
    page.get_by_role("tab", name="Duplicates").click()
    wait_idle(page)

    def choose(box: str, option: str) -> None:
        page.get_by_role("combobox", name=box).click()
        page.get_by_role("option", name=option, exact=True).click()
        wait_idle(page)

    choose("Method", "Semantic (same meaning)")
    choose("Compare", "Question and answer")
    # the sample is small enough for MiniLM itself (no fast model built yet): the Scores box says so, greyed out
    choose("Method", "Both, combined")
    choose("Scorer", "token_set_ratio")
    boxes = page.locator("[data-testid='stSelectbox'] input[role='combobox']")
    shown = boxes.evaluate_all("els => els.map(e => [e.value, e.scrollWidth <= e.clientWidth])")
    assert {"Both, combined", "Question and answer", "MiniLM itself (few records)", "token_set_ratio"} <= {
        value for value, _ in shown}
    assert [value for value, whole in shown if not whole] == []
    choose("Method", "Semantic (same meaning)")
    assert [value for value, whole in boxes.evaluate_all("els => els.map(e => [e.value, e.scrollWidth <= e.clientWidth])")
            if not whole] == []
    assert_no_exception(page)


def test_the_duplicates_buttons_show_their_whole_labels_at_800_px(page, studio):
    """In fixed columns of an 800 px window the Duplicates tab's buttons read "Find d…", "Keep the sugg…", "U…" and
    "Save as ne…"."""
    page.set_viewport_size({"width": 800, "height": 1000})
    expect(first_cluster(page, studio)).to_be_visible()
    cut = {}
    for name in ("Find duplicates", "Keep the suggested of each", "Undo", "Save as new version"):
        button = page.get_by_role("button", name=name)
        expect(button).to_be_visible()
        cut[name] = button.evaluate("b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)")
    assert not any(cut.values()), cut
    assert_no_exception(page)


def test_a_row_added_at_the_bottom_of_a_long_page_stays_in_sight(page, studio, tmp_path):
    """Adding a record to a 200-row page builds the table again (to number it): it started again from row 1, and the
    person adding rows at the bottom was thrown to the top; so did a look at another tab. It is scrolled back to where
    it was (``editor_place``)."""
    grid, scroller = _long_dataset_grid(page, studio, tmp_path)
    while scroller.evaluate("e => e.scrollTop + e.clientHeight < e.scrollHeight - 2"):  # down to the bottom
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(100)
    box = grid.bounding_box()
    bottom = box["y"] + box["height"]
    page.mouse.dblclick(box["x"] + box["width"] * 0.4, bottom - 20)  # the empty row under the last record
    editor = page.locator("textarea.gdg-input").first
    editor.fill("A new question at the end?")
    editor.press("Enter")
    page.get_by_text("Unsaved changes:").wait_for()
    wait_idle(page)
    built = grid.evaluate("e => [...e.closest('[class*=st-key-]').classList].find(c => c.startsWith('st-key-'))")
    box = grid.bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] * 0.8, box["y"] + box["height"] - 55)  # its answer, a row above
    editor = page.locator("textarea.gdg-input").first
    editor.fill("Its answer.")
    editor.press("Enter")
    page.wait_for_function(f"() => !document.querySelector('.{built}')", timeout=60_000)  # the table built again
    wait_idle(page)
    assert_no_exception(page)
    page.wait_for_function("() => document.querySelector('.dvn-scroller').scrollTop > 0", timeout=30_000)
    assert scroller.evaluate("e => e.scrollTop + e.clientHeight >= e.scrollHeight - 2")  # still at the bottom
    # A look at another tab: the table, drawn again on the way back, showed row 1 as well
    page.get_by_role("tab", name="Check").click()
    wait_idle(page)
    page.get_by_role("tab", name="Edit").click()
    wait_idle(page)
    page.wait_for_function("() => document.querySelector('.dvn-scroller').scrollTop > 0", timeout=30_000)
    assert scroller.evaluate("e => e.scrollTop + e.clientHeight >= e.scrollHeight - 2")


def test_after_a_delete_the_next_datasets_manage_popover_is_closed(page, studio):
    """Deleting a dataset redrew the page with the next one picked and "Create, rename or delete" still open on it,
    its delete a tick and a click away. The popover is closed after a delete."""
    from studio.data import store

    store.create_dataset("Keep me", [{"question": "Q?", "answer": "A."}])
    store.create_dataset("Doomed", [{"question": "Q2?", "answer": "A2."}])
    open_page(page, studio, "Dataset")
    picker = page.get_by_role("combobox", name="Dataset")
    expect(picker).to_have_value(re.compile("Doomed"), timeout=30_000)  # the newest, picked
    page.get_by_role("button", name="Create, rename or delete").click()
    after_rerun(page, page.get_by_text("Yes, delete Doomed").click)
    after_rerun(page, page.get_by_role("button", name="Delete dataset").click)
    page.get_by_text("Deleted Doomed").wait_for()
    wait_idle(page)
    expect(picker).to_have_value(re.compile("Keep me"), timeout=30_000)  # the next dataset, picked
    page.wait_for_timeout(1000)  # a popover drawn open is open by now (not a proof: the check below waits)
    expect(page.get_by_role("button", name="Delete dataset")).to_be_hidden(timeout=30_000)  # closed by the delete's rerun, drawn late under load
    assert [d.name for d in store.list_datasets()] == ["Keep me"]
    assert_no_exception(page)


def test_duplicates_threshold_shows_its_value_on_the_tabs_first_open(page, studio):
    """The Duplicates tab is drawn lazily: its number boxes are first drawn in the run the tab's click asks for. The
    threshold box came up empty there while the page used 80 (it showed 80 only after a reload)."""
    open_page(page, studio)  # Home seeds the sample dataset
    open_page(page, studio, "Dataset")
    after_rerun(page, page.get_by_role("tab", name="Duplicates").click)
    box = page.get_by_role("spinbutton", name="Search down to (score)")
    expect(box).to_have_value("80", timeout=30_000)  # the bug kept it empty until a reload: no wait would show 80
    assert_no_exception(page)


def _long_dataset(studio, tmp_path, n: int = 250) -> None:
    import os
    import subprocess
    import sys

    from .conftest import REPO

    src = tmp_path / "long.json"
    src.write_text(json.dumps([{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(n)]))
    made = subprocess.run([sys.executable, "-m", "studio", "dataset", "create", "Long", "--from", str(src)], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "STUDIO_HOME": str(studio.home)},
                          timeout=120)
    assert made.returncode == 0, made.stderr


def _long_dataset_grid(page, studio, tmp_path):
    """A 250-record dataset open on the Dataset page, the mouse over its table (so the wheel scrolls it): the table
    and its scroller."""
    _long_dataset(studio, tmp_path)
    open_page(page, studio, "Dataset")
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(state="visible")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return grid, grid.locator(".dvn-scroller")


def test_a_look_at_another_tab_by_keyboard_keeps_the_tables_place(page, studio, tmp_path):
    """Tabs switched with the arrow keys (a focused tab): back on Edit the table showed row 1, as after a click before
    ``editor_place`` noted clicks. And where Streamlit's class names are not there, nothing breaks: no script error,
    and the table still takes an edit."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    grid, scroller = _long_dataset_grid(page, studio, tmp_path)
    page.mouse.wheel(0, 1500)
    page.wait_for_function("() => document.querySelector('.dvn-scroller').scrollTop >= 1000", timeout=30_000)
    top = scroller.evaluate("e => e.scrollTop")
    page.get_by_role("tab", name="Edit").focus()
    page.keyboard.press("ArrowRight")  # to Import
    expect(page.get_by_role("tab", name="Import")).to_have_attribute("aria-selected", "true", timeout=30_000)
    wait_idle(page)
    # the Import tab's run may draw the tab row again, the focus on the tab going with it (seen under load: the arrow
    # then moved nothing); a person's focus is on the tab chosen, as here
    page.get_by_role("tab", name="Import").focus()
    page.keyboard.press("ArrowLeft")  # back to Edit
    expect(page.get_by_role("tab", name="Edit")).to_have_attribute("aria-selected", "true", timeout=30_000)
    wait_idle(page)
    page.wait_for_function(f"() => document.querySelector('.dvn-scroller').scrollTop === {top}", timeout=30_000)

    # Streamlit's st-key-* class names gone (a later Streamlit renaming them): no place kept, and nothing broken
    page.evaluate("""() => { for (const el of document.querySelectorAll('[class*="st-key-dataset-editor-"]'))
        el.classList.remove(...[...el.classList].filter((c) => c.startsWith('st-key-'))); }""")
    page.get_by_role("tab", name="Check").click()
    wait_idle(page)
    page.get_by_role("tab", name="Check").focus()  # the tab chosen, as a person's focus is
    page.keyboard.press("Home")  # to the first tab, Edit
    expect(page.get_by_role("tab", name="Edit")).to_have_attribute("aria-selected", "true", timeout=30_000)
    wait_idle(page)
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -5000)  # back to the first row, as a person scrolls
    page.wait_for_function("() => document.querySelector('.dvn-scroller').scrollTop === 0", timeout=30_000)
    edit_cell(page, 0, 1, "Still editable.")
    assert_no_exception(page)
    assert errors == []


def _dataset_at_800_px(browser, studio):
    """The Dataset page open in a window 800 px wide (a laptop's half screen), closed after."""
    return page_open(browser, studio, "Dataset", width=800, height=900)


def test_at_800_px_the_manage_label_and_a_long_version_message_read_whole_and_the_tab_left_is_kept(browser, studio):
    """At 800 px wide: the manage button read "Create, rename o…", and the Versions list cut a dedup's long message at
    its column's edge (a read-only cell cannot be opened). Back from another page, the page opened on Edit, not on
    the tab the person left."""
    from studio.data import store

    records = [{"question": f"Question {i}?", "answer": f"Answer {i}: the ball is out of play when it has wholly "
                                                        "crossed the goal line or the touchline."} for i in range(30)]
    info = store.create_dataset("Rules", records)
    message = ("dedup: kept 1,234 of 5,678 (45 of 120 clusters reviewed), 312 records merged into 40 edited ones "
               "after a long review of the near copies")
    store.save_version(info.id, records[:20], base_version=1, message=message)
    with _dataset_at_800_px(browser, studio) as page:
        manage = page.get_by_role("button", name="Create, rename or delete")
        expect(manage).to_be_visible(timeout=30_000)
        label = manage.locator(".stMarkdownEllipsis").first
        assert label.evaluate("e => e.scrollWidth <= e.clientWidth"), "the button's label is cut"
        box, page_box = manage.bounding_box(), page.viewport_size
        assert box["x"] + box["width"] <= page_box["width"]
        after_rerun(page, page.get_by_role("tab", name="Versions").click)
        cell = page.locator("[data-testid='stTable'] td", has_text="dedup: kept").first
        expect(cell).to_be_visible(timeout=30_000)
        assert " ".join(cell.inner_text().split()) == message
        assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "the message runs past its cell"
        right = cell.bounding_box()
        assert right["x"] + right["width"] <= page_box["width"]
        page.get_by_text("Removed (10)").click()  # the comparison's records (an expander): Answer was off to the
        removed = page.locator("[data-testid='stDataFrame'] .dvn-scroller").first  # right (480 px wide in 432)
        expect(removed).to_be_visible(timeout=30_000)
        wide, room = removed.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert wide <= room + 1, f"the removed records are {wide} px wide in {room}: they scroll sideways"
        # another page and back: the Versions tab again
        page.get_by_role("link", name="Train").click()
        wait_idle(page)
        page.get_by_role("link", name="Dataset").click()
        wait_idle(page)
        expect(page.get_by_role("tab", name="Versions")).to_have_attribute("aria-selected", "true", timeout=30_000)
        expect(page.locator("[data-testid='stTable'] td", has_text="dedup: kept").first).to_be_visible()
        assert_no_exception(page)


def test_at_800_px_an_imports_problems_read_whole(browser, studio, tmp_path):
    """The list of an import's problems cut a long one at its column's edge at 800 px ("same question as record 1,
    apart from case, spacing or pun"), and a read-only cell cannot be opened to read the rest. Brought in to fix, the
    Edit tab's table with its Problem and Context columns was 767 px wide in the page's 466 and scrolled sideways,
    Answer and Context out of sight: now every column is in sight, its cells wrapping."""
    src = tmp_path / "faulty.json"
    src.write_text(json.dumps([{"question": "What is offside?", "answer": "A position rule."},
                               {"question": "what is offside", "answer": "A rule about position."},
                               {"question": "How long is a match?", "answer": 90},
                               {"question": "Who is the referee?", "answer": "",
                                "context": "Each match is controlled by a referee who has full authority."}]))
    with _dataset_at_800_px(browser, studio) as page:
        after_rerun(page, page.get_by_role("tab", name="Import").click)
        after_rerun(page, lambda: page.locator("input[type=file]").set_input_files(str(src)))
        cells = page.locator("[data-testid='stTable'] td", has_text="same question as record 1")
        expect(cells.first).to_be_visible(timeout=30_000)
        listed = page.locator("[data-testid='stTable'] tr").filter(has=page.locator("td"))
        shown = listed.evaluate_all("rows => rows.map(r => [...r.cells].map(c => [c.innerText.trim(), "
                                    "c.scrollWidth <= c.clientWidth + 1, c.getBoundingClientRect().right]))")
        problems = {row[0][0]: row[2] for row in shown}
        assert problems["3"][0].startswith("answer is a number, not text")
        assert problems["2"][0].startswith("same question as record 1, apart from case")
        assert all(whole and right <= 800 for row in shown for _, whole, right in row), shown
        preview = page.locator("[data-testid='stDataFrame'] .dvn-scroller").first  # Answer and Context were off to the
        wide, room = preview.evaluate("e => [e.scrollWidth, e.clientWidth]")  # right of the preview, to scroll to
        assert wide <= room + 1, f"the preview is {wide} px wide in {room}: it scrolls sideways"
        after_rerun(page, page.get_by_text("Bring all 4 in").click)
        after_rerun(page, page.get_by_role("button", name="Import as new dataset").click)
        grid = page.locator("[data-testid='stDataFrame'] .dvn-scroller").first
        expect(grid).to_be_visible(timeout=30_000)
        page.get_by_text("1 record must be fixed or deleted").wait_for(timeout=30_000)
        wide, room = grid.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert wide <= room + 1, f"the table is {wide} px wide in {room}: it scrolls sideways"
        assert_no_exception(page)


def _cut_labels(page) -> list[str]:
    """Button labels and box choices on the page shown cut short ("Discar…", "Fuzzy (same cha")."""
    labels = page.locator("[data-testid='stMain'] .stMarkdownEllipsis").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)")
    boxes = page.locator("[data-testid='stMain'] [data-testid='stSelectbox'] input[role='combobox']").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.value)")
    return labels + boxes


def test_at_800_px_the_save_bar_the_duplicates_and_export_tabs_read_whole(browser, studio):
    """In fixed columns at 800 px the save bar's button read "Discar…", the Duplicates tab's "Fuzzy (same cha", "Find
    d…", "Keep the sugg…", "U…", "Save as ne…" and "Keep all: n…", and every download button "Downl…": a person
    guessed what each did."""
    from studio.data import store

    store.create_dataset("Rules", [{"question": "What is offside?", "answer": "A position rule."},
                                   {"question": "what is offside", "answer": "A rule about position."},
                                   {"question": "How long is a match?", "answer": "90 minutes."}])
    with _dataset_at_800_px(browser, studio) as page:
        edit_cell(page, 2, 0, "How long is a football match?")
        expect(page.get_by_role("button", name="Discard changes")).to_be_visible(timeout=30_000)
        assert _cut_labels(page) == []
        after_rerun(page, page.get_by_role("button", name="Discard changes").click)
        after_rerun(page, page.get_by_role("tab", name="Duplicates").click)
        after_rerun(page, page.get_by_role("button", name="Find duplicates").click)
        expect(page.locator(".st-key-dedup-cluster-0")).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="Keep all: not duplicates")).to_be_visible()
        assert _cut_labels(page) == []
        after_rerun(page, page.get_by_role("tab", name="Export").click)  # ten download buttons read "Downl…"
        expect(page.get_by_role("button", name="Download JSON", exact=True)).to_be_visible(timeout=30_000)
        expect(page.locator("[data-testid='stDownloadButton'] button")).to_have_count(10, timeout=30_000)
        assert _cut_labels(page) == []
        after_rerun(page, page.get_by_role("tab", name="Check").click)  # the statistics read "Mean words (Q / …"
        expect(page.get_by_test_id("stMetric")).to_have_count(4, timeout=30_000)
        assert _cut_labels(page) == []
        assert_no_exception(page)


def _placeholder_cut(page, label: str) -> str | None:
    """The placeholder of the box ``label`` where it is wider than the box shows (cut at its edge), else None."""
    return page.get_by_role("textbox", name=label).evaluate(
        """el => { const s = getComputedStyle(el), c = document.createElement('canvas').getContext('2d');
                   c.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
                   const room = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
                   return c.measureText(el.placeholder).width > room ? el.placeholder : null; }""")


def test_at_800_px_the_search_box_and_the_conflict_panel_read_whole(browser, studio):
    """At 800 px the search box's hint read "words of a question, answer or passage; edits to the sho…", and the
    conflict panel's four fixed columns cut "Apply my changes to version 2" and "Save mine on top of version 2"."""
    cut: list = []
    with _bob_refused(browser, studio, 800, lambda bob: cut.append(_placeholder_cut(bob, "Search the records"))) as bob:
        assert cut == [None]
        for name in ("Apply my changes to version 2", "Load latest (discard mine)", "Save mine on top of version 2"):
            button = bob.get_by_role("button", name=name)
            expect(button).to_be_visible()
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 800, (name, box)
        assert _cut_labels(bob) == []
        assert_no_exception(bob)


def test_at_800_px_the_answer_column_is_in_sight_and_takes_an_edit(browser, studio):
    """At 800 px the table showed # and Question only, Answer off to the right: a double-click where a person looks for
    the answer edited the question. Now Question and Answer share the table, # staying narrow."""
    from studio.data import store

    info = store.create_dataset("Rules", [{"question": "What is offside?", "answer": "A position rule."},
                                          {"question": "How long is a match?", "answer": "90 minutes."}])
    with _dataset_at_800_px(browser, studio) as page:
        edit_cell(page, 0, 1, "A rule about position.")
        save(page)
        page.get_by_text("Saved version 2").first.wait_for(timeout=30_000)
        assert store.load_version(info.id)[0] == {"question": "What is offside?", "answer": "A rule about position."}
        assert_no_exception(page)


def test_duplicates_page_box_fits_its_label_and_an_edited_record_is_scored_again_alone(browser, studio):
    """The review's "Page (of 2)" box took the whole width of the tab (1,200 px of a 1,280 px window for a box holding
    "2"); and a record edited since the run could only be scored again by running dedup over everything, its decisions
    dropped. The box is as wide as its label needs, at 1,280 and 800 px; "Score the edited record again" scores the
    edited record alone and the line naming it goes."""
    from studio.data import store

    pairs = [("How big is the field?", "90-120 m long."), ("What size is the ball?", "Size 5."),
             ("How many players start?", "Eleven a side."), ("Must players wear shin guards?", "Yes."),
             ("Who enforces the laws?", "The referee."), ("What do assistants signal?", "Offside, throw-ins."),
             ("How long is each half?", "45 minutes."), ("Which team kicks off?", "The coin toss decides."),
             ("When is the ball out of play?", "Wholly over a line."), ("When does a goal count?", "Over the line."),
             ("Can a keeper be offside?", "Rarely, yes."), ("Is a trip a foul?", "A direct free kick.")]
    store.create_dataset("Rules", [{"question": q, "answer": a} for q, a in pairs]
                         + [{"question": q.upper(), "answer": a} for q, a in pairs])  # 12 clusters: 2 pages of 10
    with page_open(browser, studio, "Dataset", width=1280, height=900) as page:
        after_rerun(page, page.get_by_role("tab", name="Duplicates").click)
        after_rerun(page, page.get_by_role("button", name="Find duplicates").click)
        box = page.get_by_label("Page (of 2)")
        expect(box).to_be_visible(timeout=60_000)
        widths = {}
        for width in (1280, 800):
            page.set_viewport_size({"width": width, "height": 900})
            expect(box).to_be_visible()
            holder = page.locator("[data-testid='stNumberInput']").filter(has=box)
            widths[width] = holder.bounding_box()["width"]
            expect(holder.get_by_test_id("stNumberInputStepUp")).to_be_visible()  # hidden in a box too narrow
            assert page.get_by_text("Page (of 2)").evaluate("e => e.scrollWidth <= e.clientWidth + 1")
        assert all(140 <= w <= 200 for w in widths.values()), widths
        page.set_viewport_size({"width": 1280, "height": 900})
        after_rerun(page, page.get_by_role("tab", name="Edit").click)
        edit_cell(page, 0, 0, "How many substitutes may a team name?")
        after_rerun(page, page.get_by_role("tab", name="Duplicates").click)
        expect(page.get_by_text("edited in the Edit tab since the run")).to_be_visible(timeout=60_000)
        after_rerun(page, page.get_by_role("button", name="Score the edited record again").click)
        expect(page.get_by_text("Record 1 scored again on its text now.")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("edited in the Edit tab since the run")).to_have_count(0)
        assert_no_exception(page)
