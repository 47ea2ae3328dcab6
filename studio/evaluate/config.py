"""What decides an evaluation: the models, the questions, generation, API models, judge and leakage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from studio import settings
from studio.chat.base import BackendSpec
from studio.errors import StudioError
from studio.models import loading, prompt_format
from studio.models.spec import parse_spec
from studio.settings import setting

MAX_MODELS = 20
"""Models one evaluation compares at most: its tables and plots hold that many; 50,000 lines pasted into the page's box
of API models (or given to the command line) made one job ask each question 50,000 times."""


@dataclass(frozen=True)
class EvalConfig:
    # "distilgpt2", "/path/to/model", "run:<id>", "api:<model id>"; extractive: "qa:<model>", "api:qa:<model id>"
    models: tuple[str, ...]
    # Questions: a run's held-out split, a dataset version, or a JSON/JSONL file (first that is set).
    run_id: str | None = None  # its "test" split; its "train" split feeds the leakage check
    dataset_id: str | None = None
    dataset_version: int | None = None  # None: the latest version
    dataset_file: str | None = None
    # evaluate a random sample of this many questions (seeded)
    sample: int | None = setting(None, "Evaluate a random sample of this many questions (seeded) instead of every one.",
                                 min=1, error="The sample size must be at least 1 (or {unset} for every question).")
    # Generation
    # answers in Q&A datasets are a sentence or two (~30-60 tokens)
    max_new_tokens: int = setting(64, "Answer length at most, in tokens.", min=1, max=4096, label="Max new tokens",
                                  error="Max new tokens must be between {lo} and {hi}.")
    batch_size: int = setting(8, "Local models: questions per left-padded batch.", min=1, max=256,
                              label="Batch size (local models)", error="Batch size must be between {lo} and {hi}.")
    do_sample: bool = False  # greedy by default, so a rerun gives the same answers
    temperature: float = setting(0.7, "Only when sampling: higher varies the answers more.", min=0.05, max=1.5,
                                 label="Temperature")
    # chat models' system prompt, Chat's default: without one SmolLM2's template adds its own and the answers ramble
    # (a trained run is asked as it was trained, with none, as Chat asks it)
    system_prompt: str = prompt_format.DEFAULT_SYSTEM
    seed: int = setting(0, "Sampling and question-sample seed.", min=0, max=2**31 - 1, label="Seed")
    quantization: str | None = None  # None, "4bit" or "8bit" (CUDA only) for local models
    perplexity: bool = True  # perplexity of the reference answer under each local model
    # API models
    api_provider: str | None = None  # Inference Providers routing ("auto", "hf-inference", ...)
    api_base_url: str | None = None  # an OpenAI-compatible endpoint instead (".../v1")
    api_concurrency: int = setting(4, "Requests in flight per API model.", min=1, max=64,
                                   label="API requests in flight", error="API concurrency must be between {lo} and {hi}.")
    qa_endpoint: str | None = None  # "api:qa:" models: a dedicated endpoint URL instead of Inference Providers
    api_timeout_s: float = setting(60.0, "Seconds an API request may wait for its first words, and then between "
                                         "words, before it counts as failed (a model on a CPU server may need more).",
                                   min=5, max=3600, label="API timeout (s)",
                                   error="The API timeout must be between {lo} and {hi} seconds.")
    # Judge and leakage
    judge: str | None = None  # a chat model spec ("api:<id>" or local) that grades answers 1-5
    # rapidfuzz score 0-100 above which a question counts as leaked
    leakage_threshold: float = setting(90.0, "Similarity 0-100 of a test question to a training one that counts as "
                                             "leaked.", min=1, max=100, label="Leakage threshold",
                                       error="The leakage threshold is a similarity from {lo} to {hi}.")
    semantic_leakage: bool = False  # also flag paraphrases by meaning (all-MiniLM-L6-v2 embeddings)
    # cosine; paraphrases of one question score ~0.9-0.97
    semantic_threshold: float = setting(0.9, "Cosine similarity of meaning that counts as leaked (paraphrases "
                                             "score ~0.9-0.97).", min=0.01, max=1.0, label="Semantic leakage threshold",
                                        error="The semantic leakage threshold is a cosine similarity from {lo} to {hi} "
                                              "(try 0.9).")
    answer_similarity: bool = False  # cosine of each answer's and its reference's embeddings, -1..1
    train_dataset_id: str | None = None  # extra training questions to check leakage against
    train_dataset_version: int | None = None
    train_file: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(m.strip() for m in self.models if m and m.strip()))
        if not self.models:
            raise StudioError("No model chosen: pick at least one model to evaluate.")
        if len(self.models) > MAX_MODELS:  # before any is parsed: 50,000 lines pasted were each asked every question
            raise StudioError(f"{len(self.models):,} models are chosen, more than the {MAX_MODELS} one evaluation "
                              "compares: split them over several evaluations.")
        for spec in (*self.models, *([self.judge] if self.judge else [])):
            parse_spec(spec)  # a spec that names nothing ("run:", "qa:api:x") is refused before anything runs
        if len(set(self.models)) != len(self.models):
            raise StudioError("The same model is chosen twice: remove the duplicate.")
        if not (self.run_id or self.dataset_id or self.dataset_file):
            raise StudioError("No questions chosen: pick a training run's held-out split, a dataset or a file.")
        settings.check(self, StudioError)  # every bound in the fields' metadata
        for name in ("api_base_url", "qa_endpoint"):  # a pasted line break or spaces: trimmed, as BackendSpec does
            object.__setattr__(self, name, (getattr(self, name) or "").strip() or None)
        if self.api_base_url and not self.api_base_url.startswith(("http://", "https://")):  # said before a job starts
            raise StudioError("The base URL for api: models must start with http:// or https:// (e.g. "
                              f"http://127.0.0.1:8000/v1), not {self.api_base_url!r}.")
        if self.qa_endpoint and not self.qa_endpoint.startswith(("http://", "https://")):
            raise StudioError(f"The question-answering endpoint must start with http:// or https://, not {self.qa_endpoint!r}.")
        for spec in (*self.models, *([self.judge] if self.judge else [])):
            if spec.startswith("api:"):  # what its backend refuses (a base URL with no host: "http://") is said at Start,
                # not as the same failure in every question of a job
                BackendSpec.for_model(spec, base_url=self.api_base_url, provider=self.api_provider,
                                      qa_endpoint=self.qa_endpoint)
        if self.quantization not in loading.QUANTIZATIONS:
            raise StudioError(f"Unknown quantization {self.quantization!r}: choose none, 4bit or 8bit.")

    def system_for(self, spec: str) -> str:
        """The system prompt ``spec`` is asked with: none for a trained run (it never saw one, as Chat's "As
        trained"), else ``system_prompt``."""
        return asked_with(spec, self.system_prompt)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["models"] = list(self.models)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EvalConfig:
        known = {f.name for f in fields(cls)}
        d = {"system_prompt": "", **d}  # an evaluation saved before the setting asked with none
        return cls(**{k: (tuple(v) if k == "models" else v) for k, v in d.items() if k in known})


def asked_with(spec: str, system_prompt: str) -> str:
    """The system prompt a model typed as ``spec`` is asked with when the evaluation's is ``system_prompt``: none for
    a trained run (``run:<id>``), which never saw one, else ``system_prompt``."""
    return "" if spec.startswith("run:") else (system_prompt or "").strip()
