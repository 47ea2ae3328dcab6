"""A GGUF file's architecture named as transformers' own GGUF reader names it in the config it builds."""

from __future__ import annotations

import pytest

from studio.models import gguf


def _reader_says(folder, architecture: str, name: str | None) -> str | None:
    """The ``model_type`` transformers' ``load_gguf_checkpoint`` gives a header holding just these two keys,
    or None where it cannot build a config from a header alone (architectures it builds from the whole file)."""
    import gguf as gguf_py
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    header = str(folder / f"{architecture}-{name}.gguf")
    writer = gguf_py.GGUFWriter(header, architecture)
    if name:
        writer.add_name(name)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    try:
        return load_gguf_checkpoint(header, return_tensors=False)["config"].get("model_type")
    except Exception:  # noqa: BLE001 - not buildable from a header: nothing to compare
        return None


def _cases() -> list[tuple[str, str | None]]:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    names = [(arch, None) for arch in sorted(set(GGUF_SUPPORTED_ARCHITECTURES) | set(gguf._RENAMED))]
    return names + [("llama", "mistral"), ("llama", "Mistral 7B"), ("t5", "umt5-small"), ("t5encoder", None)]


def test_every_architecture_transformers_reads_from_gguf_is_named_as_its_reader_names_it(tmp_path, offline):
    """The studio names a GGUF's architecture without importing torch (the Models table, the Chat picker, API
    mode); where its rules and the installed transformers' reader part, the estimate and the table would show a
    model_type the imported config.json does not have (as "qwen2moe" for "qwen2_moe" once did)."""
    compared, differ = 0, []
    for architecture, name in _cases():
        said = _reader_says(tmp_path, architecture, name)
        if said is None:
            continue
        compared += 1
        if gguf.model_type(architecture, name) != said:
            differ.append((architecture, name, gguf.model_type(architecture, name), said))
    assert compared >= 20 and not differ, differ


@pytest.mark.parametrize(("architecture", "name", "model_type"), [
    ("qwen2moe", None, "qwen2_moe"), ("gemma3", "Gemma 3", "gemma3_text"), ("llama", "mistral", "mistral"),
    ("llama", "SmolLM2 135M", "llama"), ("minimax-m2", None, "minimax_m2")])
def test_the_names_that_differ(architecture, name, model_type):
    assert gguf.model_type(architecture, name) == model_type
