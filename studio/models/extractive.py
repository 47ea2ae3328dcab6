"""Extractive question answering with a model loaded here: the answer is a span of the passage.

``AutoModelForQuestionAnswering`` scores every token of the passage as the answer's start and end;
the best span is the pair with the highest ``p(start) * p(end)`` (start before end, at most
``max_answer_tokens`` long), as transformers' question-answering pipeline scores it. A passage longer
than the model's window is split into overlapping windows (``doc_stride`` tokens shared by
neighbours) and the best span over all windows is kept, so nothing past the first window is lost.

Models are loaded through the one model cache (``studio.models.cache``) under the spec ``qa:<model>``
(``studio.models.spec``: ``ModelSpec.as_qa()``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import ModelLoadError, ModelSpecError, StudioError
from studio.models import hf_import
from studio.models.spec import ModelSpec, parse_spec
from studio.models.text import shows

if TYPE_CHECKING:
    from studio.models.loading import ModelRef

EXAMPLE_MODEL = "deepset/roberta-base-squad2"
"""The tutorial's hosted extractive model."""
MAX_ANSWER_TOKENS = 30  # the pipeline's max_answer_len: SQuAD answers are a few words
DOC_STRIDE = 128  # tokens two neighbouring windows share, as the pipeline's doc_stride
MAX_SEQ_LEN = 384  # question + window, tokens: the length SQuAD models were trained on


@dataclass(frozen=True)
class Span:
    """An answer found in the passage: its text and character offsets (``context[start:end] == text``)."""

    text: str
    start: int
    end: int
    score: float  # p(start) * p(end), 0-1: how sure the model is of this span
    windows: int = 1  # how many windows the passage was read in


@dataclass
class LoadedQA:
    spec: str
    model: Any  # a transformers *ForQuestionAnswering model, in eval mode
    tokenizer: Any  # a fast tokenizer (offsets map tokens back to characters)
    device: str
    notes: list[str]

    @property
    def window(self) -> int:
        """Tokens per window (question included): the model's limit or SQuAD's 384, whichever is smaller."""
        limit = getattr(self.model.config, "max_position_embeddings", None) or MAX_SEQ_LEN
        limit = min(limit, getattr(self.tokenizer, "model_max_length", limit) or limit)
        return max(32, min(MAX_SEQ_LEN, limit - 2))


def architectures(spec: str | ModelSpec) -> list[str]:
    """The architectures a local folder's config.json names (empty when it cannot tell: a Hub id)."""
    from studio.models import loading

    try:
        parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
        ref = loading.resolve(parsed.inner)
    except StudioError:
        return []
    cfg = Path(ref.source) / "config.json"
    try:
        return list(json.loads(cfg.read_text(encoding="utf-8")).get("architectures") or [])
    except (OSError, ValueError, AttributeError):
        return []


def is_extractive(spec: str | ModelSpec) -> bool:
    """Whether ``spec`` answers by extraction: written ``qa:`` / ``api:qa:``, or a local model built for it."""
    try:
        parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    except ModelSpecError:
        return False
    if parsed.says_extractive or parsed.is_api:
        return parsed.says_extractive
    return any(a.endswith("ForQuestionAnswering") for a in architectures(parsed))


def check_there(spec: str | ModelSpec) -> ModelRef:
    """The local model a ``qa:`` spec wraps, resolved, from names and config
    files alone (nothing loaded): a run, library model or folder that is not there, or a generative model, is one line
    naming what answers by extraction. ``evaluate --model qa:run:nope`` went on to load it and wrote a report in which
    every question had failed; a run, folder or GGUF file of a generative model failed the same way, per question."""
    from studio import config
    from studio.models import loading

    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    inner = parsed.inner
    name = str(inner)
    try:
        ref = loading.resolve(inner)
    except ModelLoadError:
        where = {"run": config.runs_dir(make=False) / inner.name, "model": config.models_dir(make=False) / inner.name,
                 "path": Path(inner.name).expanduser(), "gguf": Path(inner.name).expanduser()}.get(inner.kind)
        if where is None or where.exists():
            raise  # there, but not loadable (a run with no saved model yet): said in the loader's own words
        what = {"run": "no training run here (deleted, or a mistyped id)",
                "model": "no model in the library"}.get(inner.kind, "nothing on this machine")
        raise ModelLoadError(f"{parsed} names {what}: choose {loading.QA_OFFLINE_REMEDY}, or a hosted one "
                             "(api:qa:<model id>).") from None
    if ref.kind in ("gguf", "bundled", "adapter"):
        raise ModelLoadError(f"{name!r} is a generative model, not an extractive question-answering one: ask it "
                             f"over the passage as a chat model, or pick one like {EXAMPLE_MODEL}.")
    archs = architectures(inner)
    if archs and not any(a.endswith("ForQuestionAnswering") for a in archs):
        raise ModelLoadError(f"{name!r} is not an extractive question-answering model (it is {archs[0]}): ask it "
                             f"over the passage as a chat model, or pick one like {EXAMPLE_MODEL}.")
    return ref


