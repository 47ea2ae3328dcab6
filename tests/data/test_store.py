import json
import threading

import pytest

from studio.data import store
from studio.errors import DatasetNotFoundError, DatasetReplacedError, StudioError, VersionConflictError

RECS = [{"question": "How long is a match?", "answer": "Two halves of 45 minutes."},
        {"question": "¿Cuántos jugadores? 👟", "answer": "Once — 十一", "source": "manual"}]


def test_create_load_roundtrip_keeps_unicode_and_extra_fields():
    info = store.create_dataset("Soccer", RECS, message="imported")
    assert info.latest.version == 1 and info.latest.count == 2
    assert store.load_version(info.id) == RECS
    raw = store.version_path(info.id).read_text(encoding="utf-8")
    assert "👟" in raw and "十一" in raw  # stored as text, not escapes
    assert isinstance(json.loads(raw), list)


def test_save_creates_versions_and_refuses_stale_base():
    info = store.create_dataset("Soccer", RECS)
    v2 = store.save_version(info.id, RECS[:1], base_version=1, message="drop one")
    assert v2.version == 2 and v2.count == 1
    with pytest.raises(VersionConflictError) as err:
        store.save_version(info.id, RECS + RECS, base_version=1)
    assert err.value.latest_version == 2
    assert store.load_version(info.id) == RECS[:1]  # the other session's save is intact
    assert [v.count for v in store.list_versions(info.id)] == [2, 1]


def test_concurrent_saves_on_same_base_only_one_wins():
    info = store.create_dataset("Race", RECS)
    results = []

    def save(n):
        try:
            store.save_version(info.id, RECS[:n], base_version=1)
            results.append("ok")
        except VersionConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=save, args=(n,)) for n in (0, 1, 2, 1)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == ["conflict", "conflict", "conflict", "ok"]
    assert len(store.list_versions(info.id)) == 2


def test_restore_adds_a_version_with_old_content():
    info = store.create_dataset("R", RECS)
    store.save_version(info.id, [], base_version=1)
    v3 = store.restore_version(info.id, 1, base_version=2)
    assert v3.version == 3 and store.load_version(info.id) == RECS


def test_names_unique_rename_and_delete_to_trash(studio_home):
    a = store.create_dataset("Alpha", RECS)
    with pytest.raises(StudioError, match="already exists"):
        store.create_dataset("alpha", RECS)
    with pytest.raises(StudioError, match="needs a name"):
        store.create_dataset("   ", RECS)
    store.rename_dataset(a.id, "Beta")
    assert store.find_dataset("beta").id == a.id
    dest = store.delete_dataset(a.id)
    assert dest.parent == studio_home / "trash" and (dest / "versions" / "0001.json").exists()
    with pytest.raises(DatasetNotFoundError):
        store.load_version(a.id)


def test_a_dataset_deleted_made_again_and_deleted_within_the_second_keeps_both_copies_apart(studio_home):
    """Both deletes named the trash folder by the same second: the second copy went inside the first one's folder,
    where no one would look for it."""
    first = store.delete_dataset(store.create_dataset("Alpha", RECS).id)
    again = store.create_dataset("Alpha", RECS[:1])
    second = store.delete_dataset(again.id)
    assert first != second and first.parent == second.parent == studio_home / "trash"
    assert json.loads((first / "versions" / "0001.json").read_text(encoding="utf-8")) == RECS
    assert json.loads((second / "versions" / "0001.json").read_text(encoding="utf-8")) == RECS[:1]
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())  # neither inside


