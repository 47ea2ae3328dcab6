"""The Chat page's conversation kept in the workspace: back in a new session (a reloaded browser), gone after Clear,
never holding a secret, and a damaged file set aside in one line."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from chat_servers import GOOD_ANSWER, FaultServer, ask, stop
from streamlit.testing.v1 import AppTest

from studio.chat import saved

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "4_Chat.py")
KEY = "sk-TESTkeyNEVERwrittenANYWHERE12345"


@pytest.fixture(scope="module")
def faults():
    with FaultServer().running() as fs:
        yield fs


def new_session() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def shown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_a_new_session_gets_the_conversation_back_and_clear_removes_it(faults):
    at = new_session()
    ask(at, faults.url("good"), "Como estás?")
    again = new_session()  # a reloaded browser tab: a new session, nothing in its state
    turns = again.session_state["chat.messages"]
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[1]["content"] == "".join(GOOD_ANSWER) and turns[1]["model"] == "m @ " + faults.url("good")
    assert "first token" in turns[1]["stats"]
    assert "Como estás?" in shown(again) and "".join(GOOD_ANSWER) in shown(again)
    assert any("first token" in c.value for c in again.caption)  # the answer's stats, as before the reload
    next(b for b in again.button if b.label == "Clear conversation").click().run()
    assert not saved.path().exists()
    assert new_session().session_state["chat.messages"] == []


def test_no_secret_is_written_with_the_conversation(faults):
    at = new_session()
    at.session_state["chat.api_key"] = KEY
    at.session_state["auth.hf_token"] = "hf_SESSIONtokenNEVERwritten0123456789"
    ask(at, faults.url("good"), f"my key is {KEY}, my token hf_SESSIONtokenNEVERwritten0123456789 and "
                                "Authorization: Bearer abcdefghijklmnop")
    text = saved.path().read_text(encoding="utf-8")
    assert KEY not in text and "hf_SESSION" not in text and "abcdefghijklmnop" not in text
    assert "my key is ***" in text and "".join(GOOD_ANSWER) in text
    assert "sk-" not in text and "***" in json.loads(text)["messages"][0]["content"]


def test_a_question_whose_tab_was_reloaded_before_its_answer_is_kept_and_says_so(faults):
    """A reload while the answer streams (the old tab's answer is stopped, and was never kept) lost the question
    too; it stays, with a line saying it has no answer, and the next question is asked without it."""
    at = new_session()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("silent")).run()
    at.text_input(key="chat.a.api_model").set_value("m").run()
    at.chat_input(key="chat.input").set_value("Are you there?").run()
    assert not any("No answer" in c.value for c in at.caption)  # not while it is being answered
    for job in at.session_state["chat.jobs"]:
        job.cancel()  # what the old tab's watcher does once it is gone
    again = new_session()
    assert "Are you there?" in shown(again)
    assert any("No answer: the page was reloaded or closed while it was answered" in c.value for c in again.caption)
    ask(again, faults.url("good"), "And now?")
    assert [m["content"] for m in faults.bodies[-1]["messages"] if m["role"] == "user"] == ["And now?"]
    assert [t["role"] for t in again.session_state["chat.messages"]] == ["user", "user", "assistant"]


@pytest.mark.parametrize("body", [b"{not json", b'{"messages": "hello"}', b"\xff\xfe", b'{"messages": [42]}'],
                         ids=["broken", "wrong-shape", "not-utf8", "not-a-turn"])
def test_a_damaged_file_is_set_aside_in_one_line_and_the_page_works(faults, body):
    saved.path().parent.mkdir(parents=True, exist_ok=True)
    saved.path().write_bytes(body)
    at = new_session()
    assert at.session_state["chat.messages"] == []
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "set aside as conversation.unreadable-" in warnings[0], warnings
    assert not saved.path().exists()
    kept = list(saved.path().parent.glob("conversation.unreadable-*.json"))
    assert [p.read_bytes() for p in kept] == [body]  # nothing the user had is lost
    ask(at, faults.url("good"), "still there?")
    assert json.loads(saved.path().read_text())["messages"][1]["content"] == "".join(GOOD_ANSWER)


def test_a_conversation_the_workspace_limit_refuses_stays_on_the_page(faults, monkeypatch):
    """A public deployment's workspace at its size limit refuses the write (studio.config's before_write): one line
    says the conversation is not saved, and the answer is on the page."""
    from studio import config
    from studio.errors import StudioError

    def full(path, nbytes):
        raise StudioError("Your workspace is full (50 MB): delete a dataset or an evaluation.")

    at = new_session()
    room = config.before_write
    monkeypatch.setattr(config, "before_write", full)  # what a full public workspace does
    ask(at, faults.url("good"), "Olá?")
    assert at.session_state["chat.messages"][1]["content"] == "".join(GOOD_ANSWER)
    assert any("not saved in the workspace" in w.value and "workspace is full" in w.value for w in at.warning)
    assert not saved.path().exists()
    monkeypatch.setattr(config, "before_write", room)  # another tab, with room again, saves its own question: this tab keeps what only it has
    other = new_session()
    ask(other, faults.url("good"), "From another tab")
    at.run()
    assert "Olá?" in shown(at) and at.session_state["chat.messages"][1]["content"] == "".join(GOOD_ANSWER)


def test_on_the_public_app_each_browser_gets_back_its_own_conversation_only(api_mode, monkeypatch):
    """Per visitor workspace: a reload of the same browser finds its conversation; another browser starts empty; the
    deployer's token is not in the file."""
    from studio.ui import cloud
    from tests.test_tenancy import visit, workspace_of

    deployer = "hf_deployer_secret_9876543210"
    monkeypatch.setattr(cloud, "browser_secret", lambda: "first-browser")
    first = visit("pages/4_Chat.py", HF_TOKEN=deployer)
    # offline here: it fails, and is kept; the token pasted into the question is not
    first.chat_input(key="chat.input").set_value(f"How long is a match? {deployer}").run()
    deadline = time.time() + 60
    while first.session_state["chat.jobs"] and time.time() < deadline:
        time.sleep(0.2)
        first.run()
    again = visit("pages/4_Chat.py", HF_TOKEN=deployer)  # the same browser reloaded: a new session
    assert [t.get("content") for t in again.session_state["chat.messages"]][:1] == ["How long is a match? ***"]
    kept = workspace_of(again) / "chat" / saved.FILE
    assert kept.is_file() and deployer not in kept.read_text(encoding="utf-8")
    assert json.loads(kept.read_text(encoding="utf-8"))["messages"][0]["content"] == "How long is a match? ***"
    monkeypatch.setattr(cloud, "browser_secret", lambda: "another-browser")
    other = visit("pages/4_Chat.py", HF_TOKEN=deployer)
    assert workspace_of(other) != workspace_of(again)
    assert other.session_state["chat.messages"] == [] and "How long is a match?" not in shown(other)


