"""What decides an evaluation: the models, the questions, generation, API models, judge and leakage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from studio.errors import StudioError
from studio.models import loading as models
from studio.models.spec import parse_spec


@dataclass(frozen=True)
class EvalConfig:
    # "distilgpt2", "/path/to/model", "run:<id>", "api:<model id>"; extractive: "qa:<model>", "api:qa:<model id>"
    models: tuple[str, ...]
    # Questions: a run's held-out split, a dataset version, or a JSON/JSONL file (first that is set).
    run_id: str | None = None  # its "test" split; its "train" split feeds the leakage check
    dataset_id: str | None = None
    dataset_version: int | None = None  # None: the latest version
    dataset_file: str | None = None
    sample: int | None = None  # evaluate a random sample of this many questions (seeded)
    # Generation
    max_new_tokens: int = 64  # answers in Q&A datasets are a sentence or two (~30-60 tokens)
    batch_size: int = 8  # local models: questions per left-padded batch
    do_sample: bool = False  # greedy by default, so a rerun gives the same answers
    temperature: float = 0.7  # only when sampling
    seed: int = 0  # sampling and question-sample seed
    quantization: str | None = None  # None, "4bit" or "8bit" (CUDA only) for local models
    perplexity: bool = True  # perplexity of the reference answer under each local model
    # API models
    api_provider: str | None = None  # Inference Providers routing ("auto", "hf-inference", ...)
    api_base_url: str | None = None  # an OpenAI-compatible endpoint instead (".../v1")
    api_concurrency: int = 4  # requests in flight per API model
    qa_endpoint: str | None = None  # "api:qa:" models: a dedicated endpoint URL instead of Inference Providers
    api_timeout_s: float = 60.0
    # Judge and leakage
    judge: str | None = None  # a chat model spec ("api:<id>" or local) that grades answers 1-5
    leakage_threshold: float = 90.0  # rapidfuzz score 0-100 above which a question counts as leaked
    semantic_leakage: bool = False  # also flag paraphrases by meaning (all-MiniLM-L6-v2 embeddings)
    semantic_threshold: float = 0.9  # cosine; paraphrases of one question score ~0.9-0.97
    answer_similarity: bool = False  # cosine of each answer's and its reference's embeddings, -1..1
    train_dataset_id: str | None = None  # extra training questions to check leakage against
    train_dataset_version: int | None = None
    train_file: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(m.strip() for m in self.models if m and m.strip()))
        if not self.models:
            raise StudioError("No model chosen: pick at least one model to evaluate.")
        for spec in (*self.models, *([self.judge] if self.judge else [])):
            parse_spec(spec)  # a spec that names nothing ("run:", "qa:api:x") is refused before anything runs
        if len(set(self.models)) != len(self.models):
            raise StudioError("The same model is chosen twice: remove the duplicate.")
        if not (self.run_id or self.dataset_id or self.dataset_file):
            raise StudioError("No questions chosen: pick a training run's held-out split, a dataset or a file.")
        if self.sample is not None and self.sample < 1:
            raise StudioError("The sample size must be at least 1 (or leave it empty for every question).")
        if not 1 <= self.max_new_tokens <= 4096:
            raise StudioError("Max new tokens must be between 1 and 4096.")
        if not 1 <= self.batch_size <= 256:
            raise StudioError("Batch size must be between 1 and 256.")
        if not 1 <= self.api_concurrency <= 64:
            raise StudioError("API concurrency must be between 1 and 64.")
        if not 0 < self.leakage_threshold <= 100:
            raise StudioError("The leakage threshold is a similarity from 1 to 100.")
        if not 0 < self.semantic_threshold <= 1:
            raise StudioError("The semantic leakage threshold is a cosine similarity above 0 and at most 1 (try 0.9).")
        if self.qa_endpoint and not self.qa_endpoint.startswith(("http://", "https://")):
            raise StudioError(f"The question-answering endpoint must start with http:// or https://, not {self.qa_endpoint!r}.")
        if self.quantization not in models.QUANTIZATIONS:
            raise StudioError(f"Unknown quantization {self.quantization!r}: choose none, 4bit or 8bit.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["models"] = list(self.models)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EvalConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "models" else v) for k, v in d.items() if k in known})
