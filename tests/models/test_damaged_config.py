"""A model folder whose config.json transformers refuses (a setting of the wrong type, sizes that are not its
weights'): `ask`, `ask-context` and an evaluation's judge said it as a traceback, or as "The evaluation failed
unexpectedly ... please report it" with every answer's scores lost; each now says which file and what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.__main__ import main

DAMAGES = {
    "a setting of the wrong type": (lambda cfg, key: {**cfg, key: "x"}, "expected int, got str"),
    "sizes that are not the weights'": (lambda cfg, key: {**cfg, key: cfg[key] * 2},
                                        "the sizes it gives are not those of its weights"),
}


def _damaged(model: Path, to: Path, damage: str, key: str) -> Path:
    shutil.copytree(model, to)
    cfg = json.loads((to / "config.json").read_text())
    (to / "config.json").write_text(json.dumps(DAMAGES[damage][0](cfg, key)))
    return to


def _one_line(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("damage", DAMAGES)
def test_asking_a_model_whose_config_is_damaged_is_one_line(damage, tiny_gpt2, tmp_path, capsys, offline):
    folder = _damaged(tiny_gpt2, tmp_path / "model", damage, "n_embd")
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert f"The config.json of {folder} is damaged" in err and DAMAGES[damage][1] in err
    assert "put the file back" in err


@pytest.mark.parametrize("damage", DAMAGES)
def test_an_evaluation_judged_by_a_model_whose_config_is_damaged_keeps_its_scores(damage, tiny_gpt2, tmp_path,
                                                                                  offline):
    """The judge's load raised past the judge's own check: the whole evaluation ended failed 'unexpectedly'."""
    from studio.evaluate import runner
    from studio.evaluate.config import EvalConfig

    judge = _damaged(tiny_gpt2, tmp_path / "judge", damage, "n_embd")
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "Ninety minutes."}]))
    result = runner.run_evaluation(EvalConfig(models=(str(tiny_gpt2),), dataset_file=str(data), max_new_tokens=3,
                                              judge=str(judge)), save=None)
    assert result.status == "finished", result.error
    assert str(tiny_gpt2) in result.rows[0].scores  # the model's answer was scored
    (note,) = [n for n in result.notes if n.startswith(f"Judge {str(judge)!r} unavailable")]
    assert f"The config.json of {judge} is damaged" in note and DAMAGES[damage][1] in note


def test_a_passage_question_to_an_extractive_model_whose_config_is_damaged_is_one_line(tmp_path, capsys, offline):
    """The Chat page's passage mode asks through the same loader: it read 'The answer from … failed unexpectedly'."""
    from qa_models import build_tiny_qa

    build_tiny_qa(tmp_path / "qa")
    folder = _damaged(tmp_path / "qa", tmp_path / "damaged-qa", "a setting of the wrong type", "hidden_size")
    err = _one_line(capsys, ["ask-context", f"qa:{folder}", "Who decides?", "--context", "The referee decides."])
    assert f"The config.json of {folder} is damaged" in err and "expected int, got str" in err


@pytest.fixture
def another_model_s_tokenizer(tiny_gpt2, tmp_path) -> Path:
    """A model folder whose tokenizer is another model's: it gives ids its embeddings (20 rows) do not hold."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    model.resize_token_embeddings(20)
    model.save_pretrained(tmp_path / "mixed")
    AutoTokenizer.from_pretrained(tiny_gpt2).save_pretrained(tmp_path / "mixed")
    return tmp_path / "mixed"


def test_a_model_whose_tokenizer_is_another_model_s_says_so_in_ask_chat_and_evaluate(another_model_s_tokenizer,
                                                                                      tmp_path, capsys, offline):
    """`ask` printed a traceback (IndexError: index out of range in self), Chat said 'Generation failed …: index out
    of range in self' and every cell of an evaluation said the same."""
    from studio import chat
    from studio.chat.base import ChatParams
    from studio.errors import StudioError
    from studio.evaluate import runner
    from studio.evaluate.config import EvalConfig

    folder = another_model_s_tokenizer
    said = "its tokenizer gives token ids up to"
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert said in err and "but its weights hold 20" in err and "put its own back" in err
    backend = chat.make_backend(chat.BackendSpec.for_model(str(folder)))
    with pytest.raises(StudioError, match=said):
        "".join(backend.stream([{"role": "user", "content": "How long is a match?"}], ChatParams(max_new_tokens=2)))
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "Ninety minutes."}]))
    result = runner.run_evaluation(EvalConfig(models=(str(folder),), dataset_file=str(data), max_new_tokens=2),
                                   save=None)
    assert said in result.rows[0].errors[str(folder)]


