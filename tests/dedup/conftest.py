"""The fast (static) embedding model in each test's workspace (``static_build`` in tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio.dedup import static
from studio.dedup.embed import DEFAULT_MODEL


@pytest.fixture
def static_model(static_build: Path, studio_home: Path) -> static.StaticModel:
    """This test's workspace with the static model already built (a copy: tests may damage it)."""
    folder = static.folder_for(DEFAULT_MODEL)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(static_build, folder)
    return static.load(DEFAULT_MODEL)
