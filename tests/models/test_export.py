"""GGUF export without llama.cpp: every architecture the studio trains goes out and comes back in through
transformers' own GGUF loader (``gguf_file=``) and the studio's import with the same predictions; the
Modelfile's template lays a conversation out as the chat template does; bad input is one line and
leaves nothing behind. (llama.cpp itself reads the exports in test_export_llamacpp.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio import jobs
from studio.errors import StudioError
from studio.models import bundled, export, gguf, library
from studio.models.export import job as export_job
from studio.models.export import ollama
from tests import tmpfs
from tests.conftest import PHI35_TEMPLATE
from tests.models import go_template, ollama_parser

REPO = Path(__file__).resolve().parents[2]
TEXT = "Question: How long is a match?\nAnswer: Two halves of 45 minutes."


def cli(*args: str, env_home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "STUDIO_HOME": str(env_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout)


def _logits(model, tok, text: str = TEXT) -> torch.Tensor:
    ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        return model(ids).logits[0]


@pytest.mark.parametrize("arch", ["llama", "gpt2", "phi3"])
def test_each_architecture_comes_back_through_transformers_gguf_loader_with_the_same_predictions(
        arch, tiny_llama, tiny_gpt2, tiny_phi3, tmp_path, offline):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if arch not in gguf.supported()["architectures"]:  # transformers 5.17's Phi-3 tokenizer (studio.models.gguf)
        pytest.skip(f"this transformers cannot rebuild a {arch} GGUF (the studio refuses such an import)")

    folder = {"llama": tiny_llama, "gpt2": tiny_gpt2, "phi3": tiny_phi3}[arch]
    out = tmp_path / f"{arch}.F16.gguf"
    result = export.export_gguf(str(folder), out, quant="f16")
    assert result.path == out and out.is_file() and result.architecture == arch
    info = gguf.inspect(out)
    assert info.architecture == arch and info.quantization == "F16"
    original = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    back_tok = AutoTokenizer.from_pretrained(tmp_path, gguf_file=out.name)
    assert back_tok(TEXT)["input_ids"] == tok(TEXT)["input_ids"]  # the vocabulary and merges made the trip
    # transformers reads a GPT-2 file's context length into n_ctx only: its position table needs n_positions
    extra = {"n_positions": original.config.n_positions} if arch == "gpt2" else {}
    back = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=out.name, **extra).eval()
    a, b = _logits(original, tok), _logits(back, tok)
    assert torch.equal(a.argmax(-1), b.argmax(-1))
    assert (a - b).abs().max() < 0.05  # F16 rounding only
    if tok.chat_template:
        assert back_tok.chat_template == tok.chat_template


def test_the_studio_imports_its_own_export_as_a_library_model(tiny_llama, tmp_path, offline):
    out = tmp_path / "tiny.Q8_0.gguf"
    export.export_gguf(str(tiny_llama), out, quant="q8_0")
    entry = library.import_gguf(out, "tiny-back")
    assert entry.spec == "model:tiny-back" and entry.architecture == "llama" and entry.chat_template
    assert json.loads((Path(entry.path) / "model.json").read_text())["source"]["quantization"] == "Q8_0"


def test_q4_0_keeps_the_output_head_at_q8_0_and_quantizes_the_rest(tiny_gpt2, tmp_path, offline):
    import gguf as gg

    out = tmp_path / "tiny.Q4_0.gguf"
    export.export_gguf(str(tiny_gpt2), out, quant="q4_0")
    types = {t.name: t.tensor_type.name for t in gg.GGUFReader(out).tensors}
    assert types["output.weight"] == "Q8_0" and types["blk.0.attn_qkv.weight"] == "Q4_0"
    assert types["blk.0.attn_norm.weight"] == "F32" and types["position_embd.weight"] == "F32"


def test_llama_q_and_k_are_stored_in_llama_cpps_rotary_layout(tiny_llama, tmp_path, offline):
    import gguf as gg
    from safetensors.torch import load_file

    out = tmp_path / "tiny.F16.gguf"
    export.export_gguf(str(tiny_llama), out, quant="f16")
    stored = {t.name: t for t in gg.GGUFReader(out).tensors}
    weights = load_file(str(tiny_llama / "model.safetensors"))
    q = weights["model.layers.0.self_attn.q_proj.weight"].numpy()
    k = weights["model.layers.0.self_attn.k_proj.weight"].numpy()
    got_q = stored["blk.0.attn_q.weight"].data.astype("float32").reshape(q.shape)
    got_k = stored["blk.0.attn_k.weight"].data.astype("float32").reshape(k.shape)
    head = q.shape[0] // 4
    # row r of head h holds original row h*head + (r // 2) + (r % 2) * head/2: the two rotary halves interleaved
    for r in range(head):
        assert abs(got_q[r] - q[(r // 2) + (r % 2) * head // 2]).max() < 1e-3
        assert abs(got_k[head + r] - k[head + (r // 2) + (r % 2) * head // 2]).max() < 1e-3


def test_the_modelfile_template_lays_out_conversations_as_the_chat_template_does(tiny_llama, tmp_path, offline):
    from transformers import AutoTokenizer

    out = tmp_path / "chat.Q8_0.gguf"
    result = export.export_gguf(str(tiny_llama), out, quant="q8_0")
    text = result.modelfile.read_text()
    assert "FROM ./chat.Q8_0.gguf" in text and 'PARAMETER stop "<|end|>"' in text
    assert '{{ "<|user|>\\n" }}{{ .Content }}{{ "<|end|>\\n" }}' in text
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    parts = ollama.chat_parts(tok, ["<|endoftext|>", "<|end|>"], add_bos=False)
    conv = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"}]
    assert parts.render(conv) == tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    assert result.ollama_command.startswith("ollama create chat-q8_0 -f ")


def test_the_ollama_command_printed_for_a_folder_with_spaces_runs_as_pasted(tiny_gpt2, tmp_path, offline):
    """An export into "My Models/" printed ``-f /.../My Models/faq.Modelfile``: pasted, the shell passed ollama "-f
    /.../My" and a stray argument."""
    import shlex

    folder = tmp_path / "My Models"
    folder.mkdir()
    result = export.export_gguf(str(tiny_gpt2), folder / "faq.F16.gguf", quant="f16")
    argv = shlex.split(result.ollama_command)
    assert argv[:3] == ["ollama", "create", "faq-f16"] and argv[3] == "-f" and len(argv) == 5
    assert Path(argv[4]) == result.modelfile and result.modelfile.is_file()


