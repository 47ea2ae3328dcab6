"""Batches filled to a token budget (``TrainConfig.batch_tokens``): the sampler's contract on plain lists, then
real runs on tiny models: the steps and tokens they count, the same losses as records-per-step batches where
the budget makes the same batches (padded and packed), and a resume mid-epoch that continues the same way."""

from __future__ import annotations

import json
import random

import pytest

from studio import jobs
from studio.errors import TrainingError
from studio.train import batches, runs
from studio.train import loop as train
from tests.conftest import build_tiny_causal_lm
from tests.train.test_packing import RECORDS as FOUR
from tests.train.test_packing import _padded_then_packed

# Ten records of one length (33 tokens each with the tiny tokenizer), different content: any budget makes
# batches of a known number of records, padded or packed alike.
SAME_LENGTH = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."} for i in range(10)]


@pytest.mark.parametrize("packed", [False, True])
def test_every_batch_keeps_to_the_budget_and_every_record_is_in_exactly_one_per_epoch(packed):
    rng = random.Random(7)
    lengths = [rng.randint(3, 120) for _ in range(300)] + [400, 1000]  # two longer than the budget
    budget = 256
    sampler = batches.TokenBudgetSampler(lengths, budget, packed=packed, seed=3)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        plan = list(sampler)
        assert sorted(i for b in plan for i in b) == list(range(len(lengths)))  # each record once, none dropped
        assert len(plan) == len(sampler)  # the Trainer's steps per epoch, the same every epoch
        for b in plan:
            sizes = [lengths[i] for i in b]
            spent = sum(sizes) if packed else len(sizes) * max(sizes)
            assert spent <= budget or len(b) == 1, (epoch, sizes)
        assert [300] in plan and [301] in plan  # a record over the budget is a batch of its own


def test_short_records_go_many_to_a_step_and_long_ones_few():
    lengths = [8] * 64 + [100] * 6
    plan = batches.plan(lengths, 400, seed=0)
    # 400 // 8 = 50 short records a step (then the other 14), 400 // 100 = 4 long ones (then the other 2)
    assert sorted((len(b), lengths[b[0]]) for b in plan) == [(2, 100), (4, 100), (14, 8), (50, 8)]
    assert all(len({lengths[i] for i in b}) == 1 for b in plan)  # grouped by length: no short record padded to 100
    packed = batches.plan([8] * 60 + [30] * 10, 400, packed=True)
    assert sorted(len(b) for b in packed) == [20, 50]  # 50 x 8; then 10 x 8 + 10 x 30 = 380: real tokens counted


def test_the_order_follows_the_seed_and_changes_every_epoch():
    lengths = [random.Random(1).randint(5, 60) for _ in range(200)]
    first = batches.plan(lengths, 300, seed=42, epoch=0)
    assert batches.plan(lengths, 300, seed=42, epoch=0) == first  # another process, a resumed run: the same batches
    assert batches.plan(lengths, 300, seed=42, epoch=1) != first
    assert batches.plan(lengths, 300, seed=43, epoch=0) != first
    with pytest.raises(ValueError):
        batches.plan(lengths, 0)


