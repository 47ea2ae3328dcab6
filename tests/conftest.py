"""Fixtures shared by every test: a private workspace per test and tiny local models."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import hf_home

hf_home.use()  # before any Hugging Face library is imported: the tests keep the machine's cache untouched
# The Hugging Face client's 23 s of pauses between retries skipped, here and in every process a test starts (the
# retries themselves still happen): see tests/startup/sitecustomize.py.
_STARTUP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "startup")
if _STARTUP not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join([_STARTUP, *filter(None, [os.environ.get("PYTHONPATH")])])
from startup import sitecustomize as _no_pause  # noqa: E402

_no_pause.install()

import huggingface_hub.constants  # noqa: E402, F401 - now, not first inside a test that sets HF_HUB_OFFLINE: the
import pytest  # noqa: E402 - library reads the variable once, at import, and would block API requests in every later test

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the workspace at a fresh folder, and keep the Hub out of every test."""
    home = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    from studio import config

    monkeypatch.setattr(config, "_tenancy", False)  # a test that opened the public app leaves no visitor behind
    monkeypatch.setattr(config, "_resolver", None)
    monkeypatch.setattr(config, "_before_write", None)
    from studio import jobs

    monkeypatch.setattr(jobs, "_caps", (None, None, None))  # nor its bound on jobs
    from studio.data import import_folders

    # the Import tab's Hub download folders: AppTest sessions never let theirs go, so they stay in the test's own
    monkeypatch.setattr(import_folders, "ROOT", str(tmp_path))
    monkeypatch.setattr(jobs, "_groups", {})  # AppTest's visitors, all without cookies, share one allowance of jobs:
    # each test's start with the jobs of tests before (still running where a test left them) not counted in it
    import sys

    if "studio.ui.cloud" in sys.modules:  # AppTest sends no cookies: all its visitors are one browser without them;
        from studio.cloud import limits  # each test's get the hour's new workspaces and their minute's requests afresh

        monkeypatch.setattr(sys.modules["studio.ui.cookieless"], "_cookieless", limits.Window(3600))
        sys.modules["studio.ui.cloud"]._limit.clear()
    yield home

    if "studio.models.cache" in sys.modules:  # the process's one model cache: each test starts with none loaded
        sys.modules["studio.models.cache"].shared().unload()
    if "streamlit" in sys.modules:  # cached listings (the model library) belong to this test's workspace
        sys.modules["streamlit"].cache_data.clear()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local-model tests: no Hub look-ups at all."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def api_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as Community Cloud installs it: no torch, transformers, tokenizers or
    sentence-transformers. The capability report says so, and a fresh import of any of them fails."""
    from studio import device

    monkeypatch.setattr(device, "capabilities", lambda: device.Capabilities(
        local_models=False, semantic=False, lora=False, gguf=False))
    for name in ("torch", "transformers", "tokenizers", "sentence_transformers"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def media_stores(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every media file store an AppTest makes (one for each run: the last is the page's as it stands), to see what a
    page put at a /media address, and to press a download button as the server would (``execute_deferred``)."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.media_file_manager import MediaFileManager

    stores: list[MediaFileManager] = []

    class Kept(MediaFileManager):
        def __init__(self, storage):
            super().__init__(storage)
            stores.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Kept)
    return stores


def pytest_unconfigure(config: pytest.Config) -> None:
    hf_home.remove()


# The files that take longest, longest first (seconds in CI's last full run, 4 processes on 2 cores: the GPU script's
# smoke run 732; the llama.cpp exports 650; the cloud install 193; eight fresh imports of transformers 171; the sign-in,
# safety, passage and review browser tests 143, 120, 86, 103). pytest-xdist's loadfile hands out files with the most
# tests first: these few-test files went last, and the GPU script alone ran its last minutes with three processes idle.
LONG_FILES = ("tests/test_gpu_script.py", "tests/models/test_export_llamacpp.py", "tests/e2e/test_cloud_install.py",
              "tests/models/test_hf_import.py", "tests/e2e/test_cloud_signin_e2e.py", "tests/e2e/test_safety_e2e.py",
              "tests/e2e/test_review_e2e.py", "tests/e2e/test_passage_e2e.py")


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: unknown where it is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under ``--dist loadfile`` (tests/run.sh), the files of ``LONG_FILES`` are handed out first, so they run beside
    the rest instead of after it."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongFilesFirst(LoadFileScheduling):
        def _assign_work_unit(self, node) -> None:
            for scope in reversed(LONG_FILES):  # before the first file is handed out (a no-op after)
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LongFilesFirst(config, log)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the studio in a real Chromium against `streamlit run`")
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (skipped without one); `pytest -m cuda` runs them")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


TINY_TEXT = [
    "Question: How long is a match?\nAnswer: Two halves of 45 minutes.",
    "Question: How many players are on a team?\nAnswer: Eleven, one of them the goalkeeper.",
    "Question: What is a corner kick?\nAnswer: A restart when the defenders last touched the ball over their goal line.",
    "The referee enforces the Laws of the Game. Offside, fouls, free kicks and penalties.",
]


def train_page(base: str | None = "scratch"):
    """The Train page in AppTest, not run yet, on the workspace's sample dataset; ``base`` picks the base
    model first (None: the page's own default)."""
    from streamlit.testing.v1 import AppTest

    from studio.data import sample

    sample.ensure_sample()
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=90)
    if base is not None:
        at.session_state["train.base_choice"] = base
    return at


