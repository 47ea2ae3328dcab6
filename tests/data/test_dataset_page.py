"""The Dataset page driven through Streamlit's AppTest (a real script run per interaction)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_cases import BAD, UNICODE
from streamlit.testing.v1 import AppTest

from studio.data import editing, sample, store, validate
from studio.ui import dataset_import, editor_place

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "1_Dataset.py")
RECS = [{"question": "How long is a half?", "answer": "45 minutes.", "source": "laws"},
        {"question": "How many players?", "answer": "Eleven."}]


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def open_mine(name: str = "Mine") -> tuple[AppTest, store.DatasetInfo]:
    """The page with a new dataset of ``RECS`` named ``name`` picked."""
    info = store.create_dataset(name, RECS)
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    return at, info


def train_page_on(info: store.DatasetInfo, tab_id: str | None = None) -> AppTest:
    """The Train page opened on ``info`` after a reload there (no ``?tab=`` in its address), run; ``tab_id``: the
    browser tab's id as the page knows it once that tab has opened the Dataset page."""
    train = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=90)
    if tab_id is not None:
        train.session_state["dataset.tab_id"] = tab_id
    train.session_state["dataset.selected"] = info.id
    train.run()
    assert not train.exception
    return train


def unsaved_lines(at: AppTest) -> list[str]:
    """The page's warnings about unsaved changes."""
    return [w for w in texts(at.warning) if "unsaved" in w]


def reload_of(at: AppTest) -> AppTest:
    """The same browser tab reloaded: a new session at the same address (the tab's id in it)."""
    again = AppTest.from_file(PAGE, default_timeout=60)
    again.query_params.update(at.query_params)
    again.run()
    assert not again.exception, again.exception
    return again


def edit(at: AppTest, edited=None, added=None, deleted=None) -> AppTest:
    """Type into the table as a person would: the editor's edit state, then a rerun."""
    key = at.data_editor[0].key
    at.session_state[key] = {"edited_rows": edited or {}, "added_rows": added or [], "deleted_rows": deleted or []}
    return at.run()


def table_with(at: AppTest, column: str):
    """The first table on the page that has ``column`` (a data grid or a static table), as a DataFrame."""
    return next(d.value for d in [*at.dataframe, *at.table] if column in d.value.columns)


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_first_open_seeds_the_sample_and_selects_it():
    at = open_page()
    info = store.find_dataset(sample.SAMPLE_NAME)
    assert info is not None and at.session_state["dataset.selected"] == info.id
    assert len(at.data_editor[0].value) == min(info.latest.count, 200)
    assert [t.label for t in at.tabs] == ["Edit", "Import", "Check", "Duplicates", "Versions", "Export"]


def test_edit_shows_unsaved_changes_and_save_makes_a_version_keeping_extra_fields():
    at, info = open_mine()
    edit(at, edited={0: {"answer": "Forty-five minutes ⏱"}}, added=[{"question": "越位?", "answer": "Offside."}])
    assert "Unsaved changes: 1 added, 1 edited." in texts(at.warning)
    assert store.get_dataset(info.id).latest.version == 1  # nothing written yet
    at.button(key="dataset.save").click().run()
    assert "Saved version 2: 3 records." in texts(at.success)
    assert store.load_version(info.id) == [
        {"question": "How long is a half?", "answer": "Forty-five minutes ⏱", "source": "laws"},
        RECS[1], {"question": "越位?", "answer": "Offside."}]
    assert not at.warning  # the banner is gone


def test_unsaved_edits_survive_visiting_another_page_and_dataset():
    info = store.create_dataset("Mine", RECS)
    other = store.create_dataset("Other", RECS)
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=60).run()
    at.switch_page("pages/1_Dataset.py").run()
    at.selectbox(key="dataset.picker").select(info.id).run()
    edit(at, edited={0: {"answer": "kept"}})
    at.selectbox(key="dataset.picker").select(other.id).run()
    assert not at.warning
    at.switch_page("Home.py").run()
    at.switch_page("pages/1_Dataset.py").run()
    assert at.session_state["dataset.selected"] == other.id
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert "Unsaved changes: 1 edited." in texts(at.warning)
    assert at.data_editor[0].value["answer"].tolist()[0] == "kept"


def test_back_from_another_page_the_dataset_page_opens_on_the_tab_left():
    """Coming back from another page always opened the Edit tab: Streamlit drops the tabs' state while another page is
    shown, and the person had to find their tab (Versions, Duplicates) again."""
    store.create_dataset("Mine", RECS)
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=60).run()
    at.switch_page("pages/1_Dataset.py").run()
    assert at.session_state["dataset.tab"] == "Edit"
    at.session_state["dataset.tab"] = "Versions"  # the person's click on the tab
    at.run()
    at.switch_page("pages/3_Train.py").run()
    at.switch_page("pages/1_Dataset.py").run()
    assert not at.exception
    assert at.session_state["dataset.tab"] == "Versions"


def test_the_train_page_says_when_the_dataset_has_unsaved_edits():
    """Edited on the Dataset page, not saved, then off to Train: the run trained on the saved version without a word,
    so the edits a person had just typed were not in it."""
    info = store.create_dataset("Mine", RECS)
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=90).run()
    at.switch_page("pages/1_Dataset.py").run()
    at.selectbox(key="dataset.picker").select(info.id).run()
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    at.switch_page("pages/3_Train.py").run()
    assert not at.exception
    assert at.selectbox(key="train.dataset").value.id == info.id
    assert unsaved_lines(at) == [
        "Mine has unsaved changes on the Dataset page (1 edited): a run trains on the saved v1. Save them there first "
        "to train on them."]
    at.switch_page("pages/1_Dataset.py").run()
    at.button(key="dataset.save").click().run()
    at.switch_page("pages/3_Train.py").run()
    assert not unsaved_lines(at)


def test_save_with_problems_lists_them_by_record_and_keeps_the_edits():
    at, info = open_mine()
    edit(at, edited={1: {"answer": ""}})
    at.button(key="dataset.save").click().run()
    assert any("Not saved: 1 error to fix first, in 1 record" in e for e in texts(at.error))
    problems = table_with(at, "severity")  # the list below the table (the table has a Problem column now too)
    assert problems.to_dict("records") == [{"record": 2, "severity": "error", "problem": "answer is empty"}]
    assert store.get_dataset(info.id).latest.version == 1
    assert "Unsaved changes: 1 edited." in texts(at.warning)


def test_a_refused_save_marks_the_refused_rows_in_the_table_and_empty_cells_read_as_empty():
    at, info = open_mine()
    # what an empty cell (a new row's answer not typed yet) shows: empty, not Streamlit's default grey "None"
    editor = at.data_editor[0].proto
    assert editor.HasField("placeholder") and editor.placeholder == ""
    edit(at, added=[{"question": "Who restarts?"}])  # a new row, its answer not typed
    at.button(key="dataset.save").click().run()
    assert any(e.startswith("Not saved: 1 error to fix first, in 1 record") for e in texts(at.error))
    assert table_with(at, "severity").to_dict("records") == [
        {"record": 3, "severity": "error", "problem": "answer is empty"}]
    table = at.data_editor[0].value  # the row itself says why, where it is: not only "record 3" below the table
    assert dict(zip(table["question"], table["problem"])) == {
        "How long is a half?": "", "How many players?": "", "Who restarts?": "answer is empty"}
    assert table["answer"].tolist()[-1] == ""
    assert any("1 record must be fixed or deleted" in w for w in texts(at.warning))
    assert "Unsaved changes: 1 added." in texts(at.warning) and store.get_dataset(info.id).latest.version == 1
    at = edit(at, edited={2: {"answer": "The referee."}})
    at.button(key="dataset.save").click().run()
    assert "Saved version 2: 3 records." in texts(at.success)


def test_two_sessions_second_save_is_refused_and_keeps_its_edits():
    info = store.create_dataset("Shared", RECS)
    alice, bob = open_page(), open_page()
    for at in (alice, bob):
        at.selectbox(key="dataset.picker").select(info.id).run()
    edit(alice, edited={0: {"answer": "alice's answer"}})
    edit(bob, edited={1: {"answer": "bob's answer"}})
    alice.button(key="dataset.save").click().run()
    bob.button(key="dataset.save").click().run()
    assert any("saved by someone else (version 2)" in e and "Your edits are kept" in e for e in texts(bob.error))
    assert store.load_version(info.id)[0]["answer"] == "alice's answer"  # alice's save is intact
    assert "Unsaved changes: 1 edited." in texts(bob.warning)  # bob's edit is still on screen
    bob.toggle(key=f"dataset.conflict.show.{info.id}").set_value(True).run()
    assert any("version 1 → version 2" in m for m in texts(bob.markdown))
    bob.button(key="dataset.conflict.force").click().run()
    assert store.load_version(info.id)[1]["answer"] == "bob's answer"
    assert [v.version for v in store.list_versions(info.id)] == [1, 2, 3]  # alice's version stays in history
    assert store.load_version(info.id, 2)[0]["answer"] == "alice's answer"


def test_apply_my_changes_on_top_of_theirs_then_save():
    bob, info = open_mine("Shared")
    edit(bob, edited={1: {"answer": "bob's answer"}})
    store.save_version(info.id, [{**RECS[0], "answer": "alice's answer"}, RECS[1]], base_version=1)
    bob.button(key="dataset.save").click().run()
    bob.button(key="dataset.conflict.merge").click().run()
    assert "Your changes are now on top of version 2: review and Save." in texts(bob.success)
    assert "Unsaved changes: 1 edited." in texts(bob.warning)
    bob.button(key="dataset.save").click().run()
    assert [r["answer"] for r in store.load_version(info.id)] == ["alice's answer", "bob's answer"]
    assert store.get_dataset(info.id).latest.version == 3


def test_apply_my_changes_names_a_record_both_tabs_reworded_as_left_out():
    """Bob reworded record 2's question and answer; Alice's save edited its answer. Apply my changes kept both (hers,
    and his added as a third record) and said nothing: his rewording was a removal and an addition. It is the clash it
    is, named; hers is kept."""
    bob, info = open_mine("Shared")
    edit(bob, edited={1: {"question": "How many players are on a side?", "answer": "Eleven players."}})
    store.save_version(info.id, [RECS[0], {**RECS[1], "answer": "Eleven, one in goal."}], base_version=1)
    bob.button(key="dataset.save").click().run()
    bob.button(key="dataset.conflict.merge").click().run()
    assert ("Your changes are now on top of version 2: review and Save. The edit to record 2 (of version 1) was left "
            "out: version 2 changed that record too, and theirs was kept.") in texts(bob.success)
    assert [r["answer"] for r in bob.session_state["dataset.drafts"][info.id].current] == ["45 minutes.",
                                                                                        "Eleven, one in goal."]


def test_load_latest_discards_only_on_request():
    bob, info = open_mine("Shared")
    edit(bob, edited={1: {"answer": "bob's answer"}})
    store.save_version(info.id, RECS[:1], base_version=1, message="someone else")
    bob.button(key="dataset.save").click().run()
    assert bob.error and store.get_dataset(info.id).latest.count == 1
    bob.button(key="dataset.conflict.load").click().run()
    assert "Loaded version 2; your edits were discarded." in texts(bob.success)
    assert len(bob.data_editor[0].value) == 1 and not bob.warning


def test_a_clean_session_follows_saves_from_elsewhere():
    at, info = open_mine("Shared")
    store.save_version(info.id, RECS + [{"question": "new", "answer": "one"}], base_version=1)
    at.run()
    assert len(at.data_editor[0].value) == 3


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key=f"dataset.import.file.{at.session_state['dataset.import.nonce']}").set_value((name, data, "application/octet-stream"))
    return at.run()


def test_import_alpaca_jsonl_as_a_new_dataset_with_preview():
    rows = [{"instruction": "Explain offside", "input": "briefly", "output": "Nearer the goal line than…"},
            {"instruction": "¿Balón?", "input": "", "output": "Tamaño 5 ⚽"}]
    at = _upload(open_page(), "alpaca.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    assert at.selectbox(key=f"dataset.import.q.{_file_id(at)}").value == "instruction"
    preview = at.tabs[1].dataframe[0].value
    assert preview["question"].tolist() == ["Explain offside", "¿Balón?"]  # the input is the context, not folded in
    assert preview["context"].tolist()[0] == "briefly"
    at.text_input(key="dataset.import.name.alpaca.jsonl").input("Alpaca set").run()
    at.button(key="dataset.import.create").click().run()
    info = store.find_dataset("Alpaca set")
    assert store.load_version(info.id)[1] == {"question": "¿Balón?", "answer": "Tamaño 5 ⚽"}
    assert at.session_state["dataset.selected"] == info.id
    assert "Imported 2 records into a new dataset" in texts(at.success)[0]


def test_an_import_with_repeated_questions_points_to_the_duplicates_tab():
    """The import's warnings named the repeated questions before the import; after it, the page said only "Imported
    10 records" and nothing of where to review them."""
    rows = [{"question": "How do I reset my password?", "answer": "Click Forgot password."},
            {"question": "how do i reset my password", "answer": "Use the link."},
            {"question": "HOW DO I RESET MY PASSWORD", "answer": "Forgot password."},
            {"question": "Can I get a refund?", "answer": "Within 30 days."}]
    at = _upload(open_page(), "faq.json", json.dumps(rows).encode())
    at.button(key="dataset.import.create").click().run()
    assert texts(at.success)[0] == ("Imported 4 records into a new dataset, faq. 2 records repeat an earlier question "
                                    "(case and punctuation aside): the Duplicates tab finds them, and questions asked "
                                    "in other words, to merge or drop.")
    at = _upload(at, "more.json", json.dumps(rows[3:]).encode())
    at.radio(key="dataset.import.target").set_value(at.radio(key="dataset.import.target").options[1]).run()
    at.checkbox(key="dataset.import.skip").uncheck().run()  # the refund question again: a third repeat
    at.button(key="dataset.import.merge").click().run()
    assert texts(at.success)[0].endswith("3 records repeat an earlier question (case and punctuation aside): the "
                                         "Duplicates tab finds them, and questions asked in other words, to merge or "
                                         "drop.")


def test_an_import_brought_in_to_fix_with_repeated_questions_points_to_the_duplicates_tab_too():
    """Bringing a file with an empty answer in to fix said only "Created ... the one to fix is in the Edit tab": the
    repeated questions its warnings had named were no longer said, though skipping the invalid record said them."""
    rows = [{"question": "What are your opening hours?", "answer": "9 to 5."},
            {"question": "what are your opening hours", "answer": "Nine to five."},
            {"question": "Do you sell gift cards?", "answer": ""}]
    at = _upload(open_page(), "shop.json", json.dumps(rows).encode())
    at.radio(key="dataset.import.invalid").set_value("fix").run()
    at.button(key="dataset.import.create").click().run()
    assert texts(at.success)[0] == ("Created shop with the 2 valid records as version 1; the one to fix is in the Edit "
                                    "tab as unsaved changes. 1 record repeats an earlier question (case and "
                                    "punctuation aside): the Duplicates tab finds them, and questions asked in other "
                                    "words, to merge or drop.")


def test_an_alpaca_input_imports_as_a_context_column_the_editor_shows_and_edits():
    rows = [{"instruction": "Qual é o meu nome?", "input": "Meu nome é Marcundes 🎙", "output": "Marcundes"},
            {"instruction": "¿Balón?", "input": "", "output": "Tamaño 5 ⚽"}]
    at = _upload(open_page(), "alpaca.json", json.dumps(rows, ensure_ascii=False).encode())
    assert at.selectbox(key=f"dataset.import.c.{_file_id(at)}").value == "input"
    at.text_input(key="dataset.import.name.alpaca.json").input("Passages").run()
    at.button(key="dataset.import.create").click().run()
    table = at.data_editor[0].value
    assert list(table.columns[-3:]) == ["question", "answer", "context"]
    assert table["context"].tolist() == ["Meu nome é Marcundes 🎙", ""]
    edit(at, edited={1: {"context": "O balão tem tamanho 5."}})
    at.button(key="dataset.save").click().run()
    info = store.find_dataset("Passages")
    assert store.load_version(info.id) == [
        {"question": "Qual é o meu nome?", "answer": "Marcundes", "context": "Meu nome é Marcundes 🎙"},
        {"question": "¿Balón?", "answer": "Tamaño 5 ⚽", "context": "O balão tem tamanho 5."}]
    # the answer is not in that passage: saved, with the warning on the Check tab
    assert "1 warning" in texts(at.success)[0]


def test_a_squad_file_previews_its_passages_and_names_the_unanswerable_question():
    nested = {"version": "v2.0", "data": [{"title": "Laws", "paragraphs": [{"context": "Eleven players per side ⚽.", "qas": [
        {"id": "q1", "question": "How many players?", "answers": [{"text": "Eleven", "answer_start": 0}]},
        {"id": "q2", "question": "Who wins?", "answers": [], "is_impossible": True}]}]}]}
    at = _upload(open_page(), "dev-v2.0.json", json.dumps(nested, ensure_ascii=False).encode())
    tab = at.tabs[1]
    assert "as JSON (a SQuAD file)" in " ".join(m.value for m in tab.markdown)
    assert tab.dataframe[0].value["context"].tolist() == ["Eleven players per side ⚽."] * 2
    listed = [(r["record"], r["problem"]) for d in tab.table if "problem" in d.value.columns
              for r in d.value.to_dict("records")]
    assert [n for n, _ in listed] == [2] and listed[0][1].startswith("answer is missing")
    assert at.radio(key="dataset.import.invalid").value == "skip"


def test_a_dataset_without_passages_has_no_context_column():
    at, info = open_mine("Plain")
    assert "context" not in at.data_editor[0].value.columns


def test_adding_records_that_are_all_there_already_says_nothing_was_added():
    at, info = open_mine()
    at = _upload(at, "same.json", json.dumps(RECS).encode())
    at.radio(key="dataset.import.target").set_value(f"Add to {info.name}").run()
    at.button(key="dataset.import.merge").click().run()
    assert texts(at.success)[0] == "Nothing added to Mine: all 2 records are already there (the same question and answer)."
    assert any(c.startswith("All changes saved") for c in texts(at.caption))  # nothing to save, and it says so
    at = _upload(at, "one.csv", b"Question,Answer\nWho restarts?,The referee.\n")
    at.radio(key="dataset.import.target").set_value(f"Add to {info.name}").run()
    at.button(key="dataset.import.merge").click().run()
    assert texts(at.success)[0] == ("Added 1 record to Mine. They are unsaved: check them in the Edit tab and "
                                    "press Save.")

def _file_id(at: AppTest) -> str:
    return at.session_state["dataset.import"]["file_id"]


def test_import_previews_of_every_tab_are_held_within_one_budget_and_a_dropped_one_is_read_again(monkeypatch):
    """Each tab kept its own parsed upload in its session (about 5.5 times the file), with nothing bounding them across
    sessions: one visitor with many tabs took a public app past its memory. They are held in one budget for the whole
    app now, the oldest dropped first; a tab whose preview was dropped reads its upload again and shows the same."""
    first = _upload(open_page(), "first.jsonl", b'{"question": "Who keeps the first time?", "answer": "The referee."}\n'
                    b'{"question": "How long is a half?", "answer": "45 minutes."}\n')
    shown = [m.value for m in first.markdown if m.value.startswith("Read **")]
    assert shown == ["Read **2 records** as JSONL."]
    assert "Who keeps the first time?" not in repr(first.session_state["dataset.import"])  # the session names it only
    from studio.data import held

    monkeypatch.setattr(held.previews, "_budget", 1)  # a budget only the newest preview fits
    second = _upload(open_page(), "second.csv", b"Question,Answer\nHow many players?,Eleven.\n")
    assert len(held.previews) == 1  # the first tab's preview dropped
    first.run()
    assert [m.value for m in first.markdown if m.value.startswith("Read **")] == shown  # read again, as it was
    assert first.tabs[1].dataframe[0].value["question"].tolist() == ["Who keeps the first time?", "How long is a half?"]
    assert len(held.previews) == 1
    second.run()
    assert [m.value for m in second.markdown if m.value.startswith("Read **")] == ["Read **1 record** as CSV (cells separated by commas)."]


def test_a_dropped_preview_read_again_from_its_path_keeps_the_fields_and_the_name_chosen(monkeypatch, tmp_path):
    """A path's (or a Hub dataset's) preview dropped from the held budget is read again in the background, and the runs
    meanwhile draw none of its widgets: Streamlit forgot the fields chosen, and the preview came back with the guessed
    ones, Import one click away from taking the answers from the field the person had moved away from."""
    import threading

    from studio.data import formats, held

    src = tmp_path / "qa.json"
    src.write_text(json.dumps([{"question": "Who restarts?", "answer": "", "reply": "The referee."},
                               {"question": "How long is a half?", "answer": "", "reply": "45 minutes."}]))
    gate, read = threading.Event(), formats.read_source
    gate.set()
    monkeypatch.setattr(formats, "read_source", lambda *a, **k: (gate.wait(60), read(*a, **k))[1])
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("path").run()
    at.text_input(key="dataset.import.path.0").input(str(src))
    at.button(key="dataset.import.path_load").click().run()
    _loaded(at)
    answer = at.selectbox(key=f"dataset.import.a.{_file_id(at)}")
    assert answer.value == "answer"  # the guess: every answer empty, so every record invalid
    answer.set_value("reply").run()
    at.text_input(key="dataset.import.name.qa.json").input("Restarts").run()
    gate.clear()  # the read again waits: the page runs meanwhile without the preview
    held.previews.drop(at.session_state["dataset.import"]["key"])
    at.run()
    at.run()
    assert not [b for b in at.selectbox if str(b.key).startswith("dataset.import.")]  # no preview drawn meanwhile
    gate.set()
    _loaded(at)
    assert at.selectbox(key=f"dataset.import.a.{_file_id(at)}").value == "reply"
    assert at.tabs[1].dataframe[0].value["answer"].tolist() == ["The referee.", "45 minutes."]
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("Restarts").id)[0]["answer"] == "The referee."


