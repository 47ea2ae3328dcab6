from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio import config
from studio.data import store

HOME = str(Path(__file__).resolve().parent.parent / "Home.py")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_home_shows_workspace_device_and_the_path():
    from studio import jobs

    jobs.update_status(config.runs_dir() / "run-1", state="failed", kind="train", error="the base did not load")
    (config.runs_dir() / "not-a-run").mkdir()  # an empty folder is no run (the Runs tab does not list it)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    m = metrics(at)
    assert m["Datasets"] == "1" and m["Training runs"] == "1" and m["Evaluations"] == "0"
    assert m["Device"] in ("CPU", "GPU", "API only") and m["Hub token"] == "not set"
    assert any("GiB system memory" in c.value and str(config.home()) in c.value for c in at.caption)
    assert store.list_datasets()[0].name == "Soccer rules (sample)"
    labels = [p.proto.label for p in at.get("page_link") if not p.proto.label.startswith("Open ")]  # the path's
    assert labels[0] == "Dataset" and any(c.value.startswith("create, import, edit") for c in at.caption)


def test_token_from_secrets_is_reported_but_never_shown():
    at = AppTest.from_file(HOME, default_timeout=60)
    at.secrets["HF_TOKEN"] = "hf_verysecret"
    at.run()
    assert metrics(at)["Hub token"] == "configured"
    shown = [e.value for e in at.markdown] + [c.value for c in at.caption] + [str(m.value) for m in at.metric]
    assert not any("hf_verysecret" in s for s in shown)


def test_deleted_sample_is_not_seeded_again():
    AppTest.from_file(HOME, default_timeout=60).run()
    store.delete_dataset(store.list_datasets()[0].id)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert metrics(at)["Datasets"] == "0"
    assert any("No datasets yet" in m.value for m in at.markdown)


def test_a_workspace_with_datasets_of_its_own_gets_no_sample():
    mine = store.create_dataset("My questions", [{"question": "Who am I?", "answer": "A user."}])
    evaluate = AppTest.from_file(str(Path(HOME).parent / "pages" / "5_Evaluate.py"), default_timeout=60).run()
    assert not evaluate.exception
    assert [d.id for d in store.list_datasets()] == [mine.id]
    store.delete_dataset(mine.id)  # emptied later: still no sample pushed in
    AppTest.from_file(HOME, default_timeout=60).run()
    assert store.list_datasets() == []


def test_any_page_opened_first_finds_the_sample_dataset():
    for name in ("3_Train.py", "4_Chat.py", "5_Evaluate.py"):
        assert AppTest.from_file(str(Path(HOME).parent / "pages" / name), default_timeout=60).run().exception == []
    train = AppTest.from_file(str(Path(HOME).parent / "pages" / "3_Train.py"), default_timeout=60).run()
    assert [d.name for d in store.list_datasets()] == ["Soccer rules (sample)"]
    assert any(b.label == "Start training" for b in train.button)  # something to train on right away


def test_a_workspace_that_cannot_be_written_is_one_clear_line(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the workspace should be")
    monkeypatch.setenv("STUDIO_HOME", str(blocker / "studio"))
    for page in (HOME, str(Path(HOME).parent / "pages" / "1_Dataset.py")):
        at = AppTest.from_file(page, default_timeout=60).run()
        assert not at.exception
        assert [e.value for e in at.error] and "set STUDIO_HOME to a folder you can write to" in at.error[0].value
    assert blocker.read_text() == "a file where the workspace should be"


def test_home_shows_a_running_job_with_a_link_to_its_page(studio_home):
    import os

    from streamlit.testing.v1 import AppTest

    from studio import config, jobs

    work = config.jobs_dir() / "eval-20261201-x"
    jobs.update_status(work, state="running", kind="evaluate", pid=os.getpid(), progress=0.45,
                       message="m: 214/474")
    jobs.register_current("evaluate", work)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "Home.py"), default_timeout=60).run()
    assert not at.exception
    assert any(i.value == "Evaluation running: eval-20261201-x · 45% · m: 214/474" for i in at.info), [i.value for i in at.info]
    assert any("Open it on the Evaluate page" in str(p.proto) for p in at.get("page_link"))


