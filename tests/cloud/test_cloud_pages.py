"""The public app's pages with a visitor's token, a bad token, and only the deployer's token (AppTest,
against the loopback Hub stand-in)."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path

import pytest
from chat_servers import ask
from hub_servers import point_hub_at, standin_hub

from studio.cloud import sync, usage
from tests.cloud.restore_wait import settled
from tests.test_tenancy import everything_shown, visit  # the app opened as cloud/Home.py, one browser session

TOKEN = "hf_alice_write_token_0123456789"
DEPLOYER = "hf_deployer_secret_9876543210"


@pytest.fixture
def hub(monkeypatch):

    with standin_hub() as h:
        point_hub_at(monkeypatch, h.url)
        h.users[TOKEN] = ("alice", "write")
        yield h
        stop_watchers()  # before the stand-in goes and the Hub's address is huggingface.co again


def stop_watchers() -> None:
    """End every workspace's sync watcher this test started: left running, it would go on retrying its commit
    against huggingface.co after the test (its last sync runs as it stops, still against the stand-in)."""
    for running in list(sync._registry.values()):
        running.stop()
        if running._thread is not None:
            running._thread.join(60)
    # a watcher stopped before (its registry entry replaced, e.g. by a new workspace repo name) may still be in its
    # last sync: waited for too, up to a minute, never left running
    deadline = time.monotonic() + 60
    for thread in [t for t in threading.enumerate() if t.name == "workspace-sync"]:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not [t for t in threading.enumerate() if t.name == "workspace-sync" and t.is_alive()]


def restart(monkeypatch, studio_home: Path) -> None:
    """Community Cloud's restart: every thread gone (each watcher's last look done), a new process with no watcher,
    a wiped disk. Wiping the disk under a watcher that was only told to stop let its last look see the conversation
    gone and the manifest still there: it deleted the kept conversation from the repo (a failure seen under load)."""
    import shutil

    stop_watchers()
    monkeypatch.setattr(sync, "_registry", {})
    shutil.rmtree(studio_home)


def give_token(at, token: str, wait: bool = True):
    """Give ``token`` in the sidebar; with ``wait``, the page as it is once the restore (in the sync's own thread)
    ended, done or failed: what the visitor sees when the sidebar's *Restoring …* line is gone."""
    at.text_input(key="auth.hf_token.input").input(token).run()
    assert not at.exception, [e.value for e in at.exception]
    return settled(at) if wait else at


def small_workspaces(monkeypatch, mb: float = 0.05) -> dict:
    """Every workspace held to ``mb``, as ``[studio] workspace_mb`` in secrets says: read by the page runs and by the
    sync's own thread that restores (AppTest's secrets hold only while a page runs; a deployment's hold always)."""
    from studio.ui import cloud_settings

    settings = {"workspace_mb": mb}
    monkeypatch.setattr(cloud_settings, "studio_setting", lambda name, default: settings.get(name, default))
    return {"workspace_mb": mb}


def workspace(at) -> Path:
    return Path(at.session_state["workspace.path"])


def test_a_token_giving_visitor_s_sidebar_says_their_workspace_s_limit_as_an_anonymous_one_s_does(hub, monkeypatch):
    """An anonymous visitor's sidebar said "Up to 50 MB"; once they gave their token it said only "Private to your
    Hugging Face account": the larger limit they got was said nowhere until a save was refused."""
    at = give_token(visit(studio=small_workspaces(monkeypatch, 1.2)), TOKEN)
    assert "Private to your Hugging Face account (the token you gave); up to 1.2 MB." in [
        c.value for c in at.sidebar.caption]


def test_a_push_with_only_the_deployer_s_secret_is_refused_in_one_line(hub):
    at = visit("pages/1_Dataset.py", HF_TOKEN=DEPLOYER)
    at.text_input(key="dataset.push.repo").set_value("alice/soccer-qa")
    at.button(key="dataset.push.go").click().run()
    assert not at.exception
    (err,) = [e.value for e in at.main.error]
    assert err.startswith("Pushing to the Hub needs your own Hugging Face token") and "\n" not in err
    assert hub.requests == []  # nothing reached the Hub, with either token


def test_the_deployer_s_token_serves_a_visitor_only_so_many_questions_a_minute(hub, api_mode):
    at = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER, studio={"inference_rpm": 0})
    assert at.selectbox(key="chat.a.kind").value == "provider"
    at.chat_input(key="chat.input").set_value("How long is a match?").run()
    assert not at.exception
    (err,) = [e.value for e in at.main.error]
    assert "limit of 0 hosted-model requests a minute" in err and "give your own Hugging Face token" in err
    assert at.session_state["chat.jobs"] == []  # nothing was sent


def _in_order(block):
    """The page's elements and blocks top to bottom, as a browser draws them."""
    for child in block.children.values():
        yield child
        if hasattr(child, "children"):
            yield from _in_order(child)


def test_a_question_over_the_limit_is_refused_under_the_conversation_quoting_the_question(hub, api_mode):
    """The refusal was drawn above the conversation: after a few answers it was out of view, far from the input,
    and the question the visitor had just typed seemed to vanish."""
    at = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER, studio={"inference_rpm": 0})
    at.session_state["chat.messages"] = [{"role": "user", "content": "How long is a match?"},
                                         {"role": "assistant", "model": "org/model (HF auto)", "content": "90 minutes."}]
    at.chat_input(key="chat.input").set_value("And the half-time?").run()
    assert not at.exception
    (err,) = [e.value for e in at.main.error]
    assert err.startswith("Not sent: “And the half-time?”.") and "limit of 0 hosted-model requests" in err
    drawn = list(_in_order(at.main))
    last_message = max(i for i, node in enumerate(drawn) if getattr(node, "type", "") == "chat_message")
    refusal = next(i for i, node in enumerate(drawn) if getattr(node, "type", "") == "error")
    assert refusal > last_message
    assert at.session_state["chat.jobs"] == []  # nothing was sent


@pytest.mark.parametrize("token, words", [("hf_wrong", "That Hugging Face token was refused"),
                                          ("hf_read_only", "That token can only read")])
def test_a_bad_token_is_one_line_nothing_is_synced_and_nothing_is_lost(hub, token, words):
    from studio import config
    from studio.data import store

    hub.users["hf_read_only"] = ("alice", "read")
    at = visit()
    with config.use_workspace(workspace(at)):
        store.create_dataset("Mine", [{"question": "q?", "answer": "a"}])
    before = sorted(p.relative_to(workspace(at)) for p in workspace(at).rglob("*") if p.is_file())
    at = give_token(at, token)
    (err,) = [e.value for e in at.sidebar.error]
    assert err.startswith(words) and "\n" not in err
    # Home said "Hub token: yours" under the refusal; a read-only token still serves the Chat page's questions
    shown = {m.label: m.value for m in at.metric}["Hub token"]
    assert shown == ("refused" if token == "hf_wrong" else "yours")
    if token == "hf_wrong":
        (line,) = [i.value for i in at.main.info if "token" in i.value]
        assert "refused" in line and "huggingface.co/settings/tokens" in line and "Forget it" in line
    assert hub.repos == {}
    after = sorted(p.relative_to(workspace(at)) for p in workspace(at).rglob("*") if p.is_file())
    assert set(before) <= set(after)
    with config.use_workspace(workspace(at)):
        assert "Mine" in [d.name for d in store.list_datasets()]


