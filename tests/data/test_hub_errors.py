"""The Hub's failures as one line each (studio.data.hub), against the loopback Hub stand-in: a repository, revision,
file or split that is not there is said so; only a Hub that cannot be reached is "Cannot reach"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub_servers import HubRepo, standin_hub

REPO = Path(__file__).resolve().parents[2]
ROWS = [{"question": "How many players?", "answer": "Eleven."}]


def _standin(standin) -> None:
    """``alice/qa`` on the stand-in: a train split, one branch (main)."""
    repo = HubRepo("dataset", "alice/qa", False)
    repo.files["data/train.jsonl"] = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    repo.branches = {"main"}
    standin.repos[("dataset", "alice/qa")] = repo


def _env(standin, tmp_path: Path, offline: str = "0") -> dict:
    # huggingface_hub and datasets read the endpoint and offline switch once, at import: a process of their own.
    return {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": standin.url, "HF_HUB_OFFLINE": offline,
            "HF_DATASETS_OFFLINE": offline, "HF_HUB_DISABLE_XET": "1", "PYTHONPATH": str(REPO)}


# Each call inside hub_errors("alice/qa"), in a process pointed at the stand-in: one line per call, what it raised.
CALLS = """
import sys
from pathlib import Path
from studio.data import hub
from studio.errors import StudioError
tmp = Path(sys.argv[1])
def run(call):
    try:
        with hub.hub_errors("alice/qa"):
            call()
        print("no error")
    except StudioError as exc:
        print(type(exc).__name__, exc)
