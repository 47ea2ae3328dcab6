"""The embedded sample dataset, put into a new workspace so the studio has something to show."""

from __future__ import annotations

import json

from studio import config, store

SAMPLE_NAME = "Soccer rules (sample)"


def load_sample() -> list[dict]:
    return json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))


def ensure_sample() -> bool:
    """Add the sample dataset to a workspace that has never had it. True when it was added.

    A marker file remembers the seeding, so a user who deletes the sample does not get it back.
    """
    marker = config.home() / ".sample-added"
    if marker.exists() or not config.SAMPLE_DATASET.is_file():
        return False
    if store.find_dataset(SAMPLE_NAME) is None:
        store.create_dataset(SAMPLE_NAME, load_sample(), message="embedded sample")
    marker.write_text("1\n", encoding="utf-8")
    return True