def test_a_token_given_while_the_hub_is_out_of_reach_says_sync_is_off_until_the_next_click(monkeypatch):
    """Offline, the token's check said "your work is kept here and sync is retried" above "Sync: off.": no sync
    had started, and none retried by itself."""
    from chat_servers import free_port

    point_hub_at(monkeypatch, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    at = give_token(visit(), TOKEN)
    (err,) = [e.value for e in at.sidebar.error]
    assert err.startswith("The Hub cannot be reached to check the token") and "\n" not in err
    assert err.endswith("connecting is tried again at your next click; until then sync is off.")
    assert "Sync: off." in [c.value for c in at.sidebar.caption]


def test_a_repo_that_is_not_a_workspace_is_refused_on_the_page_and_another_name_works(hub):
    from huggingface_hub import HfApi

    HfApi(token=TOKEN).create_repo("alice/slm-studio-workspace", repo_type="dataset")
    at = give_token(visit(), TOKEN)
    (err,) = [e.value for e in at.sidebar.error]
    assert "alice/slm-studio-workspace exists and is not an SLM Studio workspace" in err
    at.text_input(key="workspace.repo").input("my-studio").run()
    assert not at.sidebar.error
    assert ("dataset", "alice/my-studio") in hub.repos and not hub.repos[("dataset", "alice/slm-studio-workspace")].files


def test_work_made_before_the_token_moves_into_the_kept_workspace_and_comes_back_after_a_restart(
        hub, studio_home, monkeypatch):
    from studio import config
    from studio.data import store

    at = visit()
    with config.use_workspace(workspace(at)):
        ds = store.create_dataset("Before the token", [{"question": "q?", "answer": "a"}])
    at = give_token(at, TOKEN)
    kept = workspace(at)
    assert kept.name.startswith("h-")
    with config.use_workspace(kept):
        store.save_version(ds.id, [{"question": "q?", "answer": "a, edited"}], base_version=1)
    running = sync.current(kept)
    assert running is not None and running.sync_once()
    at.run()
    (synced,) = [c.value for c in at.sidebar.caption if "Synced to alice/slm-studio-workspace" in c.value]
    assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$", synced), synced  # the studio's one time form
    saved = {p.name: p.read_bytes() for p in (kept / "datasets" / ds.id / "versions").iterdir()}
    restart(monkeypatch, studio_home)
    at = give_token(visit(), TOKEN)
    assert {p.name: p.read_bytes() for p in (workspace(at) / "datasets" / ds.id / "versions").iterdir()} == saved
    names = [d.name for d in _datasets(workspace(at))]
    assert names.count("Before the token") == 1


def _datasets(folder: Path):
    from studio import config
    from studio.data import store

    with config.use_workspace(folder):
        return store.list_datasets()


def test_an_evaluation_of_hosted_models_with_only_the_deployer_s_secret_is_refused_in_one_line(hub, api_mode):
    from studio import config
    from studio.evaluate import results

    at = visit("pages/5_Evaluate.py", HF_TOKEN=DEPLOYER)
    at.text_area(key="evaluate.other_models").set_value("api:Qwen/Qwen2.5-7B-Instruct").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    (err,) = [e.value for e in at.main.error]
    assert err.startswith("Evaluating hosted models needs your own Hugging Face token") and "\n" not in err
    # an evaluation of hosted models is an Inference Providers call: the line must not say the token serves those
    assert "serves only questions asked on the Chat page" in err and "Inference Providers calls" not in err
    with config.use_workspace(workspace(at)):
        assert results.list_evals() == []  # nothing queued


def test_a_url_typed_as_a_hosted_model_id_never_gets_the_deployer_s_token(api_mode):
    """huggingface_hub's client sends its token to a model given as a URL: a visitor who types their own
    server's address as the Inference Providers model id would have received the deployer's HF_TOKEN."""
    import time

    from chat_servers import FaultServer

    with FaultServer().running() as server:
        at = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER)
        at.text_input(key="chat.a.hub_model").set_value(server.url("good")).run()
        if not at.chat_input(key="chat.input").disabled:  # the page lets the question go: ask it
            at.chat_input(key="chat.input").set_value("How long is a match?").run()
        assert not at.exception
        deadline = time.time() + 30  # an answer already on its way ends within seconds (the server answers at once)
        while time.time() < deadline and any(not j.done for j in at.session_state["chat.jobs"] or []):
            time.sleep(0.2)
        assert not [h for h in server.headers if DEPLOYER in str(h)]
        (err,) = [e.value for e in at.error]  # under the model id, in the sidebar
        assert "is a URL, not a model id" in err and "base URL" in err and "\n" not in err


@pytest.mark.parametrize("secrets, words", [({"HF_TOKEN": DEPLOYER}, "Hosted models on the Chat page use this app's token"),
                                            ({}, "Hosted models need a Hugging Face token here")])
def test_home_tells_a_visitor_where_their_token_goes_not_to_edit_the_deployer_s_secrets(secrets, words):
    at = visit("Home.py", **secrets)
    (line,) = [i.value for i in at.info]
    assert line.startswith(words) and "under Your workspace in the sidebar" in line
    assert "secrets" not in line and "environment" not in line  # a visitor has neither
    assert DEPLOYER not in everything_shown(at)


@pytest.fixture
def upload_limit():
    """The server's upload limit as it was: the public app's page run lowers it for the whole process."""
    from streamlit import config as st_config

    before = st_config.get_option("server.maxUploadSize")
    yield
    st_config.set_option("server.maxUploadSize", before)


@pytest.mark.parametrize("studio, mb", [({}, 20), ({"upload_mb": 5}, 5)])
def test_the_public_app_accepts_uploads_only_up_to_its_limit(upload_limit, studio, mb):
    """One server serves every visitor: a local install's 512 MB (model files) would let one visitor's import
    take the server past Community Cloud's memory (about 5.5x the file while it is read)."""
    from streamlit import config as st_config

    at = visit("pages/1_Dataset.py", studio=studio)
    at.radio(key="dataset.import.origin").set_value("file").run()
    (uploader,) = at.get("file_uploader")
    assert uploader.proto.max_upload_size_mb == mb  # what the uploader tells the visitor
    # and what to do with a bigger file, which Streamlit's own refusal ("File must be 20.0MB or smaller") does not say
    assert f"Up to {mb} MB a file on this app: split a bigger file and add each part to the same dataset, or run the " \
           "studio on your own machine, which takes files of any size." in [c.value for c in at.caption]
    assert st_config.get_option("server.maxUploadSize") == mb  # what the server checks on every upload request


def test_a_local_install_keeps_its_upload_limit_for_model_files(upload_limit, studio_home):
    from streamlit import config as st_config

    visit("pages/1_Dataset.py", entry=".")
    assert st_config.get_option("server.maxUploadSize") == 512


def test_a_reload_or_another_tab_of_the_same_browser_does_not_reset_its_hosted_model_allowance(api_mode, monkeypatch):
    """Counting per workspace gave every reload a new minute's allowance on the deployer's token (each reload was
    a new anonymous workspace then; a browser's reloads share one now): it is counted per browser."""
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: "one-browser-secret")
    first = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER, studio={"inference_rpm": 1})
    first.chat_input(key="chat.input").set_value("How long is a match?").run()
    assert not [e.value for e in first.main.error if "limit of 1" in e.value]  # the browser's one request
    again = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER, studio={"inference_rpm": 1})  # reloaded: a new session
    again.chat_input(key="chat.input").set_value("And the half-time?").run()
    # the first question's own failure (offline here) may be on the page too, with the conversation it belongs to
    (err,) = [e.value for e in again.main.error if "hosted-model requests" in e.value]
    assert "limit of 1 hosted-model requests a minute" in err and "ask again in" in err
    assert again.session_state["chat.jobs"] == []  # nothing was sent


