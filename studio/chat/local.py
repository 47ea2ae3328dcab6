"""Chat with a model loaded in this process: transformers' ``generate`` streamed token by token.

Generation runs on the model's long-lived generation thread (``studio.models.worker``: a thread
started per answer made generation ~4x slower on a GPU) and feeds a ``TextIteratorStreamer``; the
caller iterates the streamer with a timeout. One lock per loaded model serialises generation, so two sessions sharing a
cached model never interleave their outputs. A stop event ends generation at the next token; the stream
ends at once, and the lock is released when generation does (a model busy compiling for fast decoding).

``fast_decoding=True`` (``BackendSpec.fast_decoding``) turns on a static KV cache and a compiled decoding
step (``studio.models.fast_decoding``); a model that cannot use it answers as usual, with a note saying why.

Prompts go through ``tokenizer.apply_chat_template`` when the model has one (Phi-3.5's ``<|end|>``
is added to the stop tokens); models without one (distilgpt2, the studio's training runs) get the
training format of ``studio.models.prompt_format`` and are cut at its stop strings.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from studio.chat.base import (
    OLDEST_LEFT_OUT,
    BackendBase,
    BackendSpec,
    ChatParams,
    Message,
    StreamStats,
    TooSlowError,
    validate_messages,
)
from studio.errors import BackendError, StudioError
from studio.models import cache, hf_import, prompt_format, worker
from studio.models import fast_decoding as fast
from studio.models.cache import model_lock
from studio.models.generate import (
    StopOnEvent,
    check_ids,
    context_limit,
    fit_prompt,
    stop_token_ids,
    template_refused,
)

TRIMMED = "This conversation is longer than the model's context ({limit:,} tokens): " + OLDEST_LEFT_OUT
QUESTION_CUT = ("This question is too long for the model's context ({limit:,} tokens, the answer's included): only "
                "its last {kept:,} tokens were read.")
SYSTEM_CUT = ("The system prompt is too long for the model's context ({limit:,} tokens, the answer's included): only the "
              "last {kept:,} tokens of it and the question were read, its start left out. Shorten the system prompt.")
LOCK_WAIT_S = 600.0  # how long a request waits for another session's answer on the same model
UNMEASURED_PREFILL_TPS = 10.0  # prompt tokens read per second assumed before a model's first answer measures its own:
# a 3.8B model (Phi-3.5-mini, float32) on a slow 2-core CPU; a 2,000-token conversation then gets 200 s more to its first
# token, where the 60 s timeout alone failed it while it was still reading the question
PREFILL_MARGIN = 2.0  # the measured rate's estimate is doubled: a busy machine reads slower than it did before
_prefill_tps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> prompt tokens/s, its last answer's
PREFILL_CHUNK = 512  # prompt tokens read per step of a long prompt, Stop looked at between steps: read in one pass, a
# 200,000-character question held SmolLM2-135M ~90 s on a CPU after Stop, and the next question waited for it
POLL_S = 0.2  # how often a stream waiting for its next token (or for the model) looks at the stop button
BUSY = ("Waiting for this model: another answer is using it (the one beside this in compare mode, another "
        "session's, or a stopped one still compiling for fast decoding).")


def wait_for_model(lock: Any, stats: StreamStats, stop: threading.Event, name: str) -> bool:
    """Take a loaded model's lock (``cache.model_lock``); while another answer holds it, ``stats.status`` says so (the
    page shows it, with the seconds waited) and Stop ends the wait (False). Once taken, ``stats.started`` is now and
    the wait is ``stats.waited_s``. Raises when the model stays busy for ``LOCK_WAIT_S``. A chat answer and a
    passage's extractive one wait the same way."""
    if lock.acquire(blocking=False):
        return True
    stats.status = BUSY
    deadline = time.monotonic() + LOCK_WAIT_S
    try:
        while time.monotonic() < deadline:
            if lock.acquire(timeout=POLL_S):
                # The first token's time starts now: compare mode's second answer on the same model read "first
                # token 106 s", its wait for the first answer counted as the model's own slowness. Said apart.
                now = time.perf_counter()
                stats.waited_s, stats.started = now - stats.started, now
                return True
            if stop.is_set():
                return False
    finally:
        stats.status = ""
    raise BackendError(f"{name} is busy answering another request: try again in a moment.")