def test_home_names_a_running_training_run_as_the_train_page_does(studio_home):
    """A run started on the Train page ("Run: My FAQ · SmolLM2" there) was called by its folder's id on Home."""
    import os

    from studio import jobs

    work = config.runs_dir() / "20261206-080504-my-faq"
    jobs.update_status(work, state="running", kind="train", pid=os.getpid(), progress=0.25, message="step 3/12",
                       title="My FAQ · model:smollm2-135m-instruct")
    jobs.register_current("train", work)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert [i.value for i in at.info if "running" in i.value] == [
        "Training running: My FAQ · model:smollm2-135m-instruct · 25% · step 3/12"]


def test_home_links_every_page_with_its_whole_purpose():
    from studio.ui import pages

    at = AppTest.from_file(HOME, default_timeout=60).run()
    labels = [p.proto.label for p in at.get("page_link") if not p.proto.label.startswith("Open ")]  # the path's
    assert labels == [p.title for p in pages.ALL]  # in the order of the path; a short label is never cut
    captions = [c.value for c in at.caption]
    assert all(p.said(False) in captions for p in pages.ALL)  # each purpose whole, as text that wraps
    assert "a local or API model, streamed; two models side by side; or a question over a passage." in captions
    # the Models page exports any model, a finished run too, as a GGUF file: Home's line named import, download and
    # delete only, so the path through the studio never said where a trained model leaves it
    assert any(c.startswith("every model the studio can use") and "export as GGUF" in c for c in captions)
    assert all((Path(HOME).parent / p.path).is_file() for p in pages.ALL)


def test_page_runs_stop_moving_the_app_folder_on_sys_path(monkeypatch):
    """Streamlit puts the app's folder on sys.path for each run and takes it off after, unless it is there
    already; taking it off shifted the list under imports in the studio's background threads, and a push
    read an installed package as missing ("No module named 'datasets'"). After the first run it stays."""
    import sys

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "1_Dataset.py"), default_timeout=60)
    at.run()
    moves: list[tuple[str, str]] = []

    class Watched(list):
        def insert(self, index, item):
            moves.append(("insert", item))
            super().insert(index, item)

        def remove(self, item):
            moves.append(("remove", item))
            super().remove(item)

    monkeypatch.setattr(sys, "path", Watched(sys.path))
    at.run()
    at.run()
    assert not at.exception and moves == []


def test_home_shows_when_a_dataset_was_last_saved_in_the_studios_one_time_form():
    import json

    info = store.create_dataset("Timed", [{"question": "q?", "answer": "a"}])
    meta = config.datasets_dir() / info.id / "versions" / "0001.meta"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "created": "2026-12-05T02:12:33+02:00"}))
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    rows = at.dataframe[0].value.to_dict("records")
    assert [r["last saved"] for r in rows if r["name"] == "Timed"] == ["2026-12-05 00:12 UTC"]


def test_a_new_workspace_is_told_how_to_get_an_evaluation_not_to_open_one():
    """A fresh workspace read "Evaluations so far: 0. Open one on the Evaluate page"; a folder in evals/ (not an
    evaluation) counted as one in the metric while that line said 0."""
    (config.evals_dir() / "scratch").mkdir(parents=True, exist_ok=True)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert metrics(at)["Evaluations"] == "0"
    captions = [c.value for c in at.caption]
    assert "**Evaluations:** none yet. Score a run against its base on the Evaluate page." in captions
    assert not any("Open one on the Evaluate page" in c for c in captions)