def test_all_visitors_together_get_at_most_the_app_s_total_on_its_token(api_mode, monkeypatch):
    """A visitor who clears cookies or opens another browser is a new visitor with a new allowance: the app's
    total bounds what its token can be made to spend. The refused question counts against neither limit."""
    from studio.ui import cloud

    settings = {"inference_rpm": 5, "inference_rpm_total": 1}
    monkeypatch.setattr(cloud, "browser_secret", lambda: "first-browser")
    first = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER, studio=settings)
    first.chat_input(key="chat.input").set_value("How long is a match?").run()
    assert not [e.value for e in first.main.error if "limit of" in e.value]  # sent (offline here, so it fails)
    monkeypatch.setattr(cloud, "browser_secret", lambda: "another-browser")
    other = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER, studio=settings)
    other.chat_input(key="chat.input").set_value("And the half-time?").run()
    (err,) = [e.value for e in other.main.error]
    assert "limit of 1 hosted-model requests a minute for all its visitors together" in err and "ask again in" in err
    assert other.session_state["chat.jobs"] == []  # nothing was sent


def test_a_hub_dataset_bigger_than_the_upload_limit_is_refused_before_anything_is_downloaded(hub, upload_limit):
    """load_dataset fetches every file of a repo onto the one server: a visitor typing a multi-GB dataset id
    filled its disk and memory for everyone, whatever the upload limit said."""
    from hub_servers import HubRepo

    from studio.data import hf_sources

    repo = hub.repos[("dataset", "someone/big-qa")] = HubRepo("dataset", "someone/big-qa", private=False)
    repo.files["data/train-00000.parquet"] = b"x" * 1_500_000
    at = visit("pages/1_Dataset.py", studio={"upload_mb": 1})
    at.radio(key="dataset.import.origin").set_value("hub").run()
    at.text_input(key="dataset.import.hub.0").input("someone/big-qa")
    at.button(key="dataset.import.hub_load").click().run()
    if "dataset.import.load" in at.session_state:
        assert at.session_state["dataset.import.load"]["task"].join(60)
    at.run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert ("The train split of someone/big-qa is 1.5 MB in 1 file (data/train-00000.parquet) and this app imports "
            "Hub datasets of up to 1 MB") in err
    assert "\n" not in err
    assert not [p for _m, p, _h in hub.requests if "/resolve/" in p]  # nothing was downloaded
    repo.files["data/train-00000.parquet"] = b"x" * 500_000
    hf_sources.check_hub_access("someone/big-qa", 1_000_000)  # one that fits goes on to load_dataset


MIXED_README = b"""---
configs:
- config_name: small
  default: true
  data_files:
  - split: train
    path: small/train.jsonl
  - split: test
    path: small/test.jsonl
- config_name: big
  data_files: big/*.parquet
---
# Two configs: a small one and a big one
"""


def test_a_hub_import_counts_and_downloads_only_the_files_of_its_config_and_split(hub, upload_limit):
    """The size check summed every file of the repository: a small split next to a big config was refused.
    Now it counts what the config and split read (the README's configs, or the file-name conventions), says
    which files it counted when they are too many, and downloads only those."""
    from hub_servers import HubRepo

    mixed = hub.repos[("dataset", "someone/mixed-qa")] = HubRepo("dataset", "someone/mixed-qa", private=False)
    mixed.files["README.md"] = MIXED_README
    mixed.files["small/train.jsonl"] = b'{"question": "How long is a match?", "answer": "Ninety minutes."}\n' * 2
    mixed.files["small/test.jsonl"] = b'{"question": "Who whistles?", "answer": "The referee."}\n'
    mixed.files["big/part-0.parquet"] = b"x" * 1_500_000
    mixed.files["big/part-1.parquet"] = b"x" * 200_000
    split = hub.repos[("dataset", "someone/split-qa")] = HubRepo("dataset", "someone/split-qa", private=False)
    split.files["data/train-00000-of-00001.jsonl"] = b'{"question": "Offside?", "answer": "Behind the ball."}\n'
    split.files["data/test-00000-of-00001.parquet"] = b"x" * 1_200_000

    def downloads(since: int) -> list[str]:
        return sorted(p.split("/resolve/")[1].split("/", 1)[1] for m, p, _h in hub.requests[since:]
                      if m == "GET" and "/resolve/" in p)

    for repo_id, records, fetched in [("someone/mixed-qa", 2, ["small/train.jsonl"]),
                                      ("someone/mixed-qa@test", 1, ["small/test.jsonl"]),
                                      ("someone/split-qa@train", 1, ["data/train-00000-of-00001.jsonl"])]:
        before = len(hub.requests)
        at = hub_import(visit("pages/1_Dataset.py", studio={"upload_mb": 1}), repo_id)
        assert not at.exception and not [e.value for e in at.error], repo_id
        assert any(f"Read **{records} record" in m.value for m in at.markdown), repo_id
        assert downloads(before) == fetched  # not the other config's or split's files
    for repo_id, counted in [("someone/mixed-qa:big", "The train split of someone/mixed-qa:big is 1.7 MB in 2 files "
                                                      "(big/part-0.parquet, big/part-1.parquet)"),
                             ("someone/split-qa@test", "The test split of someone/split-qa is 1.2 MB in 1 file "
                                                       "(data/test-00000-of-00001.parquet)")]:
        before = len(hub.requests)
        at = hub_import(visit("pages/1_Dataset.py", studio={"upload_mb": 1}), repo_id)
        (err,) = [e.value for e in at.error]
        assert counted + " and this app imports Hub datasets of up to 1 MB" in err and "\n" not in err
        assert downloads(before) == []


def test_a_hub_preview_dropped_to_keep_the_memory_bound_is_read_again_from_its_files(hub, upload_limit):
    """A public app drops a preview when its visitors' previews pass its memory budget; the tab read the Hub dataset
    again, and downloaded it again into a new folder at each visit. Its files are kept with the preview and read
    again; they go when the preview is let go (another source picked)."""
    from hub_servers import HubRepo

    from studio.data import held
    from studio.ui import import_source

    repo = hub.repos[("dataset", "someone/kept-qa")] = HubRepo("dataset", "someone/kept-qa", private=False)
    repo.files["data/train-00000-of-00001.jsonl"] = b'{"question": "Offside?", "answer": "Behind the ball."}\n'
    gets = lambda: [p for m, p, _h in hub.requests if m == "GET" and "/resolve/" in p]  # noqa: E731
    at = hub_import(visit("pages/1_Dataset.py", studio={"upload_mb": 1}), "someone/kept-qa")
    assert any("Read **1 record" in m.value for m in at.markdown) and len(gets()) == 1
    held.previews.drop(at.session_state[import_source.IMPORT]["key"])  # past the budget: dropped
    at.run()
    if import_source.LOAD in at.session_state:  # read again in the background
        assert at.session_state[import_source.LOAD]["task"].join(120)
        at.run()
    assert not at.exception and any("Read **1 record" in m.value for m in at.markdown)
    assert len(gets()) == 1  # not downloaded again
    folder = Path(at.session_state[import_source.HUB_CACHE][1])
    assert folder.is_dir()
    at.radio(key="dataset.import.origin").set_value("file").run()
    assert not folder.exists() and import_source.HUB_CACHE not in at.session_state


