"""DatasetRef: where a run's records came from, typed, and read back the same way from a file or a version."""

import json

import pytest

from studio.data import store
from studio.data.ref import DatasetRef, load_dataset
from studio.errors import StudioError, TrainingError

RECORDS = [{"question": f"What is rule {i}?", "answer": f"Rule {i} says so."} for i in range(6)]


def test_load_dataset_from_file_and_workspace(tmp_path):
    f = tmp_path / "qa.json"
    f.write_text(json.dumps(RECORDS))
    recs, ref = load_dataset(str(f))
    assert recs == RECORDS and ref.count == 6 and ref.file == str(f.resolve()) and len(ref.sha256) == 64
    assert ref.source == ref.file and ref.id is None and ref.name == "qa"
    info = store.create_dataset("Tiny FAQ", RECORDS)
    recs, ref = load_dataset("Tiny FAQ")
    assert recs == RECORDS and ref.id == info.id and ref.version == 1 and ref.sha256 == info.latest.sha256
    assert ref.source == info.id and ref.file is None
    with pytest.raises(TrainingError, match="no version 9"):
        load_dataset("Tiny FAQ", 9)
    with pytest.raises(TrainingError, match="No dataset file"):
        load_dataset("nope")
    f.write_text("{not json")
    with pytest.raises(StudioError, match="Not valid JSON"):
        load_dataset(str(f))


def test_a_reference_round_trips_through_run_json_and_loads_the_same_records(tmp_path):
    info = store.create_dataset("Tiny FAQ", RECORDS)
    store.save_version(info.id, RECORDS[:3], base_version=1)
    _, ref = load_dataset(info.id, 1)
    stored = json.loads(json.dumps(ref.to_dict()))  # as run.json keeps it
    assert set(stored) == {"id", "name", "version", "sha256", "count", "file"}
    again = DatasetRef.from_dict(stored)
    assert again == ref
    recs, fresh = again.load()
    assert recs == RECORDS and fresh == ref  # version 1, not the newer version 2
    f = tmp_path / "qa.json"
    f.write_text(json.dumps(RECORDS[:2]))
    _, file_ref = load_dataset(str(f))
    assert DatasetRef.from_dict(file_ref.to_dict()).load()[0] == RECORDS[:2]
    assert DatasetRef.from_dict({"name": "faq", "extra": 1}) == DatasetRef(name="faq")  # an older or newer run.json


def test_training_on_a_file_with_records_that_are_not_objects_names_them_as_dataset_import_does(tmp_path):
    """Training read "Record 2 is a string ..." as a format error; now it is the invalid record, with its text."""
    from dataset_cases import MIXED, MIXED_PROBLEMS

    from studio.errors import DatasetValidationError

    f = tmp_path / "mixed.json"
    f.write_bytes(MIXED)
    with pytest.raises(DatasetValidationError) as err:
        load_dataset(str(f))
    assert str(err.value).startswith(f"{MIXED_PROBLEMS[0]} (and 2 more: 3 errors, no warnings in all)")