def test_an_output_named_in_capitals_gets_the_same_modelfile_zip_and_ollama_name(tiny_gpt2, tmp_path, studio_home):
    """``--out faq.F16.GGUF`` was taken as a GGUF file but wrote ``faq.F16.GGUF.Modelfile`` beside ``faq.F16.zip``
    and printed ``ollama create faq-f16-gguf``; on the pages, a File name typed with ``.GGUF`` became ``.GGUF.gguf``."""
    from studio.models.export import job

    out = tmp_path / "out"
    out.mkdir()
    done = cli("model", "export", str(tiny_gpt2), "--out", str(out / "faq.F16.GGUF"), "--quant", "f16", "--zip",
               env_home=studio_home)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["faq.F16.GGUF", "faq.F16.Modelfile", "faq.F16.zip"]
    assert f"ollama create faq-f16 -f {out / 'faq.F16.Modelfile'}" in done.stdout
    assert "ollama create NAME -f faq.F16.Modelfile\nFROM ./faq.F16.GGUF\n" in (out / "faq.F16.Modelfile").read_text()
    assert job.check_name("faq.Q8_0.GGUF") == "faq.Q8_0"


def test_a_model_without_a_chat_template_gets_the_training_format(tiny_gpt2, tmp_path, offline):
    """Ollama does not unescape Modelfile values: ``PARAMETER stop "\\nQuestion:"`` was a backslash and an n, a stop
    that never fires; Ollama now reads back the line break itself."""
    result = export.export_gguf(str(tiny_gpt2), tmp_path / "plain.F16.gguf", quant="f16")
    read = ollama_parser.parse(result.modelfile.read_text())
    assert ("template", '{{ "Question: " }}{{ .Prompt }}{{ "\\nAnswer:" }}') in read
    assert [v for c, v in read if c == "stop"] == ["<|endoftext|>", "\nQuestion:", "\nContext:"]