def test_a_save_and_a_delete_in_two_sessions_at_once_never_leave_a_version_outside_its_dataset(studio_home, monkeypatch):
    """Another session deleted the dataset while a save was writing it: the delete moved the folder to the trash at
    once, and the save wrote its version into a folder it made anew, without its dataset.json: "saved", yet in no
    dataset (the page lists nothing, the trashed copy lacks it). The delete now waits for the save and takes its
    version along; a save that comes after the delete is refused in one line. (The hook only holds the save open
    while the delete is started: the two are real threads on the real store.)"""
    info = store.create_dataset("Shared", RECS)
    inside, go = threading.Event(), threading.Event()
    write = store._write_version

    def held_open(*args, **kwargs):
        inside.set()
        go.wait(20)
        return write(*args, **kwargs)

    monkeypatch.setattr(store, "_write_version", held_open)
    saved, moved = [], []
    saver = threading.Thread(target=lambda: saved.append(store.save_version(info.id, RECS[:1], base_version=1)))
    saver.start()
    assert inside.wait(20)
    deleter = threading.Thread(target=lambda: moved.append(store.delete_dataset(info.id)))
    deleter.start()
    deleter.join(2)  # the delete had moved the folder by now; it waits for the save instead
    go.set()
    saver.join(20)
    deleter.join(20)
    assert [v.version for v in saved] == [2] and len(moved) == 1
    assert not (studio_home / "datasets" / info.id).exists() and store.list_datasets() == []
    assert json.loads((moved[0] / "versions" / "0002.json").read_text()) == RECS[:1]  # the save went with it
    monkeypatch.setattr(store, "_write_version", write)
    with pytest.raises(DatasetNotFoundError):
        store.save_version(info.id, RECS, base_version=2)
    assert not (studio_home / "datasets" / info.id).exists()


def _waited_on_a_delete(studio_home, info, action) -> list[str]:
    """Run ``action`` in a thread that waits for the dataset's lock while it is held here and the folder moved to the
    trash (another session's delete), and return what it said: "done" or its ``DatasetNotFoundError``."""
    folder = studio_home / "datasets" / info.id
    said: list[str] = []

    def run():
        try:
            action()
            said.append("done")
        except DatasetNotFoundError as exc:
            said.append(str(exc))

    with store.dataset_lock(folder):
        waiter = threading.Thread(target=run)
        waiter.start()
        waiter.join(1)  # it waits for the lock held here (a delete moving the folder)
        (studio_home / "trash").mkdir()
        folder.rename(studio_home / "trash" / info.id)
    waiter.join(20)
    return said


def test_a_save_that_waited_on_a_delete_is_refused_and_makes_no_folder(studio_home):
    """A save that had found the dataset, then waited for its lock while another session deleted it, locked the
    trashed file and wrote a version into a folder it made anew; it is refused, in one line saying the edits stay."""
    info = store.create_dataset("Shared", RECS)
    said = _waited_on_a_delete(studio_home, info, lambda: store.save_version(info.id, RECS[:1], base_version=1))
    assert len(said) == 1 and "was deleted (in another tab or session)" in said[0], said
    assert not (studio_home / "datasets" / info.id).exists() and store.list_datasets() == []


def test_edits_to_a_deleted_dataset_are_not_saved_into_a_new_one_given_its_id(studio_home):
    """A tab held edits to "Rules" version 1; another deleted it and imported a new "Rules", which got the same id.
    The save landed as version 2 of the new, unrelated dataset (its base version 1 matched); it is refused, in one
    line saying what to do, and the new dataset is left as it was (all within one second: a creation time is no
    dataset's own)."""
    old = store.create_dataset("Rules", RECS)
    store.delete_dataset(old.id)
    new = store.create_dataset("Rules", RECS[1:], message="imported rules.csv")
    assert new.id == old.id and new.uid != old.uid
    with pytest.raises(DatasetReplacedError) as err:
        store.save_version(new.id, RECS[:1], base_version=1, made_on=old.uid)
    assert str(err.value) == ("Dataset 'Rules' you were editing was deleted (in another tab or session) and a new "
                              "dataset took its name: nothing was saved into it. Save your edits as a new dataset "
                              "instead.")
    assert [v.message for v in store.list_versions(new.id)] == ["imported rules.csv"]
    assert store.save_version(new.id, RECS, base_version=1, made_on=store.get_dataset(new.id).uid).version == 2


