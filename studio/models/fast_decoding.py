"""Fast decoding: a static KV cache and ``torch.compile`` of the one-token decoding step.

transformers compiles the decoding forward itself when ``generate`` gets
``cache_implementation="static"``: on CUDA always (mode "reduce-overhead", i.e. CUDA graphs),
elsewhere only when the compile config sets ``_compile_all_devices``, which we set, since on a CPU
it measurably helps too (docs/chat.md). The prompt (prefill) still runs eagerly.

What a user notices:
- The first answer pauses after its first token while the step compiles (26-78 s for SmolLM2-135M
  on 2 busy CPU cores); later answers reuse the compiled step.
- The static cache is allocated for ``cache_length`` tokens: prompt + max new tokens rounded up to a
  power of two from 256, at most the model's context. It is never shrunk for a model, so a shorter
  question or a lower max-new-tokens never recompiles; a longer answer than any before compiles once
  more, for the next bucket (a handful of compilations at most).
- The cache is kept on the model between answers and cleared in place before each one (``prepare``,
  on the model's generation thread), rather than a new one per ``generate`` as transformers does:
  its tensors keep their addresses, so on CUDA the recorded CUDA graphs replay. A new cache's addresses
  make torch re-record them on every answer, and after 128 re-records (torch's
  ``cudagraph_unexpected_rerecord_limit``) give up CUDA graphs for the rest of the process. It holds
  its memory (2 x layers x KV heads x head size x length x batch values) until the model is unloaded.
- Greedy answers are the same tokens as without it (tests/models/test_fast_decoding.py).

Some models cannot use it (``unavailable`` says why in one line): bitsandbytes 4-/8-bit layers are
not compileable, a LoRA adapter applied on the fly is not compiled, some architectures do not
support a static cache. A model whose compilation failed once (no C compiler for inductor, an
unsupported layer) is marked and answers eagerly from then on.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

from studio.models import hf_import

MIN_BUCKET = 256  # the smallest static cache, tokens: a short chat fits, and growing it is rare
NOTICEABLE_COMPILE_S = 1.0  # a shorter pause after the first token is torch reusing a compiled step, not compiling
COMPILE_TIMEOUT_S = 900.0  # the wait for the second token while the step compiles (the usual timeout is 60 s)
_FAILED = "_studio_fast_decoding_failed"  # attribute on the model: why its compilation failed
_READY = "_studio_fast_decoding_ready"  # attribute on the model: the (batch, cache length) shapes compiled
_CACHE = "_studio_fast_decoding_cache"  # attribute on the model: (batch, cache length, StaticCache) kept
_used = False  # whether a generate call in this process used fast decoding (compiled code is loaded)

FLAG_HELP = ("local models: a static KV cache and a compiled decoding step (torch.compile). Compiling takes tens of "
             "seconds once per process, so one answer from the command line is slower with it; it pays off for "
             "long answers and measurements (bench/chat.py --fast-decoding)")

COMPILING = ("Compiling for fast decoding: this answer pauses after its first token (a minute or so on "
             "a CPU for a small model, longer for a large one); later answers are faster.")


def _inner(model: Any) -> Any:
    """The transformers model under a PEFT wrapper, or the model itself."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) and type(model).__name__.startswith("Peft") else model


def unavailable(lm: Any) -> str | None:
    """Why fast decoding cannot be used with ``lm`` (a ``LoadedModel``), in one line; None when it can."""
    model = lm.model
    failed = getattr(_inner(model), _FAILED, None)
    if failed:
        return f"Fast decoding is off for this model: it failed earlier ({failed}); answers use normal decoding."
    if lm.quantization:
        return (f"Fast decoding is off for {lm.quantization} models: bitsandbytes layers cannot be compiled; "
                "answers use normal decoding (load it unquantized to use fast decoding).")
    if _inner(model) is not model:
        return ("Fast decoding is off for this LoRA run: its adapter is applied on the fly and is not compiled; "
                "merge the run (python -m studio merge RUN) to use fast decoding with it.")
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and not getattr(quantizer, "is_compileable", False):
        return "Fast decoding is off for this model: its quantized layers cannot be compiled; answers use normal decoding."
    if not getattr(type(model), "_can_compile_fullgraph", False) or not type(model)._supports_default_dynamic_cache():
        return (f"Fast decoding is off for this model: transformers cannot compile {type(model).__name__} with a "
                "static cache; answers use normal decoding.")
    return None


