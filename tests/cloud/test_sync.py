"""A visitor's workspace kept in a private dataset repo on their account, against the loopback Hub stand-in."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hub_servers import point_hub_at, standin_hub, token_leaks

from studio import atomic, config
from studio.cloud import sync, usage
from studio.data import store

TOKEN = "hf_alice_write_token_0123456789"


@pytest.fixture
def hub(monkeypatch):

    with standin_hub() as h:
        point_hub_at(monkeypatch, h.url)
        h.users[TOKEN] = ("alice", "write")
        yield h


OWN = 2 * usage.BLOCK  # what a restored workspace holds besides what came: its size record and the sync record, a
# block each (that record's lock is empty: the disk holds no block for it; usage.on_disk)


def room_of(dataset: Path) -> int:
    """What a dataset's folder takes of a workspace's limit once restored (``usage.on_disk``: its files and folders in
    whole blocks), with its own folder and ``datasets/``."""
    return usage.measure(dataset) + 2 * usage.BLOCK


def files_of(folder: Path) -> dict[str, bytes]:
    return {rel: (folder / rel).read_bytes() for rel in sync.local_files(folder)}


def public_workspace(monkeypatch, name: str, limit_bytes: int) -> tuple[Path, dict]:
    """A visitor's empty workspace ``name`` on the public app (every save checked), limited to ``limit_bytes``; and
    the settings its limits are read from, which a test may change (room freed, a smaller limit after a restart)."""
    from studio.cloud import workspaces
    from studio.ui import cloud, cloud_settings

    settings = {"workspace_mb": limit_bytes / 1e6, "workspaces_total_mb": 1000}
    monkeypatch.setattr(cloud_settings, "studio_setting", lambda key, default: settings.get(key, default))
    monkeypatch.setattr(cloud, "_in_use", lambda: set())
    config.set_tenancy(True, lambda: None, cloud._check_room, cloud._limit_of, cloud._fits)
    folder = workspaces.root() / name
    folder.mkdir(parents=True)
    return folder, settings


def three_versions(folder: Path) -> str:
    with config.use_workspace(folder):
        ds = store.create_dataset("Alice's FAQ", [{"question": "q1?", "answer": "a1"}])
        store.save_version(ds.id, [{"question": "q1?", "answer": "a1 ✓"}], base_version=1)
        store.save_version(ds.id, [{"question": "q1?", "answer": "a1 ✓"}, {"question": "q2?", "answer": "二"}],
                           base_version=2)
    return ds.id


def test_versions_saved_with_a_token_come_back_byte_for_byte_into_an_empty_workspace(hub, tmp_path):
    first = tmp_path / "before-restart"
    dataset = three_versions(first)
    account = sync.identify(TOKEN)
    repo = sync.open_repo(TOKEN, account)
    assert repo == "alice/slm-studio-workspace" and hub.repos[("dataset", repo)].private
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    saved = files_of(first)
    assert {f"datasets/{dataset}/versions/000{n}.json" for n in (1, 2, 3)} <= set(saved)

    after = tmp_path / "after-restart"  # STUDIO_HOME wiped: a new, empty folder
    assert sync.open_repo(TOKEN, sync.identify(TOKEN)) == repo  # the same repo, recognised as a workspace
    sync.restore(TOKEN, repo, after)
    assert files_of(after) == saved
    with config.use_workspace(after):
        assert [v.version for v in store.list_versions(dataset)] == [1, 2, 3]
    assert token_leaks(hub, TOKEN, first, after) == []
    assert hub.unknown == []


def test_a_save_a_delete_and_nothing_new_make_one_commit_each_and_no_empty_one(hub, tmp_path):
    folder = tmp_path / "ws"
    dataset = three_versions(folder)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN)
    assert s.sync_once() and s.sync_once()
    assert s.commits == 1
    with config.use_workspace(folder):
        store.delete_dataset(dataset)
    assert s.sync_once() and s.commits == 2
    assert not [f for f in hub.repos[("dataset", repo)].files if f.startswith("datasets/")]  # trash is not synced


def test_a_file_gone_between_listing_and_reading_is_not_pushed_and_the_sync_goes_on(hub, tmp_path, monkeypatch):
    """A file removed while a sync reads the folder (a version replaced, a workspace cleared or moved) ended the
    visitor's sync thread with FileNotFoundError: nothing they saved afterwards reached their repo."""
    folder = tmp_path / "ws"
    dataset = three_versions(folder)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN)
    gone = folder / "datasets" / dataset / "versions" / "0003.json"
    real = sync._sha

    def listed(path):  # the listing hashes it; by the time the commit reads it, it is gone
        try:
            return real(path)
        finally:
            if path == gone:
                path.unlink()

    monkeypatch.setattr(sync, "_sha", listed)
    assert s.sync_once()
    pushed = hub.repos[("dataset", repo)].files
    assert f"datasets/{dataset}/versions/0002.json" in pushed and f"datasets/{dataset}/versions/0003.json" not in pushed
    with config.use_workspace(folder):
        later = store.create_dataset("Saved after", [{"question": "q3?", "answer": "after"}])
    assert s.sync_once() and f"datasets/{later.id}/versions/0001.json" in hub.repos[("dataset", repo)].files


def test_a_file_gone_while_a_commit_sends_it_is_committed_as_the_folder_is_at_the_next_look(hub, tmp_path, monkeypatch):
    """A commit sends each file from its path: one deleted after it was hashed and before it was sent stops that
    commit, and is neither shown as the Hub being unreachable nor left out of the next commit's deletions."""
    from huggingface_hub import CommitOperationAdd

    folder = tmp_path / "ws"
    dataset = three_versions(folder)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN)
    gone = folder / "datasets" / dataset / "versions" / "0003.json"
    real = CommitOperationAdd.b64content

    def sent(op):
        if op.path_in_repo.endswith("0003.json") and gone.exists():
            gone.unlink()
        return real(op)

    monkeypatch.setattr(CommitOperationAdd, "b64content", sent)
    assert s.sync_once() and s.state == "synced"  # looked at again at once, as the folder is then
    pushed = hub.repos[("dataset", repo)].files
    assert f"datasets/{dataset}/versions/0002.json" in pushed and f"datasets/{dataset}/versions/0003.json" not in pushed


def test_a_sync_stopped_by_files_going_while_sent_never_says_it_is_syncing_afterwards(hub, tmp_path, monkeypatch):
    """A file deleted while its commit sent it left the sync "syncing" with no commit running: the sidebar said
    *Syncing…* for good where no watcher looked again (its last look as it ended, a tab left open)."""
    from huggingface_hub import HfApi

    folder = tmp_path / "ws"
    three_versions(folder)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN)
    assert s.sync_once() and s.state == "synced"
    with config.use_workspace(folder):
        store.create_dataset("Saved after", [{"question": "q3?", "answer": "after"}])

    def gone(*args, **kwargs):  # every try: a file went while it was sent (a visitor deleting dataset after dataset)
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(HfApi, "create_commit", gone)
    assert not s.sync_once()
    assert s.state == "waiting" and "Not synced yet" in s.message
    monkeypatch.undo()
    point_hub_at(monkeypatch, hub.url)
    s._stop.set()  # the watcher's last look, as it ends, commits the folder as it is
    s._last_poke = 0
    s._loop()
    assert s.state == "synced"


def test_a_repo_that_is_not_a_studio_workspace_is_refused_and_left_as_it_was(hub):
    from huggingface_hub import HfApi

    HfApi(token=TOKEN).create_repo("alice/slm-studio-workspace", repo_type="dataset")
    HfApi(token=TOKEN).upload_file(path_or_fileobj=b"my thesis data\n", path_in_repo="data.csv",
                                   repo_id="alice/slm-studio-workspace", repo_type="dataset")
    before = dict(hub.repos[("dataset", "alice/slm-studio-workspace")].files)
    with pytest.raises(sync.SyncError) as err:
        sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert "alice/slm-studio-workspace exists and is not an SLM Studio workspace" in str(err.value)
    assert "\n" not in str(err.value)
    assert hub.repos[("dataset", "alice/slm-studio-workspace")].files == before


@pytest.mark.parametrize("token, words", [
    ("hf_wrong", "That Hugging Face token was refused"),
    ("hf_read_only", "That token can only read"),
])
def test_a_wrong_or_read_only_token_is_one_line_and_nothing_is_synced(hub, token, words):
    hub.users["hf_read_only"] = ("alice", "read")
    with pytest.raises(sync.SyncError) as err:
        sync.open_repo(token, sync.identify(token))
    assert str(err.value).startswith(words) and "\n" not in str(err.value)
    assert hub.repos == {}


