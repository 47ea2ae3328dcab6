"""Questions over a passage: one small interface for extractive and generative models.

A ``PassageBackend`` answers ``(question, passage)`` with a ``PassageAnswer``: the text and, when it
occurs in the passage, where (character offsets), with the model's score for an extractive span.

- An **extractive** model (``BackendSpec(task="extractive")``) picks a span of the passage: locally
  with ``studio.models.extractive`` (through the one model cache), or through Hugging Face Inference
  Providers' question-answering task (``AsyncInferenceClient.question_answering`` on a connection of its
  own, ``api.ProviderClient``) or a dedicated endpoint URL (or a Space's or endpoint's URL given as the model)
  that takes the same request (``{"inputs": {"question", "context"}}``, ``openai_stream.post_json``), with chat's retries of a busy or loading server,
  timeouts and token rules; Stop closes the request's connection at once on either path.
- A **generative** model is any chat backend asked ``prompt_format.user_content(question, passage)``,
  the rendering training uses; its answer is then looked for in the passage ("found in the passage").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from studio.chat import openai_stream
from studio.chat.api import MAX_ATTEMPTS, ApiBackend, ProviderClient, _Retry
from studio.chat.base import BackendSpec, ChatBackend, ChatParams, StreamStats, complete, hf_host
from studio.chat.session import stopped_early
from studio.errors import BackendError, CancelledError, HubUnreachableError, StudioError
from studio.models import extractive, loading, prompt_format
from studio.models.spec import parse_spec


@dataclass(frozen=True)
class PassageAnswer:
    text: str
    start: int | None  # where the answer occurs in the passage (characters); None when it does not
    end: int | None
    score: float | None  # an extractive model's confidence in its span, 0-1; None for a generative answer
    extractive: bool
    model: str  # the backend's name, for headers
    stats: StreamStats | None = None
    stopped: bool = False  # Stop came mid-answer: ``text`` is what the model had said by then

    @property
    def found(self) -> bool:
        """Whether the answer is a span of the passage (always, for an extractive model)."""
        return self.start is not None


@runtime_checkable
class PassageBackend(Protocol):
    name: str
    extractive: bool

    def answer(self, question: str, context: str, params: ChatParams, *,
               stop: threading.Event | None = None, stats: StreamStats | None = None) -> PassageAnswer:
        """The answer to ``question`` about ``context``; ``stats`` (the caller's, read while it runs: its ``status``
        says a wait for the model) records its timing."""
        ...

    def describe(self) -> str:
        ...


# --- where an answer is in its passage ------------------------------------------------------

def _pattern(answer: str) -> re.Pattern[str]:
    """``answer`` as a pattern that ignores case and takes any run of white space for its spaces."""
    return re.compile(r"\s+".join(re.escape(word) for word in answer.split()), re.IGNORECASE)


def locate(answer: str, context: str) -> tuple[int, int] | None:
    """(start, end) of ``answer`` in ``context``, ignoring case, spacing and a final full stop; None if absent.

    Linear in the passage and nothing copied: an exact ``str.find``, then one regular-expression scan of
    the passage as it is (``re`` keeps the offsets), so a passage of any size costs no more than itself.
    """
    answer = (answer or "").strip().rstrip(".").strip()
    if not answer or not context:
        return None
    pos = context.find(answer)
    if pos != -1:
        return pos, pos + len(answer)
    found = _pattern(answer).search(context)
    return (found.start(), found.end()) if found else None


def occurs(answer: str, context: str) -> bool:
    return locate(answer, context) is not None


def segments(context: str, start: int | None, end: int | None) -> list[tuple[str, bool]]:
    """The passage in pieces, ``True`` for the answer's span: what a page highlights."""
    if start is None or end is None or not 0 <= start < end <= len(context):
        return [(context, False)]
    return [(t, hl) for t, hl in ((context[:start], False), (context[start:end], True), (context[end:], False)) if t]


# --- backends ----------------------------------------------------------------------------------

