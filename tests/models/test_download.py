"""Hub downloads against a loopback stand-in for the Hub (``HF_ENDPOINT``): only complete, verified
downloads are listed; a cut body, a short body, a server error and a corrupt file each end in one line
that says which; Stop and Ctrl-C end the transfer itself within a second or two."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio import jobs
from tests.conftest import REPO
from tests.hub_adapters import serve_base_and_adapter, tiny_adapter
from tests.hub_servers import HubRepo, standin_hub

REPO_ID = "acme/tiny"


def put_model(hub, folder: Path, pad_to: int = 0) -> dict[str, bytes]:
    """The tiny model's files as a Hub repository; ``pad_to`` grows the weights (in bytes of metadata)
    so a trickled transfer lasts long enough to stop."""
    repo = HubRepo("model", REPO_ID, private=False)
    for f in folder.iterdir():
        repo.files[f.name] = f.read_bytes()
    if pad_to:
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(folder / "model.safetensors"))
        tmp = folder.parent / "padded.safetensors"
        save_file(tensors, str(tmp), metadata={"format": "pt", "pad": "x" * pad_to})
        repo.files["model.safetensors"] = tmp.read_bytes()
    repo.commits.append("initial")
    hub.repos[("model", REPO_ID)] = repo
    return repo.files


def env_for(hub, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_XET": "1",
           "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_OFFLINE", None)
    return env


def studio(env, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)


def one_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.replace("\r", "\n").splitlines() if ln.strip().startswith("error")]
    assert len(lines) == 1, out.stderr
    return lines[0]


def listed(env) -> str:
    out = studio({**env, "HF_HUB_OFFLINE": "1"}, "model", "list")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_download_is_verified_listed_and_loads_offline(tiny_gpt2, tmp_path):
    with standin_hub() as hub:
        put_model(hub, tiny_gpt2)
        env = env_for(hub, tmp_path)
        out = studio(env, "model", "download", REPO_ID)
        assert out.returncode == 0, out.stderr
    assert REPO_ID in listed(env)
    code = ("from studio.models import loading; lm = loading.load_causal_lm('acme/tiny'); "
            "print(type(lm.model).__name__)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={**env, "HF_HUB_OFFLINE": "1"})
    assert loaded.returncode == 0 and "GPT2LMHeadModel" in loaded.stdout, loaded.stderr


@pytest.mark.parametrize("fault, says", [
    ("cut", "connection was cut while downloading model.safetensors"),
    ("short", "the transfer ended early"),
    ("500", "answered 500 (a server error) for model.safetensors"),
    ("zeros", "sha256 does not match the Hub's"),
])
def test_a_broken_transfer_is_one_line_that_says_what_failed_and_is_not_listed(tiny_gpt2, tmp_path, fault, says):
    with standin_hub() as hub:
        put_model(hub, tiny_gpt2)
        hub.faults["model.safetensors"] = fault
        env = env_for(hub, tmp_path)
        line = one_line(studio(env, "model", "download", REPO_ID))
        assert says in line and "check the network" not in line, line
        assert REPO_ID not in listed(env)
        ask = studio({**env, "HF_HUB_OFFLINE": "1"}, "ask", REPO_ID, "hello")
        assert ask.returncode == 2 and "Traceback" not in ask.stderr, ask.stderr
        hub.faults.clear()
        again = studio(env, "model", "download", REPO_ID)  # the next download completes (resuming what was whole)
        assert again.returncode == 0, again.stderr
    assert REPO_ID in listed(env)


def test_a_cut_download_resumes_instead_of_starting_over(tiny_gpt2, tmp_path):
    with standin_hub() as hub:
        files = put_model(hub, tiny_gpt2)
        hub.faults["model.safetensors"] = "cut"
        env = env_for(hub, tmp_path)
        one_line(studio(env, "model", "download", REPO_ID))
        first = hub.sent
        hub.faults.clear()
        assert studio(env, "model", "download", REPO_ID).returncode == 0
        weights = len(files["model.safetensors"])
        assert hub.sent - first < sum(len(b) for b in files.values()) - weights // 3  # the cut half came once


def _wait_for_bytes(hub, n: int, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while hub.sent < n and time.monotonic() < end:
        time.sleep(0.05)
    assert hub.sent >= n, f"only {hub.sent} bytes sent"


def _settled(hub, seconds: float = 1.5) -> int:
    """Bytes the server still sent ``seconds`` after the client should have stopped reading."""
    before = hub.sent
    time.sleep(seconds)
    return hub.sent - before


def test_stop_ends_the_transfer_itself_within_two_seconds(tiny_gpt2, tmp_path, monkeypatch):
    from studio.models import download

    with standin_hub() as hub:
        files = put_model(hub, tiny_gpt2, pad_to=2_000_000)  # 2 MB at ~20 KB/s: over a minute
        hub.faults["model.safetensors"] = "trickle"
        for k, v in env_for(hub, tmp_path).items():
            monkeypatch.setenv(k, v)
        workdir = download.start_download(REPO_ID)
        _wait_for_bytes(hub, 40_000)
        asked = time.monotonic()
        jobs.request_stop(workdir)
        pid = jobs.read_status(workdir).pid
        while (jobs.read_status(workdir).state != "stopped" or jobs.alive(pid)) and time.monotonic() - asked < 10:
            time.sleep(0.05)
        status = jobs.read_status(workdir)
        assert status.state == "stopped" and status.error == "", status
        assert not jobs.alive(pid) and time.monotonic() - asked < 2.5  # the worker is gone, not transferring on
        time.sleep(0.5)  # the server notices the closed connection at its next write
        assert _settled(hub) == 0
        assert hub.sent < len(files["model.safetensors"]) // 2
    assert REPO_ID not in listed(env_for(hub, tmp_path))


def test_ctrl_c_exits_130_at_once_and_the_transfer_stops(tiny_gpt2, tmp_path):
    with standin_hub() as hub:
        put_model(hub, tiny_gpt2, pad_to=2_000_000)
        hub.faults["model.safetensors"] = "trickle"
        env = env_for(hub, tmp_path)
        proc = subprocess.Popen([sys.executable, "-m", "studio", "model", "download", REPO_ID], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_bytes(hub, 40_000)
            asked = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
            took = time.monotonic() - asked
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130 and took < 2.0, (proc.returncode, took, proc.stderr.read())
        time.sleep(0.5)
        assert _settled(hub) == 0
        assert "Traceback" not in proc.stderr.read()
        partial = list((tmp_path / "hf" / "hub").rglob("*.incomplete"))
        assert partial and partial[0].stat().st_size > 0  # kept, for the next download to resume


def test_a_repository_half_downloaded_by_another_tool_is_not_listed(tiny_gpt2, tmp_path, monkeypatch):
    """No studio record: the snapshot itself must be whole (a cut or zero-filled safetensors file is not)."""
    from studio.models import library

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    snap = tmp_path / "hf" / "hub" / "models--acme--tiny" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("a" * 40)
    (snap.parent.parent / "blobs").mkdir()
    for f in tiny_gpt2.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    assert [e.spec for e in library.hub_cache_models()] == [REPO_ID]
    weights = snap / "model.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(b"\0" * size)
    assert library.hub_cache_models() == []
    weights.write_bytes((tiny_gpt2 / "model.safetensors").read_bytes()[: size // 2])
    assert library.hub_cache_models() == []
    assert json.loads((snap / "config.json").read_text())  # the rest is untouched


CHECKPOINT = {"config.json": b'{"model_type": "gpt2"}', "tokenizer.json": b"{}", "optimizer.pt": b"\x80" * 64,
              "scheduler.pt": b"\x80" * 64, "rng_state.pth": b"\x80" * 64, "training_args.bin": b"\x80" * 64,
              "trainer_state.json": b"{}"}


@pytest.mark.parametrize("files, says", [
    ({"README.md": b"# a model card, no model"}, "has no model weights"),
    ({"config.json": b'{"model_type": "gpt2"}', "tokenizer.json": b"{}", "README.md": b"#"}, "has no model weights"),
    (CHECKPOINT, "has no model weights"),  # a trainer's checkpoint pushed without the model: .pt and .bin, no weights
    ({"config.json": b'{"model_type": "gpt2"}', "onnx/model.safetensors": b"\0" * 64}, "has no model weights"),
    ({"README.md": b"#", "tiny.Q4_0.gguf": b"GGUF" + b"\0" * 60}, "has its weights as GGUF files only (tiny.Q4_0.gguf)"),
    ({"adapter_config.json": b'{"base_model_name_or_path": "acme/base"}', "adapter_model.safetensors": b"\0" * 64},
     "is a LoRA adapter on acme/base, which is not in the library: add acme/base first"),
    ({"adapter_config.json": b"{}", "adapter_model.safetensors": b"\0" * 64}, "names no base model"),
    ({"model.safetensors": b"\0" * 64}, "has no config.json"),
])
def test_a_repository_with_no_model_to_load_is_refused_before_anything_is_fetched(tmp_path, monkeypatch, files,
                                                                                    says):
    """A repository transformers cannot load a model from (a README alone, a config and a tokenizer, a trainer's
    checkpoint files, weights only in a subfolder) was downloaded, then listed as unusable with advice to "download it
    again", which fetched the same nothing; a GGUF-only one was refused as such, and so was one holding a README alone
    ("is it a GGUF-only repository?"). Its files are listed first and it is refused in one line that says what it
    lacks and what to pick instead; nothing is fetched or listed."""
    import huggingface_hub.constants as c

    from studio.errors import ModelLoadError
    from studio.models import download, library
    from tests.hub_servers import point_hub_at

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with standin_hub() as hub:
        repo = HubRepo("model", REPO_ID, private=False)
        repo.files.update(files)
        repo.commits.append("initial")
        hub.repos[("model", REPO_ID)] = repo
        point_hub_at(monkeypatch, hub.url)
        with pytest.raises(ModelLoadError) as err:
            download.download(REPO_ID)
        # no file's body was asked for, but an adapter's config (to know its base)
        assert hub.sent == len(files.get("adapter_config.json", b""))
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{REPO_ID} ") and says in line, line
    assert "download it again" not in line and "GGUF-only" not in line
    assert not (tmp_path / "hf" / "hub" / "models--acme--tiny" / "snapshots").exists()
    assert library.hub_cache_models() == []


def test_the_cli_refuses_a_checkpoint_repository_in_one_line_and_lists_nothing(tmp_path):
    with standin_hub() as hub:
        repo = HubRepo("model", REPO_ID, private=False)
        repo.files.update(CHECKPOINT)
        repo.commits.append("initial")
        hub.repos[("model", REPO_ID)] = repo
        env = env_for(hub, tmp_path)
        line = one_line(studio(env, "model", "download", REPO_ID))
        assert hub.sent == 0
    assert line == ("error: acme/tiny has no model weights (no model*.safetensors or pytorch_model*.bin at its top "
                    "level, no .gguf file; its files: config.json, optimizer.pt, rng_state.pth, scheduler.pt and 3 "
                    "more): pick a repository that has them."), line
    assert REPO_ID not in listed(env)


def test_the_models_page_refuses_a_repository_with_no_weights_and_lists_a_good_download(tiny_gpt2, tmp_path,
                                                                                         monkeypatch):
    """On the page: a checkpoint-only repository is one line under Download (no "download it again" later) and nothing
    is listed; a repository with a model downloads, is said in a sentence ("downloaded acme/tiny" was the job's log
    line), and is the model selected under the table. The refusal comes at the click: it came from the download's
    job, 5-7 s later, after a progress bar had started."""
    import huggingface_hub.constants as c
    from streamlit.testing.v1 import AppTest

    from studio.models import download as download_mod
    from tests.hub_servers import point_hub_at

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with standin_hub() as hub:
        put_model(hub, tiny_gpt2)
        bad = HubRepo("model", "acme/checkpoint", private=False)
        bad.files.update(CHECKPOINT)
        bad.commits.append("initial")
        hub.repos[("model", "acme/checkpoint")] = bad
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # for the download's own process
        point_hub_at(monkeypatch, hub.url)  # and for the page's look-up at the click
        at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=120).run()

        def download(repo_id: str) -> AppTest:
            at.text_input(key="models.repo").input(repo_id).run()
            at.button(key="models.download").click().run()
            if repo_id == "acme/checkpoint":  # refused at the click: no job was started
                assert not download_mod.job_dir(repo_id).exists() and not at.get("progress")
                return at
            deadline = time.monotonic() + 300
            while jobs.read_status(Path(at.session_state["models.download_dir"])).active:
                assert time.monotonic() < deadline, "the download did not end"
                time.sleep(0.5)
            return at.run().run()

        download("acme/checkpoint")
        assert [e.value for e in at.error] == [  # its stars shown as stars, not as italics
            r"acme/checkpoint has no model weights (no model\*.safetensors or pytorch_model\*.bin at its top level, no "
            ".gguf file; its files: config.json, optimizer.pt, rng_state.pth, scheduler.pt and 3 more): pick a "
            "repository that has them."]
        assert not any("acme/checkpoint" in o for o in at.selectbox(key="models.selected").options)
        download(REPO_ID)
        assert hub.sent > 0
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [f"Downloaded {REPO_ID}."]
    assert at.selectbox(key="models.selected").value == REPO_ID


def test_only_the_top_level_files_transformers_reads_are_fetched(tiny_gpt2, tmp_path):
    """Files matching the patterns in subfolders (an ONNX export's onnx/model.safetensors and config.json, Meta's
    original/tokenizer.model) were fetched too, though transformers reads none of them: a second copy of the weights
    on the disk and on the wire."""
    with standin_hub() as hub:
        files = dict(put_model(hub, tiny_gpt2))
        extra = {"onnx/model.safetensors": files["model.safetensors"], "onnx/config.json": files["config.json"],
                 "original/tokenizer.model": b"\0" * 64}
        hub.repos[("model", REPO_ID)].files.update(extra)
        env = env_for(hub, tmp_path)
        out = studio(env, "model", "download", REPO_ID)
        assert out.returncode == 0, out.stderr
        fetched = [path for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path]
    assert fetched and not [p for p in fetched if "onnx/" in p or "original/" in p], fetched
    snap = next((tmp_path / "hf" / "hub" / "models--acme--tiny" / "snapshots").iterdir())
    assert sorted(p.name for p in snap.iterdir()) == sorted(files)
    assert REPO_ID in listed(env)


def test_a_stopped_download_is_said_as_a_stop_not_an_error(studio_home):
    """A Stop a person asked for showed under Download with an error icon, as if the download had failed: it is an
    info line that says the repository is not downloaded yet and that downloading again resumes it."""
    from streamlit.testing.v1 import AppTest

    from studio.models import download

    workdir = download.job_dir(REPO_ID)
    workdir.mkdir(parents=True)
    jobs.update_status(workdir, state="stopped", kind="download", message="stopped", error="")
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=120)
    at.session_state["models.download_dir"] = str(workdir)
    at.session_state["models.download_repo"] = REPO_ID
    at.run()
    assert not at.exception and not at.error and not at.warning
    assert [(i.value, i.icon) for i in at.info if REPO_ID in i.value] == [
        (f"Stopped: {REPO_ID} is not downloaded yet; what was fetched is kept. Download again to resume.",
         ":material/stop_circle:")]


def test_a_checkpoint_another_tool_put_in_the_cache_is_listed_as_not_loadable(tiny_gpt2, tmp_path, monkeypatch,
                                                                                offline):
    """A repository another tool fetched whole with config.json, a tokenizer and a trainer's training_args.bin but no
    model weights was not listed at all: nothing said why it could not be picked. It is listed now, unusable, with
    the reason; one still arriving (a blob ``.incomplete``) and a config and tokenizer alone (what AutoConfig and
    AutoTokenizer cache) are still not."""
    import shutil

    import huggingface_hub.constants as c

    from studio.errors import ModelLoadError
    from studio.models import library, loading

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    repo = tmp_path / "hf" / "hub" / "models--acme--ckpt"
    snap = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_gpt2, snap, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / "blobs").mkdir()
    assert library.hub_cache_models() == []  # a config and a tokenizer alone: no model was fetched
    (snap / "training_args.bin").write_bytes(b"\x80" * 64)
    (repo / "blobs" / "b1.incomplete").write_bytes(b"\0")
    assert library.hub_cache_models() == []  # its weights may still be arriving
    (repo / "blobs" / "b1.incomplete").unlink()

    (entry,) = library.hub_cache_models()
    assert entry.spec == "acme/ckpt" and entry.unusable
    assert entry.note == ("no weights file (model*.safetensors or pytorch_model*.bin) in its copy in the local cache, "
                          "only a trainer's training_args.bin: download it here if its repository has them, or remove "
                          "it with `hf cache rm model/acme/ckpt`")
    out = subprocess.run([sys.executable, "-m", "studio", "model", "list"], capture_output=True, text=True, cwd=REPO,
                         timeout=120, env={**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
                                           "STUDIO_HOME": str(tmp_path / "home")})
    assert out.returncode == 0 and f"acme/ckpt\t({entry.note})" in out.stdout, out.stdout + out.stderr
    for load in (lambda: loading.load_causal_lm("acme/ckpt", device="cpu"),  # Chat's, Evaluate's
                 lambda: loading.require_parts(loading.resolve("acme/ckpt"))):  # Train's memory check
        with pytest.raises(ModelLoadError) as refused:  # not asked of the Hub, not said to be missing from the cache
            load()
        assert str(refused.value) == f"acme/ckpt cannot be used: {entry.note}."


def _studio_logits(spec: str, ids, env: dict[str, str]):
    """The logits the studio's own loader gives for ``spec`` on ``ids``, in a fresh process with ``env`` (offline)."""
    import torch

    check = ("import json, torch\n"
             "from studio.models import loading\n"
             f"lm = loading.load_causal_lm({spec!r}, device='cpu')\n"
             "with torch.no_grad():\n"
             f"    print(json.dumps(lm.model(torch.tensor({ids.tolist()})).logits.tolist()))\n")
    got = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert got.returncode == 0, got.stderr
    return torch.tensor(json.loads(got.stdout.splitlines()[-1]))