def test_the_hub_down_during_a_save_keeps_the_local_version_and_the_retry_syncs_it(hub, tmp_path):
    folder = tmp_path / "ws"
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    dataset = three_versions(folder)
    local = files_of(folder)
    hub.down = True
    s = sync.WorkspaceSync(folder, repo, TOKEN)
    assert not s.sync_once()
    assert s.state == "failed" and "503" in s.message and "retried" in s.message and "\n" not in s.message
    assert files_of(folder) == local  # nothing here changed
    hub.down = False
    assert s.sync_once() and s.state == "synced"
    remote = hub.repos[("dataset", repo)].files
    assert remote[f"datasets/{dataset}/versions/0003.json"] == local[f"datasets/{dataset}/versions/0003.json"]


def test_restore_keeps_a_newer_local_file_and_replaces_only_the_untouched_sample(hub, tmp_path):
    from studio.data import sample

    old = tmp_path / "old"
    with config.use_workspace(old):
        sample.ensure_sample()
        info = store.list_datasets()[0]
        store.save_version(info.id, sample.load_sample()[:3], base_version=1, message="kept three")
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    sync.WorkspaceSync(old, repo, TOKEN).sync_once()
    new = tmp_path / "new"  # a new workspace starts with the untouched sample: the saved one replaces it
    with config.use_workspace(new):
        sample.ensure_sample()
    sync.restore(TOKEN, repo, new)
    with config.use_workspace(new):
        assert [v.message for v in store.list_versions(info.id)] == ["embedded sample", "kept three"]
    head = new / "datasets" / info.id / "dataset.json"
    head.write_text(json.dumps({"id": info.id, "name": "Renamed here", "created": "x"}), encoding="utf-8")
    sync.restore(TOKEN, repo, new)
    assert json.loads(head.read_text(encoding="utf-8"))["name"] == "Renamed here"  # newer here: kept


def _converse(folder: Path, turns: int, secret: str = TOKEN) -> list[dict]:
    """``turns`` questions and answers saved as the Chat page saves them after each turn (``secret``: this session's
    token, which the first question pasted)."""
    from studio.chat import saved

    messages: list[dict] = []
    with config.use_workspace(folder):
        for n in range(turns):
            question = f"Question {n}: my token is {secret}, key sk-proj-abc123def456ghi789jkl" if n == 0 else \
                f"Question {n}?"
            messages += [{"role": "user", "content": question},
                         {"role": "assistant", "content": f"Answer {n}.", "model": "org/model (HF auto)"}]
            saved.save(messages, [secret])
    return messages


def test_the_chat_conversation_comes_back_after_a_restart_with_no_secret_in_the_repo(hub, tmp_path):
    """The conversation was left out of the sync: a restart brought a visitor's datasets back but not their Chat."""
    from studio.chat import saved

    first = tmp_path / "before-restart"
    _converse(first, 3)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    pushed = hub.repos[("dataset", repo)].files["chat/conversation.json"]
    assert TOKEN.encode() not in pushed and b"sk-proj-abc123" not in pushed and b"***" in pushed

    after = tmp_path / "after-restart"
    sync.restore(TOKEN, repo, after)
    with config.use_workspace(after):
        turns, note = saved.load()
    assert note is None and [t["content"] for t in turns][-2:] == ["Question 2?", "Answer 2."]
    assert turns[0]["content"].startswith("Question 0: my token is ***")
    assert token_leaks(hub, TOKEN, first, after) == []


def test_quick_chat_turns_make_a_bounded_number_of_commits_and_the_last_one_still_reaches_the_repo(hub, tmp_path):
    from studio.chat import saved

    folder = tmp_path / "ws"
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN, batch_s=60)
    messages: list[dict] = []
    for n in range(12):  # a chatty visitor: a turn every moment, the watcher looking after each
        messages += [{"role": "user", "content": f"Q{n}?"}, {"role": "assistant", "content": f"A{n}."}]
        with config.use_workspace(folder):
            saved.save(messages)
        s.sync_once()
    assert s.commits == 1  # the first turn at once; the next ones wait for the pause
    with config.use_workspace(folder):  # another save goes at once, and takes the conversation with it
        store.create_dataset("Saved meanwhile", [{"question": "q?", "answer": "a"}])
    assert s.sync_once() and s.commits == 2
    assert b"Q11?" in hub.repos[("dataset", repo)].files["chat/conversation.json"]
    messages += [{"role": "user", "content": "Last?"}, {"role": "assistant", "content": "Last."}]
    with config.use_workspace(folder):
        saved.save(messages)
    assert not s.sync_once() and s.commits == 2
    s._batched_at -= 61  # the pause is over
    assert s.sync_once() and s.commits == 3
    messages += [{"role": "user", "content": "Bye?"}, {"role": "assistant", "content": "Bye."}]
    with config.use_workspace(folder):
        saved.save(messages)
    assert s.sync_once(flush=True) and s.commits == 4  # the watcher's last look, as it ends, commits it
    assert b"Bye?" in hub.repos[("dataset", repo)].files["chat/conversation.json"]


def _questions(folder: Path) -> list[str]:
    from studio.chat import saved

    with config.use_workspace(folder):
        turns, note = saved.load()
    assert note is None
    return [t["content"] for t in turns if t["role"] == "user"]


def test_a_conversation_here_before_the_restore_comes_after_the_repo_s_and_the_next_commit_keeps_both(hub, tmp_path):
    """After a restart, a conversation already in the workspace (the tab's, moved in on signing in; a question asked
    before the restore ended) made the restore skip the repo's, and the next commit replaced it there."""
    first = tmp_path / "before-restart"
    _converse(first, 2)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()

    after = tmp_path / "after-restart"
    with config.use_workspace(after):
        from studio.chat import saved

        saved.save([{"role": "user", "id": "q-new", "content": "Asked before it came back?"},
                    {"role": "assistant", "content": "Yes."}])
    sync.restore(TOKEN, repo, after)
    want = ["Question 0: my token is ***, key ***", "Question 1?", "Asked before it came back?"]
    assert _questions(after) == want
    assert sync.WorkspaceSync(after, repo, TOKEN).sync_once()
    again = tmp_path / "second-restart"
    sync.restore(TOKEN, repo, again)
    assert _questions(again) == want  # the repo holds both

    sync.restore(TOKEN, repo, after)  # restored again (the token given in another session): nothing doubled
    assert _questions(after) == want
    _converse(first, 3)  # a conversation that went on from an older copy: only what it lacks joins, before it
    sync.restore(TOKEN, repo, first)
    assert _questions(first) == ["Asked before it came back?", *want[:2], "Question 2?"]


def test_clear_conversation_reaches_the_repo_at_once_so_a_restart_does_not_bring_it_back(hub, tmp_path):
    """A Clear was held back with the conversation's other changes (up to a minute): a restart in between brought
    the cleared conversation back."""
    from studio.chat import saved

    folder = tmp_path / "ws"
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN, batch_s=60)
    _converse(folder, 1)
    assert s.sync_once()
    _converse(folder, 2)  # the next turn, moments later: it waits, and the watcher says until when
    assert not s.sync_once() and s.waits_until is not None and s.waits_until > time.time() + 50
    with config.use_workspace(folder):
        saved.forget()  # Clear conversation
    assert s.sync_once() and s.waits_until is None
    after = tmp_path / "after-restart"
    sync.restore(TOKEN, repo, after)
    assert not (after / "chat" / "conversation.json").exists()


def _chat(folder: Path, *exchanges: tuple[str, str]) -> None:
    """A conversation saved before questions had ids (what a restore or a move meets in older files)."""
    from studio.chat import saved

    with config.use_workspace(folder):
        saved.save([t for q, a in exchanges for t in ({"role": "user", "content": q}, {"role": "assistant", "content": a})])


def _exchanges(folder: Path) -> list[tuple[str, str]]:
    from studio.chat import saved

    with config.use_workspace(folder):
        turns, _note = saved.load()
    return [(q["content"], a["content"]) for q, a in zip(turns[::2], turns[1::2], strict=True)]