def test_two_tabs_add_to_one_conversation_and_neither_loses_the_others_turns(faults):
    """Each tab wrote its own whole history: the last one to answer wiped the other's turns from the file."""
    a, b = new_session(), new_session()  # two tabs of the studio open at once
    ask(a, faults.url("good"), "Asked in the first tab")
    b.run()  # the second tab's next run (any click there, or its watch of the file) shows the conversation as saved
    assert "Asked in the first tab" in shown(b)
    ask(b, faults.url("good"), "Asked in the second tab")
    kept = [t["content"] for t in new_session().session_state["chat.messages"] if t["role"] == "user"]
    assert kept == ["Asked in the first tab", "Asked in the second tab"]
    a.run()  # turns only added after the tab's own: shown without a warning (an idle tab picks them up by itself)
    assert "Asked in the second tab" in shown(a)
    assert not any("Another tab changed this conversation" in w.value for w in a.warning)


def test_a_tab_says_so_when_another_tab_changed_what_it_showed(faults):
    """Turns the tab showed that the saved conversation no longer holds (not only turns added after them): one line."""
    a = new_session()
    ask(a, faults.url("good"), "Asked in the first tab")
    turns = saved.load()[0]
    saved.save([{**turns[0], "content": "Asked otherwise"}, *turns[1:]], [])  # another tab's write of another history
    a.run()
    assert "Asked otherwise" in shown(a) and "Asked in the first tab" not in shown(a)
    assert any("Another tab changed this conversation" in w.value for w in a.warning)


