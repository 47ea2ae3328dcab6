"""Several visitors of the public app (``streamlit run cloud/Home.py``) streaming chat answers at once,
each in their own Chromium context, from one OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest
from chat_servers import GOOD_ANSWER, FaultServer

from .conftest import assert_no_exception, start_studio, stop_studio, wait_idle
from .test_chat_e2e import ask, use_api

pytestmark = pytest.mark.e2e

ANSWER = "".join(GOOD_ANSWER)


@pytest.fixture
def cloud(tmp_path):
    # the stand-in server is on loopback, which a public app reaches only where its deployer allows it
    s = start_studio(tmp_path / "server-home", tmp_path / "streamlit.log",
                     env={"HF_HUB_OFFLINE": "0", "STUDIO_PRIVATE_SERVERS": "1"}, entry="cloud/Home.py")
    yield s
    stop_studio(s)


def answers_shown(page) -> int:
    return page.get_by_test_id("stChatMessage").filter(has_text=ANSWER).count()


def test_two_visitors_asking_at_once_both_get_their_streamed_answers_and_can_ask_again(browser, cloud):
    """The server answers at once, so an answer often ends while the page that asked is still being drawn:
    each page must still be told to redraw, with its answer in and its input on again."""
    with FaultServer().running() as api:
        pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2)]
        for p in pages:
            p.set_default_timeout(60_000)
            p.goto(f"{cloud.url}/Chat")
            wait_idle(p)
            use_api(p, api.url("good"), "m")
        for turn in (1, 2, 3):
            for p in pages:  # both questions are sent before either answer is waited for
                ask(p, f"Question {turn}")
            for p in pages:
                p.wait_for_function(f"document.body.innerText.split({ANSWER!r}).length - 1 >= {turn}")
                wait_idle(p)
                box = p.get_by_test_id("stChatInputTextArea")
                p.wait_for_function("el => !el.disabled", arg=box.element_handle())  # the input is back on
                assert answers_shown(p) == turn
                assert_no_exception(p)
        assert api.hits["good"] == 6
        for p in pages:
            p.context.close()