def _serve_base_and_adapter(hub, base: Path, adapter: Path, tmp_path: Path, monkeypatch) -> dict[str, str]:
    """The stand-in Hub serves the tiny base and acme/tiny-lora, its adapter; this process and the CLI's
    environment (returned) read from it, with their own workspace and Hub cache."""
    import huggingface_hub.constants as c

    from tests.hub_servers import point_hub_at

    serve_base_and_adapter(hub, base, adapter)
    env = env_for(hub, tmp_path)
    env["STUDIO_HOME"] = str(tmp_path / "home")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    point_hub_at(monkeypatch, hub.url)
    return env


def test_a_lora_adapter_downloads_when_its_base_is_in_the_library_and_answers_with_it(tiny_gpt2, tmp_path,
                                                                                       monkeypatch):
    """A Hub repository holding a LoRA adapter (adapter_config.json and adapter_model.safetensors) was refused
    whatever its base. Now it is refused in one line naming the base to add first while that base is not in the
    library; with the base there it downloads, is listed, and Chat and Evaluate answer with the base and the adapter
    (its predictions are the adapter's, not the base's)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from studio.errors import ModelLoadError
    from studio.models import download

    adapter = tiny_adapter(tiny_gpt2, tmp_path / "adapter", REPO_ID)
    with standin_hub() as hub:
        env = _serve_base_and_adapter(hub, tiny_gpt2, adapter, tmp_path, monkeypatch)
        with pytest.raises(ModelLoadError, match="^acme/tiny-lora is a LoRA adapter on acme/tiny, which is not in the "):
            download.check_at_once("acme/tiny-lora")  # the Models page's refusal, at the click
        assert one_line(studio(env, "model", "download", "acme/tiny-lora")) == (
            "error: acme/tiny-lora is a LoRA adapter on acme/tiny, which is not in the library: add acme/tiny first "
            "(download it here), then download the adapter.")
        assert "acme/tiny-lora" not in listed(env)
        for repo_id in (REPO_ID, "acme/tiny-lora"):
            out = studio(env, "model", "download", repo_id)
            assert out.returncode == 0, out.stdout + out.stderr
        download.check_at_once("acme/tiny-lora")  # its base in the library now: not refused
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    assert "acme/tiny-lora" in listed(env)

    # what the adapter makes of a prompt, computed here with peft on the base's own files
    ids = torch.tensor([[5, 17, 42, 8, 3]])
    base_model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2)).eval()
    want = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_gpt2)), str(adapter)).eval()
    with torch.no_grad():
        base_logits, adapted_logits = base_model(ids).logits, want(ids).logits
    assert not torch.allclose(base_logits, adapted_logits, atol=1e-3)  # the adapter changes the answers
    assert torch.allclose(_studio_logits("acme/tiny-lora", ids, offline), adapted_logits, atol=1e-4)

    chat = studio(offline, "chat", "--local", "--model", "acme/tiny-lora", "--max-new-tokens", "4", "Hello?",
                  timeout=300)
    assert chat.returncode == 0 and "Traceback" not in chat.stderr, chat.stderr
    questions = tmp_path / "qa.jsonl"
    questions.write_text("".join(json.dumps({"question": f"What is {i}?", "answer": str(i)}) + "\n" for i in range(3)))
    report = tmp_path / "report.json"
    evaluated = studio(offline, "evaluate", "--dataset", str(questions), "--model", "acme/tiny-lora",
                       "--max-new-tokens", "4", "--out", str(report), timeout=300)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "acme/tiny-lora" in report.read_text()


def test_a_hub_lora_adapter_trains_and_exports_merged_and_its_deleted_base_is_one_line(tiny_gpt2, tmp_path,
                                                                                     monkeypatch):
    """A LoRA adapter downloaded from the Hub onto a base in the library, picked as the Train page's base or
    exported as GGUF from the Models page: a run trains on the base with the adapter, and the GGUF holds the base
    with the adapter merged. With its base deleted later, each says in one line which base to add again."""
    import shutil

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM


    adapter = tiny_adapter(tiny_gpt2, tmp_path / "adapter", REPO_ID)
    with standin_hub() as hub:
        env = _serve_base_and_adapter(hub, tiny_gpt2, adapter, tmp_path, monkeypatch)
        for repo_id in (REPO_ID, "acme/tiny-lora"):
            out = studio(env, "model", "download", repo_id)
            assert out.returncode == 0, out.stdout + out.stderr
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": f"What is {i}?", "answer": str(i)} for i in range(8)]))

    def train(method: str, out: Path) -> subprocess.CompletedProcess:
        return studio(offline, "train", "--dataset", str(data), "--base", "acme/tiny-lora", "--preset", "quick",
                      "--method", method, "--max-steps", "2", "--out", str(out), timeout=600)

    runs = tmp_path / "home" / "runs"
    run = train("lora", runs / "r1")
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stdout + run.stderr
    full = train("full", runs / "f1")  # a full run of the base with the adapter merged
    assert full.returncode == 0 and "Traceback" not in full.stderr, full.stdout + full.stderr
    assert (runs / "f1" / "model" / "model.safetensors").is_file()
    # the run's adapter is the Hub adapter trained further: it answers as the base with that adapter, once
    ids = torch.tensor([[5, 17, 42, 8, 3]])
    want_run = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_gpt2)),
                                         str(runs / "r1" / "model")).eval()
    with torch.no_grad():
        assert torch.allclose(_studio_logits("run:r1", ids, offline), want_run(ids).logits, atol=1e-4)
    gguf_out = tmp_path / "tiny-lora.gguf"
    exported = studio(offline, "model", "export", "acme/tiny-lora", "--out", str(gguf_out), "--quant", "f16",
                      timeout=600)
    assert exported.returncode == 0 and "Traceback" not in exported.stderr, exported.stdout + exported.stderr

    # the GGUF holds the adapter's weights merged into the base's, not the base's alone
    import gguf

    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_gpt2)),
                                       str(adapter)).merge_and_unload().state_dict()
    base_state = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2)).state_dict()
    tensors = {t.name: t for t in gguf.GGUFReader(str(gguf_out)).tensors}
    qkv = torch.tensor(tensors["blk.0.attn_qkv.weight"].data.astype("float32"))
    want = merged["transformer.h.0.attn.c_attn.weight"].T
    assert torch.allclose(qkv, want, atol=1e-2)
    assert not torch.allclose(qkv, base_state["transformer.h.0.attn.c_attn.weight"].T, atol=1e-2)

    # the base deleted after the adapter was added: one line naming it, nothing of the user's lost
    shutil.rmtree(tmp_path / "hf" / "hub" / f"models--{REPO_ID.replace('/', '--')}")
    for out in (train("lora", runs / "r2"),
                studio(offline, "model", "export", "acme/tiny-lora", "--out", str(tmp_path / "x.gguf"), timeout=600)):
        line = one_line(out)
        assert line.startswith("error: ") and REPO_ID in line and "add" in line.lower(), out.stdout + out.stderr
        assert "Traceback" not in out.stderr
    assert gguf_out.is_file() and (runs / "r1" / "model").is_dir() and data.is_file()


def test_a_hub_lora_adapters_row_counts_the_adapters_parameters_and_its_bases(tiny_gpt2, tmp_path, monkeypatch):
    """A LoRA adapter from the Hub showed "—" for its parameters in the library, where a LoRA run shows its base's and
    its adapter's: now the same count, read from the files (nothing loaded), and where it came from names the
    adapter's own trainable parameters."""
    from safetensors.torch import load_file

    from studio.models import library
    from tests.hub_adapters import ADAPTER_ID, downloaded_base_and_adapter

    adapter = downloaded_base_and_adapter(tiny_gpt2, tmp_path, monkeypatch)
    own = sum(t.numel() for t in load_file(str(adapter / "adapter_model.safetensors")).values())
    base = sum(t.numel() for t in load_file(str(tiny_gpt2 / "model.safetensors")).values())
    entry = {e.spec: e for e in library.list_models()}[ADAPTER_ID]
    assert entry.parameters == base + own and entry.params_text != "—"
    assert entry.origin == f"LoRA adapter on acme/tiny ({own:,} parameters trainable)"
