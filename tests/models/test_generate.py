"""Generation: batched greedy answers equal one-at-a-time answers; chat templates; reference perplexity."""

from __future__ import annotations

import math

import pytest

from studio.errors import CancelledError
from studio.models import generate
from studio.models import loading as models
from studio.train import recipe

QUESTIONS = [
    "How long is a match?",
    "What is a corner kick?",
    "How many players are on a team, including the goalkeeper and substitutes?",
    "Offside?",
]


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    return models.load_causal_lm(str(tiny_gpt2), device="cpu")


@pytest.fixture(scope="module")
def phi3(tiny_phi3):
    return models.load_causal_lm(str(tiny_phi3), device="cpu")


@pytest.mark.parametrize("which", ["gpt2", "phi3"])
def test_batched_greedy_equals_one_at_a_time(which, request):
    lm = request.getfixturevalue(which)
    batched = generate.generate_answers(lm, QUESTIONS, max_new_tokens=12, batch_size=4)
    single = [generate.answer(lm, q, max_new_tokens=12) for q in QUESTIONS]
    assert batched == single
    assert len(batched) == len(QUESTIONS)
    assert any(batched)  # a random tiny model still says something


def test_chat_model_gets_its_template_and_stops_at_end_of_turn(phi3):
    texts = generate.prompts(phi3, ["Hi?"])
    assert texts == ["<|user|>\nHi?<|end|>\n<|assistant|>\n"]
    vocab = phi3.tokenizer.get_vocab()
    assert vocab["<|end|>"] in generate.stop_token_ids(phi3.tokenizer)


def test_plain_model_gets_the_training_format(gpt2):
    assert generate.prompts(gpt2, ["Hi?"]) == ["Question: Hi?\nAnswer:"]


def test_sampling_is_reproducible_with_a_seed(gpt2):
    a = generate.generate_answers(gpt2, QUESTIONS[:2], max_new_tokens=10, do_sample=True, temperature=1.5, seed=7)
    b = generate.generate_answers(gpt2, QUESTIONS[:2], max_new_tokens=10, do_sample=True, temperature=1.5, seed=7)
    assert a == b


def test_progress_and_cancel(gpt2):
    seen = []
    generate.generate_answers(gpt2, QUESTIONS, max_new_tokens=2, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 4), (4, 4)]
    with pytest.raises(CancelledError):
        generate.generate_answers(gpt2, QUESTIONS, max_new_tokens=2, cancel=lambda: True)


def test_reference_perplexity_is_the_answer_only_loss(gpt2):
    import torch

    q, a = "How long is a match?", "Two halves of 45 minutes."
    from studio.evaluate.perplexity import reference_perplexity

    ppl = reference_perplexity(gpt2, [q, "Hi?"], [a, "Yes."])
    enc = recipe.encode_record(gpt2.tokenizer, q, a, 256)
    with torch.inference_mode():
        loss = gpt2.model(input_ids=torch.tensor([enc.input_ids]), labels=torch.tensor([enc.labels])).loss
    assert ppl[0] == pytest.approx(math.exp(loss.item()), rel=1e-4)
    assert len(ppl) == 2 and all(p > 1 for p in ppl)


def test_chat_and_evaluation_stop_the_same_model_on_the_same_token(tiny_phi3):
    """One stop-token rule: a token the model's generation config names ends the answer in both."""
    from studio.chat import ChatParams, StreamStats
    from studio.chat.local import LocalBackend
    from studio.models.loading import load_causal_lm

    lm = load_causal_lm(str(tiny_phi3))
    question = "How long is a match?"
    ids = lm.tokenizer(generate.prompts(lm, [question])[0], add_special_tokens=False, return_tensors="pt")["input_ids"]
    greedy = lm.model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=None,
                               pad_token_id=lm.tokenizer.eos_token_id)[0, ids.shape[1]:].tolist()
    stop_at = next(i for i, t in enumerate(greedy) if i >= 2 and t not in greedy[:i])  # a token seen first at i
    lm.model.generation_config.eos_token_id = greedy[stop_at]  # as a model's own config may say
    evaluated = generate.generate_answers(lm, [question], max_new_tokens=12)[0]
    stats = StreamStats()
    LocalBackend(lm).complete([{"role": "user", "content": question}], ChatParams(max_new_tokens=12, do_sample=False),
                              stats=stats)
    expected = lm.tokenizer.decode(greedy[:stop_at], skip_special_tokens=True).rstrip("\ufffd")  # no half character
    assert evaluated.strip() == expected.strip()
    assert stats.tokens == stop_at + 1  # chat generated the same tokens and stopped on that one too