@pytest.mark.parametrize("doing", ["save", "restore"])
def test_a_save_into_a_dataset_whose_head_was_damaged_is_refused(studio_home, doing):
    """A tab held edits to "Rules"; meanwhile its dataset.json was cut off outside the studio, so its uid could not be
    read: the check that it is still the dataset the edits were made on was skipped, and the save (or a restore) went
    ahead. It is refused in one line naming the file, and the dataset keeps its versions."""
    info = store.create_dataset("Rules", RECS)
    head = store.dataset_path(info.id) / "dataset.json"
    head.write_text('{"id": "ru', encoding="utf-8")
    with pytest.raises(StudioError) as err:
        if doing == "save":
            store.save_version(info.id, RECS[:1], base_version=1, made_on=info.uid)
        else:
            store.restore_version(info.id, 1, base_version=1, made_on=info.uid)
    said = str(err.value)
    assert "\n" not in said and str(head) in said and "put the file back" in said
    assert ("nothing was restored" if doing == "restore" else "your edits are kept") in said
    assert [v.version for v in store.list_versions(info.id)] == [1] and store.load_version(info.id) == RECS


def test_a_restore_shown_for_a_deleted_dataset_is_not_made_in_the_new_one_given_its_id(studio_home):
    """A tab showed the versions of "Rules"; another deleted it and imported a new "Rules" (same id, two versions of
    its own). Restore version 1 restored the new dataset's version 1 over its version 2, unsaid; it is refused in one
    line, and the new dataset keeps its versions."""
    old = store.create_dataset("Rules", RECS)
    store.save_version(old.id, RECS[:1], base_version=1)
    store.delete_dataset(old.id)
    new = store.create_dataset("Rules", RECS[1:], message="imported rules.csv")
    store.save_version(new.id, RECS, base_version=1)
    with pytest.raises(DatasetReplacedError) as err:
        store.restore_version(new.id, 1, base_version=2, made_on=old.uid)
    assert str(err.value) == ("Dataset 'Rules' whose versions you were looking at was deleted (in another tab or "
                              "session) and a new dataset took its name: nothing was restored. Its own versions are "
                              "listed now: restore one of them if you mean to.")
    assert [v.message for v in store.list_versions(new.id)] == ["imported rules.csv", "edited"]
    assert store.load_version(new.id) == RECS
    assert store.restore_version(new.id, 1, base_version=2, made_on=new.uid).version == 3
    assert store.load_version(new.id) == RECS[1:]


def test_a_rename_that_waited_on_a_delete_says_nothing_was_renamed(studio_home):
    """A rename that waited for the dataset's lock while another session deleted it was told "as this change was being
    saved: nothing was saved (the Dataset page offers to save unsaved changes as a new dataset)": a rename has no
    unsaved changes to offer. It says the dataset went and nothing was renamed."""
    info = store.create_dataset("Shared", RECS)
    said = _waited_on_a_delete(studio_home, info, lambda: store.rename_dataset(info.id, "Renamed"))
    assert said == [f"Dataset {info.id!r} was deleted (in another tab or session) before it was renamed: nothing was "
                    "renamed. Pick another dataset."]
    assert store.list_datasets() == []