UNKNOWN = {  # what config.json names or lacks, and what is said of it
    "a rope type transformers does not know": ({"rope_parameters": {"rope_type": "bogus", "rope_theta": 10000.0}},
                                               "its config.json names 'bogus', which transformers"),
    "an activation transformers does not know": ({"hidden_act": "bogus"}, "its config.json names 'bogus'"),
    "a rope type without its settings": ({"rope_parameters": {"rope_type": "dynamic", "rope_theta": 10000.0}},
                                         "Missing required keys in `rope_parameters` for 'rope_type'='dynamic'"),
}


@pytest.mark.parametrize("case", UNKNOWN)
def test_a_config_naming_what_transformers_does_not_know_is_said_in_words(case, tiny_llama, tmp_path, capsys, offline):
    """A KeyError from transformers: `ask` printed a traceback, and an evaluation's cell read 'Could not load …: It
    failed unexpectedly: try again, and if it happens again, please report it.' (the real input that reaches
    runner._first_line's wordless end)."""
    from studio.evaluate import runner
    from studio.evaluate.config import EvalConfig

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama, folder)
    change, said = UNKNOWN[case]
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, **change}))
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert said in err
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "Ninety minutes."}]))
    result = runner.run_evaluation(EvalConfig(models=(str(folder),), dataset_file=str(data), max_new_tokens=2),
                                   save=None)
    cell = result.rows[0].errors[str(folder)]
    assert said in cell and "unexpectedly" not in cell


@pytest.mark.parametrize(("arch", "key", "value"), [("llama", "num_attention_heads", 0),
                                                     ("llama", "num_attention_heads", -1), ("gpt2", "n_head", 0),
                                                     ("gpt2", "n_layer", -1)])
def test_a_config_with_a_count_that_is_not_positive_names_it(arch, key, value, tiny_llama, tiny_gpt2, tmp_path, capsys,
                                                             offline):
    """`ask` printed a traceback (ZeroDivisionError: integer modulo by zero; RuntimeError: Trying to create tensor
    with negative dimension; a layer count below 0 loaded and failed in generation: ValueError: __len__() should
    return >= 0) and an evaluation's cell read 'Could not load X: integer modulo by zero'."""
    from studio.evaluate import runner
    from studio.evaluate.config import EvalConfig

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama if arch == "llama" else tiny_gpt2, folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, key: value}))
    said = f"The config.json of {folder} is damaged ({key} is {value}: each must be above 0)"
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert said in err and "put the file back" in err
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "Ninety minutes."}]))
    result = runner.run_evaluation(EvalConfig(models=(str(folder),), dataset_file=str(data), max_new_tokens=2),
                                   save=None)
    assert said in result.rows[0].errors[str(folder)]