def _base(tmp_path, arch="gpt2"):
    """A tiny model without dropout: runs whose batches are the same must give the same losses."""
    base = build_tiny_causal_lm(tmp_path / arch, arch=arch)
    conf = json.loads((base / "config.json").read_text())
    conf.update({k: 0.0 for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop") if k in conf})
    (base / "config.json").write_text(json.dumps(conf))
    return base


def _lengths(base, records, max_length=512):
    from transformers import AutoTokenizer

    from studio.train import recipe

    tok = AutoTokenizer.from_pretrained(base)
    return [len(e.input_ids) for e in recipe.encode_records(tok, records, range(len(records)), max_length)]


def test_a_budget_run_counts_its_steps_and_tokens_from_the_batches_it_makes(tmp_path, offline):
    base = _base(tmp_path)
    n = _lengths(base, SAME_LENGTH)[0]
    assert set(_lengths(base, SAME_LENGTH)) == {n}
    cfg = train.TrainConfig(base=str(base), learning_rate=1e-3, batch_size=8, batch_tokens=3 * n, max_length=n,
                            epochs=2, test_fraction=0.2, logging_steps=1, save_total_limit=1)
    out = tmp_path / "run"
    result = train.run_job(cfg, SAME_LENGTH, out, dataset={"name": "same"})
    assert result.state == "finished"
    rows = [r for r in runs.read_metrics(out) if "loss" in r]
    # 8 training records, 3 a step (not batch_size 8): 3 steps an epoch (3 + 3 + 2), 2 epochs
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6] and result.steps == 6
    assert rows[-1]["tokens_seen"] == 2 * 8 * n  # every real token of both epochs, once
    assert [r["step"] for r in runs.read_metrics(out) if "eval_loss" in r] == [3, 6]  # after each epoch
    assert jobs.read_status(out).progress == 1.0


def test_a_budget_that_makes_the_plain_batches_trains_exactly_like_them_padded_and_packed(tmp_path, monkeypatch,
                                                                                            offline):
    """Four records of different lengths, one batch an epoch either way: batch_size 4, or a budget of 4 x the
    longest (padded: exactly full; packed: the four in one row). The same loss at every step."""
    base = _base(tmp_path)
    lengths = _lengths(base, FOUR)
    plain = train.TrainConfig(base=str(base), learning_rate=1e-3, batch_size=4, epochs=3, test_fraction=0.0,
                              logging_steps=1, eval_per_epoch=False, max_length=max(lengths))
    budget = plain.replace(batch_size=1, batch_tokens=4 * max(lengths))  # batch_size plays no part with a budget
    a = _padded_then_packed(plain, FOUR, tmp_path / "plain", monkeypatch)
    b = _padded_then_packed(budget, FOUR, tmp_path / "budget", monkeypatch)
    for packed in (False, True):
        losses = {name: [r["loss"] for r in runs[packed] if "loss" in r] for name, runs in (("plain", a), ("budget", b))}
        assert len(losses["budget"]) == len(losses["plain"]) == 3, packed
        assert losses["budget"] == pytest.approx(losses["plain"], rel=1e-4), packed
        assert [r["tokens_seen"] for r in b[packed] if "loss" in r] == [sum(lengths) * k for k in (1, 2, 3)]


def test_padded_and_packed_budget_runs_make_the_same_batches_of_equal_length_records(tmp_path, monkeypatch, offline):
    """Where records are all one length, records x longest is their real tokens: the same batches (several an
    epoch, in the same order), so the same loss at every step, padded or packed."""
    base = _base(tmp_path)
    n = _lengths(base, SAME_LENGTH)[0]
    cfg = train.TrainConfig(base=str(base), learning_rate=1e-3, batch_tokens=4 * n, max_length=n, epochs=2,
                            test_fraction=0.0, logging_steps=1, eval_per_epoch=False)
    metrics = _padded_then_packed(cfg, SAME_LENGTH, tmp_path, monkeypatch)
    losses = {packed: [r["loss"] for r in rows if "loss" in r] for packed, rows in metrics.items()}
    assert len(losses[False]) == len(losses[True]) == 6  # 10 records, 4 a step: 3 steps an epoch
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_a_budget_run_stopped_mid_epoch_resumes_with_the_batches_it_would_have_had(tmp_path, offline):
    from tests.train.test_train import RECORDS

    base = _base(tmp_path)
    lengths = _lengths(base, RECORDS)
    cfg = train.TrainConfig(base=str(base), learning_rate=1e-3, batch_tokens=2 * max(lengths), max_length=max(lengths),
                            epochs=2, test_fraction=0.0, logging_steps=1, eval_per_epoch=False)
    whole = tmp_path / "whole"
    assert train.run_job(cfg, RECORDS, whole, dataset={"name": "tiny"}).state == "finished"
    per_epoch = len(batches.plan(lengths, cfg.batch_tokens))
    assert per_epoch >= 3  # so that a stop can land mid-epoch

    out = tmp_path / "stopped"

    def stop(fields: dict) -> None:
        if fields["step"] >= per_epoch:  # asked at the first epoch's end: stops one step into the second
            jobs.request_stop(out)

    stopped = train.run_job(cfg, RECORDS, out, dataset={"name": "tiny"}, on_progress=stop)
    assert stopped.state == "stopped" and per_epoch < stopped.steps < 2 * per_epoch  # mid-way through epoch 2
    resumed = train.run_job(cfg, RECORDS, out, dataset={"name": "tiny"}, resume=True)
    assert resumed.state == "finished" and resumed.steps == 2 * per_epoch
    a = [(r["step"], r["loss"], r["tokens_seen"]) for r in runs.read_metrics(whole) if "loss" in r]
    b = [(r["step"], r["loss"], r["tokens_seen"]) for r in runs.read_metrics(out) if "loss" in r]
    assert [s for s, _, _ in b] == [s for s, _, _ in a]
    assert [t for _, _, t in b] == [t for _, _, t in a]  # the same records in each step, tokens and all
    assert [x for _, x, _ in b] == pytest.approx([x for _, x, _ in a], rel=1e-4)


def test_a_budget_below_max_length_is_refused_with_the_remedy(tmp_path, offline, capsys):
    with pytest.raises(TrainingError, match=r"Tokens per step 256 is below Max length 512: .* Use at least 512"):
        train.TrainConfig(batch_tokens=256)
    assert train.TrainConfig(batch_tokens=512).batch_tokens == 512
    assert train.TrainConfig(batch_tokens=256, max_length=256).batch_tokens == 256
    cfg = train.TrainConfig(batch_tokens=16384)
    assert train.TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert train.TrainConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "batch_tokens"}).batch_tokens == 0

    from studio.__main__ import main

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(SAME_LENGTH))
    assert main(["train", "--dataset", str(data), "--preset", "quick", "--batch-tokens", "100",
                 "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err.startswith("error: Tokens per step 100 is below Max length 128: ")
    assert main(["train", "--dataset", str(data), "--preset", "quick", "--batch-tokens", "-1",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "error: Tokens per step -1 is out of range: use 0 (off) up to 10000000." in capsys.readouterr().err
    assert not (tmp_path / "bad" / "run.json").exists()
    out = tmp_path / "cli"
    assert main(["train", "--dataset", str(data), "--preset", "quick", "--batch-tokens", "256", "--epochs", "1",
                 "--test-fraction", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "256 tokens per step" in printed and "finished:" in printed
    assert runs.load_run_dir(out).config["batch_tokens"] == 256