class OverPassage:
    """A generative (chat) model asked about a passage, the way training renders a record with one."""

    extractive = False

    def __init__(self, chat: ChatBackend, system: str = ""):
        self.chat, self.system = chat, system
        self.name = chat.name

    def describe(self) -> str:
        return self.chat.describe()

    def messages(self, question: str, context: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system.strip()}] if self.system.strip() else []
        return msgs + [{"role": "user", "content": prompt_format.user_content(question, context)}]

    def _check_fits(self, question: str, context: str, params: ChatParams) -> None:
        """A local model's window must hold the passage, the question and the answer: say so before asking."""
        loaded = getattr(self.chat, "loaded", None)
        if loaded is None:  # an API model: the server says when the prompt is too long
            return
        cfg = loaded.model.config
        window = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
        if not window:
            return
        used = len(loaded.tokenizer(prompt_format.user_content(question, context), add_special_tokens=False)["input_ids"])
        if used + min(params.max_new_tokens, 32) > window:
            raise BackendError(f"The passage and question are {used:,} tokens, more than this model's {window:,}-token "
                               "window holds with an answer: shorten the passage, or ask an extractive model (it "
                               "reads long passages in overlapping windows).")

    def answer(self, question: str, context: str, params: ChatParams, *,
               stop: threading.Event | None = None, stats: StreamStats | None = None,
               on_piece: Callable[[str], None] | None = None) -> PassageAnswer:
        """As ``PassageBackend.answer``; ``on_piece`` gets each piece of the answer as it streams."""
        extractive.check_passage(question, context)
        self._check_fits(question, context, params)
        stats = stats if stats is not None else StreamStats()
        # ``stop`` goes to the stream: Stop left a stalled server's answer "Answering…" until its timeout
        text = complete(self.chat, self.messages(question, context), params, stats, stop=stop,
                        on_piece=on_piece).strip()
        stopped = stop is not None and stop.is_set()
        if stopped and not text:
            raise CancelledError(stopped_early())
        # stopped mid-answer: what it had said is kept, as a conversation keeps it (it read "Stopped before the answer
        # finished." and the words were gone)
        where = locate(text, context)
        return PassageAnswer(text, *(where or (None, None)), None, False, self.name, stats, stopped=stopped)


class LocalExtractive:
    """An extractive model loaded here (``studio.models.extractive``)."""

    extractive = True

    def __init__(self, loaded: extractive.LoadedQA, name: str):
        self.loaded, self.name = loaded, name

    def describe(self) -> str:
        return f"{self.name}: extractive, on {self.loaded.device}"

    def answer(self, question: str, context: str, params: ChatParams, *,
               stop: threading.Event | None = None, stats: StreamStats | None = None) -> PassageAnswer:
        from studio.chat.local import wait_for_model
        from studio.models.cache import model_lock

        stats = stats if stats is not None else StreamStats()
        lock = model_lock(self.loaded.model)
        # compare mode's other card (or another session) may be using it: said as a conversation's wait, not
        # "Answering…"; Stop ends the wait
        if not wait_for_model(lock, stats, stop or threading.Event(), self.name):
            raise CancelledError("Stopped while waiting for the model: no answer.")
        try:
            span = extractive.find_span(self.loaded, question, context)
        finally:
            lock.release()
        stats.mark_token()
        stats.finish()
        return PassageAnswer(span.text, span.start, span.end, span.score, True, self.name, stats)


