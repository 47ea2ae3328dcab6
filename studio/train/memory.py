"""How much memory a training run needs, and how much the device has: checked before launch.

The estimate is the usual back-of-the-envelope for full fine-tuning with AdamW in float32
(mixed precision keeps float32 master weights too):

    weights 4 B/param + gradients 4 B/param + AdamW moments 8 B/param
    + activations ~ batch x length x width x layers x 34 B (attention and MLP intermediates, SDPA)
    + logits batch x length x vocab x 4 B x 2 (the logits and their gradient)

It errs high on purpose: a run that fits the estimate fits the device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    params: int
    layers: int
    width: int
    vocab: int
    inner: int = 0  # the MLP's width (0: 4 x width, GPT-2's)

    def lora_params(self, rank: int) -> int:
        """Adapter parameters of LoRA on every linear layer: rank x (in + out) per layer, attention
        (q, k, v, o: width -> width) and the MLP (gate, up: width -> inner; down: inner -> width)."""
        inner = self.inner or 4 * self.width
        per_layer = 4 * rank * 2 * self.width + 3 * rank * (self.width + inner)
        return self.layers * per_layer


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int  # bytes
    gradients: int
    optimizer: int
    activations: int
    total: int


@dataclass(frozen=True)
class DeviceMemory:
    name: str  # "cuda: NVIDIA H100" or "cpu (system RAM)"
    free: int  # bytes
    total: int


def shape_of_config(cfg: Any) -> ModelShape:
    """The shape of a transformers config (GPT-2 or Llama-style names), parameters estimated from it."""
    layers = int(getattr(cfg, "n_layer", None) or getattr(cfg, "num_hidden_layers", 0) or 0)
    width = int(getattr(cfg, "n_embd", None) or getattr(cfg, "hidden_size", 0) or 0)
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    inner = int(getattr(cfg, "n_inner", None) or getattr(cfg, "intermediate_size", None) or 4 * width)
    per_layer = 4 * width * width + 2 * width * inner + 8 * width  # attention + MLP (+ norms, biases)
    params = layers * per_layer + vocab * width
    return ModelShape(params, layers, width, vocab, inner)


def shape_of_model(model: Any) -> ModelShape:
    s = shape_of_config(model.config)
    return ModelShape(sum(p.numel() for p in model.parameters()), s.layers, s.width, s.vocab, s.inner)


def shape_for_base(base: str, *, scratch_size: str = "small", vocab_size: int = 2000, token: str | None = None) -> ModelShape:
    """The shape of a training base without loading weights: a scratch size, or the base's config.json."""
    if base == "scratch":
        from studio.train import scratch

        s = scratch.SIZES[scratch_size]
        per_layer = 12 * s.n_embd * s.n_embd + 13 * s.n_embd
        return ModelShape(s.n_layer * per_layer + vocab_size * s.n_embd, s.n_layer, s.n_embd, vocab_size)
    from transformers import AutoConfig

    from studio.models import loading as models

    ref = models.resolve(base)
    if ref.kind == "adapter":  # continuing a LoRA run: the shape is its base's
        return shape_for_base(models.base_for_adapter(ref), token=token)
    if ref.kind in ("gguf", "bundled"):  # not imported yet: the file's header has the shape
        from studio.models import gguf

        info = gguf.inspect(ref.source)
        return ModelShape(info.parameters, info.layers or 0, info.hidden_size or 0, info.vocab_size or 0)
    try:
        cfg = AutoConfig.from_pretrained(ref.source, **models.pretrained_kwargs(ref, token))
    except (OSError, ValueError) as exc:
        raise models.explain_load_error(ref, exc) from None
    return shape_of_config(cfg)


RUNTIME_BYTES = 1 << 30
"""The training process itself (torch, transformers, the tokenized data, allocator slack): about
1 GiB measured on CPU with the bundled SmolLM2-135M-Instruct (docs/train.md)."""