def test_a_restore_keeps_the_same_question_asked_twice_as_two_turns_and_doubles_none(hub, tmp_path):
    """Old turns without question ids were matched by their question alone: "hi" asked twice in the repo's copy
    and once here came back as one, losing the other answer."""
    first = tmp_path / "before-restart"
    _chat(first, ("hi", "Hello!"), ("hi", "Hi again."), ("Bye?", "Bye."))
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()

    after = tmp_path / "after-restart"  # an older copy of the same conversation: its answer was still coming
    _chat(after, ("hi", "Hel"))
    sync.restore(TOKEN, repo, after)
    assert sorted(_exchanges(after)) == sorted([("hi", "Hel"), ("hi", "Hi again."), ("Bye?", "Bye.")])
    sync.restore(TOKEN, repo, first)  # the same conversation both sides: nothing doubled
    assert _exchanges(first) == [("hi", "Hello!"), ("hi", "Hi again."), ("Bye?", "Bye.")]


def test_a_conversation_moving_into_a_kept_one_keeps_a_question_asked_twice_and_doubles_none(tmp_path):
    """Giving a token or signing in put the tab's conversation after the kept one whole: an exchange both held (a tab
    of the browser that went on with it) was there twice."""
    from studio.cloud import workspaces

    kept, tab = tmp_path / "kept", tmp_path / "tab"
    _chat(kept, ("hi", "Hello!"))
    _chat(tab, ("hi", "Hello!"), ("hi", "Hey, again."), ("Thanks", "You're welcome."))
    merged = workspaces.merge_into(tab, kept)
    assert merged.note is None
    assert _exchanges(kept) == [("hi", "Hello!"), ("hi", "Hey, again."), ("Thanks", "You're welcome.")]


class _Stats:
    """Counts the stats of files under ``root`` (what the watcher's look costs, whatever the machine's speed)."""

    def __init__(self, root: Path):
        import os

        self.root, self.count, self._os, self._real = str(root), 0, os, os.stat

    def __enter__(self) -> _Stats:
        def counting(path, *args, **kwargs):
            if str(path).startswith(self.root):
                self.count += 1
            return self._real(path, *args, **kwargs)

        self._os.stat = counting
        return self

    def __exit__(self, *exc: object) -> None:
        self._os.stat = self._real


def test_an_idle_watcher_looks_at_a_few_files_and_every_change_still_reaches_the_repo(hub, monkeypatch):
    """The watcher stat'ed every synced file of every synced workspace every 2 s (9% of a core for 50 visitors of 300
    files each, all the time). It now looks at a few stats that any save, delete or Clear changes."""
    from studio.chat import saved
    from studio.cloud import workspaces
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "_in_use", lambda: set())
    config.set_tenancy(True, lambda: None, cloud._check_room, cloud._limit_of, cloud._fits)  # the public app's checked saves
    folder = workspaces.root() / ("u-" + "1" * 32)
    with config.use_workspace(folder):
        ids = [store.create_dataset(f"Big {n}", [{"question": "q?", "answer": "a"}]).id for n in range(3)]
        for ds in ids:
            for v in range(1, 60):
                store.save_version(ds, [{"question": "q?", "answer": f"a{v}"}], base_version=v)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN)
    s.tick()
    assert s.commits == 1 and len(sync.local_files(folder)) > 300
    with _Stats(folder) as looked:
        for _ in range(5):
            s.tick()
    # a stat each of the size record, the synced folders, chat/, the kept files and the conversation, per look
    assert looked.count <= 5 * (4 + len(sync.SYNCED_FILES) + len(sync.BATCHED_FILES)) and s.commits == 1

    pushed = hub.repos[("dataset", repo)].files
    with config.use_workspace(folder):  # a new version of a dataset already there (a file deep in its folder)
        store.save_version(ids[0], [{"question": "q?", "answer": "newest"}], base_version=60)
    s.tick()
    assert f"datasets/{ids[0]}/versions/0061.json" in pushed
    with config.use_workspace(folder):
        store.delete_dataset(ids[1])
    s.tick()
    assert not [f for f in pushed if f.startswith(f"datasets/{ids[1]}/")]
    with config.use_workspace(folder):
        saved.save([{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}])
    s.tick()
    assert "chat/conversation.json" in pushed
    with config.use_workspace(folder):
        saved.save([{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."},
                    {"role": "user", "content": "Again?"}, {"role": "assistant", "content": "B."}])
    s.tick()
    assert b"Again?" not in pushed["chat/conversation.json"] and s.waits_until  # batched: at most once a minute
    with config.use_workspace(folder):
        saved.forget()  # Clear conversation: at once
    s.tick()
    assert "chat/conversation.json" not in pushed


def test_a_dataset_deleted_to_make_room_stays_deleted_when_the_restore_filled_the_workspace_to_the_brim(
        hub, monkeypatch, tmp_path):
    """What a stopped restore brought back is recorded beside the workspace; where the restore left no room even for
    that record, it was refused too, and the next try brought back the dataset the visitor deleted to make room."""
    from studio.errors import WorkspaceFullError

    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        kept = store.create_dataset("Kept", [{"question": f"q{n}?", "answer": "k" * 200} for n in range(20)]).id
        big = store.create_dataset("Big", [{"question": f"q{n}?", "answer": "b" * 400} for n in range(40)]).id
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    first = kept if kept < big else big  # the restore brings datasets back in order of their folder names
    room = room_of(before / "datasets" / first)

    folder, settings = public_workspace(monkeypatch, "u-" + "2" * 32, room + OWN + 120)
    with pytest.raises(WorkspaceFullError), config.use_workspace(folder):
        sync.restore(TOKEN, repo, folder)
    assert (folder / "datasets" / first / "dataset.json").exists()
    with config.use_workspace(folder):
        store.delete_dataset(first)  # to make room
    settings["workspace_mb"] = 1
    with config.use_workspace(folder):
        sync.restore(TOKEN, repo, folder)
    assert not (folder / "datasets" / first).exists()
    assert (folder / "datasets" / ({kept, big} - {first}).pop() / "dataset.json").exists()


def test_a_restore_held_back_by_room_says_in_one_short_line_what_did_not_come_back_and_what_to_do(
        hub, monkeypatch, tmp_path):
    """The line quoted the workspace-full refusal whole inside a sentence of its own (330 characters in the sidebar)
    and never said what was missing."""
    from studio.errors import WorkspaceFullError

    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        ids = sorted(store.create_dataset(name, [{"question": f"q{n}?", "answer": "x" * 300} for n in range(20)]).id
                     for name in ("A", "B", "C"))
    (before / "evals").mkdir()
    (before / "evals" / "e1.json").write_text(json.dumps({"answers": ["y" * 5000]}))
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    room = room_of(before / "datasets" / ids[0])

    folder, settings = public_workspace(monkeypatch, "h-" + "3" * 32, room + OWN + 500)
    with pytest.raises(WorkspaceFullError) as caught, config.use_workspace(folder):
        sync.restore(TOKEN, repo, folder)
    line = str(sync.held_by_room(caught.value, "alice/slm-studio-workspace (private)"))
    limit = usage.readable_size(room + OWN + 500)
    assert line == (f"2 datasets and 1 evaluation kept in alice/slm-studio-workspace (private) did not come back: this "
                    f"workspace is at its {limit} limit. Delete what you no longer need here and they come back; sync "
                    "waits until then.")


def test_two_writers_of_the_sync_record_at_once_never_fail_nor_leave_it_torn(tmp_path):
    """A restore in the page and the watcher's commit can record what the repo holds at the same moment: with one
    fixed temporary name, one writer's rename found the file gone (an error in the middle of a restore) or read a
    record half written, which reads as empty, so deletions were never sent and deleted files came back."""
    import threading

    failures: list[BaseException] = []

    def record(n: int) -> None:
        try:
            for i in range(300):
                sync._save_manifest(tmp_path, {f"datasets/d{n}/000{i}.json": "a" * 64 for i in range(i % 40)})
                json.loads((tmp_path / sync.MANIFEST).read_text(encoding="utf-8"))
        except BaseException as exc:  # noqa: BLE001 - any failure of a writer is the defect
            failures.append(exc)

    writers = [threading.Thread(target=record, args=(n,)) for n in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert not failures, failures[:1]
    assert not [p.name for p in tmp_path.iterdir() if p.name != sync.MANIFEST]  # no temporary file left behind


def test_the_chat_settings_and_the_evaluate_form_come_back_after_a_restart_with_the_conversation(hub, tmp_path):
    """The docs promise both back "after a restart" / "another day": on the public app a restart empties the disk, and
    neither file was synced, so the conversation came back to be continued with the default settings."""
    from studio.chat import kept_settings
    from studio.chat.base import ChatParams
    from studio.evaluate import form

    first = tmp_path / "before-restart"
    _converse(first, 1)
    with config.use_workspace(first):
        kept_settings.save(ChatParams(max_new_tokens=96, temperature=0.4), "Custom", "Answer in French.")
        form.save({"max_new_tokens": 32, "sample": 5, "base_url": "http://127.0.0.1:8000/v1"})
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()

    after = tmp_path / "after-restart"
    sync.restore(TOKEN, repo, after)
    with config.use_workspace(after):
        chat = kept_settings.load()
        assert chat["max_new_tokens"] == 96 and chat["temperature"] == 0.4 and chat["system"] == "Answer in French."
        assert form.load() == {"max_new_tokens": 32, "sample": 5, "base_url": "http://127.0.0.1:8000/v1"}


def test_a_restore_held_back_by_room_does_not_download_again_on_each_retry_what_cannot_fit(hub, monkeypatch, tmp_path):
    """Each retry of a restore stopped for want of room (every few seconds, for 30 minutes after the visitor's last
    page run) downloaded the first file that did not fit, and the conversation, only to be refused again."""
    from studio.errors import WorkspaceFullError

    ids, room, repo = _two_datasets_and_a_conversation_in_the_repo(tmp_path)

    folder, settings = public_workspace(monkeypatch, "h-" + "4" * 32, room + OWN + 500)
    with pytest.raises(WorkspaceFullError), config.use_workspace(folder):
        sync.restore(TOKEN, repo, folder)
    assert (folder / "datasets" / ids[0] / "dataset.json").exists() and (folder / "chat" / "conversation.json").exists()

    def downloads() -> int:
        return sum(1 for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path)

    s = sync.WorkspaceSync(folder, repo, TOKEN, restore_first=True)  # what sync.start(held=...) runs
    got = downloads()
    with config.use_workspace(folder):
        for _ in range(2):
            s.retry_now()
            assert not s.ready() and s.held_by_room
    assert downloads() == got, [p for m, p, _ in hub.requests if "/resolve/" in p]  # nothing fetched only to be refused
    assert s.message.startswith("1 dataset kept in") and not (folder / "datasets" / ids[1] / "dataset.json").exists()
    assert not s.too_big  # it fits the limit: it waits for room, it is not too big

    settings["workspace_mb"] = 1  # room made: the rest comes back
    with config.use_workspace(folder):
        s.retry_now()
        assert s.ready()
    assert (folder / "datasets" / ids[1] / "dataset.json").exists()


def _legacy(folder: Path, *exchanges: tuple[str, str, str | None]) -> None:
    """A conversation saved before questions had ids, with failed answers: (question, answer, failure or None)."""
    from studio.chat import saved

    turns = []
    for q, a, failed in exchanges:
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a, **({"error": failed} if failed else {})}]
    with config.use_workspace(folder):
        saved.save(turns)


