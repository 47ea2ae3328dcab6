"""Fast decoding: a static KV cache and ``torch.compile`` of the one-token decoding step.

transformers compiles the decoding forward itself when ``generate`` gets
``cache_implementation="static"``: on CUDA always (mode "reduce-overhead", i.e. CUDA graphs),
elsewhere only when the compile config sets ``_compile_all_devices``, which we set, since on a CPU
it measurably helps too (docs/chat.md). The prompt (prefill) still runs eagerly.

What a user notices:
- The first answer pauses after its first token while the step compiles (26-78 s for SmolLM2-135M
  on 2 busy CPU cores); later answers reuse the compiled step.
- The static cache is allocated for ``cache_length`` tokens: prompt + max new tokens rounded up to a
  power of two from 256, at most the model's context. transformers never shrinks it for a model, so a
  shorter question or a lower max-new-tokens never recompiles; a longer answer than any before
  compiles once more, for the next bucket (a handful of compilations at most).
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

MIN_BUCKET = 256  # the smallest static cache, tokens: a short chat fits, and growing it is rare
NOTICEABLE_COMPILE_S = 1.0  # a shorter pause after the first token is torch reusing a compiled step, not compiling
COMPILE_TIMEOUT_S = 900.0  # the wait for the second token while the step compiles (the usual timeout is 60 s)
_FAILED = "_studio_fast_decoding_failed"  # attribute on the model: why its compilation failed
_READY = "_studio_fast_decoding_ready"
_used = False  # whether a generate call in this process used fast decoding (compiled code is loaded)  # attribute on the model: the (batch, cache length) shapes compiled

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
        return f"Fast decoding is off for this model: it failed to compile earlier ({failed}); answers use normal decoding."
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
    from transformers import CompileConfig

    cfg = CompileConfig()  # transformers' defaults: fullgraph, mode "reduce-overhead" (CUDA graphs on CUDA)
    if device != "cuda":
        cfg._compile_all_devices = True  # transformers compiles on CUDA only unless told
    return cfg


def generate_kwargs(lm: Any, prompt_len: int, max_new_tokens: int, limit: int | None) -> dict[str, Any]:
    """What ``generate`` needs for fast decoding, ``limit`` being the model's context
    (``generate.context_limit``); ``will_compile`` says whether the call compiles first."""
    global _used
    _used = True
    length = cache_length(prompt_len + max_new_tokens, limit)
    return {"cache_implementation": "static", "max_cache_len": length, "compile_config": _compile_config(lm.device)}


def will_compile(lm: Any, batch: int, max_cache_len: int) -> bool:
    """Whether a call with this batch size and cache length compiles first (a shape not compiled yet).
    transformers keeps the longest cache a model had, so the shape is the longest length so far."""
    model = _inner(lm.model)
    length = max(max_cache_len, getattr(model, "_previous_max_cache_length", -1))
    return (batch, length) not in getattr(model, _READY, set())


def mark_compiled(lm: Any, batch: int, max_cache_len: int) -> None:
    model = _inner(lm.model)
    length = max(max_cache_len, getattr(model, "_previous_max_cache_length", -1))
    ready = getattr(model, _READY, None)
    if ready is None:
        ready = set()
        setattr(model, _READY, ready)
    ready.add((batch, length))


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