def test_a_hub_folder_let_go_while_its_read_still_downloads_does_not_stay_on_disk(monkeypatch, upload_limit):
    """The box cleared while a Hub dataset was downloading: the tab removed the folder, the read was told to stop, but
    the download went on writing in it, making it again, and nothing named it any more (it stayed until another tab's
    download an hour later swept it, or for the server's life). The read removes it again as it ends. The Hub's
    download is a fake here (one that writes its file after the tab let go): the race cannot be timed for real."""
    from studio.data import hf_sources, import_folders
    from studio.ui import import_source

    go_on, folders = threading.Event(), []

    def download(src, token=None, cache_dir=None, files=None, notes=None):
        folders.append(cache_dir)
        go_on.wait(60)
        Path(cache_dir, "datasets").mkdir(parents=True, exist_ok=True)  # what a download does into its folder
        Path(cache_dir, "datasets", "train.jsonl").write_text('{"question": "Offside?", "answer": "Behind."}\n')
        return [{"question": "Offside?", "answer": "Behind."}]

    monkeypatch.setattr(hf_sources, "check_hub_access", lambda *a, **k: None)
    monkeypatch.setattr(hf_sources, "read_hub", download)
    at = visit("pages/1_Dataset.py", studio={"upload_mb": 1})
    at.radio(key="dataset.import.origin").set_value("hub").run()
    box = f"dataset.import.hub.{at.session_state['dataset.import.nonce']}"
    at.text_input(key=box).input("someone/slow-qa")
    at.button(key="dataset.import.hub_load").click().run()
    task = at.session_state[import_source.LOAD]["task"]
    at.text_input(key=box).input("")  # the box cleared (committed with the form): its read stopped, its folder let go
    at.button(key="dataset.import.hub_load").click().run()
    assert not at.exception and import_source.HUB_CACHE not in at.session_state
    go_on.set()
    assert task.join(60) and task.state == "stopped"
    assert folders and not Path(folders[0]).exists()
    at.text_input(key=box).input("not a hub id")  # refused before any download: its folder not counted as read into
    at.button(key="dataset.import.hub_load").click().run()
    if import_source.LOAD in at.session_state:  # still reading (else it ended within the click's run)
        assert at.session_state[import_source.LOAD]["task"].join(60)
    assert any("Bad Hub dataset" in e.value for e in at.run().error)
    assert not import_folders._reading  # else the hourly sweep skipped its folder for the server's life


def test_the_hub_folder_of_a_tab_closed_with_its_preview_goes_at_the_app_s_next_clean_up(monkeypatch, tmp_path):
    """A tab closed with a Hub preview never let go of its folder: it was swept only when another tab downloaded a
    Hub dataset, so on an app where nobody did again it stayed for the machine's life. The public app's clean-up,
    run at a page run of any visitor every 10 minutes, now removes it once unread for an hour; a newer one stays."""
    import os
    import tempfile

    from studio.data import import_folders
    from studio.ui import cloud

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the machine's own temporary folder left alone
    closed, open_ = Path(import_folders.make()), Path(import_folders.make())
    (closed / "train.jsonl").write_text("{}\n")
    hour_ago = time.time() - import_folders.KEPT_S - 60
    os.utime(closed, (hour_ago, hour_ago))
    monkeypatch.setattr(cloud, "_last_clean", 0.0)
    visit("Home.py")
    assert not closed.exists() and open_.is_dir()


def test_a_browser_without_cookies_past_the_hour_s_workspaces_can_still_sign_in_or_give_its_token(hub, monkeypatch,
                                                                                                  studio_home):
    """Past ``cookieless_per_hour`` the page stopped before the sidebar: the refusal said to allow cookies or wait an
    hour, and the sign-in and token field that would have let the visitor in were not drawn."""
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    studio = {"cookieless_per_hour": 1}
    visit("Home.py", studio=studio)  # the hour's one
    auth = {"redirect_uri": "http://127.0.0.1:1/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c",
            "client_secret": "s", "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}
    signing = visit("Home.py", studio=studio, auth=auth)
    assert "sign in or give your Hugging Face token below" in signing.error[0].value
    assert [b.label for b in signing.button] == ["Sign in"]
    refused = visit("Home.py", studio=studio)
    assert "workspace.path" not in refused.session_state
    refused.text_input(key="auth.hf_token.input").input("hf_not_a_token_0123456789").run()
    assert any(e.value.startswith("That Hugging Face token was refused") for e in refused.error)  # said; still stopped
    assert "workspace.path" not in refused.session_state
    refused.button(key="auth.hf_token.forget").click().run()
    at = give_token(refused, TOKEN)
    assert workspace(at).name.startswith("h-") and not at.error
    assert any(c.value.startswith("Private to your Hugging Face account") for c in at.sidebar.caption)


def test_an_anonymous_visitor_is_told_that_signing_in_keeps_their_work_where_sign_in_is_offered():
    auth = {"redirect_uri": "http://127.0.0.1:1/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c",
            "client_secret": "s", "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}
    at = visit("Home.py", auth=auth)
    assert any("unless you sign in (what you made moves in) or give your Hugging Face token" in c.value
               for c in at.sidebar.caption)
    at = visit("Home.py")  # no sign-in offered: only the token keeps it
    assert any("unless you give your Hugging Face token below" in c.value for c in at.sidebar.caption)


def hub_import(at, repo_id: str):
    at.radio(key="dataset.import.origin").set_value("hub").run()
    at.text_input(key=f"dataset.import.hub.{at.session_state['dataset.import.nonce']}").input(repo_id)
    at.button(key="dataset.import.hub_load").click().run()
    if "dataset.import.load" in at.session_state:  # still reading (else it ended within the click's run)
        assert at.session_state["dataset.import.load"]["task"].join(120)
    return at.run()


def test_a_gated_hub_dataset_another_visitor_imported_is_refused_to_a_visitor_without_a_token(hub, monkeypatch, tmp_path):
    """datasets.load_dataset answers from the server's one cache whenever the Hub refuses or fails: Alice typing
    the id of a gated (or private) dataset Bob had imported got Bob's rows. The Hub is asked first, by her token."""
    import io

    import datasets.config
    import pyarrow as pa
    import pyarrow.parquet as pq
    from hub_servers import HubRepo

    from studio.data import hf_sources

    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", hub.url)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")  # the server's one cache
    repo = hub.repos[("dataset", "acme/gated-qa")] = HubRepo("dataset", "acme/gated-qa", private=False)
    table = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"question": "What is the launch code?", "answer": "Forty-two"}]), table)
    repo.files["README.md"] = b"---\nlicense: other\n---\n"
    repo.files["train.parquet"] = table.getvalue()
    assert hf_sources.read_hub("hub:acme/gated-qa", TOKEN)  # Bob, granted access, imported it on this server
    repo.gated = "manual"
    before = len(hub.requests)
    alice = hub_import(visit("pages/1_Dataset.py"), "acme/gated-qa")
    assert not alice.exception
    assert "launch code" not in everything_shown(alice) and not any("Read **1 record**" in m.value for m in alice.markdown)
    (err,) = [e.value for e in alice.error]
    assert "acme/gated-qa is gated on the Hub: give your own Hugging Face token" in err and "\n" not in err
    assert not [p for _m, p, _h in hub.requests[before:] if "/resolve/" in p]  # nothing downloaded for her


@contextlib.contextmanager
def _asked_own_endpoint(monkeypatch, **studio_settings):
    """A passage question to a visitor's own endpoint on a Hugging Face host (a loopback server stands for their
    Space), on the public app with the deployer's token: yields the page right after Ask and the server; on leaving,
    every answer is done, so the server's headers say what reached it."""
    import time

    from chat_servers import QAServer

    from studio.chat import base

    monkeypatch.setattr(base, "HF_HOSTS", (*base.HF_HOSTS, "127.0.0.1"))
    monkeypatch.setenv("STUDIO_PRIVATE_SERVERS", "1")  # a loopback server standing for a public Space: let through
    with QAServer().running() as server:
        at = visit("pages/4_Chat.py", HF_TOKEN=DEPLOYER, **({"studio": studio_settings} if studio_settings else {}))
        at.session_state["chat.mode"] = "Question over a passage"
        at.session_state["chat.passage.a.where"] = "provider"
        at.run()
        at.text_input(key="chat.passage.a.endpoint").set_value(server.url("qa")).run()
        at.text_area(key="chat.passage.text").set_value("Meu nome é Marcundes e eu moro em Lisboa.")
        at.text_input(key="chat.passage.question").set_value("Qual é o meu nome?")
        at.button(key="chat.passage.ask").click().run()
        yield at, server
        deadline = time.time() + 60
        while time.time() < deadline and any(not t.done for t in at.session_state["chat.passage.run"]["tasks"]):
            time.sleep(0.2)


