"""Evaluate asks a chat model as Chat does: with Chat's default system prompt (not the template's own), kept in the
evaluation's config and its report; a trained run as it was trained, with none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.chat.base import DEFAULT_PRESET, SYSTEM_PRESETS
from studio.evaluate import report
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.models import generate
from studio.models.prompt_format import DEFAULT_SYSTEM
from tests.evaluate.test_evaluate import _stub_api

RECORDS = [{"question": "How long is a match?", "answer": "Two halves of 45 minutes."}]


@pytest.fixture
def answerer(tmp_path: Path):
    """An API model that answers "Two halves." and keeps each request's body, and a one-question dataset file:
    (bodies, base URL, dataset file)."""
    bodies: list[dict] = []

    def reply(body):
        bodies.append(body)
        return 200, "Two halves."

    server, url = _stub_api(reply)
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    try:
        yield bodies, url, data
    finally:
        server.shutdown()


def _asked(monkeypatch) -> list[str]:
    """The texts a local model is given (left-padded into its batch), as they reach it."""
    seen: list[str] = []
    encode = generate.encode_left_padded

    def spy(tokenizer, texts, device):
        seen.extend(texts)
        return encode(tokenizer, texts, device)

    monkeypatch.setattr(generate, "encode_left_padded", spy)
    return seen


def test_local_chat_model_is_asked_with_chats_system_prompt(tiny_llama: Path, tmp_path: Path, monkeypatch):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    seen = _asked(monkeypatch)
    result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_llama),), dataset_file=str(data), max_new_tokens=2,
                                                perplexity=False), save=None)
    assert result.status == "finished", result.error
    assert SYSTEM_PRESETS[DEFAULT_PRESET] == DEFAULT_SYSTEM  # one prompt for both pages
    assert len(seen) == 1 and DEFAULT_SYSTEM in seen[0]
    assert seen[0].index(DEFAULT_SYSTEM) < seen[0].index(RECORDS[0]["question"])
    assert result.config["system_prompt"] == DEFAULT_SYSTEM
    assert DEFAULT_SYSTEM in report.to_html(result)
    seen.clear()  # one set by the person is the one sent; an emptied one sends none
    evaluate.run_evaluation(EvalConfig(models=(str(tiny_llama),), dataset_file=str(data), max_new_tokens=2,
                                       perplexity=False, system_prompt="Answer in Portuguese."), save=None)
    evaluate.run_evaluation(EvalConfig(models=(str(tiny_llama),), dataset_file=str(data), max_new_tokens=2,
                                       perplexity=False, system_prompt=""), save=None)
    assert "Answer in Portuguese." in seen[0] and DEFAULT_SYSTEM not in seen[0]
    assert "Answer in Portuguese." not in seen[1] and DEFAULT_SYSTEM not in seen[1]


def test_api_chat_model_gets_the_system_prompt_first(answerer):
    bodies, url, data = answerer
    result = evaluate.run_evaluation(EvalConfig(models=("api:answerer",), dataset_file=str(data), api_base_url=url),
                                     save=None)
    assert result.status == "finished", result.error
    assert bodies[0]["messages"][0] == {"role": "system", "content": DEFAULT_SYSTEM}
    assert bodies[0]["messages"][1]["role"] == "user"


def test_trained_run_is_asked_as_trained_and_old_evaluations_said_none():
    cfg = EvalConfig(models=("run:faq", "HuggingFaceTB/SmolLM2-135M-Instruct"), dataset_file="x.json")
    assert cfg.system_for("run:faq") == "" and cfg.system_for("HuggingFaceTB/SmolLM2-135M-Instruct") == DEFAULT_SYSTEM
    old = EvalConfig.from_dict({"models": ["distilgpt2"], "dataset_file": "x.json"})  # saved before the setting
    assert old.system_prompt == ""
    assert EvalConfig.from_dict(cfg.to_dict()).system_prompt == DEFAULT_SYSTEM


def _run_and_chat_model_result():
    """A finished evaluation of a trained run (asked with no system prompt) beside an API chat model (asked with the
    evaluation's)."""
    from studio.evaluate.result import QuestionRow

    result = evaluate.new_result(EvalConfig(models=("run:faq", "api:m"), dataset_file="qa.json",
                                            system_prompt="Answer in one sentence."))
    result.status = "finished"
    run_label, api_label = result.labels
    result.rows = [QuestionRow(index=0, question=RECORDS[0]["question"], reference=RECORDS[0]["answer"],
                               answers={run_label: "Two halves.", api_label: "Ninety minutes."},
                               scores={run_label: {"f1": 0.5}, api_label: {"f1": 0.2}})]
    return result


def test_the_report_says_a_trained_run_was_asked_with_no_system_prompt():
    """The report said "system prompt: 'Answer in one sentence.'" for the whole evaluation, the run's answers too."""
    result = _run_and_chat_model_result()
    run_label, api_label = result.labels
    page = report.to_html(result)
    meta = next(line for line in page.splitlines() if line.startswith('<p class="meta">started'))
    assert f"{run_label}: none (asked as trained)" in meta
    assert f"{api_label}: &#x27;Answer in one sentence.&#x27;" in meta
    alone = evaluate.new_result(EvalConfig(models=("api:m",), dataset_file="qa.json", system_prompt="Be kind."))
    assert "system prompt: &#x27;Be kind.&#x27;" in report.to_html(alone)  # one model, one prompt: said once
    runs = evaluate.new_result(EvalConfig(models=("run:faq",), dataset_file="qa.json"))
    assert "Be kind." not in report.to_html(runs) and "none (asked as trained)" in report.to_html(runs)


def test_the_page_says_which_system_prompt_each_model_of_a_finished_evaluation_got(tmp_path):
    from streamlit.testing.v1 import AppTest

    from studio.evaluate import results as eval_results
    from tests.evaluate.test_evaluate_page import PAGE

    result = _run_and_chat_model_result()
    eval_results.save(eval_results.refresh_summaries(result))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    said = [c.value for c in at.caption if c.value.startswith("System prompt:")]
    assert len(said) == 1 and "none (asked as trained)" in said[0] and "Answer in one sentence." in said[0], said


def test_the_command_sets_the_system_prompt_or_none(answerer, tmp_path: Path):
    """The page could edit the system prompt, the command could not: chat models were always told Chat's default."""
    from studio.__main__ import main

    bodies, url, data = answerer
    common = ["evaluate", "--dataset", str(data), "--model", "api:answerer", "--base-url", url, "--force"]
    assert main([*common, "--system-prompt", "Answer in Portuguese.", "--out", str(tmp_path / "a.json")]) == 0
    assert main([*common, "--no-system-prompt", "--out", str(tmp_path / "b.json")]) == 0
    assert main([*common, "--system-prompt", "", "--out", str(tmp_path / "c.json")]) == 0
    assert bodies[0]["messages"][0] == {"role": "system", "content": "Answer in Portuguese."}
    assert [b["messages"][0]["role"] for b in bodies[1:]] == ["user", "user"]
    saved = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert saved["config"]["system_prompt"] == "Answer in Portuguese."


def test_a_model_without_a_chat_template_is_said_to_get_no_system_prompt(tiny_gpt2, tmp_path, capsys, offline,
                                                                        monkeypatch):
    """A GPT-2-like base is asked with a plain prompt, which has no system turn: the report, the saved result and the
    command's summary named Chat's system prompt for it anyway."""
    from streamlit.testing.v1 import AppTest

    from studio.__main__ import main
    from studio.evaluate import results as eval_results
    from tests.evaluate.test_evaluate_page import PAGE

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    seen = _asked(monkeypatch)
    html = tmp_path / "r.html"
    code = main(["evaluate", "--dataset", str(data), "--model", str(tiny_gpt2), "--max-new-tokens", "2",
                 "--no-perplexity", "--out", str(tmp_path / "r.json"), "--html", str(html)])
    err = capsys.readouterr().err
    assert code == 0
    assert seen and all(DEFAULT_SYSTEM not in text for text in seen)  # what it was really given
    said = "none (no chat template: asked with a plain prompt)"
    assert f"system prompt: {said}" in err.splitlines() and DEFAULT_SYSTEM not in err
    page = html.read_text(encoding="utf-8")
    assert said in page and DEFAULT_SYSTEM not in page
    saved = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert saved["config"]["system_prompt"] == DEFAULT_SYSTEM  # the setting as chosen, kept for the chat models
    assert saved["models"][0]["chat_template"] is False
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption if c.value.startswith("System prompt:")]
    assert len(captions) == 1 and said in captions[0] and DEFAULT_SYSTEM not in captions[0], captions
    # beside a chat model, each is named with what it got
    both = evaluate.new_result(EvalConfig(models=(str(tiny_gpt2), "api:m"), dataset_file="qa.json"))
    both.models[0].chat_template = False
    line = eval_results.describe_system(both)
    assert f"{both.labels[0]}: {said}" in line and f"{both.labels[1]}: {DEFAULT_SYSTEM!r}" in line
    # a result written before the studio recorded the template reads as it did
    old = eval_results.EvalResult.from_json({**saved, "models": [{k: v for k, v in saved["models"][0].items()
                                                                  if k != "chat_template"}]})
    assert old.models[0].chat_template is None and DEFAULT_SYSTEM in eval_results.describe_system(old)