def _tokenizer(tiny_llama: Path, template: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    tok.chat_template = template
    return tok


def _with_default_system(default: str) -> str:
    return ("{% if messages[0]['role'] != 'system' %}{{ '<|system|>\\n' + " + json.dumps(default)
            + " + '<|end|>\\n' }}{% endif %}" + PHI35_TEMPLATE)


def test_ollama_reads_back_the_default_system_prompt_and_template_as_written(tiny_llama):
    """Quotes, line breaks and a no-break space in the chat template come back from Ollama's parser unchanged (it
    drops unprintable characters: the no-break space in a role's prefix was lost from TEMPLATE)."""
    default = 'Answer like "this".\nCode goes in """ blocks """ here.'
    template = _with_default_system(default).replace("'<|user|>\n'", "'<|user|>\u00a0\"\"\"\n'")
    text = ollama.modelfile("my faq.Q8_0.gguf", _tokenizer(tiny_llama, template), ["<|end|>"], add_bos=False)
    read = dict(ollama_parser.parse(text))
    assert read["model"] == "./my faq.Q8_0.gguf" and read["system"] == default and read["stop"] == "<|end|>"
    constants = [json.loads(f'"{c}"') for c in re.findall(r'\{\{ "((?:[^"\\]|\\.)*)" \}\}', read["template"])]
    assert '<|user|>\u00a0"""\n' in constants


def _as_ollama_renders(template: str, tok, system_line: str | None = None) -> None:
    """The TEMPLATE Ollama reads back lays out conversations, with and without a system prompt, in both of its modes
    (messages, and system + prompt), as the model's own chat template does. ``system_line``: the Modelfile's SYSTEM,
    which Ollama passes as the system prompt of a conversation that has none."""
    def jinja(messages):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    hi, sys_ = {"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}
    for messages in ([hi], [sys_, hi], [hi, {"role": "assistant", "content": "Hello"}, hi]):
        as_ollama = [{"Role": m["role"], "Content": m["content"]} for m in messages]
        if system_line is not None and messages[0]["role"] != "system":
            as_ollama.insert(0, {"Role": "system", "Content": system_line})
        assert go_template.render(template, {"Messages": as_ollama}) == jinja(messages)
    assert go_template.render(template, {"System": system_line or "", "Prompt": "Hi"}) == jinja([hi])
    assert go_template.render(template, {"System": "Be brief.", "Prompt": "Hi"}) == jinja([sys_, hi])


@pytest.mark.parametrize("default", ["Tu es un assistant utile\u202f! R\u00e9ponds\u00a0bri\u00e8vement.",
                                     "Sign off with \U0001f469\u200d\U0001f4bb", 'Quote the source:\n"""\nsource\n"""'],
                         ids=["no-break spaces", "zwj emoji", "a line of triple quotes"])
def test_a_default_system_prompt_no_system_line_can_carry_goes_in_the_template(tiny_llama, tmp_path, offline, default):
    """A default system prompt with a (narrow) no-break space, a ZWJ emoji or a line ending in \"\"\" cannot be a
    SYSTEM line (Ollama drops the first two, and the third closes the value early): the whole export was refused.
    The TEMPLATE now writes it, escaped, when a conversation has none, and the SYSTEM line is left out."""
    tok = _tokenizer(tiny_llama, _with_default_system(default))
    text = ollama.modelfile("faq.gguf", tok, ["<|end|>"], add_bos=False)
    read = ollama_parser.parse(text)
    assert "system" not in dict(read) and [v for c, v in read if c == "stop"] == ["<|end|>"]
    _as_ollama_renders(dict(read)["template"], tok)
    model = tmp_path / "model"
    shutil.copytree(tiny_llama, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": _with_default_system(default)}))
    (model / "chat_template.jinja").unlink(missing_ok=True)
    result = export.export_gguf(str(model), tmp_path / "faq.Q8_0.gguf")
    assert dict(ollama_parser.parse(result.modelfile.read_text()))["template"] == dict(read)["template"]
    # the default as the template writes it (this test's template spells an emoji as two surrogate escapes)
    assert result.default_system.startswith(default[:12])
    assert repr(result.default_system) in ollama.system_summary(result.default_system)


def test_a_default_system_prompt_a_system_line_carries_stays_a_system_line_said_to_be_the_models_own(tiny_llama):
    """The SYSTEM line stood bare: a person who chatted with the model in the studio (Chat's own default, "You are a
    helpful assistant...") read someone else's system prompt there. A comment above it now says whose it is."""
    default = 'Answer like "this".'
    tok = _tokenizer(tiny_llama, _with_default_system(default))
    text = ollama.modelfile("faq.gguf", tok, ["<|end|>"], add_bos=False)
    lines = text.splitlines()
    above = lines[lines.index(f'SYSTEM "{default}"') - 1]
    assert above.startswith("# SYSTEM: the default system prompt of the model's own chat template")
    assert "delete the line to send none" in above
    read = dict(ollama_parser.parse(text))
    assert read["system"] == default and "Answer like" not in read["template"]
    _as_ollama_renders(read["template"], tok, system_line=read["system"])


def test_a_stop_that_is_one_quote_is_read_back_and_one_ollama_cannot_read_is_refused_in_one_line():
    """A stop that is one quote was written as three quotes, which open a multi-line value: Ollama read the next
    lines into it, or refused the file."""
    read = ollama_parser.parse(ollama.modelfile("faq.gguf", object(), ['"', '""', 'say "'], add_bos=False))
    assert [v for c, v in read if c == "stop"] == ['"', '""', 'say "', "\nQuestion:", "\nContext:"]
    with pytest.raises(StudioError) as err:
        ollama.modelfile("faq.gguf", object(), ["<|end\u200d|>"], add_bos=False)
    assert "\n" not in str(err.value) and "stop token" in str(err.value)


def test_the_modelfile_comment_command_runs_as_pasted_and_a_name_with_a_line_break_is_refused(tiny_gpt2, tmp_path,
                                                                                               studio_home):
    import shlex

    text = ollama.modelfile("my faq.F16.gguf", object(), [], add_bos=False)
    argv = shlex.split(text.splitlines()[0].split("with: ", 1)[1])
    assert argv == ["ollama", "create", "NAME", "-f", "my faq.F16.Modelfile"]
    done = cli("model", "export", str(tiny_gpt2), "--out", str(tmp_path / "a\nb.F16.gguf"), env_home=studio_home)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.strip().count("\n") == 0
    assert "line break" in done.stderr and list(tmp_path.glob("*.gguf")) == []


# --- bad input ----------------------------------------------------------------------------------------

def test_an_unsupported_architecture_is_refused_in_one_line_naming_the_supported_ones(tmp_path, offline):
    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path / "bert"
    BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)).save_pretrained(folder)
    with pytest.raises(StudioError) as err:
        export.export_gguf(str(folder), tmp_path / "bert.gguf")
    assert "'bert'" in str(err.value) and "llama" in str(err.value) and "gpt2" in str(err.value)
    assert "phi3" in str(err.value) and "\n" not in str(err.value)
    assert not list(tmp_path.glob("*.gguf*")) and not list(tmp_path.glob(".*partial"))


def test_an_existing_output_is_refused_without_force_and_replaced_with_it(tiny_gpt2, tmp_path, offline):
    out = tmp_path / "x.gguf"
    out.write_text("keep me")
    with pytest.raises(StudioError, match="already exists: pass --force"):
        export.export_gguf(str(tiny_gpt2), out)
    assert out.read_text() == "keep me"
    export.export_gguf(str(tiny_gpt2), out, force=True)
    assert gguf.inspect(out).architecture == "gpt2"


def test_export_names_with_path_characters_are_refused():
    for bad in ("../evil", "a/b", "..", "", "x" * 90):
        with pytest.raises(StudioError, match="cannot name an export"):
            export_job.check_name(bad)
    assert export_job.check_name("my-model.Q8_0.gguf") == "my-model.Q8_0"


def test_the_cli_exports_with_progress_and_refuses_bad_input_in_one_line(tiny_gpt2, tmp_path, studio_home):
    out = tmp_path / "cli.Q8_0.gguf"
    done = cli("model", "export", str(tiny_gpt2), "--out", str(out), env_home=studio_home)
    assert done.returncode == 0, done.stderr
    assert "about" in done.stderr and "free" in done.stderr  # the size and the free disk, before writing
    assert "tensor " in done.stderr and "ollama create cli-q8_0 -f" in done.stdout
    # which system prompt the Ollama model gets, said where the command is (a GPT-2 without a chat template: none,
    # and not for want of a default in a chat template it does not have)
    assert "Ollama system prompt: none (the model has no chat template" in done.stdout
    assert (tmp_path / "cli.Q8_0.Modelfile").is_file()
    again = cli("model", "export", str(tiny_gpt2), "--out", str(out), env_home=studio_home)
    assert again.returncode == 2 and again.stderr.strip().count("\n") == 0
    assert again.stderr.startswith("error: ") and "--force" in again.stderr
    gone = cli("model", "export", "run:nope", "--out", str(tmp_path / "n.gguf"), env_home=studio_home)
    assert gone.returncode == 2 and gone.stderr.startswith("error: ") and "Traceback" not in gone.stderr


def test_a_lora_run_whose_base_is_gone_is_refused_in_one_line(tiny_llama, tmp_path, studio_home, offline):
    import shutil

    from studio.train import runs

    base = tmp_path / "base"
    shutil.copytree(tiny_llama, base)
    run = runs.run_dir(runs.new_run_id("lora"))
    (run / "model").mkdir(parents=True)
    (run / "model" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (run / "run.json").write_text(json.dumps({"base": str(base), "method": "lora", "name": "orphan"}))
    shutil.rmtree(base)
    with pytest.raises(StudioError) as err:
        export.export_gguf(f"run:{run.name}", tmp_path / "orphan.gguf")
    assert "base" in str(err.value) and "\n" not in str(err.value)
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*partial"))


# --- the pages ----------------------------------------------------------------------------------------

def _wait_for_export(at, state_key: str):
    import time

    workdir = Path(at.session_state[state_key])
    deadline = time.time() + 300
    while time.time() < deadline:
        status = jobs.read_status(workdir)
        if status.state in jobs.DONE:
            break
        time.sleep(0.5)
    assert jobs.read_status(workdir).state == "finished", jobs.tail_log(workdir)
    return at.run(), workdir


def _zip_names(workdir: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(next(workdir.glob("*.zip"))) as zf:
        return sorted(zf.namelist())


def test_the_models_page_exports_a_library_model_as_a_job_and_offers_the_zip(tiny_gpt2, studio_home, offline,
                                                                           monkeypatch, media_stores):
    """The export's zip is offered for download, read when its button is pressed: it was read whole into Streamlit's
    media store (memory) at every run of the status fragment, each second, for as long as the page showed it (a GGUF
    can be GBs)."""
    import shutil

    from streamlit.runtime import Runtime
    from streamlit.testing.v1 import AppTest
    shutil.copytree(tiny_gpt2, studio_home / "models" / "tiny-gpt2")
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    at.selectbox(key="models.selected").set_value("model:tiny-gpt2").run()
    at.text_input(key="models.export.name").input("../escape").run()
    at.button(key="models.export.go.model:tiny-gpt2").click().run()
    assert len(at.error) == 1 and at.error[0].value.startswith("'../escape' cannot name an export")
    assert not list((studio_home / "jobs").glob("export-*"))
    at.text_input(key="models.export.name").input("").run()
    at.selectbox(key="models.export.quant").set_value("f16").run()
    at.button(key="models.export.go.model:tiny-gpt2").click().run()
    assert not at.exception
    assert not at.toast  # its progress is on this panel
    at, workdir = _wait_for_export(at, "models.export.job.model:tiny-gpt2")
    labels = [b.label for b in at.get("download_button")]
    # A sentence, as every other line on the page (it read "wrote tiny-gpt2.F16.gguf (...)").
    assert [s.value[:25] for s in at.success] == ["Wrote tiny-gpt2.F16.gguf "]
    # the download's size as the line says it (a file under 1 MB was "0 MB" there, "0.1 MB" in the line)
    size = at.success[0].value.split("(")[1].split(")")[0]
    assert labels == [f"Download tiny-gpt2.F16.zip ({size} GGUF + Modelfile)"]
    assert _zip_names(workdir) == ["tiny-gpt2.F16.Modelfile", "tiny-gpt2.F16.gguf"]
    assert any("ollama create tiny-gpt2-f16 -f tiny-gpt2.F16.Modelfile" in c.value for c in at.code)
    assert any(c.value.startswith("Ollama system prompt: none (the model has no chat template") for c in at.caption)
    assert not list(workdir.glob(".*partial"))
    button, manager = at.get("download_button")[0].proto, media_stores[-1]
    assert not button.url and button.deferred_file_id  # no /media address, nothing read, before a press
    assert not [f for f in manager._storage._files_by_id.values() if f.kind.value == "downloadable"]
    with monkeypatch.context() as served:  # the server's store, only meanwhile: the test's clean-up reads the runtime
        served.setattr(Runtime, "_instance", type("Served", (), {"media_file_mgr": manager})())
        url = manager.execute_deferred(button.deferred_file_id)  # what a press does
    assert manager._storage.get_file(url.rsplit("/", 1)[-1].split(".")[0]).content == \
        next(workdir.glob("*.zip")).read_bytes()


def test_a_model_imported_from_a_quantized_file_is_offered_a_file_name_with_one_type_tag(tiny_gpt2, studio_home,
                                                                                         offline):
    """A model imported from "smol.Q8_0.gguf" is named "smol.Q8_0"; its Export panel offered "smol.Q8_0.Q8_0" (and
    "smol.Q8_0.F16" for an F16 file, which says two types): the tag the name carries is replaced by the export's."""
    import shutil

    from streamlit.testing.v1 import AppTest

    shutil.copytree(tiny_gpt2, studio_home / "models" / "smol.Q8_0")
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    at.selectbox(key="models.selected").set_value("model:smol.Q8_0").run()
    assert at.text_input(key="models.export.name").placeholder == "smol.Q8_0"
    at.selectbox(key="models.export.quant").set_value("f16").run()
    assert at.text_input(key="models.export.name").placeholder == "smol.F16"
    assert not at.exception
    assert [export_job.default_name(n, "q4_0") for n in ("Llama-3-8B-Instruct-Q4_K_M", "tiny.bf16", "phi-3.5-mini",
                                                          "SmolLM2-135M-Instruct (bundled Q4_1 copy)", "Notes (v2)",
                                                          bundled.LABEL)] == [
        "Llama-3-8B-Instruct.Q4_0", "tiny.Q4_0", "phi-3.5-mini.Q4_0", "SmolLM2-135M-Instruct.Q4_0", "Notes-v2.Q4_0",
        "SmolLM2-135M-Instruct.Q4_0"]


def test_a_file_name_reused_for_another_model_is_not_offered_as_the_first_ones(tiny_gpt2, studio_home, offline):
    """The job folder is the file name's: exporting model B under the name A's export had took A's panel with it,
    which then offered B's zip for download as A's."""
    import shutil

    from streamlit.testing.v1 import AppTest

    for name in ("alpha", "beta"):
        shutil.copytree(tiny_gpt2, studio_home / "models" / name)
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    for name in ("alpha", "beta"):
        at.selectbox(key="models.selected").set_value(f"model:{name}").run()
        at.text_input(key="models.export.name").input("shared").run()
        at.selectbox(key="models.export.quant").set_value("f16").run()
        at.button(key=f"models.export.go.model:{name}").click().run()
        at, workdir = _wait_for_export(at, f"models.export.job.model:{name}")
    assert jobs.read_status(workdir).extra["spec"] == "model:beta"
    at.selectbox(key="models.selected").set_value("model:alpha").run()
    assert not at.get("download_button")  # beta's shared.zip is not offered as alpha's
    assert [i.value for i in at.info] == ["shared.gguf was written again since, by an export of model:beta: export "
                                          "this model again (another file name keeps both)."]
    assert not at.exception


def test_a_click_on_export_during_a_picks_rerun_exports_the_model_the_panel_showed(tiny_gpt2, studio_home, offline):
    """Every model's Export button had one key: a click on alpha's panel, still drawn while the pick of beta reran,
    exported beta."""
    import shutil

    from streamlit.testing.v1 import AppTest

    for name in ("alpha", "beta"):
        shutil.copytree(tiny_gpt2, studio_home / "models" / name)
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    at.selectbox(key="models.selected").set_value("model:alpha").run()
    export = next(b for b in at.button if b.label == "Export")  # alpha's panel
    at.selectbox(key="models.selected").set_value("model:beta")
    export.click().run()  # the pick and the click in one rerun, which draws beta
    assert "models.export.job.model:beta" not in at.session_state
    # beta's panel shows nothing of it: a toast says alpha's export started
    assert [t.value for t in at.toast] == ["Exporting alpha… (pick it to see its progress)"]
    at, workdir = _wait_for_export(at, "models.export.job.model:alpha")
    assert jobs.read_status(workdir).extra["spec"] == "model:alpha"
    assert not at.exception


def _status_room(at) -> bool:
    """Whether the Export panel keeps its status's least height (a strut STATUS_HEIGHT tall beside it)."""
    from studio.ui import export as export_ui
    from tests.places import elements

    return any(getattr(getattr(node, "proto", None), "height_config", None) is not None
               and node.proto.height_config.pixel_height == export_ui.STATUS_HEIGHT for _, node in elements(at))


def test_an_export_shows_its_time_left_and_stops_from_the_page(tiny_gpt2, studio_home, offline, monkeypatch):
    """An export ran for minutes with "tensor 178/272" and no time left, and nothing could stop it but the end."""
    import shutil
    import time

    from streamlit.testing.v1 import AppTest

    shutil.copytree(tiny_gpt2, studio_home / "models" / "tiny-gpt2")
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    at.selectbox(key="models.selected").set_value("model:tiny-gpt2").run()
    at.button(key="models.export.go.model:tiny-gpt2").click().run()
    workdir = Path(at.session_state["models.export.job.model:tiny-gpt2"])
    room_kept = _status_room(at)
    at.button(key="models.export.stop").click().run()  # while the job still loads its libraries
    deadline = time.time() + 300
    while jobs.read_status(workdir).state not in jobs.DONE and time.time() < deadline:
        time.sleep(0.5)
    assert jobs.read_status(workdir).state == "stopped", jobs.tail_log(workdir)
    at.run()
    assert [w.value for w in at.warning] == ["Export stopped: nothing was written."] and not at.error
    assert not list(workdir.glob("*.gguf")) and not list(workdir.glob(".*partial")) and not list(workdir.glob("*.zip"))
    # the stopped export's line alone: no room kept below it for a finished state that will not come (the panel kept
    # STATUS_HEIGHT, 280 px, blank under that one line); while it ran, the room was kept
    assert room_kept and not _status_room(at)

    # the time left, from the tensors' pace, in the job's status (here in this process, the tensors slowed down)
    from studio.models.export import writer

    real = writer.write

    def slow(tmp, w, plans, arrays, progress):
        return real(tmp, w, plans, arrays, lambda *a: (time.sleep(0.1), progress(*a)))

    monkeypatch.setattr(writer, "write", slow)
    job = studio_home / "jobs" / "by-hand"
    job.mkdir(parents=True)
    monkeypatch.setenv("STUDIO_JOB_DIR", str(job))
    seen: list = []
    monkeypatch.setattr(jobs, "update_status", lambda wd, **kw: seen.append(kw.get("eta_s")))
    from studio.__main__ import main

    assert main(["model", "export", "model:tiny-gpt2", "--out", str(job / "t.gguf"), "--quant", "f16"]) == 0
    left = [e for e in seen if e is not None]
    assert left and all(e > 0 for e in left) and left[-1] < left[0] + 1  # counts down while tensors are written


def test_the_train_page_exports_a_finished_run(tiny_gpt2, studio_home, offline):
    import shutil

    from streamlit.testing.v1 import AppTest

    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("done"))
    shutil.copytree(tiny_gpt2, folder / "model")
    runs.write_run(folder, {"name": "done run", "created": runs.now_iso(), "base": "scratch",
                            "dataset": {"name": "d", "version": 1}})
    jobs.update_status(folder, state="finished", kind="train", progress=1.0, message="finished: 1 steps in 1 s")
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=60)
    at.session_state["train.run_id"] = folder.name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key=f"train.export.go.run:{folder.name}").click().run()
    at, workdir = _wait_for_export(at, f"train.export.job.run:{folder.name}")
    assert _zip_names(workdir) == ["done-run.Q8_0.Modelfile", "done-run.Q8_0.gguf"]
    assert any(b.label.startswith("Download done-run.Q8_0.zip") for b in at.get("download_button"))