class ApiExtractive(ApiBackend):
    """Inference Providers' question-answering task by model id, or an endpoint URL taking its request.

    The Hugging Face token goes to Hugging Face only (the providers, ``*.huggingface.cloud`` endpoints);
    any other URL gets only the key given for it. Busy and loading servers are retried as in chat.
    """

    extractive = True
    ENDPOINT = 'a question-answering endpoint (one taking {"inputs": {"question", "context"}})'

    def describe(self) -> str:
        if self.spec.base_url:
            return f"{self.spec.model} at {self.spec.base_url} (extractive endpoint)"
        if "://" in self.spec.model:
            return f"{self.spec.model} (extractive endpoint)"
        return f"{self.spec.model}: extractive, through Hugging Face Inference Providers ({self.spec.provider})"

    def _not_served(self) -> BackendError:
        provider = "" if self.spec.provider == "auto" else f" by provider {self.spec.provider!r}"
        return BackendError(
            f"{self.spec.model} is not served for question answering{provider} on Hugging Face Inference Providers: "
            f"try {extractive.EXAMPLE_MODEL} with provider hf-inference, run it locally, or ask a chat model over the "
            "passage."
        )

    def _explain(self, exc: Exception) -> Exception:
        text = str(exc)
        if self.hosted and isinstance(exc, ValueError) and ("doesn't support task" in text or "not supported for provider" in text):
            return self._not_served()
        return super()._explain(exc)

    def _ask(self, question: str, context: str, timeout: float, stop: threading.Event) -> dict[str, Any] | None:
        """The service's answer; None when Stop came first (its connection is closed at once, on either path)."""
        payload = {"inputs": {"question": question, "context": context}}
        if self.spec.base_url:
            return openai_stream.post_json(self.spec.base_url, payload, self._token, timeout, stop)
        if "://" in self.spec.model:
            # a Space or an Inference Endpoint given as the model: huggingface_hub would post this same request to the
            # URL itself, through an httpx client of its own that follows redirects unchecked; sent here instead, on
            # the guarded connection (a public app reaches no address of its own machine or network for a visitor).
            # No token needed: a public Space takes none (it was refused, "Inference Providers need a token"); one
            # given goes with it, for a private Space
            return openai_stream.post_json(self.spec.model, payload, self._token, timeout, stop)
        self._check_can_send()
        client = ProviderClient(model=self.spec.model, provider=self.spec.provider, token=self._token, timeout=timeout)
        # a connection of its own, which Stop closes
        try:
            out = client.question_answering(question, context, stop)
        finally:
            client.close()
        if out is None:
            return None
        out = out[0] if isinstance(out, list) and out else out
        return {k: getattr(out, k, None) for k in ("answer", "start", "end", "score")}

    def answer(self, question: str, context: str, params: ChatParams, *,
               stop: threading.Event | None = None, stats: StreamStats | None = None) -> PassageAnswer:
        extractive.check_passage(question, context)
        stop = stop or threading.Event()
        stats = stats if stats is not None else StreamStats()
        for attempt in range(MAX_ATTEMPTS):
            try:
                raw = self._ask(question.strip(), context, params.timeout_s, stop)
            except StudioError:  # refused before any request: no token, offline mode
                raise
            except Exception as exc:  # the client's errors: HTTP status, timeout, connection, a refused task
                err = self._explain(exc)
                if not isinstance(err, _Retry):
                    raise err from None
                if not self._wait_before_retry(err, attempt, stop, stats):
                    raise CancelledError("Stopped before the service answered.") from None
                continue
            if raw is None or stop.is_set():
                raise CancelledError("Stopped before the service answered.")
            stats.mark_token()
            stats.finish()
            return self._parse(raw, context, stats)
        raise BackendError(f"{self.spec.model}: no answer after {MAX_ATTEMPTS} tries. Try again later.")

    def _parse(self, raw: Any, context: str, stats: StreamStats) -> PassageAnswer:
        raw = raw[0] if isinstance(raw, list) and raw else raw
        text = raw.get("answer") if isinstance(raw, dict) else None
        if not isinstance(text, str):
            raise BackendError(f"{self.where()} sent no answer span (expected {{\"answer\", \"start\", \"end\", \"score\"}}): "
                               "is this a question-answering model?")
        start, end, score = raw.get("start"), raw.get("end"), raw.get("score")
        if not (isinstance(start, int) and isinstance(end, int) and context[start:end].strip() == text.strip()):
            found = locate(text, context)  # offsets that do not match the passage: find the text itself
            start, end = found or (None, None)
        return PassageAnswer(text.strip(), start, end, float(score) if isinstance(score, (int, float)) else None,
                             True, self.name, stats)


def token_for(spec: BackendSpec, hf_token: str | None, api_key: str | None) -> str | None:
    """The one secret ``spec`` may be sent: the HF token for Hugging Face, the key for any other URL."""
    if spec.kind == "local":
        return hf_token  # Hub downloads
    if spec.base_url and not hf_host(spec.base_url):
        return api_key or None
    return hf_token or None


OFFLINE_REMEDY = f"{loading.QA_OFFLINE_REMEDY}, or an API model"
"""What answers an extractive question without a network: Chat's list named the bundled SmolLM2, which is generative."""


def make_passage_backend(spec: BackendSpec, token: str | None = None, *, system: str = "",
                         loader: Callable[[BackendSpec], Any] | None = None) -> PassageBackend:
    """The passage backend for ``spec``: extractive when ``spec.task`` says so (or a local model is one).

    ``token`` is what ``token_for`` picked for it; ``loader`` (local only) is the UI's cached loader.
    """
    from studio.chat import make_backend

    if spec.kind == "local" and (spec.task == "extractive" or extractive.is_extractive(spec.model)):
        qspec = BackendSpec(kind="local", model=str(parse_spec(spec.model).as_qa()),
                            task="extractive")
        with HubUnreachableError.remedied(OFFLINE_REMEDY):
            if loader is not None:
                loaded = loader(qspec)
            else:
                from studio.models import cache

                loaded = cache.shared().get(qspec.model, None, token)
        return LocalExtractive(loaded, spec.label)
    if spec.task == "extractive":
        return ApiExtractive(spec, token)
    return OverPassage(make_backend(spec, token, loader=loader), system)

