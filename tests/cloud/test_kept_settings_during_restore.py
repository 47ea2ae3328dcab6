"""The Chat page opened while a restore brings the workspace back: the settings kept in the repo are never written
over by the page's defaults, and come back to the sidebar once they are here."""

from studio import config
from studio.chat import kept_settings
from studio.chat.base import ChatParams
from studio.cloud import sync
from tests.cloud.test_cloud_pages import (  # noqa: F401 -- hub: a fixture
    TOKEN,
    _dataset_of,
    _slow_file,
    give_token,
    hub,
    settled,
    workspace,
)
from tests.test_tenancy import visit

PROMPT = "Answer as a football referee would, in one sentence." + " Quote the law you apply." * 300  # 7 KB: it
# comes slowly (a KB every half second) while the page runs


def _opened_during_the_restore(hub, tmp_path, keep, kept_file: str, page: str):
    """A workspace whose ``keep()`` wrote ``kept_file`` is in the repo; a new visitor gives the token and opens
    ``page`` while that file is still coming (a KB every half second); returned once the restore has ended."""
    before = tmp_path / "before-restart"
    before.mkdir(parents=True)
    with config.use_workspace(before):
        keep()
    dataset = _dataset_of(before, "Kept in the repo", 2)
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()
    _slow_file(hub, repo, dataset)
    hub.faults[kept_file] = "trickle"  # it comes after the page ran

    at = give_token(visit(), TOKEN, wait=False)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert sync.current(workspace(at)).prepared is False  # still restoring as the page ran
    hub.trickle_s = 0.0
    return settled(at)


def test_chat_opened_during_the_restore_keeps_the_system_prompt_and_sampling_kept_in_the_repo(hub, tmp_path):
    """Chat opened before the repo's chat/settings.json came: the page read none, saved its defaults, the restore kept
    that file as the newer one, and the next commit pushed the defaults over the visitor's prompt and sampling."""
    def keep():
        (config.home() / "chat").mkdir(parents=True, exist_ok=True)
        kept_settings.save(ChatParams(temperature=0.77), "Custom", PROMPT)

    at = _opened_during_the_restore(hub, tmp_path, keep, "chat/settings.json", "pages/4_Chat.py")

    with config.use_workspace(workspace(at)):
        kept = kept_settings.load()
    assert kept["system"] == PROMPT and kept["temperature"] == 0.77
    assert at.text_area(key="chat.system").value == PROMPT
    assert at.slider(key="chat.temperature").value == 0.77
    at.run()  # the page as the visitor goes on, and what the next commit sends
    with config.use_workspace(workspace(at)):
        kept = kept_settings.load()
    assert kept["system"] == PROMPT and kept["temperature"] == 0.77


def test_evaluate_opened_during_the_restore_keeps_the_form_kept_in_the_repo(hub, tmp_path):
    """The Evaluate form drawn before the repo's evaluate/form.json came was kept as it stood (the page's defaults),
    the restore kept that file as the newer one, and the visitor's models and settings were lost for good."""
    from studio.evaluate import form

    models = "api:alice/referee-7b\n" + "".join(f"api:alice/referee-{n}b-instruct\n" for n in range(300))  # 9 KB
    at = _opened_during_the_restore(hub, tmp_path, lambda: form.save({"other_models": models, "max_new_tokens": 77}),
                                    "evaluate/form.json", "pages/5_Evaluate.py")

    assert at.text_area(key="evaluate.other_models").value == models
    at.run()  # the page as the visitor goes on, and what the next commit sends
    with config.use_workspace(workspace(at)):
        kept = form.load()
    assert kept["other_models"] == models and kept["max_new_tokens"] == 77


MODE = "Question over a passage"  # studio.ui.passage.PASSAGE
PASSAGE = "The referee may stop the match for an injury. " * 200  # 9 KB: it comes slowly, as the prompt above


def _passage_kept():
    (config.home() / "chat").mkdir(parents=True, exist_ok=True)
    kept_settings.save(ChatParams(), "Custom", "Be brief.", mode=MODE)
    kept_settings.save_passage(PASSAGE, "When may the referee stop the match?")


def test_passage_mode_s_passage_question_and_mode_come_back_after_a_restart(hub, tmp_path):
    """chat/passage.json was never kept in the repo: after a restart the Chat page came back in passage mode with an
    empty passage and question."""
    before = tmp_path / "before-restart"
    before.mkdir(parents=True)
    with config.use_workspace(before):
        _passage_kept()
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(before, repo, TOKEN).sync_once()

    at = give_token(visit(), TOKEN)  # a new visitor after the restart
    at.switch_page("pages/4_Chat.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="chat.mode").value == MODE
    assert at.text_area(key="chat.passage.text").value == PASSAGE
    assert at.text_input(key="chat.passage.question").value == "When may the referee stop the match?"


def test_chat_opened_during_the_restore_comes_back_in_passage_mode_with_the_passage_kept_in_the_repo(hub, tmp_path):
    """Chat opened before the repo's settings and passage came showed conversation mode and an empty passage, and
    kept them so after the restore ended."""
    at = _opened_during_the_restore(hub, tmp_path, _passage_kept, "chat/passage.json", "pages/4_Chat.py")

    assert at.radio(key="chat.mode").value == MODE
    assert at.text_area(key="chat.passage.text").value == PASSAGE
    at.run()  # the page as the visitor goes on, and what the next commit sends
    with config.use_workspace(workspace(at)):
        assert kept_settings.load_passage()[0] == PASSAGE and kept_settings.load()["mode"] == MODE