def _failures(folder: Path) -> list[tuple[str, str, str | None]]:
    from studio.chat import saved

    with config.use_workspace(folder):
        turns, _note = saved.load()
    return [(q["content"], a["content"], a.get("error")) for q, a in zip(turns[::2], turns[1::2], strict=True)]


def test_a_failed_old_answer_is_never_taken_for_another_asking_of_its_question_when_conversations_join(hub, tmp_path):
    """An old failed answer (saved before questions had ids) has no text, and "" is the start of every answer: the
    join took it for the same exchange as any asking of its question, so the failure was lost and the asking it
    stood in for came back twice (its early copy beside the finished one)."""
    from studio.cloud import workspaces

    down = "The Hub answered 503: try again in a minute."
    first = tmp_path / "before-restart"  # the repo's copy: "hi" failed, then asked again (taken while answered)
    _legacy(first, ("hi", "", down), ("hi", "Hel", None))
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()

    after = tmp_path / "after-restart"  # the same conversation here, the second answer finished
    _legacy(after, ("hi", "Hello!", None))
    sync.restore(TOKEN, repo, after)
    assert _failures(after) == [("hi", "", down), ("hi", "Hello!", None)]

    kept, tab = tmp_path / "kept", tmp_path / "tab"  # the same two copies meeting on a sign-in
    _legacy(kept, ("hi", "Hello!", None))
    _legacy(tab, ("hi", "", down), ("hi", "Hel", None))
    workspaces.merge_into(tab, kept)
    assert _failures(kept) == [("hi", "Hello!", None), ("hi", "", down)]

    again = tmp_path / "again"  # a failure both copies hold is one; "hi" asked twice (failed, then answered) is two
    _legacy(again, ("hi", "", down), ("hi", "Hello!", None))
    sync.restore(TOKEN, repo, again)
    assert _failures(again) == [("hi", "", down), ("hi", "Hello!", None)]

    other = tmp_path / "other"  # a failure is not an early copy of another asking's answer: both stay
    _legacy(other, ("hi", "Hello!", None))
    _legacy(first, ("hi", "", down))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    sync.restore(TOKEN, repo, other)
    assert _failures(other) == [("hi", "", down), ("hi", "Hello!", None)]


