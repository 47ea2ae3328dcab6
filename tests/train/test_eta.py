"""The training ETA follows the recent steps: a machine that gets busy, a resume, and evaluations still to
come all show in the seconds left. A synthetic clock drives the real callback; nothing here is timed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio import jobs
from studio.train import callbacks


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


class Run:
    """The callback as the Trainer drives it, on ``clock``; ``etas`` holds each step's ``eta_s``."""

    def __init__(self, out, max_steps: int, epochs: int = 1, step: int = 0, evals: bool = False,
                 eval_batches: int = 0) -> None:
        self.clock, self.etas = Clock(), []
        self.cb = callbacks.make(out, lambda f: self.etas.append(f["eta_s"]), eval_batches=eval_batches,
                                 clock=self.clock)
        self.args = SimpleNamespace(eval_strategy="epoch" if evals else "no", eval_steps=None,
                                    save_strategy="epoch", save_steps=500, logging_steps=10)
        self.per_epoch = max_steps // epochs
        self.state = SimpleNamespace(global_step=step, max_steps=max_steps, epoch=step / self.per_epoch,
                                     num_train_epochs=epochs, is_world_process_zero=True, num_input_tokens_seen=0)
        self.control = SimpleNamespace(should_training_stop=False, should_save=False)
        self.cb.on_train_begin(self.args, self.state, self.control)

    def steps(self, n: int, seconds: float) -> float | None:
        """``n`` steps of ``seconds`` each, with an epoch's evaluation and save where one ends; the last ETA."""
        for _ in range(n):
            self.clock.t += seconds
            self.state.global_step += 1
            self.state.epoch = self.state.global_step / self.per_epoch
            self.cb.on_step_end(self.args, self.state, self.control)
            if self.state.global_step % self.per_epoch == 0:
                if self.args.eval_strategy == "epoch":
                    self.clock.t += 30.0  # an evaluation takes 30 s
                    self.cb.on_evaluate(self.args, self.state, self.control)
                self.cb.on_save(self.args, self.state, self.control)
        return self.etas[-1]

    def close(self) -> None:
        self.cb.close()


def test_when_the_machine_gets_busy_the_eta_follows_the_slow_steps(tmp_path):
    run = Run(tmp_path, max_steps=30)
    fast = run.steps(10, 2.0)
    assert fast == pytest.approx(20 * 2.0)  # 20 steps left at 2 s
    slow = run.steps(2, 20.0)  # the machine got busy: steps take 20 s now
    assert slow >= 18 * 20.0  # never less than the steps left at the recent step time (the average said 90 s)
    run.close()
    assert jobs.read_status(tmp_path).eta_s == pytest.approx(slow)  # what the page reads


def test_a_resumed_run_counts_only_its_own_steps_and_their_time(tmp_path):
    run = Run(tmp_path, max_steps=30, step=20)  # resumed at step 20 of 30
    assert run.steps(1, 5.0) == pytest.approx(9 * 5.0)  # not 5 s / 70% done x 30% left = 2 s
    run.close()


def test_evaluations_left_are_counted_and_kept_out_of_the_step_time(tmp_path):
    run = Run(tmp_path, max_steps=20, epochs=2, evals=True, eval_batches=6)
    before = run.steps(1, 3.0)
    assert before == pytest.approx(19 * 3.0 + 2 * 6 * 3.0 / 3)  # two evaluations still to come, guessed from their batches
    run.steps(9, 3.0)  # the first epoch ends: its evaluation takes 30 s
    after = run.steps(1, 3.0)
    assert after == pytest.approx(9 * 3.0 + 30.0)  # the step after it still took 3 s; one 30 s evaluation left
    assert run.steps(9, 3.0) == pytest.approx(30.0)  # the last step ended; its epoch's evaluation is still to come
    run.close()


def test_the_throughput_after_an_evaluation_is_the_steps_rate_not_a_dip(tmp_path):
    """The Throughput chart's rate for the interval holding an evaluation and a save counted their 40 s as training
    time: a run at a steady 100 tokens/s drew a dip to a third of it at every epoch's end."""
    from studio.train import runs

    run = Run(tmp_path, max_steps=20, epochs=2, evals=True)
    for _ in range(20):  # 2 s a step, 200 tokens a step; a loss row every 5 steps, as the Trainer orders them
        run.clock.t += 2.0
        run.state.global_step += 1
        run.state.num_input_tokens_seen += 200
        run.state.epoch = run.state.global_step / run.per_epoch
        run.cb.on_step_end(run.args, run.state, run.control)
        if run.state.global_step % 5 == 0:
            run.cb.on_log(run.args, run.state, run.control, logs={"loss": 1.0, "learning_rate": 1e-4})
        if run.state.global_step % run.per_epoch == 0:
            run.clock.t += 30.0  # the epoch's evaluation
            run.cb.on_log(run.args, run.state, run.control, logs={"eval_loss": 1.0})
            run.cb.on_evaluate(run.args, run.state, run.control)
            run.clock.t += 10.0  # its checkpoint
            run.cb.on_save(run.args, run.state, run.control)
    run.close()
    rates = [r["tokens_per_s"] for r in runs.read_metrics(tmp_path) if "loss" in r]
    assert rates == [100.0] * 4, rates


def test_the_run_s_average_tokens_per_s_counts_its_steps_not_its_saves(tmp_path):
    """The average a finished or stopped run reports is over its training steps: a run stopped at step 1 said
    "4 tokens/s on average" and a finished 2-step LoRA run "3 tokens/s", their checkpoint saves and the best
    model's load counted as training time."""
    run = Run(tmp_path, max_steps=4, epochs=2, evals=True)
    run.clock.t += 5.0  # the Trainer's set-up after on_train_begin (the data loader): part of training
    for _ in range(4):  # 2 s a step, with an evaluation (30 s) and a save (10 s) at each epoch's end
        run.steps(1, 2.0)
    run.clock.t += 20.0  # the best model's load after the last step and its save
    run.cb.on_train_end(run.args, run.state, run.control)
    assert run.cb.trained_s == pytest.approx(5.0 + 4 * 2.0)  # not the 113 s from begin to end

    stopped = Run(tmp_path / "stopped", max_steps=4)
    stopped.steps(1, 2.0)  # Stop after step 1: its checkpoint takes 10 s
    stopped.clock.t += 10.0
    stopped.cb.on_save(stopped.args, stopped.state, stopped.control)
    stopped.cb.on_train_end(stopped.args, stopped.state, stopped.control)
    assert stopped.cb.trained_s == pytest.approx(2.0)