def back_from_another_page(at, page: str | None = None):
    """The page of AppTest ``at`` (or ``page``) opened again after another page, as a browser does it: Streamlit
    drops the state of every widget the other page does not draw (AppTest's switch_page keeps it), also where a
    timed fragment ran last (a progress bar's tick, as a person reads the page before leaving: a widget set again
    by the next page's first run was dropped then); what the page kept itself stays, and the widgets drawn with
    ``persist_state="session"`` (``ui.PERSIST``: Streamlit keeps them through any run)."""
    from streamlit.testing.v1 import AppTest

    state = at.session_state._state._state  # SafeSessionState -> SessionState
    ids = state._key_id_mapper.id_key_mapping
    persisted = {ids[wid] for wid, scope in state._persist_tracker._scopes.items() if scope == "session" and wid in ids}
    widgets = set(state._key_id_mapper._key_id_mapping) - persisted
    back = AppTest.from_file(page or at._script_path, default_timeout=90)
    for key, value in at.session_state.items():
        if key not in widgets:
            back.session_state[key] = value
    return back.run()


def build_tiny_causal_lm(path: Path, *, chat_template: str | None = None, arch: str = "gpt2") -> Path:
    """Save a tiny randomly initialised causal LM and a byte-level BPE tokenizer to ``path``.

    ``arch`` is "gpt2", "phi3" or "llama"; ``chat_template`` (a Jinja string) makes it a chat model.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    specials = ["<|endoftext|>"] + (["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"] if chat_template else [])
    bpe.train_from_iterator(TINY_TEXT * 20, vocab_size=400, min_frequency=1, special_tokens=specials)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    if chat_template:
        tok.chat_template = chat_template
    tok.save_pretrained(path)
    import torch

    torch.manual_seed(0)
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                          pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
        model = LlamaForCausalLM(cfg)
    elif arch == "phi3":
        cfg = Phi3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
        model = Phi3ForCausalLM(cfg)
    else:
        cfg = GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=2, n_head=2,
                         eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
        model = GPT2LMHeadModel(cfg)
    model.save_pretrained(path)
    return path


PHI35_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
"""Phi-3.5-mini-instruct's chat format, for tiny models that must behave like it."""


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama (SmolLM2's architecture) with Phi-3.5's chat template, saved locally."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"), chat_template=PHI35_TEMPLATE, arch="llama")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2 without a chat template, saved locally (like distilgpt2 or a training run)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_phi3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Phi-3 with Phi-3.5's chat template, saved locally."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-phi3"), chat_template=PHI35_TEMPLATE, arch="phi3")