def load_for_chat(spec: BackendSpec, token: str | None = None) -> Any:
    """``spec``'s model from the process's one model cache (``studio.models.cache``), loaded on first use."""
    from studio.chat import offline_remedy  # Chat's one list of what answers without a network

    with offline_remedy():
        return cache.shared().get(spec.model, spec.quantization, token)


def _counting_streamer(tokenizer: Any, stats: StreamStats, timeout: float) -> Any:
    """A ``TextIteratorStreamer`` that also counts generated tokens as they come (live tokens/s). While
    ``stats.status`` says the decoding step compiles, the second token ends the compilation: its time
    goes into ``stats.decoding``."""
    hf_import.ready()
    from transformers import TextIteratorStreamer

    class CountingStreamer(TextIteratorStreamer):
        def put(self, value: Any) -> None:
            if not self.next_tokens_are_prompt:  # the first call carries the prompt
                stats.mark_token(int(value.numel()))
                if stats.status == fast.COMPILING and stats.tokens > 1 and stats.first_token_at is not None:
                    took = time.perf_counter() - stats.first_token_at
                    stats.status = ""
                    if took >= fast.NOTICEABLE_COMPILE_S:
                        stats.decoding, stats.compile_s = f"fast decoding (compiled in {took:.0f} s)", took
                    else:  # torch reused a compiled step (a reloaded model, another session's): no pause to name
                        stats.decoding = "fast decoding"
            super().put(value)
            if self.token_cache and not self.next_tokens_are_prompt:
                # transformers holds symbols and punctuation back until the next space: an answer of emoji alone
                # (or a run of them) showed "Waiting for the first token" while its tokens came. What is whole is
                # let through; only a character still missing its last bytes waits.
                pending = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)[self.print_len:]
                if pending and "\ufffd" not in pending:
                    self.print_len += len(pending)
                    self.on_finalized_text(pending)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if stream_end:  # an answer cut mid-character (max new tokens) ends on the character's first bytes
                text = text.rstrip("\ufffd")
            super().on_finalized_text(text, stream_end)

    return CountingStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout)


class _StopStrings:
    """Cuts streamed text at the first stop string, holding back text that may be the start of one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = tuple(stops)
        self.pending = ""
        self.hit = False

    def feed(self, text: str) -> str:
        self.pending += text
        for stop in self.stops:
            pos = self.pending.find(stop)
            if pos != -1:
                out, self.pending, self.hit = self.pending[:pos], "", True
                return out
        keep = 0
        for stop in self.stops:  # the longest tail that is a prefix of a stop string
            for n in range(min(len(stop) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(stop[:n]):
                    keep = max(keep, n)
                    break
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(self.pending) - keep:]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _rejected(exc: Exception) -> BackendError:
    """The model's chat template refused the conversation, as ``generate.template_refused`` says it."""
    return BackendError(str(template_refused(exc)))