def test_an_import_preview_is_let_go_when_its_upload_is_removed_or_another_source_picked():
    """Removing the file with the uploader's x, or picking another source, left its parsed preview held for the
    server's life (a 300 MB JSON Lines file: about 1.5 GB); it is let go now."""
    from studio.data import held

    data = b'{"question": "Who restarts?", "answer": "The referee."}\n'
    at = _upload(open_page(), "one.jsonl", data)
    key = at.session_state["dataset.import"]["key"]
    assert held.previews.get(key) is not None
    at.file_uploader(key=f"dataset.import.file.{at.session_state['dataset.import.nonce']}").set_value(None).run()
    assert not at.exception, at.exception
    assert held.previews.get(key) is None
    at = _upload(at, "one.jsonl", data)
    key = at.session_state["dataset.import"]["key"]
    assert held.previews.get(key) is not None
    at.radio(key="dataset.import.origin").set_value("hub").run()
    assert not at.exception, at.exception
    assert held.previews.get(key) is None


def test_the_preview_of_a_closed_tab_is_let_go_at_the_next_preview_made(monkeypatch):
    """A tab closed with a preview held it for the server's life (on a public app, pushing out open tabs' previews):
    the next preview any tab makes lets it go, and keeps an open tab's."""
    import uuid

    import streamlit

    from studio.data import held
    from studio.ui import streamlit_internals

    # AppTest gives every session one id and runs no server: an id each, and the sessions closed here
    monkeypatch.setattr(streamlit_internals, "session_id",
                        lambda: streamlit.session_state.setdefault("test.session_id", uuid.uuid4().hex))
    closed: set[str] = set()
    monkeypatch.setattr(streamlit_internals, "session_connected", lambda sid: sid not in closed)
    first = _upload(open_page(), "first.csv", b"Question,Answer\nWho restarts?,The referee.\n")
    still = _upload(open_page(), "still.csv", b"Question,Answer\nWho keeps time?,The referee.\n")
    closed.add(first.session_state["test.session_id"])
    _upload(open_page(), "third.csv", b"Question,Answer\nHow many players?,Eleven.\n")
    assert held.previews.get(first.session_state["dataset.import"]["key"]) is None
    assert held.previews.get(still.session_state["dataset.import"]["key"]) is not None


def test_import_merge_adds_to_the_working_copy_skipping_existing():
    at, info = open_mine()
    csv = b"Question,Answer\nHow many players?,Eleven.\nWho restarts?,The referee.\n"
    at = _upload(at, "more.csv", csv)
    at.radio(key="dataset.import.target").set_value(f"Add to {info.name}").run()
    at.button(key="dataset.import.merge").click().run()
    assert "1 already there was skipped" in texts(at.success)[0]
    assert "Unsaved changes: 1 added." in texts(at.warning)
    at.button(key="dataset.save").click().run()
    assert [r["question"] for r in store.load_version(info.id)] == [
        "How long is a half?", "How many players?", "Who restarts?"]


def test_import_with_unmapped_fields_asks_for_a_mapping():
    at = _upload(open_page(), "odd.json", json.dumps([{"title": "t", "body": "b"}]).encode())
    assert "Choose which fields hold the question and the answer." in texts(at.warning)
    fid = _file_id(at)
    at.selectbox(key=f"dataset.import.q.{fid}").select("title")
    at.selectbox(key=f"dataset.import.a.{fid}").select("body").run()
    assert at.tabs[1].dataframe[0].value.to_dict("records") == [{"question": "t", "answer": "b"}]
    assert not at.button(key="dataset.import.create").disabled


@pytest.mark.parametrize("name,data,words", BAD, ids=[b[0] for b in BAD])
def test_bad_import_shows_a_clear_reason_and_blocks_import(name, data, words):
    at = _upload(open_page(), name, data)
    assert not at.exception
    tab = at.tabs[1]
    listed = [f"record {r['record']}: {r['problem']}" for d in tab.table if "problem" in d.value.columns
              for r in d.value.to_dict("records")]
    shown = " ".join(texts(tab.error) + listed)
    assert words.lower() in shown.lower()
    import_buttons = [b for b in at.button if b.key == "dataset.import.create"]
    choice = [r for r in at.radio if r.key == "dataset.import.invalid"]
    if choice and not all(b.disabled for b in import_buttons):  # some records are valid: only those, by default
        assert choice[0].value == "skip" and "valid record" in choice[0].options[0] and "skip the" in choice[0].options[0]
    else:
        assert all(b.disabled for b in import_buttons)


def test_a_windows_1252_csv_is_read_and_the_page_says_so_with_a_line_to_check():
    text = "question,answer\r\n¿Qué es un córner?,Un saque de esquina: 5 €\r\n"
    at = _upload(open_page(), "excel.csv", text.encode("cp1252"))  # Excel's plain "CSV" on Windows
    tab = at.tabs[1]
    assert not tab.error
    assert tab.dataframe[0].value.to_dict("records") == [{"question": "¿Qué es un córner?",
                                                          "answer": "Un saque de esquina: 5 €"}]
    (note,) = [w for w in texts(tab.warning) if "Windows-1252" in w]
    assert note.startswith("Not UTF-8 text: read as Windows-1252") and "Check its accents (line" in note
    at.text_input(key="dataset.import.name.excel.csv").input("Excel").run()
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("Excel").id) == [
        {"question": "¿Qué es un córner?", "answer": "Un saque de esquina: 5 €"}]


MESSY = [{"instruction": f"Explain rule {i}", "input": "", "output": "" if i in (3, 7) else f"Rule {i} says so."}
         for i in range(1, 11)]


def test_messy_import_takes_the_valid_records_and_names_the_skipped_ones():
    at = _upload(open_page(), "alpaca.json", json.dumps(MESSY).encode())
    assert "2 of 10 records are invalid" in texts(at.tabs[1].error)[0]
    listed = [r["record"] for d in at.tabs[1].table if "problem" in d.value.columns for r in d.value.to_dict("records")]
    assert listed == [3, 7]  # numbered from 1, as the file's records
    assert at.radio(key="dataset.import.invalid").value == "skip"
    at.text_input(key="dataset.import.name.alpaca.json").input("Messy").run()
    at.button(key="dataset.import.create").click().run()
    info = store.find_dataset("Messy")
    kept = store.load_version(info.id)
    assert len(kept) == 8 and "Explain rule 3" not in [r["question"] for r in kept]
    # the line after the import says what did not come in: "Imported 8 records" alone read as the whole file
    assert texts(at.success)[0] == ("Imported 8 records into a new dataset, Messy; 2 invalid records were left out "
                                    "(to fix them in the editor instead, import the file again and bring them all in).")


def test_adding_the_valid_records_to_a_dataset_says_how_many_invalid_ones_were_left_out():
    at, info = open_mine()
    at = _upload(at, "alpaca.json", json.dumps(MESSY).encode())
    assert at.radio(key="dataset.import.invalid").value == "skip"
    at.radio(key="dataset.import.target").set_value(f"Add to {info.name}").run()
    at.button(key="dataset.import.merge").click().run()
    assert texts(at.success)[0] == (
        "Added 8 records to Mine; 2 invalid records were left out (to fix them in the editor instead, import the "
        "file again and bring them all in). They are unsaved: check them in the Edit tab and press Save.")
    assert "Unsaved changes: 8 added." in texts(at.warning)


def test_an_error_after_1200_warnings_is_shown_counted_and_never_imported():
    from dataset_cases import LATE_ERROR

    at = _upload(open_page(), "late.json", json.dumps(LATE_ERROR).encode())
    tab = at.tabs[1]
    assert texts(tab.error)[0].startswith("1 of 1,202 records is invalid (1 error, 1,200 warnings;")
    assert [r["record"] for r in tab.table[0].value.to_dict("records")] == [1202]
    assert "1,200 warnings (warnings do not block an import):" in texts(tab.warning)
    assert at.radio(key="dataset.import.invalid").value == "skip"
    assert at.radio(key="dataset.import.invalid").options[0] == "Import the 1,201 valid records and skip the 1 invalid one"
    at.text_input(key="dataset.import.name.late.json").input("Late").run()
    at.button(key="dataset.import.create").click().run()
    kept = store.load_version(store.find_dataset("Late").id)
    assert len(kept) == 1201 and all(r["answer"] for r in kept)
    at.tabs[2]  # the Check tab of what was imported: no error, the warnings counted
    assert [m.value for m in at.metric][:3] == ["1,201", "0", "1,200"]


def test_check_tab_never_says_errors_0_for_a_version_with_errors():
    from dataset_cases import LATE_ERROR

    store.create_dataset("Written by hand", LATE_ERROR)  # not through the page's checks
    at = open_page()
    at.selectbox(key="dataset.picker").select(store.find_dataset("Written by hand").id).run()
    assert [m.value for m in at.metric][:3] == ["1,202", "1", "1,200"]
    assert "1 record of this version has errors" in texts(at.tabs[2].error)[0]
    listed = table_with(at, "problem").to_dict("records")
    assert listed[0] == {"record": 1202, "severity": "error", "problem": "answer is empty"}  # errors listed first
    assert "Problems (1 error, 1,200 warnings;" in " ".join(m.value for m in at.tabs[2].markdown)


def test_messy_import_brought_in_to_fix_cannot_be_saved_until_fixed():
    at = _upload(open_page(), "alpaca.json", json.dumps(MESSY).encode())
    at.radio(key="dataset.import.invalid").set_value("fix").run()
    at.text_input(key="dataset.import.name.alpaca.json").input("To fix").run()
    at.button(key="dataset.import.create").click().run()
    info = store.find_dataset("To fix")
    assert len(store.load_version(info.id)) == 8  # version 1: the valid ones
    assert "the 2 to fix are in the Edit tab" in texts(at.success)[0]
    assert any("2 records must be fixed or deleted" in w for w in texts(at.warning))
    at.toggle(key=f"dataset.only_fix.{info.id}").set_value(True).run()
    shown = at.data_editor[0].value
    assert shown["question"].tolist() == ["Explain rule 3", "Explain rule 7"]
    assert all("answer is empty" in p for p in shown["problem"])
    assert [c for c in shown.columns if c not in (editing.ROW, "_number")][0] == "problem"  # the reason first (after the narrow #)
    at.button(key="dataset.save").click().run()
    assert any("Not saved: 2 errors to fix first, in 2 records" in e for e in texts(at.error))
    assert len(store.list_versions(info.id)) == 1
    at = edit(at, edited={0: {"answer": "Rule 3 says so."}, 1: {"answer": "Rule 7 says so."}})
    at.button(key="dataset.save").click().run()
    saved = store.load_version(info.id)
    assert len(saved) == 10 and saved[2] == {"question": "Explain rule 3", "answer": "Rule 3 says so."}


def test_fixing_a_record_updates_what_is_left_to_fix_at_once():
    """Fixing both records brought in to fix left "2 records must be fixed" and "answer is empty" on screen
    until the next page or search: the table is rebuilt when what is left to fix changes."""
    at = _upload(open_page(), "alpaca.json", json.dumps(MESSY).encode())
    at.radio(key="dataset.import.invalid").set_value("fix").run()
    at.text_input(key="dataset.import.name.alpaca.json").input("To fix").run()
    at.button(key="dataset.import.create").click().run()
    info = store.find_dataset("To fix")
    at.toggle(key=f"dataset.only_fix.{info.id}").set_value(True).run()
    at = edit(at, edited={0: {"answer": "Rule 3 says so."}})
    assert any("1 record must be fixed or deleted" in w for w in texts(at.warning))
    assert at.data_editor[0].value["question"].tolist() == ["Explain rule 7"]  # only what is left
    assert any(c.startswith("1 to fix of 10 records · page 1 of 1") for c in texts(at.caption))
    at = edit(at, edited={0: {"answer": "Rule 7 says so."}})
    assert not any("must be fixed" in w for w in texts(at.warning))
    assert "problem" not in at.data_editor[0].value.columns and len(at.data_editor[0].value) == 10
    at.button(key="dataset.save").click().run()
    assert len(store.load_version(info.id)) == 10


def test_html_in_records_is_never_rendered_as_markup():
    store.create_dataset("Html", UNICODE)
    at = open_page()
    at.selectbox(key="dataset.picker").select(store.find_dataset("Html").id).run()
    assert at.data_editor[0].value["question"].tolist()[3] == UNICODE[3]["question"]
    rendered = [m.value for m in at.markdown] + [e.value for e in at.get("html")
                                                 if "data-studio-place" not in e.value]  # the page's own script
    assert not any("<script>" in text or "<img" in text for text in rendered)
    assert all("<script>alert" not in e.value and "<img" not in e.value for e in at.get("html"))


def test_versions_compare_and_restore():
    info = store.create_dataset("V", RECS)
    store.save_version(info.id, RECS[:1], base_version=1, message="drop one")
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    table = at.table[0].value
    assert table.to_dict("records")[0]["what"] == "drop one" and table["records"].tolist() == ["1", "2"]
    assert any("version 1 → version 2**: 1 removed" in m for m in texts(at.markdown))
    at.selectbox(key=f"dataset.restore.{info.id}").select(1)
    at.button(key="dataset.restore.go").click().run()
    assert "Restored version 1 as version 3 (2 records)." in texts(at.success)
    assert store.load_version(info.id) == RECS