def test_an_answer_cut_at_max_new_tokens_says_so_and_one_the_model_ended_does_not(tiny_phi3):
    """Train's ask panel and ``python -m studio ask`` printed an answer cut at max new tokens mid-sentence with no word
    of why (Chat says "Cut at N new tokens"): ``cut_at`` tells each answer that reached the limit from one the model
    ended."""
    import torch

    lm = models.load_causal_lm(str(tiny_phi3), device="cpu")
    question = QUESTIONS[0]
    cuts: list[int | None] = []
    cut = generate.generate_answers(lm, [question], max_new_tokens=5, cut_at=cuts)[0]
    assert cut and cuts == [5]  # the random tiny model never ends an answer by itself
    batch = generate.encode_left_padded(lm.tokenizer, generate.prompts(lm, [question]), "cpu")
    with torch.no_grad():
        first = int(lm.model.generate(**batch, max_new_tokens=1, do_sample=False)[0, -1])
    lm.model.generation_config.eos_token_id = first  # the model now ends its answer with its first token
    cuts = []
    assert generate.generate_answers(lm, [question, QUESTIONS[1]], max_new_tokens=5, batch_size=2, cut_at=cuts)[0] == ""
    assert cuts[0] is None and len(cuts) == 2


def test_a_model_that_cannot_name_its_embeddings_still_answers(gpt2, monkeypatch):
    """transformers' ``get_input_embeddings`` raises NotImplementedError for a layout it does not know (none of the
    tiny models here has one: the fault is faked on a sound model). The id check before generation let it out, a
    traceback instead of the answer; it now skips its check and the model answers as it would."""
    want = generate.generate_answers(gpt2, QUESTIONS[:1], max_new_tokens=4)

    def unknown_layout():
        raise NotImplementedError("`get_input_embeddings` not auto-handled for this model")

    monkeypatch.setattr(gpt2.model, "get_input_embeddings", unknown_layout)
    assert generate.generate_answers(gpt2, QUESTIONS[:1], max_new_tokens=4) == want


def test_a_chat_template_that_refuses_the_question_is_one_line_for_ask_and_evaluate(tiny_phi3, offline):
    """``ask`` and an evaluation render each question through the model's chat template: one that refuses it (its
    ``raise_exception``: a template past its load check, refusing a turn over its length) went up as jinja2's
    TemplateError, a traceback from ``python -m studio ask``."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from studio.errors import StudioError

    tok = AutoTokenizer.from_pretrained(str(tiny_phi3))
    tok.chat_template = ("{% for m in messages %}{% if m['content'] | length > 25 %}"
                         "{{ raise_exception('Turns are at most 25 characters') }}{% endif %}"
                         "{{ '<|' + m['role'] + '|>' + m['content'] }}{% endfor %}")
    lm = SimpleNamespace(tokenizer=tok, has_chat_template=True)
    assert generate.prompts(lm, ["Short?"]) == ["<|user|>Short?"]
    for system in ("", "Be brief."):  # asked alone, and with the system prompt moved into the question
        with pytest.raises(StudioError) as info:
            generate.prompts(lm, ["How long is a soccer match?"], system=system)
        assert str(info.value) == "The model's chat template rejected the conversation: Turns are at most 25 characters"