def test_two_sessions_renaming_two_datasets_to_one_name_at_once_give_one_name_taken(monkeypatch):
    """Both renames checked the name before either wrote it, and the workspace held two datasets named "Final" (the
    command line's --dataset Final then named either). The hook lets each check wait up to 2 s for the other's, as
    two sessions at the same moment would (under the lock, the second waits for the first instead)."""
    a, b = store.create_dataset("Alpha", RECS), store.create_dataset("Beta", RECS)
    check, arrived = store._check_name, threading.Barrier(2)

    def at_once(*args, **kwargs):
        try:
            arrived.wait(2)
        except threading.BrokenBarrierError:
            pass
        return check(*args, **kwargs)

    monkeypatch.setattr(store, "_check_name", at_once)
    said = []

    def rename(dataset_id):
        try:
            store.rename_dataset(dataset_id, "Final")
            said.append("renamed")
        except StudioError as exc:
            said.append(str(exc))

    threads = [threading.Thread(target=rename, args=(d.id,)) for d in (a, b)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert sorted(said)[1:] == ["renamed"] and "already exists" in sorted(said)[0], said
    assert sorted(d.name for d in store.list_datasets()) in (["Alpha", "Final"], ["Beta", "Final"])


def test_two_sessions_deleting_one_dataset_at_once_move_it_once_and_the_other_is_told(studio_home, monkeypatch):
    """Both deletes found the dataset; the second then moved a folder that was gone: "No such file or directory", an
    unexpected failure. The hook lets each wait up to 2 s for the other after finding it, as two clicks at once would."""
    info = store.create_dataset("Shared", RECS)
    find, arrived = store._dir, threading.Barrier(2)

    def at_once(dataset_id):
        found = find(dataset_id)
        try:
            arrived.wait(2)
        except threading.BrokenBarrierError:
            pass
        return found

    monkeypatch.setattr(store, "_dir", at_once)
    said = []

    def delete():
        try:
            said.append(store.delete_dataset(info.id))
        except Exception as exc:  # noqa: BLE001 - what each session is told
            said.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=delete) for _ in range(2)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    moved = [s for s in said if not isinstance(s, str)]
    assert len(moved) == 1 and [s for s in said if isinstance(s, str)] == [
        f"DatasetNotFoundError: Dataset {info.id!r} was already deleted (in another tab or session): nothing more to "
        "delete. Pick another dataset."], said
    assert len(list((studio_home / "trash").iterdir())) == 1 and store.list_datasets() == []


def test_diff_reports_added_removed_edited():
    before = [{"question": "a", "answer": "1"}, {"question": "b", "answer": "2"}, {"question": "c", "answer": "3"}]
    after = [{"question": "a", "answer": "1"}, {"question": "b", "answer": "two"}, {"question": "d", "answer": "4"},
             {"question": "e", "answer": "5"}]
    d = store.diff_records(before, after)
    assert d.edited == [(before[1], after[1])]
    assert [r["question"] for r in d.added] == ["d", "e"]
    assert d.removed == [before[2]]
    assert store.diff_records(before, before).empty


def test_a_record_is_paired_with_the_most_alike_of_those_sharing_its_question_or_answer():
    """Old A (Q, a1), B (Q2, a2); new B' (Q, a2), then A' (Q, a1 reworded): A was paired with B', the first record of
    its question, so B read removed and A' added, and a rebase took B' for A's edit. Each is its own edit now; and of
    two records of A's question, the one with its answer too is A."""
    a = {"question": "How long is a match?", "answer": "Two halves of 45 minutes."}
    b = {"question": "How long is half time?", "answer": "15 minutes."}
    b2 = {"question": "How long is a match?", "answer": "15 minutes."}
    a2 = {"question": "How long is a match?", "answer": "Two halves of 45 minutes each."}
    pairs, gone, fresh = store.pair_records([a, b], [b2, a2])
    assert (pairs, gone, fresh) == ([(a, a2), (b, b2)], [], [])
    other = {"question": "How long is a match?", "answer": "Ninety minutes."}
    assert store.pair_records([a, b], [other, a, b2]) == ([(a, a), (b, b2)], [], [other])


def _create_after_barrier(barrier, name: str, records: list, results) -> None:
    barrier.wait()
    try:
        info = store.create_dataset(name, records)
        results.put(("ok", name, info.id))
    except StudioError as exc:
        results.put(("error", name, str(exc)))