def test_a_restore_pressed_after_another_tab_replaced_the_dataset_is_refused_in_one_line():
    """This tab showed "V"'s versions; another tab deleted it and imported a new "V" (same id, versions 1 and 2 of its
    own). Restore version 1 restored the new dataset's version 1, unsaid; it is refused, and the new one is kept."""
    info = store.create_dataset("V", RECS)
    store.save_version(info.id, RECS[:1], base_version=1, message="drop one")
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    at.selectbox(key=f"dataset.restore.{info.id}").select(1).run()
    store.delete_dataset(info.id)
    new = store.create_dataset("V", RECS[1:], message="imported v.csv")
    store.save_version(new.id, RECS, base_version=1, message="added one")
    assert new.id == info.id
    at.button(key="dataset.restore.go").click().run()
    assert not at.exception
    assert [e for e in texts(at.error) if "nothing was restored" in e] == [
        "Dataset 'V' whose versions you were looking at was deleted (in another tab or session) and a new dataset took "
        "its name: nothing was restored. Its own versions are listed now: restore one of them if you mean to."]
    assert [v.message for v in store.list_versions(new.id)] == ["imported v.csv", "added one"]
    at.button(key="dataset.restore.go").click().run()  # now shown its versions: restored as asked
    assert "Restored version 1 as version 3 (1 record)." in texts(at.success)


def test_a_restore_pressed_after_another_tab_saved_a_newer_version_is_refused_in_one_line():
    """This tab showed "V"'s versions 1 and 2; another tab saved a version 3. Restore version 1 made version 4 of it,
    undoing version 3's edits unseen; it is refused, and pressed again once the page shows version 3, it restores."""
    info = store.create_dataset("V", RECS)
    store.save_version(info.id, RECS[:1], base_version=1, message="drop one")
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    at.selectbox(key=f"dataset.restore.{info.id}").select(1).run()
    theirs = [{"question": "Who restarts?", "answer": "The referee."}]
    store.save_version(info.id, theirs, base_version=2, message="theirs")
    at.button(key="dataset.restore.go").click().run()
    assert not at.exception
    assert [e for e in texts(at.error) if "nothing was restored" in e] == [
        "This dataset was saved by someone else (version 3) after the versions you were looking at (up to version 2): "
        "nothing was restored. Its versions are listed now: restore one again if you still mean to."]
    assert store.load_version(info.id) == theirs
    at.button(key="dataset.restore.go").click().run()  # now shown version 3: restored as asked
    assert "Restored version 1 as version 4 (2 records)." in texts(at.success)
    assert store.load_version(info.id) == RECS


def test_a_comparison_of_long_edits_lists_what_fits_one_message_and_says_how_many():
    """400 answers of 2,000 characters in a script of 3 bytes a character, each edited: the Edited table held them all
    (about 5 MB here, 70 MB with passages and 2,000 records: past the largest message the app sends, 16 MB, and the tab
    failed to draw). It lists what fits in 4 MB and says how many of how many."""
    from studio.ui import dataset as dui

    before = [{"question": f"Question {i}?", "answer": "語" * 2000} for i in range(400)]
    after = [{"question": f"Question {i}?", "answer": "話" * 2000} for i in range(400)]
    info = store.create_dataset("Long", before)
    store.save_version(info.id, after, base_version=1, message="reworded")
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert not at.exception
    edited = next(d.value for d in at.dataframe if "before" in d.value.columns)
    assert 300 < len(edited) < 400
    assert f"The first {len(edited):,} of 400 are listed here." in texts(at.caption)
    assert dui.listed(list(zip(before, after))) == len(edited)
    assert dui.listed(before[:10]) == 10 and dui.listed([]) == 0  # a short list is listed whole


def test_versions_show_when_each_was_saved_as_every_other_page_shows_a_time():
    from studio import config

    info = store.create_dataset("V", RECS)
    meta = config.datasets_dir() / info.id / "versions" / "0001.meta"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "created": "2026-12-05T00:12:33.123456+00:00"}))
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert at.table[0].value["saved"].tolist() == ["2026-12-05 00:12 UTC"]  # as Train's runs and Evaluate show


def test_after_a_restore_the_compare_shows_the_new_version_against_the_one_before():
    info = store.create_dataset("V", RECS)
    store.save_version(info.id, RECS[:1], base_version=1, message="drop one")
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    at.selectbox(key=f"dataset.restore.{info.id}").select(1)
    at.button(key="dataset.restore.go").click().run()
    assert not at.exception
    compared = [m for m in texts(at.markdown) if "→" in m]
    assert len(compared) == 1 and "version 2 → version 3**: 1 added" in compared[0]  # what the restore changed
    assert [s.value for s in at.selectbox if s.label in ("Compare version", "with version")] == [2, 3]


def test_create_rename_and_delete_with_confirmation():
    at = open_page()
    at.text_input(key="dataset.new_name").input("Fresh").run()
    at.button(key="dataset.create").click().run()
    info = store.find_dataset("Fresh")
    assert info and at.session_state["dataset.selected"] == info.id and info.latest.count == 0
    assert at.text_input(key="dataset.new_name").value == ""  # ready for the next name, not "Fresh" again
    at.text_input(key=f"dataset.rename.{info.id}").input("Renamed").run()
    at.button(key="dataset.rename").click().run()
    assert store.get_dataset(info.id).name == "Renamed"
    assert at.button(key="dataset.delete").disabled
    at.checkbox(key=f"dataset.delete_sure.{info.id}").check().run()
    at.button(key="dataset.delete").click().run()
    assert store.find_dataset("Renamed") is None and not at.exception
    at.text_input(key="dataset.new_name").input("soccer RULES (sample)").run()
    at.button(key="dataset.create").click().run()
    assert any("already exists" in e for e in texts(at.error))
    assert at.text_input(key="dataset.new_name").value == "soccer RULES (sample)"  # refused: kept to correct


def test_push_without_token_says_so_and_offers_downloads():
    at = open_page()
    assert [b.label for b in at.get("download_button")] == [
        "Download JSON", "Download JSONL", "Download CSV", "Download Parquet",
        "Download messages JSONL", "Download ShareGPT JSON", "Download Alpaca JSON",
        "messages + dataset_info.json (zip)", "ShareGPT + dataset_info.json (zip)", "Alpaca + dataset_info.json (zip)"]
    at.text_input(key="dataset.push.repo").input("alice/rules").run()
    at.button(key="dataset.push.go").click().run()
    assert any(e.startswith("No Hugging Face token") for e in texts(at.error))


def test_import_tab_reads_parquet_and_chat_messages_with_a_choice_of_exchanges():
    from studio.data import writers

    parquet = writers.to_parquet([{"question": "越位是什么？", "answer": "位置规则。"}, {"question": "Q?", "answer": "A."}])
    at = _upload(open_page(), "hub.parquet", parquet)
    assert any(m.value.startswith("Read **2 records** as PARQUET") for m in at.markdown)
    at.text_input(key="dataset.import.name.hub.parquet").input("From parquet").run()
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("From parquet").id)[0] == {"question": "越位是什么？", "answer": "位置规则。"}

    conv = {"messages": [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "A1."},
                         {"role": "user", "content": "Q2?"}, {"role": "assistant", "content": "A2."}]}
    at = _upload(open_page(), "chat.jsonl", (json.dumps(conv) + "\n").encode())
    assert any("(chat messages)" in m.value for m in at.markdown)
    assert at.tabs[1].dataframe[0].value["question"].tolist() == ["Q1?"]
    at.radio(key="dataset.import.turns").set_value("every").run()
    assert at.tabs[1].dataframe[0].value["question"].tolist() == ["Q1?", "Q2?"]


def test_check_tab_lists_warnings_and_plots():
    store.create_dataset("Dups", RECS + [{"question": "How many players?", "answer": "11"}])
    at = open_page()
    at.selectbox(key="dataset.picker").select(store.find_dataset("Dups").id).run()
    assert [m.value for m in at.metric][:3] == ["3", "0", "1"]
    problems = table_with(at, "problem")
    assert problems.to_dict("records") == [{"record": 3, "severity": "warning", "problem": "same question as record 2"}]
    assert len(at.get("plotly_chart")) == 2
    # each the tab's width: in two columns of an 800 px window the openings' title was cut ("... question opening")
    assert not [c for c in at.columns if c.get("plotly_chart")]


def test_200k_dataset_is_edited_page_by_page():
    big = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(200_000)]
    info = store.create_dataset("Big", big)
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert len(at.data_editor[0].value) == 200
    at.number_input(key="dataset.page").set_value(1000).run()
    assert at.data_editor[0].value["question"].iloc[-1] == "Question 199999?"
    edit(at, edited={0: {"answer": "changed"}})
    at.text_input(key="dataset.search").input("Question 5?").run()  # another view: the edit is folded in
    assert at.data_editor[0].value["question"].tolist() == ["Question 5?"]
    at.button(key="dataset.save").click().run()
    saved = store.load_version(info.id)
    assert len(saved) == 200_000 and saved[199_800]["answer"] == "changed"


def test_home_and_dataset_page_never_import_torch_or_transformers():
    code = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        f"for page in ({str(REPO / 'Home.py')!r}, {PAGE!r}):\n"
        "    at = AppTest.from_file(page, default_timeout=60).run()\n"
        "    assert not at.exception, at.exception\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _push_in_its_own_process(tmp_path, endpoint: str, shown: str, typed: str = "", **env: str
                             ) -> tuple[str, list[str], str]:
    """Click the Export tab's push in AppTest in a fresh process (the Hub client reads HF_ENDPOINT at
    import) and wait for its Task: (the job's state, the page's ``shown`` messages after it, stdout). With
    ``typed``, that token is typed into the tab's token field instead of HF_TOKEN being set."""
    import os

    code = (
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({PAGE!r}, default_timeout=60).run()\n"
        + (f"at.text_input(key='auth.hf_token.input').input({typed!r}).run()\n" if typed else "")
        + "at.text_input(key='dataset.push.repo').input('alice/rules').run()\n"
        "at.button(key='dataset.push.go').click().run()\n"
        "job = at.session_state['dataset.push']\n"
        "job.join(90)\n"
        "at.run()\n"
        "print(job.state)\n"
        f"print('|'.join(e.value for e in at.{shown}))\n"
    )
    full = {**os.environ, "HF_TOKEN": "hf_secretvalue123", "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf"),
            "STUDIO_HOME": str(tmp_path / "home"), **env}
    if typed:
        full.pop("HF_TOKEN")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=full, timeout=180)
    assert out.returncode == 0, out.stderr
    state, messages = out.stdout.strip().splitlines()[-2:]
    return state, messages.split("|"), out.stdout


def test_a_token_typed_in_the_export_tab_pushes_without_a_restart(tmp_path):
    """No HF_TOKEN anywhere: the token typed in the tab's own field reaches the stand-in Hub."""
    from hub_servers import standin_hub

    with standin_hub() as hub:
        state, shown, _ = _push_in_its_own_process(tmp_path, hub.url, "success", typed="hf_typedtoken123",
                                                   HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0")
    assert state == "done" and any(m.startswith(f"Pushed to {hub.url}/datasets/alice/rules") for m in shown)
    assert ("dataset", "alice/rules") in hub.repos and not hub.unknown
    assert any(h.get("authorization") == "Bearer hf_typedtoken123" for _, _, h in hub.requests)

def test_push_from_the_page_to_an_unreachable_hub_says_so_without_the_token(tmp_path):
    """A closed loopback port as the Hub."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state, errors, stdout = _push_in_its_own_process(tmp_path, f"http://127.0.0.1:{port}", "error")
    assert state == "failed" and errors[0].startswith("Cannot reach the Hugging Face Hub")
    assert "hf_secretvalue123" not in stdout


def test_another_tab_can_commit_through_the_working_copy():
    """What a review tab does: take the working copy, change it, and commit it as a version."""
    info = store.create_dataset("Mine", RECS)
    script = (
        "import streamlit as st\nfrom studio.data import store\nfrom studio.ui import dataset as dui\n"
        "dui.init()\ninfo = store.get_dataset(st.session_state['dataset.selected'])\n"
        "records, base = dui.working_copy(info)\nst.write(f'base {base}: {len(records)} records')\n"
        "if st.button('Keep first', key='t.keep'):\n    dui.commit(info, records[:1], 'kept 1 of 2')\n"
        "dui.show_flash()\n"
    )
    at = AppTest.from_string(script, default_timeout=60)
    at.session_state["dataset.selected"] = info.id
    at.run()
    assert "base 1: 2 records" in texts(at.markdown)
    at.button(key="t.keep").click().run()
    assert "Saved version 2: 1 record." in texts(at.success) and "base 2: 1 records" in texts(at.markdown)
    assert store.list_versions(info.id)[-1].message == "kept 1 of 2"


def test_import_200k_records_and_a_megabyte_answer():
    rows = [{"Question": f"Question {i}?", "Answer": f"Answer {i}."} for i in range(200_000)]
    rows[7]["Answer"] = "long " * 200_000  # 1 MB
    at = _upload(open_page(), "big.json", json.dumps(rows).encode())
    assert "Read **200,000 records** as JSON." in texts(at.markdown)
    warnings = table_with(at, "problem").to_dict("records")
    assert warnings == [{"record": 8, "severity": "warning", "problem": "very long (1,000,011 characters; over 4,000)"}]
    at.button(key="dataset.import.create").click().run()
    saved = store.load_version(store.find_dataset("big").id)
    assert len(saved) == 200_000 and saved[7]["answer"] == rows[7]["Answer"]


def test_an_empty_dataset_gets_its_first_rows_in_the_editor():
    info = store.create_dataset("Empty", [])
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert len(at.data_editor[0].value) == 0
    # its Check tab said "No problems found." of a dataset there is nothing to train on
    assert not texts(at.tabs[2].success)
    assert texts(at.tabs[2].info) == [validate.NO_RECORDS] and "Edit tab" in validate.NO_RECORDS
    edit(at, added=[{"question": "Who starts?", "answer": "The home team 🏟"}, {"question": None, "answer": None}])
    at.button(key="dataset.save").click().run()
    assert store.load_version(info.id) == [{"question": "Who starts?", "answer": "The home team 🏟"}]


def test_import_tab_loads_from_the_hub_and_says_in_one_line_when_it_cannot(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("hub").run()
    at.text_input(key=f"dataset.import.hub.{at.session_state['dataset.import.nonce']}").input("nobody-here/none@train")
    at.button(key="dataset.import.hub_load").click().run()
    _loaded(at)
    assert not at.exception
    (err,) = [e.value for e in at.tabs[1].error]
    assert err.startswith("Cannot import nobody-here-none: Cannot reach the Hub") and "\n" not in err


def test_import_tab_says_a_hub_dataset_was_read_from_the_local_cache(monkeypatch, tmp_path):
    """The Hub refusing the connection (a loopback port nothing listens at, as the endpoint), the dataset's files in
    the Hugging Face download cache: the rows come from there, and the tab says so in one line above them (the words
    were tested on the command line only)."""
    import socket

    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq
    from huggingface_hub import constants

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refusing = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setattr(constants, "ENDPOINT", refusing)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.chdir(tmp_path)  # no local folder alice/faq: the cache, not a path, serves it
    snapshot = tmp_path / "hub" / "datasets--alice--faq" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    pq.write_table(pa.Table.from_pylist(UNICODE), snapshot / "train.parquet")
    # a whole copy, as an import from the Hub leaves it: its files and config written down once that import had finished
    (snapshot.parents[1] / ".studio-whole.json").write_text(json.dumps(
        {"abc123": {"files": {"train.parquet": (snapshot / "train.parquet").stat().st_size}, "configs": [""]}}))
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("hub").run()
    at.text_input(key="dataset.import.hub.0").input("alice/faq")
    at.button(key="dataset.import.hub_load").click().run()
    _loaded(at)
    assert not at.exception and f"Read **{len(UNICODE)} records** as HUB." in texts(at.markdown)
    assert texts(at.info) == ["Read alice/faq from the local cache: the Hub cannot be reached (it refused the "
                              "connection), so this is the copy last downloaded here, which may be older than the "
                              "Hub's."]


def _loaded(at: AppTest) -> AppTest:
    """Wait for the Import tab's background read (a ``Task``) and rerun, as its polling fragment does."""
    job = at.session_state["dataset.import.load"] if "dataset.import.load" in at.session_state else None
    if job is not None:
        assert job["task"].join(60)
    return at.run()


def test_a_hub_load_runs_in_the_background_and_survives_clicks_elsewhere(monkeypatch, tmp_path):
    """``datasets.load_dataset`` reads ``alice/faq`` from a local folder of that name (its own rule:
    a local path comes before the Hub), so the real loader runs without the network; a gate holds the
    read open while the page is clicked."""
    import threading

    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from studio.data import hf_sources

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alice" / "faq").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(UNICODE), tmp_path / "alice" / "faq" / "train.parquet")
    gate, real = threading.Event(), hf_sources.read_hub

    def gated(src, token=None, **kwargs):
        assert gate.wait(60)
        return real(src, token, **kwargs)

    monkeypatch.setattr(hf_sources, "read_hub", gated)
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("hub").run()
    at.text_input(key="dataset.import.hub.0").input("alice/faq")
    at.button(key="dataset.import.hub_load").click().run()
    task = at.session_state["dataset.import.load"]["task"]
    assert any(i.value.startswith("Loading alice/faq from the Hub…") for i in at.info)
    at.text_input(key="dataset.search").input("anything").run()  # a click elsewhere: a rerun of the script
    at.selectbox(key="dataset.picker").select(at.session_state["dataset.selected"]).run()
    assert task.running and not task.done
    gate.set()
    _loaded(at)
    assert task.state == "done" and f"Read **{len(UNICODE)} records** as HUB." in texts(at.markdown)
    at.text_input(key="dataset.import.name.alice-faq").input("From the Hub").run()
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("From the Hub").id) == UNICODE


