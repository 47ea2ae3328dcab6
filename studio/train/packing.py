"""Padding-free batches that keep a GPU's fast attention: records end to end in one row, attention per record.

Why the first packed batches (``recipe.PackedCollator`` under ``sdpa``) ran slower on a GPU than padded
ones, from transformers 5's own source (``masking_utils.py``):

- ``create_causal_mask`` sees ``position_ids`` that restart and no attention mask, calls
  ``find_packed_sequence_indices``, whose ``(mask[:, -1] == 0).all()`` is Python control flow on a GPU
  tensor: one host-device sync per forward, so the CPU can no longer queue the step's kernels ahead;
- it then turns ``allow_is_causal_skip`` off and materialises a (1, 1, T, T) boolean mask for the whole
  row: SDPA with an arbitrary mask cannot use its flash kernel, and computes T x T scores of which only
  the blocks on the diagonal count (8 records of 60 tokens: 480 x 480 against 8 x 60 x 60, 8x the work);
- the row's length changes every step, so every step is a new shape for the kernels' heuristics;
- and the batch held as many records as a padded one (``batch_size``): no more tokens per step, so a
  step still cost the same fixed overhead for fewer FLOPs (``TrainConfig.batch_tokens`` now fills a row to a
  token budget instead: ``studio.train.batches``).

Here the model gets its own attention implementation (``NAME``, registered with transformers'
``AttentionInterface``). transformers builds no mask at all for an implementation its mask registry does
not know (no sync, no T x T mask), and this collator passes where each record starts (``cu_seq_lens_q``,
``max_length_q``: the keyword arguments transformers' ``DataCollatorWithFlattening`` emits for flash
attention), which reach the attention layer through the model's ``**kwargs``. On CUDA the attention is
PyTorch's own variable-length flash kernel (``torch.nn.attention.varlen.varlen_attn``: no flash-attn
package), O(sum of n_i^2); where it is missing, or attention dropout is on in training (the kernel has
none), one SDPA call with a block-diagonal causal mask made on the device from ``cu_seq_lens_q``, without
a sync. Both give each record exactly the logits it gets alone (tests/train/test_packing.py).

A forward without those keyword arguments (generation, a padded batch) runs plain causal SDPA, which is
right for unpadded and right-padded rows; ``restore`` puts the model's own implementation back before it
is saved or used for anything else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from studio.models import hf_import
from studio.train.recipe import PackedCollator

NAME = "studio_varlen"
"""The attention implementation's name in transformers' registry (never written to a saved config)."""

_registered = False


def register() -> None:
    """Add ``NAME`` to transformers' attention registry (once per process)."""
    global _registered
    if not _registered:
        hf_import.ready()
        from transformers import AttentionInterface

        AttentionInterface.register(NAME, attention)
        _registered = True


def _varlen_kernel(device: Any) -> Any:
    """torch's variable-length flash attention for tensors on ``device`` (CUDA only), or None."""
    if getattr(device, "type", device) != "cuda":
        return None
    return _torch_varlen()


@functools.lru_cache(maxsize=1)
def _torch_varlen() -> Any:
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
              dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention signature: ``query`` (1, Hq, T, D), ``key``/``value`` (1, Hkv, T, D); returns
    the output as (1, T, Hq, D), as its ``sdpa_attention_forward`` does, and no attention weights."""
    import torch
    import torch.nn.functional as F

    cu = kwargs.get("cu_seq_lens_q")
    gqa = key.shape[1] != query.shape[1]
    p = dropout if module.training else 0.0
    if cu is None:  # not a packed batch: causal attention over the row (right padding is never attended to)
        if attention_mask is not None:
            raise ValueError(f"{NAME} takes no attention mask: restore the model's own attention first")
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=p, is_causal=query.shape[2] > 1,
                                             scale=scaling, enable_gqa=gqa)
        return out.transpose(1, 2).contiguous(), None
    if query.shape[0] != 1:
        raise ValueError(f"{NAME} takes one packed row per batch, not {query.shape[0]}")
    window = kwargs.get("sliding_window") or getattr(module, "sliding_window", None)
    max_q = int(kwargs.get("max_length_q") or query.shape[2])
    windowed = bool(window) and window < max_q
    kernel = _varlen_kernel(query.device)
    dtype = query.dtype
    if dtype not in (torch.float16, torch.bfloat16):  # the flash kernel takes half precision only
        if torch.is_autocast_enabled(query.device.type):  # SDPA is cast by autocast; a custom op is not
            dtype = torch.get_autocast_dtype(query.device.type)  # (float32 rotary outputs under bf16 autocast)
        else:
            kernel = None
    if kernel is not None and p == 0.0 and not windowed:
        q, k, v = (t[0].transpose(0, 1).to(dtype).contiguous() for t in (query, key, value))  # (T, H, D)
        out = _call_kernel(kernel, q, k, v, cu.to(device=query.device, dtype=torch.int32), max_q, scaling, gqa)
        if out is not None:
            return out.unsqueeze(0), None
    mask = block_causal_mask(cu, query.shape[2], query.device, window if windowed else None)
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=p, scale=scaling,
                                         enable_gqa=gqa)
    return out.transpose(1, 2).contiguous(), None


def _call_kernel(kernel: Any, q: Any, k: Any, v: Any, cu: Any, max_q: int, scale: float | None, gqa: bool) -> Any:
    """Causal ``varlen_attn`` over (T, H, D) tensors, whichever of its signatures this torch has (``is_causal=``
    in its first releases, ``window_size=(-1, 0)`` later; ``scale`` and ``enable_gqa`` not in all); None
    when it cannot do this call exactly (the caller then masks instead)."""
    params = _parameters(kernel)
    kwargs: dict[str, Any] = {}
    if "is_causal" in params:
        kwargs["is_causal"] = True
    elif "window_size" in params:
        kwargs["window_size"] = (-1, 0)
    else:
        return None
    if scale is not None:
        if "scale" in params:
            kwargs["scale"] = scale
        elif abs(scale - q.shape[-1] ** -0.5) > 1e-6:  # the kernel's default scale is not this model's
            return None
    if gqa:
        if "enable_gqa" in params:
            kwargs["enable_gqa"] = True
        else:
            groups = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    return kernel(q, k, v, cu, cu, max_q, max_q, **kwargs)


@functools.lru_cache(maxsize=4)
def _parameters(kernel: Any) -> frozenset[str]:
    import inspect

    return frozenset(inspect.signature(kernel).parameters)


def block_causal_mask(cu: Any, length: int, device: Any, window: int | None = None) -> Any:
    """The (1, 1, T, T) boolean mask of causal attention within each record, from the records' start
    offsets ``cu`` (``[0, n1, n1 + n2, ..., T]``), made on ``device`` without reading ``cu`` on the host."""
    import torch

    cu = cu.to(device)
    idx = torch.arange(length, device=device)
    seg = torch.searchsorted(cu[1:].contiguous(), idx, right=True)  # which record each position is in
    mask = (seg[:, None] == seg[None, :]) & (idx[:, None] >= idx[None, :])
    if window:
        mask &= (idx[:, None] - idx[None, :]) < window
    return mask[None, None]


class VarlenCollator(PackedCollator):
    """``recipe.PackedCollator``'s row (records end to end, positions restarting, answer-only labels, each
    record's first label -100) plus where each record starts, for ``attention``."""

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        out = super().__call__(batch)
        lengths = [len(f["input_ids"]) for f in batch]
        cu = torch.tensor([0] + lengths, dtype=torch.int32).cumsum(0, dtype=torch.int32)
        return {**out, "cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": max(lengths),
                "max_length_k": max(lengths)}


