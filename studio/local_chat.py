"""Chat with a model loaded in this process: transformers' ``generate`` streamed token by token.

Generation runs in a worker thread that feeds a ``TextIteratorStreamer``; the caller iterates the
streamer with a timeout. One lock per loaded model serialises generation, so two sessions sharing a
cached model never interleave their outputs. A stop event ends generation at the next token.

Prompts go through ``tokenizer.apply_chat_template`` when the model has one (Phi-3.5's ``<|end|>``
is added to the stop tokens); models without one (distilgpt2, the studio's training runs) get the
training format of ``studio.prompt_format`` and are cut at its stop strings.
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
from collections import OrderedDict
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from studio import prompt_format
from studio.chat import BackendBase, BackendSpec, ChatParams, Message, StreamStats, validate_messages
from studio.errors import BackendError, ModelLoadError, StudioError

END_TOKENS = ("<|end|>", "<|endoftext|>", "<|eot_id|>", "<|im_end|>", "<end_of_turn>")
"""End-of-turn tokens of common chat formats (Phi-3.5's first): generation stops at any the model knows."""

LOCK_WAIT_S = 600.0  # how long a request waits for another session's answer on the same model

_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(model: Any) -> threading.Lock:
    """The one generation lock of a loaded model (shared by every backend built on it)."""
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.Lock()
        return lock


def load_for_chat(spec: BackendSpec, token: str | None = None) -> Any:
    """Load ``spec``'s model for chat (``studio.models.load_causal_lm``); the UI wraps this in a cache."""
    from studio.models import load_causal_lm

    try:
        return load_causal_lm(spec.model, quantization=spec.quantization, token=token)
    except ModelLoadError as exc:
        if str(exc).startswith("No network"):  # the loader's advice is for training: say what works in chat
            raise ModelLoadError(
                f"No network: choose a training run, a local model folder or an API model ({spec.model!r} "
                "cannot be downloaded from the Hugging Face Hub and is not in the local cache)."
            ) from None
        raise


class ModelCache:
    """Loaded models shared by every session, at most ``max_models`` (least recently used goes first).

    Plain and thread-safe so chat workers can use it; the UI keeps one per process (``st.cache_resource``).
    Two sessions asking for the same model at once load it once.
    """

    def __init__(self, max_models: int = 2, loader: Any = None):
        self.max_models = max_models
        self._loader = loader or load_for_chat
        self._models: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str | None], threading.Lock] = {}

    @staticmethod
    def key(spec: BackendSpec) -> tuple[str, str | None]:
        return (spec.model.strip(), spec.quantization)

    def get(self, spec: BackendSpec, token: str | None = None) -> Any:
        key = self.key(spec)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per model, however many sessions ask
            with self._lock:
                if key in self._models:
                    return self._models[key]
            loaded = self._loader(spec, token)
            with self._lock:
                self._models[key] = loaded
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
                self._loading.pop(key, None)
        free_memory()
        return loaded

    def loaded(self) -> list[Any]:
        with self._lock:
            return list(self._models.values())

    def unload(self, model: str | None = None) -> int:
        """Drop one model (by its spec string) or all; returns how many were dropped."""
        with self._lock:
            keys = [k for k in self._models if model is None or k[0] == model]
            for k in keys:
                del self._models[k]
        free_memory()
        return len(keys)


def _cuda() -> Any:
    """``torch.cuda`` when torch is already imported (fully: a worker may be importing it) and sees a GPU."""
    torch = sys.modules.get("torch")
    try:
        return torch.cuda if torch is not None and torch.cuda.is_available() else None
    except AttributeError:  # torch half-imported by a loading worker
        return None


def free_memory() -> None:
    """Give memory of dropped models back (the GPU's too, when torch is already loaded)."""
    gc.collect()
    cuda = _cuda()
    if cuda is not None:
        cuda.empty_cache()


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (Linux ``/proc``); 0 where unavailable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def memory_summary() -> str:
    """Device memory in one line: the GPU's when torch uses CUDA, else this process's resident memory."""
    cuda = _cuda()
    if cuda is not None:
        free, total = cuda.mem_get_info()
        used = cuda.memory_allocated() / 2**30
        return f"GPU: {used:.1f} GiB held by models, {(total - free) / 2**30:.1f} of {total / 2**30:.1f} GiB in use"
    return f"Memory: {rss_mb():.0f} MB resident (CPU)"


