"""Where a run's model is found: ``studio.models.run_folders.model_dir``."""

import json

from studio.models import run_folders


def test_an_unfinished_run_loads_from_its_newest_checkpoint_past_a_folder_that_is_not_one(tmp_path):
    # A run stopped before its model was saved: its newest numbered checkpoint answers. A folder a person put beside
    # them ("checkpoint-best", a copy) is no step: it raised ValueError, which broke the run's line in the library.
    run = tmp_path / "run"
    for name in ("checkpoint-2", "checkpoint-10", "checkpoint-best"):
        (run / "checkpoints" / name).mkdir(parents=True)
        (run / "checkpoints" / name / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert run_folders.model_dir(run) == run / "checkpoints" / "checkpoint-10"
