from studio.data import editing, store

RECS = [{"question": f"q{i}", "answer": f"a{i}", "id": i} for i in range(10)]


def test_view_pages_and_search():
    v = editing.view(RECS, "", page=2, page_size=4)
    assert v.indices == [4, 5, 6, 7] and v.pages == 3 and v.total == 10
    assert editing.view(RECS, "A7", page=1).indices == [7]
    assert editing.view(RECS, "", page=99, page_size=4).indices == [8, 9]  # clamped to the last page


def test_a_page_grown_by_added_records_keeps_them_and_the_next_page_starts_where_it_did():
    assert editing.view(RECS, "", page=1, page_size=4, grown=2).indices == [0, 1, 2, 3, 4, 5]
    assert editing.view(RECS, "", page=2, page_size=4).indices == [4, 5, 6, 7]


def test_merge_view_applies_edit_delete_add_and_keeps_extra_fields():
    v = editing.view(RECS, "", page=2, page_size=4)
    rows = editing.editor_rows(RECS, v.indices)
    rows[0]["answer"] = "EDITED"
    del rows[1]  # record 5 deleted
    rows.append({editing.ROW: float("nan"), "question": "new q", "answer": "new a"})
    rows.append({editing.ROW: None, "question": None, "answer": None})  # blank row: ignored
    out = editing.merge_view(RECS, v.indices, rows)
    assert out[4] == {"question": "q4", "answer": "EDITED", "id": 4}
    assert [r["question"] for r in out] == ["q0", "q1", "q2", "q3", "q4", "q6", "q7", "new q", "q8", "q9"]
    assert out[0] is RECS[0]  # untouched records are the same objects
    assert editing.summary(editing.changes(RECS, out)) == "1 added, 1 removed, 1 edited"


def test_search_finds_words_of_the_passage_too():
    recs = [{"question": "How long?", "answer": "45 minutes.", "context": "Each half lasts 45 minutes."},
            {"question": "Who decides?", "answer": "The referee."}]
    assert editing.view(recs, "each HALF").indices == [0]
    assert editing.view(recs, "referee").indices == [1] and editing.view(recs, "nowhere").indices == []


def test_merge_into_empty_dataset_and_search_view():
    assert editing.merge_view([], [], [{editing.ROW: None, "question": "q", "answer": "a"}]) == [
        {"question": "q", "answer": "a"}]
    v = editing.view(RECS, "q3")
    out = editing.merge_view(RECS, v.indices, [{editing.ROW: 3, "question": "q3", "answer": "three"}])
    assert out[3]["answer"] == "three" and len(out) == 10 and out[9] is RECS[9]


def test_changes_on_a_large_list_with_edits_far_apart_is_quick_and_matches_the_store():
    import copy
    import time

    big = [{"question": f"q{i}", "answer": "a"} for i in range(200_000)]
    after = list(big)
    after[10] = {"question": "q10", "answer": "changed"}
    after[190_000] = {"question": "q190000", "answer": "changed"}
    del after[100_000]
    after.insert(5000, {"question": "new", "answer": "row"})
    start = time.perf_counter()
    diff = editing.changes(big, after)
    quick = time.perf_counter() - start
    assert (len(diff.added), len(diff.removed), len(diff.edited)) == (1, 1, 2)
    assert diff.removed == [{"question": "q100000", "answer": "a"}] and diff.edited[0][1]["answer"] == "changed"
    start = time.perf_counter()
    # The same lists read back from disk share no objects: the general diff must agree.
    assert editing.changes(copy.deepcopy(big), after) == diff
    assert quick < (time.perf_counter() - start) / 3


def test_append_skips_records_already_there():
    merged, skipped = editing.append(RECS[:3], [RECS[1], {"question": "new", "answer": "x"}, {"question": "new", "answer": "x"}])
    assert skipped == 2 and [r["question"] for r in merged] == ["q0", "q1", "q2", "new"]
    assert editing.append(RECS[:1], RECS[:1], skip_existing=False)[1] == 0


