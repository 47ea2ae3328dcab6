"""The embedded sample dataset, put into a new workspace so the studio has something to show."""

from __future__ import annotations

import json

from studio import atomic, config
from studio.data import store

SAMPLE_NAME = "Soccer rules (sample)"


def load_sample() -> list[dict]:
    return json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))


def ensure_sample() -> bool:
    """Add the sample dataset to a new, empty workspace. True when it was added.

    A workspace that already holds datasets (made with the CLI, say) is left as it is: the sample is
    there to give an empty studio something to show, not to push itself ahead of the user's data. A
    marker file remembers the first open, so a user who deletes the sample does not get it back.
    """
    marker = config.home() / ".sample-added"
    if marker.exists() or not config.SAMPLE_DATASET.is_file():
        return False
    added = not store.list_datasets()
    if added:
        store.create_dataset(SAMPLE_NAME, load_sample(), message="embedded sample")
    atomic.write_bytes(marker, b"1\n")  # a block of a public app's workspace: counted as any save is
    return added