def test_two_tabs_answering_at_once_each_put_their_answer_after_their_question(faults):
    a, b = new_session(), new_session()
    for tab in (a, b):
        tab.selectbox(key="chat.a.kind").set_value("openai").run()
        tab.text_input(key="chat.a.base_url").set_value(faults.url("good")).run()
        tab.text_input(key="chat.a.api_model").set_value("m").run()
    a.chat_input(key="chat.input").set_value("First tab's").run()
    b.chat_input(key="chat.input").set_value("Second tab's").run()  # while the first tab's answer may still come
    for tab in (a, b):
        deadline = time.time() + 60
        while tab.session_state["chat.jobs"] and time.time() < deadline:
            time.sleep(0.2)
            tab.run()
    kept = new_session().session_state["chat.messages"]
    assert [(t["role"], t["content"]) for t in kept] == [
        ("user", "First tab's"), ("assistant", "".join(GOOD_ANSWER)),
        ("user", "Second tab's"), ("assistant", "".join(GOOD_ANSWER))]


def test_a_clear_in_one_tab_is_not_undone_by_another_tabs_next_answer(faults):
    a = new_session()
    ask(a, faults.url("good"), "Soon cleared")
    b = new_session()
    assert "Soon cleared" in shown(b)
    next(x for x in a.button if x.label == "Clear conversation").click().run()
    b.run()
    assert "Soon cleared" not in shown(b)
    assert any("cleared in another tab" in w.value for w in b.warning)
    ask(b, faults.url("good"), "After the clear")
    kept = [t["content"] for t in new_session().session_state["chat.messages"] if t["role"] == "user"]
    assert kept == ["After the clear"]


def test_a_question_another_tab_is_answering_is_not_marked_as_reloaded(faults):
    a = new_session()
    a.selectbox(key="chat.a.kind").set_value("openai").run()
    a.text_input(key="chat.a.base_url").set_value(faults.url("silent")).run()
    a.text_input(key="chat.a.api_model").set_value("m").run()
    a.chat_input(key="chat.input").set_value("Still coming?").run()
    b = new_session()  # a second tab while the first one's answer is on its way
    try:
        assert "Still coming?" in shown(b)
        assert not any("No answer" in c.value for c in b.caption)
        assert any("Being answered in another tab" in c.value for c in b.caption)
    finally:
        for job in a.session_state["chat.jobs"]:
            job.cancel()


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def _walk(node):
    """The page's elements in the order they are drawn."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def test_the_saved_copy_keeps_the_last_turns_only_and_says_so_while_it_is_so(faults, monkeypatch):
    """The line was said once, in the run that left turns out, and gone when the next answer came, though the page
    still held turns the file did not: it stays while it is true, and goes with a Clear or a reload."""
    monkeypatch.setattr(saved, "KEEP", 2)
    at = new_session()
    ask(at, faults.url("good"), "First question")
    assert "Only the last" not in captions(at)
    ask(at, faults.url("good"), "Second question")
    assert [t["content"] for t in json.loads(saved.path().read_text())["messages"]][0] == "Second question"
    assert len(json.loads(saved.path().read_text())["messages"]) == 2
    assert "First question" in shown(at)  # still on the page
    assert "Only the last 2 turns are saved in the workspace: the 2 before them" in captions(at)  # after the answer
    at.run()
    assert "Only the last 2 turns are saved" in captions(at)  # and in any later run
    ask(at, faults.url("good"), "Third question")
    assert "Only the last 2 turns are saved in the workspace: the 4 before them" in captions(at)
    at.text_input(key="chat.a.base_url").set_value(faults.url("slow")).run()
    at.chat_input(key="chat.input").set_value("A slow one").run()  # while an answer streams: under it
    assert at.session_state["chat.jobs"]
    order = [(n.type, getattr(n, "value", "")) for n in _walk(at.main)]
    said = next(i for i, (kind, value) in enumerate(order) if kind == "caption" and "Only the last" in str(value))
    assert said > max(i for i, (kind, _value) in enumerate(order) if kind == "chat_message")
    stop(at, wait=60)
    reopened = new_session()
    assert "Only the last" not in captions(reopened)  # a reloaded page holds the saved turns only
    # and says how many it lost, as the session that left them out did (a reopened conversation said nothing)
    assert saved.left_out_note(6) in captions(reopened) and reopened.session_state["chat.forgotten"] == 6
    assert saved.kept()[2] == 6  # (what the exports say comes from it: chat.forgotten)
    next(b for b in at.button if b.label == "Clear conversation").click().run()
    assert "Only the last" not in captions(at)


def test_every_key_used_in_the_session_is_kept_out_of_the_file(faults):
    """Only the API-key field's current value was replaced: a key typed earlier and pasted later was written."""
    first, second = "plainFIRSTkey4242", "plainSECONDkey4242"  # shaped like no known key
    at = new_session()
    at.session_state["chat.api_key"] = first
    ask(at, faults.url("good"), "hello")
    at.session_state["chat.api_key"] = second
    ask(at, faults.url("good"), f"was it {first} or {second}?")
    text = saved.path().read_text(encoding="utf-8")
    assert first not in text and second not in text and "was it *** or ***?" in text


