"""The Dataset page of a tab whose workspace changes under it (a token given): its datasets are another workspace's
now, not deleted, and its unsaved edits follow a dataset that moved in under a new id."""

from studio import config
from studio.cloud import sync
from studio.data import store
from tests.cloud.test_cloud_pages import TOKEN, give_token, hub, workspace  # noqa: F401 -- hub: a fixture
from tests.test_tenancy import visit


def test_a_token_given_while_editing_a_dataset_the_repo_also_has_keeps_the_edits_and_says_nothing_was_deleted(
        hub, tmp_path):
    """The repo holds a dataset of the id this tab's "FAQ" has: it moves in as "faq-2". The page said "FAQ was deleted
    (in another tab, or its folder removed)" and dropped the unsaved edits from the editor, or showed them on the repo's dataset that took the id."""
    kept = tmp_path / "kept-before"
    with config.use_workspace(kept):
        theirs = store.create_dataset("FAQ", [{"question": "From the repo?", "answer": "Yes."}])
    repo = sync.open_repo(TOKEN, sync.identify(TOKEN))
    assert sync.WorkspaceSync(kept, repo, TOKEN).sync_once()

    at = visit("pages/1_Dataset.py")
    with config.use_workspace(workspace(at)):
        mine = store.create_dataset("FAQ", [{"question": "Made here?", "answer": "Yes."}])
    assert mine.id == theirs.id
    at.run()
    at.selectbox(key="dataset.picker").select(mine.id).run()
    key = at.data_editor[0].key
    at.session_state[key] = {"edited_rows": {0: {"answer": "Yes, and edited."}}, "added_rows": [], "deleted_rows": []}
    at.run()

    at = give_token(at, TOKEN)
    assert not at.exception, [e.value for e in at.exception]
    assert not [w.value for w in at.warning if "was deleted" in w.value]
    moved = at.session_state["dataset.selected"]
    assert moved != theirs.id
    assert at.data_editor[0].value["answer"].tolist() == ["Yes, and edited."]
    assert [e.value for e in (*at.warning, *at.info, *at.caption, *at.markdown) if "unsaved" in e.value.lower()]
    at.selectbox(key="dataset.picker").select(theirs.id).run()  # the repo's own, as it was: none of this tab's edits
    assert at.data_editor[0].value["question"].tolist() == ["From the repo?"]
    assert at.data_editor[0].value["answer"].tolist() == ["Yes."]