def test_an_endpoint_on_a_hugging_face_host_gets_the_visitor_s_token_never_the_deployer_s(api_mode, monkeypatch):
    """A Space (<user>-<name>.hf.space) or a custom Inference Endpoint is a Hugging Face host anyone can run a
    server on: a visitor typing theirs as the passage endpoint received the deployer's HF_TOKEN."""
    with _asked_own_endpoint(monkeypatch) as (at, server):
        pass
    assert not at.exception
    assert server.headers and not [h for h in server.headers if DEPLOYER in str(h)]


def test_an_endpoint_the_visitor_typed_is_not_held_to_the_app_s_token_limit(api_mode, monkeypatch):
    """A question to an address the visitor typed (their Space, their Inference Endpoint) never goes on the
    app's token, yet it was counted against the visitor's allowance and every visitor's total on it: at the
    limit, the visitor's own endpoint was refused with 'You reached this app's limit ... on its own token'."""
    with _asked_own_endpoint(monkeypatch, inference_rpm=0, inference_rpm_total=0) as (at, server):
        assert not at.exception and not [e.value for e in at.main.error if "limit of" in e.value]
    assert server.headers  # the question reached the visitor's endpoint


def test_a_hub_import_on_the_public_app_leaves_nothing_in_the_server_s_hugging_face_cache(hub, monkeypatch, tmp_path):
    """Each import was to read through a cache of its own, removed after it; but load_dataset of a Hub id puts
    the repository's files in the machine's one Hugging Face cache whatever its cache_dir, so every dataset any
    visitor imported stayed on the server's disk for good (each under the upload limit, their number unbounded)."""
    import io

    import datasets.config
    import huggingface_hub.constants as constants
    import pyarrow as pa
    import pyarrow.parquet as pq
    from hub_servers import HubRepo

    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", hub.url)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))  # the server's one cache
    repo = hub.repos[("dataset", "acme/open-qa")] = HubRepo("dataset", "acme/open-qa", private=False)
    table = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"question": f"Rule {i}?", "answer": f"Rule {i}."} for i in range(50)]), table)
    repo.files["README.md"] = b"---\nlicense: mit\n---\n"
    repo.files["train.parquet"] = table.getvalue()
    at = hub_import(visit("pages/1_Dataset.py"), "acme/open-qa")
    assert not at.exception and not at.error
    assert any("Read **50 records**" in m.value for m in at.markdown)
    left = [p for p in (tmp_path / "hub-cache").rglob("*") if p.is_file()] if (tmp_path / "hub-cache").exists() else []
    assert left == []


@pytest.fixture
def silent_server():
    """An OpenAI-compatible server that takes each question and never answers: evaluations stay running."""
    from chat_servers import FaultServer

    from studio import jobs

    with FaultServer().running() as fs:
        yield fs.url("silent")
        for proc in list(jobs._reapers.values()):  # the evaluation jobs this test started
            proc.kill()
            proc.wait(30)


def start_evaluation(at, base_url: str) -> list[str]:
    """Start an evaluation of an API model on the sample, at ``base_url``; the page's error lines."""
    at.text_area(key="evaluate.other_models").set_value("api:m").run()
    at.text_input(key="evaluate.base_url").set_value(base_url).run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.main.error]


def test_a_visitor_runs_two_evaluations_at_once_and_all_visitors_together_the_app_s_total(api_mode, silent_server,
                                                                                        monkeypatch):
    """Each evaluation is a process of its own: one visitor pressing Start again and again (or many visitors) would
    take the one server past its memory, and every visitor's work with it. Browsers without cookies are one visitor:
    each of their page loads is a new workspace, which had two of its own."""
    from studio import config
    from studio.evaluate import results
    from studio.ui import cloud

    # the silent server is on loopback, which a public app's evaluations refuse at once (each answer failed, the job
    # ended in seconds, and the count fell under the test's feet): the deployer's allowance keeps them waiting on it
    monkeypatch.setenv(config.PRIVATE_VAR, "1")
    monkeypatch.setattr(cloud, "browser_secret", lambda: "alice-browser-secret-0123456789ab")
    alice = visit("pages/5_Evaluate.py", studio={"jobs_total": 5})
    assert start_evaluation(alice, silent_server) == []
    assert start_evaluation(alice, silent_server) == []
    (err,) = start_evaluation(alice, silent_server)
    assert err.startswith("You already have 2 background jobs (evaluations) running and this app runs at most 2 per "
                          "visitor at a time") and "\n" not in err
    with config.use_workspace(workspace(alice)):
        assert len(results.list_evals()) == 2  # the refused one left nothing behind

    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    first_load = visit("pages/5_Evaluate.py", studio={"jobs_total": 5})
    assert start_evaluation(first_load, silent_server) == []
    assert start_evaluation(first_load, silent_server) == []
    next_load = visit("pages/5_Evaluate.py", studio={"jobs_total": 5})
    assert workspace(next_load) != workspace(first_load)
    (err,) = start_evaluation(next_load, silent_server)
    assert err == ("Browsers that send no cookies count as one visitor on this app, who runs at most 2 background jobs "
                   "(evaluations) at a time, and 2 are running: allow cookies for this site and reload, or wait for one "
                   "to finish.")

    monkeypatch.setattr(cloud, "browser_secret", lambda: "bob-browser-secret-0123456789abcd")
    bob = visit("pages/5_Evaluate.py", studio={"jobs_total": 5})
    assert start_evaluation(bob, silent_server) == []
    (err,) = start_evaluation(bob, silent_server)
    assert err.startswith("This app is running its limit of 5 background jobs (evaluations) for all its visitors together")


@pytest.fixture
def answering_server():
    """An OpenAI-compatible server that answers every question at once."""
    from chat_servers import FaultServer

    with FaultServer().running() as fs:
        yield fs.url("good")


def test_an_evaluation_s_result_is_held_to_the_visitor_s_workspace_limit_and_says_so_on_the_page(
        api_mode, answering_server):
    """The evaluation's own process saved its result without the workspace's size check, so evaluating again and
    again filled the server's disk past the visitor's limit. Now the result that no longer fits is refused in one
    line on the page, what was saved before it stays, and so does everything else of the visitor's."""
    from studio import config, jobs
    from studio.cloud import workspaces
    from studio.evaluate import results

    at = visit("pages/5_Evaluate.py")
    ws = workspace(at)
    datasets_before = store_files(ws / "datasets")
    # room for the queued evaluation, not for its answers: its record, and its job's folder and files (jobs/, the job's
    # record, its folder, status, log and stop), a block each (usage.on_disk), and what a visitor who only looked does
    # not have yet: evals/, and the form kept as filled in (evaluate/, form.json)
    limit = usage.measure(ws) + 10 * usage.BLOCK
    at.secrets["studio"] = {"anonymous_workspace_mb": limit / 1e6}
    assert start_evaluation(at, answering_server) == []
    with config.use_workspace(ws):
        (info,) = results.list_evals()
        workdir = results.job_dir(info.id)
        deadline = time.time() + 180
        while time.time() < deadline and (jobs.read_status(workdir).active or jobs.read_status(workdir).state == "none"):
            time.sleep(0.5)
        assert jobs.read_status(workdir).state == "failed"
    assert usage.measure(ws) <= limit
    assert store_files(ws / "datasets") == datasets_before
    at.run()
    shown = [e.value for e in at.main.error]
    assert any(e.startswith("The evaluation stopped") and "no room left to save its result" in e
               and "KB left of its" in e and "\n" not in e for e in shown), shown