def test_rebase_applies_my_edits_on_their_newer_version():
    base = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)]
    mine = [dict(r) for r in base]
    mine[1]["answer"] = "mine"  # edit
    del mine[3]  # delete q3
    mine.append({"question": "new", "answer": "mine too"})
    mine[2]["answer"] = "mine, conflicting"
    theirs = [dict(r) for r in base]
    theirs[2]["answer"] = "theirs"  # they edited the same record
    theirs.insert(0, {"question": "theirs", "answer": "added"})
    merged, lost = editing.rebase(base, mine, theirs)
    assert lost == 1
    assert merged == [{"question": "theirs", "answer": "added"}, {"question": "q0", "answer": "a0"},
                      {"question": "q1", "answer": "mine"}, {"question": "q2", "answer": "theirs"},
                      {"question": "q4", "answer": "a4"}, {"question": "new", "answer": "mine too"}]
    assert editing.rebase_naming(base, mine, theirs) == (merged, [3])  # the clash named: record 3 of base
    theirs[1]["answer"] = "theirs too"  # q0, after the record they added
    mine[0]["answer"] = "mine again"
    assert editing.rebase_naming(base, mine, theirs)[1] == [1, 3]


FAQ = [{"question": "How many players?", "answer": "Eleven."}, {"question": "How long is a half?", "answer": "45 minutes."},
       {"question": "Who restarts play?", "answer": "The referee."}]


def test_a_record_whose_question_and_answer_were_both_edited_is_one_edit_and_a_rebase_names_its_clash():
    """Both fields of record 2 reworded: the change list read "1 added, 1 removed", so a rebase onto a version where
    another tab edited record 2 too kept both versions of it (theirs, and mine added at the end) and named no clash, and
    the Versions comparison listed a removal and an addition."""
    import copy

    mine = list(FAQ)
    mine[1] = {"question": "How long is each half of a match?", "answer": "Forty-five minutes."}
    diff = editing.changes(FAQ, mine)
    assert diff.edited == [(FAQ[1], mine[1])] and not diff.added and not diff.removed
    assert editing.changes(copy.deepcopy(FAQ), mine) == diff  # two versions read from disk: the same
    theirs = [dict(r) for r in FAQ]
    theirs[1]["answer"] = "45 minutes, plus stoppage time."
    assert editing.rebase_naming(FAQ, mine, theirs) == (theirs, [2])  # theirs kept, the clash named
    untouched = [dict(r) for r in FAQ] + [{"question": "Offside?", "answer": "Level is onside."}]
    assert editing.rebase(FAQ, mine, untouched) == ([FAQ[0], mine[1], FAQ[2], untouched[3]], 0)  # in its place
    # A record with an id of its own is that record, however it was rewritten.
    with_ids = [{**r, "id": n} for n, r in enumerate(FAQ)]
    rewritten = [with_ids[0], {"question": "Length?", "answer": "90 in all.", "id": 1}, with_ids[2]]
    assert editing.changes(with_ids, rewritten).edited == [(with_ids[1], rewritten[1])]


def test_an_id_many_records_share_pairs_nothing():
    """Records all of ``id`` 0 (a column of zeros): a record typed where another was deleted was paired by that id, so
    the change list read "1 edited" and a rebase dropped the new record as a clash with the old one."""
    zeros = [{**r, "id": 0} for r in FAQ]
    typed = {"question": "What is a throw-in?", "answer": "A restart from the touch line.", "id": 0}
    for diff in (editing.changes(zeros, [zeros[0], zeros[1], typed]),
                 store.diff_records(zeros, [zeros[0], zeros[1], typed])):
        assert diff.removed == [zeros[2]] and diff.added == [typed] and not diff.edited
    # deleted record 1 and reworded record 3: the rewording is the edit, not record 1 given record 3's words
    reworded = {"question": "Who restarts the play?", "answer": "The referee does.", "id": 0}
    diff = editing.changes(zeros, [zeros[1], reworded])
    assert diff.removed == [zeros[0]] and diff.edited == [(zeros[2], reworded)] and not diff.added


