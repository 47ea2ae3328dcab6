"""What a GGUF header claims, checked against the tensors the file holds, before anything is built.

A header is only numbers someone wrote: ``llama.block_count = 2**31`` in a 461 KB file made
transformers build layers until memory ran out. Every size that decides what gets built (layers,
attention heads, key/value heads, vocabulary, embedding width, feed-forward width, context
length) must be a whole number within the bounds of real models, and must agree with the shapes
of the tensors in the file; the token list must match the embedding; special token ids must be
in the vocabulary; the chat template must render in jinja2's sandbox (as transformers renders
it). Each refusal is one line naming the field. Pure functions of the parsed header: no I/O.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from studio.errors import ModelLoadError
from studio.models import hf_import

# The largest value a released model uses, with a wide margin: a header beyond these lies.
LIMITS = {
    "block_count": 1024,  # layers; Llama-3.1-405B has 126
    "embedding_length": 1 << 17,  # 131,072; the widest open models use 16,384-18,432
    "feed_forward_length": 1 << 20,  # 1,048,576; Llama-3.1-405B uses 53,248
    "attention.head_count": 1024,  # Llama-3.1-405B: 128
    "attention.head_count_kv": 1024,
    "attention.key_length": 1 << 12,
    "attention.value_length": 1 << 12,
    "context_length": 1 << 24,  # 16.7 M positions; the longest released context is 10 M
    "vocab_size": 1 << 22,  # 4.2 M tokens; Gemma 3 has 262,144
}
PER_LAYER = ("attention.head_count", "attention.head_count_kv", "feed_forward_length")  # may be one per layer
MAX_DIMS = 4  # ggml tensors have one to four dimensions
TOKEN_IDS = ("bos", "eos", "pad", "unk", "sep", "cls", "mask", "eot", "eom")
_LAYER = re.compile(r"^blk\.(\d+)\.")
Tensor = tuple[str, tuple[int, ...], int, int]  # name, dims in ggml order (ne0 first), type, offset


def keeps_array(key: str) -> bool:
    """Whether a numeric array under ``key`` is read in full (one value per layer) to be checked."""
    return any(key.endswith("." + f) for f in PER_LAYER)


def _refuse(name: str, what: str) -> ModelLoadError:
    return ModelLoadError(f"{name} cannot be imported: {what}. The file is corrupt or was written by a broken "
                          "converter: convert or download it again.")


def alignment(name: str, meta: dict[str, Any]) -> int:
    """``general.alignment`` (32 when absent): a power of two, as ggml requires."""
    value = meta.get("general.alignment", 32)
    if type(value) is not int or value <= 0 or value & (value - 1) or value > 1 << 20:
        raise _refuse(name, f"its general.alignment is {value!r}, not a power of two up to {1 << 20:,} (ggml writes 32)")
    return value


def check_tensor(name: str, tname: str, n_dims: int) -> None:
    if not 1 <= n_dims <= MAX_DIMS:
        raise _refuse(name, f"tensor {tname!r} has {n_dims} dimensions (ggml tensors have 1 to {MAX_DIMS})")


def check_layout(name: str, ranges: list[tuple[int, int, str]], align: int, data_size: int) -> None:
    """The tensors' byte ranges (start, end, name) must tile the data section as every writer lays them out
    (llama.cpp's reader insists on it): one after another, each padded to ``align``, nothing after the last but
    that padding. Two tensors sharing bytes, a type that claims fewer bytes than the data holds (F32 marked F16),
    or a tensor count one short (its tensor's bytes left over, every offset read from the wrong place) each made
    a model of garbage weights that imported without a word. From the header alone: no data is read."""
    ordered = sorted(ranges)
    for (_, end, first), (start, _, second) in zip(ordered, ordered[1:]):
        if start < end:
            raise _refuse(name, f"tensors {first!r} and {second!r} share bytes of the file (their data ranges overlap)")
    expected = 0
    for start, end, tname in ordered:
        if start > expected:
            raise _refuse(name, f"{start - expected:,} bytes before tensor {tname!r} belong to no tensor: a tensor's "
                                "type or size in its header is wrong")
        expected = (end + align - 1) // align * align
    if data_size - expected >= align:
        raise _refuse(name, f"{data_size - expected:,} bytes after its last tensor belong to no tensor: its header "
                            "lists fewer tensors, or smaller ones, than the file holds")


def _number(name: str, key: str, value: Any, limit: int, *, per_layer: bool, zero_ok: bool = False) -> list[int]:
    values = value if per_layer and isinstance(value, list) else [value]
    low = 0 if zero_ok and isinstance(value, list) else 1
    for v in values:
        if type(v) is not int or not low <= v <= limit:
            shown = value if not isinstance(value, list) else f"{v!r} in its list"
            raise _refuse(name, f"its header says {key} = {shown!r}; it must be a whole number from {low} to {limit:,}")
    return values


# Numbers the model computes with (not sizes): a normalisation's epsilon, the rotary embedding's base.
POSITIVE = ("attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon", "rope.freq_base")


def check_header(name: str, meta: dict[str, Any], tensors: list[Tensor]) -> None:
    """Refuse, in one line naming the field, a header whose sizes are out of bounds or disagree with the tensors."""
    arch = meta.get("general.architecture")
    sizes: dict[str, list[int]] = {}
    for field, limit in LIMITS.items():
        key = f"{arch}.{field}"
        if key in meta:
            sizes[field] = _number(name, key, meta[key], limit, per_layer=field in PER_LAYER,
                                   zero_ok=field == "attention.head_count_kv")
    for field in POSITIVE:  # NaN, infinite, 0 or negative: every answer came out empty, or "probability tensor
        value = meta.get(f"{arch}.{field}")  # contains either inf, nan or element < 0" at the first sampled one
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise _refuse(name, f"its header says {arch}.{field} = {value!r}; it must be a positive number")
    shapes = {tname: dims for tname, dims, _, _ in tensors}
    if len(shapes) != len(tensors):
        raise _refuse(name, "it holds two tensors with the same name")
    _check_layers(name, arch, sizes, shapes)
    _check_widths(name, arch, sizes, shapes)
    _check_vocabulary(name, arch, meta, sizes, shapes)


def _check_layers(name: str, arch: str, sizes: dict[str, list[int]], shapes: dict[str, tuple[int, ...]]) -> None:
    layers = sorted({int(m.group(1)) for t in shapes if (m := _LAYER.match(t))})
    if "block_count" not in sizes:
        if layers:
            raise _refuse(name, f"its header does not say how many layers it has ({arch}.block_count)")
        return
    if not layers:
        return  # layers named otherwise (T5's enc.blk.N): the bound above and the implied-size count apply
    claimed = sizes["block_count"][0]
    if layers != list(range(claimed)):
        missing = sorted(set(range(claimed)) - set(layers))
        if set(layers) < set(range(claimed)) and len(missing) <= 3:
            raise _refuse(name, f"it has no tensors for layer {', '.join(map(str, missing))} of the {claimed} its "
                                f"header declares ({arch}.block_count): it would run with random weights there")
        raise _refuse(name, f"its header says {claimed:,} layers ({arch}.block_count) but the file holds tensors "
                            f"for {len(layers):,}")
    for field in PER_LAYER:
        if len(sizes.get(field, [])) not in (0, 1, claimed):
            raise _refuse(name, f"{arch}.{field} lists {len(sizes[field])} values for {claimed} layers")


def _out(shapes: dict[str, tuple[int, ...]], tname: str) -> int | None:
    """A 2-D weight's output size (ggml's ne1), or None when the file has no such tensor."""
    dims = shapes.get(tname)
    return dims[1] if dims is not None and len(dims) == 2 else None


def _check_widths(name: str, arch: str, sizes: dict[str, list[int]], shapes: dict[str, tuple[int, ...]]) -> None:
    embd = shapes.get("token_embd.weight")
    width = embd[0] if embd else None
    if "embedding_length" in sizes and width is not None and sizes["embedding_length"][0] != width:
        raise _refuse(name, f"its header says an embedding width of {sizes['embedding_length'][0]:,} "
                            f"({arch}.embedding_length) but token_embd.weight is {width:,} wide")
    hidden = sizes.get("embedding_length", [width])[0]
    heads, kv = sizes.get("attention.head_count"), sizes.get("attention.head_count_kv")
    key_length = sizes.get("attention.key_length", [None])[0]
    for layer in range(sizes["block_count"][0] if "block_count" in sizes else 1):
        h = heads[layer if len(heads) > 1 else 0] if heads else None
        k = kv[layer if len(kv) > 1 else 0] if kv else h
        if not h:
            continue
        if k and h % k:
            raise _refuse(name, f"its header says {h} attention heads ({arch}.attention.head_count) and {k} key/value "
                                f"heads ({arch}.attention.head_count_kv): the first must be a multiple of the second")
        head_dim = key_length or (hidden // h if hidden and hidden % h == 0 else None)
        if head_dim is None and hidden:
            raise _refuse(name, f"its embedding width {hidden:,} does not divide into {h} attention heads "
                                f"({arch}.attention.head_count)")
        q, kk = _out(shapes, f"blk.{layer}.attn_q.weight"), _out(shapes, f"blk.{layer}.attn_k.weight")
        if q is not None and head_dim and q != h * head_dim:
            raise _refuse(name, f"its header says {h} attention heads ({arch}.attention.head_count) but "
                                f"blk.{layer}.attn_q.weight has {q:,} outputs, not {h} x {head_dim}")
        if kk is not None and head_dim and k and kk != k * head_dim:
            raise _refuse(name, f"its header says {k} key/value heads ({arch}.attention.head_count_kv) but "
                                f"blk.{layer}.attn_k.weight has {kk:,} outputs, not {k} x {head_dim}")
        if layer == 0 and not (q or kk):
            break  # fused attention weights (attn_qkv): only the bounds apply
    ff = sizes.get("feed_forward_length")
    if ff:
        for layer in range(len(ff) if len(ff) > 1 else 1):
            up, gate = _out(shapes, f"blk.{layer}.ffn_up.weight"), _out(shapes, f"blk.{layer}.ffn_gate.weight")
            # Phi-3 keeps gate and up fused in ffn_up (twice the width); with a separate gate it is the width
            widths = (ff[layer],) if gate is not None else (ff[layer], 2 * ff[layer])
            for tname, out in ((f"blk.{layer}.ffn_up.weight", up), (f"blk.{layer}.ffn_gate.weight", gate)):
                if out is not None and out not in widths:
                    raise _refuse(name, f"its header says a feed-forward width of {ff[layer]:,} "
                                        f"({arch}.feed_forward_length) but {tname} has {out:,} outputs")
    pos = _out(shapes, "position_embd.weight")
    if pos is not None and "context_length" in sizes and sizes["context_length"][0] != pos:
        raise _refuse(name, f"its header says a context of {sizes['context_length'][0]:,} ({arch}.context_length) "
                            f"but position_embd.weight has {pos:,} positions")


def _check_vocabulary(name: str, arch: str, meta: dict[str, Any], sizes: dict[str, list[int]],
                      shapes: dict[str, tuple[int, ...]]) -> None:
    rows = _out(shapes, "token_embd.weight")
    tokens = meta.get("tokenizer.ggml.tokens")  # a string array is read as its length
    if tokens is not None and type(tokens) is not int:
        raise _refuse(name, "its tokenizer.ggml.tokens is not a list of strings")
    if "vocab_size" in sizes and rows is not None and sizes["vocab_size"][0] != rows:
        raise _refuse(name, f"its header says a vocabulary of {sizes['vocab_size'][0]:,} ({arch}.vocab_size) but "
                            f"token_embd.weight has {rows:,} rows")
    if tokens is not None and rows is not None and tokens != rows:
        raise _refuse(name, f"its token list (tokenizer.ggml.tokens) has {tokens:,} tokens but token_embd.weight has "
                            f"{rows:,} rows")
    n = tokens if tokens is not None else rows
    for which in TOKEN_IDS:
        key = f"tokenizer.ggml.{which}_token_id"
        if key in meta and n is not None and (type(meta[key]) is not int or not 0 <= meta[key] < n):
            raise _refuse(name, f"its {key} is {meta[key]!r}, not a token of its {n:,}-token vocabulary")


RENDER_SECONDS = 5.0  # a template's render of a short chat: real ones take milliseconds, even traced
TEMPLATE_CHARS = 1 << 20  # 1 MiB of template: real ones are a few KB (tool-calling ones up to some 30 KB)
RENDERED_CHARS = 1 << 20  # 1 MiB of prompt for a three-message chat: real ones render a few hundred characters
GROWTH_BUDGET = 32  # what a render's steps build in all, in RENDERED_CHARS: real ones build a few KB


class _TooSlow(Exception):
    pass


class _TooBig(Exception):
    pass


# One check at a time sets jinja2's class attributes: two at once would each save what the other set, and the
# later restore would leave the limit in place for good.
_JINJA_PATCH = threading.Lock()


_BIG_NUMBER = re.compile(r"\d{7,}")  # a width or precision of a million or more inside a format string


def _weight(value: Any) -> int:
    """Characters (or items) a value holds, the strings in a list or tuple counted whole: ``[s] * 1000`` of a
    1 MB ``s`` is a gigabyte once joined or turned into JSON."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return len(value) + sum(len(v) for v in value if isinstance(v, str))
    return 1


def _refuse_growth(limit: int, name: str, target: Any, args: tuple, kwargs: dict) -> None:
    """Raise ``_TooBig`` before a call whose result would pass ``limit``: a width, count or padding (an int argument)
    past it (``center``, ``ljust``, ``zfill``, ``indent``, ``wordwrap``, ``batch``...), a format string asking for
    one, or a ``replace``/``join`` whose result is longer."""
    values = (*args, *kwargs.values())
    if any(type(v) is int and v > limit for v in values):
        raise _TooBig
    if name in ("format", "format_map", "__mod__") and isinstance(target, str) and any(
            int(n) > limit for n in _BIG_NUMBER.findall(target)):
        raise _TooBig
    if name == "replace" and isinstance(target, str) and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        old, new = args[0], args[1]
        hits = len(target) + 1 if old == "" else target.count(old)
        if len(target) + hits * max(0, len(new) - len(old)) > limit:
            raise _TooBig
    if name == "join" and isinstance(target, str) and args and isinstance(args[0], (list, tuple)):
        if _weight(args[0]) + len(target) * len(args[0]) > limit:
            raise _TooBig


@contextlib.contextmanager
def _bounded_growth(limit: int) -> Iterator[None]:
    """Templates compiled in the block refuse any single step that would build a string or list longer than
    ``limit`` (``'x' * 10**9``, ``''|center(10**9)``, ``'%1000000000s' % ''`` each took a gigabyte in one step, which
    no deadline can stop): jinja2's sandbox routes the operators it is told to intercept through ``call_binop`` and
    every method call through ``call``; the filters and ``~`` (``str_join``) are wrapped where the environment is
    made. What those steps build is counted too: past ``GROWTH_BUDGET`` times ``limit`` in all (a thousand
    ``{% set aN = 'x' * 1000000 %}`` kept a gigabyte alive, a megabyte at a time) the template is refused. The compile
    cache is cleared before and after, so this template is compiled here, and what is compiled here is not what
    later renders run."""
    import functools

    import jinja2.defaults
    import jinja2.nodes
    import jinja2.runtime
    from jinja2.sandbox import SandboxedEnvironment
    hf_import.ready()
    from transformers.utils import chat_template_utils

    built = [0]

    def spent(result: Any) -> Any:
        built[0] += _weight(result)
        if built[0] > GROWTH_BUDGET * limit:
            raise _TooBig
        return result

    def call_binop(self, context, operator, left, right):  # noqa: ARG001 - jinja2's signature
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and type(times) is int and _weight(seq) * times > limit:
                    raise _TooBig
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            if _weight(left) + _weight(right) > limit:
                raise _TooBig
        elif operator == "%" and isinstance(left, str):
            _refuse_growth(limit, "__mod__", left, right if isinstance(right, tuple) else (right,), {})
        elif operator == "**" and type(left) is int and type(right) is int and abs(left) > 1 and \
                right * math.log2(abs(left)) > 8 * limit:  # an int of more than ``limit`` bytes
            raise _TooBig
        return spent(self.binop_table[operator](left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N807 - jinja2's signature
        # a str.format the sandbox wrapped (``wrap_str_format``) keeps its string on the method it wraps
        target = getattr(__obj, "__self__", None) or getattr(getattr(__obj, "__wrapped__", None), "__self__", None)
        _refuse_growth(limit, getattr(__obj, "__name__", ""), target, args, kwargs)
        return spent(saved_call(__self, __context, __obj, *args, **kwargs))

    def bounded(name, flt):
        @functools.wraps(flt)  # keeps jinja2's pass_context / pass_environment marks
        def wrapper(*args, **kwargs):
            given = [a for a in args if not isinstance(a, (jinja2.runtime.Context, jinja2.Environment,
                                                               jinja2.nodes.EvalContext))]
            if given:
                _refuse_growth(limit, name, given[0], tuple(given[1:]), kwargs)
            return spent(flt(*args, **kwargs))
        return wrapper

    def str_join(seq):
        parts = list(seq)
        if sum(_weight(p) if isinstance(p, str) else 1 for p in parts) > limit:
            raise _TooBig
        return spent(saved_join(parts))

    clear = getattr(chat_template_utils._compile_jinja_template, "cache_clear", lambda: None)
    with _JINJA_PATCH:
        saved = SandboxedEnvironment.intercepted_binops, SandboxedEnvironment.call_binop
        saved_call, saved_join = SandboxedEnvironment.call, jinja2.runtime.str_join
        saved_filters = dict(jinja2.defaults.DEFAULT_FILTERS)
        clear()
        SandboxedEnvironment.intercepted_binops = frozenset({"*", "+", "%", "**"})
        SandboxedEnvironment.call_binop = call_binop
        SandboxedEnvironment.call = call
        jinja2.runtime.str_join = str_join
        jinja2.defaults.DEFAULT_FILTERS.update({k: bounded(k, f) for k, f in saved_filters.items()})
        try:
            yield
        finally:
            SandboxedEnvironment.intercepted_binops, SandboxedEnvironment.call_binop = saved
            SandboxedEnvironment.call, jinja2.runtime.str_join = saved_call, saved_join
            jinja2.defaults.DEFAULT_FILTERS.update(saved_filters)
            clear()


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise ``_TooSlow`` inside the block once it has run ``seconds``: a compiled template is Python code, so a
    trace function sees each line it runs (``{% for i in range(100000) %}`` nested twice never ended). Works in
    any thread, unlike an alarm signal."""
    ends = time.monotonic() + seconds
    before = sys.gettrace()

    def trace(frame, event, arg):  # noqa: ARG001 - the signature sys.settrace calls
        if time.monotonic() > ends:
            raise _TooSlow
        return trace

    sys.settrace(trace)
    try:
        yield
    finally:
        sys.settrace(before)


def chat_template_problem(template: str) -> str | None:
    """What is wrong with a chat template, rendered on a short conversation in jinja2's sandbox as
    transformers will at every answer; None when it renders. A template that reaches for Python
    internals, or that cannot render a plain chat, is unusable for chat."""
    import jinja2
    hf_import.ready()
    from transformers.utils.chat_template_utils import render_jinja_template

    if len(template) > TEMPLATE_CHARS:
        return (f"is {len(template):,} characters long (a real one is a few thousand; at most {TEMPLATE_CHARS:,} "
                "are accepted)")
    messages = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hi."},
                {"role": "user", "content": "How are you?"}]
    too_big = (f"renders more than {RENDERED_CHARS:,} characters for a three-message conversation (a real one "
               "renders a few hundred), so every answer would stall on its prompt")
    try:
        with _bounded_growth(RENDERED_CHARS), _deadline(RENDER_SECONDS):
            rendered = render_jinja_template(conversations=[messages], chat_template=template,
                                             add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
    except _TooBig:
        return too_big
    except _TooSlow:
        return (f"takes more than {RENDER_SECONDS:g} s to render a three-message conversation (a real one takes "
                "milliseconds), so every answer would hang")
    except jinja2.exceptions.SecurityError:
        return "tries to reach Python internals, which the sandbox forbids"
    except Exception as exc:  # noqa: BLE001 - any template that cannot render a plain chat is unusable for chat
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return f"does not render a plain conversation ({type(exc).__name__}: {first})"
    rendered = rendered[0] if isinstance(rendered, tuple) else rendered  # (prompts, generation indices)
    if sum(len(r) for r in (rendered if isinstance(rendered, list) else [rendered])) > RENDERED_CHARS:
        return too_big
    return None


def check_chat_template(name: str, meta: dict[str, Any]) -> None:
    """A GGUF file's chat template, checked before anything is imported."""
    template = meta.get("tokenizer.chat_template")
    if template is None:
        return
    if not isinstance(template, str):
        raise _refuse(name, "its tokenizer.chat_template is not text")
    problem = chat_template_problem(template)
    if problem is not None:
        hint = " Use a file from a source you trust." if "internals" in problem else ""
        raise ModelLoadError(f"{name} cannot be imported: its chat template (tokenizer.chat_template) {problem}.{hint}")