def test_a_cleared_box_lets_its_preview_go_and_another_source_stops_a_load_still_running(monkeypatch, tmp_path):
    """A path read and previewed stayed held (in the app's one budget for previews) after the box was cleared; a Hub
    load still running when the person picked another source ran on and was held by the session. Clearing the box
    lets the preview go; picking another source stops the read, which then holds nothing."""
    import threading

    from studio.data import held, hf_sources

    src = tmp_path / "qa.json"
    src.write_text(json.dumps(UNICODE))
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("path").run()
    at.text_input(key="dataset.import.path.0").input(str(src))
    at.button(key="dataset.import.path_load").click().run()
    _loaded(at)
    assert f"Read **{len(UNICODE)} records** as JSON." in texts(at.markdown)
    key = at.session_state["dataset.import"]["key"]
    assert held.previews.get(key) is not None
    at.text_input(key="dataset.import.path.0").input("")
    at.button(key="dataset.import.path_load").click().run()
    assert held.previews.get(key) is None and "dataset.import" not in at.session_state

    gate = threading.Event()

    def gated(src, token=None, **kwargs):
        assert gate.wait(60)
        return [{"question": "q", "answer": "a"}]

    monkeypatch.setattr(hf_sources, "read_hub", gated)
    at.radio(key="dataset.import.origin").set_value("hub").run()
    at.text_input(key="dataset.import.hub.0").input("alice/faq")
    at.button(key="dataset.import.hub_load").click().run()
    task = at.session_state["dataset.import.load"]["task"]
    assert task.running
    at.radio(key="dataset.import.origin").set_value("file").run()
    assert "dataset.import.load" not in at.session_state and task.stop.is_set()
    gate.set()
    assert task.join(60) and task.state == "stopped" and task.result is None


def test_a_cleared_box_stops_a_file_read_between_its_batches_or_rows(monkeypatch, tmp_path):
    """A stop (the path box cleared, another source picked) was looked at between the read's stages only: a Parquet
    file's read, or a CSV or JSON Lines file's parse, ran on to the file's end in the background. It ends now within
    the batch or the rows it is reading. Each read is held at its first batch (Parquet) or cell or line until the box
    is cleared; then what it went on to read is counted."""
    import threading

    import pyarrow as pa
    import pyarrow.parquet as pq

    from studio.data import csv_cells, json_rows, parquet_rows, writers

    rows = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(5000)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet")
    (tmp_path / "qa.csv").write_bytes(writers.to_csv(rows))
    (tmp_path / "qa.jsonl").write_bytes(writers.to_jsonl(rows))
    monkeypatch.setattr(parquet_rows, "BATCH_ROWS", 100)  # 50 batches
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("path").run()
    for name, module, step in (("qa.parquet", parquet_rows, "_check_room"), ("qa.csv", csv_cells, "unsafe_cell"),
                               ("qa.jsonl", json_rows, "_loads")):
        reached, gate, calls = threading.Event(), threading.Event(), []
        real = getattr(module, step)

        def held(*args, real=real, reached=reached, gate=gate, calls=calls):
            calls.append(1)
            reached.set()
            assert gate.wait(60)
            return real(*args)

        monkeypatch.setattr(module, step, held)
        at.text_input(key="dataset.import.path.0").input(str(tmp_path / name))
        at.button(key="dataset.import.path_load").click().run()
        task = at.session_state["dataset.import.load"]["task"]
        assert reached.wait(60) and task.running
        at.text_input(key="dataset.import.path.0").input("")
        at.button(key="dataset.import.path_load").click().run()
        assert task.stop.is_set()
        gate.set()
        assert task.join(60) and task.state == "stopped" and task.result is None
        whole = {"qa.parquet": 50, "qa.csv": 2 * len(rows), "qa.jsonl": len(rows)}[name]
        assert len(calls) < whole / 2, (name, len(calls), whole)  # it did not read on to the file's end
        monkeypatch.setattr(module, step, real)


def test_a_datasets_folder_split_imports_from_a_path_on_this_machine_skipping_the_invalid(tmp_path):
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "saved"
    test = UNICODE + [{"question": "No answer here?", "answer": ""}]
    DatasetDict({"train": Dataset.from_list(UNICODE[:1]), "test": Dataset.from_list(test)}).save_to_disk(str(folder))
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("path").run()
    at.text_input(key="dataset.import.path.0").input(f"{folder}@test")
    at.button(key="dataset.import.path_load").click().run()
    _loaded(at)
    assert f"Read **{len(test)} records** as DATASETS." in texts(at.markdown)
    assert any(f"1 of {len(test)} records is invalid" in e for e in texts(at.error))
    assert table_with(at, "problem").to_dict("records")[0]["problem"] == "answer is empty"
    at.radio(key="dataset.import.invalid").set_value("skip").run()
    at.text_input(key="dataset.import.name.saved").input("Saved split").run()
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("Saved split").id) == UNICODE

    at = open_page()  # a path that is not there: one line, the tab still usable
    at.radio(key="dataset.import.origin").set_value("path").run()
    at.text_input(key="dataset.import.path.0").input(str(tmp_path / "nowhere.json"))
    at.button(key="dataset.import.path_load").click().run()
    _loaded(at)
    (err,) = [e.value for e in at.tabs[1].error]
    assert err.startswith("Cannot import nowhere.json: No file at ") and err.endswith("check the path.")



@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_path_pasted_with_its_quotes_is_read(tmp_path, quote):
    src = tmp_path / "my data" / "qa.json"  # a space: why a file manager's "Copy as path" puts quotes around it
    src.parent.mkdir()
    src.write_text(json.dumps(UNICODE, ensure_ascii=False), encoding="utf-8")
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("path").run()
    at.text_input(key="dataset.import.path.0").input(f"{quote}{src}{quote}")
    at.button(key="dataset.import.path_load").click().run()
    _loaded(at)
    assert not at.tabs[1].error and f"Read **{len(UNICODE)} records** as JSON." in texts(at.markdown)
    assert at.text_input(key="dataset.import.name.qa.json").value == "qa"  # the name without the quote

def test_api_mode_offers_no_path_on_the_server(api_mode):
    at = open_page()
    assert at.radio(key="dataset.import.origin").options == ["A file", "A Hugging Face Hub dataset"]


def test_the_llama_factory_zip_holds_what_the_cli_writes_with_dataset_info(tmp_path):
    """The Export tab's zip (the function its button downloads) against `dataset export --dataset-info`."""
    import io
    import zipfile

    from studio.ui import dataset_tabs

    info = store.create_dataset("Rules", UNICODE)
    out = tmp_path / f"{info.id}-v1.sharegpt.json"
    done = subprocess.run([sys.executable, "-m", "studio", "dataset", "export", info.id, "--to", "sharegpt", "--out",
                           str(out), "--dataset-info"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(io.BytesIO(dataset_tabs._llama_factory_zip(info.id, 1, "sharegpt"))) as z:
        assert sorted(z.namelist()) == sorted([out.name, "dataset_info.json"])
        assert z.read(out.name) == out.read_bytes()
        assert json.loads(z.read("dataset_info.json")) == json.loads((tmp_path / "dataset_info.json").read_text())


def test_push_from_the_page_to_the_hub_stand_in_delivers_the_saved_version(tmp_path):
    """The Export tab's push (a background Task) against the loopback stand-in for huggingface.co."""
    import io

    import pyarrow.parquet as pq
    from hub_servers import standin_hub, token_leaks

    with standin_hub() as hub:
        state, success, stdout = _push_in_its_own_process(tmp_path, hub.url, "success", HF_HUB_DISABLE_XET="1",
                                                          HF_HUB_OFFLINE="")
    assert state == "done" and not hub.unknown
    assert f"Pushed to {hub.url}/datasets/alice/rules: Soccer rules (sample), version 1 (158 records)." in success
    repo = hub.repos[("dataset", "alice/rules")]
    assert repo.private and "# Soccer rules (sample)" in repo.files["README.md"].decode()
    rows = pq.read_table(io.BytesIO(repo.files["data/train-00000-of-00001.parquet"])).to_pylist()
    assert rows == sample.load_sample()
    assert token_leaks(hub, "hf_secretvalue123", tmp_path) == [] and "hf_secretvalue123" not in stdout


def test_a_push_s_outcome_shows_on_the_dataset_it_pushed_not_on_another(tmp_path):
    """Against the loopback stand-in for huggingface.co: after pushing the sample, another dataset's Export tab
    does not say it was pushed."""
    import os

    from hub_servers import standin_hub

    code = (
        "from streamlit.testing.v1 import AppTest\n"
        "from studio.data import store\n"
        f"at = AppTest.from_file({PAGE!r}, default_timeout=60).run()\n"
        "at.text_input(key='dataset.push.repo').input('alice/rules').run()\n"
        "at.button(key='dataset.push.go').click().run()\n"
        "at.session_state['dataset.push'].join(90)\n"
        "print('|'.join(e.value for e in at.run().success))\n"
        "other = store.create_dataset('Other', [{'question': 'Who?', 'answer': 'Me.'}])\n"
        "at.run().selectbox(key='dataset.picker').select(other.id).run()\n"
        "print('|'.join(e.value for e in at.success))\n"
    )
    with standin_hub() as hub:
        env = {**os.environ, "HF_TOKEN": "hf_secretvalue123", "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"),
               "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": ""}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    pushed, elsewhere = out.stdout.strip().splitlines()[-2:]
    assert f"Pushed to {hub.url}/datasets/alice/rules: Soccer rules (sample), version 1 (158 records)." in pushed
    assert "Pushed" not in elsewhere


def test_a_connection_dropped_during_the_lfs_upload_from_the_export_tab_is_one_line(tmp_path):
    """The loopback stand-in for the Hub closes the connection on the Parquet file's LFS upload."""
    from hub_servers import standin_hub

    with standin_hub() as hub:
        hub.faults["*"] = "drop-upload"
        state, errors, stdout = _push_in_its_own_process(tmp_path, hub.url, "error", HF_HUB_DISABLE_XET="1")
    assert state == "failed", stdout
    assert len(errors) == 1 and errors[0].startswith("The connection to the Hub dropped while uploading to alice/rules")
    assert "RuntimeError" not in errors[0] and "hf_secretvalue123" not in stdout


def test_the_export_tab_asks_to_save_first_only_when_there_are_unsaved_edits():
    at, info = open_mine()
    (said,) = [c for c in texts(at.caption) if c.startswith("Downloads hold")]
    assert said == "Downloads hold the saved version 1 (2 records)."  # nothing to save: no order to save
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    (said,) = [c for c in texts(at.caption) if c.startswith("Downloads hold")]
    assert said == "Downloads hold the saved version 1 (2 records), not your unsaved edits: save them first to export them."


def test_import_warns_of_a_key_a_record_gives_twice():
    data = b'[{"question": "Who whistles?", "answer": "The referee.", "answer": "Nobody."}]'
    at = _upload(open_page(), "twice.json", data)
    assert "1 warning (warnings do not block an import):" in texts(at.warning)
    problems = at.tabs[1].table[-1].value
    assert problems["record"].tolist() == [1]
    assert problems["problem"].tolist()[0].startswith('the file gives the key "answer" twice: the last value was kept '
                                                      'and the first, "The referee.", was lost')


def test_records_that_are_not_objects_are_listed_and_skipped_or_brought_in_to_fix_with_what_was_there():
    """An upload with a string, a number and a null among its records was refused as a whole ("Record 2 is a
    string ..."): now they are the invalid records, left out by default or brought in empty, the Problem column
    saying what the file held there."""
    from dataset_cases import MIXED, MIXED_PROBLEMS

    at = _upload(open_page(), "mixed.json", MIXED)
    assert "3 of 5 records are invalid" in texts(at.tabs[1].error)[0]
    listed = [f"record {r['record']}: {r['problem']}" for r in table_with(at, "problem").to_dict("records")]
    assert listed == MIXED_PROBLEMS
    assert at.radio(key="dataset.import.invalid").value == "skip"
    at.text_input(key="dataset.import.name.mixed.json").input("Mixed").run()
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("Mixed").id) == [{"question": "a", "answer": "b"},
                                                                   {"question": "c", "answer": "d"}]

    at = _upload(open_page(), "mixed.json", MIXED)
    at.radio(key="dataset.import.invalid").set_value("fix").run()
    at.text_input(key="dataset.import.name.mixed.json").input("Mixed to fix").run()
    at.button(key="dataset.import.create").click().run()
    info = store.find_dataset("Mixed to fix")
    assert len(store.load_version(info.id)) == 2
    assert any("3 records must be fixed or deleted" in w for w in texts(at.warning))
    at.toggle(key=f"dataset.only_fix.{info.id}").set_value(True).run()
    shown = at.data_editor[0].value
    assert shown["question"].tolist() == ["", "", ""]
    assert [f"record {n}: {p}" for n, p in zip((2, 3, 4), shown["problem"])] == MIXED_PROBLEMS
    # the Problem column cuts a reason this long at its edge: each is written out in full under the table
    whole = [e for e in at.expander if e.label == "Why, in full"]
    assert [line.removeprefix("- ") for line in whole[0].markdown[0].value.splitlines()] == [
        p.replace("record ", "**#", 1).replace(":", "**:", 1)
        for p in MIXED_PROBLEMS]
    at = edit(at, edited={0: {"question": "oops?", "answer": "Fixed."}}, deleted=[1, 2])
    at.button(key="dataset.save").click().run()
    assert store.load_version(info.id) == [{"question": "a", "answer": "b"}, {"question": "oops?", "answer": "Fixed."},
                                           {"question": "c", "answer": "d"}]


def test_bringing_in_a_record_with_its_question_under_another_name_imports_it_as_its_question():
    """{"prompt": "Odd keys?", "answer": "Yes."} among records with a question came in with an empty question, the
    prompt nowhere on the Edit tab, and the record saved and exported still carried "prompt" beside the question typed."""
    data = json.dumps([{"question": "Who whistles?", "answer": "The referee."},
                       {"prompt": "Odd keys?", "answer": "Yes."}]).encode()
    at = _upload(open_page(), "odd.json", data)
    # the choice names the field as the info box does (it said ("prompt", "output", ...) whatever the file held)
    assert any('under another name ("prompt") takes it' in o for o in at.radio(key="dataset.import.invalid").options)
    at.radio(key="dataset.import.invalid").set_value("fix").run()
    assert 'record 2\'s "prompt" as its question' in " ".join(texts(at.tabs[1].info))
    at.text_input(key="dataset.import.name.odd.json").input("Odd").run()
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("Odd").id) == [{"question": "Who whistles?", "answer": "The referee."},
                                                               {"question": "Odd keys?", "answer": "Yes."}]


def test_a_json_lines_path_with_a_line_that_is_not_an_object_imports_the_valid_records(tmp_path):
    src = tmp_path / "lines.jsonl"
    src.write_text('{"question": "a", "answer": "b"}\n[1, 2]\n{"question": "c", "answer": "d"}\n')
    at = open_page()
    at.radio(key="dataset.import.origin").set_value("path").run()
    at.text_input(key="dataset.import.path.0").input(str(src))
    at.button(key="dataset.import.path_load").click().run()
    _loaded(at)
    assert any("1 of 3 records is invalid" in e for e in texts(at.error))
    shown = table_with(at, "problem").to_dict("records")[0]["problem"].replace("\\", "")  # Markdown's escapes
    assert shown == "a list on line 2 of the file, not an object with a question and an answer: [1, 2]"
    at.text_input(key="dataset.import.name.lines.jsonl").input("Lines").run()
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("Lines").id) == [{"question": "a", "answer": "b"},
                                                                   {"question": "c", "answer": "d"}]


def test_a_session_keeps_only_the_shown_dataset_s_clean_copy():
    """Every dataset a session opened kept a whole version in memory (13.5 MB for a 3.9 MB file), on a public app
    for every visitor; now only the shown one's and those with unsaved edits stay, the rest read again when opened."""
    first, second, third = (store.create_dataset(name, RECS) for name in ("First", "Second", "Third"))
    at = open_page()
    at.selectbox(key="dataset.picker").select(first.id).run()
    edit(at, edited={0: {"answer": "kept"}})  # unsaved: its copy must stay
    for info in (second, third):
        at.selectbox(key="dataset.picker").select(info.id).run()
    assert set(at.session_state["dataset.drafts"]) == {first.id, third.id}
    at.selectbox(key="dataset.picker").select(second.id).run()  # read again from disk
    assert at.data_editor[0].value["question"].tolist() == [r["question"] for r in RECS] and not at.warning
    at.selectbox(key="dataset.picker").select(first.id).run()
    assert "Unsaved changes: 1 edited." in texts(at.warning)
    assert at.data_editor[0].value["answer"].tolist()[0] == "kept"


