"""The Evaluate page given careless settings: each is one line on Start, and no evaluation is started."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio.data import store
from studio.data.display import NO_LINK
from studio.evaluate import results as eval_results

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "5_Evaluate.py")


def test_a_base_url_without_its_scheme_is_refused_on_start_not_in_every_answer():
    store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input("api:my-model").run()
    at.text_input(key="evaluate.base_url").input("localhost:8000/v1").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    errors = [e.value.replace("\u2060", "").replace(NO_LINK, "") for e in at.error]  # the page keeps URLs from being links
    assert len(errors) == 1 and "must start with http:// or https://" in errors[0] and "localhost:8000/v1" in errors[0]
    assert eval_results.list_evals() == []  # nothing queued to fail question by question


def test_a_base_url_naming_no_host_is_refused_on_start_not_in_every_answer():
    """'http://' (or a port out of range) passed the scheme check: the job started, and every question failed with
    the same line."""
    store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input("api:my-model").run()
    for url in ("http://", "http://127.0.0.1:99999/v1"):
        at.text_input(key="evaluate.base_url").input(url).run()
        at.button(key="evaluate.start").click().run()
        assert not at.exception
        errors = [e.value.replace("\u2060", "").replace(NO_LINK, "") for e in at.error]
        assert len(errors) == 1 and "names no host and port a client can reach" in errors[0] and url in errors[0]
    assert eval_results.list_evals() == []


def test_a_folder_holding_a_config_alone_is_not_called_a_run_to_train_again(tmp_path, offline):
    """A folder with a config.json and nothing else (no tokenizer, no weights) failed with "... or train the run
    again": it is no run; the line says which folder to choose instead."""
    from studio.evaluate import runner
    from studio.evaluate.config import EvalConfig

    folder = tmp_path / "config-only"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2,
                                                    "vocab_size": 100}))
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    result = runner.run_evaluation(EvalConfig(models=(str(folder),), dataset_file=str(questions), perplexity=False))
    (error,) = [m.error for m in result.models]
    assert error.startswith(f"{folder}: its tokenizer is missing or broken")
    assert "train the run again" not in error and "choose the folder save_pretrained wrote" in error


