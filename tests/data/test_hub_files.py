"""Which files of a Hub dataset repository an import reads, from its listing alone (nothing downloaded)."""

from __future__ import annotations

import pytest

from studio.data.hub_files import plan
from studio.errors import DatasetFormatError

CONVENTIONS = {"README.md": 100, "data/train-00000-of-00002.parquet": 10, "data/train-00001-of-00002.parquet": 20,
               "data/test-00000-of-00001.parquet": 5_000_000, "images/huge.tar": 9_000_000_000}
CONFIGS = {"configs": [
    {"config_name": "qa", "default": True, "data_files": [{"split": "train", "path": "qa/train-*.csv"},
                                                         {"split": "validation", "path": ["qa/dev.csv"]}],
     "sep": ";"},
    {"config_name": "raw", "data_files": "raw/**"},
    {"config_name": "folder", "data_dir": "raw"},
    {"config_name": "elsewhere", "data_files": "hf://datasets/other/repo/train.csv"},
]}
WITH_CONFIGS = {"README.md": 100, "qa/train-0.csv": 1, "qa/train-1.csv": 2, "qa/dev.csv": 3, "raw/a/b.jsonl": 7,
                "raw/.hidden.jsonl": 8}


def test_the_file_name_conventions_pick_the_split_s_files():
    files = plan(CONVENTIONS, None, None, None, "hub:o/n")
    assert (files.split, files.whole, files.size) == ("train", False, 30)
    assert files.describe() == "data/train-00000-of-00002.parquet, data/train-00001-of-00002.parquet"
    assert set(plan(CONVENTIONS, None, None, "test", "hub:o/n").files) == {"data/test-00000-of-00001.parquet"}


def test_the_readme_configs_pick_the_config_s_files_and_keep_its_settings():
    default = plan(WITH_CONFIGS, CONFIGS, None, None, "hub:o/n")
    assert (default.config, default.split, sorted(default.files)) == (None, "train", ["qa/train-0.csv", "qa/train-1.csv"])
    assert default.builder_kwargs == {"sep": ";"}  # the CSV's separator reaches load_dataset
    assert list(plan(WITH_CONFIGS, CONFIGS, "qa", "validation", "hub:o/n").files) == ["qa/dev.csv"]
    assert list(plan(WITH_CONFIGS, CONFIGS, "raw", None, "hub:o/n").files) == ["raw/a/b.jsonl"]  # not the hidden one


@pytest.mark.parametrize("config", ["folder", "elsewhere", "missing"])
def test_files_that_cannot_be_told_count_the_whole_repository(config):
    files = plan(WITH_CONFIGS, CONFIGS, config, None, "hub:o/n")
    assert files.whole and files.files == WITH_CONFIGS


def test_a_script_or_unknown_layout_counts_the_whole_repository():
    assert plan({"n.py": 1, "data.bin": 2}, None, None, None, "hub:o/n").whole
    assert plan({"notes.bin": 2}, None, None, None, "hub:o/n").whole
    assert plan({"train.jsonl": 2}, None, "other", None, "hub:o/n").whole  # a config a plain layout has not


def test_a_split_that_is_missing_or_must_be_chosen_is_said_before_any_download():
    with pytest.raises(DatasetFormatError, match=r"hub:o/n has no split 'dev' \(splits: train, test\)"):
        plan(CONVENTIONS, None, None, "dev", "hub:o/n")
    with pytest.raises(DatasetFormatError, match="has the splits validation, test: choose one with @SPLIT"):
        plan({"validation.jsonl": 1, "test.jsonl": 1}, None, None, None, "hub:o/n")


def test_a_listing_never_writes_outside_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert plan({"../../escape.jsonl": 1, "train.jsonl": 1}, None, None, None, "hub:o/n").files == {"train.jsonl": 1}
    assert not list(tmp_path.parent.glob("escape.jsonl"))