# --- a full disk (a small tmpfs mounted for the test) ---------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs filled to its last 16 KB: room for nothing the exporter writes."""
    import os

    with tmpfs.mounted(tmp_path / "disk") as where:
        st = os.statvfs(where)
        with open(where / "filler", "wb") as fh:
            fh.write(b"\0" * (st.f_bavail * st.f_frsize - 16 * 1024))
        yield where


def test_a_full_disk_is_refused_before_writing_in_one_cli_line(tiny_gpt2, full_disk, studio_home):
    done = cli("model", "export", str(tiny_gpt2), "--out", str(full_disk / "x.gguf"), "--quant", "f16",
               env_home=studio_home)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith("loading")]
    assert len(lines) == 1 and lines[0].startswith("error: Not enough disk for x.gguf: it needs"), done.stderr
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_a_disk_that_fills_during_the_write_leaves_no_half_file(tiny_gpt2, full_disk, monkeypatch, offline):
    """The free-space check is told there is room (as when another program fills the disk meanwhile):
    the real write then runs out of space on the tmpfs."""
    import shutil

    from studio.errors import DiskError

    monkeypatch.setattr(export, "free_space", lambda _folder: 10 * 2**30)
    with pytest.raises(DiskError) as err:
        export.export_gguf(str(tiny_gpt2), full_disk / "x.gguf", quant="f16")
    assert str(err.value).startswith("disk full: could not write") and "\n" not in str(err.value)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no x.gguf, no hidden .partial
    assert shutil.disk_usage(full_disk).free < 64 * 1024  # the disk really was full