def test_an_early_copy_of_an_old_answer_joins_the_closest_finished_one():
    """Of two early copies of an old answer (saved before questions had ids), the first was taken for the finished
    one: the question asked alone (its tab reloaded) vanished and the longer copy came back beside its answer."""
    from studio.chat import saved

    alone, early = {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hel"}
    repo = [alone, dict(alone), early]
    here = [dict(alone), {"role": "assistant", "content": "Hello!"}]
    assert saved.unmatched(repo, here) == [alone]


def _downloads(hub) -> int:
    return sum(1 for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path)


def test_a_restore_held_back_by_the_full_server_does_not_download_again_on_each_retry_what_cannot_fit(
        hub, monkeypatch, tmp_path):
    """Where the server's total (every visitor's workspace together) refused the restore, not the workspace's own
    limit, each retry (every few seconds to a minute, for 30 minutes) downloaded what could not fit, only to be
    refused again."""
    from studio.errors import WorkspaceFullError

    ids, room, repo = _two_datasets_and_a_conversation_in_the_repo(tmp_path)

    folder, settings = public_workspace(monkeypatch, "h-" + "5" * 32, 100_000_000)
    # the server is full long before the workspace is (it counts the workspace's folder, and its own total's record and
    # that record's lock, a block each)
    settings["workspaces_total_mb"] = (room + OWN + 3 * usage.BLOCK + 1500) / 1e6
    with pytest.raises(WorkspaceFullError), config.use_workspace(folder):
        sync.restore(TOKEN, repo, folder)
    assert (folder / "datasets" / ids[0] / "dataset.json").exists() and (folder / "chat" / "conversation.json").exists()

    s = sync.WorkspaceSync(folder, repo, TOKEN, restore_first=True)  # what sync.start(held=...) runs
    got = _downloads(hub)
    with config.use_workspace(folder):
        for _ in range(2):
            s.retry_now()
            assert not s.ready() and s.held_by_room
    assert _downloads(hub) == got, [p for m, p, _ in hub.requests if "/resolve/" in p]  # nothing fetched to be refused
    assert s.message.startswith("1 dataset kept in") and "this server is full" in s.message
    assert not (folder / "datasets" / ids[1] / "dataset.json").exists()

    settings["workspaces_total_mb"] = 1000  # room made: the rest comes back
    with config.use_workspace(folder):
        s.retry_now()
        assert s.ready()
    assert (folder / "datasets" / ids[1] / "dataset.json").exists()


def test_a_restore_brings_back_what_fits_after_what_does_not_and_says_what_did_not_come_back(hub, monkeypatch, tmp_path):
    """A restore stopped at the first file that did not fit: the smaller datasets and evaluations after a big one,
    which would have fit, stayed in the repo until the visitor made room for the big one."""
    from studio.errors import WorkspaceFullError

    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        big = store.create_dataset("A big one", [{"question": f"q{n}?", "answer": "x" * 2000} for n in range(40)]).id
        small = store.create_dataset("B small", [{"question": "q?", "answer": "a"}]).id
    (before / "evals").mkdir()
    (before / "evals" / "e1.json").write_text(json.dumps({"answers": ["y" * 500]}))
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    assert big < small  # the big one comes first
    size = room_of(before / "datasets" / big)

    folder, settings = public_workspace(monkeypatch, "h-" + "6" * 32, size + OWN + 3000)
    with config.use_workspace(folder):  # made here before the restore: the big one no longer fits beside it
        here = store.create_dataset("Here", [{"question": f"q{n}?", "answer": "h" * 500} for n in range(8)]).id
    with pytest.raises(WorkspaceFullError) as caught, config.use_workspace(folder):
        sync.restore(TOKEN, repo, folder)
    assert (folder / "datasets" / small / "dataset.json").exists() and (folder / "evals" / "e1.json").exists()
    assert not [f for f in (folder / "datasets" / big).rglob("*")]  # nothing of it taking the room the others need
    assert str(sync.held_by_room(caught.value, "alice/slm-studio-workspace (private)")) == (
        "1 dataset kept in alice/slm-studio-workspace (private) did not come back: this workspace is at its "
        f"{usage.readable_size(size + OWN + 3000)} limit. Delete what you no longer need here and it comes back; sync waits until "
        "then.")
    with config.use_workspace(folder):
        assert sorted(d.id for d in store.list_datasets()) == sorted([small, here])


def test_a_restore_on_a_server_full_of_idle_anonymous_workspaces_comes_back_as_a_save_would(hub, monkeypatch, tmp_path):
    """The restore asks for its room before downloading: the idle anonymous workspaces a save removes to make room
    count as free, or a restore would wait forever on a server whose room only a save frees."""
    import os

    from studio.cloud import workspaces

    before = tmp_path / "before-restart"
    three_versions(before)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()

    folder, settings = public_workspace(monkeypatch, "u-" + "7" * 32, 100_000_000)
    idle = workspaces.root() / ("a-" + "8" * 32)  # left behind hours ago by a browser nobody uses
    (idle / "datasets").mkdir(parents=True)
    (idle / "datasets" / "work.bin").write_bytes(b"x" * 200_000)
    workspaces.touch(idle)
    os.utime(idle / workspaces.SEEN, (time.time() - 5 * 3600, time.time() - 5 * 3600))
    settings["workspaces_total_mb"] = 0.1  # full but for the idle workspace
    with config.use_workspace(folder):
        sync.restore(TOKEN, repo, folder)
    assert files_of(folder) == files_of(before) and not idle.exists()


def test_a_dataset_larger_than_the_workspace_limit_stays_in_the_repo_and_holds_back_no_sync(hub, monkeypatch, tmp_path):
    """A dataset larger than the workspace's whole limit (made in a studio of one's own) can never come back: the
    restore said to delete what one no longer needs and it would, and sync waited for it for good, so nothing the
    visitor made afterwards reached the repo (a restart lost it). It stays in the repo, one line says so, sync goes
    on, and a new dataset of the same name never writes over it there."""
    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        huge = store.create_dataset("Huge", [{"question": f"q{n}?", "answer": "x" * 2000} for n in range(40)]).id
        small = store.create_dataset("Small", [{"question": "q?", "answer": "a"}]).id
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    in_repo = dict(hub.repos[("dataset", repo)].files)

    limit = 2 * room_of(before / "datasets" / small) + OWN + usage.BLOCK  # room for Small and one more, not for Huge
    assert room_of(before / "datasets" / huge) > limit
    folder, _settings = public_workspace(monkeypatch, "h-" + "9" * 32, limit)
    s = sync.start(folder, repo, TOKEN, restore_first=True)
    s.stop()
    with config.use_workspace(folder):
        assert s.ready()  # nothing waits for room it can never have
        assert [d.id for d in store.list_datasets()] == [small]
        made = store.create_dataset("Huge", [{"question": "new?", "answer": "new"}]).id
    assert made != huge
    assert s.too_big == ("1 dataset kept in alice/slm-studio-workspace (private) is larger than this workspace's "
                         f"{usage.readable_size(limit)} limit: it stays there and does not come back here (open it in a studio of your own).")
    assert s.sync_once()
    pushed = hub.repos[("dataset", repo)].files
    assert {k: v for k, v in pushed.items() if k.startswith(f"datasets/{huge}/")} == {
        k: v for k, v in in_repo.items() if k.startswith(f"datasets/{huge}/")}
    assert f"datasets/{made}/dataset.json" in pushed


def test_a_dataset_here_already_is_not_said_to_be_too_big_to_come_back_after_the_limit_was_lowered(
        hub, monkeypatch, tmp_path):
    """A restore after the deployer lowered the limit (a restart) said a dataset already here was larger than the
    limit and did not come back."""
    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        store.create_dataset("Big", [{"question": f"q{n}?", "answer": "x" * 2000} for n in range(10)])
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    folder, settings = public_workspace(monkeypatch, "h-" + "a" * 32, 1_000_000)
    with config.use_workspace(folder):
        assert sync.restore(TOKEN, repo, folder).too_big is None
    settings["workspace_mb"] = 0.01  # lowered at the next start
    with config.use_workspace(folder):
        assert sync.restore(TOKEN, repo, folder).too_big is None


def test_a_repo_of_more_files_than_a_workspace_holds_brings_back_what_is_within_the_count_and_says_what_is_not(
        hub, monkeypatch, tmp_path):
    """A repo of 100,000 one-byte files under datasets/x/ fits any size limit, and was restored as 100,000 downloads
    in the page run of the visitor who gave the token. A restore stops at ``MAX_FILES`` files (50 here), a dataset
    whole or not at all: the rest stays in the repo and the sidebar says so in one line."""
    from studio.cloud import restore

    monkeypatch.setattr(restore, "MAX_FILES", 50)
    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        small = store.create_dataset("Small", [{"question": "q?", "answer": "a"}]).id
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    files = hub.repos[("dataset", repo)].files
    files.update({f"datasets/x/{n:05d}.json": b"1" for n in range(300)})

    after = tmp_path / "after-restart"
    hub.requests.clear()
    restored = sync.restore(TOKEN, repo, after)
    with config.use_workspace(after):
        assert [d.id for d in store.list_datasets()] == [small]
    assert not any((after / "datasets" / "x").iterdir())  # its name kept, nothing of it here
    assert len([r for r in hub.requests if "/resolve/" in r[1]]) < 50
    assert sync.too_big_line(restored.too_big, "alice/slm-studio-workspace (private)") == (
        "1 dataset kept in alice/slm-studio-workspace (private) is past the 50 files a workspace here holds: it stays "
        "there and does not come back here (open it in a studio of your own).")


def test_a_full_workspace_s_own_conversation_in_the_repo_does_not_hold_its_restore_back(hub, monkeypatch, tmp_path):
    """The token given again (another tab) to a full workspace whose watcher had committed its conversation: the
    restore asked room to join the repo's copy into the very same file, and said the conversation did not come back,
    sync waiting for room that the visitor could not see a reason for."""
    from studio.chat import saved

    folder, settings = public_workspace(monkeypatch, "h-" + "c" * 32, 1_000_000)
    with config.use_workspace(folder):
        saved.save([{"role": "user", "content": "Kept question?"}, {"role": "assistant", "content": "Kept."}])
        store.create_dataset("Fills it", [{"question": f"q{n}?", "answer": "x" * 1000} for n in range(30)])
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(folder, repo, TOKEN).sync_once()
    settings["workspace_mb"] = 0.02  # full now
    hub.requests.clear()
    with config.use_workspace(folder):
        assert sync.restore(TOKEN, repo, folder).written == 0
    assert not [r for r in hub.requests if "/resolve/" in r[1]]  # nothing downloaded either


def test_a_version_of_many_mb_is_committed_and_restored_without_being_held_whole_in_memory(hub, monkeypatch, tmp_path):
    """A signed-in visitor's 300 MB version was read whole to be hashed, again to be committed, and whole again by a
    restore (Community Cloud guarantees ~690 MB for every visitor together). Each goes through a file, a MB at a
    time, now. The stand-in Hub runs in this process and keeps one copy of what it receives: a commit may peak at
    that one copy, never at two. A download holds a MB of its file at a time (huggingface_hub's own download held
    10 MB chunks, ~43 MB a file)."""
    import os
    import tracemalloc

    size = 40_000_000
    first = tmp_path / "before-restart"
    version = first / "datasets" / "big" / "v0001.jsonl"
    version.parent.mkdir(parents=True)
    with open(version, "wb") as fh:  # written a MB at a time: the test itself holds none of it whole
        for _ in range(size // 1_000_000):
            fh.write(os.urandom(1_000_000))
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    watcher = sync.WorkspaceSync(first, repo, TOKEN)

    tracemalloc.start()
    try:
        assert watcher.sync_once()
        committed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0]  # the stand-in's copy of the file among it
        after = tmp_path / "after-restart"
        sync.restore(TOKEN, repo, after)
        restored = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert sync._sha(after / "datasets" / "big" / "v0001.jsonl") == sync._sha(version)
    assert committed < 1.5 * size, f"a commit held {committed / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"
    assert restored < size / 4, f"a restore held {restored / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"


def _two_datasets_and_a_conversation_in_the_repo(tmp_path) -> tuple[list[str], int, object]:
    """A workspace of datasets A and B and a conversation, synced to the visitor's repo before a restart: (the
    datasets' ids, sorted; the bytes the first dataset and the conversation take; the repo)."""
    from studio.chat import saved

    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        ids = sorted(store.create_dataset(name, [{"question": f"q{n}?", "answer": "x" * 300} for n in range(20)]).id
                     for name in ("A", "B"))
        saved.save([{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}])
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    room = room_of(before / "datasets" / ids[0])
    return ids, room + usage.measure(before / "chat") + usage.BLOCK, repo


def test_a_restore_needs_no_room_beyond_the_files_it_brings_back(hub, tmp_path, monkeypatch):
    """A restore downloaded each file to a temporary folder, then copied it into the workspace (a temporary file
    there, renamed): twice the room of the file on the one disk Community Cloud gives the app (its /tmp too), so a
    disk with room for the workspace could not take it back. Each file now streams to its own folder, under a hidden
    name renamed into place."""
    import os
    import tempfile

    from tmpfs import mounted

    first = tmp_path / "before-restart"
    version = first / "datasets" / "big" / "v0001.jsonl"
    version.parent.mkdir(parents=True)
    version.write_bytes(os.urandom(3_000_000))
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    with mounted(tmp_path / "disk", size_kb=4096) as disk:  # room for the file once, not twice
        (disk / "tmp").mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(disk / "tmp"))
        monkeypatch.setenv("TMPDIR", str(disk / "tmp"))
        after = disk / "after-restart"
        sync.restore(TOKEN, repo, after)
        assert sync._sha(after / "datasets" / "big" / "v0001.jsonl") == sync._sha(version)
        left = {p.name for p in (after / "datasets" / "big").iterdir()} - {"v0001.jsonl", ".lock"}  # a save's lock
        assert not left  # no download left beside it