def store_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_chat_conversation_comes_back_after_a_restart_when_the_token_is_given_again(
        hub, studio_home, api_mode, monkeypatch):
    """The conversation was not synced: after a restart a visitor's datasets came back and their Chat did not."""
    at = give_token(visit("pages/4_Chat.py"), TOKEN)
    kept = workspace(at)
    from studio import config
    from studio.chat import saved

    with config.use_workspace(kept):  # what the page saves after a turn, this session's token among its secrets
        saved.save([{"role": "user", "content": f"How long is a match? (my token: {TOKEN})"},
                    {"role": "assistant", "model": "org/model (HF auto)", "content": "90 minutes."}], [TOKEN])
    running = sync.current(kept)
    assert running is not None and running.sync_once()
    restart(monkeypatch, studio_home)
    at = give_token(visit("pages/4_Chat.py"), TOKEN)
    shown = [m.markdown[0].value for m in at.chat_message if m.markdown]
    assert len(shown) == 2 and "How long is a match? (my token: ***)" in shown[0] and "90 minutes." in shown[1], shown
    assert not any(TOKEN in s for s in shown)


def test_a_conversation_had_before_giving_the_token_moves_into_the_kept_workspace(hub, api_mode):
    """Giving a token moved the tab's datasets and evaluations into the kept workspace and removed the rest of the
    anonymous one: the Chat conversation went with it, from the page and from the disk."""
    from studio import config
    from studio.chat import saved

    at = visit("pages/4_Chat.py")
    with config.use_workspace(workspace(at)):
        saved.save([{"role": "user", "content": "How long is a match?"},
                    {"role": "assistant", "model": "org/model (HF auto)", "content": "90 minutes."}])
    at.run()
    at = give_token(at, TOKEN)
    kept = workspace(at)
    assert kept.name.startswith("h-")
    shown = [m.markdown[0].value for m in at.chat_message if m.markdown]
    assert len(shown) == 2 and "How long is a match?" in shown[0] and "90 minutes." in shown[1], shown
    with config.use_workspace(kept):
        turns, _note = saved.load()
    assert [t["content"] for t in turns] == ["How long is a match?", "90 minutes."]


def questions(at) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m.markdown[0].value) for m in at.chat_message if m.markdown and m.name == "user"]


def test_a_kept_conversation_and_the_tab_s_both_stay_after_a_question_asked_once_the_token_is_given(
        hub, studio_home, api_mode, answering_server, monkeypatch):
    """After a restart, a visitor chatted in a tab, then gave their token: the kept conversation (back from their
    repo) and the tab's were joined on disk, yet the page showed the tab's only, and its next question saved the
    tab's turns over the joined file: the kept conversation was gone from the page, the disk and the repo."""
    from studio import config
    from studio.chat import saved

    at = give_token(visit("pages/4_Chat.py"), TOKEN)
    kept = workspace(at)
    with config.use_workspace(kept):
        saved.save([{"role": "user", "id": "kept1", "content": "How long is a match?"},
                    {"role": "assistant", "model": "m", "content": "90 minutes."}])
    running = sync.current(kept)
    assert running is not None and running.sync_once()
    restart(monkeypatch, studio_home)

    at = visit("pages/4_Chat.py")
    ask(at, answering_server, "How many players are on a team?")
    at = give_token(at, TOKEN)
    ask(at, answering_server, "What is a corner kick?")
    want = ["How long is a match?", "How many players are on a team?", "What is a corner kick?"]
    assert questions(at) == want
    with config.use_workspace(workspace(at)):
        turns, _note = saved.load()
    assert [t["content"] for t in turns if t["role"] == "user"] == want


def test_the_sidebar_does_not_say_synced_while_a_conversation_change_waits(hub, api_mode):
    """A change to the conversation alone waits up to a minute for the next commit; the sidebar said 'Synced'."""
    from studio import config
    from studio.chat import saved

    at = give_token(visit("pages/4_Chat.py"), TOKEN)
    kept = workspace(at)
    running = sync.current(kept)
    running.stop()
    turns = [{"role": "user", "content": "How long is a match?"}, {"role": "assistant", "content": "90 minutes."}]
    with config.use_workspace(kept):
        saved.save(turns)
    assert running.sync_once()
    with config.use_workspace(kept):
        saved.save([*turns, {"role": "user", "content": "And extra time?"}, {"role": "assistant", "content": "30."}])
    assert not running.sync_once()
    at.run()
    (line,) = [c.value for c in at.sidebar.caption if "Synced to" in c.value]
    assert "the Chat conversation's last change goes at" in line and "UTC" in line


def _dataset_of(folder: Path, name: str, kb: int) -> str:
    from studio import config
    from studio.data import store

    with config.use_workspace(folder):
        return store.create_dataset(name, [{"question": f"{name} {i}?", "answer": "x" * 1000} for i in range(kb)]).id


def room_for_one_of(before: Path, ids: list[str]) -> float:
    """A workspace limit, in MB, with room for one of the datasets ``ids`` of ``before`` restored and not for two, as
    the limits count (``usage.on_disk``: files and folders in whole blocks): the dataset's files and folders, its own
    folder, ``datasets/``, the workspace's size record, its lock and the sync record, and half a dataset more."""
    room = max(usage.measure(before / "datasets" / i) + usage.BLOCK for i in ids)
    return int(4 * usage.BLOCK + 1.5 * room) / 1e6


def test_a_restore_into_a_full_workspace_comes_back_once_room_is_freed_and_the_sidebar_says_each_step(
        hub, studio_home, tmp_path, monkeypatch):
    """A restore that did not fit was one line under the token field, and sync stayed off for good (the refusal
    was kept for that token and repo): deleting a dataset to make room changed nothing until a restart."""
    from studio import config
    from studio.data import store

    before = tmp_path / "before-restart"
    first, second = _dataset_of(before, "First", 30), _dataset_of(before, "Second", 30)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()

    mb = room_for_one_of(before, [first, second])
    at = give_token(visit(studio=small_workspaces(monkeypatch, mb)), TOKEN)  # room for one of the two
    kept = workspace(at)
    assert kept.name.startswith("h-")
    # what did not come back, why, and what to do, in a line the sidebar shows whole (it was 330 characters: the
    # workspace-full refusal quoted whole inside another sentence, and a countdown never updated)
    (shown,) = [w.value for w in at.sidebar.warning]
    assert shown == ("1 dataset kept in alice/slm-studio-workspace (private) did not come back: this workspace is at its "
                     f"{usage.readable_size(mb * 1e6)} limit. Delete what you no longer need here and it comes back; "
                     "sync waits until then.")
    assert not at.sidebar.error
    assert not [c.value for c in at.sidebar.caption if c.value.startswith("Sync: off")]
    running = sync.current(kept)
    assert running is not None and not running.prepared
    came = {d.name for d in (kept / "datasets").iterdir() if (d / "dataset.json").exists()} & {first, second}
    assert len(came) == 1
    (here,) = came

    with config.use_workspace(kept):
        store.delete_dataset(here)  # the room the rest needs
    at.sidebar.button(key="workspace.sync_retry.account").click().run()
    assert not at.exception and running.prepared and not at.sidebar.warning
    assert ({first, second} - {here}) <= {d.name for d in (kept / "datasets").iterdir()}
    assert not (kept / "datasets" / here).exists()  # deleted to make room: it stays deleted
    assert running.sync_once()
    at.run()
    assert [c.value for c in at.sidebar.caption if "Synced to alice/slm-studio-workspace (private)" in c.value]
    pushed = hub.repos[("dataset", repo)].files
    assert not [f for f in pushed if f.startswith(f"datasets/{here}/")]
    assert [f for f in pushed if f.startswith(f"datasets/{({first, second} - {here}).pop()}/")]