def stop_token_ids(tokenizer: Any, model: Any) -> list[int]:
    """Every token id that ends an answer: EOS, the generation config's, and known end-of-turn tokens."""
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


def _counting_streamer(tokenizer: Any, stats: StreamStats, timeout: float) -> Any:
    """A ``TextIteratorStreamer`` that also counts generated tokens as they come (live tokens/s)."""
    from transformers import TextIteratorStreamer

    class CountingStreamer(TextIteratorStreamer):
        def put(self, value: Any) -> None:
            if not self.next_tokens_are_prompt:  # the first call carries the prompt
                stats.mark_token(int(value.numel()))
            super().put(value)

    return CountingStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout)


class _StopOnEvent:
    """A StoppingCriteria that ends generation when the event is set (stop button, closed stream)."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        stop = any(e.is_set() for e in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


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


class LocalBackend(BackendBase):
    """A ``studio.models.LoadedModel`` behind the ChatBackend interface."""

    def __init__(self, loaded: Any):
        self.loaded = loaded
        self.name = f"{loaded.ref.spec} (local)"
        self.notes = list(loaded.notes)
        self._eos = stop_token_ids(loaded.tokenizer, loaded.model)

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
                    raise BackendError(f"The model's chat template rejected the conversation: {str(exc)[:200]}") from None
                merged = [{"role": "user", "content": f"{msgs[0]['content']}\n\n{msgs[1]['content']}"}, *msgs[2:]]
                enc = tok.apply_chat_template(merged, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        else:
            enc = tok(prompt_format.prompt_from_messages(msgs), return_tensors="pt")
        return {k: v.to(device) for k, v in enc.items()}

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
        from transformers import StoppingCriteriaList

        stats = stats if stats is not None else StreamStats()
        stop = stop or threading.Event()  # the caller's: the user pressed Stop
        halt = threading.Event()  # ours: the stream was closed, failed, or hit a stop string
        inputs = self.encode(messages)
        prompt_len = int(inputs["input_ids"].shape[1])
        streamer = _counting_streamer(self.loaded.tokenizer, stats, params.timeout_s)
        kwargs = {**inputs, **self.generate_kwargs(params), "streamer": streamer,
                  "stopping_criteria": StoppingCriteriaList([_StopOnEvent(stop, halt)])}
        result: dict[str, Any] = {}
        lock = model_lock(self.loaded.model)
        if not lock.acquire(timeout=LOCK_WAIT_S):
            raise BackendError(f"{self.loaded.ref.spec} is busy answering another request: try again in a moment.")
        worker = threading.Thread(target=self._generate, args=(kwargs, params, result, streamer, stats),
                                  name="chat-generate", daemon=True)
        cutter = None if self.loaded.has_chat_template else _StopStrings(prompt_format.STOP_STRINGS)
        try:
            worker.start()
            for text in self._pieces(streamer, params):
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
            worker.join()
            lock.release()
            stats.finish()
            if "sequences" in result:
                stats.tokens = int(result["sequences"].shape[1]) - prompt_len
        if "error" in result:
            raise result["error"]

    def _pieces(self, streamer: Any, params: ChatParams) -> Iterator[str]:
        try:
            yield from streamer
        except queue.Empty:
            raise BackendError(
                f"{self.loaded.ref.spec} produced no token for {params.timeout_s:.0f} s: it is too slow on this "
                "device; raise the timeout, lower max tokens, or use a smaller model."
            ) from None

    def _generate(self, kwargs: dict[str, Any], params: ChatParams, result: dict[str, Any],
                  streamer: Any, stats: StreamStats) -> None:
        import torch

        try:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            with torch.inference_mode():
                result["sequences"] = self.loaded.model.generate(**kwargs)
        except torch.OutOfMemoryError:
            result["error"] = BackendError(
                f"Out of memory generating with {self.loaded.ref.spec}: lower max tokens, unload other models, "
                "or load it in 4-bit."
            )
        except StudioError as exc:
            result["error"] = exc
        except Exception as exc:  # a generation failure must end the stream, not hang it
            result["error"] = BackendError(f"Generation failed with {self.loaded.ref.spec}: {str(exc)[:200]}")
        finally:
            streamer.end()