def browser_edit(at: AppTest, edited=None, added=None) -> AppTest:
    """Type into the table as the browser reports it: the edit state under the table's element id (the id
    the table had when it was drawn), with the other widgets' values, then a rerun."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    editor_id = at.data_editor[0].proto.id
    states = WidgetStates()
    for w in at._tree.get_widget_states().widgets:
        if w.id != editor_id:
            states.widgets.append(w)
    sent = states.widgets.add()
    sent.id = editor_id
    sent.string_value = json.dumps({"edited_rows": edited or {}, "added_rows": added or [], "deleted_rows": []})
    return at._run(states)


def test_adding_a_row_below_an_edit_keeps_the_edit():
    """A click on the table's add row made the table one row taller, which Streamlit takes for a new table (a new
    element id): the browser drew it afresh, without the edit typed just before ("All changes saved" in Chromium),
    and without the row being added. The browser keeps a table's edits under its element id, so the id must hold."""
    six = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(6)]
    info = store.create_dataset("Six", six)
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    mine = {"0": {"answer": "Edited before the add."}}
    browser_edit(at, edited=mine)
    drawn = at.data_editor[0].proto.id
    browser_edit(at, edited=mine, added=[{}])  # the click on the add row
    assert at.data_editor[0].proto.id == drawn, "a new table: the browser drops the edits it held"
    browser_edit(at, edited=mine, added=[{"question": "Added?", "answer": "Yes."}])
    assert "Unsaved changes: 1 added, 1 edited." in texts(at.warning)
    at.button(key="dataset.save").click().run()
    saved = store.load_version(info.id)
    assert saved[0]["answer"] == "Edited before the add." and saved[-1] == {"question": "Added?", "answer": "Yes."}


def test_a_file_with_no_valid_record_says_why_nothing_imports_and_offers_to_bring_them_in_to_fix():
    rows = [{"question": "", "answer": "Eleven"}, {"question": "Who restarts?", "answer": ""}]
    at = _upload(open_page(), "broken.json", json.dumps(rows).encode())
    assert not at.exception
    (line,) = [t for t in texts(at.tabs[1].info) if t.startswith("Nothing to import")]
    assert "none of its 2 records is valid" in line and "Fix the file" in line and "bring them all in" in line
    choice = at.radio(key="dataset.import.invalid.none")
    assert choice.value == "none" and not any("0 valid" in o for o in choice.options)
    assert at.button(key="dataset.import.create").disabled
    choice.set_value("fix").run()
    at.text_input(key="dataset.import.name.broken.json").input("Broken").run()
    at.button(key="dataset.import.create").click().run()
    assert not at.exception
    assert texts(at.success)[0].startswith("Created Broken with no record yet; the 2 to fix are in the Edit tab")


def test_a_number_answer_brought_in_to_fix_comes_in_as_its_text_said_so_and_saves_at_once():
    """ "answer": 11 showed as 11 in the editor, but retyping 11 was no edit: the record stayed invalid and the
    version could not be saved until other text was typed. It comes in as "11", valid: the choice and the line
    after the import count it as coming in as text, not among the records to fix (they said "fix the 3")."""
    rows = [{"question": "How many players per side?", "answer": 11}, {"question": "Offside?", "answer": True},
            {"question": "Who restarts?", "answer": "The referee."}, {"question": "", "answer": "Nobody asked."}]
    at = _upload(open_page(), "numbers.json", json.dumps(rows).encode())
    choice = at.radio(key="dataset.import.invalid")
    label = dict(zip(choice.options, ["skip", "fix"]))
    (fix,) = [o for o, way in label.items() if way == "fix"]
    assert fix.startswith("Bring all 4 in: the 2 with a number or true/false as the question or answer come in as "
                          "their text") and "fix the one other invalid record in the editor" in fix
    choice.set_value("fix").run()
    (note,) = [t for t in texts(at.tabs[1].info) if "true/false" in t]
    assert note.startswith("Records 1, 2 of the file hold a number or true/false as the question or answer")
    assert "nothing to fix" in note
    at.text_input(key="dataset.import.name.numbers.json").input("Numbers").run()
    at.button(key="dataset.import.create").click().run()
    assert texts(at.success)[0].startswith("Created Numbers with the 3 valid records as version 1; the one to fix is")
    assert "Records 1, 2 of the file" in texts(at.success)[0]
    info = store.find_dataset("Numbers")
    assert [r["answer"] for r in store.load_version(info.id)] == ["11", "true", "The referee."]
    assert at.data_editor[0].value["answer"].tolist()[:2] == ["11", "true"]
    at = edit(at, deleted=[3])  # the one record still to fix: what is left is version 1, nothing to save
    assert not at.exception and not at.warning


def test_a_number_brought_in_as_text_is_shown_as_the_file_held_it_not_as_11():
    """A file whose answer was 12 was told, before and after the import, that it "comes in as its text (11 as
    \"11\")": read as if its 12 had become 11. The lines show the file's own value."""
    rows = [{"question": "How many staff work here?", "answer": 12}, {"question": "Gift cards?", "answer": ""},
            {"question": "Open on Sundays?", "answer": "No."}]
    at = _upload(open_page(), "shop.json", json.dumps(rows).encode())
    choice = at.radio(key="dataset.import.invalid")
    assert 'comes in as its text (12 as "12")' in choice.options[1] and "11" not in choice.options[1]
    choice.set_value("fix").run()
    at.button(key="dataset.import.create").click().run()
    assert 'it comes in as its text (12 as "12"), nothing to fix.' in texts(at.success)[0]
    assert "11" not in texts(at.success)[0]


def test_a_file_whose_only_invalid_records_hold_numbers_comes_in_whole_with_nothing_to_fix():
    rows = [{"question": "How many players per side?", "answer": 11}, {"question": "Who restarts?", "answer": "Ref."}]
    at = _upload(open_page(), "numbers.json", json.dumps(rows).encode())
    choice = at.radio(key="dataset.import.invalid")
    assert choice.options[1].startswith("Bring all 2 in: the one with a number or true/false")
    assert choice.options[1].endswith("nothing to fix") and "editor" not in choice.options[1]
    choice.set_value("fix").run()
    at.text_input(key="dataset.import.name.numbers.json").input("Numbers").run()
    at.button(key="dataset.import.create").click().run()
    assert texts(at.success)[0].startswith("Imported 2 records into a new dataset, Numbers.")
    info = store.find_dataset("Numbers")
    assert [r["answer"] for r in store.load_version(info.id)] == ["11", "Ref."]
    assert not at.warning  # no unsaved change is left to check or save


def test_a_file_whose_records_all_hold_numbers_is_not_told_to_fix_them_in_the_editor():
    rows = [{"question": "How many players per side?", "answer": 11}, {"question": "Offside?", "answer": False}]
    at = _upload(open_page(), "numbers.json", json.dumps(rows).encode())
    (line,) = [t for t in texts(at.tabs[1].info) if t.startswith("Nothing to import")]
    assert "editor" not in line and "nothing left to fix" in line
    choice = at.radio(key="dataset.import.invalid.none")
    assert choice.options[1].endswith("come in as their text (11 as \"11\"), nothing to fix")


def test_a_pipe_separated_upload_imports_and_the_page_says_which_delimiter_it_found():
    data = b"question|answer\nWhat is offside?|Nearer the goal line, than the ball\nHow long, exactly?|45 minutes\n"
    at = _upload(open_page(), "faq.csv", data)
    assert not at.tabs[1].error
    assert "Read **2 records** as CSV (cells separated by pipes (|))." in texts(at.tabs[1].markdown)
    assert at.tabs[1].dataframe[0].value["answer"].tolist() == ["Nearer the goal line, than the ball", "45 minutes"]


def test_the_cells_an_edit_changed_are_named_under_the_table_with_their_saved_text():
    """In a 200-row table the banner said "1 edited" and nothing said which cell: the editor marks no cell."""
    rows = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(200)]
    info = store.create_dataset("Big", rows)
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    at = edit(at, edited={137: {"answer": "Changed."}, 41: {"question": "Question 41, asked again?"}},
              added=[{"question": "New?", "answer": "Yes."}], deleted=[3])
    assert "Unsaved changes: 1 added, 1 removed, 2 edited." in texts(at.warning)
    changed = table_with(at, "field").astype(object).where(lambda f: f.notna(), None)  # a deleted record has none
    assert changed.to_dict("records") == [
        {"record": 41, "field": "question", "saved": "Question 41?", "now": "Question 41, asked again?"},
        {"record": 137, "field": "answer", "saved": "Answer 137.", "now": "Changed."},
        {"record": 200, "field": "(new record)", "saved": "", "now": "Q: New? · A: Yes."},
        {"record": None, "field": "(deleted)", "saved": "Q: Question 3? · A: Answer 3.", "now": ""}]
    assert any(t.startswith("4 changes, cell by cell") for t in texts(at.caption))


def _number_default(at: AppTest) -> int | None:
    """The # a row added to the table shows at once (the editor's default for its # column)."""
    return json.loads(at.data_editor[0].proto.columns)["_number"].get("default")


def test_a_row_added_in_the_table_shows_its_number_at_once_and_the_next_one_the_number_after():
    """A row added in the table had no # until the table was built again (on another page or search), so the list
    of changes named it by a record number no row showed."""
    at, info = open_mine()
    assert _number_default(at) == 3  # the row a person adds under records 1 and 2 shows 3 as it appears
    edit(at, edited={1: {"answer": "11."}}, added=[{"_number": 3, "question": "Who restarts?"}])
    assert table_with(at, "field")[["record", "field"]].values.tolist() == [[2, "answer"], [3, "(new record)"]]
    # its answer typed: the table is built again with it as record 3, and the next row added shows 4, not 3 again
    edit(at, edited={1: {"answer": "11."}}, added=[{"_number": 3, "question": "Who restarts?", "answer": "The referee."}])
    assert at.data_editor[0].value["_number"].tolist() == [1, 2, 3]
    assert at.data_editor[0].value["answer"].tolist() == ["45 minutes.", "11.", "The referee."]
    assert _number_default(at) == 4
    # two rows added before either is whole: built again at once, so no two rows show the same number
    edit(at, added=[{"_number": 4, "question": "Half time?"}, {"_number": 4, "answer": "Ninety."}])
    assert at.data_editor[0].value["_number"].tolist() == [1, 2, 3, 4, 5] and _number_default(at) == 6


def test_blank_rows_added_before_a_save_each_show_a_number_of_their_own_kept_by_the_save():
    """Rows added in the table and left blank all showed the one number a row added takes (its # default), 3, 3, 3:
    Streamlit gives every row added that default. A second blank row now builds the table again with the blank rows
    numbered on from the records, and the next row added shows the number after them; typed in and saved, each keeps
    the number it showed, in the table and in the Versions tab."""
    at, info = open_mine()
    edit(at, added=[{"_number": 3}, {"_number": 3}])  # two blank rows, both showing 3
    shown = at.data_editor[0].value
    assert shown["_number"].tolist() == [1, 2, 3, 4] and shown["question"].tolist()[2:] == ["", ""]
    assert _number_default(at) == 5
    edit(at, added=[{"_number": 5}])  # a third: 5, not 3 again
    edit(at, edited={2: {"question": "Who restarts?", "answer": "The referee."},
                     3: {"question": "Half time?", "answer": "Fifteen minutes."}}, added=[{"_number": 5}])
    shown = at.data_editor[0].value
    assert shown["_number"].tolist() == [1, 2, 3, 4, 5]
    assert shown["question"].tolist()[2:] == ["Who restarts?", "Half time?", ""]  # the blank one stays, numbered 5
    assert table_with(at, "field")[["record", "field"]].values.tolist() == [[3, "(new record)"], [4, "(new record)"]]
    at.button(key="dataset.save").click().run()
    assert [r["question"] for r in store.load_version(info.id)][2:] == ["Who restarts?", "Half time?"]
    shown = at.data_editor[0].value
    assert shown["_number"].tolist() == [1, 2, 3, 4, 5] and shown["question"].tolist()[2:] == [
        "Who restarts?", "Half time?", ""]
    at.session_state["dataset.tab"] = "Versions"
    at.run()
    assert not at.exception
    added = table_with(at, "record")
    assert added[["record", "question"]].values.tolist() == [[3, "Who restarts?"], [4, "Half time?"]]


def test_a_row_typed_in_below_a_blank_row_stays_where_it_was_typed():
    """Two rows added, the second typed in whole while the first was still blank: the table was built again with the
    blank row after the records, so the text typed in row 4 jumped up to row 3 under the person's eyes. Each row now
    keeps its place; the blank one above shows no # until typed in, and once it is, the records keep the table's order."""
    at, info = open_mine()
    edit(at, added=[{"_number": 3}, {"_number": 3}])  # two blank rows: 3 and 4
    edit(at, edited={3: {"question": "Typed in row 4?", "answer": "Yes."}})
    shown = at.data_editor[0].value
    assert shown["question"].tolist() == ["How long is a half?", "How many players?", "", "Typed in row 4?"]
    numbers = shown["_number"].tolist()
    assert numbers[:2] == [1, 2] and numbers[2] != numbers[2] and numbers[3] == 3  # NaN: a blank row has no # yet
    assert table_with(at, "field")[["record", "field"]].values.tolist() == [[3, "(new record)"]]
    edit(at, edited={2: {"question": "Then row 3?", "answer": "Also."}})
    shown = at.data_editor[0].value
    assert shown["question"].tolist()[2:] == ["Then row 3?", "Typed in row 4?"]
    assert shown["_number"].tolist() == [1, 2, 3, 4]
    at.button(key="dataset.save").click().run()
    assert [r["question"] for r in store.load_version(info.id)][2:] == ["Then row 3?", "Typed in row 4?"]


def test_a_row_added_on_a_search_shows_the_number_it_takes_after_the_last_record_shown():
    info = store.create_dataset("Mine", RECS + [{"question": "Who keeps time?", "answer": "The referee."}])
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    at.text_input(key="dataset.search").input("players").run()  # record 2 only
    assert _number_default(at) == 3  # a row added here goes after record 2, moving "Who keeps time?" to 4
    edit(at, added=[{"_number": 3, "question": "Substitutes?", "answer": "Five."}])
    at.text_input(key="dataset.search").input("").run()
    assert at.data_editor[0].value["question"].tolist()[2:] == ["Substitutes?", "Who keeps time?"]


def test_a_row_added_on_a_search_stays_in_sight_once_typed_in_whole_though_it_does_not_match():
    """Its question and answer typed, the table was built again on the search, and a row that did not match it
    vanished as the person finished it. It stays, edits to it too, until another search or page is shown."""
    info = store.create_dataset("Mine", RECS + [{"question": "Who keeps time?", "answer": "The referee."}])
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    at.text_input(key="dataset.search").input("players").run()  # record 2 only
    edit(at, added=[{"_number": 3, "question": "Substitutes?", "answer": "Five."}])
    assert at.data_editor[0].value["question"].tolist() == ["How many players?", "Substitutes?"]
    at.button(key="dataset.save").click().run()  # saved: still in sight
    assert store.load_version(info.id)[2] == {"question": "Substitutes?", "answer": "Five."}
    assert at.data_editor[0].value["question"].tolist() == ["How many players?", "Substitutes?"]
    edit(at, edited={1: {"answer": "Five, in most leagues."}}, added=[{"_number": 4, "question": "Extra time?"},
                                                                     {"_number": 4, "answer": "Thirty minutes."}])
    shown = at.data_editor[0].value
    assert shown["question"].tolist() == ["How many players?", "Substitutes?", "Extra time?", ""]
    assert shown["answer"].tolist()[1:] == ["Five, in most leagues.", "", "Thirty minutes."]
    at.text_input(key="dataset.search").input("keeps").run()  # another search: only what matches it
    assert at.data_editor[0].value["question"].tolist() == ["Who keeps time?"]


def test_the_import_preview_shows_a_true_or_a_list_as_the_file_wrote_it_not_as_python_does():
    """The preview showed True and ['a'] (Python's repr) of a file holding true and ["a"]."""
    rows = [{"question": "Is VAR used?", "answer": True, "tags": ["var", "rules"]}]
    at = _upload(open_page(), "var.json", json.dumps(rows).encode())
    preview = at.tabs[1].dataframe[0].value
    assert preview["answer"].tolist() == ["true"] and preview["tags"].tolist() == ['["var", "rules"]']


def test_unsaved_edits_survive_a_browser_reload_said_so_and_can_be_discarded():
    """A reload is a new session: the edits typed before it were gone (another page and back kept them)."""
    at, info = open_mine()
    edit(at, edited={0: {"answer": "Forty-five minutes."}}, added=[{"question": "Who restarts?", "answer": "The referee."}])
    reloaded = reload_of(at)  # the same workspace, a new session: the browser reloaded
    reloaded.selectbox(key="dataset.picker").select(info.id).run()
    table = reloaded.data_editor[0].value
    assert table["answer"].tolist() == ["Forty-five minutes.", "Eleven.", "The referee."]
    assert [w for w in texts(reloaded.warning) if "Unsaved" in w] == [
        "Unsaved changes from before the reload: 1 added, 1 edited (kept in this workspace). Save them, or press "
        "Discard changes to go back to the saved version."]
    reloaded.button(key="dataset.discard").click().run()
    assert "Changes discarded." in texts(reloaded.success)
    again = open_page()
    again.selectbox(key="dataset.picker").select(info.id).run()
    assert again.data_editor[0].value["answer"].tolist() == ["45 minutes.", "Eleven."] and not again.warning


def test_edits_kept_across_a_reload_are_saved_as_typed_and_then_forgotten():
    at, info = open_mine()
    edit(at, edited={1: {"answer": "11."}})
    reloaded = reload_of(at)
    reloaded.selectbox(key="dataset.picker").select(info.id).run()
    reloaded.button(key="dataset.save").click().run()
    assert "Saved version 2: 2 records." in texts(reloaded.success)
    assert store.load_version(info.id) == [RECS[0], {"question": "How many players?", "answer": "11."}]
    again = open_page()
    again.selectbox(key="dataset.picker").select(info.id).run()
    assert not again.warning  # saved: nothing left to bring back