SPM_TEXTS = ["Question: How long is a match?\nAnswer: Two halves of 45 minutes.", "Zebra ÿ émoji 🙂 text",
             "<|user|>\nhi<|end|>\n<|assistant|>\n"]


@pytest.fixture(scope="session")
def tiny_spm_phi3(tmp_path_factory) -> Path:
    from spm_models import build_tiny_spm_phi3

    return build_tiny_spm_phi3(tmp_path_factory.mktemp("spm-phi3"))


def test_a_sentencepiece_style_tokenizer_is_written_as_llama_cpps_spm_vocabulary(tiny_spm_phi3, tmp_path, offline):
    import gguf as gg
    from transformers import AutoTokenizer

    if "phi3" not in gguf.supported()["architectures"]:  # transformers 5.17's Phi-3 tokenizer (studio.models.gguf)
        pytest.skip("this transformers cannot rebuild a Phi-3 GGUF's tokenizer (the studio refuses such an import)")

    out = tmp_path / "spm.F16.gguf"
    export.export_gguf(str(tiny_spm_phi3), out, quant="f16")
    fields = gg.GGUFReader(out).fields
    assert bytes(fields["tokenizer.ggml.model"].parts[-1]).decode() == "llama"
    assert bool(fields["tokenizer.ggml.add_space_prefix"].parts[-1][0])
    tok = AutoTokenizer.from_pretrained(tiny_spm_phi3)
    back = AutoTokenizer.from_pretrained(tmp_path, gguf_file=out.name)
    for text in SPM_TEXTS:  # merges rebuilt from the scores, byte fallback, special tokens: the same ids
        assert back(text, add_special_tokens=False)["input_ids"] == tok(text, add_special_tokens=False)["input_ids"]