def test_a_cookieless_tab_whose_conversation_cannot_move_is_told_the_truth_and_gets_it_back_on_forgetting(
        hub, api_mode, monkeypatch):
    """A tab without the browser's session cookie whose conversation could not join a full kept workspace read 'it
    stays in this browser's own workspace (forget the token or sign out to open it …)': forgetting the token opened a
    new, empty workspace (a random one, as for any cookieless tab), and the conversation was out of reach."""
    from studio import config
    from studio.chat import saved
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    tab = give_token(visit(studio={"workspace_mb": 0.05}), TOKEN)
    kept = workspace(tab)
    with config.use_workspace(kept):
        saved.save([{"role": "user", "content": "Kept question?"}, {"role": "assistant", "content": "Kept."}])
    _dataset_of(kept, "Fills it", 60)  # past the 50 KB whether the sample came in too or not (its restore ended first)
    # in the repo already, as the kept workspace's watcher commits it within seconds (it raced the next tab under load)
    assert sync.current(kept).sync_once()

    at = visit("pages/4_Chat.py", studio={"workspace_mb": 0.05})
    anon = workspace(at)
    with config.use_workspace(anon):
        saved.save([{"role": "user", "content": "Tab question?"}, {"role": "assistant", "content": "Tab answer."}])
    at = give_token(at, TOKEN)
    assert workspace(at) == kept
    (note,) = [w.value for w in at.sidebar.warning if "Chat conversation" in w.value]
    assert "this tab's own workspace" in note and "sign out" not in note and "browser's own" not in note, note
    running = sync.current(kept)
    at.sidebar.button(key="auth.hf_token.forget").click().run()
    assert not at.exception and workspace(at) == anon
    assert "Tab question?" in " ".join(questions(at))
    running._thread.join(60)  # Forget ended the kept workspace's sync


def test_train_and_evaluate_on_the_public_app_say_where_training_happens_not_here():
    """Evaluate opened with "Did training make the model better, and where?" where nothing trains, and Train's note
    ended "train where the full install runs": on a public app whose server has the full install, that read "here"."""
    train = visit("pages/3_Train.py")
    (note,) = [i.value for i in train.info]
    assert note.endswith("and train in a studio of your own.") and "where the full install runs" not in note
    assert not [c.value for c in train.main.caption if "Training runs in the background" in c.value]
    evaluate = visit("pages/5_Evaluate.py")
    said = everything_shown(evaluate)
    assert "Did training make the model better" not in said
    assert "Held-out questions, and a model before and after training, need a studio of your own." in said