def test_edits_kept_across_a_reload_onto_a_version_saved_since_meet_the_conflict_panel():
    at, info = open_mine("Shared")
    edit(at, edited={1: {"answer": "bob's answer"}})
    store.save_version(info.id, [{**RECS[0], "answer": "alice's answer"}, RECS[1]], base_version=1)
    reloaded = reload_of(at)
    reloaded.selectbox(key="dataset.picker").select(info.id).run()
    assert any(w.startswith("Unsaved changes from before the reload: 1 edited") for w in texts(reloaded.warning))
    reloaded.button(key="dataset.save").click().run()
    assert any("saved by someone else (version 2)" in e for e in texts(reloaded.error))
    reloaded.button(key="dataset.conflict.merge").click().run()
    reloaded.button(key="dataset.save").click().run()
    assert [r["answer"] for r in store.load_version(info.id)] == ["alice's answer", "bob's answer"]


def test_after_a_reload_the_train_page_says_the_dataset_has_unsaved_edits_before_the_dataset_page_is_opened():
    at, info = open_mine()
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    train = train_page_on(info)  # reloaded, on the Train page
    # A reload on the Train page has no ?tab= (Streamlit drops it on a page change, seen in Chromium): whose edits
    # these are cannot be told, so the line does not call them this tab's
    assert unsaved_lines(train) == [
        "Mine has unsaved changes on the Dataset page (1 edited, kept by a browser tab, this one before a reload or "
        "another): a run trains on the saved v1. Save them there first to train on them."]
    edit(at, edited={0: {"answer": "Forty-five minutes."}, 1: {"answer": "Eleven, always."}})  # kept again
    train.run()
    assert unsaved_lines(train) == [
        "Mine has unsaved changes on the Dataset page (2 edited, kept by a browser tab, this one before a reload or "
        "another): a run trains on the saved v1. Save them there first to train on them."]
    train.query_params["tab"] = at.query_params["tab"]  # this tab's id known: its own edits, said as before
    train.run()
    assert unsaved_lines(train) == [
        "Mine has unsaved changes on the Dataset page (2 edited): a run trains on the saved v1. Save them there first "
        "to train on them."]


def test_the_train_page_does_not_give_another_tabs_unsaved_edits_as_this_ones():
    """One tab edits a dataset and keeps its edits unsaved; a second tab, which opened the Dataset page on it and
    never edited it, went to Train and read "Mine has unsaved changes on the Dataset page (1 edited)" as its own."""
    first, info = open_mine()
    edit(first, edited={0: {"answer": "Forty-five minutes."}})
    second = open_page()  # another browser tab: its own id, nothing edited
    assert second.query_params["tab"] != first.query_params["tab"]
    train = train_page_on(info, second.session_state["dataset.tab_id"])  # that tab, on to Train
    assert unsaved_lines(train) == [
        "Mine has unsaved changes on the Dataset page (1 edited, kept by another browser tab): a run trains on the "
        "saved v1. Save them there first to train on them."]


def test_another_tab_is_offered_the_unsaved_edits_of_a_tab_beside_it_not_handed_them():
    """Kept for a reload, one tab's unsaved edits came up in every other tab of the workspace as its own "from before
    the reload": a second tab of the same person showed and saved the first tab's edits with its own. Another tab (or
    a visit after the tab was closed) is offered them, and brings them in with one click."""
    first, info = open_mine()
    edit(first, edited={0: {"answer": "Forty-five minutes."}})
    other = open_page()  # another tab: an address of its own
    other.selectbox(key="dataset.picker").select(info.id).run()
    assert other.data_editor[0].value["answer"].tolist() == ["45 minutes.", "Eleven."]
    assert not [w for w in texts(other.warning) if "Unsaved" in w]
    assert [i for i in texts(other.info) if i.startswith("Another tab")] == [
        "Another tab, open now, left unsaved changes to this dataset: 1 edited, kept in this "
        "workspace apart from yours. Bring them here to go on with them. (The workspace keeps the unsaved changes of "
        "4 tabs per dataset; a tab beyond that drops the oldest closed tab's, never an open tab's.)"]
    edit(first, edited={0: {"answer": "Forty-five minutes."}, 1: {"answer": "11."}})  # the first tab goes on
    other.run()
    assert any(i.startswith("Another tab, open now, left unsaved changes to this dataset: 2 edited")
               for i in texts(other.info))
    other.button(key="dataset.draft.bring").click().run()
    assert other.data_editor[0].value["answer"].tolist() == ["Forty-five minutes.", "11."]
    assert [w for w in texts(other.warning) if "Unsaved" in w][0].startswith("Unsaved changes brought in from another tab")
    assert not [i for i in texts(other.info) if i.startswith("Another tab")]


def test_an_earlier_visits_unsaved_import_brought_in_after_a_newer_save_goes_on_top_of_it_and_saves():
    """An import left unsaved by an earlier visit was offered as "Another tab (open now, or closed since)"'s; brought
    in after a newer save, Save opened the conflict panel ("saved since you started editing") over a version this tab
    never had. The offer now says whose and on which version they were made, bringing them in puts them on top of the
    latest, and Save saves them."""
    info = store.create_dataset("Mine", RECS)
    added = {"question": "Who restarts?", "answer": "The referee."}
    editing.save_draft(info.id, 1, RECS, [*RECS, added], "0123456789ab")  # an earlier visit's tab, closed since
    store.save_version(info.id, [RECS[0], {**RECS[1], "answer": "11."}], base_version=1, message="players")
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    offer = [i for i in texts(at.info) if "left unsaved changes" in i][0]
    assert offer.startswith("A tab closed since (an earlier visit, or a window closed) left unsaved changes to this "
                            "dataset: 1 added") and "made on version 1, and version 2 was saved since" in offer
    at.button(key="dataset.draft.bring").click().run()
    assert at.data_editor[0].value["answer"].tolist() == ["45 minutes.", "11.", "The referee."]
    assert [w for w in texts(at.warning) if "Unsaved" in w][0].startswith("Unsaved changes brought in from another tab")
    at.button(key="dataset.save").click().run()
    assert not at.error and not at.exception
    assert store.load_version(info.id) == [RECS[0], {**RECS[1], "answer": "11."}, added]


def test_two_tabs_editing_one_dataset_both_keep_their_unsaved_edits():
    """A second tab that edited without bringing the first tab's edits in replaced them in the workspace: a reload of
    the first tab found the second's edits, its own gone. Each tab's are kept apart; the other's stay on offer."""
    first, info = open_mine()
    edit(first, edited={0: {"answer": "Forty-five minutes."}})
    second = open_page()
    second.selectbox(key="dataset.picker").select(info.id).run()
    edit(second, edited={1: {"answer": "11 players."}})
    assert [i for i in texts(second.info) if i.startswith("Another tab")] == [
        "Another tab, open now, left unsaved changes to this dataset: 1 edited, kept in this "
        "workspace apart from yours. Save or discard this tab's changes first to bring those in."]
    first_again = reload_of(first)
    first_again.selectbox(key="dataset.picker").select(info.id).run()
    assert first_again.data_editor[0].value["answer"].tolist() == ["Forty-five minutes.", "Eleven."]
    second_again = reload_of(second)
    second_again.selectbox(key="dataset.picker").select(info.id).run()
    assert second_again.data_editor[0].value["answer"].tolist() == ["45 minutes.", "11 players."]
    second_again.button(key="dataset.discard").click().run()  # the second drops its own; the first's are offered
    second_again.button(key="dataset.draft.bring").click().run()
    assert second_again.data_editor[0].value["answer"].tolist() == ["Forty-five minutes.", "Eleven."]


def _five_tabs_editing_one_dataset(each=None) -> tuple:
    """A dataset and five tabs, opened one after another, each with its own unsaved edit ("Tab 0." ... "Tab 4.");
    ``each(n, tab)`` after each one's edit."""
    info = store.create_dataset("Mine", RECS)
    tabs = []
    for n in range(5):
        tab = open_page()
        tab.selectbox(key="dataset.picker").select(info.id).run()
        edit(tab, edited={0: {"answer": f"Tab {n}."}})
        tabs.append(tab)
        if each is not None:
            each(n, tab)
    return info, tabs


@pytest.fixture
def closed_tabs(monkeypatch):
    """Every other tab closed (AppTest's stand-in runtime says every session is open: the fail-safe answer)."""
    from studio.ui import dataset_drafts

    monkeypatch.setattr(dataset_drafts, "_tab_open", lambda tab: False)


def _kept_answers(info) -> list[str]:
    return sorted(editing.load_draft(info.id, k.tab)[2][0]["answer"] for k in editing.kept_drafts(info.id))


def _edit_banner(at: AppTest) -> list[str]:
    return [w for w in texts(at.warning) if w.startswith("Unsaved changes")]


def test_a_fifth_tab_editing_one_dataset_drops_the_oldest_closed_tabs_kept_edits_and_says_so(closed_tabs):
    """The other tabs closed: the oldest kept edits make room, said in the fifth tab's banner."""
    info, tabs = _five_tabs_editing_one_dataset()
    assert [w for w in texts(tabs[-1].warning) if "dropped" in w] == [
        "Unsaved changes: 1 edited; kept for a browser reload, and to make room the unsaved changes a closed tab left "
        "to this dataset were dropped, the oldest (the workspace keeps those of 4 tabs per dataset, never dropping an "
        "open tab's)."]
    assert _kept_answers(info) == ["Tab 1.", "Tab 2.", "Tab 3.", "Tab 4."]


def test_a_fifth_tab_drops_a_closed_tabs_kept_edits_never_an_open_ones(monkeypatch):
    """A fifth tab dropped the oldest tab's kept edits though that tab was still open and editing: its reload lost
    them. Only a closed tab's are dropped, the oldest closed first."""
    from studio.ui import dataset_drafts

    open_tabs: set[str] = set()
    monkeypatch.setattr(dataset_drafts, "_tab_open", open_tabs.__contains__)

    def opened(n: int, tab: AppTest) -> None:
        if n != 1:  # tab 1 is closed; tab 0, the oldest, is still open
            open_tabs.add(tab.session_state["dataset.tab_id"])

    info, tabs = _five_tabs_editing_one_dataset(opened)
    assert _kept_answers(info) == ["Tab 0.", "Tab 2.", "Tab 3.", "Tab 4."]
    reloaded = reload_of(tabs[0])
    reloaded.selectbox(key="dataset.picker").select(info.id).run()
    assert reloaded.data_editor[0].value["answer"].tolist() == ["Tab 0.", "Eleven."]


def test_a_fifth_tab_beside_four_open_ones_keeps_none_dropped_and_says_so_in_one_line(monkeypatch):
    from studio.ui import dataset_drafts

    info, tabs = _five_tabs_editing_one_dataset()  # AppTest's stand-in runtime: every tab open
    assert _kept_answers(info) == ["Tab 0.", "Tab 1.", "Tab 2.", "Tab 3."]
    assert _edit_banner(tabs[-1]) == [
        "Unsaved changes: 1 edited; not kept for a browser reload: 4 other tabs open now keep theirs to this dataset, "
        "the most the workspace keeps (4 tabs per dataset). Save them, or close one of those tabs and they are kept "
        "at your next click here."]
    assert not [w for w in texts(tabs[-1].warning) if not w.startswith("Unsaved changes")]
    monkeypatch.setattr(dataset_drafts, "_tab_open", lambda tab: tab != tabs[2].session_state["dataset.tab_id"])
    tabs[-1].run()  # tab 2 closed: the next click keeps this tab's edits in its place
    assert _kept_answers(info) == ["Tab 0.", "Tab 1.", "Tab 3.", "Tab 4."]
    assert _edit_banner(tabs[-1])[0].startswith("Unsaved changes: 1 edited; kept for a browser reload, and to make "
                                                "room the unsaved changes a closed tab left")
    tabs[-1].run()
    assert _edit_banner(tabs[-1]) == ["Unsaved changes: 1 edited."]


def test_a_tab_whose_kept_edits_a_fifth_tab_dropped_keeps_them_again_on_its_next_run_and_says_so(closed_tabs):
    """The oldest tab's kept edits were dropped (the server took it for closed): its edits stayed on screen, and a
    reload lost them. On its next run it sees they are gone, keeps them again (dropping the now-oldest other tab's)
    and says so; its reload then finds them."""
    info, tabs = _five_tabs_editing_one_dataset()
    first = tabs[0]
    first.run()  # its next run (any click), its edits unchanged
    assert _edit_banner(first) == [
        "Unsaved changes: 1 edited; dropped from the workspace while other tabs kept theirs, and kept again now so a "
        "browser reload finds them. Save them to be sure."]
    first.run()
    assert _edit_banner(first) == ["Unsaved changes: 1 edited."]  # said once
    assert _kept_answers(info) == ["Tab 0.", "Tab 2.", "Tab 3.", "Tab 4."]
    reloaded = reload_of(first)
    reloaded.selectbox(key="dataset.picker").select(info.id).run()
    assert reloaded.data_editor[0].value["answer"].tolist() == ["Tab 0.", "Eleven."]


def test_a_reloaded_tab_whose_kept_edits_were_dropped_reads_one_line_about_them(closed_tabs):
    """A reloaded tab whose kept edits were then dropped showed two warnings about them at once ("This tab's unsaved
    changes were dropped ... kept again now" and "Unsaved changes from before the reload"): one line now says both."""
    first, info = open_mine()
    edit(first, edited={0: {"answer": "Mine."}})
    first = reload_of(first)
    first.selectbox(key="dataset.picker").select(info.id).run()
    for n in range(4):  # four more tabs: the first tab's kept edits make room (taken for closed)
        tab = open_page()
        tab.selectbox(key="dataset.picker").select(info.id).run()
        edit(tab, edited={0: {"answer": f"Tab {n}."}})
    first.run()
    assert [w for w in texts(first.warning) if "nsaved" in w] == [
        "Unsaved changes from before the reload: 1 edited; dropped from the workspace while other tabs kept theirs, "
        "and kept again now so a browser reload finds them. Save them to be sure."]


@pytest.mark.parametrize("fault", ["missing", "raises", "mock"])
def test_tabs_count_as_open_when_streamlits_session_api_is_missing_or_fails(monkeypatch, fault):
    """``Runtime.is_active_session`` is Streamlit's internal API: were it renamed or failing, the page crashed. It
    fails safe: a tab that ran its page lately counts as open, and a fifth tab drops none of the others' kept edits."""
    from streamlit.runtime import Runtime

    from studio.ui import dataset_drafts, streamlit_internals

    for session in ("some session", "first", "copy", *(f"{n:012x}" for n in range(5))):
        streamlit_internals._saw(session)  # each ran its page just now (``streamlit_internals.session_id``)

    class Stub:
        def is_active_session(self, session_id):
            if fault == "raises":
                raise RuntimeError("session manager gone")
            return object()  # neither True nor False

    info = store.create_dataset("Mine", RECS)
    with monkeypatch.context() as patched:  # only around the calls: Streamlit's caches read the runtime too
        patched.setattr(Runtime, "exists", classmethod(lambda cls: True))
        patched.setattr(Runtime, "instance", classmethod(lambda cls: object() if fault == "missing" else Stub()))
        assert dataset_drafts._session_open("some session") is True
        holders = {}
        first = dataset_drafts.claim_tab("0123456789ab", "first", holders, dataset_drafts._session_open)
        assert dataset_drafts.claim_tab(first, "copy", holders, dataset_drafts._session_open) != first
        # and the kept edits it guards: every other tab counted open, none of theirs is dropped by a fifth
        for n in range(5):
            editing.save_draft(info.id, 1, RECS, [{**RECS[0], "answer": f"Tab {n}."}, RECS[1]], f"{n:012x}",
                               is_open=dataset_drafts._session_open)
    assert _kept_answers(info) == ["Tab 0.", "Tab 1.", "Tab 2.", "Tab 3."]


def test_a_tab_whose_kept_edits_another_tab_brought_in_does_not_keep_them_again():
    first, info = open_mine()
    edit(first, edited={0: {"answer": "Forty-five minutes."}})
    other = open_page()
    other.selectbox(key="dataset.picker").select(info.id).run()
    other.button(key="dataset.draft.bring").click().run()
    first.run()
    first.run()
    assert not [w for w in texts(first.warning) if "kept again" in w]
    assert [k.tab for k in editing.kept_drafts(info.id)] == [other.session_state["dataset.tab_id"]]


def test_the_train_page_names_the_command_lines_records_to_fix_as_the_command_lines(tmp_path):
    """A session with no tab id (a reload on Train) matched the command line's kept records, which have no tab, as
    its own: "Broken has unsaved changes on the Dataset page (1 added)"."""
    from studio.__main__ import main

    src = tmp_path / "broken.json"
    src.write_text(json.dumps([RECS[0], {"question": "", "answer": "Nobody asked."}]))
    assert main(["dataset", "create", "Broken", "--from", str(src), "--keep-invalid"]) == 0
    train = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=90)
    train.session_state["dataset.selected"] = store.find_dataset("Broken").id
    train.run()
    assert not train.exception
    assert unsaved_lines(train) == [
        "Broken has unsaved changes on the Dataset page (1 added, kept by the command line (dataset create "
        "--keep-invalid: its records to fix)): a run trains on the saved v1. Save them there first to train on them."]