@pytest.fixture(scope="session")
def phi3_served(tiny_phi3: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real ``transformers serve`` of ``tiny_phi3`` on loopback, started once for the session (its start, with
    its model process, imports torch and transformers twice: a minute on 2 busy cores): (its /v1 base URL, the
    model's folder, which is the model id it serves)."""
    from chat_servers import transformers_serve

    with transformers_serve(tiny_phi3, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url, str(tiny_phi3)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory):
    """The default embedding model, offline, with an empty Hugging Face cache: the package must stand in. Offline for
    the Hugging Face libraries too (they read ``HF_HUB_OFFLINE`` once, at import: the variable alone still let
    huggingface_hub ask the Hub for its agent registry during the load), and watched: a name looked up or a connection
    tried during the load fails the fixture."""
    from no_network import watched

    from studio.dedup.embed import load_embedder

    with pytest.MonkeyPatch.context() as mp, watched() as tried:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        # inside the session's Hugging Face home: a library first imported here (datasets, by sentence-transformers)
        # keeps these paths for the rest of the process, which must stay the session's (tests/test_hf_home.py)
        empty = hf_home.SESSION / f"embedder-{os.getpid()}"
        empty.mkdir(exist_ok=True)
        mp.setenv("HF_HOME", str(empty))
        loaded = load_embedder()
    assert not tried, f"the embedder's offline load reached for the network: {tried}"
    assert loaded.source.startswith("offline package"), loaded.source
    return loaded


@pytest.fixture(scope="session")
def static_build(request: pytest.FixtureRequest, embedder) -> Path:
    """The static model's folder, distilled from the packaged MiniLM (minutes on 2 cores): kept in pytest's
    cache between sessions, keyed by the recipe's version, so it is built once per checkout."""
    from studio.dedup import static
    from studio.dedup.embed import DEFAULT_MODEL

    with pytest.MonkeyPatch.context() as mp, _static_lock(request.config):  # the suite's processes build it once
        mp.setenv("STUDIO_HOME", str(_static_cache(request.config)))
        folder = static.folder_for(DEFAULT_MODEL)
        if not static.is_built(DEFAULT_MODEL):
            static.build(embedder)
    return folder


@contextlib.contextmanager
def _static_lock(config: pytest.Config) -> Iterator[None]:
    """Held while the static model in pytest's cache is built or kept: the suite's processes (tests/run.sh starts
    four) share that cache, and the first to need the model builds it while the others wait for it."""
    import fcntl

    with open(Path(config.cache.mkdir("static-embeddings-lock")) / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _static_cache(config: pytest.Config) -> Path:
    """The workspace, in pytest's cache, that holds ``static_build``'s model."""
    return Path(config.cache.mkdir("static-embeddings"))


def keep_static_build(config: pytest.Config, built: Path) -> None:
    """A static model folder a test built from scratch with the session's ``embedder`` (``static.build``, as
    ``static_build`` calls it), kept as ``static_build``'s when that has none yet: on a fresh checkout (CI) the
    model is then distilled once per session, not twice. Copied aside, then renamed: never half there."""
    import shutil

    target = _static_cache(config) / built.relative_to(built.parent.parent)
    with _static_lock(config):
        if (target / "meta.json").is_file():
            return
        partial = target.with_name(target.name + ".copying")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(built, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)


@pytest.fixture(scope="session")
def trained_qa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny extractive BERT trained here to answer "Qual é o meu nome?" with "Marcundes" (see qa_models)."""
    from qa_models import build_trained_qa

    return build_trained_qa(tmp_path_factory.mktemp("trained-qa"))