def test_the_workspace_caption_says_a_token_given_while_the_hub_is_out_of_reach_keeps_nothing_yet(monkeypatch):
    """The caption above the token still said "gone after a reload or a restart unless you give your Hugging Face
    token below" with the token given: it had been given, and kept nothing, the Hub being out of reach."""
    from chat_servers import free_port

    point_hub_at(monkeypatch, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    at = visit()
    (before,) = [c.value for c in at.sidebar.caption if c.value.startswith("Private to this browser")]
    assert before.endswith("unless you give your Hugging Face token below.")
    at = give_token(at, TOKEN)
    for again in (False, True):  # the run the token is given in, and the next click
        if again:
            at.run()
        (said,) = [c.value for c in at.sidebar.caption if c.value.startswith("Private to this browser")]
        assert "unless you give" not in said
        assert said.endswith("until the Hub can be reached to keep it with the token you gave (tried again at your "
                             "next click).")


def test_the_chat_sidebar_s_backend_box_shows_each_backend_whole_on_a_phone(api_mode):
    """At 390x844 the Backend box cut "Hugging Face Inference Providers" off ("…Provider:"): seen in Chromium, where
    "OpenAI-compatible server" (24 characters) fits whole."""
    at = visit("pages/4_Chat.py")
    shown = at.sidebar.selectbox(key="chat.a.kind")
    assert shown.value == "provider" and "HF Inference Providers" in shown.options
    assert all(len(option) <= len("OpenAI-compatible server") for option in shown.options), shown.options


def test_a_signed_in_visitor_s_caption_says_a_token_given_while_the_hub_is_out_of_reach_keeps_nothing_yet(monkeypatch):
    """Signed in, the caption went on saying "give your Hugging Face token to keep it across restarts" once it was
    given and kept nothing, the Hub being out of reach."""
    from chat_servers import free_port

    from tests.test_tenancy import signed_in_visit

    point_hub_at(monkeypatch, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    at = signed_in_visit({"iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"})
    (before,) = [c.value for c in at.sidebar.caption if c.value.startswith("Signed in as")]
    assert before.endswith("give your Hugging Face token to keep it across restarts.")
    at = give_token(at, TOKEN)
    (said,) = [c.value for c in at.sidebar.caption if c.value.startswith("Signed in as")]
    assert said.endswith("the Hub could not be reached to keep it across restarts with the token you gave (tried "
                         "again at your next click).")


def test_a_restore_held_back_by_room_still_waits_in_a_tab_after_another_tab_forgot_the_token(hub, tmp_path, monkeypatch):
    """Two tabs gave the token; the restore did not all fit. Forget in one tab ended the sync, and the other tab
    started a new one that took the workspace for restored: it said 'Synced' and what had not come back never did
    (until a restart)."""
    before = tmp_path / "before-restart"
    first, second = _dataset_of(before, "First", 30), _dataset_of(before, "Second", 30)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()

    mb = room_for_one_of(before, [first, second])
    one = give_token(visit(studio=small_workspaces(monkeypatch, mb)), TOKEN)  # room for one of the two
    two = give_token(visit(studio={"workspace_mb": mb}), TOKEN)
    kept = workspace(one)
    assert workspace(two) == kept and [w.value for w in two.sidebar.warning if "did not come back" in w.value]
    one.sidebar.button(key="auth.hf_token.forget").click().run()
    assert not one.exception
    two.run()  # its sync starts again, restoring first in its own thread
    assert not two.exception
    settled(two)
    (shown,) = [w.value for w in two.sidebar.warning if "did not come back" in w.value]
    assert shown.startswith("1 dataset kept in alice/slm-studio-workspace (private) did not come back")
    running = sync.current(kept)
    assert running is not None and not running.prepared  # nothing is committed before the rest came back


def test_a_new_visitor_on_a_full_server_is_told_the_sample_is_missing_once_not_that_their_save_was_refused():
    """On a full server every page run of a new visitor read 'Not saved: this server is full … delete datasets or
    evaluations you no longer need': they had saved nothing and had nothing to delete (the sample dataset a new
    workspace gets was refused), and each click tried again, walking every visitor's files to look for room."""
    from studio.data import sample

    at = visit(studio={"workspaces_total_mb": 0.001})
    assert not at.error, [e.value for e in at.error]
    assert [w.value for w in at.warning] == [
        "Your new workspace starts without the sample dataset: this server is full. Create or import a dataset on the "
        "Dataset page once there is room (try again later)."]
    tried = []
    real = sample.ensure_sample
    sample.ensure_sample = lambda: tried.append(1) or real()
    try:
        at.switch_page("pages/1_Dataset.py").run()
    finally:
        sample.ensure_sample = real
    assert not at.exception and not at.error and not tried


def _slow_file(hub, repo: str, dataset: str) -> None:
    """A file of ``dataset`` in the repo that comes 1 KB every half second (its head comes after it): the restore is
    still running when the page is drawn, until ``hub.trickle_s`` is set to 0."""
    slow = f"datasets/{dataset}/notes.txt"
    hub.repos[("dataset", repo)].files[slow] = b"n" * 60_000
    hub.faults[slow] = "trickle"
    hub.trickle_s = 0.5


def test_giving_the_token_draws_the_page_at_once_and_the_restore_comes_in_the_background(hub, tmp_path):
    """Giving the token restored the workspace in the page's own run: the page showed a spinner and nothing else
    until every file had downloaded. The restore runs in the sync's thread now, as a restart's does: the page draws at
    once, the sidebar counts what comes, Home says the workspace is being restored, and the next run shows it."""
    before = tmp_path / "before-restart"
    dataset = _dataset_of(before, "Kept in the repo", 2)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    _slow_file(hub, repo, dataset)

    at = give_token(visit(), TOKEN, wait=False)
    running = sync.current(workspace(at))
    assert running is not None and not running.prepared
    shown = everything_shown(at)
    assert "Kept in the repo" not in shown and "No datasets yet" not in shown
    deadline = time.time() + 60
    while time.time() < deadline and not (running.restoring or (0, 0))[1]:
        time.sleep(0.05)
    at.run()
    sidebar = "\n".join(c.value for c in at.sidebar.caption)
    assert "Restoring 4 files from alice/slm-studio-workspace (private)" in sidebar, sidebar
    assert [i.value for i in at.info if i.value.startswith("Your workspace is being restored from alice/")]
    hub.trickle_s = 0.0
    settled(at)
    assert "Kept in the repo" in everything_shown(at) and "Restoring" not in "\n".join(c.value for c in at.sidebar.caption)


def test_a_tab_left_after_another_tab_forgot_the_token_draws_at_once_while_its_restore_runs(hub, tmp_path):
    """Forget in one tab ended the workspace's sync; the other tab, still holding the token, started it again and
    restored in its page run (a spinner until every download ended). It restores in the sync's thread now."""
    from studio import config

    one = give_token(visit(), TOKEN)
    two = give_token(visit(), TOKEN)
    kept = workspace(one)
    assert workspace(two) == kept
    later = tmp_path / "elsewhere"  # a dataset saved to the repo from another studio meanwhile
    dataset = _dataset_of(later, "Saved elsewhere", 2)
    repo = sync.current(kept).repo_id
    files = hub.repos[("dataset", repo)].files
    for path in (later / "datasets" / dataset).rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            files[f"datasets/{dataset}/{path.relative_to(later / 'datasets' / dataset)}"] = path.read_bytes()
    _slow_file(hub, repo, dataset)

    one.sidebar.button(key="auth.hf_token.forget").click().run()
    assert not one.exception
    two.run()
    assert not two.exception
    running = sync.current(kept)
    assert running is not None and not running.prepared
    with config.use_workspace(kept):
        assert "Saved elsewhere" not in everything_shown(two)
    hub.trickle_s = 0.0
    settled(two)
    assert "Saved elsewhere" in everything_shown(two)


@pytest.mark.parametrize("status, words", [(401, "The Hub refused the token you gave"),
                                           (403, "The Hub no longer lets the token you gave write to")])
def test_a_token_revoked_after_it_was_accepted_turns_home_s_hub_token_to_refused_and_keeps_the_work(hub, status, words):
    """Home kept saying "Hub token: yours" after the Hub refused the token at a sync (revoked, or its access to the
    repo taken away), while the sidebar said the sync failed."""
    from studio import config
    from studio.data import store

    at = give_token(visit(), TOKEN)
    assert {m.label: m.value for m in at.metric}["Hub token"] == "yours"
    running = sync.current(workspace(at))
    assert running is not None and running.sync_once()
    hub.refused[TOKEN] = status  # revoked on huggingface.co (or the repo's access taken away)
    with config.use_workspace(workspace(at)):
        store.create_dataset("Made after", [{"question": "q?", "answer": "a"}])
    assert not running.sync_once() and running.state == "failed"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Hub token"] == "refused"
    (line,) = [i.value for i in at.main.info if "token" in i.value]
    assert line.startswith(words) and "\n" not in line
    assert "kept" in line and "huggingface.co/settings/tokens" in line and "Forget it" in line
    with config.use_workspace(workspace(at)):
        assert "Made after" in [d.name for d in store.list_datasets()]
    del hub.refused[TOKEN]  # a commit that succeeds again: Home says yours again
    assert running.sync_once()
    at.run()
    assert {m.label: m.value for m in at.metric}["Hub token"] == "yours"


def test_a_token_accepted_again_after_a_refused_sync_is_yours_on_home_at_once(hub):
    """Its access given back, the token given again in a new tab was accepted by the Hub, and Home still said
    "refused" (the sync's last failure) until that sync's next try, up to a minute later."""
    from studio import config
    from studio.data import store

    at = give_token(visit(), TOKEN)
    running = sync.current(workspace(at))
    hub.refused[TOKEN] = 403
    with config.use_workspace(workspace(at)):
        store.create_dataset("Made after", [{"question": "q?", "answer": "a"}])
    assert not running.sync_once() and running.refused == "access"
    del hub.refused[TOKEN]  # the repo's access given back
    again = give_token(visit(), TOKEN)  # a new tab
    assert {m.label: m.value for m in again.metric}["Hub token"] == "yours"


@pytest.mark.parametrize("named_first", [True, False])
def test_a_repo_name_the_hub_refuses_is_said_on_home_and_in_the_sidebar_not_yours_alone(hub, named_first):
    """With the token given and `my repo` typed as the repo name, Home said "Hub token: yours" with no line, and the
    sidebar's caption still said "… unless you give your Hugging Face token below": the token had been given, and the
    name refused. Typed before the token, nothing keeps the workspace; typed after it opened its repo, that repo's
    sync goes on, and Home says so."""
    at = visit()
    if named_first:
        at.text_input(key="workspace.repo").input("my repo").run()
        at = give_token(at, TOKEN)
    else:
        at = give_token(at, TOKEN)
        at.text_input(key="workspace.repo").input("my repo").run()
    assert not at.exception, [e.value for e in at.exception]
    (err,) = [e.value for e in at.sidebar.error]
    assert "'my repo' is not a repo name" in err
    (line,) = [i.value for i in at.main.info if "token" in i.value]
    assert "'my repo' is not a repo name" in line and "Your workspace in the sidebar" in line
    if named_first:
        (said,) = [c.value for c in at.sidebar.caption if c.value.startswith("Private to")]
        assert "unless you give" not in said and "the token you gave keeps nothing yet" in said
        assert "is not kept with it" in line
    else:
        assert "still kept in alice/slm-studio-workspace" in line
    at.text_input(key="workspace.repo").input("my-repo").run()  # a name the Hub takes: the line goes
    assert not at.sidebar.error and not [i.value for i in at.main.info if "my repo" in i.value]


def test_an_evaluation_refused_for_room_says_not_started_and_leaves_no_job_folder(api_mode, silent_server):
    """A start refused because the job's own files would not fit read "Not saved: it needs 20 KB …" above the Start
    button (nothing was being saved), and left the evaluation's empty job folder in the workspace for good. Its room
    is asked before the queued record is written or jobs/ made: they took the workspace a block past its limit (the
    line read '82 KB used' of 78), and left empty evals/ and jobs/ folders behind."""
    from studio import config
    from studio.cloud import workspaces
    from studio.evaluate import results

    at = visit("pages/5_Evaluate.py")
    ws = workspace(at)
    # room for the queued evaluation's record and evals/, and the form kept as it was filled in (evaluate/ and
    # form.json: a visitor who only looked has none of them yet), not for its job's files (5 blocks)
    limit = usage.measure(ws) + 4 * usage.BLOCK
    at.secrets["studio"] = {"anonymous_workspace_mb": limit / 1e6}
    (err,) = start_evaluation(at, silent_server)
    assert err.startswith("Not started: it needs") and "\n" not in err
    # nothing written or made first: the line says what the workspace held before Start, within its limit
    used = usage.readable_size(usage.measure(ws))
    assert f"left of its {usage.readable_size(limit)} limit ({used} used)" in err
    assert usage.measure(ws) <= limit
    with config.use_workspace(ws):
        assert results.list_evals() == []
    assert not (ws / "jobs").exists() and not (ws / "evals").exists()


def test_home_s_hub_token_says_not_checked_while_the_hub_is_out_of_reach_not_yours(monkeypatch):
    """Home's Hub token read "yours" (and no line) while the sidebar said the Hub could not be reached to check it:
    as if checked and keeping the workspace."""
    from chat_servers import free_port

    point_hub_at(monkeypatch, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    at = give_token(visit(), TOKEN)
    assert {m.label: m.value for m in at.metric}["Hub token"] == "not checked"
    (line,) = [i.value for i in at.info]
    assert line.startswith("The Hub could not be reached to check the token you gave: it is checked again at your "
                           "next click")
