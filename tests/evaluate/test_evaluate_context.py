"""A dataset whose records carry a passage, evaluated end to end: an extractive model (local and through
the loopback stand-in for Inference Providers) beside a generative one asked with the passage."""

from __future__ import annotations

import json
from pathlib import Path

from chat_servers import QAServer
from qa_models import NAME, QUESTION

from studio.evaluate import results as eval_results
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.models import generate, prompt_format

RECORDS = [
    {"question": QUESTION, "answer": NAME, "context": f"Meu nome é {NAME} e estou gravando uma aula sobre Hugging Face."},
    {"question": "Onde está a aula?", "answer": "sobre Hugging Face",
     "context": "A aula é sobre Hugging Face e modelos pequenos."},
    {"question": "How long is a match?", "answer": "Two halves of 45 minutes."},  # no passage
]


def test_extractive_and_generative_models_side_by_side_on_passages(trained_qa: Path, tiny_gpt2: Path, tmp_path: Path):
    data = tmp_path / "aula.json"
    data.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    with QAServer().running() as server:
        cfg = EvalConfig(models=(str(trained_qa), "api:qa:deepset/roberta-base-squad2", str(tiny_gpt2)),
                         dataset_file=str(data), max_new_tokens=8, qa_endpoint=server.url("qa"))
        result = evaluate.run_evaluation(cfg, token="hf_not_for_loopback", save=None)
        sent = server.bodies
    assert result.status == "finished", result.error
    local, hosted, gen = (m.label for m in result.models)
    assert [m.task for m in result.models] == ["extractive", "extractive", "chat"]
    first, second, plain = result.rows
    # the local extractive model finds the name, as a span of the passage with its score
    assert first.answers[local] == NAME and first.scores[local]["f1"] == 1.0
    assert first.scores[local]["in_passage"] == 1.0 and first.spans[local].score > 0.5
    span = first.spans[local]
    assert first.context[span.start:span.end] == NAME
    # the hosted one got the question and its passage in the service's request shape
    assert {"inputs": {"question": QUESTION, "context": RECORDS[0]["context"]}} in sent
    assert first.answers[hosted] == NAME and second.answers[hosted] == "sobre"
    # a question without a passage: the extractive models say why, the generative one answers it
    assert "no passage" in plain.errors[local] and "no passage" in plain.errors[hosted]
    assert gen in plain.answers and "in_passage" not in plain.scores[gen]
    # the generative model is scored on whether its answer occurs in the passage
    assert first.scores[gen]["in_passage"] in (0.0, 1.0)
    summary = eval_results.summarize(result)
    assert summary[local]["in_passage"] == 1.0 and "in_passage" in summary[gen]
    assert any("come with a passage" in n for n in result.notes)


def test_generative_prompts_carry_the_passage(tiny_gpt2: Path, tiny_llama: Path):
    from studio.models import loading

    for folder in (tiny_gpt2, tiny_llama):
        lm = loading.load_causal_lm(str(folder), device="cpu")
        text = generate.prompts(lm, [QUESTION], [RECORDS[0]["context"]])[0]
        assert RECORDS[0]["context"] in text and text.index(RECORDS[0]["context"]) < text.index(QUESTION)
        assert generate.prompts(lm, [QUESTION])[0] == generate.prompts(lm, [QUESTION], [None])[0]
        assert "Context:" not in generate.prompts(lm, [QUESTION])[0]
    assert prompt_format.split_user_content(prompt_format.user_content(QUESTION, "x")) == (QUESTION, "x")


def test_chat_and_evaluate_cut_a_long_prompt_by_one_rule(tiny_phi3: Path, tmp_path: Path, monkeypatch, offline):
    """How much of a prompt fits (the context less the answer's room) was written twice, in Chat and in Evaluate: a
    change to one left the other reading a different part of the same question. Both now ask ``generate.fit_prompt``,
    so a changed room (here a quarter of the context) reaches Chat's cut, Evaluate's answers and Evaluate's note."""
    from studio.chat.base import ChatParams, StreamStats
    from studio.chat.local import LocalBackend
    from studio.models import loading

    monkeypatch.setattr(generate, "answer_room", lambda limit, max_new_tokens: min(max_new_tokens, limit // 4))
    asked = []  # (prompt tokens, new tokens) of Evaluate's generate call
    real = generate._generate

    def seen(model, batch, kwargs):
        asked.append((batch["input_ids"].shape[1], kwargs["max_new_tokens"]))
        return real(model, batch, kwargs)

    monkeypatch.setattr(generate, "_generate", seen)
    lm = loading.load_causal_lm(str(tiny_phi3), device="cpu")
    limit = generate.context_limit(lm.model)
    question = "How long is a match? " * limit
    chat = LocalBackend(lm)
    inputs, new = chat.fit([{"role": "user", "content": question}], 10 * limit)
    assert (inputs["input_ids"].shape[1], new) == (limit - limit // 4, limit // 4)
    chat.complete([{"role": "user", "content": question}], ChatParams(max_new_tokens=10 * limit, temperature=0),
                  StreamStats())
    assert f"only its last {limit - limit // 4:,} tokens were read" in " ".join(chat.notes)

    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": question, "answer": "Two halves."}]))
    result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_phi3),), dataset_file=str(data),
                                                max_new_tokens=10 * limit, batch_size=1, perplexity=False))
    assert result.status == "finished", result.error
    assert asked == [(limit - limit // 4, limit // 4)]  # the same part of the question as Chat, the same room
    assert f"only the last {limit - limit // 4:,} of its " in result.rows[0].notes[str(tiny_phi3)]