def test_a_file_that_cannot_be_read_is_not_written_over(faults, monkeypatch):
    """A saved conversation that could not be read (permissions, a disk error) was replaced by the next answer."""
    saved.path().parent.mkdir(parents=True, exist_ok=True)
    saved.path().write_bytes(b'{"format": 1, "messages": []}')
    real = Path.read_bytes

    def refuse(self):
        if self == saved.path():
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    at = new_session()
    assert any("cannot be read (Permission denied)" in w.value and "not saved until Clear" in w.value
               for w in at.warning)
    ask(at, faults.url("good"), "Lost?")
    assert real(saved.path()) == b'{"format": 1, "messages": []}'
    assert at.session_state["chat.messages"][-1]["content"] == "".join(GOOD_ANSWER)


def test_two_damaged_files_set_aside_in_one_second_are_both_kept(monkeypatch):
    monkeypatch.setattr(saved.time, "strftime", lambda fmt, *a: "20260101-000000")
    saved.path().parent.mkdir(parents=True, exist_ok=True)
    for body in (b"{first", b"{second"):
        saved.path().write_bytes(body)
        assert saved.load()[0] == []
    kept = sorted(p.read_bytes() for p in saved.path().parent.glob("conversation.unreadable-*.json"))
    assert kept == [b"{first", b"{second"]


@pytest.mark.parametrize("text", [
    "Explain OAuth authorization: granting access to apps",
    'curl -H "Authorization: Bearer abc.def" https://x',
    "Bearer certificates are paper bonds",
    "bearer instruments-of-the-treasury",
    "a risk-assessment-framework-2024 and max_new_tokens=500",
])
def test_ordinary_text_is_saved_as_it_was(text):
    assert saved.scrub(text) == text


@pytest.mark.parametrize("text, kept", [
    ("m @ https://host/v1?api_key=abcd1234efgh5678&x=1", "m @ https://host/v1?api_key=***&x=1"),
    ("x-api-key: abcdefgh12345678", "x-api-key: ***"),
    ("api-key: abcdefgh12345678", "api-key: ***"),
    ("mysql://db?user=me&password=hunter2 now", "mysql://db?user=me&password=*** now"),
    ("GROQ_API_KEY=gsk_" + "a" * 30, "GROQ_API_KEY=***"),
    ("token ghp_" + "b" * 36 + " and github_pat_" + "c" * 40, "token *** and ***"),
    ("aws AKIAABCDEFGHIJKLMNOP", "aws ***"),
    ("HF_TOKENhf_" + "d" * 30, "HF_TOKEN***"),
    ('curl -H "Authorization: Bearer abcdefghijklmnop123" https://x', 'curl -H "Authorization: Bearer ***" https://x'),
])
def test_secret_shapes_never_reach_the_file(text, kept):
    saved.save([{"role": "user", "content": text}, {"role": "assistant", "content": "ok", "model": text}])
    doc = json.loads(saved.path().read_text(encoding="utf-8"))
    assert [doc["messages"][0]["content"], doc["messages"][1]["model"]] == [kept, kept]


