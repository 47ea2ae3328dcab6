"""Settings described once (studio.settings): every command's --help works, every TrainConfig field has a
CLI flag that reaches the config, every bound is checked in one line, and the Train page refuses
what lies outside the config's ranges."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from studio import settings
from studio.__main__ import build_parser
from studio.commands import train as train_cmd
from studio.errors import TrainingError
from studio.evaluate.config import EvalConfig
from studio.train.config import TrainConfig
from studio.ui.numbers import bound as _bound
from studio.ui.numbers import out_of_range
from tests.conftest import REPO, train_page

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse keeps them there


@pytest.mark.parametrize("command", COMMANDS)
def test_help_works_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "usage: python -m studio " + command in capsys.readouterr().out


def test_train_help_in_a_real_process_shows_every_setting():
    out = subprocess.run([sys.executable, "-m", "studio", "train", "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "a few % of the" in out.stdout  # the "%" that crashed argparse's formatting, shown as written
    for f in dataclasses.fields(TrainConfig):
        assert (settings.flag(TrainConfig, f.name) if f.name != "base" else "--base") in out.stdout


def _other_value(name: str):
    """A valid value for field ``name`` different from its default."""
    default = getattr(TrainConfig(), name)
    typ = settings.field_type(TrainConfig, name)
    if typ is bool:
        return not default
    choices = settings.choices(TrainConfig, name)
    if choices:
        return next(c for c in choices if c != default)
    if typ is str:
        return "q_proj,v_proj"
    lo, hi = settings.bounds(TrainConfig, name)
    return hi if default != hi else lo


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(TrainConfig) if f.name != "base"])
def test_each_field_flag_reaches_the_config(name):
    value = _other_value(name)
    flag = settings.flag(TrainConfig, name)
    argv = [f"--{'' if value else 'no-'}{flag[2:]}"] if isinstance(value, bool) else [flag, str(value)]
    args = build_parser().parse_args(["train", "--dataset", "x.json", "--preset", "tutorial", "--base", "distilgpt2",
                                      *(["--method", "lora"] if name.startswith("lora") else []), *argv])
    cfg = train_cmd._config(args)
    assert getattr(cfg, name) == value
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(TrainConfig)
                                  if settings.bounds(TrainConfig, f.name) != (None, None)])
def test_each_bound_is_checked_in_one_line(name):
    lo, hi = settings.bounds(TrainConfig, name)
    assert TrainConfig(**{name: lo}) and TrainConfig(**{name: hi})  # both ends are allowed
    for bad in (lo - (1 if isinstance(lo, int) else lo or 0.01), hi * 2 + 1):
        with pytest.raises(TrainingError) as info:
            TrainConfig(**{name: bad})
        assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_a_bad_flag_value_is_one_line_exit_2(tmp_path):
    data = tmp_path / "d.json"
    data.write_text('[{"question": "q", "answer": "a"}]', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "studio", "train", "--dataset", str(data), "--base", "scratch",
                          "--lr-scheduler", "triangular"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: Unknown schedule 'triangular': choose linear, cosine, constant, "
                                  "constant_with_warmup.")


def test_eval_settings_are_described_once_too():
    for name in ("max_new_tokens", "batch_size", "api_concurrency", "leakage_threshold", "semantic_threshold"):
        lo, hi = settings.bounds(EvalConfig, name)
        base = {"models": ("distilgpt2",), "dataset_file": "q.json"}
        assert EvalConfig(**base, **{name: hi})
        with pytest.raises(Exception) as info:
            EvalConfig(**base, **{name: hi * 2 + 1})
        assert "\n" not in str(info.value)


def test_the_train_page_refuses_what_is_outside_the_config_s_ranges(offline):
    """Each number box refuses a value past its TrainConfig field's bound, naming that range (the boxes carry no
    min/max of their own: the browser kept sending the last valid value past them)."""
    at = train_page("scratch")
    at.run()
    assert not at.exception
    seen = set()
    for i, box in enumerate(at.number_input):
        name = next((f.name for f in dataclasses.fields(TrainConfig) if settings.label(TrainConfig, f.name) == box.label),
                    None)
        if name is None:
            continue
        lo, hi = settings.bounds(TrainConfig, name)
        assert (box.min, box.max) == (None, None), name
        before = box.value
        wrong = hi * 2 + 1 if hi is not None else lo - 1
        wrong = int(wrong) if isinstance(before, int) else wrong
        at.number_input[i].set_value(wrong).run()
        assert out_of_range(box.label, wrong, lo, hi) in [e.value for e in at.error], name
        assert _bound(lo) in out_of_range(box.label, wrong, lo, hi)
        at.number_input[i].set_value(before).run()
        assert not at.error, name
        seen.add(name)
    assert {"learning_rate", "batch_size", "max_length", "test_fraction", "vocab_size"} <= seen
    schedule = at.selectbox(key="train.sch.scratch.full")
    assert tuple(schedule.options) == settings.choices(TrainConfig, "lr_scheduler")