def test_a_run_asked_as_trained_is_said_to_get_its_templates_default_system_prompt(tiny_llama, tmp_path, monkeypatch):
    """A LoRA run on SmolLM2 read "none (asked as trained)" on the page and in the report, though SmolLM2's chat
    template writes its own system prompt ("You are a helpful AI assistant named SmolLM, ...") into a conversation
    without one, and the run trained and was asked with it. The evaluation records it and says so."""
    from studio.evaluate import results as eval_results
    from studio.models.prompt_format import template_default_system
    from tests.models.test_export import _tokenizer, _with_default_system

    default = "You are a helpful AI assistant named Faq."
    assert template_default_system(_tokenizer(tiny_llama, _with_default_system(default))) == default
    from transformers import AutoTokenizer

    assert template_default_system(AutoTokenizer.from_pretrained(tiny_llama)) is None  # Phi-3.5's writes none
    result = _run_and_chat_model_result()
    saved = result.to_json()
    saved["models"][0]["template_system"] = default  # as the run's loaded tokenizer gives it
    back = eval_results.EvalResult.from_json(saved)
    run_label = back.labels[0]
    assert back.models[0].template_system == default
    line = eval_results.describe_system(back)
    assert f"{run_label}: none (asked as trained); its chat template writes its own default, {default!r}" in line
    model = tmp_path / "model"  # the runner records it from the model it loaded
    import shutil

    shutil.copytree(tiny_llama, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": _with_default_system(default)}))
    (model / "chat_template.jinja").unlink(missing_ok=True)
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    ran = evaluate.run_evaluation(EvalConfig(models=(str(model),), dataset_file=str(data), max_new_tokens=2,
                                             perplexity=False, system_prompt=""), save=None)
    assert ran.status == "finished", ran.error
    assert ran.models[0].template_system == default and repr(default) in eval_results.describe_system(ran)