@pytest.mark.timeout(120)  # the old load of a billion layers never ended
@pytest.mark.parametrize(("arch", "key", "value", "said"), [
    ("llama", "num_hidden_layers", 1_000_000_000, "num_hidden_layers is 1000000000 but its weights hold 2 layers"),
    ("gpt2", "n_layer", 4, "n_layer is 4 but its weights hold 2 layers"),
    ("gpt2", "n_embd", 1_000_000_000, "n_embd is 1000000000 but no tensor of its weights is that large"),
])
def test_a_config_asking_for_more_than_its_weights_hold_is_refused_before_it_is_built(arch, key, value, said, tiny_llama,
                                                                                    tiny_gpt2, tmp_path, capsys,
                                                                                    offline):
    """`"num_hidden_layers": 1000000000` in a 2-layer model's folder had `ask` build a billion layers (it never ended);
    `"n_layer": 4` loaded two layers of random weights without a word and answered garbage."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama if arch == "llama" else tiny_gpt2, folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, key: value}))
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert f"The config.json of {folder} is damaged ({said}" in err and "put the file back" in err


def test_a_sound_model_s_sizes_are_what_its_weights_hold(tiny_llama, tiny_gpt2, tmp_path, capsys, offline):
    """The check refuses nothing a saved model (one file, or shards and their index) truly is."""
    from transformers import AutoModelForCausalLM

    from studio.models import config_sizes

    AutoModelForCausalLM.from_pretrained(tiny_llama).save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    for folder in (tiny_llama, tiny_gpt2, tmp_path / "sharded"):
        assert config_sizes.tensor_shapes(folder), folder
        assert config_sizes.check(folder) is None, folder
    capsys.readouterr()
    assert main(["ask", str(tiny_gpt2), "How long is a match?", "--max-new-tokens", "2"]) == 0


def test_a_head_count_that_does_not_divide_the_width_is_the_studio_s_line(tiny_gpt2, tmp_path, capsys, offline):
    """`ask` said transformers' own words: "Could not load …: `embed_dim` must be divisible by num_heads (got
    `embed_dim`: 32 and `num_heads`: 3)."; now which settings, and what to do."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_gpt2, folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "n_head": 3}))
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert f"The config.json of {folder} is damaged (n_embd is 32, which n_head (3) does not divide" in err
    assert "put the file back" in err


def _downloaded(model: Path, tmp_path: Path, monkeypatch, change: dict) -> None:
    """``model`` as the Hub id acme/tiny's copy in the local cache, its config.json changed by ``change``."""
    import huggingface_hub.constants as hub_constants

    from studio.models import hub_cache

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    # read by huggingface_hub once, at import: HF_HUB_OFFLINE set by ``offline`` later does not reach its requests
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    repo = tmp_path / "hf" / "hub" / "models--acme--tiny"
    snap = shutil.copytree(model, repo / "snapshots" / ("a" * 40))
    cfg = json.loads((snap / "config.json").read_text())
    (snap / "config.json").write_text(json.dumps({**cfg, **change}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / hub_cache.VERIFIED).write_text(json.dumps(
        {"commit": "a" * 40, "files": {f.name: f.stat().st_size for f in snap.iterdir()}}))


def test_a_downloaded_model_asking_for_more_than_its_weights_hold_is_refused_too(tiny_gpt2, tmp_path, capsys, offline,
                                                                                 monkeypatch):
    """A Hub id's copy in the local cache is the same files: its config.json is checked there before it is built."""
    _downloaded(tiny_gpt2, tmp_path, monkeypatch, {"n_layer": 4})
    err = _one_line(capsys, ["ask", "acme/tiny", "How long is a match?", "--max-new-tokens", "2"])
    assert "The config.json of acme/tiny is damaged (n_layer is 4 but its weights hold 2 layers)" in err


@pytest.mark.parametrize(("model", "change", "said"), [
    ("tiny_gpt2", {"n_head": 0}, "The config.json of acme/tiny is damaged (n_head is 0: each must be above 0)"),
    ("tiny_llama", {"hidden_act": "bogus"}, "acme/tiny: its config.json names 'bogus', which transformers"),
])
def test_a_downloaded_model_whose_config_is_damaged_names_the_setting_as_a_folder_does(model, change, said, request,
                                                                                       tmp_path, capsys, offline,
                                                                                       monkeypatch):
    """The words for a damaged config.json read the file where the model's name points: for a Hub id that is no
    folder, so its copy in the cache said "a size, head or layer count is not positive" without naming n_head, and an
    unknown value "No network: acme/tiny cannot be downloaded" for a model that was downloaded, whole."""
    _downloaded(request.getfixturevalue(model), tmp_path, monkeypatch, change)
    err = _one_line(capsys, ["ask", "acme/tiny", "How long is a match?", "--max-new-tokens", "2"])
    assert said in err, err


def test_a_passage_question_to_an_extractive_model_with_more_layers_than_it_holds_is_one_line(tmp_path, capsys, offline):
    """The passage loader built the model config.json describes: 4 layers for 2 held loaded two of random weights
    without a word (and a billion never ended)."""
    from qa_models import build_tiny_qa

    build_tiny_qa(tmp_path / "qa")
    cfg = json.loads((tmp_path / "qa" / "config.json").read_text())
    (tmp_path / "qa" / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 4}))
    err = _one_line(capsys, ["ask-context", f"qa:{tmp_path / 'qa'}", "Who decides?", "--context", "The referee decides."])
    assert f"The config.json of {tmp_path / 'qa'} is damaged (num_hidden_layers is 4 but its weights hold 2 layers)" in err


