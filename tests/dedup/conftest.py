"""The fast (static) embedding model, built once from the real all-MiniLM-L6-v2 and reused by every test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio.dedup import static
from studio.dedup.embed import DEFAULT_MODEL


@pytest.fixture(scope="session")
def static_build(request: pytest.FixtureRequest, embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static model's folder, distilled from the packaged MiniLM (minutes on 2 cores): kept in pytest's
    cache between sessions, keyed by the recipe's version, so it is built once per checkout."""
    cache = Path(request.config.cache.mkdir("static-embeddings"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(cache))
        folder = static.folder_for(DEFAULT_MODEL)
        if not static.is_built(DEFAULT_MODEL):
            static.build(embedder)
    return folder


@pytest.fixture
def static_model(static_build: Path, studio_home: Path) -> static.StaticModel:
    """This test's workspace with the static model already built (a copy: tests may damage it)."""
    folder = static.folder_for(DEFAULT_MODEL)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(static_build, folder)
    return static.load(DEFAULT_MODEL)