def test_a_new_session_asks_the_models_that_answered_last_compare_mode_too(faults):
    """A restarted studio brought the conversation back but not its models: compare mode was off and the first model
    the bundled one, so the next question went to another model without a word. Both come back, compare mode on."""
    at = new_session()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("good")).run()
    at.text_input(key="chat.a.api_model").set_value("model-a").run()
    at.toggle(key="chat.compare").set_value(True).run()
    at.selectbox(key="chat.b.kind").set_value("provider").run()
    at.text_input(key="chat.b.hub_model").set_value("org/model-b").run()
    at.chat_input(key="chat.input").set_value("Which is better?").run()
    deadline = time.time() + 60
    while at.session_state["chat.jobs"] and time.time() < deadline:
        time.sleep(0.2)
        at.run()
    assert at.session_state["chat.messages"][-1]["alt"]["model"].startswith("org/model-b")
    again = new_session()
    assert again.toggle(key="chat.compare").value is True
    assert again.selectbox(key="chat.a.kind").value == "openai"
    assert again.text_input(key="chat.a.base_url").value == faults.url("good")
    assert again.text_input(key="chat.a.api_model").value == "model-a"
    assert again.selectbox(key="chat.b.kind").value == "provider"
    assert again.text_input(key="chat.b.hub_model").value == "org/model-b"


def test_a_model_gone_since_is_said_in_one_line():
    """The run that answered was deleted since: one line says so, and the picker offers what there is."""
    saved.save([{"role": "user", "content": "Hi?"},
                {"role": "assistant", "content": "Hello.", "model": "FAQ run (local)",
                 "spec": {"kind": "local", "model": "run:20260101-000000-gone", "quantization": None}}])
    again = new_session()
    assert any("FAQ" in w.value or "gone" in w.value for w in again.warning)
    assert sum("no longer in the workspace" in w.value for w in again.warning) == 1
    assert again.selectbox(key="chat.a.kind").value == "local"
    assert again.selectbox(key="chat.a.model").value != "run:20260101-000000-gone"


def test_a_workspace_changed_mid_session_keeps_the_tab_s_exchanges_it_does_not_hold(studio_home, monkeypatch):
    """A token given mid-session on the public app moves the tab to another workspace: the tab's conversation goes
    after the one saved there unless it is already in it. Saved before questions had ids, "hi" in both read as the
    same conversation, and the tab's own "hi" exchange, answered otherwise, vanished."""
    def keep(home: Path, answer: str, left_out: int) -> None:
        (home / "chat").mkdir(parents=True, exist_ok=True)
        doc = {"left_out": left_out,
               "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": answer}]}
        (home / "chat" / saved.FILE).write_text(json.dumps(doc), encoding="utf-8")

    keep(studio_home, "Hello from the first workspace", 3)
    at = new_session()
    assert [t["content"] for t in at.session_state["chat.messages"]] == ["hi", "Hello from the first workspace"]
    other = studio_home.parent / "signed-in"
    keep(other, "Hello from the second workspace", 5)
    monkeypatch.setenv("STUDIO_HOME", str(other))
    at.run()
    assert not at.exception
    assert [t["content"] for t in at.session_state["chat.messages"]] == [
        "hi", "Hello from the second workspace", "hi", "Hello from the first workspace"]
    # two conversations apart: each one's oldest turns are gone (the larger count, 5, was said)
    assert saved.left_out_note(3 + 5) in captions(at)
    moved = studio_home.parent / "moved-in"  # where the tab's exchange is already saved: it is not taken twice
    shutil.copytree(studio_home / "chat", moved / "chat")
    monkeypatch.setenv("STUDIO_HOME", str(studio_home))
    again = new_session()
    monkeypatch.setenv("STUDIO_HOME", str(moved))
    again.run()
    assert [t["content"] for t in again.session_state["chat.messages"]] == ["hi", "Hello from the first workspace"]
    assert saved.left_out_note(3) in captions(again)  # one conversation: its 3 turns left out, once


