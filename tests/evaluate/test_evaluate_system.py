"""Evaluate asks a chat model as Chat does: with Chat's default system prompt (not the template's own), kept in the
evaluation's config and its report; a trained run as it was trained, with none."""

from __future__ import annotations

import json
from pathlib import Path

from studio.chat.base import DEFAULT_PRESET, SYSTEM_PRESETS
from studio.evaluate import report
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.models import generate
from studio.models.prompt_format import DEFAULT_SYSTEM
from tests.evaluate.test_evaluate import _stub_api

RECORDS = [{"question": "How long is a match?", "answer": "Two halves of 45 minutes."}]


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


def test_api_chat_model_gets_the_system_prompt_first(tmp_path: Path):
    bodies: list[dict] = []

    def reply(body):
        bodies.append(body)
        return 200, "Two halves."

    server, url = _stub_api(reply)
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    try:
        result = evaluate.run_evaluation(EvalConfig(models=("api:answerer",), dataset_file=str(data), api_base_url=url),
                                         save=None)
    finally:
        server.shutdown()
    assert result.status == "finished", result.error
    assert bodies[0]["messages"][0] == {"role": "system", "content": DEFAULT_SYSTEM}
    assert bodies[0]["messages"][1]["role"] == "user"


def test_trained_run_is_asked_as_trained_and_old_evaluations_said_none():
    cfg = EvalConfig(models=("run:faq", "HuggingFaceTB/SmolLM2-135M-Instruct"), dataset_file="x.json")
    assert cfg.system_for("run:faq") == "" and cfg.system_for("HuggingFaceTB/SmolLM2-135M-Instruct") == DEFAULT_SYSTEM
    old = EvalConfig.from_dict({"models": ["distilgpt2"], "dataset_file": "x.json"})  # saved before the setting
    assert old.system_prompt == ""
    assert EvalConfig.from_dict(cfg.to_dict()).system_prompt == DEFAULT_SYSTEM