def _race(names: list[str]) -> list[tuple]:
    """Two processes create a dataset each at the same moment (released together by one barrier)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(len(names)), ctx.Queue()
    procs = [ctx.Process(target=_create_after_barrier,
                         args=(barrier, name, [{"question": f"Q from {name}?", "answer": "A."}], results))
             for name in names]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    return sorted(results.get(timeout=5) for _ in names)


@pytest.mark.parametrize("trial", range(4))
def test_two_datasets_created_at_once_with_the_same_slug_both_keep_their_records(trial):
    outcomes = _race(["Team A", "team-a!"])
    assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
    ids = {name: ds_id for _, name, ds_id in outcomes}
    assert len(set(ids.values())) == 2
    for name, ds_id in ids.items():
        assert store.load_version(ds_id, 1) == [{"question": f"Q from {name}?", "answer": "A."}]
        assert store.get_dataset(ds_id).name == name


@pytest.mark.parametrize("trial", range(4))
def test_the_same_name_created_twice_at_once_gives_one_dataset_and_one_name_taken(trial):
    outcomes = _race(["Team A", "Team A"])
    assert [o[0] for o in outcomes] == ["error", "ok"], outcomes
    assert "already exists" in outcomes[0][2]
    (only,) = store.list_datasets()
    assert store.load_version(only.id, 1) == [{"question": "Q from Team A?", "answer": "A."}]


def test_a_new_dataset_folder_is_readable_like_any_other(studio_home):
    import stat

    info = store.create_dataset("Modes", [{"question": "q", "answer": "a"}])
    folder = studio_home / "datasets" / info.id
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_names_that_look_alike_are_one_name_and_a_name_is_one_line():
    import unicodedata

    store.create_dataset("Café rules", [])
    decomposed = unicodedata.normalize("NFD", "CAFÉ RULES")  # "E" + U+0301: looks the same, another string
    assert decomposed != "CAFÉ RULES"
    with pytest.raises(StudioError, match="already exists"):  # two datasets listed under the same name
        store.create_dataset(decomposed, [])
    assert store.find_dataset(decomposed).name == "Café rules"
    for name in ("a\tb", "first line\nsecond line", "bell\x07"):  # a tab or a line break split `dataset list`
        with pytest.raises(StudioError, match="A dataset name is one line"):
            store.create_dataset(name, [])
    assert [d.name for d in store.list_datasets()] == ["Café rules"]


def test_a_full_width_look_alike_of_a_name_is_refused_naming_the_dataset_it_copies(tmp_path):
    """"ＦＡＱ" (full-width letters) was taken beside "FAQ": two datasets the lists showed under one name."""
    import json

    store.create_dataset("FAQ", [])
    with pytest.raises(StudioError) as err:
        store.create_dataset("ＦＡＱ", [])
    assert str(err.value) == "A dataset named 'FAQ' already exists ('ＦＡＱ' looks the same): choose another name."
    other = store.create_dataset("ﬁxtures", [])  # the ligature "ﬁ": "fixtures" is its look-alike
    with pytest.raises(StudioError, match="'ﬁxtures' already exists"):
        store.rename_dataset(store.find_dataset("FAQ").id, "Fixtures")
    assert sorted(d.name for d in store.list_datasets()) == ["FAQ", "ﬁxtures"]
    # a workspace that has both from before: each is still found by its own name
    head = store.dataset_path(other.id) / "dataset.json"
    head.write_text(json.dumps({**json.loads(head.read_text()), "name": "ＦＡＱ"}), encoding="utf-8")
    assert store.find_dataset("ＦＡＱ").id == other.id and store.find_dataset("FAQ").id != other.id


def test_a_name_with_a_text_direction_override_is_refused_and_a_file_name_offered_without_it():
    """A dataset named "\u202elmth.exe" was listed as "exe.html": an override shows a name in another order than it
    is typed. Right-to-left names need none (an Arabic one is taken as typed)."""
    for name in ("\u202elmth.exe", "a \u2067isolate", "an \u202bembedding"):  # every kind, as run names
        with pytest.raises(StudioError, match="text-direction control"):
            store.create_dataset(name, [])
    assert store.create_dataset("أسئلة كرة القدم", []).name == "أسئلة كرة القدم"
    assert store.name_from("\u202elmth.exe") == "lmth.exe" and store.name_from("a \u2067b") == "a b"


def test_a_name_is_found_before_an_id_spelled_like_it(monkeypatch):
    times = iter(["2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00"])
    monkeypatch.setattr(store, "_now", lambda: next(times, "2026-01-01T00:00:03+00:00"))  # "two" is the newer one
    one = store.create_dataset("one", [{"question": "q1", "answer": "a1"}])
    two = store.create_dataset("two", [{"question": "q2", "answer": "a2"}])
    store.rename_dataset(two.id, "zzz")
    store.rename_dataset(one.id, "two")  # now named like the other dataset's id ("two")
    assert store.find_dataset("two").id == one.id
    assert store.find_dataset("zzz").id == two.id


@pytest.mark.parametrize(("damage", "why"), [
    (lambda f: f.write_bytes(f.read_bytes()[:20]), "not valid JSON, cut off or edited"),
    (lambda f: f.write_text("{}"), "not a list of records"),
    (lambda f: f.write_bytes(b"\xff\xfe[]"), "not UTF-8 text"),
])
def test_a_version_file_damaged_outside_the_studio_is_one_line(damage, why, capsys):
    """Export, train and evaluate of such a dataset ended in a JSONDecodeError traceback (or failed later)."""
    from studio.__main__ import main

    info = store.create_dataset("Rules", RECS)
    path = store.version_path(info.id)
    damage(path)
    said = (f"Version 1 of dataset 'rules' is damaged ({why}): its file {path} was changed outside the studio; "
            "restore another version, or put the file back.")
    with pytest.raises(StudioError) as err:
        store.load_version(info.id)
    assert str(err.value) == said
    assert main(["dataset", "export", "Rules", "--out", str(path.parent.parent.parent / "out.json")]) == 2
    assert capsys.readouterr().err == f"error: {said}\n"


def test_a_version_note_of_megabytes_is_refused_in_one_line_and_nothing_is_written(studio_home):
    # a visitor's paste into the Save box's note was written into the version's record, and drawn in History
    info = store.create_dataset("notes", [{"question": "q", "answer": "a"}])
    note = "x" * (store.MESSAGE_MAX + 1)
    with pytest.raises(StudioError, match=r"^Not saved: the note on what changed is 5,001 characters, more than the "
                                          r"5,000 it may hold: shorten it \(your edits are kept\)\.$"):
        store.save_version(info.id, [{"question": "q2", "answer": "a2"}], base_version=1, message=note)
    with pytest.raises(StudioError, match="5,001 characters"):
        store.create_dataset("other", [], message=note)
    assert [v.version for v in store.list_versions(info.id)] == [1]
    assert [d.name for d in store.list_datasets()] == ["notes"]
    saved = store.save_version(info.id, [{"question": "q2", "answer": "a2"}], base_version=1,
                               message="y" * store.MESSAGE_MAX)
    assert saved.version == 2


def test_a_comparison_of_a_shuffled_version_names_only_what_was_added_removed_or_edited():
    """Records in both versions, unchanged, in another order read as removed and added again: 300 records shuffled,
    20 removed, 30 added and 10 answers edited read as ~280 removed and ~290 added. A move is now counted apart."""
    import random

    from studio.data import editing

    before = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(300)]
    after = [dict(r) for r in before[20:]]
    for r in after[:10]:
        r["answer"] += " Edited."
    after += [{"question": f"New {i}?", "answer": "New."} for i in range(30)]
    random.Random(7).shuffle(after)
    diff = editing.changes(before, after)
    assert sorted(r["question"] for r in diff.removed) == sorted(r["question"] for r in before[:20])
    assert sorted(r["question"] for r in diff.added) == sorted(f"New {i}?" for i in range(30))
    assert sorted(new["answer"] for _, new in diff.edited) == sorted(f"Answer {i}. Edited." for i in range(20, 30))
    assert diff.moved > 0 and editing.summary(diff).startswith("30 added, 20 removed, 10 edited, ")
    assert editing.summary(editing.changes(before, before[::-1])) == "299 moved"  # one stays, the others move past it