def load_qa(spec: str, token: str | None = None, device: str | None = None) -> LoadedQA:
    """Load an extractive model and its tokenizer; refuse a model that is not one, in one line."""
    hf_import.ready()
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from studio.models import loading

    hf_logging.disable_progress_bar()
    inner = parse_spec(spec).inner
    name = str(inner)
    ref = check_there(spec)
    kwargs = loading.pretrained_kwargs(ref, token)
    loading.require_sizes(ref)  # a layer count its weights do not hold: refused before the model is built
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.source, **kwargs)
        model = AutoModelForQuestionAnswering.from_pretrained(ref.source, **kwargs)
    except loading.load_errors(TypeError) as exc:
        if "Unrecognized configuration class" in str(exc):
            raise ModelLoadError(f"{name!r} has no question-answering head in transformers: pick an extractive model "
                                 f"like {EXAMPLE_MODEL}, or ask it over the passage as a chat model.") from None
        raise loading.explain_load_error(ref, exc) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{name!r} has only a slow tokenizer: extractive answers need a fast one "
                             "(tokenizer.json) to map tokens back to the passage.")
    device = device or loading.pick_device()
    model.to(device)
    model.eval()
    notes = ["Running on CPU: fine for small models, slow for billion-parameter ones."] if device == "cpu" else []
    return LoadedQA(str(inner.as_qa()), model, tokenizer, device, notes)


MAX_PASSAGE_CHARS = 1_000_000  # ~250,000 tokens: beyond any model's window, and ~4,000 extractive windows


def passage_too_long(chars: int, what: str = "The passage") -> StudioError:
    return StudioError(f"{what} is {chars:,} characters, more than the {MAX_PASSAGE_CHARS:,} a passage may hold: "
                       "keep only the part the question is about.")


def question_too_long(question: str) -> str:
    """Why ``question`` is too long to ask, in one line; "" when it is not. A question is bounded as a passage is (no
    model reads that much): one text for Chat's conversation and passage modes and the command line, which said it
    in two wordings. A conversation keeps every question, rewrites it at each save and draws it at each run: a 2 MB
    paste stayed in it."""
    if len(question) <= MAX_PASSAGE_CHARS:
        return ""
    return (f"The question is {len(question):,} characters, more than the {MAX_PASSAGE_CHARS:,} a question may hold "
            "(no model reads that much): keep only the part it is about.")


def _blank(text: str | None) -> bool:
    """Nothing to read: empty, or spaces and invisible format characters (zero-width spaces, a word joiner) alone,
    by the rule the dataset checks use (``studio.models.text.shows``)."""
    return not shows(text or "")


def check_passage(question: str, context: str) -> None:
    if _blank(context):
        raise StudioError("The passage is empty: paste the text the question is about.")
    if len(context) > MAX_PASSAGE_CHARS:
        raise passage_too_long(len(context))
    if why := question_too_long(question):  # a passage pasted into the question's box
        raise StudioError(why)
    if _blank(question):
        raise StudioError("The question is empty: type what to look for in the passage.")


def _pairs(tok: Any, question: str, passages: list[str], window: int, right: bool, **kwargs: Any) -> Any:
    """The tokenizer's batch of (question, passage) windows, the passage truncated, in the model's order."""
    first, second = ([question] * len(passages), passages) if right else (passages, [question] * len(passages))
    return tok(first, second, truncation="only_second" if right else "only_first", max_length=window,
               return_offsets_mapping=True, padding="longest", return_tensors="pt", **kwargs)