def test_a_save_while_a_restore_puts_the_sample_s_files_in_place_is_never_written_over_or_mixed(hub, tmp_path):
    """A restore and a save at once (a tab saving the sample while another tab, or a restart, restores it): the
    restore looked once whether the sample was untouched, then wrote the repo's files over whatever the save had
    written meanwhile. It now puts a dataset's files in place under the lock every save of it holds, looking again
    there: the visitor's saved version stays, whole."""
    import threading

    from studio.cloud import workspaces
    from studio.data import sample

    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        ds = store.create_dataset(sample.SAMPLE_NAME, [{"question": "q?", "answer": "kept in the repo"}])
        store.save_version(ds.id, [{"question": "q?", "answer": "repo v2 " + "x" * 40_000}], base_version=1)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()

    after = tmp_path / "after-restart"  # a new workspace with the untouched sample under the same id
    (after / "datasets" / ds.id / "versions").mkdir(parents=True)
    for rel in ("dataset.json", "versions/0001.json", "versions/0001.meta"):
        (after / "datasets" / ds.id / rel).write_bytes((before / "datasets" / ds.id / rel).read_bytes())
    assert workspaces.untouched_sample(after / "datasets" / ds.id)
    slow = f"datasets/{ds.id}/versions/0002.json"
    hub.faults[slow] = "trickle"  # 1 KB every 50 ms: the other tab saves while it comes

    def other_tab() -> None:
        while not any(r[1].endswith(slow) for r in hub.requests):
            time.sleep(0.01)
        _save_in(after, ds.id)

    tab = threading.Thread(target=other_tab)
    tab.start()
    sync.restore(TOKEN, repo, after)
    tab.join()
    with config.use_workspace(after):
        assert store.load_version(ds.id, 2) == [{"question": "q?", "answer": "saved in the other tab"}]
        assert [v.version for v in store.list_versions(ds.id)] == [1, 2]


def _save_in(folder: Path, dataset_id: str) -> None:
    with config.use_workspace(folder):
        store.save_version(dataset_id, [{"question": "q?", "answer": "saved in the other tab"}], base_version=1)


def test_a_repo_past_the_file_count_brings_back_every_dataset_s_newest_version_and_evaluations_before_old_versions(
        hub, monkeypatch, tmp_path):
    """The cap on the files a restore brings back kept the alphabetically first: a visitor over it got whole datasets
    of old versions back and others not at all, their evaluations and conversation dropped by where their names
    sort. What a person needs comes first now (the conversation, every dataset with its newest version, the
    evaluations, then older versions, newest first), and one line says what stayed in the repo."""
    from studio.chat import saved
    from studio.cloud import restore

    before = tmp_path / "before-restart"
    with config.use_workspace(before):
        busy = store.create_dataset("A busy one", [{"question": "q?", "answer": "v1"}])
        for n in range(2, 13):
            store.save_version(busy.id, [{"question": "q?", "answer": f"v{n}"}], base_version=n - 1)
        quiet = store.create_dataset("Z quiet one", [{"question": "q?", "answer": "only"}])
        saved.save([{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}])
    evals = before / "evals"
    evals.mkdir()
    for name in ("20261201-100000-aaaa", "20261205-100000-bbbb"):
        (evals / f"{name}.json").write_text('{"result": 1}')
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    wanted = len(sync.local_files(before))
    monkeypatch.setattr(restore, "MAX_FILES", wanted - 8)  # room for all but 4 of the 12 versions of the busy one

    after = tmp_path / "after-restart"
    restored = sync.restore(TOKEN, repo, after)
    with config.use_workspace(after):
        assert sorted(d.name for d in store.list_datasets()) == ["A busy one", "Z quiet one"]
        assert store.load_version(busy.id) == [{"question": "q?", "answer": "v12"}]  # the newest, as it was
        assert [v.version for v in store.list_versions(busy.id)] == list(range(5, 13))
        assert store.load_version(quiet.id) == [{"question": "q?", "answer": "only"}]
        assert [m["content"] for m in saved.load()[0]] == ["Q?", "A."]
    assert sorted(p.name for p in (after / "evals").iterdir()) == ["20261201-100000-aaaa.json",
                                                                   "20261205-100000-bbbb.json"]
    assert sync.too_big_line(restored.too_big, "alice/slm-studio-workspace (private)") == (
        f"4 older versions of 1 dataset kept in alice/slm-studio-workspace (private) are past the {wanted - 8} files a "
        "workspace here holds: they stay there and do not come back here (open them in a studio of your own).")


def test_a_download_a_killed_restore_left_beside_its_file_is_removed_by_the_next_restore(hub, tmp_path):
    """A restore killed midway (a restart while it downloaded) left its hidden download beside the file: never listed
    nor synced, it counted against the workspace's limit for good. The next restore there removes it."""
    import os

    first = tmp_path / "before-restart"
    dataset = three_versions(first)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    after = tmp_path / "after-restart"
    versions = after / "datasets" / dataset / "versions"
    versions.mkdir(parents=True)
    left = versions / ".0002.json.k1ll3d.restore"
    left.write_bytes(b"half of a version" * 1000)
    os.utime(left, (time.time() - 7200, time.time() - 7200))
    sync.restore(TOKEN, repo, after)
    assert files_of(after) == files_of(first)
    assert not list(versions.glob(".*.restore"))


def test_a_dataset_made_here_before_the_restore_reached_its_name_keeps_its_edit_newest_and_the_repo_s_comes_apart(
        hub, tmp_path):
    """A dataset made (or edited) here while the restore had not reached it yet, under the id the repo's dataset of the
    same name has: the restore put the repo's versions it lacked beside the visitor's own, so the repo's old third
    version became the newest and the edit just saved read as history. The one made here now stays as it is, its edit
    the newest; the repo's comes back whole beside it, as a dataset of its own; the next commit keeps both, and a later
    restore brings both back, neither mixed into the other."""
    first = tmp_path / "before-restart"
    dataset = three_versions(first)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    with config.use_workspace(first):
        theirs = [store.load_version(dataset, n) for n in (1, 2, 3)]

    after = tmp_path / "after-restart"
    with config.use_workspace(after):  # the visitor made and edited it before the restore got there
        mine = store.create_dataset("Alice's FAQ", [{"question": "new?", "answer": "made today"}])
        store.save_version(mine.id, [{"question": "new?", "answer": "made today, edited"}], base_version=1)
    assert mine.id == dataset
    running = sync.WorkspaceSync(after, repo, TOKEN, restore_first=True)
    assert running.ready()
    with config.use_workspace(after):
        names = {d.name: d.id for d in store.list_datasets()}
        assert sorted(names) == ["Alice's FAQ", "Alice's FAQ (restored)"]
        assert [v.version for v in store.list_versions(dataset)] == [1, 2]
        assert store.load_version(dataset) == [{"question": "new?", "answer": "made today, edited"}]
        apart = names["Alice's FAQ (restored)"]
        assert [store.load_version(apart, n) for n in (1, 2, 3)] == theirs

    assert running.sync_once()
    again = tmp_path / "after-another-restart"
    sync.restore(TOKEN, repo, again)
    with config.use_workspace(again):
        assert sorted(d.name for d in store.list_datasets()) == ["Alice's FAQ", "Alice's FAQ (restored)"]
        assert [v.version for v in store.list_versions(dataset)] == [1, 2]
        assert store.load_version(dataset) == [{"question": "new?", "answer": "made today, edited"}]
        assert [store.load_version(apart, n) for n in (1, 2, 3)] == theirs