def estimate(shape: ModelShape, batch_size: int, seq_len: int, *, gradient_checkpointing: bool = False,
             method: str = "full", lora_r: int = 16, device: str | None = None) -> MemoryEstimate:
    """Peak training memory in bytes for ``batch_size`` records of ``seq_len`` tokens.

    full: float32 weights and AdamW's two moments for every parameter; at the peak (a backward
    pass) the activations and the gradients being built do not both reach their maximum, so the
    larger of the two counts. lora: the same for the adapters only, beside frozen float32 weights.
    qlora: 4-bit NF4 weights (~0.53 byte a parameter with double-quantized scales), adapters as in
    lora, activations in bf16 with checkpointing (QLoRA always checkpoints). Activations: ~68 bytes
    per token per unit of width and 12 per unit of MLP width in each layer (float32: attention,
    norms, the gated MLP), and four copies of the logits. Checked against measured peaks on CPU
    (docs/train.md): full 1.11x, LoRA 0.87x. On a CUDA GPU (``device``, default: this machine's) LoRA's
    frozen base is bf16, 2 bytes a parameter (``studio.train.loop.frozen_base_dtype``).
    """
    trainable = shape.params if method == "full" else shape.lora_params(lora_r)
    frozen = 0.53 if method == "qlora" else 2 if method == "lora" and _bf16_base(device) else 4
    weights = int(shape.params * frozen) + (trainable * 4 if method != "full" else 0)
    grads = trainable * 4
    optim = trainable * 8
    tokens = batch_size * seq_len
    checkpointing = gradient_checkpointing or method == "qlora"
    inner = shape.inner or 4 * shape.width
    per_layer = tokens * (68 * shape.width + 12 * inner) // (2 if method == "qlora" else 1)
    acts = per_layer * (1 if checkpointing else max(1, shape.layers))
    acts += tokens * shape.vocab * 4 * 4  # logits, their float32 copy, the softmax and its gradient
    total = weights + optim + max(acts, grads) + RUNTIME_BYTES
    return MemoryEstimate(weights, grads, optim, acts, int(total * 1.1))  # +10%: allocator slack, buffers


def _bf16_base(device: str | None) -> bool:
    try:
        from studio.models import loading
        from studio.train.loop import frozen_base_dtype

        return frozen_base_dtype(device or loading.pick_device()) == "bfloat16"
    except ImportError:  # no torch (API mode): no GPU either
        return False


def device_memory(device: str | None = None) -> DeviceMemory:
    """Free and total memory where training would run: the GPU (torch.cuda.mem_get_info) or system RAM."""
    if device in (None, "cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                free, total = torch.cuda.mem_get_info()
                return DeviceMemory(f"cuda: {torch.cuda.get_device_name(0)}", int(free), int(total))
        except (ImportError, RuntimeError):
            pass
    page = os.sysconf("SC_PAGE_SIZE")
    total = os.sysconf("SC_PHYS_PAGES") * page
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * page
        with open("/proc/meminfo", encoding="ascii") as fh:  # MemAvailable counts reclaimable cache too
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    return DeviceMemory("cpu (system RAM)", int(free), int(total))


def verdict(est: MemoryEstimate, dev: DeviceMemory, batch_size: int, seq_len: int) -> tuple[bool, str]:
    """(fits, one line for the page): a warning with a remedy when the run will not fit."""
    need, free = est.total / GIB, dev.free / GIB
    if est.total <= dev.free:
        return True, f"Needs about {need:.2f} GiB; {free:.1f} GiB free on {dev.name}."
    smaller = max(1, batch_size // 2)
    return False, (
        f"Needs about {need:.2f} GiB but only {free:.1f} GiB is free on {dev.name}: lower the batch size "
        f"(try {smaller}) or the max length (now {seq_len}), turn on gradient checkpointing, or pick a smaller base."
    )


def fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