def test_a_record_deleted_and_another_typed_in_its_place_stay_a_removal_and_an_addition():
    """Paired only when alike: a different record typed where one was deleted is not that record edited (a rebase
    would drop the new record as a clash)."""
    after = [FAQ[0], FAQ[1], {"question": "What is a throw-in?", "answer": "A restart from the touch line."}]
    diff = editing.changes(FAQ, after)
    assert diff.removed == [FAQ[2]] and diff.added == [after[2]] and not diff.edited
    other_count = [{"question": "How many substitutes?", "answer": "Five."}, FAQ[1], FAQ[2]]  # alike in form only
    diff = editing.changes(FAQ, other_count)
    assert diff.removed == [FAQ[0]] and diff.added == [other_count[0]] and not diff.edited
    # deleted record 2 and reworded record 3: the rewording is the edit, whichever place it took
    reworded = [FAQ[0], {"question": "Who restarts the play?", "answer": "The referee does."}]
    diff = editing.changes(FAQ, reworded)
    assert diff.removed == [FAQ[1]] and diff.edited == [(FAQ[2], reworded[1])] and not diff.added


PASSAGES = [{"question": "Who?", "answer": "Ana", "context": "Ana wrote it ✍"}, {"question": "Old?", "answer": "Yes"}]


def test_the_passage_is_a_column_only_when_a_record_has_one():
    assert editing.columns(RECS) == ("question", "answer")
    assert editing.columns(PASSAGES) == ("question", "answer", "context")
    assert editing.editor_rows(PASSAGES, [0, 1], editing.columns(PASSAGES)) == [
        {editing.ROW: 0, "question": "Who?", "answer": "Ana", "context": "Ana wrote it ✍"},
        {editing.ROW: 1, "question": "Old?", "answer": "Yes", "context": ""}]


def test_merge_view_edits_adds_and_clears_the_passage():
    shown = editing.columns(PASSAGES)
    rows = editing.editor_rows(PASSAGES, [0, 1], shown)
    rows[0]["context"] = ""  # cleared: the record has no passage any more
    rows[1]["context"] = "Old laws, 1863."
    rows.append({editing.ROW: None, "question": "New?", "answer": "Now", "context": "Now and then."})
    out = editing.merge_view(PASSAGES, [0, 1], rows, shown)
    assert out == [{"question": "Who?", "answer": "Ana"}, {"question": "Old?", "answer": "Yes", "context": "Old laws, 1863."},
                   {"question": "New?", "answer": "Now", "context": "Now and then."}]
    untouched = editing.merge_view(PASSAGES, [0, 1], editing.editor_rows(PASSAGES, [0, 1], shown), shown)
    assert untouched[0] is PASSAGES[0] and untouched[1] is PASSAGES[1]  # no empty context forced on the old record


def test_append_keeps_the_same_question_about_another_passage():
    merged, skipped = editing.append(PASSAGES, [{"question": "Who?", "answer": "Ana", "context": "Ana sang it."},
                                                {"question": "Old?", "answer": "Yes"}])
    assert skipped == 1 and merged[-1]["context"] == "Ana sang it."


def test_a_kept_draft_is_written_as_runs_of_saved_records_and_read_back_exactly():
    from studio.data import store
    info = store.create_dataset("Mine", RECS)
    saved = store.load_version(info.id)
    current = [*saved[:3], {**saved[3], "answer": "EDITED"}, *saved[5:], {"question": "new", "answer": "one"}]
    assert editing.draft_patch(saved, current) == [[0, 3], {"record": current[3]}, [5, 10], {"record": current[-1]}]
    editing.save_draft(info.id, 1, saved, current)
    base, base_records, back = editing.load_draft(info.id)
    assert (base, base_records, back) == (1, saved, current)
    editing.save_draft(info.id, 1, saved, list(saved))  # edits undone: nothing left to keep
    assert editing.load_draft(info.id) is None


def test_a_kept_draft_that_does_not_fit_its_version_is_dropped_not_shown():
    from studio.data import store
    info = store.create_dataset("Mine", RECS)
    saved = store.load_version(info.id)
    editing.save_draft(info.id, 1, saved, saved[:4])
    path = store.dataset_path(info.id) / editing.DRAFT_FILE
    path.write_text('{"format": 1, "base": 1, "count": 10, "patch": [[0, 99]]}', encoding="utf-8")
    assert editing.load_draft(info.id) is None and not path.exists()