def test_hosted_models_without_a_token_are_refused_on_start_not_in_every_answer(monkeypatch):
    """With no Hugging Face token anywhere, an evaluation of Inference Providers models started, and every question
    of every model failed with 'need a token'; a base URL's model needs none, so it still starts."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.multiselect(key="evaluate.models").set_value([]).run()
    at.text_area(key="evaluate.other_models").input("api:meta-llama/Llama-3.1-8B-Instruct").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Hugging Face Inference Providers need a token: give it in the sidebar's Hugging Face token field, or set "
        "HF_TOKEN in secrets or the environment (the command line reads the environment)."]
    assert eval_results.list_evals() == []
    at.text_input(key="evaluate.base_url").input("http://127.0.0.1:9/v1").run()  # a server of one's own: no token
    at.button(key="evaluate.start").click().run()
    assert not at.exception and not at.error
    assert len(eval_results.list_evals()) == 1


def test_the_command_line_refuses_hosted_models_without_a_token_before_any_question(monkeypatch, tmp_path, capsys):
    """The page refused it on Start; the command line asked every question, each failing with 'need a token'."""
    from studio.__main__ import main

    monkeypatch.delenv("HF_TOKEN", raising=False)
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    capsys.readouterr()
    code = main(["evaluate", "--model", "api:meta-llama/Llama-3.1-8B-Instruct", "--dataset", str(questions),
                 "--out", str(tmp_path / "report.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == ("error: Hugging Face Inference Providers need a token: set HF_TOKEN in the environment "
                                 "(export HF_TOKEN=hf_..., or HF_TOKEN=hf_... before the command)."), err
    assert not (tmp_path / "report.json").exists()


ODD_IDS = [("x\x00y", "holds a control character"), ("a\x07b", "holds a control character"),
           ("run:../../etc", "names no training run"), ("model:../shelf", "names no library model"),
           ("qa:run:../x", "names no training run"), ("m/" + "x" * 300, "is too long"),
           ("a b c", "is no folder here and no Hub id"), ("x@y/model", "is no folder here and no Hub id")]


def _started_with(models: str):
    """The Evaluate page on a one-question dataset, Start pressed with ``models`` typed as the other models."""
    store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input(models).run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    return at


@pytest.mark.parametrize(("odd", "said"), ODD_IDS)
def test_an_odd_model_id_is_refused_on_start_and_by_the_command_line_not_per_model(odd, said, tmp_path, capsys):
    """A NUL byte, control characters or a run id climbing out of the runs folder were taken as models: the
    evaluation started and each failed on its own. The model library's rules for a name decide model:<name>."""
    from studio.__main__ import main

    at = _started_with(f"api:good-model\n{odd}")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and said in errors[0] and "\n" not in errors[0], errors
    assert eval_results.list_evals() == []
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    capsys.readouterr()
    code = main(["evaluate", "--model", odd, "--dataset", str(questions), "--out", str(tmp_path / "report.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and said in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "report.json").exists()


def test_a_folder_that_holds_no_model_or_is_not_there_is_refused_on_start_and_by_the_command_line(tmp_path, capsys):
    """A folder holding a config.json alone, or a typo'd folder, typed under Other models: the evaluation started and
    the model failed only after the others had answered every question (the command line caught a missing folder up
    front, the page did not, and neither caught a folder that is no model)."""
    from studio.__main__ import main

    config_only = tmp_path / "config-only"
    config_only.mkdir()
    (config_only / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 32,
                                                         "n_head": 2, "vocab_size": 100}))
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    for folder, said in ((config_only, "choose the folder save_pretrained wrote"), (tmp_path / "typo", "")):
        at.text_area(key="evaluate.other_models").input(f"api:good-model\n{folder}").run()
        at.button(key="evaluate.start").click().run()
        assert not at.exception
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and str(folder) in errors[0] and said in errors[0], errors
        assert eval_results.list_evals() == []
        capsys.readouterr()
        code = main(["evaluate", "--model", str(folder), "--dataset", str(questions),
                     "--out", str(tmp_path / "report.json")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: ") and str(folder) in err and said in err, err
        assert not (tmp_path / "report.json").exists()


def test_more_models_than_one_evaluation_compares_are_refused_on_start_and_by_the_command_line(tmp_path, capsys):
    """50,000 lines pasted into the box of API models started one job asking every question of each."""
    from studio.__main__ import main

    store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    pasted = "\n".join(f"api:model-{i}" for i in range(5_000))
    at.text_area(key="evaluate.other_models").input(pasted).run()
    at.text_input(key="evaluate.base_url").input("http://127.0.0.1:9/v1").run()  # needs no token: it was started
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    said = [e.value for e in at.error]  # 5,000, and the model the page picks itself, if any
    assert len(said) == 1 and re.fullmatch(r"5,00[01] models are chosen, more than the 20 one evaluation compares: "
                                           r"split them over several evaluations\.", said[0]), said
    assert at.text_area(key="evaluate.other_models").value == pasted  # kept to cut
    assert eval_results.list_evals() == []
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    capsys.readouterr()
    models = [arg for i in range(21) for arg in ("--model", f"api:model-{i}")]
    code = main(["evaluate", *models, "--base-url", "http://127.0.0.1:9/v1", "--dataset", str(questions), "--out", str(tmp_path / "report.json")])
    assert (code, capsys.readouterr().err.strip()) == (2, "error: 21 models are chosen, more than the 20 one evaluation "
                                                          "compares: split them over several evaluations.")


@pytest.mark.parametrize("spec", ["qa:run:nope", "qa:model:nope", "qa:./no-such-folder", "qa:<a chat model>"])
def test_an_extractive_model_not_there_or_not_extractive_is_refused_on_start_and_by_the_command_line(
        spec, tiny_gpt2, tmp_path, capsys):
    """`evaluate --model qa:run:nope` (a run that is not there) went on to "[0/2] loading qa:run:nope", wrote a report
    in which every question had failed and exited 1; the page started the job alike. A generative model written qa:
    failed the same way, question by question. Now one line on Start and `error: ...` with exit 2, naming what
    answers by extraction."""
    from studio.__main__ import main

    spec = spec.replace("<a chat model>", str(tiny_gpt2))
    said = "is not an extractive question-answering model" if str(tiny_gpt2) in spec else \
        "choose an extractive model saved here (qa:<folder>, qa:run:<id> or qa:model:<name>)"
    at = _started_with(f"api:good-model\n{spec}")
    # as read on the page: without the Markdown escapes and the empty spans that keep "qa:run:" from being a shortcode
    errors = [e.value.replace(NO_LINK, "").replace("\u2060", "").replace("\\", "") for e in at.error]
    assert len(errors) == 1 and said in errors[0] and "\n" not in errors[0], errors
    assert eval_results.list_evals() == []
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    # as the judge, written qa: it cannot grade, whatever it names
    for argv, words in ((["--model", spec], said), (["--model", "api:good-model", "--judge", spec], "Choose a chat model")):
        capsys.readouterr()
        code = main(["evaluate", *argv, "--dataset", str(questions), "--out", str(tmp_path / "report.json")])
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert (code, captured.out) == (2, "") and err.startswith("error: ") and words in err, err
        assert len(err.splitlines()) == 1
        assert not (tmp_path / "report.json").exists() and eval_results.list_evals() == []


def test_an_extractive_judge_is_refused_on_start_and_by_the_command_line(tmp_path, capsys):
    """An extractive model as the LLM judge (written api:qa:, or a question-answering model's folder) cannot grade an
    answer: the evaluation started with it as the judge. Now one line on Start and `error: ...`, exit 2."""
    from studio.__main__ import main

    folder = tmp_path / "squad-model"  # what makes it extractive: its config's architecture
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForQuestionAnswering"]}))
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input("api:good-model").run()
    at.text_input(key="evaluate.base_url").input("http://127.0.0.1:9/v1").run()  # needs no token
    for judge in ("api:qa:deepset/roberta-base-squad2", str(folder)):
        at.text_input(key="evaluate.judge").input(judge).run()
        at.button(key="evaluate.start").click().run()
        assert not at.exception
        errors = [e.value.replace(NO_LINK, "").replace("\u2060", "").replace("\\", "") for e in at.error]
        assert len(errors) == 1 and "is an extractive model" in errors[0] and "Choose a chat model" in errors[0], errors
        assert eval_results.list_evals() == []
        capsys.readouterr()
        code = main(["evaluate", "--model", "api:good-model", "--base-url", "http://127.0.0.1:9/v1", "--judge", judge,
                     "--qa-endpoint", "http://127.0.0.1:9/", "--dataset", str(questions),
                     "--out", str(tmp_path / "report.json")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err == (f"error: The judge {judge} is an extractive model: it points at a span of a passage "
                                     "and cannot grade an answer. Choose a chat model as the judge (api:<model id>, or "
                                     "a local one), or leave it out."), err
        assert not (tmp_path / "report.json").exists() and eval_results.list_evals() == []


def test_a_dataset_version_the_questions_cannot_have_is_refused_not_ignored(tmp_path, capsys):
    """`evaluate --dataset qa.json --dataset-version 3` (a file has no versions), or a version beside --run's split,
    was ignored: every question of the file asked, the report naming no version. One line, exit 2, as `train` says."""
    from studio.__main__ import main

    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    for source, said in ((["--dataset", str(questions)], "error: qa.json is a file: it has no versions"),
                         (["--run", "faq"], "error: --dataset-version names a version of --dataset")):
        capsys.readouterr()
        code = main(["evaluate", "--model", "api:good-model", "--base-url", "http://127.0.0.1:9/v1", *source,
                     "--dataset-version", "3", "--out", str(tmp_path / "report.json")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith(said) and len(err.splitlines()) == 1, err
        assert not (tmp_path / "report.json").exists()


def test_a_version_a_workspace_dataset_does_not_have_names_the_ones_it_has(tmp_path, capsys):
    """`evaluate --dataset faq --dataset-version 9` (and `train`) said "pick one from its version list": the command line
    has none to pick from. It names the versions there are."""
    from studio.__main__ import main

    qa = [{"question": "How long is a match?", "answer": "Two halves."}, {"question": "Who rules?", "answer": "Referee."}]
    ds = store.create_dataset("Soccer 😀/QA", qa)
    store.save_version(ds.id, qa[:1], base_version=1, message="one record")
    said = "error: Dataset 'Soccer 😀/QA' has no version 9: it has v1 to v2, the latest v2."
    for argv in (["evaluate", "--model", "api:good-model", "--base-url", "http://127.0.0.1:9/v1", "--out",
                  str(tmp_path / "report.json")], ["train", "--base", "scratch", "--preset", "quick"]):
        capsys.readouterr()
        assert main([*argv, "--dataset", "Soccer 😀/QA", "--dataset-version", "9"]) == 2
        assert capsys.readouterr().err.strip() == said, argv
    assert not (tmp_path / "report.json").exists()


def test_an_extractive_model_on_questions_without_passages_is_refused_on_start_and_by_the_command_line(tmp_path,
                                                                                                       capsys):
    """An extractive model answers from a question's passage: on questions none of which has one, it was loaded (or
    asked) to fail every question alike, "no passage", found only in the results. One line on Start and exit 2."""
    from studio.__main__ import main

    said = ("api:qa:deepset/roberta-base-squad2 is an extractive model: it answers with a span of a question's passage, "
            "and none of these 2 questions has one: choose questions with passages (a \"context\" in each record), or "
            "leave it out.")
    qa = [{"question": "How long is a match?", "answer": "Two halves."}, {"question": "Who rules?", "answer": "Referee."}]
    store.create_dataset("Soccer QA", qa)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input("api:good-model\napi:qa:deepset/roberta-base-squad2").run()
    at.text_input(key="evaluate.base_url").input("http://127.0.0.1:9/v1").run()  # neither needs a token
    at.text_input(key="evaluate.qa_endpoint").input("http://127.0.0.1:9/qa").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    errors = [e.value.replace(NO_LINK, "").replace("\u2060", "").replace("\\", "") for e in at.error]
    assert errors == [said]
    assert eval_results.list_evals() == []
    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps(qa))
    capsys.readouterr()
    code = main(["evaluate", "--model", "api:good-model", "--model", "api:qa:deepset/roberta-base-squad2",
                 "--base-url", "http://127.0.0.1:9/v1", "--qa-endpoint", "http://127.0.0.1:9/qa",
                 "--dataset", str(questions), "--out", str(tmp_path / "report.json")])
    assert (code, capsys.readouterr().err.strip()) == (2, f"error: {said}")
    assert not (tmp_path / "report.json").exists()
    # one question with a passage: it goes on (the other is its failed cell, "no passage")
    questions.write_text(json.dumps([{**qa[0], "context": "A match is two halves of 45 minutes."}, qa[1]]))
    from studio.evaluate import runner
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.questions import load_questions

    cfg = EvalConfig(models=("api:qa:deepset/roberta-base-squad2",), dataset_file=str(questions),
                     qa_endpoint="http://127.0.0.1:9/qa")
    runner.check_passages(cfg, load_questions(cfg))


@pytest.mark.parametrize(("flag", "name", "said"), [("--html", "report.json", "--html {} names a JSON file: end the HTML "
                                                     "report's name in .html."),
                                                    ("--csv", "report.html", "--csv {} names an HTML file: end the CSV "
                                                     "report's name in .csv.")])
def test_a_report_flag_given_another_format_s_name_is_refused_not_written_in_that_format(flag, name, said, tmp_path,
                                                                                         capsys):
    """`--html report.json` wrote the JSON report, `--csv report.html` the HTML one (each file's format by its name),
    without a word: the HTML report asked for was nowhere. One line, exit 2, before any question."""
    from studio.__main__ import main

    questions = tmp_path / "qa.json"
    questions.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    target = tmp_path / name
    capsys.readouterr()
    code = main(["evaluate", "--model", "api:good-model", "--base-url", "http://127.0.0.1:9/v1",
                 "--dataset", str(questions), flag, str(target)])
    assert (code, capsys.readouterr().err.strip()) == (2, "error: " + said.format(target))
    assert not target.exists() and eval_results.list_evals() == []


def test_a_training_file_that_cannot_be_read_is_named_in_its_line(tmp_path, capsys):
    """`evaluate --dataset qa.json --train train.json` with the training file not a list of records said "The file
    holds one record, not a list: ..." as if it were the questions': the line names it and its role. The questions'
    file keeps the words `dataset import` and `train` say of it (tests/test_layout.py)."""
    from studio.__main__ import main

    good, bad = tmp_path / "qa.json", tmp_path / "train.json"
    good.write_text(json.dumps([{"question": "How long is a match?", "answer": "Two halves."}]))
    bad.write_text(json.dumps({"question": "How long is a match?"}))
    for files, said in (([good, bad], "error: train.json (the training questions): The file holds one record"),
                        ([bad, good], "error: The file holds one record")):  # import's and train's words
        capsys.readouterr()
        code = main(["evaluate", "--model", "api:good-model", "--base-url", "http://127.0.0.1:9/v1", "--dataset",
                     str(files[0]), "--train", str(files[1]), "--out", str(tmp_path / "report.json")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith(said) and len(err.splitlines()) == 1, err
        assert not (tmp_path / "report.json").exists()


def test_a_run_without_held_out_questions_names_the_flag_to_use_on_the_command_line(tmp_path, capsys):
    """`evaluate --run <id>` on a run whose test split is empty said "pick a dataset instead", the page's words:
    the command line has no dataset to pick, it has --dataset. The page keeps its words."""
    from studio.__main__ import main
    from studio.evaluate import questions as eval_questions
    from studio.evaluate.config import EvalConfig
    from studio.train import runs

    ds = store.create_dataset("Soccer QA", [{"question": "How long is a match?", "answer": "Two halves."}])
    folder = runs.run_dir("20261122-000000-all")
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": folder.name, "name": "all", "created": "2026-11-22T00:00:00+00:00", "config": {},
                            "base": "tiny", "dataset": {"id": ds.id, "name": ds.name, "version": 1,
                                                        "sha256": ds.latest.sha256, "count": 1}})
    runs.write_split(folder, {"train": [0], "test": []})
    code = main(["evaluate", "--model", "api:good-model", "--base-url", "http://127.0.0.1:9/v1", "--run", folder.name,
                 "--out", str(tmp_path / "report.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == (f"error: Run '{folder.name}' has no held-out questions (its test split is empty or its dataset was "
                   "deleted): evaluate on a dataset instead (--dataset NAME or FILE).")
    assert not (tmp_path / "report.json").exists()
    with pytest.raises(Exception, match="pick a dataset instead"):  # what the page says
        eval_questions.load_questions(EvalConfig(models=("m",), run_id=folder.name))