def test_records_to_fix_from_dataset_create_keep_invalid_are_offered_on_the_page_and_marked(tmp_path):
    from studio.__main__ import main

    src = tmp_path / "broken.json"
    src.write_text(json.dumps([RECS[0], {"question": "", "answer": "Nobody asked."}]))
    assert main(["dataset", "create", "Broken", "--from", str(src), "--keep-invalid"]) == 0
    info = store.find_dataset("Broken")
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert [i for i in texts(at.info) if "left unsaved changes" in i][0].startswith(
        "The command line (dataset create --keep-invalid: the records to fix), or an older studio, left unsaved "
        "changes to this dataset: 1 added")
    at.button(key="dataset.draft.bring").click().run()
    table = at.data_editor[0].value
    assert table["problem"].tolist() == ["", "question is empty"]
    # fixed and saved with no message typed: the version says what the save was (it read "edited")
    edit(at, edited={1: {"question": "Who asked?"}})
    at.button(key="dataset.save").click().run()
    assert not at.error and store.find_dataset("Broken").latest.message == "fixed 1 record (1 added)"


def test_the_command_lines_records_to_fix_are_named_as_such_when_offered_and_when_a_tab_drops_them(tmp_path):
    """The offer said only that a tab beyond 4 drops "the oldest closed tab's", and a fourth tab that dropped the
    command line's records to fix said "the unsaved changes a closed tab left" were dropped: neither said that the
    command line's count as a closed tab's, nor whose were gone."""
    from studio.__main__ import main

    src = tmp_path / "broken.json"
    src.write_text(json.dumps([RECS[0], {"question": "", "answer": "x"}]), encoding="utf-8")
    assert main(["dataset", "create", "Mine", "--from", str(src), "--keep-invalid"]) == 0
    info = store.find_dataset("Mine")
    tabs = []
    for n in range(4):  # AppTest's stand-in runtime: every tab open; the command line's copy counts as closed
        tab = open_page()
        tab.selectbox(key="dataset.picker").select(info.id).run()
        if n == 0:
            assert [i for i in texts(tab.info) if "left unsaved changes" in i][0].endswith(
                "(The workspace keeps the unsaved changes of 4 tabs per dataset; a tab beyond that drops the oldest "
                "closed tab's, never an open tab's, and these count as a closed tab's.)")
        edit(tab, edited={0: {"answer": f"Tab {n}."}})
        tabs.append(tab)
    assert _edit_banner(tabs[-1]) == [
        "Unsaved changes: 1 edited; kept for a browser reload, and to make room the unsaved changes the command line "
        "(dataset create --keep-invalid: its records to fix) left to this dataset were dropped, the oldest (the "
        "workspace keeps those of 4 tabs per dataset, never dropping an open tab's)."]


def test_a_duplicated_tab_gets_an_id_of_its_own_while_a_reload_keeps_its_own():
    """A browser's "Duplicate tab" copies the address, ?tab= included: both tabs took one id, so each one's unsaved
    edits replaced the other's kept copy. A session arriving with an id an open session holds gets a new one."""
    from studio.ui import dataset as dui

    holders: dict[str, str] = {}
    open_now = {"first"}
    first = dui.claim_tab("0123456789ab", "first", holders, open_now.__contains__)
    assert first == "0123456789ab"
    copy = dui.claim_tab("0123456789ab", "copy", holders, open_now.__contains__)  # the first tab is still open
    assert copy != first and len(copy) == 12
    open_now.discard("first")  # the first tab reloaded: its old session is gone
    assert dui.claim_tab("0123456789ab", "first-reloaded", holders, open_now.__contains__) == first
    assert dui.claim_tab("../../etc", "x", holders, open_now.__contains__) not in ("../../etc", first)


def test_the_tables_rows_wrap_long_questions_and_answers_and_the_page_says_how_to_read_one_whole():
    """At 800 px the sample's Question and Answer columns (170 px each) showed one line of each record, cut mid-word
    ("How many players are on a so"), and nothing on the page said how to read the rest. The rows now wrap the text
    over three lines where it is longer than a line, and the caption says a double-click opens a cell's whole text;
    short texts keep one-line rows."""
    at = open_page()  # the sample: questions of 44 characters, answers of 111 (medians)
    assert at.data_editor[0].proto.row_height == 72
    assert any("Double-click a cell to read or edit its whole text" in c for c in texts(at.caption))
    at, _ = open_mine()  # "How long is a half?" / "45 minutes.": each fits a line
    assert at.data_editor[0].proto.row_height == 35


def test_the_list_of_changes_wraps_a_record_added_by_hand_and_names_its_field_whole():
    """At 800 px the list under the table cut a record added by hand to one line, "Q: What time does the shop open? ·
    A: The sh", and its field to "(new recorc". Its rows wrap a text longer than a line over three, as the table's do,
    and the Field column fits "(new record)"; short edits keep one-line rows."""
    from studio.ui import dataset as dui

    at, _ = open_mine()
    edit(at, edited={0: {"answer": "45'"}})  # a short edit: one-line rows
    changes = next(d for d in at.dataframe if "now" in d.value.columns)
    assert changes.proto.row_height == dui.ROW
    edit(at, edited={0: {"answer": "45'"}}, added=[{"question": "What time does the shop open?",
                                                      "answer": "The shop opens at 9 am every day."}])
    changes = next(d for d in at.dataframe if "now" in d.value.columns)
    assert "(new record)" in changes.value["field"].tolist()
    assert changes.proto.row_height == dui.WRAPPED_ROW
    columns = json.loads(changes.proto.columns)
    assert columns["field"].get("width", 0) >= 100  # "(new record)" whole: "small" (75 px) cut it
    # narrow starts that grow to fill the list, so their text wraps: sized to it, Now ran past the list's edge
    assert columns["saved"].get("width") == columns["now"].get("width") == dui.WRAPPED_WIDTH


def test_the_table_numbers_its_rows_as_the_list_of_changes_names_them():
    """The list of unsaved changes named "record 3", and the table showed no record numbers to find it by (and after a
    deletion, the records below it moved up a number the table never showed). The table has a # column, numbered as
    the list is, a deletion included."""
    recs = [{"question": f"Question {n}?", "answer": f"Answer {n}."} for n in range(1, 5)]
    info = store.create_dataset("Numbered", recs)
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert at.data_editor[0].value["_number"].tolist() == [1, 2, 3, 4]
    edit(at, deleted=[0])  # the first record deleted: the rest move up
    table = at.data_editor[0].value
    assert table["_number"].tolist() == [1, 2, 3] and table["question"].tolist()[0] == "Question 2?"
    edit(at, edited={2: {"answer": "Changed."}})  # the row numbered 3: "Question 4?"
    listed = table_with(at, "now")
    row = listed[listed["now"] == "Changed."].iloc[0]
    shown = at.data_editor[0].value
    assert shown[shown["question"] == "Question 4?"]["_number"].tolist() == [row["record"]] == [3]


def test_the_tabs_keep_their_place_in_the_page_with_or_without_a_message_above_them():
    """"Saved version 2" (or "Created ...") shows above the tabs for one run: the tabs moved down a place then and
    back up on the next click, so the browser drew them anew while that click was on its way, and it was lost."""
    at, info = open_mine()

    def tabs_place() -> tuple:
        from tests.places import place

        return place(at, "tab_container")

    before = tabs_place()
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    at.button(key="dataset.save").click().run()
    assert "Saved version 2: 2 records." in texts(at.success)
    assert tabs_place() == before
    at.run()
    assert not [s for s in texts(at.success) if s.startswith("Saved")] and tabs_place() == before


def _places(at: AppTest, *wanted: tuple) -> list[tuple]:
    """Where each (kind, key) element is drawn."""
    from tests.places import place

    return [place(at, kind, key=key) for kind, key in wanted]


def test_the_import_choices_keep_their_place_when_bringing_them_all_in_says_what_comes_in_as_text():
    """Picking "Bring all 3 in" drew a line above the warnings and the Import into / Name / Import choices (what
    comes in as its text): they moved down a place, and the browser drew them afresh, the name being typed lost."""
    rows = [{"question": "How many players?", "answer": 11}, {"question": "", "answer": "Nobody asked."},
            {"question": "Who restarts?", "answer": "The referee."}, {"question": "Who restarts?", "answer": "Ref."}]
    at = _upload(open_page(), "broken.json", json.dumps(rows).encode())
    wanted = (("radio", "dataset.import.target"), ("text_input", "dataset.import.name.broken.json"),
              ("button", "dataset.import.create"))
    before = _places(at, *wanted)
    at.radio(key="dataset.import.invalid").set_value("fix").run()
    assert any(i.startswith("Record 1") or "11" in i for i in texts(at.tabs[1].info))  # the line is drawn now
    assert _places(at, *wanted) == before


def test_the_restore_choice_keeps_its_place_whichever_versions_are_compared():
    """Comparing a version with itself draws no comparison: Restore version and its button moved up, and back down
    at the next pick, drawn afresh each time (a click on Restore as the pick landed was lost)."""
    info = store.create_dataset("Mine", RECS)
    store.save_version(info.id, [*RECS, {"question": "Who restarts?", "answer": "The referee."}], base_version=1)
    store.save_version(info.id, RECS[:1], base_version=2)
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    wanted = (("selectbox", f"dataset.restore.{info.id}"), ("button", "dataset.restore.go"))
    before = _places(at, *wanted)
    at.selectbox(key=f"dataset.cmp.a.{info.id}.3").select(3).run()  # version 3 with version 3: nothing to compare
    assert not [m for m in texts(at.tabs[4].markdown) if "→" in m]
    assert _places(at, *wanted) == before
    at.selectbox(key=f"dataset.cmp.a.{info.id}.3").select(1).run()
    assert _places(at, *wanted) == before
    edit(at, edited={0: {"answer": "Forty-five."}})  # unsaved edits: "Discard my unsaved changes" above the button
    assert at.checkbox(key=f"dataset.restore.sure.{info.id}")
    assert _places(at, *wanted) == before


def test_the_push_fields_keep_their_place_once_a_token_is_given():
    """A token typed on the Export tab became "token: set for this session" and a Forget button (two elements for
    one): the Hub dataset id, Private and Push below moved down, drawn afresh, the id being typed next lost."""
    at, info = open_mine()
    wanted = (("text_input", "dataset.push.repo"), ("checkbox", "dataset.push.private"), ("button", "dataset.push.go"))
    before = _places(at, *wanted)
    at.text_input(key="auth.hf_token.input").input("hf_not_a_real_token").run()
    assert at.button(key="auth.hf_token.forget")
    assert _places(at, *wanted) == before


def test_the_last_pushs_outcome_keeps_its_place_when_a_push_is_refused():
    """A refused push ("not a Hub dataset id") is said for one run between Push and the last push's outcome: the
    outcome moved down a place and was drawn afresh, and back up at the next click."""
    from studio.tasks import Task
    from tests.places import elements

    def outcome() -> list[tuple]:
        return [path for path, e in elements(at) if getattr(e, "type", None) == "success"
                and str(e.value).startswith("Pushed to")]

    at, info = open_mine()
    done = Task("Pushing", lambda: "https://huggingface.co/datasets/alice/qa").start()
    assert done.join(10)
    at.session_state["dataset.push"], at.session_state["dataset.push.for"] = done, (info.id, "Mine, version 1")
    at.run()
    before = outcome()
    assert len(before) == 1
    at.text_input(key="dataset.push.repo").input("not a repo id!").run()
    at.button(key="dataset.push.go").click().run()
    assert [e for e in texts(at.tabs[5].error) if "not a repo id" in e or "Hub" in e]
    assert outcome() == before


def test_a_file_with_a_long_or_multi_line_name_imports_under_the_name_offered():
    """The Name field offered the file's name as it was: a 400-character one was refused ("use at most 100
    characters") and one holding a line break ("a dataset name is one line"), on the first click of Import."""
    data = json.dumps(RECS).encode()
    for file_name, offered in (("a" * 400 + ".json", "a" * 100), ("faq\nfinal\tv2.json", "faq final v2")):
        at = _upload(open_page(), file_name, data)
        assert at.text_input(key=f"dataset.import.name.{file_name}").value == offered
        at.button(key="dataset.import.create").click().run()
        assert not at.error and store.find_dataset(offered) is not None


def test_unsaved_edits_to_a_dataset_deleted_in_another_tab_are_offered_as_a_new_dataset():
    """Another tab (or the command line) deleted the dataset this tab was editing: the page went to another dataset,
    and the unsaved edits were gone without a word. It says so, and saves them as a new dataset on request (the
    records still to fix waiting in the editor, as after an import)."""
    at, info = open_mine()
    edit(at, edited={0: {"answer": "Forty-five minutes."}}, added=[{"question": "Who restarts?", "answer": ""}])
    store.delete_dataset(info.id)  # another tab
    at.run()
    assert [w for w in texts(at.warning) if "was deleted" in w] == [
        "Mine was deleted (in another tab, or its folder removed) while this tab held unsaved changes to it (1 added, "
        "1 edited). Save them as a new dataset to keep them, or dismiss them."]
    at.button(key="dataset.orphaned.save").click().run()
    saved = store.find_dataset("Mine (unsaved changes)")
    assert [r["answer"] for r in store.load_version(saved.id)] == ["Forty-five minutes.", "Eleven."]
    assert at.session_state["dataset.selected"] == saved.id
    assert at.data_editor[0].value["problem"].tolist() == ["", "", "answer is empty"]
    assert not [w for w in texts(at.warning) if "was deleted" in w]


def test_unsaved_edits_to_a_dataset_deleted_and_imported_again_are_not_saved_into_the_new_one():
    """Another tab deleted "Mine" and imported a new "Mine", which took its id: this tab's Save put its edits in as
    version 2 of the unrelated dataset. They are offered as a new dataset, and the new "Mine" is left as it was."""
    at, info = open_mine()
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    store.delete_dataset(info.id)  # another tab
    assert store.create_dataset("Mine", RECS[1:]).id == info.id
    at.run()
    assert [w for w in texts(at.warning) if "was deleted" in w] == [
        "Mine was deleted (in another tab, or its folder removed) while this tab held unsaved changes to it (1 "
        "edited). Save them as a new dataset to keep them, or dismiss them."]
    assert len(store.list_versions(info.id)) == 1
    at.button(key="dataset.orphaned.save").click().run()
    saved = store.find_dataset("Mine (unsaved changes)")
    assert [r["answer"] for r in store.load_version(saved.id)] == ["Forty-five minutes.", "Eleven."]
    assert store.load_version(info.id) == RECS[1:]


def test_deleting_the_dataset_in_this_tab_offers_nothing_back():
    at, info = open_mine()
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    at.checkbox(key=f"dataset.delete_sure.{info.id}").check().run()
    at.button(key="dataset.delete").click().run()
    assert store.find_dataset("Mine") is None and not [w for w in texts(at.warning) if "was deleted" in w]


def test_the_tab_id_stays_in_the_address_on_other_pages():
    """Streamlit drops ``?tab=`` from the address on a page change (seen in Chromium; AppTest keeps the address, so
    the test empties it as the browser does): each page puts this tab's id back, so a reload there still knows which
    unsaved Dataset edits are this tab's. Other parameters of the address stay as they were."""
    store.create_dataset("Mine", RECS)
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=60).run()
    at.switch_page("pages/1_Dataset.py").run()
    tab = at.query_params["tab"]
    for page in ("pages/3_Train.py", "Home.py"):
        at.switch_page(page)
        at.query_params.clear()  # what the browser does on a page change
        at.query_params["other"] = "kept"  # a deep link's own parameter
        at.run()
        assert not at.exception, at.exception
        assert at.query_params["tab"] == tab and at.query_params["other"] == "kept"
    home = AppTest.from_file(str(REPO / "Home.py"), default_timeout=60)  # the tab reloaded on Home: a new session
    home.query_params["tab"] = tab
    home.run()
    home.switch_page("pages/3_Train.py")
    home.query_params.clear()
    home.run()
    assert home.query_params["tab"] == tab  # kept on the next page change too, before the Dataset page is opened


def _above_the_table(at: AppTest) -> list[str]:
    """What the page shows above the editor table, top to bottom (each element's type, and a warning's text)."""
    def walk(node):
        yield node
        for i in sorted(getattr(node, "children", {})):
            yield from walk(node.children[i])

    table = at.data_editor[0].proto.id
    above = []
    for node in walk(at._tree):
        if getattr(getattr(node, "proto", None), "id", None) == table:
            return above
        above.append(node.type + (f": {node.value}" if node.type == "alert" else ""))
    raise AssertionError("no editor table on the page")


def test_a_new_row_turning_into_a_record_to_fix_leaves_the_table_where_it_is():
    """A new row with only its question, then a second row added: the table is built again with the first as a record
    to fix, and "1 record must be fixed" came up above the table, which jumped down under the row being typed in."""
    info = store.create_dataset("Empty", [])
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    edit(at, added=[{"question": "Only a question?"}])
    before = _above_the_table(at)
    edit(at, added=[{"question": "Only a question?"}, {"question": "Second?"}])
    assert any("2 records must be fixed or deleted" in w for w in texts(at.warning))
    assert "problem" in at.data_editor[0].value.columns
    assert _above_the_table(at) == before