def test_a_kept_draft_is_the_visitors_own_on_a_public_app(tmp_path):
    """Each visitor's datasets are in their own workspace; the sample has the same id in every one of them."""
    from studio import config
    from studio.data import store
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    for home in (alice, bob):
        with config.use_workspace(home):
            store.create_dataset("Mine", RECS)
    with config.use_workspace(alice):
        info = store.find_dataset("Mine")
        editing.save_draft(info.id, 1, store.load_version(info.id), RECS[:2])
    with config.use_workspace(bob):
        assert editing.load_draft(info.id) is None
    with config.use_workspace(alice):
        assert editing.load_draft(info.id)[2] == RECS[:2]


def test_each_tabs_kept_draft_is_its_own_and_bringing_one_in_moves_it():
    from studio.data import store
    info = store.create_dataset("Mine", RECS)
    saved = store.load_version(info.id)
    mine, theirs = [{**saved[0], "answer": "mine"}, *saved[1:]], [*saved[:-1], {**saved[-1], "answer": "theirs"}]
    editing.save_draft(info.id, 1, saved, mine, "aaaa")
    editing.save_draft(info.id, 1, saved, theirs, "bbbb")  # another tab's edits do not replace the first's
    assert editing.load_draft(info.id, "aaaa")[2] == mine and editing.load_draft(info.id, "bbbb")[2] == theirs
    assert [k.tab for k in editing.kept_drafts(info.id)] == ["bbbb", "aaaa"]
    editing.drop_draft(info.id, "cccc")  # a tab without edits discarding: the others' stay
    assert len(editing.kept_drafts(info.id)) == 2
    assert editing.take_draft(info.id, "aaaa", "cccc") and editing.load_draft(info.id, "cccc")[2] == mine
    assert editing.load_draft(info.id, "aaaa") is None
    assert editing.load_draft(info.id, "../../x") is None  # not a tab id: never a path outside the folder


def test_a_whole_record_without_a_question_is_named_by_its_answer_in_the_list_of_changes():
    """An imported record with an answer but no question, deleted (or one added that way), was a blank row in the
    list of changes under the table: nothing said which record it was."""
    saved = [{"question": "", "answer": "Yes, when the ball is in play."}, {"question": "Kept?", "answer": "Yes."}]
    current = [saved[1], {"question": "", "answer": "A new answer " + "long " * 30}, {"question": "", "answer": ""}]
    cells = editing.changed_cells(saved, current)
    assert [(c.record, c.field, c.saved, c.now) for c in cells] == [
        (2, "(new record)", "", "Q: (no question) · A: A new answer " + ("long " * 30).strip()),
        (3, "(new record)", "", "(empty record)"),
        (None, "(deleted)", "Q: (no question) · A: Yes, when the ball is in play.", "")]


def test_a_new_records_answer_is_in_the_list_of_changes_as_typed():
    """A record added (typed in, or brought in from an import) was listed by its question alone: its answer, typed
    wrong or come in from the wrong column, was nowhere to check before Save."""
    saved = [{"question": "Kept?", "answer": "Yes."}]
    current = [saved[0], {"question": "Who restarts?", "answer": "The referee."},
               {"question": "Why?", "answer": "Because.", "context": "The laws say so."}]
    assert [c.now for c in editing.changed_cells(saved, current)] == [
        "Q: Who restarts? · A: The referee.", "Q: Why? · A: Because. · Passage: The laws say so."]