class LocalBackend(BackendBase):
    """A ``studio.models.loading.LoadedModel`` behind the ChatBackend interface."""

    def __init__(self, loaded: Any, *, fast_decoding: bool = False):
        self.loaded = loaded
        self.name = f"{loaded.ref.spec} (local)"
        self.notes = list(loaded.notes)
        self._eos = stop_token_ids(loaded.tokenizer, loaded.model)
        self.fast_decoding = False
        if fast_decoding:  # a model that cannot use it says why, once, and answers as usual
            reason = fast.unavailable(loaded)
            self.fast_decoding = reason is None
            if reason:
                self.notes.append(reason)

    def describe(self) -> str:
        lm = self.loaded
        quant = f", {lm.quantization}" if lm.quantization else ""
        fmt = "chat template" if lm.has_chat_template else "training format (no chat template)"
        notes = f" {' '.join(lm.notes)}" if lm.notes else ""
        return f"{lm.ref.spec} on {lm.device} ({lm.dtype}{quant}), {fmt}.{notes}"

    def encode(self, messages: Sequence[Message]) -> dict[str, Any]:
        """Model inputs for the conversation: the chat template, or the training format without one."""
        tok, device = self.loaded.tokenizer, self.loaded.model.device
        msgs = validate_messages(messages)
        if self.loaded.has_chat_template:
            try:
                enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            except Exception as exc:  # jinja2 TemplateError: e.g. a template that forbids the system role
                if msgs[0]["role"] != "system":
                    raise _rejected(exc) from None
                merged = [{"role": "user", "content": f"{msgs[0]['content']}\n\n{msgs[1]['content']}"}, *msgs[2:]]
                try:  # the system prompt in the first question: refused too (a turn too long for it), said the same
                    enc = tok.apply_chat_template(merged, add_generation_prompt=True, return_tensors="pt",
                                                  return_dict=True)
                except Exception as again:  # its raw TemplateError was a traceback on the command line
                    raise _rejected(again) from None
        else:
            enc = tok(prompt_format.prompt_from_messages(msgs), return_tensors="pt")
        return {k: v.to(device) for k, v in enc.items()}

    def fit(self, messages: Sequence[Message], max_new_tokens: int) -> tuple[dict[str, Any], int]:
        """The conversation's inputs within the model's context, and how many new tokens fit after them.

        A position past the context fails inside the model ("index out of range"), so: the oldest turns
        are left out (the system prompt and the question stay) until the question and ``max_new_tokens``
        fit, saying so once in ``notes``; then the answer gets the room that is left; a question too long
        to leave the answer its max new tokens (at most half the context) keeps its end, saying so."""
        inputs = self.encode(messages)
        limit = context_limit(self.loaded.model)
        if limit is None:
            return inputs, max_new_tokens
        msgs = validate_messages(messages)
        first = 1 if msgs[0]["role"] == "system" else 0
        while inputs["input_ids"].shape[1] + max_new_tokens > limit and len(msgs) - first > 1:
            end = first + 1  # the oldest turn: a question and the answers after it
            while end < len(msgs) - 1 and msgs[end]["role"] != "user":
                end += 1
            msgs = msgs[:first] + msgs[end:]
            inputs = self.encode(msgs)
            if TRIMMED.format(limit=limit) not in self.notes:
                self.notes.append(TRIMMED.format(limit=limit))
        length = int(inputs["input_ids"].shape[1])
        kept, new = fit_prompt(length, limit, max_new_tokens)  # Evaluate's rule too
        if kept < length:  # the question alone: it left one token for the answer
            inputs = {k: v[:, -kept:] for k, v in inputs.items()}
            alone = self.encode(msgs[first:])["input_ids"].shape[1] if first else None  # without the system prompt
            cut = SYSTEM_CUT if alone is not None and fit_prompt(alone, limit, max_new_tokens)[0] == alone else QUESTION_CUT
            if (note := cut.format(limit=limit, kept=kept)) not in self.notes:
                self.notes.append(note)
        return inputs, new

    def generate_kwargs(self, params: ChatParams) -> dict[str, Any]:
        tok = self.loaded.tokenizer
        kw: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "eos_token_id": self._eos,
            "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else self._eos[0] if self._eos else None,
            "do_sample": params.sampling,
            "repetition_penalty": params.repetition_penalty,
        }
        if params.sampling:
            kw.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        else:  # greedy: unset the model's sampling defaults so transformers does not warn about them
            kw.update(temperature=None, top_p=None, top_k=None)
        return kw

    def stream(self, messages: Sequence[Message], params: ChatParams, *,
               stats: StreamStats | None = None, stop: threading.Event | None = None) -> Iterator[str]:
        hf_import.ready()
        from transformers import StoppingCriteriaList

        stats = stats if stats is not None else StreamStats()
        stop = stop or threading.Event()  # the caller's: the user pressed Stop
        halt = threading.Event()  # ours: the stream was closed, failed, or hit a stop string
        inputs, new_tokens = self.fit(messages, params.max_new_tokens)
        check_ids(self.loaded, inputs["input_ids"])
        prompt_len = int(inputs["input_ids"].shape[1])
        params = dataclasses.replace(params, max_new_tokens=new_tokens)
        streamer = _counting_streamer(self.loaded.tokenizer, stats, params.timeout_s)
        kwargs = {**inputs, **self.generate_kwargs(params), "streamer": streamer,
                  "stopping_criteria": StoppingCriteriaList([StopOnEvent(stop, halt)])}
        result: dict[str, Any] = {}
        lock = model_lock(self.loaded.model)
        if not wait_for_model(lock, stats, stop, self.loaded.ref.spec):
            return  # stopped while the model was busy: no answer, nothing held
        cutter = None if self.loaded.has_chat_template else _StopStrings(prompt_format.STOP_STRINGS)
        done = None
        try:
            if self.fast_decoding:  # in the try: the lock is released whatever happens from here
                kwargs.update(self._fast(params, prompt_len, stats))
            reading = time.perf_counter()
            done = worker.submit(self.loaded.model, lambda: self._generate(
                kwargs, params, result, streamer, stats, lambda: stop.is_set() or halt.is_set()))
            for text in self._pieces(streamer, params, stats, stop, prompt_len):
                if cutter is not None:
                    text = cutter.feed(text)
                    if cutter.hit:
                        halt.set()
                if text:
                    yield text
                if stop.is_set() or halt.is_set():
                    break
            if cutter is not None and not cutter.hit:
                tail = cutter.flush()
                if tail:
                    yield tail
        finally:
            halt.set()  # a closed or failed stream stops generation at the next token
            if done is not None and stop.is_set() and not done.done():
                # Stopped while the model cannot stop yet (compiling): the answer ends now, the model's lock
                # when generation does, so the next question waits for it rather than for this stream.
                done.add_done_callback(lambda _f: lock.release())
            else:
                if done is not None:
                    done.result()  # _generate catches its own errors into ``result``
                lock.release()
            stats.status = ""
            stats.finish()
            if done is not None and stats.first_token_at is not None and stats.first_token_at > reading:
                _prefill_tps[self.loaded.model] = prompt_len / (stats.first_token_at - reading)
            if "sequences" in result:
                stats.tokens = int(result["sequences"].shape[1]) - prompt_len
                last = int(result["sequences"][0, -1]) if stats.tokens > 0 else None
                if (stats.tokens >= params.max_new_tokens and last not in self._eos and not stop.is_set()
                        and (cutter is None or not cutter.hit)):
                    stats.cut_at = params.max_new_tokens  # generation hit max_new_tokens, not an end of turn
        if "error" in result:
            raise result["error"]

    def _fast(self, params: ChatParams, prompt_len: int, stats: StreamStats) -> dict[str, Any]:
        """Fast decoding's ``generate`` arguments; ``stats.status`` says when this answer compiles first."""
        if fast.unavailable(self.loaded):  # its compilation failed in an earlier answer
            return {}
        try:
            kw = fast.generate_kwargs(self.loaded, prompt_len, params.max_new_tokens, context_limit(self.loaded.model))
        except Exception as exc:  # the static cache could not be made for this model: normal decoding, said once
            fast.mark_failed(self.loaded, exc)
            self.notes.append(fast.unavailable(self.loaded) or "")
            return {}
        if fast.will_compile(self.loaded):
            stats.status = fast.COMPILING
        else:
            stats.decoding = "fast decoding"
        return kw

    def prefill_allowance(self, prompt_tokens: int) -> float:
        """Seconds added to the timeout before the first token: the model reads the whole prompt first (a long
        conversation on a slow CPU took longer than the timeout for that alone). From the rate this model read its
        last prompt at, doubled; before its first answer, ``UNMEASURED_PREFILL_TPS``."""
        measured = _prefill_tps.get(self.loaded.model)
        return prompt_tokens * PREFILL_MARGIN / measured if measured else prompt_tokens / UNMEASURED_PREFILL_TPS

    def _pieces(self, streamer: Any, params: ChatParams, stats: StreamStats, stop: threading.Event,
                prompt_len: int = 0) -> Iterator[str]:
        """The streamer's text as it comes; ends when Stop is pressed even while no token comes (a compiling
        model); fails after ``params.timeout_s`` without a token (longer while the decoding step compiles; before the
        first token, longer by the time the prompt takes to read). A token counts when generated, not when its text
        comes out (the streamer holds a word's text until it ends)."""
        last, seen = time.monotonic(), stats.tokens
        reading = self.prefill_allowance(prompt_len)
        while True:
            try:
                text = streamer.text_queue.get(timeout=POLL_S)
            except queue.Empty:
                if stop.is_set():
                    return
                if stats.tokens != seen:
                    last, seen = time.monotonic(), stats.tokens
                    continue
                wait = fast.COMPILE_TIMEOUT_S if stats.status else params.timeout_s
                wait = max(wait, params.timeout_s) + (0.0 if stats.tokens else reading)
                if time.monotonic() - last > wait:
                    raise self._too_slow(params, stats, wait, reading, prompt_len) from None
                continue
            if text is streamer.stop_signal:
                return
            last = time.monotonic()
            yield text

    def _too_slow(self, params: ChatParams, stats: StreamStats, waited: float, reading: float,
                  prompt_len: int) -> BackendError:
        """What to do when no token came in time: before the first one, the prompt's length is the likely cause."""
        spec = self.loaded.ref.spec
        if stats.tokens:  # "no token" beside "first token 69.99 s · 1 token" read as a contradiction: say "new"
            return TooSlowError(f"{spec} produced no new token for {waited:.0f} s: it is too slow on this device; ",
                                ", lower max tokens, or use a smaller model.")
        return TooSlowError(
            f"{spec} produced no token for {waited:.0f} s (the {params.timeout_s:.0f} s timeout plus "
            f"{f'{reading:.0f} s' if reading >= 1 else 'under 1 s'} to read its {prompt_len:,}-token prompt): it is too slow on this device "
            "for this question; ", ", ask a shorter question or clear the conversation, or use a smaller model.")

    def _prefill(self, kwargs: dict[str, Any], stopped: Callable[[], bool]) -> bool:
        """Read a long prompt, all but its last token, into a KV cache ``PREFILL_CHUNK`` tokens at a time, looking at
        Stop between steps; ``generate`` then reads only the last token. False when stopped (nothing to generate).
        The answer is the same: the same greedy tokens, logits equal up to float rounding (tests/chat/test_local_chat.py).
        Not with fast decoding (its static cache is filled by ``generate``) or a batch."""
        import torch
        hf_import.ready()
        from transformers import DynamicCache

        ids = kwargs["input_ids"]
        n = int(ids.shape[1])
        name = fast.cache_argument()  # "cache" in newer transformers, "past_key_values" before (5.17 on the GPU image)
        if n <= PREFILL_CHUNK or ids.shape[0] != 1 or fast.uses_fast(kwargs) or name in kwargs:
            return not stopped()
        mask = kwargs.get("attention_mask")
        cache = DynamicCache(config=self.loaded.model.config)
        for start in range(0, n - 1, PREFILL_CHUNK):
            if stopped():
                return False
            end = min(start + PREFILL_CHUNK, n - 1)
            self.loaded.model(input_ids=ids[:, start:end], attention_mask=None if mask is None else mask[:, :end],
                              **{name: cache}, use_cache=True,
                              cache_position=torch.arange(start, end, device=ids.device))
        kwargs[name] = cache
        return not stopped()

    def _generate(self, kwargs: dict[str, Any], params: ChatParams, result: dict[str, Any],
                  streamer: Any, stats: StreamStats, stopped: Callable[[], bool] = lambda: False) -> None:
        import torch

        compiling = stats.status == fast.COMPILING
        try:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            with torch.inference_mode():
                fast.prepare(kwargs)
                if not self._prefill(kwargs, stopped):
                    return  # stopped while the prompt was read: the model is free for the next question
                result["sequences"] = self.loaded.model.generate(**kwargs)
            if fast.uses_fast(kwargs) and stats.tokens > 1:  # the decoding step ran: it is compiled now
                fast.mark_compiled(self.loaded)
        except torch.OutOfMemoryError:
            result["error"] = BackendError(
                f"Out of memory generating with {self.loaded.ref.spec}: lower max tokens, unload other models, "
                "or load it in 4-bit."
            )
        except StudioError as exc:
            result["error"] = exc
        except Exception as exc:  # a generation failure must end the stream, not hang it
            if compiling:  # torch.compile's errors (no C compiler, an unsupported layer): eager from now on
                result["error"] = BackendError(fast.mark_failed(self.loaded, exc))
            else:
                result["error"] = BackendError(f"Generation failed with {self.loaded.ref.spec}: {str(exc)[:200]}")
        finally:
            streamer.end()