def test_a_restore_tried_again_before_the_first_commit_keeps_one_copy_of_the_repo_s_dataset_apart(hub, tmp_path):
    """A restore run again before its first commit (held back by room and retried, Try again now, a network error on a
    later file): the repo's files under the id kept apart were recorded as nothing the repo holds, so each try kept the
    repo's dataset apart once more: "Alice's FAQ (restored 2)", "(restored 3)"... Now one copy, and the commit after
    still pushes the visitor's own dataset over the repo's under its id."""
    first = tmp_path / "before-restart"
    dataset = three_versions(first)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    after = tmp_path / "after-restart"
    with config.use_workspace(after):
        mine = store.create_dataset("Alice's FAQ", [{"question": "new?", "answer": "made today"}])
        store.save_version(mine.id, [{"question": "new?", "answer": "made today, edited"}], base_version=1)
    assert mine.id == dataset
    sync.restore(TOKEN, repo, after)
    sync.restore(TOKEN, repo, after)  # its retry, no commit in between
    sync.restore(TOKEN, repo, after)
    with config.use_workspace(after):
        assert sorted(d.name for d in store.list_datasets()) == ["Alice's FAQ", "Alice's FAQ (restored)"]

    assert sync.WorkspaceSync(after, repo, TOKEN).sync_once()
    again = tmp_path / "after-another-restart"
    sync.restore(TOKEN, repo, again)
    with config.use_workspace(again):
        assert sorted(d.name for d in store.list_datasets()) == ["Alice's FAQ", "Alice's FAQ (restored)"]
        assert store.load_version(dataset) == [{"question": "new?", "answer": "made today, edited"}]


def test_a_dataset_that_only_went_on_here_from_what_the_repo_holds_stays_one_dataset(hub, tmp_path):
    """The other side of keeping apart: versions saved here after the repo's (a token given again in another tab, the
    restore run again) are the same dataset going on, not a second history: nothing comes apart."""
    first = tmp_path / "workspace"
    dataset = three_versions(first)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    with config.use_workspace(first):
        store.save_version(dataset, [{"question": "q4?", "answer": "four"}], base_version=3)
    sync.restore(TOKEN, repo, first)
    with config.use_workspace(first):
        assert [d.name for d in store.list_datasets()] == ["Alice's FAQ"]
        assert [v.version for v in store.list_versions(dataset)] == [1, 2, 3, 4]


@pytest.mark.parametrize("rel", ["chat/settings.json", "evaluate/form.json", "evals/20261205-100000-bbbb.json"])
def test_a_save_the_instant_before_a_restore_puts_the_repo_s_copy_in_place_is_never_written_over(
        hub, tmp_path, monkeypatch, rel):
    """Files other than datasets (the Chat settings, the Evaluate form, an evaluation) had no lock: the restore looked
    that the file was missing, and a save landing between that look and its rename was written over by the repo's
    older copy. The restore now puts such a file in place only where none is, in one step: the save stays. The save
    is made to land in that very instant (inside the call that puts the file in place), whatever call that is."""
    import os

    from studio import atomic

    first = tmp_path / "before-restart"
    (first / rel).parent.mkdir(parents=True)
    (first / rel).write_text('{"from": "the repo"}')
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()

    after = tmp_path / "after-restart"
    target = after / rel
    saved_now = []

    def racing(real):
        def call(src, dst, *args, **kwargs):
            if Path(dst) == target and str(src).endswith(".restore") and not saved_now:
                saved_now.append(True)
                atomic.write_bytes(target, b'{"from": "the visitor, just now"}')
            return real(src, dst, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "replace", racing(os.replace))
    monkeypatch.setattr(os, "link", racing(os.link))
    sync.restore(TOKEN, repo, after)
    assert saved_now
    assert json.loads(target.read_text()) == {"from": "the visitor, just now"}
    assert not list(target.parent.glob(".*.restore"))


def test_a_repo_deleted_while_its_restore_runs_says_it_is_gone_and_what_to_do_keeps_what_came_and_waits_for_a_click(
        hub, tmp_path):
    """The sidebar read "The Hub refused to restore from alice/slm-studio-workspace (404). (next try in 5 s)" and the
    restore was tried again every minute for ever."""
    ids, _room, repo = _two_datasets_and_a_conversation_in_the_repo(tmp_path)
    after = tmp_path / "after-restart"
    running = sync.WorkspaceSync(after, repo, TOKEN, restore_first=True)
    first_done = running.progress

    def progress(done: int, total: int) -> None:  # the visitor deletes the repo on the Hub once a dataset came back
        first_done(done, total)
        if done and (after / "datasets" / ids[0]).is_dir() and store.list_datasets():
            hub.repos.pop(("dataset", repo), None)

    running.progress = progress
    with config.use_workspace(after):
        assert not running.ready()
        assert running.state == "failed" and "\n" not in running.message
        assert running.message.startswith(f"Could not restore from {repo}: that repo is not on the Hub any more")
        assert "another repo name" in running.message and "Forget the token" in running.message
        assert "next try" not in running.message
        assert [d.id for d in store.list_datasets()][:1] == ids[:1]  # what came back before it went stays
        asked = len(hub.requests)
        assert not running.ready() and len(hub.requests) == asked  # not tried again by itself
        running.retry_now()  # Try again now: the visitor asks, and the repo is made again with what came
        assert running.ready() and running.sync_once()
        assert {rel: hub.repos[("dataset", repo)].files[rel] for rel in files_of(after)} == files_of(after)


def test_try_again_now_after_the_repo_was_deleted_makes_it_again_and_pushes_the_whole_workspace(hub, tmp_path):
    """After "that repo is not on the Hub any more", Try again now committed to the missing repo again: nothing but
    another name, or a restart, made it again."""
    folder = tmp_path / "ws"
    dataset = three_versions(folder)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    running = sync.WorkspaceSync(folder, repo, TOKEN)
    assert running.sync_once()
    hub.repos.pop(("dataset", repo))  # the visitor deleted it on huggingface.co
    with config.use_workspace(folder):
        store.create_dataset("Made after", [{"question": "q?", "answer": "a"}])
    assert not running.sync_once() and running.gone
    assert "Try again now to make it again" in running.message and "\n" not in running.message
    running.retry_now()  # Try again now
    assert running.ready() and running.sync_once() and running.state == "synced"
    remote = hub.repos[("dataset", repo)]
    assert remote.private and sync.MARKER in remote.files
    assert {rel: remote.files[rel] for rel in files_of(folder)} == files_of(folder)
    assert f"datasets/{dataset}/versions/0003.json" in remote.files


def test_a_repo_name_pasted_far_too_long_is_refused_in_a_short_line():
    """A 200-character name was quoted whole in the refusal: a wall of characters down the sidebar."""
    with pytest.raises(sync.SyncError) as caught:
        sync.check_repo_name("x" * 200)
    said = str(caught.value)
    assert "at most 96" in said and len(said) < 120 and "\n" not in said
    assert sync.check_repo_name("x" * 96) == "x" * 96


