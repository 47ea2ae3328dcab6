"""Answering questions with a loaded causal LM: batched, greedy by default, the training format or the chat template.

Models with a chat template get ``apply_chat_template(add_generation_prompt=True)`` and stop on EOS
and ``<|end|>``; models without one get ``prompt_format.prompt(q)`` (the text they were trained on)
and stop at EOS or where they start a new question. Batches are LEFT-padded with an attention mask,
so every row's positions are right and a batched greedy answer equals the one-at-a-time answer.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from studio.errors import CancelledError, ModelLoadError, StudioError
from studio.models import fast_decoding as fast
from studio.models import hf_import, prompt_format, worker

END_TOKENS = ("<|end|>", "<|endoftext|>", "<|eot_id|>", "<|im_end|>", "<end_of_turn>")
"""End-of-turn tokens of common chat formats (Phi-3.5's first): generation stops at any the model knows."""


class StopOnEvent:
    """A ``StoppingCriteria`` that ends generation at the next token once any of the events is set (Chat's Stop
    button or a closed stream, Evaluate's Stop). It ends every row of a batch at once."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        stop = any(e.is_set() for e in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class GenerationStopped(CancelledError):
    """Stop ended generation midway. ``answers`` has one entry per question: the answer where it finished before
    the stop, None where it was cut short or not begun (a cut answer is not an answer)."""

    def __init__(self, answers: list[str | None]):
        super().__init__("Generation stopped.")
        self.answers = answers


def prompts(lm: Any, questions: Sequence[str], contexts: Sequence[str | None] | None = None, system: str = "") -> list[str]:
    """The text each question (with its passage, when it has one) is continued from, as the model was trained.
    ``system`` (chat-template models only) comes first as the system turn; a template that forbids that role gets it
    at the start of the user turn, as Chat does."""
    tok = lm.tokenizer
    contexts = list(contexts) if contexts is not None else [None] * len(questions)
    if not lm.has_chat_template:
        return [prompt_format.prompt(q, c) for q, c in zip(questions, contexts)]
    system = system.strip()

    def text(question: str, context: str | None) -> str:
        user = {"role": "user", "content": prompt_format.user_content(question, context)}
        try:
            if not system:
                return tok.apply_chat_template([user], add_generation_prompt=True, tokenize=False)
            try:
                return tok.apply_chat_template([{"role": "system", "content": system}, user],
                                               add_generation_prompt=True, tokenize=False)
            except Exception:  # noqa: BLE001 - jinja2 TemplateError: a template that forbids the system role
                merged = {"role": "user", "content": f"{system}\n\n{user['content']}"}
                return tok.apply_chat_template([merged], add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # noqa: BLE001 - its raw TemplateError was a traceback from `ask`
            raise template_refused(exc) from None

    return [text(q, c) for q, c in zip(questions, contexts)]


def template_refused(exc: Exception) -> StudioError:
    """A model's chat template refused the conversation (its ``raise_exception``), in its own words, one line: what
    Chat, ``ask`` and an evaluation say."""
    said = " ".join(str(exc).split())[:200] or type(exc).__name__
    return StudioError(f"The model's chat template rejected the conversation: {said}")


def stop_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """Every token id that ends an answer, for chat and evaluation alike: EOS, the model's generation
    config's EOS ids, and the known end-of-turn tokens the vocabulary has."""
    ids: list[int] = []

    def add(value: Any) -> None:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and v >= 0 and v not in ids:
                ids.append(v)

    add(tokenizer.eos_token_id)
    add(getattr(getattr(model, "generation_config", None), "eos_token_id", None))
    vocab = tokenizer.get_vocab()
    for tok in END_TOKENS:
        if tok in vocab:
            add(vocab[tok])
    return ids


def encode_left_padded(tokenizer: Any, texts: Sequence[str], device: str) -> dict[str, Any]:
    """Left-padded batch; chat templates already hold their special tokens, so none are added."""
    import torch

    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = [[pad] * (width - len(r)) + r for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    return {"input_ids": torch.tensor(ids, device=device), "attention_mask": torch.tensor(mask, device=device)}


def check_ids(lm: Any, input_ids: Any) -> None:
    """Refuse a prompt the model cannot read: a token id its embeddings do not hold. A tokenizer that is another
    model's (its files copied in by hand) gives them, and the model failed inside torch ("index out of range in
    self"): a traceback from ``ask``, "Generation failed ..." in Chat, every cell of an evaluation."""
    try:  # transformers' own fallback raises NotImplementedError for a layout it does not know: nothing to check then
        embeddings = lm.model.get_input_embeddings() if hasattr(lm.model, "get_input_embeddings") else None
    except NotImplementedError:
        embeddings = None
    rows = getattr(embeddings, "num_embeddings", None)
    top = int(input_ids.max()) if rows is not None and input_ids.numel() else -1
    if rows is not None and top >= rows:
        fix = "train the run again" if getattr(lm.ref, "run_id", None) else "save, copy or download the model again"
        raise ModelLoadError(f"{lm.ref.spec}: its tokenizer gives token ids up to {top:,} but its weights hold {rows:,}: "
                             f"the tokenizer files in its folder are another model's; put its own back, or {fix}.")


def context_limit(model: Any) -> int | None:
    cfg = model.config
    return getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)


def answer_room(limit: int, max_new_tokens: int) -> int:
    """The tokens of a context of ``limit`` kept for the answer: what is asked, at most half of it."""
    return min(max_new_tokens, limit // 2)


def fit_prompt(length: int, limit: int | None, max_new_tokens: int) -> tuple[int, int]:
    """How much of a prompt of ``length`` tokens is read, and how many new tokens its answer may have, in a context of
    ``limit`` (None: unbounded). The one rule for Chat (``studio.chat.local``) and Evaluate (``generate_answers``):
    a prompt that leaves the answer less than its ``answer_room`` keeps its last ``limit - answer_room`` tokens
    (cut to the context less one token, a pasted document's answer was one token long); the answer then gets
    the room left, up to ``max_new_tokens`` and at least one token."""
    if limit is None:
        return length, max_new_tokens
    kept = min(length, limit - answer_room(limit, max_new_tokens))
    return kept, max(1, min(max_new_tokens, limit - kept))


def prompt_lengths(lm: Any, questions: Sequence[str], contexts: Sequence[str | None] | None = None,
                   system: str = "") -> list[int]:
    """Each question's prompt (``prompts``) in tokens, as ``generate_answers`` reads it before any cut."""
    return [len(lm.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in prompts(lm, questions, contexts, system)]


def _generate(model: Any, batch: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """``model.generate`` on the model's generation thread (``studio.models.worker``: a fresh thread is slow on CUDA)."""
    import torch

    with torch.inference_mode():  # the kept cache's tensors were made in it
        fast.prepare(kwargs)  # fast decoding's kept cache, cleared here: an earlier call may have been using it
        return model.generate(**batch, **kwargs)


def generate_answers(
    lm: Any,
    questions: list[str],
    *,
    contexts: Sequence[str | None] | None = None,
    system: str = "",
    max_new_tokens: int = 128,
    batch_size: int = 16,
    do_sample: bool = False,
    temperature: float = 0.7,
    top_p: float = 0.9,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    stop: threading.Event | None = None,
    fast_decoding: bool = False,
    cut_at: list[int | None] | None = None,
) -> list[str]:
    """One stripped answer per question, in order. ``lm`` is a ``studio.models.loading.LoadedModel``.

    ``contexts`` (one per question, None for none) puts each question's passage in its prompt; ``system`` is the
    system prompt a chat-template model is asked with (``prompts``).

    Greedy unless ``do_sample``; sampling is reproducible when ``seed`` is given. ``progress(done,
    total)`` is called after each batch; ``cancel()`` returning True raises ``CancelledError``
    between batches. Setting ``stop`` ends generation at the next token, in every row of the batch, and raises
    ``GenerationStopped`` with the answers that had finished (those cut short are left out). ``fast_decoding`` uses a static cache and a compiled decoding step where the model
    allows it (``studio.models.fast_decoding.unavailable`` says why not; the caller tells the user) and
    answers eagerly otherwise; each batch size compiles once, so it pays for long, same-sized batches.
    ``cut_at``, a list, gets one entry per answer: the new tokens it was cut at where it reached that limit before the
    model ended it (it ends mid-sentence: Chat's ``cut_note`` says so), None where the model ended it.
    """
    import torch

    if not questions:
        return []
    tok, model = lm.tokenizer, lm.model
    stops = stop_token_ids(tok, lm.model)
    texts = prompts(lm, questions, contexts, system)
    limit = context_limit(model)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    answers: list[str] = []
    if do_sample and seed is not None:
        torch.manual_seed(seed)
    for start in range(0, len(texts), batch_size):
        if cancel is not None and cancel():
            raise CancelledError("Generation stopped.")
        if stop is not None and stop.is_set():
            raise GenerationStopped([*answers, *[None] * (len(texts) - len(answers))])
        batch = encode_left_padded(tok, texts[start:start + batch_size], lm.device)
        check_ids(lm, batch["input_ids"])
        width, new = fit_prompt(batch["input_ids"].shape[1], limit, max_new_tokens)
        if width < batch["input_ids"].shape[1]:  # a question too long for the context keeps its end
            batch = {k: v[:, -width:] for k, v in batch.items()}
        kwargs: dict[str, Any] = {"max_new_tokens": new, "pad_token_id": pad, "eos_token_id": stops or None}
        if do_sample:
            kwargs.update(do_sample=True, temperature=max(temperature, 1e-3), top_p=top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop is not None:
            hf_import.ready()
            from transformers import StoppingCriteriaList

            kwargs["stopping_criteria"] = StoppingCriteriaList([StopOnEvent(stop)])
        rows, compiling = len(batch["input_ids"]), False
        if fast_decoding and fast.unavailable(lm) is None:
            kwargs.update(fast.generate_kwargs(lm, width, new, limit, batch=rows))
            compiling = fast.will_compile(lm)
        try:
            out = worker.run(model, functools.partial(_generate, model, batch, kwargs))
        except Exception as exc:
            if not compiling or isinstance(exc, torch.OutOfMemoryError):
                raise
            raise StudioError(fast.mark_failed(lm, exc)) from None  # torch.compile's: eager from now on
        if fast.uses_fast(kwargs):
            fast.mark_compiled(lm)
        generated = out[:, width:].tolist()
        stopped = stop is not None and stop.is_set()
        batch_answers: list[str | None] = []
        batch_cuts: list[int | None] = []
        for row in generated:
            text = decode_answer(tok, row, stops)
            answer_text = text.strip() if lm.has_chat_template else prompt_format.cut_at_stop(text)
            model_ended = any(t in stops for t in row) or (
                not lm.has_chat_template and answer_text != text.strip())  # a stop token, a stop string
            ended = not stopped or len(row) >= new or model_ended
            batch_answers.append(answer_text if ended else None)
            batch_cuts.append(new if len(row) >= new and not model_ended else None)
        if stopped and None in batch_answers:
            raise GenerationStopped([*answers, *batch_answers, *[None] * (len(texts) - len(answers) - rows)])
        answers.extend(a for a in batch_answers if a is not None)
        if cut_at is not None:
            cut_at.extend(batch_cuts)
        if progress is not None:
            progress(len(answers), len(texts))
    return answers


def decode_answer(tokenizer: Any, ids: list[int], stops: Any) -> str:
    """The text of generated ``ids`` up to the first stop token. An answer cut mid-character (at max new
    tokens) ends on that character's first bytes, which decode to U+FFFD: left out, as chat's stream does."""
    cut = next((i for i, t in enumerate(ids) if t in stops), len(ids))
    return tokenizer.decode(ids[:cut], skip_special_tokens=True).rstrip("\ufffd")


def answer(lm: Any, question: str, **kwargs: Any) -> str:
    """One question's answer (see ``generate_answers`` for the options)."""
    return generate_answers(lm, [question], batch_size=1, **kwargs)[0]