def test_bringing_in_a_record_that_names_its_question_otherwise_takes_that_field_as_its_question():
    """A record giving its question as "prompt" among records with "question" came in without a question, its text
    in a field the editor does not show, and once a question was typed the export still carried "prompt"."""
    records = [{"question": "Who whistles?", "answer": "The referee."},
               {"prompt": "Odd keys?", "answer": "Yes.", "id": 7},
               {"question": "", "Response": "An answer under another name."},
               {"instruction": "Which one?", "prompt": "Two names?", "answer": "Left to fix."}]
    brought = editing.bring_all_in(records, {2, 3, 4})
    assert brought.records[1] == {"question": "Odd keys?", "answer": "Yes.", "id": 7}
    assert brought.records[2] == {"question": "", "answer": "An answer under another name."}
    assert brought.records[3] == records[3]  # two names a question could be under: which one is the person's call
    assert brought.to_fix == [3, 4] and brought.as_text == []
    assert brought.renamed == ((2, "prompt", "question"), (3, "Response", "answer"))
    assert brought.renamed_note() == ('Taken in as the question or answer the record lacked: record 2\'s "prompt" as '
                                      'its question, record 3\'s "Response" as its answer.')


def test_a_new_row_between_two_records_of_the_table_goes_between_them():
    """Rows keep the table's order: a row typed in above a record of the view (a blank row kept in its place) is put
    after the record above it, not after the view's last record."""
    recs = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(4)]
    rows = editing.editor_rows(recs, [1, 2], editing.COLUMNS)
    rows.insert(1, {editing.ROW: None, "question": "between", "answer": "x"})
    rows.insert(0, {editing.ROW: None, "question": "first", "answer": ""})
    rows.append({editing.ROW: None, "question": "", "answer": ""})  # blank: no record
    out = editing.merge_view(recs, [1, 2], rows)
    assert [r["question"] for r in out] == ["q0", "first", "q1", "between", "q2", "q3"]


def test_a_save_with_no_message_says_what_was_fixed_and_imported_not_edited():
    """Records brought in to fix, fixed and saved with no message typed, were recorded as "edited"."""
    saved = [{"question": "Kept?", "answer": "Yes."}]
    start = [saved[0], {"question": "", "answer": "Nobody asked."}, {"question": "Fine?", "answer": "Yes."}]
    fixed = [start[0], {"question": "Who asked?", "answer": "Nobody asked."}, start[2]]
    assert editing.save_message(saved, fixed, start=start, origin="imported faq.csv") == (
        "imported faq.csv: fixed 1 record (2 added)")
    assert editing.save_message(saved, start[:1] + start[2:], start=start, origin="imported faq.csv") == (
        "imported faq.csv (1 added)")  # the one to fix deleted: nothing fixed
    assert editing.save_message(saved, [{"question": "Kept?", "answer": "No."}]) == "edited"


def test_a_record_of_another_id_put_in_a_deleted_ones_place_is_not_that_record_edited():
    """A record deleted and another, with an id of its own, typed in its place with the same answer read "1 edited"
    (paired by the answer), so a rebase took the new record for an edit of the old and left it out on a clash."""
    before = [{"id": "a1", "question": "When was the club founded?", "answer": "1901"},
              {"id": "a2", "question": "Who coaches it?", "answer": "Ana."}]
    after = [{"id": "b7", "question": "When was the stadium built?", "answer": "1901"},
             {"id": "a2", "question": "Who coaches it?", "answer": "Ana."}]
    assert editing.summary(editing.changes(before, after)) == "1 added, 1 removed"
    kept_id = [{"id": "a1", "question": "When was the club founded?", "answer": "In 1901."}, before[1]]
    assert editing.summary(editing.changes(before, kept_id)) == "1 edited"  # its own id: an edit as before
    no_id = [{"question": "When was the club founded?", "answer": "In 1901."}, before[1]]
    assert editing.summary(editing.changes(before, no_id)) == "1 edited"  # an id dropped: paired by its question



def test_the_summary_of_many_changes_groups_thousands_as_the_lists_under_it_do():
    """The Versions tab's comparison of two large versions read "9840 added, 10840 removed" above lists headed
    "Added (9,840)" and "Removed (10,840)"; the unsaved-changes banner read "1200 removed" the same way."""
    before = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(1_200)]
    after = before[:100] + [{"question": f"New {i}?", "answer": "New."} for i in range(2_500)]
    assert editing.summary(editing.changes(before, after)) == "2,500 added, 1,100 removed"