def test_a_model_whose_layers_share_weights_is_not_taken_for_a_damaged_one(tmp_path):
    """ALBERT (an extractive model passage mode loads) runs its 4 layers on one group's weights: the weights hold one
    numbered layer, and the check refused a sound model as asking for more than they hold."""
    from transformers import AlbertConfig, AlbertForQuestionAnswering

    from studio.models import config_sizes

    AlbertForQuestionAnswering(AlbertConfig(vocab_size=64, embedding_size=8, hidden_size=16, num_hidden_layers=4,
                                            num_attention_heads=2, intermediate_size=32)).save_pretrained(tmp_path)
    assert config_sizes.check(tmp_path) is None


def _as_bin(model: Path, to: Path, sharded: bool = False) -> Path:
    """``model`` with PyTorch ``.bin`` weights (torch's zip format, as older ``save_pretrained`` wrote) in place of
    its safetensors: one file, or two shards and their index."""
    import torch
    from safetensors.torch import load_file

    shutil.copytree(model, to)
    state = load_file(to / "model.safetensors")
    (to / "model.safetensors").unlink()
    if not sharded:
        torch.save(state, to / "pytorch_model.bin")
        return to
    names = sorted(state)
    halves = {"pytorch_model-00001-of-00002.bin": names[::2], "pytorch_model-00002-of-00002.bin": names[1::2]}
    for file, keys in halves.items():
        torch.save({k: state[k] for k in keys}, to / file)
    (to / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: file for file, keys in halves.items() for k in keys}}))
    return to


@pytest.mark.parametrize("sharded", [False, True], ids=["one file", "shards"])
def test_a_bin_model_asking_for_more_than_its_weights_hold_is_refused_before_it_is_built(sharded, tiny_gpt2, tmp_path,
                                                                                       capsys, offline):
    """The check read safetensors alone: a `pytorch_model.bin` model whose config.json said `"n_layer": 1000000000`
    was built layer by layer (it never ended), and `"n_layer": 4` answered from two layers of random weights."""
    from studio.models import config_sizes

    folder = _as_bin(tiny_gpt2, tmp_path / "model", sharded)
    assert config_sizes.check(folder) is None  # sound as saved
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "n_layer": 1_000_000_000}))
    assert config_sizes.check(folder) == "n_layer is 1000000000 but its weights hold 2 layers"
    (folder / "config.json").write_text(json.dumps({**cfg, "n_layer": 4}))
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert f"The config.json of {folder} is damaged (n_layer is 4 but its weights hold 2 layers)" in err