@pytest.mark.parametrize("status, refused", [(401, "token"), (403, "access")])
def test_a_token_revoked_after_it_was_accepted_is_not_retried_by_itself_until_the_visitor_asks(
        hub, tmp_path, monkeypatch, status, refused):
    """A token the Hub refused (401) at a sync, or no longer let write to the repo (403: its access taken away), was
    tried again every minute for ever: neither comes back by itself. The line says it waits for the visitor; Try again
    now (or the token given again) tries at once."""
    folder = tmp_path / "ws"
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    three_versions(folder)
    running = sync.WorkspaceSync(folder, repo, TOKEN)
    hub.refused[TOKEN] = status
    running.tick()
    assert running.state == "failed" and running.refused == refused and "\n" not in running.message
    assert running.message.endswith("Not tried again until you give the token again or press Try again now.")
    assert running.next_try_s() is None and running.retry_waits_on_visitor
    asked = len(hub.requests)
    real, later = time.time, time.time() + 3600  # an hour on: the longest pause (a minute) long over
    monkeypatch.setattr(sync.time, "time", lambda: later)
    running.tick()
    running.tick()
    monkeypatch.setattr(sync.time, "time", real)
    assert len(hub.requests) == asked  # not tried again by itself
    del hub.refused[TOKEN]  # the visitor made a new token... or gave this one's access back: Try again now
    running.retry_now()
    running.tick()
    assert running.state == "synced" and running.refused is None and len(hub.requests) > asked


def test_a_failed_sync_s_line_says_the_time_to_its_next_try_as_it_is_when_drawn(hub, tmp_path):
    """The sidebar's "(next try in 10 s)" was written into the line at the failure and drawn every few seconds as it
    was, long after those 10 s."""
    from streamlit.testing.v1 import AppTest

    folder = tmp_path / "ws"
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    three_versions(folder)
    running = sync.WorkspaceSync(folder, repo, TOKEN)
    hub.down = True
    assert not running.sync_once() and running.state == "failed"
    sync._registry[("drawn", "account")] = running

    def sidebar_line():
        from studio.cloud import sync
        from studio.ui import cloud_panel

        shown = sync._registry[("drawn", "account")]
        cloud_panel._one_state(shown, shown.where)

    def line(retry_in: float) -> str:
        running._retry_at = time.time() + retry_in  # as it is that long before its next try
        at = AppTest.from_function(sidebar_line, default_timeout=60).run()
        assert not at.exception, [e.value for e in at.exception]
        (shown,) = [w.value for w in at.warning]
        return shown

    try:
        early = line(50)
        seconds = int(early.rsplit("(next try in ", 1)[1].split(" s)")[0])
        assert 40 <= seconds <= 50 and early.count("next try") == 1
        assert line(-1).endswith("(trying again now)")
    finally:
        del sync._registry[("drawn", "account")]


def test_a_sync_that_waits_for_the_visitor_says_which_sync_failed_and_why(hub, tmp_path):
    """The sidebar's line above Try again now read "That Hugging Face token was refused …" alone: not whether the
    visitor's repo or the app's store had refused it."""
    from streamlit.testing.v1 import AppTest

    folder = tmp_path / "ws"
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    three_versions(folder)
    running = sync.WorkspaceSync(folder, repo, TOKEN)
    hub.refused[TOKEN] = 401
    running.tick()
    assert running.retry_waits_on_visitor
    sync._registry[("drawn", "account")] = running

    def sidebar_line():
        from studio.cloud import sync
        from studio.ui import cloud_panel

        shown = sync._registry[("drawn", "account")]
        cloud_panel._one_state(shown, shown.where)

    try:
        at = AppTest.from_function(sidebar_line, default_timeout=60).run()
    finally:
        del sync._registry[("drawn", "account")]
    assert not at.exception, [e.value for e in at.exception]
    (shown,) = [w.value for w in at.warning]
    assert shown.startswith("Sync to alice/slm-studio-workspace (private) failed: That Hugging Face token was refused")
    assert "Try again now" in [b.label for b in at.button] and "\n" not in shown


def test_the_sync_record_counts_toward_the_size_limits_and_its_rewrite_is_not_looked_for(hub, monkeypatch):
    """The record of what the repo holds (``.sync-manifest.json``, a line per synced file) was written outside every
    size check: a workspace's kept total, and every workspace's, read less than the disk held by its blocks until the
    next walk. It is counted now, and the watcher does not take that rewrite of the size total for a save."""
    from studio.cloud import workspaces
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "_in_use", lambda: set())
    config.set_tenancy(True, lambda: None, cloud._check_room, cloud._limit_of, cloud._fits, workspaces.count_made)
    folder = workspaces.root() / ("u-" + "2" * 32)
    other = workspaces.root() / ("u-" + "3" * 32)
    with config.use_workspace(other):  # every workspace's total is kept already
        store.create_dataset("Other", [{"question": "q?", "answer": "a"}])
    with config.use_workspace(folder):
        ds = store.create_dataset("Many", [{"question": "q?", "answer": "a"}]).id
        for v in range(1, 40):
            store.save_version(ds, [{"question": "q?", "answer": f"a{v}"}], base_version=v)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    s = sync.WorkspaceSync(folder, repo, TOKEN)
    s.tick()
    assert s.commits == 1 and (folder / sync.MANIFEST).stat().st_size > usage.BLOCK  # two blocks on disk
    assert usage.kept(folder) == usage.measure(folder)
    assert usage.kept(workspaces.root()) == usage.measure(workspaces.root())
    with _Stats(folder) as looked:
        s.tick()
    assert looked.count <= 4 + len(sync.SYNCED_FILES) + len(sync.BATCHED_FILES)  # a few stats, no look at every file
    # the record shrinks (the 40 versions deleted, the commit removes them from the repo): what it freed comes off both
    # totals; they stayed a block higher than the disk until the next walk
    with config.use_workspace(folder):
        store.delete_dataset(ds)
    s.tick()
    assert s.commits == 2 and (folder / sync.MANIFEST).stat().st_size <= usage.BLOCK  # one block on disk now
    assert usage.kept(folder) == usage.measure(folder)
    assert usage.kept(workspaces.root()) == usage.measure(workspaces.root())
    # a visitor's first save into their workspace, its folder not made yet: its block counted once, in every
    # workspace's total alone (it was counted twice there, and once in the workspace's own total)
    new = workspaces.root() / ("u-" + "4" * 32)
    with config.use_workspace(new):
        atomic.write_bytes(new / "datasets" / "first.json", b"x" * 10)
    assert usage.kept(new) == usage.measure(new)
    assert usage.kept(workspaces.root()) == usage.measure(workspaces.root())


def test_a_dataset_kept_apart_by_a_restore_counts_its_folder_in_the_size_totals(hub, monkeypatch, tmp_path):
    """The folder a restore makes for the repo's dataset kept apart (``_apart_id``) was made outside every size check:
    the workspace's total, and every workspace's, read a block less than the disk held (never allowed: a total may
    only ever read more), so a save near the limit could pass it."""
    from studio.cloud import workspaces
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "_in_use", lambda: set())
    config.set_tenancy(True, lambda: None, cloud._check_room, cloud._limit_of, cloud._fits, workspaces.count_made)
    first = tmp_path / "before-restart"
    three_versions(first)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(first, repo, TOKEN).sync_once()
    after = workspaces.root() / ("u-" + "5" * 32)
    workspaces.touch(after)
    with config.use_workspace(after):  # made here before the restore got there: the repo's comes apart
        store.create_dataset("Alice's FAQ", [{"question": "new?", "answer": "made today"}])
    assert usage.kept(workspaces.root()) == usage.measure(workspaces.root())
    running = sync.WorkspaceSync(after, repo, TOKEN, restore_first=True)
    assert running.ready()
    with config.use_workspace(after):
        assert sorted(d.name for d in store.list_datasets()) == ["Alice's FAQ", "Alice's FAQ (restored)"]
    assert usage.kept(after) == usage.measure(after)
    assert usage.kept(workspaces.root()) == usage.measure(workspaces.root())


def test_a_copy_kept_apart_is_not_named_like_a_dataset_here_in_another_width(tmp_path):
    """Names compare NFKC case-folded in the store ("ＦＡＱ" is "FAQ"), but the copy a restore keeps apart was named
    against names only case-folded: beside a local "ＦＡＱ (restored)" it took "FAQ (restored)", a name the store
    refuses to create or rename to."""
    from studio.cloud import restore

    root = tmp_path / "datasets"
    for folder, name in (("a", "FAQ"), ("b", "ＦＡＱ (restored)")):
        (root / folder).mkdir(parents=True)
        (root / folder / "dataset.json").write_text(json.dumps({"id": folder, "name": name}), encoding="utf-8")
    part = tmp_path / "head.json"
    part.write_text(json.dumps({"id": "c", "name": "FAQ"}), encoding="utf-8")
    restore._apart_head(str(part), root, "d")
    assert json.loads(part.read_text(encoding="utf-8"))["name"] == "FAQ (restored 2)"