def _windows(tok: Any, question: str, context: str, window: int, stride: int, right: bool) -> tuple[Any, list, list]:
    """The model's inputs for every window of ``context`` (each sharing ``stride`` tokens with the next), each
    token's character offsets in ``context`` and each window's sequence ids (which tokens are the passage's)."""
    passage_seq = 1 if right else 0
    enc = _pairs(tok, question, [context], window, right, stride=stride, return_overflowing_tokens=True)
    enc.pop("overflow_to_sample_mapping", None)
    offsets = enc.pop("offset_mapping").tolist()
    sequence_ids = [enc.sequence_ids(w) for w in range(len(offsets))]
    ends = [o[1] for o, s in zip(offsets[-1], sequence_ids[-1]) if s == passage_seq]
    if not ends or max(ends) >= len(context.rstrip()):
        return enc, offsets, sequence_ids
    # The last window stops short of the passage's end: tokenizers 0.23.2 (the GPU machine's) returns one
    # overflowing window for a pair, however long the passage. Cut the windows here instead, on token bounds.
    spans = tok(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    room = max(1, window - (len(offsets[0]) - sum(s == passage_seq for s in sequence_ids[0])))  # passage tokens
    step = max(1, room - stride)
    starts = list(range(0, max(1, len(spans) - stride), step))
    pieces = [(spans[a][0], spans[min(a + room, len(spans)) - 1][1]) for a in starts]
    enc = _pairs(tok, question, [context[lo:hi] for lo, hi in pieces], window, right)
    offsets = enc.pop("offset_mapping").tolist()
    sequence_ids = [enc.sequence_ids(w) for w in range(len(offsets))]
    offsets = [[(a + lo, b + lo) if s == passage_seq else (a, b) for (a, b), s in zip(offs, seq)]
               for offs, seq, (lo, _) in zip(offsets, sequence_ids, pieces)]
    return enc, offsets, sequence_ids


def find_span(qa: LoadedQA, question: str, context: str, *, max_answer_tokens: int = MAX_ANSWER_TOKENS,
              doc_stride: int = DOC_STRIDE) -> Span:
    """The best answer span of ``context`` for ``question``, over every window of a long passage."""
    import torch

    check_passage(question, context)
    tok = qa.tokenizer
    right = getattr(tok, "padding_side", "right") == "right"  # question first, passage second (the usual order)
    question = question.strip()
    q_len = len(tok(question, add_special_tokens=False)["input_ids"])
    window = qa.window
    if q_len > window // 2:
        raise StudioError(f"The question is {q_len} tokens long, more than half of the model's {window}-token window: "
                          "shorten it.")
    stride = max(1, min(doc_stride, (window - q_len) // 2))
    passage_seq = 1 if right else 0
    enc, offsets, sequence_ids = _windows(tok, question, context, window, stride, right)
    with torch.inference_mode():
        out = qa.model(**{k: v.to(qa.device) for k, v in enc.items()})
    best: tuple[float, int, int] | None = None
    for w in range(len(offsets)):
        seq_ids = sequence_ids[w]
        inside = torch.tensor([s == passage_seq for s in seq_ids])
        start_logits = out.start_logits[w].float().cpu().masked_fill(~inside, float("-inf"))
        end_logits = out.end_logits[w].float().cpu().masked_fill(~inside, float("-inf"))
        p_start, p_end = start_logits.softmax(-1), end_logits.softmax(-1)
        pair = p_start[:, None] * p_end[None, :]  # [start, end]
        n = pair.shape[0]
        allowed = torch.ones(n, n).triu().tril(max_answer_tokens - 1).bool()
        pair = pair.masked_fill(~allowed, 0.0)
        flat = int(pair.argmax())
        score = float(pair.view(-1)[flat])
        s, e = divmod(flat, n)
        if best is None or score > best[0]:
            best = (score, offsets[w][s][0], offsets[w][e][1])
    assert best is not None  # there is always at least one window
    score, start, end = best
    text = context[start:end]
    start += len(text) - len(text.lstrip())  # offsets may take in the space before a word
    text = text.strip()
    return Span(text, start, start + len(text), score, len(offsets))
