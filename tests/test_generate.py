"""Generation: batched greedy answers equal one-at-a-time answers; chat templates; reference perplexity."""

from __future__ import annotations

import math

import pytest

from studio import generate, models, recipe
from studio.errors import CancelledError

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
    ppl = generate.reference_perplexity(gpt2, [q, "Hi?"], [a, "Yes."])
    enc = recipe.encode_record(gpt2.tokenizer, q, a, 256)
    with torch.inference_mode():
        loss = gpt2.model(input_ids=torch.tensor([enc.input_ids]), labels=torch.tensor([enc.labels])).loss
    assert ppl[0] == pytest.approx(math.exp(loss.item()), rel=1e-4)
    assert len(ppl) == 2 and all(p > 1 for p in ppl)
