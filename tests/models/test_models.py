
import pytest

from studio import config
from studio.errors import ModelLoadError
from studio.models import loading as models
from studio.models import prompt_format


def test_resolve_local_folder_run_and_hub(tiny_gpt2):
    assert models.resolve(str(tiny_gpt2)).kind == "path"
    run = config.runs_dir() / "r1"
    (run / "model").mkdir(parents=True)
    for f in tiny_gpt2.iterdir():
        (run / "model" / f.name).write_bytes(f.read_bytes())
    ref = models.resolve("run:r1")
    assert ref.kind == "run" and ref.source.endswith("model") and ref.run_id == "r1"
    assert models.resolve("r1").kind == "run"
    assert models.resolve("distilgpt2").kind == "hub"


@pytest.mark.parametrize("spec,match", [("", "No model chosen"), ("run:nope", "No training run"),
                                        ("/no/such/dir", "No such folder")])
def test_resolve_errors_say_what_to_do(spec, match):
    with pytest.raises(ModelLoadError, match=match):
        models.resolve(spec)


@pytest.mark.parametrize("spec", ["runs/faq", "./faq", "../faq", "a/b/faq", "~/faq-nowhere"])
def test_a_missing_folder_is_named_not_looked_up_on_the_hub(spec, tmp_path, monkeypatch, offline):
    """`ask runs/faq` where no runs/ is at hand said "No network ... cannot be downloaded from the Hugging Face Hub":
    a name no Hub id has is a folder, and the line says it is not there."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match=f"No such folder: {spec}"):
        models.resolve(spec)


def test_folder_without_model_is_explained(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ModelLoadError, match="holds no model"):
        models.resolve(str(tmp_path / "x"))


def test_load_tiny_model_cpu_and_quantization_note(tiny_gpt2, offline):
    """On a CPU, 4-bit is refused with a note; asked for the CPU explicitly so a GPU machine tests it too."""
    lm = models.load_causal_lm(str(tiny_gpt2), quantization="4bit", device="cpu")
    assert lm.device == "cpu" and lm.quantization is None
    assert any("CUDA" in n for n in lm.notes)
    assert not lm.has_chat_template and lm.tokenizer.pad_token is not None


def test_hub_model_without_network_fails_fast_with_remedy(offline):
    """The loader serves Chat, Evaluate and the CLI too: its remedy names what loads anywhere, not scratch."""
    with pytest.raises(ModelLoadError) as caught:
        models.load_causal_lm("distilgpt2")
    said = str(caught.value)
    assert said.startswith("No network: choose a model from the library, the bundled SmolLM2-135M-Instruct or a "
                           "local model folder ('distilgpt2' cannot be downloaded")
    assert "scratch" not in said


def test_cli_ask_offline_names_what_loads_without_a_network(offline, capsys):
    from studio.__main__ import main

    assert main(["ask", "distilgpt2", "How long is a match?"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No network: choose a model from the library") and "scratch" not in err


def test_chat_template_model(tiny_phi3, offline):
    lm = models.load_causal_lm(str(tiny_phi3))
    assert lm.has_chat_template
    text = lm.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|user|>\nhi<|end|>\n<|assistant|>\n"


def test_prompt_format_round_trip():
    p = prompt_format.prompt("  How long? ")
    assert p == "Question: How long?\nAnswer:"
    assert prompt_format.cut_at_stop(" 90 minutes.\nQuestion: next") == "90 minutes."
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"}]
    assert prompt_format.prompt_from_messages(msgs) == prompt_format.prompt("c")