def cache_length(needed: int, limit: int | None) -> int:
    """The static cache's length for ``needed`` tokens (prompt + max new): the next power of two from
    ``MIN_BUCKET``, at most the context ``limit`` (but never less than ``needed``)."""
    size = MIN_BUCKET
    while size < needed:
        size *= 2
    if limit is not None:
        size = min(size, limit)
    return max(size, needed)


def _compile_config(device: str) -> Any:
    hf_import.ready()
    from transformers import CompileConfig

    cfg = CompileConfig()  # transformers' defaults: mode "reduce-overhead" (CUDA graphs on CUDA), graph breaks allowed
    if device != "cuda":
        cfg._compile_all_devices = True  # transformers compiles on CUDA only unless told
    return cfg


def cache_argument() -> str:
    """The name ``generate`` takes a cache object by: ``cache`` in newer transformers (where
    ``past_key_values`` is its deprecated alias), ``past_key_values`` before."""
    hf_import.ready()
    from transformers.generation import utils

    return "cache" if "cache" in getattr(utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


def _kept(model: Any) -> tuple[int, int, Any] | None:
    return getattr(_inner(model), _CACHE, None)


def generate_kwargs(lm: Any, prompt_len: int, max_new_tokens: int, limit: int | None, batch: int = 1) -> dict[str, Any]:
    """What ``generate`` needs for fast decoding, ``limit`` being the model's context
    (``generate.context_limit``): the model's kept static cache for ``batch`` rows (a new one when
    none fits: longer than any before, or another batch size) and the compile config. Call
    ``prepare`` with them on the generation thread before ``generate``."""
    hf_import.ready()
    from transformers import StaticCache

    global _used
    _used = True
    model = _inner(lm.model)
    length = cache_length(prompt_len + max_new_tokens, limit)
    kept = _kept(model)
    if kept is not None and kept[0] == batch and kept[1] >= length:
        cache = kept[2]
    else:
        if kept is not None:  # one shape at a time: the longest so far, so a shorter call does not recompile
            length = max(length, kept[1])
        setattr(model, _CACHE, None)  # the old cache's memory can go before the new one is allocated
        cache = StaticCache(config=model.config.get_text_config(decoder=True), max_cache_len=length)
        setattr(model, _CACHE, (batch, length, cache))
    return {cache_argument(): cache, "compile_config": _compile_config(lm.device)}


def prepare(kwargs: dict[str, Any]) -> None:
    """Clear the kept cache in ``kwargs`` (from ``generate_kwargs``) for a new answer, in place. On the
    model's generation thread, just before ``generate``: an answer still running holds the same cache."""
    cache = kwargs.get("cache", kwargs.get("past_key_values"))
    if cache is not None and "compile_config" in kwargs:
        cache.reset()


def uses_fast(kwargs: dict[str, Any]) -> bool:
    """Whether ``generate`` arguments are fast decoding's."""
    return "compile_config" in kwargs


def cache_shape(lm: Any) -> tuple[int, int] | None:
    """(batch, length) of the model's kept static cache, None before its first fast answer."""
    kept = _kept(lm.model)
    return None if kept is None else (kept[0], kept[1])


def will_compile(lm: Any) -> bool:
    """Whether the next call, with the kept cache ``generate_kwargs`` chose, compiles first (a shape
    not compiled yet for this model)."""
    return cache_shape(lm) not in getattr(_inner(lm.model), _READY, set())


def mark_compiled(lm: Any) -> None:
    """Remember that the kept cache's shape is compiled for this model."""
    model = _inner(lm.model)
    ready = getattr(model, _READY, None)
    if ready is None:
        ready = set()
        setattr(model, _READY, ready)
    ready.add(cache_shape(lm))


def mark_failed(lm: Any, exc: BaseException) -> str:
    """Remember that compiling failed (later calls answer eagerly); the one-line message for the user."""
    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}" if str(exc).strip() else type(exc).__name__
    setattr(_inner(lm.model), _FAILED, reason)
    return (f"Fast decoding failed on this model ({reason}): it is off for this model now; ask again to get "
            "an answer with normal decoding.")


def used() -> bool:
    return _used


def leave(code: int) -> NoReturn:
    """End a command-line process that used fast decoding, its output flushed, without the interpreter's
    teardown: in one run of about thirty, a process that had compiled aborted there ("terminate called
    without an active exception", exit 134) after its answer. Inductor's compile workers are stopped
    first, as its own exit handler would."""
    sys.stdout.flush()
    sys.stderr.flush()
    workers = sys.modules.get("torch._inductor.async_compile")
    if workers is not None:
        workers.shutdown_compile_workers()
    os._exit(code)