def test_a_long_turn_is_scrubbed_once_until_it_or_the_secrets_change(monkeypatch):
    """Each save (after every answer) rescanned every turn for secrets: a conversation holding a pasted book scanned
    the whole book again each time. A turn scrubbed of the same secrets is not scanned again; a new secret, or a
    changed turn, is; and what is kept for it never holds the secret."""
    scanned: list[str] = []
    scrub = saved.scrub

    def counted(text, secrets=()):
        scanned.append(text)
        return scrub(text, secrets)

    monkeypatch.setattr(saved, "scrub", counted)
    book = "A chapter of a pasted book, line after line. " * 4000 + " key sk-typed-in-this-session-0042 end"
    turns = [{"role": "user", "content": book}, {"role": "assistant", "content": "A summary."}]
    saved.save(turns, [])
    assert scanned.count(book) == 1
    saved.save([*turns, {"role": "user", "content": "And then?"}, {"role": "assistant", "content": "More."}], [])
    assert scanned.count(book) == 1  # the next answer's save: the book is not scanned again
    secret = "my-own-secret-value"
    with_secret = book.replace("line after line", secret)
    saved.save([{**turns[0], "content": with_secret}, turns[1]], [secret])
    assert scanned.count(with_secret) == 1
    kept = saved.path().read_text(encoding="utf-8")
    assert secret not in kept and "sk-typed-in-this-session-0042" not in kept and "***" in kept
    saved.save([{**turns[0], "content": with_secret}, turns[1]], [secret, "another-secret-typed"])
    assert scanned.count(with_secret) == 2  # another set of secrets: scanned again
    assert not any(secret in text or "sk-typed" in text for text in saved._SCRUBBED.values())
    assert all(len(key) == 32 and secret.encode() not in key for key in saved._SCRUBBED)


def test_an_answer_cut_at_max_new_tokens_still_says_so_after_a_reload(faults):
    """The line saying an answer was cut at Max new tokens went with a reload: the kept conversation dropped it.
    It is kept beside the answer, never in its text."""
    at = new_session()
    ask(at, faults.url("length"), "How long is a match?")
    again = new_session()
    (turn,) = [t for t in again.session_state["chat.messages"] if t["role"] == "assistant"]
    assert turn["content"] == "A match has two halves of"
    assert any(c.value.endswith("raise Max new tokens to see more.") and "Cut at" in c.value for c in again.caption)


class _HalfAnswer:
    """A model that says its first words, then waits until it is stopped (a fake: a tab closing mid-answer, the
    watcher's part, is driven here without a browser)."""

    def stream(self, messages, params, stats=None, stop=None):
        yield "The first words"
        stop.wait(30)


def test_a_tab_closed_mid_answer_keeps_the_words_that_came_marked_cut_short():
    """Closing or reloading the tab while an answer streamed threw away the words already shown: the question came
    back with "No answer". They are kept, said to be cut short, and the model sees them next."""
    from studio.chat import ChatParams, StreamJob, cut_short_turn, history_for, stop_when_gone

    saved.save([{"role": "user", "id": "q1", "content": "Tell me a story"}])
    job = StreamJob("m", _HalfAnswer, [{"role": "user", "content": "Tell me a story"}], ChatParams()).start()
    deadline = time.monotonic() + 10
    while not job.text and time.monotonic() < deadline:
        time.sleep(0.01)
    stop_when_gone([job], lambda: False, grace_s=0, poll_s=0.01,
                   on_gone=lambda: saved.keep_answer("q1", cut_short_turn([job])))
    at = new_session()
    assert "The first words" in shown(at)
    assert "Cut short: the page was reloaded or closed while it was answered." in captions(at)
    assert "No answer" not in captions(at)
    assert history_for(at.session_state["chat.messages"])[-1] == {"role": "assistant", "content": "The first words"}
    from studio.chat import export_json, export_markdown

    turns = at.session_state["chat.messages"]  # the exports say it too
    assert "The first words\n\n*Cut short: the page was reloaded" in export_markdown(turns)
    assert json.loads(export_json(turns))["messages"][-1]["note"].startswith("Cut short:")