def use(model: Any) -> str:
    """Switch ``model`` (a peft wrapper or not) to ``NAME``; returns the implementation to ``restore``."""
    register()
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    before = inner.config._attn_implementation
    inner.set_attn_implementation(NAME)
    return before


def restore(model: Any, implementation: str) -> None:
    """Put back the attention implementation ``use`` replaced (a saved config never names ``NAME``)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if inner.config._attn_implementation == NAME:
        inner.set_attn_implementation(implementation)


def prepare(model: Any, autocast: Any = None) -> str | None:
    """Switch ``model`` to ``NAME`` if it keeps packed records apart there: the second of two records packed
    in one row must get the logits it gets alone (a model whose layers drop the keyword arguments would let
    records attend to each other). Returns the implementation to ``restore``, or None with the model left as
    it was (train on padded batches). One forward of 12 tokens on the model's device, in its dtype, and
    one backward of the packed row (``_backward_runs``: no parameter's gradient computed or kept).

    ``autocast``: the dtype training autocasts to (bf16 or fp16 on CUDA; None: none), so the check takes the
    path training will: a float32 model under bf16 autocast reaches torch's varlen kernel on CUDA, where without
    autocast it would check only the masked SDPA fallback. A kernel that fails here (an unsupported GPU, head
    size or dtype), forward or backward, sends the run to padded batches instead of crashing it at its first step."""
    import contextlib

    import torch

    before = use(model)
    device = next(model.parameters()).device
    first, second = [5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]
    row = VarlenCollator()([{"input_ids": first, "labels": first}, {"input_ids": second, "labels": second}])
    was_training = model.training
    model.eval()
    def cast() -> Any:  # a fresh context for each pass
        return torch.autocast(device.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()

    inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in row.items() if k not in ("labels", "input_ids")}
    try:
        with torch.no_grad(), cast():
            packed = model(input_ids=row["input_ids"].to(device), **inputs, use_cache=False).logits
            alone = model(input_ids=torch.tensor([second], device=device), use_cache=False).logits
        a, b = packed[0, 6:].float(), alone[0].float()
        ok = bool(((a - b).abs().max() <= 0.02 * b.abs().max() + 1e-3).item())
        if ok:
            ok = _backward_runs(model, row["input_ids"].to(device), inputs, cast)
    except Exception:  # a model that cannot take these arguments, or a kernel that fails here: pad instead
        ok = False
    finally:
        model.train(was_training)
    if not ok:
        restore(model, before)
        return None
    return before


def _backward_runs(model: Any, input_ids: Any, inputs: dict[str, Any], cast: Callable[[], Any]) -> bool:
    """Whether the packed row's backward pass runs too (a kernel can work forward and fail backward, which would
    crash the first training step). The gradient is taken with respect to the row's input embeddings only, with
    ``torch.autograd.grad``: every layer's backward runs, attention's included, but no parameter's ``.grad`` is
    computed or touched, whatever is trainable, so the weights and the optimizer see nothing of it."""
    import torch

    embed = model.get_input_embeddings()
    if embed is None:
        return True  # nothing to differentiate against: the forward check is all there is
    with torch.no_grad():
        embeds = embed(input_ids)
    embeds = embeds.detach().requires_grad_(True)
    with torch.enable_grad(), cast():
        logits = model(inputs_embeds=embeds, **inputs, use_cache=False).logits
        (grad,) = torch.autograd.grad(logits.float().sum(), embeds)
    return bool(torch.isfinite(grad).all().item())
