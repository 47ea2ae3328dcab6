"""Model specs: the one parser of the text a person types or a picker passes to name a model.

=================  ==============  ==============================================================
text               ``kind``        ``name``
=================  ==============  ==============================================================
``run:<id>``       ``run``         a training run's id
``model:<name>``   ``model``       a model in the workspace library
``api:<id>``       ``api``         a hosted chat model (Inference Providers or a base URL)
``api:qa:<id>``    ``api-qa``      a hosted extractive question-answering model
``qa:<spec>``      ``qa``          a local model answering by extraction (``<spec>`` is any local spec)
``x.gguf``         ``gguf``        a GGUF file (imported into the library on first load)
``./x``, ``/x``    ``path``        a local folder (also ``~/x`` and anything with two or more ``/``)
``scratch``        ``scratch``     training only: a new model, no base
``org/name``       ``hub``         a Hub id, or a bare name found on disk first (a run id, a folder)
=================  ==============  ==============================================================

``parse_spec(text)`` only reads the text: nothing on disk or on the network is looked at (that is
``studio.models.loading.resolve``'s job), so it is cheap and safe anywhere. ``str(spec)`` prints the
spec back as it is written, so ``str(parse_spec(s)) == s.strip()`` for every valid ``s``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from studio.errors import ModelSpecError

PREFIXES = {"run": "run:", "model": "model:", "api-qa": "api:qa:", "api": "api:", "qa": "qa:"}
"""The written prefix of each prefixed kind (``api:qa:`` before ``api:``: the longer prefix wins)."""
KINDS = (*PREFIXES, "gguf", "path", "scratch", "hub")
SCRATCH = "scratch"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
"""A library model's name (``model:<name>``, ``studio.models.library.check_name``): one folder name, no path."""
_UNKNOWN_PREFIX = re.compile(r"^([A-Za-z][\w-]+):")  # "foo:bar"; a Windows drive ("C:") is one letter
_EXAMPLES = {"run": "run:20261122-095609-ab12", "model": "model:SmolLM2-135M-Instruct", "api": "api:meta-llama/Llama-3.1-8B-Instruct",
             "api-qa": "api:qa:deepset/roberta-base-squad2", "qa": "qa:deepset/roberta-base-squad2"}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: what kind of model and its name within that kind (see the module's table)."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelSpecError(f"Unknown model spec kind {self.kind!r}: one of {', '.join(KINDS)}.")

    def __str__(self) -> str:
        return PREFIXES.get(self.kind, "") + self.name

    @property
    def is_api(self) -> bool:
        """Answered by a hosted model (``api:`` or ``api:qa:``), never loaded here."""
        return self.kind in ("api", "api-qa")

    @property
    def local(self) -> bool:
        return not self.is_api

    @property
    def says_extractive(self) -> bool:
        """Written as extractive (``qa:`` or ``api:qa:``); a local folder may still be one by its config."""
        return self.kind in ("qa", "api-qa")

    @property
    def inner(self) -> ModelSpec:
        """The model a ``qa:`` spec wraps (``qa:run:x`` -> ``run:x``); any other spec itself."""
        return parse_spec(self.name) if self.kind == "qa" else self

    def as_qa(self) -> ModelSpec:
        """The same local model under ``qa:``, the spec the model cache loads extractive models by."""
        if self.is_api:
            raise ModelSpecError(f"{self} is a hosted model: an extractive hosted model is written api:qa:<model id>.")
        return self if self.kind == "qa" else ModelSpec("qa", str(self))


def run_spec(run_id: str) -> ModelSpec:
    return ModelSpec("run", run_id)


def library_spec(name: str) -> ModelSpec:
    return ModelSpec("model", name)


def library_name_ok(name: str) -> bool:
    """Whether ``name`` can name a model in the library (letters, digits, '.', '_', '-'; no slashes or '..')."""
    return bool(NAME_RE.match(name)) and ".." not in name


def _check_name(kind: str, name: str, text: str) -> None:
    """A run id or a library name is one folder in the workspace: "run:../../etc" names none (it was looked up
    as a path and failed only when each model was loaded)."""
    if kind == "model" and not library_name_ok(name):
        raise ModelSpecError(f"{text!r} names no library model: a library name is letters, digits, '.', '_' or '-' "
                             "(no slashes or '..'), at most 80 characters.")
    if kind == "run" and ("/" in name or "\\" in name or name.startswith(".")):
        raise ModelSpecError(f"{text!r} names no training run: a run id is one folder name (no slashes, not starting "
                             f"with '.'), like {_EXAMPLES['run']}.")


def spec_too_long(text: str) -> bool:
    """Whether ``text`` is past what a model spec may hold: a part past 255 characters or the whole past 4,096 (no file
    system takes such a name)."""
    return max(len(part) for part in re.split(r"[\\/]", text)) > 255 or len(text) > 4096


def parse_spec(text: str) -> ModelSpec:
    """The typed form of a model spec; a spec that names nothing raises a one-line ``ModelSpecError``."""
    text = (text or "").strip()
    if not text:
        raise ModelSpecError("No model chosen: enter a Hub id (e.g. distilgpt2), a local folder or a training run.")
    if spec_too_long(text):  # no file system takes such a name (the lookup raised ENAMETOOLONG)
        raise ModelSpecError(f"{text[:40]!r}... is too long for a Hub id, a folder or a run ({len(text):,} characters): "
                             "check what was pasted.")
    if any(unicodedata.category(c) == "Cc" for c in text):  # a NUL byte, a bell, a tab or line break inside
        raise ModelSpecError(f"{text[:60]!r} holds a control character (such as a tab, a line break or a NUL byte): a model "
                             "id, folder or run is one plain line; type it again.")
    for kind, prefix in PREFIXES.items():
        if text.startswith(prefix):
            name = text[len(prefix):].strip()
            if not name:
                raise ModelSpecError(f"{text!r} names no model: write it like {_EXAMPLES[kind]}.")
            _check_name(kind, name, text)
            if kind == "qa":
                inner = parse_spec(name)
                if inner.is_api or inner.kind == "qa":
                    hint = f"api:qa:{inner.name}" if inner.is_api else str(inner)
                    raise ModelSpecError(f"{text!r}: qa: takes a local model (a Hub id, a folder, run:<id>, "
                                         f"model:<name>); did you mean {hint}?")
            return ModelSpec(kind, name)
    if text == SCRATCH:
        return ModelSpec("scratch", text)
    if text.lower().endswith(".gguf"):
        return ModelSpec("gguf", text)
    if text.startswith((".", "/", "~", "\\")) or text.count("/") > 1 or re.match(r"^[A-Za-z]:[\\/]", text):
        return ModelSpec("path", text)
    unknown = _UNKNOWN_PREFIX.match(text)
    if unknown:
        raise ModelSpecError(f"Unknown model prefix {unknown.group(1) + ':'!r} in {text!r}: use run:<id>, model:<name>, "
                             "api:<model id>, api:qa:<model id>, qa:<model>, a local folder or a Hub id.")
    return ModelSpec("hub", text)
