"""The suite keeps the machine's Hugging Face cache untouched: downloads made in a test's own process and in the
processes it starts (the CLI, the studio server, background jobs) land in the session's own Hugging Face home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hf_home
from hub_servers import HubRepo, point_hub_at, standin_hub

from tests.conftest import REPO


def test_a_hub_download_in_a_tests_process_lands_in_the_sessions_cache(monkeypatch):
    from huggingface_hub import hf_hub_download

    with standin_hub() as hub:
        point_hub_at(monkeypatch, hub.url)
        repo = hub.repos[("model", "acme/cache-probe")] = HubRepo("model", "acme/cache-probe", private=False)
        repo.files["config.json"] = b'{"model_type": "llama"}'
        repo.commits.append("initial")
        path = Path(hf_hub_download("acme/cache-probe", "config.json"))
    assert json.loads(path.read_text()) == {"model_type": "llama"}
    assert path.is_relative_to(hf_home.SESSION), path
    assert not (hf_home.MACHINE_HUB / "models--acme--cache-probe").exists()


def test_every_process_a_test_starts_uses_the_sessions_hugging_face_home():
    """The caches huggingface_hub, datasets and transformers read at import, in this process and in a child."""
    probe = ("import json, huggingface_hub.constants as h, datasets.config as d, transformers.utils.hub as t; "
             "print(json.dumps([h.HF_HOME, h.HF_HUB_CACHE, h.HF_XET_CACHE, h.HF_TOKEN_PATH, str(d.HF_DATASETS_CACHE), "
             "t.HF_MODULES_CACHE]))")
    child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120,
                           env={**os.environ})
    assert child.returncode == 0, child.stderr
    import datasets.config as d
    import huggingface_hub.constants as h

    here = [h.HF_HOME, h.HF_HUB_CACHE, h.HF_XET_CACHE, h.HF_TOKEN_PATH, str(d.HF_DATASETS_CACHE)]
    for place in here + json.loads(child.stdout):
        assert Path(place).is_relative_to(hf_home.SESSION), place
        assert not Path(place).is_relative_to(hf_home.MACHINE), place