def test_a_conversation_keeps_its_last_characters_only_on_the_page_and_on_disk_and_says_so(faults, monkeypatch):
    """200 turns of 1,000,000-character questions were all kept, in the session and in the file (~200 MB for one
    visitor): the oldest exchanges now go past ``KEEP_CHARS``, said under the conversation and in the exports."""
    from studio.chat import export_json, export_markdown

    monkeypatch.setattr(saved, "KEEP_CHARS", 100, raising=False)  # (raising: run on the old code too)
    answer = "".join(GOOD_ANSWER)
    at = new_session()
    for i in range(3):  # each exchange: a 30-character question and its 14-character answer; two fit in 100, not three
        ask(at, faults.url("good"), f"Question {i} " + "x" * (30 - len(f"Question {i} ")))
    turns = at.session_state["chat.messages"]
    assert [t["content"][:10] for t in turns] == ["Question 1", answer[:10], "Question 2", answer[:10]]  # the page's
    assert [t["content"][:10] for t in json.loads(saved.path().read_text())["messages"]] == [
        "Question 1", answer[:10], "Question 2", answer[:10]]  # and the file's
    line = saved.left_out_note(2)
    assert line in captions(at)
    assert json.loads(export_json(turns, left_out=line))["left_out"] == line and line in export_markdown(turns, left_out=line)
    # a reload said nothing of them (the count was the session's): it is kept with the conversation, and grows on
    again = new_session()
    assert line in captions(again)
    ask(again, faults.url("good"), "Question 3 " + "x" * 19)
    assert saved.left_out_note(4) in captions(new_session())
    next(b for b in at.button if b.label == "Clear conversation").click().run()
    assert "oldest turns were left out" not in captions(at) and "oldest turns were left out" not in captions(new_session())
    saved.path().write_text(json.dumps({"format": 1, "messages": [{"role": "user", "content": "hi"}]}))
    assert saved.kept() == ([{"role": "user", "content": "hi"}], None, 0)  # a file saved before it said: none


def test_the_last_exchange_is_kept_whatever_its_size():
    turns = [{"role": "user", "content": "q" * 10}, {"role": "assistant", "content": "a", "alt": {"content": "b" * 10}},
             {"role": "user", "content": "x" * 50}, {"role": "assistant", "content": "ok"}]
    assert saved.within_chars(turns, 30) == (turns[2:], 2)
    assert saved.within_chars(turns, 100) == (turns, 0)
    assert saved.within_chars(turns, 62) == (turns[2:], 2)  # the alt answer counts: 21 + 52 > 62


def _exchanges(first: int, last: int) -> list[dict]:
    """Exchanges ``first`` to ``last`` of one conversation (turns ``2 * first`` on), each question with its id."""
    return [t for i in range(first, last + 1)
            for t in ({"role": "user", "id": f"q{i}", "content": f"Q{i}"}, {"role": "assistant", "content": f"A{i}"})]


def test_joined_copies_count_each_turn_left_out_once():
    """Joining two copies said the larger of their counts: 60 where 120 turns were gone."""
    turns, gone = saved.joined(_exchanges(0, 1), 60, _exchanges(5, 5), 60)  # two conversations apart
    assert [t["content"] for t in turns] == ["Q0", "A0", "Q1", "A1", "Q5", "A5"] and gone == 120
    # one copy continuing the other: theirs holds exchanges 25-124 (its 50 oldest turns gone), ours 30-129 (60 gone);
    # the turns both lost count once, and those theirs still holds (exchanges 25-29) are back
    theirs, ours = _exchanges(25, 124), _exchanges(30, 129)
    turns, gone = saved.joined(ours, 60, theirs, 50, theirs_first=True)
    assert turns == _exchanges(25, 129) and gone == 50
    turns, gone = saved.joined(theirs, 50, ours, 60)
    assert turns == _exchanges(25, 129) and gone == 50
    # a tab's conversation moved into the workspace's (after exchanges 0-4, its 30 oldest turns counted in the 70)
    turns, gone = saved.joined(_exchanges(0, 9), 70, _exchanges(5, 9), 30)
    assert turns == _exchanges(0, 9) and gone == 70


def test_a_copy_joined_after_a_restart_keeps_the_count_of_every_turn_left_out(monkeypatch):
    """A restored copy joined to the one here wrote the larger count, and nothing for the turns past ``KEEP`` the
    join left out: a reopened conversation said fewer turns were gone than were."""
    monkeypatch.setattr(saved, "KEEP", 4)
    stored = json.dumps({"format": 1, "left_out": 3, "messages": _exchanges(0, 1)}).encode()
    saved.path().parent.mkdir(parents=True, exist_ok=True)
    saved.path().write_text(json.dumps({"format": 1, "left_out": 5, "messages": _exchanges(7, 8)}))
    assert saved.join_into(saved.path(), stored)
    turns, _note, left_out = saved.kept()
    assert turns == _exchanges(7, 8) and left_out == 3 + 5 + 4  # both counts, and the restored exchanges past KEEP
    saved.save(_exchanges(7, 9), left_out=left_out)  # an answer more: the oldest exchange goes too
    assert saved.kept()[0] == _exchanges(8, 9) and saved.kept()[2] == 12 + 2
