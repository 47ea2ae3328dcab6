"""A LoRA adapter on the Hub, as the tests serve it: ``acme/tiny-lora`` on the tiny base ``acme/tiny``, served by the
stand-in Hub (``tests.hub_servers``) for the download tests, the Models and Train pages' tests and the browser's."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hub_servers import HubRepo, StandInHub, standin_hub

BASE_ID = "acme/tiny"
ADAPTER_ID = "acme/tiny-lora"


def tiny_adapter(base: Path, out: Path, base_id: str = BASE_ID) -> Path:
    """A LoRA adapter on the tiny model, saved by peft as a Hub repository holds one (adapter_config.json naming
    ``base_id`` and adapter_model.safetensors), its weights not zero so that it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=32, target_modules=["c_attn"],
                                                  init_lora_weights=False, task_type="CAUSAL_LM"))
    peft_model.save_pretrained(str(out))
    cfg = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": base_id}))
    return out


def put_repo(hub: StandInHub, repo_id: str, folder: Path) -> None:
    """The files of ``folder`` as the public model repository ``repo_id`` of the stand-in Hub."""
    repo = HubRepo("model", repo_id, private=False)
    repo.files.update({f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()})
    repo.commits.append("initial")
    hub.repos[("model", repo_id)] = repo


def serve_base_and_adapter(hub: StandInHub, base: Path, adapter: Path) -> None:
    """The stand-in Hub serves the tiny base as ``acme/tiny`` and ``adapter`` as ``acme/tiny-lora``."""
    put_repo(hub, BASE_ID, base)
    put_repo(hub, ADAPTER_ID, adapter)


def downloaded_base_and_adapter(base: Path, tmp_path: Path, monkeypatch) -> Path:
    """``acme/tiny`` and ``acme/tiny-lora`` downloaded from the stand-in Hub into this test's own Hugging Face cache
    (``tmp_path/hf``: this process's, and the jobs' it starts), by the studio's own download, then the Hub off as
    it is here; returns the adapter's folder as peft saved it."""
    import huggingface_hub.constants as c

    from studio.models import download
    from tests.hub_servers import point_hub_at

    adapter = tiny_adapter(base, tmp_path / "adapter")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with standin_hub() as hub:
        serve_base_and_adapter(hub, base, adapter)
        with monkeypatch.context() as online:
            point_hub_at(online, hub.url)
            online.delenv("HF_HUB_OFFLINE", raising=False)
            for repo_id in (BASE_ID, ADAPTER_ID):
                download.download(repo_id)
    return adapter