def test_evaluations_count_those_with_answers_and_training_is_named_only_for_a_run():
    """Home's "Evaluations" and "Evaluations so far: 3. Open one on the Evaluate page to see where training helped"
    counted one still running and one in which every model failed (nothing to open), and said "where training
    helped" of an evaluation of API models alone. Now they count the evaluations with answers, the metric's help names
    the others the Evaluate page lists, and training is named only once a run was evaluated."""
    import os

    from studio import jobs
    from studio.evaluate import results as eval_results
    from studio.evaluate.result import EvalResult, ModelEntry, QuestionRow

    def save(eval_id: str, status: str | None, spec: str, answered: bool) -> None:
        row = QuestionRow(index=0, question="How long is a match?", reference="90 minutes",
                          answers={"m": "90 minutes"} if answered else {}, errors={} if answered else {"m": "refused"})
        eval_results.save(EvalResult(id=eval_id, created=f"2026-12-07T00:00:0{len(eval_id) % 10}+00:00", status=status,
                                     models=[ModelEntry(label="m", spec=spec, kind="api" if "api:" in spec else "local",
                                                        run_id=spec[4:] if spec.startswith("run:") else None)],
                                     rows=[row]))

    save("20261207-000001-api", "finished", "api:gpt-4o-mini", answered=True)
    save("20261207-000002-fail", "failed", "api:gpt-4o-mini", answered=False)
    save("20261207-000003-run", None, "api:gpt-4o-mini", answered=True)
    jobs.update_status(eval_results.job_dir("20261207-000003-run"), state="running", kind="evaluate", pid=os.getpid())
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    metric = next(m for m in at.metric if m.label == "Evaluations")
    assert metric.value == "1" and "also lists 1 running and 1 with no answer" in metric.proto.help
    captions = [c.value for c in at.caption]
    assert "Evaluations with answers so far: 1. Open one on the Evaluate page to compare the models' answers." in captions
    assert not any("where training helped" in c for c in captions)

    save("20261207-000004-trained", "stopped", "run:20261206-000000-faq", answered=True)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert metrics(at)["Evaluations"] == "2"
    assert "Evaluations with answers so far: 2. Open one on the Evaluate page to see where training helped." in [
        c.value for c in at.caption]


def test_home_lists_the_newest_runs_and_evaluations_with_links_to_their_pages():
    """Home counted training runs and evaluations with nothing behind the numbers (only datasets were listed): now the
    newest of each are listed (a run's name, state and start; an evaluation's dataset, models and start), each list
    with a link to the page that lists them all."""
    from studio import jobs
    from studio.evaluate import results as eval_results
    from studio.evaluate.result import EvalResult, ModelEntry, QuestionRow
    from studio.train import runs

    for i in range(7):
        folder = config.runs_dir() / f"20261207-00000{i}-faq"
        runs.write_run(folder, {"name": f"FAQ run {i}", "created": f"2026-12-07T00:00:0{i}+00:00"})
        jobs.update_status(folder, state="finished" if i % 2 else "failed", kind="train")
        row = QuestionRow(index=0, question="How long is a match?", reference="90 minutes", answers={"m": "90"})
        eval_results.save(EvalResult(id=f"20261207-00000{i}-ev", created=f"2026-12-07T00:01:0{i}+00:00",
                                     status="finished", dataset={"name": f"Rules {i}", "version": 1},
                                     models=[ModelEntry(label=f"model {i}", spec="api:gpt-4o-mini", kind="api")],
                                     rows=[row]))
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    tables = {tuple(df.value.columns): df.value for df in at.dataframe}
    shown_runs = tables[("started", "state", "name")]
    assert list(shown_runs["name"]) == [f"FAQ run {i}" for i in (6, 5, 4, 3, 2)]
    assert list(shown_runs["state"])[:2] == ["failed", "finished"]
    assert shown_runs["started"].iloc[0] == "2026-12-07 00:00 UTC"
    # the evaluations: a static table whose cells wrap, a card each below NARROW_PX (the data grid cut the dataset and
    # the models at 110 px each in an 800 px window: "Soccer rules (samp")
    assert len(at.table) == 1
    shown_evals = at.table[0].value
    assert list(shown_evals.columns) == ["started", "state", "dataset", "models"]
    assert [d.split(" v")[0] for d in shown_evals["dataset"]] == [f"Rules {i}" for i in (6, 5, 4, 3, 2)]
    assert list(shown_evals["models"])[0] == "model 6"
    css = [h.proto.body for h in at.get("html") if ".st-key-home-evaluations" in h.proto.body]
    assert len(css) == 1 and "@container (max-width:720px)" in css[0]
    assert 'td:nth-child(4):before{content:"models: "' in css[0]  # each fact after its column's name
    links = {p.proto.label: p.proto.page for p in at.get("page_link")}
    assert links["Open the runs on the Train page"] == "Train"
    assert links["Open the evaluations on the Evaluate page"] == "Evaluate"