def test_the_export_panel_keeps_its_place_in_the_page_whichever_model_is_picked(tiny_gpt2, studio_home, offline):
    """The bundled model has a line on where it comes from, tiny-gpt2 none: the Export panel moved up a place when
    tiny-gpt2 was picked, so the browser drew it anew while that pick reran the page, closed, and a person who had
    opened it and clicked Export at once lost the click (nothing started)."""
    import shutil

    from streamlit.testing.v1 import AppTest

    shutil.copytree(tiny_gpt2, studio_home / "models" / "tiny-gpt2")
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()

    from tests.places import place

    def panel_place() -> tuple:
        return place(at, "expander", "Export as GGUF")

    at.selectbox(key="models.selected").set_value("model:smollm2-135m-instruct").run()
    assert any(c.value.startswith("Bundled") for c in at.caption)
    first = panel_place()
    at.selectbox(key="models.selected").set_value("model:tiny-gpt2").run()
    assert not any(c.value.startswith("Bundled") for c in at.caption)
    assert panel_place() == first and not at.exception


def test_the_export_panel_keeps_its_place_when_the_line_on_a_deletion_goes(tiny_gpt2, studio_home, offline):
    """After a deletion the page said "Deleted ..." once, above the picker: the next click (a tensor type in the Export
    panel) drew the page without it, so the panel moved up a place and the browser drew it anew, closed."""
    import shutil

    from streamlit.testing.v1 import AppTest

    from tests.places import place

    shutil.copytree(tiny_gpt2, studio_home / "models" / "tiny-gpt2")
    shutil.copytree(tiny_gpt2, studio_home / "models" / "tiny-copy")
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    at.selectbox(key="models.selected").set_value("model:tiny-copy").run()
    at.button(key="models.delete").click().run()
    assert any(s.value.startswith("Deleted tiny-copy") for s in at.success)
    first = place(at, "expander", "Export as GGUF")  # the model picked now (another): its panel under the line
    at.run()  # the next click: the line is gone
    assert not at.success
    assert place(at, "expander", "Export as GGUF") == first and not at.exception


def test_exporting_the_bundled_model_before_its_import_says_it_is_a_one_time_import(studio_home, offline,
                                                                                       monkeypatch):
    """The first export (or use) of the bundled model said "loading model:smollm2-135m-instruct" for about a minute
    with no hint why: its progress line and the Models page say it is the bundled model's one-time import."""
    from streamlit.testing.v1 import AppTest

    from studio.models import bundled, loading
    from studio.models import export as export_mod

    assert bundled.gguf_path() is not None and not bundled.imported()
    said = []

    class Loaded(Exception):
        pass

    def load_causal_lm(*args, **kwargs):
        raise Loaded  # what is said before the import is all this test reads

    monkeypatch.setattr(loading, "load_causal_lm", load_causal_lm)
    with pytest.raises(Loaded):
        export_mod.load(bundled.SPEC, lambda message, fraction: said.append(message))
    assert said == ["a one-time import of the bundled model: dequantizing its GGUF into the workspace (about a minute)"]
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=120).run()
    at.selectbox(key="models.selected").set_value(bundled.SPEC).run()
    assert not at.exception
    assert any("one-time import of the bundled model" in c.value and "about a minute" in c.value for c in at.caption)