def test_a_config_asking_for_a_billion_layers_is_refused_where_its_weights_cannot_be_read(tiny_gpt2, tmp_path):
    """An old-format `.bin` (not a zip: its shapes cannot be read without its data) or no weights at all: a count no
    model has had is refused all the same, before anything is built; a real count is left to the load."""
    import torch
    from safetensors.torch import load_file

    from studio.models import config_sizes

    folder = shutil.copytree(tiny_gpt2, tmp_path / "model")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    (folder / "model.safetensors").unlink()
    cfg = json.loads((folder / "config.json").read_text())
    assert config_sizes.check(folder) is None
    (folder / "config.json").write_text(json.dumps({**cfg, "n_layer": 1_000_000_000}))
    assert config_sizes.check(folder) == "n_layer is 1000000000, more than any model has (10,000 at most)"
    (folder / "config.json").write_text(json.dumps({**cfg, "n_layer": 4, "vocab_size": 10**9}))
    assert config_sizes.check(folder) == "vocab_size is 1000000000, larger than any model's (10,000,000 at most)"


def test_an_index_naming_a_file_outside_the_model_s_folder_is_not_read(tiny_gpt2, tmp_path):
    """`model.safetensors.index.json` naming `../other/model.safetensors` had the check read another folder's
    weights (any file the index names, on the server's disk) and judge the config by them."""
    from studio.models import config_sizes

    folder = shutil.copytree(tiny_gpt2, tmp_path / "model")
    shutil.copytree(tiny_gpt2, tmp_path / "other")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"transformer.wte.weight": "../other/model.safetensors"}}))
    assert config_sizes.tensor_shapes(folder) is None
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"transformer.wte.weight": "model-00001-of-00001.safetensors"}}))
    shutil.copy(tmp_path / "other" / "model.safetensors", folder / "model-00001-of-00001.safetensors")
    assert config_sizes.tensor_shapes(folder)  # a shard of its own is read


def test_a_layer_count_below_zero_under_n_layers_is_named_too(tiny_gpt2, tmp_path, capsys, offline):
    """DBRX counts its layers in ``n_layers``: "n_layers": -1 loaded and `ask` failed in generation with a traceback
    (ValueError: __len__() should return >= 0); the check below 0 read the other three names only."""
    from transformers import DbrxConfig, DbrxForCausalLM

    folder = tmp_path / "dbrx"
    vocab = json.loads((tiny_gpt2 / "config.json").read_text())["vocab_size"]
    cfg = DbrxConfig(d_model=32, n_heads=2, n_layers=2, vocab_size=vocab, max_seq_len=64,
                     attn_config={"kv_n_heads": 2, "rope_theta": 10000.0},
                     ffn_config={"ffn_hidden_size": 32, "moe_num_experts": 2, "moe_top_k": 1})
    DbrxForCausalLM(cfg).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_gpt2 / name, folder)
    (folder / "config.json").write_text(json.dumps({**json.loads((folder / "config.json").read_text()), "n_layers": -1}))
    err = _one_line(capsys, ["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])
    assert f"The config.json of {folder} is damaged (n_layers is -1: each must be above 0)" in err


@pytest.mark.parametrize("weights", ["safetensors shard", "bin"])
def test_a_pipe_named_as_a_weights_file_is_refused_not_waited_on(weights, tiny_gpt2, tmp_path, capsys, offline):
    """An index naming a pipe as its shard (or a pipe called pytorch_model.bin): the size check opened it and waited
    for a writer for ever, and `ask` never answered; now it is one line naming the file."""
    import contextlib
    import os
    import threading

    folder = shutil.copytree(tiny_gpt2, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    pipe = folder / ("pytorch_model.bin" if weights == "bin" else "model-00001-of-00001.safetensors")
    if weights != "bin":
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"weight_map": {"transformer.wte.weight": pipe.name}}))
    os.mkfifo(pipe)
    said: list[int] = []
    asking = threading.Thread(target=lambda: said.append(
        main(["ask", str(folder), "How long is a match?", "--max-new-tokens", "2"])), daemon=True)
    asking.start()
    asking.join(120)
    if asking.is_alive():  # let the waiting open end (an empty read) before failing
        with contextlib.suppress(OSError):
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        asking.join(30)
    assert said == [2]
    assert f"({pipe.name} is not a regular file but a pipe, a device or a socket)" in capsys.readouterr().err