from datasets import load_dataset
from huggingface_hub import HfApi, hf_hub_download
run(lambda: HfApi().dataset_info("alice/qa", revision="v2"))
run(lambda: hf_hub_download("alice/qa", "data/test.jsonl", repo_type="dataset", cache_dir=tmp / "c"))
run(lambda: HfApi().dataset_info("alice/gone"))
run(lambda: load_dataset("alice/gone", cache_dir=str(tmp / "d")))
run(lambda: load_dataset("alice/qa", split="validation", cache_dir=str(tmp / "d")))
run(lambda: open(tmp / "gone" / "model.safetensors", "rb"))  # a file of a push removed while it is read
run(lambda: HfApi(endpoint="http://127.0.0.1:9").dataset_info("alice/qa"))
"""


def test_a_missing_repository_revision_file_or_split_is_named_not_called_a_network_failure(tmp_path):
    """Each of these read "Cannot reach the Hugging Face Hub ...: check the network" (a FileNotFoundError from
    datasets or a missing local file), "The Hub answered HTTP 404 ...: try again later" or ended in a traceback
    (an unknown split); a Hub that cannot be reached is still "Cannot reach"."""
    with standin_hub() as standin:
        _standin(standin)
        out = subprocess.run([sys.executable, "-c", CALLS, str(tmp_path)], capture_output=True, text=True,
                             env=_env(standin, tmp_path), timeout=300)
        offline = subprocess.run([sys.executable, "-c", CALLS, str(tmp_path)], capture_output=True, text=True,
                                 env=_env(standin, tmp_path, offline="1"), timeout=300)
    lines = out.stdout.splitlines()
    assert lines[:5] == [
        "StudioError alice/qa has no revision 'v2' on the Hub (no such branch, tag or commit): check it, or leave it "
        "out for the main branch.",
        "StudioError alice/qa has no file data/test.jsonl on the Hub: check the file name.",
        "StudioError No repository alice/qa on the Hub, or it is private and the token cannot see it: check the name, or "
        "use a token with access to it.",
        "StudioError No repository alice/qa on the Hub, or it is private and the token cannot see it: check the name, or "
        "use a token with access to it.",
        "StudioError alice/qa has no split 'validation' (splits: train): choose one of those."], out.stderr[-2000:]
    assert lines[5].startswith(f"StudioError No file {tmp_path / 'gone' / 'model.safetensors'} on this machine")
    assert lines[6].startswith("NetworkError Cannot reach the Hugging Face Hub (") and len(lines) == 7
    # Switched off: every one of them is the switch, not a missing repository or file.
    assert offline.stdout.splitlines() == ["NetworkError The Hub is switched off here (HF_HUB_OFFLINE=1): unset it to "
                                           "push, or export a file instead."] * 7


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=180)


def test_importing_a_missing_hub_dataset_or_split_names_it_and_offline_says_cannot_reach(tmp_path):
    with standin_hub() as standin:
        _standin(standin)
        env = _env(standin, tmp_path)
        out = tmp_path / "qa.json"
        gone = cli("dataset", "import", "hub:alice/gone", "--out", str(out), env=env)
        assert gone.returncode == 2 and gone.stderr == (
            "error: No repository alice/gone on the Hub, or it is private and the token cannot see it: check the name, "
            "or use a token with access to it.\n")
        split = cli("dataset", "import", "hub:alice/qa@validation", "--out", str(out), env=env)
        # the one line alone: no progress bars from datasets ("Generating train split", "Downloading") before it
        assert split.returncode == 2 and split.stderr == (
            "error: alice/qa has no split 'validation' (splits: train): choose one of those.\n")
        assert not out.exists()
        offline = cli("dataset", "import", "hub:alice/gone", "--out", str(out), env={**env, "HF_HUB_OFFLINE": "1",
                                                                                      "HF_DATASETS_OFFLINE": "1"})
        assert offline.returncode == 2 and offline.stderr.startswith("error: Cannot reach the Hub for alice/gone")
        # what happened and what to do, in words: not the Python class ("(ConnectionError)")
        assert "Error" not in offline.stderr and "check the connection" in offline.stderr, offline.stderr
        done = cli("dataset", "import", "hub:alice/qa", "--out", str(out), env=env)
        assert done.returncode == 0 and done.stderr == "", done.stderr  # the result line on stdout, nothing else
        assert json.loads(out.read_text()) == ROWS
    # Now in the local cache, with the Hub refusing the connection: read from the cache at once, saying so in one
    # line (load_dataset waited through huggingface_hub's five retries, 25-35 s, before falling back to it silently).
    again = tmp_path / "again.json"
    cached = cli("dataset", "import", "hub:alice/qa", "--out", str(again), env={**env, "HF_ENDPOINT": _refusing()})
    assert cached.returncode == 0 and cached.stderr == (
        "note: Read alice/qa from the local cache: the Hub cannot be reached (it refused the connection), so this is the "
        "copy last downloaded here, which may be older than the Hub's.\n"), cached.stderr
    assert json.loads(again.read_text()) == ROWS
    # Its prepared copy deleted, its downloaded files still there: read from those at once too (load_dataset went
    # through the same retries first).
    import shutil

    shutil.rmtree(tmp_path / "hf" / "datasets" / "alice___qa")
    files_only = cli("dataset", "import", "hub:alice/qa", "--out", str(again), "--force", env={**env, "HF_ENDPOINT": _refusing()})
    assert files_only.returncode == 0 and files_only.stderr == cached.stderr, files_only.stderr
    assert json.loads(again.read_text()) == ROWS


def _refusing() -> str:
    """The URL of a loopback port nothing listens at: a Hub that refuses every connection."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_hub_copy_whose_download_stopped_midway_is_not_read_as_the_dataset_and_an_import_finishes_it(tmp_path):
    """A download that stopped after the first of a split's two files (faked by downloading that file alone, as
    ``datasets`` fetches them one by one) left a copy in the Hugging Face cache that, with the Hub refusing the
    connection, was imported as the dataset: 1 record of 2, said to be "the copy last downloaded". It is refused in one
    line; the next import with the Hub there finishes the download, and that copy is then read offline whole."""
    shards = [[{"question": "How many players?", "answer": "Eleven."}],
              [{"question": "How long is a half?", "answer": "45 minutes."}]]
    with standin_hub() as standin:
        repo = HubRepo("dataset", "alice/qa", False)
        for n, rows in enumerate(shards):
            repo.files[f"data/train-0000{n}-of-00002.jsonl"] = "".join(json.dumps(r) + "\n" for r in rows).encode()
        repo.branches = {"main"}
        standin.repos[("dataset", "alice/qa")] = repo
        env = _env(standin, tmp_path)
        stopped = subprocess.run([sys.executable, "-c", "from huggingface_hub import hf_hub_download; hf_hub_download("
                                  "'alice/qa', 'data/train-00000-of-00002.jsonl', repo_type='dataset')"],
                                 env=env, capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        out = tmp_path / "qa.json"
        offline = {**env, "HF_ENDPOINT": _refusing()}
        part = cli("dataset", "import", "hub:alice/qa", "--out", str(out), env=offline)
        assert part.returncode == 2 and part.stderr == (
            "error: Cannot reach the Hub for alice/qa (it refused the connection) and its copy in the local cache is "
            "incomplete (a download that stopped midway): check the connection and import it again, which finishes "
            "the download.\n"), part.stderr
        assert not out.exists()
        done = cli("dataset", "import", "hub:alice/qa", "--out", str(out), env=env)
        assert done.returncode == 0 and json.loads(out.read_text()) == shards[0] + shards[1], done.stderr
        listed = subprocess.run([sys.executable, "-c", "from huggingface_hub import snapshot_download; "
                                 "snapshot_download('alice/qa', repo_type='dataset')"],
                                env=env, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr
    import shutil

    shutil.rmtree(tmp_path / "hf" / "datasets" / "alice___qa")  # the downloaded files alone, whole: read offline
    # told whole by the tree listing huggingface-cli download (snapshot_download) writes, without the studio's own
    (tmp_path / "hf" / "hub" / "datasets--alice--qa" / ".studio-whole.json").unlink()
    # beside the <commit>.incomplete folder a preparation stopped midway leaves (renamed at its end): no prepared copy
    # (it was taken for one, and the import failed with "No file .../dataset_info.json")
    (tmp_path / "hf" / "datasets" / "alice___qa" / "default" / "0.0.0" / f"{repo.sha}.incomplete").mkdir(parents=True)
    whole = cli("dataset", "import", "hub:alice/qa", "--out", str(out), "--force", env=offline)
    assert whole.returncode == 0 and whole.stderr.startswith("note: Read alice/qa from the local cache"), whole.stderr
    assert json.loads(out.read_text()) == shards[0] + shards[1]
    shutil.rmtree(tmp_path / "hf" / "hub" / "datasets--alice--qa")  # the stopped preparation alone: said at once
    gone = cli("dataset", "import", "hub:alice/qa", "--out", str(out), "--force", env=offline)
    assert gone.returncode == 2 and gone.stderr == part.stderr, gone.stderr


def test_a_hub_config_never_downloaded_is_not_read_offline_from_another_config_s_copy(tmp_path):
    """Importing config ``halves`` marked the repository's downloaded files as the whole copy: offline, the config
    ``all`` (the files of every folder) was read from them, half its records, said to be "the copy last downloaded".
    The mark is per config now: the config downloaded whole is read offline, the other one refused in one line."""
    halves = [{"question": "How long is a half?", "answer": "45 minutes."}]
    players = [{"question": "How many players?", "answer": "Eleven."}]
    readme = ("---\nconfigs:\n- config_name: halves\n  data_files: data/halves/*.jsonl\n"
              "- config_name: all\n  data_files: data/*/*.jsonl\n---\n")
    with standin_hub() as standin:
        repo = HubRepo("dataset", "alice/qa", False)
        repo.files["README.md"] = readme.encode()
        repo.files["data/halves/train.jsonl"] = "".join(json.dumps(r) + "\n" for r in halves).encode()
        repo.files["data/players/train.jsonl"] = "".join(json.dumps(r) + "\n" for r in players).encode()
        repo.branches = {"main"}
        standin.repos[("dataset", "alice/qa")] = repo
        env = _env(standin, tmp_path)
        out = tmp_path / "qa.json"
        done = cli("dataset", "import", "hub:alice/qa:halves", "--out", str(out), env=env)
        assert done.returncode == 0 and json.loads(out.read_text()) == halves, done.stderr
    import shutil

    shutil.rmtree(tmp_path / "hf" / "datasets" / "alice___qa")  # the downloaded files alone: read offline
    offline = {**env, "HF_ENDPOINT": _refusing()}
    again = cli("dataset", "import", "hub:alice/qa:halves", "--out", str(out), "--force", env=offline)
    assert again.returncode == 0 and json.loads(out.read_text()) == halves, again.stderr
    other = cli("dataset", "import", "hub:alice/qa:all", "--out", str(out), "--force", env=offline)
    assert other.returncode == 2 and other.stderr == (
        "error: Cannot reach the Hub for alice/qa (it refused the connection) and its configuration all was never "
        "downloaded whole here: check the connection and import it again, which downloads it.\n"), other.stderr
    assert json.loads(out.read_text()) == halves  # left as it was


def test_a_hub_copy_marked_whole_before_configs_were_told_apart_is_read_offline_where_it_can_be_told(monkeypatch,
                                                                                                     tmp_path):
    """A whole-copy mark written before the mark named its config (the snapshot's files alone) counted for no config:
    offline, a dataset imported whole before was refused as "incomplete (a download that stopped midway)". Where the
    repository has one config, the mark is that config's and the copy is read; where it has several, the refusal says
    why and what to do."""
    import socket

    import datasets
    from huggingface_hub import constants

    from studio.data import hf_sources
    from studio.errors import NetworkError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{s.getsockname()[1]}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.chdir(tmp_path)

    def downloaded(repo: str, files: dict[str, str]) -> None:
        """``repo``'s files in the download cache, marked whole in the older format ({path: size})."""
        snapshot = tmp_path / "hub" / f"datasets--{repo.replace('/', '--')}" / "snapshots" / "abc123"
        for path, text in files.items():
            (snapshot / path).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / path).write_text(text)
        (snapshot.parents[1] / hf_sources.WHOLE_FILE).write_text(json.dumps(
            {"abc123": {path: (snapshot / path).stat().st_size for path in files}}))

    rows = "".join(json.dumps(r) + "\n" for r in ROWS)
    downloaded("alice/qa", {"data/train.jsonl": rows})  # one config, the default: the mark is its
    notes: list[str] = []
    assert hf_sources.read_hub("hub:alice/qa", notes=notes) == ROWS
    assert notes and notes[0].startswith("Read alice/qa from the local cache")
    one = "---\nconfigs:\n- config_name: halves\n  data_files: data/halves/*.jsonl\n---\n"
    downloaded("alice/one", {"README.md": one, "data/halves/train.jsonl": rows})  # one config, named in the README
    assert hf_sources.read_hub("hub:alice/one:halves") == ROWS
    two = ("---\nconfigs:\n- config_name: halves\n  data_files: data/halves/*.jsonl\n"
           "- config_name: all\n  data_files: data/*/*.jsonl\n---\n")
    downloaded("alice/two", {"README.md": two, "data/halves/train.jsonl": rows})  # which config it was: not said
    with pytest.raises(NetworkError) as refused:
        hf_sources.read_hub("hub:alice/two:halves")
    assert str(refused.value) == (
        "Cannot reach the Hub for alice/two (it refused the connection) and its copy in the local cache was downloaded "
        "by an earlier version of the studio, which did not write down which of its configurations it holds: check "
        "the connection and import it again, which writes that down.")