def test_a_record_added_at_the_end_of_a_full_page_stays_on_it_when_the_table_is_built_again():
    """The table is built again once an added row has its question and answer (its # numbered): on a full page of 200
    the record, placed after the page's last one, moved to page 2, out of sight of the person adding rows there."""
    info = store.create_dataset("Long", [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(500)])
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    edit(at, added=[{"question": "A new one?", "answer": "Its answer."}])
    edit(at, added=[{"question": "Another?", "answer": "Its answer too."}])
    shown = at.data_editor[0].value
    assert shown["question"].tolist()[-3:] == ["Question 199?", "A new one?", "Another?"]
    assert shown["_number"].tolist()[-2:] == [201, 202]
    assert at.caption[0].value.startswith("502 records · page 1 of 3")
    at.button(key="dataset.save").click().run()  # saved: still where they were added
    assert at.data_editor[0].value["question"].tolist()[-2:] == ["A new one?", "Another?"]
    at.number_input(key="dataset.page").set_value(2).run()  # the next page starts after them, as it always did
    assert at.data_editor[0].value["question"].tolist()[:3] == ["A new one?", "Another?", "Question 200?"]


def test_a_table_built_again_on_the_same_page_is_scrolled_to_where_the_one_before_was():
    """Each table built anew names the one it replaces (the browser scrolls it there: ``editor_place``) when it shows
    the same page of the same search; another page or search starts from its first row."""
    info = store.create_dataset("Long", [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(500)])
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()

    def scripts() -> list[str]:
        return [h.proto.body for h in at.get("html") if "studio-place" in h.proto.body]

    before = at.data_editor[0].key
    edit(at, added=[{"question": "A new one?", "answer": "Its answer."}])
    assert at.data_editor[0].key != before
    assert len(scripts()) == 1 and editor_place.css_class(before) in scripts()[0]
    at.number_input(key="dataset.page").set_value(2).run()
    assert len(scripts()) == 1 and 'from = null' in scripts()[0]


def test_the_check_tabs_plots_are_made_once_per_version_not_at_each_edit(monkeypatch):
    """Every rerun draws every tab: the Check tab's plots (of the saved version) were made again at each cell edit,
    40 of a 500-record dataset's 90 ms rerun, the time in which typing right after Tab can be lost."""
    from studio.data import plots

    made = []
    real = plots.dataset_lengths
    monkeypatch.setattr(plots, "dataset_lengths", lambda stats: made.append(1) or real(stats))
    at, info = open_mine("Plotted")
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    edit(at, edited={0: {"answer": "Forty-five minutes."}, 1: {"answer": "11."}})
    assert len(made) == 1 and len(at.get("plotly_chart")) >= 1
    at.button(key="dataset.save").click().run()  # a new version: its own plots
    assert len(made) == 2


def test_a_record_brought_in_without_its_question_quotes_the_field_the_editor_does_not_show():
    """{"q_text": "Odd?", "answer": "Yes."} came in to fix with the Problem "no question", and q_text was nowhere on
    the Edit tab: the question to type was out of sight. The reason now quotes the hidden field's text."""
    rows = [{"question": "a", "answer": "b"}, {"q_text": "Odd?", "answer": "Yes."}]
    at = _upload(open_page(), "odd.json", json.dumps(rows).encode())
    at.radio(key="dataset.import.invalid").set_value("fix").run()
    at.text_input(key="dataset.import.name.odd.json").input("Odd").run()
    at.button(key="dataset.import.create").click().run()
    assert not at.exception
    problems = at.data_editor[0].value["problem"].tolist()
    assert any('its field q_text (not shown here) reads "Odd?"' in p for p in problems)
    assert any('q_text (not shown here) reads "Odd?"' in m.value for m in at.markdown)


def test_a_file_of_questions_alone_is_brought_in_to_write_the_answers_in_the_editor():
    """[{"question": ...}, ...]: the Answer field offered "question" alone, and choosing it said the two must come from
    different fields, the end of it. The answer can be none in the file: the records come in to be answered."""
    rows = [{"question": "What is offside?"}, {"question": "How long is a half?"}]
    at = _upload(open_page(), "qonly.json", json.dumps(rows).encode())
    fid = _file_id(at)
    assert at.selectbox(key=f"dataset.import.q.{fid}").options == ["question", "(none)"]
    at.selectbox(key=f"dataset.import.q.{fid}").select("question")
    at.selectbox(key=f"dataset.import.a.{fid}").select("(none)").run()
    at.radio(key="dataset.import.invalid.none").set_value("fix").run()
    at.text_input(key="dataset.import.name.qonly.json").input("To answer").run()
    at.button(key="dataset.import.create").click().run()
    assert not at.exception
    table = at.data_editor[0].value
    assert table["question"].tolist() == ["What is offside?", "How long is a half?"]
    assert all("answer" in p for p in table["problem"].tolist())


def test_a_field_named_none_is_told_apart_from_the_no_field_choice():
    """A file whose question field is literally "(none)": picking it was read as the "(none)" choice (no field), and
    every record came in without its question. The no-field choice is a value of its own, with a label of its own."""
    rows = [{"(none)": "What is offside?", "reply": "Nearer the goal line."}]
    at = _upload(open_page(), "none.json", json.dumps(rows).encode())
    fid = _file_id(at)
    assert at.selectbox(key=f"dataset.import.q.{fid}").options == ["(none)", "reply", "(no field)"]
    at.selectbox(key=f"dataset.import.q.{fid}").select("(none)")
    at.selectbox(key=f"dataset.import.a.{fid}").select("reply").run()
    preview = at.tabs[1].dataframe[0].value
    assert preview["question"].tolist() == ["What is offside?"] and not at.error
    question = at.selectbox(key=f"dataset.import.q.{fid}")
    question.select(dataset_import.NO_FIELD)
    at.run()  # no field for the question: the record comes in to have its question written
    assert [e.value for e in at.error] == ["1 of 1 record is invalid (1 error, no warnings; record numbers count from 1):"]
    assert "question" not in at.tabs[1].dataframe[0].value.columns


def test_each_table_action_builds_the_table_anew_once():
    """A row added, rows deleted, a save: each builds the table again under the next key, once. The page bumped the
    editor's key twice per action (three times for a row added): the action's own bump, then again on the next run for
    a table not drawn yet, as if it had been unmounted."""
    at, _ = open_mine()

    def nonce() -> int:
        return int(at.data_editor[0].key.rsplit(".", 1)[1])

    first = nonce()
    at = edit(at, added=[{"question": "New?", "answer": "Yes."}])
    assert nonce() == first + 1 and len(at.data_editor[0].value) == 3
    at = edit(at, deleted=[0])
    assert nonce() == first + 2 and list(at.data_editor[0].value["question"]) == ["How many players?", "New?"]
    at.button(key="dataset.save").click().run()
    assert nonce() == first + 3 and not at.exception
    assert any(t.startswith("All changes saved") for t in texts(at.caption))
    at = edit(at, edited={0: {"answer": "11."}})  # the table still takes edits after each build
    assert nonce() == first + 3 and any(w.startswith("Unsaved changes") for w in texts(at.warning))


def test_the_import_preview_cuts_a_huge_answer_and_the_import_keeps_it_whole():
    """A file whose one line holds a 50 MB answer sent all 50 MB to the browser for the preview of its first records:
    the preview shows the start of each long value and its length, and the import still brings the value in whole."""
    long = "x" * (dataset_import.PREVIEW_CHARS * 50)
    at = _upload(open_page(), "long.json", json.dumps([{"question": "Q?", "answer": long}]).encode())
    assert not at.error and not at.exception
    (answer,) = at.tabs[1].dataframe[0].value["answer"].tolist()
    assert len(answer) < dataset_import.PREVIEW_CHARS + 50 and answer.endswith(f"({len(long):,} characters in all)")
    at.button(key="dataset.import.create").click().run()
    assert store.load_version(store.find_dataset("long").id) == [{"question": "Q?", "answer": long}]


def test_a_page_that_is_not_there_is_said_in_one_line_and_the_page_shown_stays():
    """The Page box had the browser's bounds: a 9 typed of 3 pages stayed red in it while the table showed the page
    before, without a word (``studio.ui.numbers``: the value stays as typed, with one line, the last good page shown).
    A search leaving fewer pages takes the box to the last one without a line: the pages moved, not the number."""
    info = store.create_dataset("Long", [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(500)])
    at = open_page()
    at.selectbox(key="dataset.picker").select(info.id).run()
    at.number_input(key="dataset.page").set_value(2).run()
    assert at.data_editor[0].value["question"].iloc[0] == "Question 200?" and not at.error
    at.number_input(key="dataset.page").set_value(9).run()
    assert [e.value for e in at.error] == ["Page 9 is out of range: use 1 to 3."]
    assert at.number_input(key="dataset.page").value == 9  # as typed
    assert at.data_editor[0].value["question"].iloc[0] == "Question 200?"  # page 2 still shown
    at.number_input(key="dataset.page").set_value(3).run()
    assert at.data_editor[0].value["question"].iloc[0] == "Question 400?" and not at.error
    at.text_input(key="dataset.search").input("Question 4").run()  # 111 records: one page
    assert at.number_input(key="dataset.page").value == 1 and not at.error
    assert at.data_editor[0].value["question"].iloc[0] == "Question 4?"
    at.number_input(key="dataset.page").set_value(2).run()
    assert [e.value for e in at.error] == ["Page 2 is out of range: use 1."]  # not "use 1 to 1"
    at.number_input(key="dataset.page").set_value(None).run()  # emptied
    assert [e.value for e in at.error] == ["Page was empty or too large to hold: kept 1; type 1."]
    assert at.number_input(key="dataset.page").value == 1
    assert not at.exception


def _long_dataset(copies: int = 150_000) -> tuple[AppTest, store.DatasetInfo, str]:
    """A dataset whose second record's answer is ``copies`` times 20 characters long (3 MB), open on the Edit tab."""
    long = "Offside, at length. " * copies
    info = store.create_dataset("Long", [RECS[0], {"question": "Explain offside?", "answer": long}])
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert not at.exception, at.exception
    return at, info, long


def test_a_long_value_goes_to_the_table_cut_and_an_edit_elsewhere_saves_it_whole():
    """A 50 MB answer went to the browser whole at each rerun: the Edit tab's table took 22.6 s to appear."""
    at, info, long = _long_dataset()
    table = at.data_editor[0].value
    assert max(len(v) for c in ("question", "answer") for v in table[c]) <= editing.CUT + 40
    assert table["answer"].tolist()[1] == f"{long[:editing.CUT]}… ({len(long):,} characters in all)"
    edit(at, edited={0: {"answer": "Forty-five minutes."}})
    at.button(key="dataset.save").click().run()
    assert not at.exception and not at.error
    saved = store.load_version(info.id)
    assert saved[0]["answer"] == "Forty-five minutes." and saved[1]["answer"] == long


def test_an_edit_to_a_cut_value_in_the_table_is_refused_saying_where_to_edit_it_whole():
    """Kept, the table's start of the value (and its "… (n characters in all)") would have been saved in its place."""
    at, info, long = _long_dataset(5_000)
    edit(at, edited={1: {"answer": "Offside, shorter."}})
    assert not at.exception
    assert texts(at.error) == [f"Record 2's answer is {len(long):,} characters long: the table shows its start only, so "
                               "an edit there is not kept. Edit it whole under the table, in Edit a long value."]
    assert not unsaved_lines(at)  # nothing changed
    assert at.data_editor[0].value["answer"].tolist()[1].startswith(long[:editing.CUT] + "…")
    # edited whole where the line says: the whole text, picked, then applied and saved
    long_pick = next(s for s in at.selectbox if s.label == "Edit a long value")
    long_pick.select((1, "answer")).run()
    box = next(t for t in at.text_area if t.label == "Record 2's answer, whole")
    assert box.value == long
    box.input(long + " The end.").run()
    next(b for b in at.button if b.label == "Apply to the working copy").click().run()
    assert "Unsaved changes: 1 edited." in texts(at.warning)
    at.button(key="dataset.save").click().run()
    assert store.load_version(info.id)[1]["answer"] == long + " The end."


def test_a_paste_longer_than_the_box_holds_is_refused_in_one_line_not_applied_cut():
    """The box now bounds what it sends (a 150 MB paste was read whole by the server): one character past what it holds,
    a paste cut there is said so and not applied, never saved as if it were the whole text."""
    from studio.ui.dataset import BOX_CHARS

    at, info, long = _long_dataset(copies=1_000)
    next(s for s in at.selectbox if s.label == "Edit a long value").select((1, "answer")).run()
    box = next(t for t in at.text_area if t.label == "Record 2's answer, whole")
    box.set_value("z" * (BOX_CHARS + 5)).run()  # the box keeps one character past its bound of it
    assert texts(at.error) == [f"Record 2's answer as typed is over {BOX_CHARS:,} characters, more than a box of the "
                               "page holds, so not all of it reached the studio: not applied. Shorten it, or edit the "
                               "dataset's file outside the studio and import it."]
    assert next(b for b in at.button if b.label == "Apply to the working copy").disabled
    assert not unsaved_lines(at) and store.load_version(info.id)[1]["answer"] == long


def test_a_value_too_long_for_a_box_of_the_page_is_offered_as_a_download_not_in_a_box():
    """Its 50 MB in a text box crashed Chromium's tab."""
    at, info, long = _long_dataset()
    next(s for s in at.selectbox if s.label == "Edit a long value").select((1, "answer")).run()
    assert not at.exception and not [t for t in at.text_area if len(t.value or "") > editing.CUT]
    assert any("download it, edit it in a text editor and upload it here" in str(e.proto) for e in at.get("file_uploader"))


def test_the_column_menu_offers_no_unnamed_or_internal_column_to_show():
    """The table's column menu (its eye icon) lists every column, hidden ones too: it offered "(index)" (the row labels,
    no name) and "_row" (the record's index, kept for the page). No "_row" column now, and the row labels, the one
    hidden column, are named for what they are and cannot be edited; a record is still found from its row (an edit
    and a delete land on the right records)."""
    at, info = open_mine()
    config = json.loads(at.data_editor[0].proto.columns)
    hidden = {name: c for name, c in config.items() if c.get("hidden")}
    assert list(hidden) == ["_index"] and hidden["_index"]["label"] == "Row in this table"
    assert hidden["_index"]["disabled"] and list(at.data_editor[0].value.columns) == ["_number", "question", "answer"]
    edit(at, edited={1: {"answer": "Eleven each."}}, deleted=[0])
    at.button(key="dataset.save").click().run()
    assert store.load_version(info.id) == [{"question": "How many players?", "answer": "Eleven each."}]


def test_the_versions_edited_table_lists_each_changed_field_in_four_columns_with_passages():
    """With passages the Edited table had a before and an after column for question, answer and context, seven in all,
    and scrolled sideways at 800 px; each changed field is now a row of its own: record, field, before, after."""
    recs = [{"question": "Q1?", "answer": "A1.", "context": "P1."}, {"question": "Q2?", "answer": "A2."}]
    info = store.create_dataset("Passages", recs)
    store.save_version(info.id, [{**recs[0], "context": "P1, longer."}, {**recs[1], "answer": "A2, better."}],
                       base_version=1, message="passages")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="dataset.picker").select(info.id).run()
    edited = table_with(at, "after")
    assert edited.values.tolist() == [[1, "context", "P1.", "P1, longer."], [2, "answer", "A2.", "A2, better."]]


def test_the_versions_comparison_shows_a_long_value_cut_as_the_table_does():
    """Edited between the last two versions, which the Versions tab compares at every rerun of the page, a 3 MB answer
    went to the browser twice each time."""
    long = "Offside, at length. " * 150_000
    info = store.create_dataset("Long", [RECS[0], {"question": "Explain offside?", "answer": long}])
    store.save_version(info.id, [RECS[0], {"question": "Explain offside?", "answer": long + " The end."}],
                       base_version=1, message="longer")
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.selectbox(key="dataset.picker").select(info.id).run()
    assert not at.exception
    edited = table_with(at, "after")
    assert edited["after"].tolist() == [f"{long[:editing.CUT]}… ({len(long) + 9:,} characters in all)"]
    assert max(len(str(v)) for d in at.dataframe for c in d.value.columns for v in d.value[c]) <= editing.CUT + 40


def test_edits_brought_in_from_another_tab_onto_a_newer_version_say_which_clashed_and_save_the_rest():
    """Another tab's kept edits made on version 1, brought in after version 2 changed one of the records they edit:
    the offer says they go on top of version 2, bringing them in says that the clashing edit was left out (theirs
    kept), and Save keeps the rest over version 2, no conflict panel."""
    first, info = open_mine()
    edit(first, edited={0: {"answer": "Forty-five minutes."}, 1: {"answer": "Eleven a side."}})
    store.save_version(info.id, [{**RECS[0], "answer": "45 min."}, RECS[1]], base_version=1, message="someone else")
    other = open_page()
    other.selectbox(key="dataset.picker").select(info.id).run()
    offer = [i for i in texts(other.info) if "left unsaved changes" in i]
    assert len(offer) == 1 and ("2 edited, kept in this workspace apart from yours. They were made on version 1, and "
                                "version 2 was saved since: brought in, they go on top of version 2 for you to check "
                                "and save.") in offer[0]
    other.button(key="dataset.draft.bring").click().run()
    assert not other.exception
    assert "Brought in on top of version 2: check the changes listed under the table, then Save. The edit to record 1 " \
           "(of version 1) was left out: version 2 changed that record too, and theirs was kept." in texts(other.success)
    assert [w for w in texts(other.warning) if w.startswith("Unsaved changes brought in from another tab: 1 edited")]
    other.button(key="dataset.save").click().run()
    assert not other.error and not other.exception
    assert [r["answer"] for r in store.load_version(info.id)] == ["45 min.", "Eleven a side."]
    assert store.get_dataset(info.id).latest.version == 3