def test_home_orders_the_newest_runs_by_their_start_times():
    """Run folders are named by the local time at start, while the start shown is the stored UTC time: after a clock
    change (or a studio moved to another time zone) the folder names' order disagreed with the times shown. Home lists
    them by the stored start, as the Runs tab does."""
    from studio.train import runs

    # started at 08:00 UTC on a UTC+1 clock (the folder says 09:00), then at 08:30 UTC on a UTC clock
    for folder, name, created in (("20261207-090000-a", "Earlier run", "2026-12-07T08:00:00+00:00"),
                                  ("20261207-083000-b", "Later run", "2026-12-07T08:30:00+00:00")):
        runs.write_run(config.runs_dir() / folder, {"name": name, "created": created})
    assert [r.name for r in runs.newest_runs(5)] == ["Later run", "Earlier run"]
    assert [r.name for r in runs.newest_runs(1)] == ["Later run"]
    assert [r.name for r in runs.newest_runs(5)] == [r.name for r in runs.list_runs()]


def test_a_new_workspace_shows_the_path_first_and_its_empty_lists_in_a_line_each():
    """In a workspace with no run and no evaluation, two headings with a line each ("No training runs yet", "No
    evaluations yet") came before "The path through the studio", a new user's next step: now the path comes first and
    each empty list is one line under it. Once there is a run, its list comes before the path."""
    from studio import jobs
    from studio.train import runs

    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    headings = [h.value for h in at.subheader]
    assert headings == ["Datasets", "The path through the studio"]
    captions = [c.value for c in at.caption]
    path_line = captions.index(next(c for c in captions if c.startswith("create, import, edit")))
    empty = [i for i, c in enumerate(captions) if c.startswith(("**Training runs:**", "**Evaluations:**"))]
    assert len(empty) == 2 and min(empty) > path_line
    assert captions[empty[0]] == "**Training runs:** none yet. Launch one on the Train page."

    folder = config.runs_dir() / "20261207-000000-faq"
    runs.write_run(folder, {"name": "FAQ run", "created": "2026-12-07T00:00:00+00:00"})
    jobs.update_status(folder, state="finished", kind="train")
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert [h.value for h in at.subheader] == ["Datasets", "Training runs", "The path through the studio"]
    assert any(c.value.startswith("**Evaluations:** none yet.") for c in at.caption)


def test_home_draws_when_the_last_evaluation_goes_between_its_count_and_its_list(monkeypatch):
    """Home counted an evaluation with answers, then listed none (deleted in another tab meanwhile) and raised
    IndexError on the empty table's first row: a traceback on Home. It says there are none."""
    from studio.evaluate import results as eval_results
    from studio.evaluate.result import EvalResult, ModelEntry, QuestionRow

    row = QuestionRow(index=0, question="How long is a match?", reference="90 minutes", answers={"m": "90"})
    eval_results.save(EvalResult(id="20261207-000001-ev", created="2026-12-07T00:01:01+00:00", status="finished",
                                 dataset={"name": "Rules", "version": 1},
                                 models=[ModelEntry(label="m", spec="api:gpt-4o-mini", kind="api")], rows=[row]))
    monkeypatch.setattr(eval_results, "newest", lambda n: [])  # gone by the time the list is read
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert any("**Evaluations:** none yet." in c.value for c in at.caption)
