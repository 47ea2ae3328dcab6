"""Names and record text a person typed are shown on the pages as typed: never a link, an image that loads from
elsewhere, or formatting (Streamlit renders Markdown in st.warning, st.success and captions)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio import jobs
from studio.data.display import markdown_literal
from studio.evaluate import results as eval_results
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.evaluate.result import Leak, QuestionRow
from studio.train import runs

REPO = Path(__file__).resolve().parent.parent
PIXEL = "![seen](http://127.0.0.1:9/pixel.png) **loud** [click](http://127.0.0.1:9/)"


def test_a_leaked_questions_training_twin_is_shown_as_text(tmp_path):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    result = evaluate.new_result(EvalConfig(models=("m",), dataset_file=str(data)))
    result.status = "finished"
    result.rows = [QuestionRow(index=0, question="How long is a match?", reference="Two halves.",
                               answers={"m": "Two halves."}, scores={"m": {"f1": 1.0}},
                               leak=Leak(score=97.0, train_question=PIXEL, kind="fuzzy"))]
    eval_results.save(eval_results.refresh_summaries(result))
    at = AppTest.from_file(str(REPO / "pages" / "5_Evaluate.py"), default_timeout=60).run()
    assert not at.exception
    leaked = [w.value for w in at.warning if w.value.startswith("Leaked:")]
    assert len(leaked) == 1 and markdown_literal(PIXEL) in leaked[0] and PIXEL not in leaked[0]


def test_a_run_name_in_the_checkpoints_dropped_line_is_shown_as_typed():
    folder = runs.run_dir("20261205-000000-pixel")
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text("{}")
    (folder / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-2" / "optimizer.pt").write_bytes(b"0" * 4096)
    runs.write_run(folder, {"id": folder.name, "name": PIXEL, "created": "2026-12-05T00:00:00+00:00", "config": {},
                            "base": "scratch", "dataset": {}})
    jobs.update_status(folder, state="finished", kind="train", message="finished", progress=1.0)
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=90).run()
    at.button(key="train.drop_ckpt").click().run()
    assert not at.exception
    dropped = [s.value for s in at.success if s.value.startswith("Dropped")]
    assert len(dropped) == 1 and markdown_literal(PIXEL) in dropped[0] and PIXEL not in dropped[0]


def test_a_url_in_a_dataset_s_name_is_shown_as_typed_on_the_train_and_dataset_pages():
    """A URL in a dataset's name showed in code font on the Train page (the way Markdown was kept from linking it)
    and as a link in the Dataset page's "Add to ..." choice: a name is shown as typed, in the text's own font."""
    from studio.data import store
    from tests.conftest import train_page

    name = "FAQ https://example.com/faq v2 ops@example.org"
    info = store.create_dataset(name, [{"question": "How long is a half?", "answer": "45 minutes."},
                                       {"question": "How many players?", "answer": "Eleven."}])
    at = train_page()
    at.session_state["train.dataset_id"] = info.id
    at.run()
    assert not at.exception
    (line,) = [c.value for c in at.caption if c.value.startswith("Will train")]
    assert f"**{markdown_literal(name)}" in line and "`" not in line
    at = AppTest.from_file(str(REPO / "pages" / "1_Dataset.py"), default_timeout=60)
    at.session_state["dataset.selected"] = info.id
    at.run()
    from tests.data.test_dataset_page import _upload

    at = _upload(at, "more.json", json.dumps([{"question": "Who keeps time?", "answer": "The referee."}]).encode())
    assert at.radio(key="dataset.import.target").options == ["Create a new dataset", f"Add to {markdown_literal(name)}"]


def test_a_file_name_in_the_upload_too_big_line_is_shown_as_typed(monkeypatch):
    """A file too big for the app, named ``*a*_[x](y).csv``, read "Not imported: a_x.csv is ..." with "a" in italics
    and "x" a link: its name is shown as typed."""
    from markdown_it import MarkdownIt

    from studio import ui

    name = "*a*_[x](y).csv"
    monkeypatch.setattr(ui, "upload_limit_bytes", lambda: 1_000)
    at = AppTest.from_file(str(REPO / "pages" / "1_Dataset.py"), default_timeout=60).run()
    at.radio(key="dataset.import.origin").set_value("file").run()
    at.file_uploader(key="dataset.import.file.0").set_value((name, b"question,answer\n" + b"q,a\n" * 500, "text/csv"))
    at.run()
    assert not at.exception
    (line,) = [e.value for e in at.error]
    shown = MarkdownIt("commonmark").render(line)
    assert f"Not imported: {name} is 0.0 MB" in shown.replace("\\", "") and "<em>" not in shown and "<a " not in shown


def test_a_column_name_in_the_narrow_table_css_is_read_as_typed():
    """A column's name went into the CSS's ``content:"..."`` as it was: a quote in it ended the string, and
    ``</style>`` the style block, its rest shown on the page as HTML. Each reads as typed, a card's "name: value"."""
    from studio.ui.narrow_table import narrow_table_css

    name = 'say "hi" </style><b>x</b> \\ {}'
    css = narrow_table_css("k", ["first", name])
    assert css.count("</style>") == 1 and css.endswith("</style>") and "<b>" not in css
    content = re.search(r'content:"((?:[^"\\]|\\.)*)"', css).group(1)  # one CSS string, whole
    read = re.sub(r"\\([0-9a-f]{1,6}) ?", lambda m: chr(int(m.group(1), 16)), content)  # CSS's own escapes undone
    assert read == name + ": "
