"""How much memory a training run needs, and how much the device has: checked before launch.

The estimate is the usual back-of-the-envelope for full fine-tuning with AdamW in float32
(mixed precision keeps float32 master weights too):

    weights 4 B/param + gradients 4 B/param + AdamW moments 8 B/param
    + activations ~ batch x length x width x layers x 34 B (attention and MLP intermediates, SDPA)
      (with gradient checkpointing one layer's, plus each layer's kept input: layers x tokens x width x 4 B)
    + logits batch x length x vocab x 4 B x 3 (at the loss's backward: the log-softmax it kept, its gradient
      and the logits' gradient, all float32)
      (with Liger Kernel's fused linear cross-entropy, chunks of about tokens x width instead: ``estimate``)

It errs high on purpose: a run that fits the estimate fits the device. The batch is the largest the
data makes (``largest_batch``: batches are padded to their own longest record), not ``max_length``:
LoRA on the bundled SmolLM2 over a 40-record FAQ whose longest record is 73 tokens is estimated at
3.3 GB (3.2 GB measured), where 8 x 512 tokens said 13.4 GiB.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.models import hf_import

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    params: int
    layers: int
    width: int
    vocab: int
    inner: int = 0  # the MLP's width (0: 4 x width, GPT-2's)
    linears: tuple[tuple[str, int, int], ...] = ()  # each layer's linear layers: (name, in, out)
    model_type: str = ""  # config.model_type ("gpt2", "llama", "phi3", ...): whether Liger Kernel has kernels for it
    heads: int = 0  # attention heads (0: unknown): GPT-2's attention weights on a CPU (``_attention_weights``)
    # the longest sequence the model takes (n_positions, max_position_embeddings, a GGUF's context length; 0: unknown):
    # training cuts each record there when Max length is longer (``loop._encode``), and so does the estimate (``for_run``)
    context: int = 0

    def lora_params(self, rank: int, targets: str = "all-linear") -> int:
        """Adapter parameters of LoRA: rank x (in + out) for each targeted linear layer of each layer,
        exactly what peft adds (``targets``: "all-linear" or names such as "q_proj,v_proj")."""
        return self.layers * sum(rank * (i + o) for _, i, o in self._targeted(targets))

    def lora_inputs(self, targets: str = "all-linear") -> int:
        """The input widths of one layer's adapted linear layers, summed: what LoRA's dropout copies per token."""
        return sum(i for _, i, _ in self._targeted(targets))

    def _targeted(self, targets: str) -> list[tuple[str, int, int]]:
        linears = self.linears or _llama_linears(self.width, self.inner or 4 * self.width, self.width)
        from studio.train.lora import target_names

        wanted = target_names(targets)
        return [(name, i, o) for name, i, o in linears if wanted is None or name in wanted]


def _llama_linears(width: int, inner: int, kv: int, q: int | None = None) -> tuple[tuple[str, int, int], ...]:
    """Llama-style layers (Mistral, Qwen2, SmolLM2...): q/k/v/o attention (k and v ``kv`` wide) and a gated MLP."""
    q = q or width
    return (("q_proj", width, q), ("k_proj", width, kv), ("v_proj", width, kv), ("o_proj", q, width),
            ("gate_proj", width, inner), ("up_proj", width, inner), ("down_proj", inner, width))


def trainable_line(trainable: int, total: int) -> str:
    """The one way a run's trainable share is written (the Train page before the run, the run's log):
    adapters counted in the total, as peft counts them."""
    return f"{trainable:,} of {total:,} parameters trainable ({trainable / max(total, 1):.2%})"


def shape_from_sizes(layers: int, width: int, vocab: int, inner: int = 0, heads: int = 0, kv_heads: int = 0,
                     head_dim: int = 0, kind: str = "llama", params: int = 0, tied: bool = True,
                     positions: int = 0, model_type: str = "", context: int = 0) -> ModelShape:
    """A shape from a model's sizes (a config or a GGUF header); ``params``: the exact count when known; ``context``:
    the longest sequence it takes (``ModelShape.context``)."""
    inner = inner or 4 * width
    head_dim = head_dim or (width // heads if heads else 0)
    q = heads * head_dim if heads and head_dim else width
    kv = (kv_heads or heads) * head_dim if head_dim else width
    if kind == "gpt2":
        linears = (("c_attn", width, 3 * width), ("c_proj", width, width), ("c_fc", width, inner),
                   ("c_proj", inner, width))
        per_layer = sum(i * o + o for _, i, o in linears) + 4 * width  # weights, biases, two layer norms
        counted = layers * per_layer + vocab * width + positions * width + 2 * width
    else:
        linears = _llama_linears(width, inner, kv, q)
        if kind == "phi3":  # q, k and v in one layer; gate and up in one
            linears = (("qkv_proj", width, q + 2 * kv), ("o_proj", q, width), ("gate_up_proj", width, 2 * inner),
                       ("down_proj", inner, width))
        per_layer = sum(i * o for _, i, o in linears) + 2 * width  # two RMS norms
        counted = layers * per_layer + vocab * width * (1 if tied else 2) + width
    return ModelShape(params or counted, layers, width, vocab, inner, linears, model_type or kind, heads, context)


def _kind(model_type: str) -> str:
    return "gpt2" if model_type == "gpt2" else "phi3" if model_type == "phi3" else "llama"


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int  # bytes
    gradients: int
    optimizer: int
    activations: int
    total: int
    runtime: int = 0  # the process itself (RUNTIME_BYTES)
    slack: int = 0  # on top: 10% of the rest and 10% more of the peak term (buffers, the allocator's reserve)
    dropout_copies: int = 0  # of the activations: LoRA's dropout's copy of each adapted layer's input, and its mask

    @property
    def peak(self) -> int:
        """Activations or gradients, whichever is larger: they do not peak together (``estimate``)."""
        return max(self.activations, self.gradients)

    def parts(self) -> list[tuple[str, int]]:
        """The terms of ``total``, named as the page writes them; their bytes add up to ``total`` exactly."""
        peak = "activations" if self.activations >= self.gradients else "gradients"
        return [("weights", self.weights), ("optimizer state", self.optimizer), (peak, self.peak),
                ("runtime", self.runtime), ("slack", self.slack)]


@dataclass(frozen=True)
class DeviceMemory:
    name: str  # "cuda: NVIDIA H100" or "cpu (system RAM)"
    free: int  # bytes
    total: int


def shape_of_config(cfg: Any) -> ModelShape:
    """The shape of a transformers config (GPT-2, Phi-3 or Llama-style names), parameters counted from it."""
    layers = int(getattr(cfg, "n_layer", None) or getattr(cfg, "num_hidden_layers", 0) or 0)
    width = int(getattr(cfg, "n_embd", None) or getattr(cfg, "hidden_size", 0) or 0)
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    inner = int(getattr(cfg, "n_inner", None) or getattr(cfg, "intermediate_size", None) or 4 * width)
    heads = int(getattr(cfg, "n_head", None) or getattr(cfg, "num_attention_heads", 0) or 0)
    return shape_from_sizes(layers, width, vocab, inner, heads, int(getattr(cfg, "num_key_value_heads", 0) or heads),
                            int(getattr(cfg, "head_dim", 0) or 0), _kind(getattr(cfg, "model_type", "")),
                            tied=bool(getattr(cfg, "tie_word_embeddings", True)),
                            positions=int(getattr(cfg, "n_positions", 0) or 0),
                            model_type=str(getattr(cfg, "model_type", "") or ""),
                            context=int(getattr(cfg, "n_positions", 0) or getattr(cfg, "max_position_embeddings", 0) or 0))


_SIZES = ("n_layer", "num_hidden_layers", "n_embd", "hidden_size", "vocab_size", "n_inner", "intermediate_size",
          "n_head", "num_attention_heads", "num_key_value_heads", "head_dim", "n_positions", "max_position_embeddings")
"""The sizes of a config.json the shape is read from: each a whole number above 0 where it is given."""


def check_sizes(spec: str, config: dict) -> None:
    """A config.json whose sizes are no sizes (``"n_layer": -3``, zero heads, a string) is refused in one line naming
    the field: it was read as a shape, and the Train page showed a memory estimate for it."""
    from studio.errors import ModelLoadError

    for name in _SIZES:
        value = config.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ModelLoadError(f"{spec}: its config.json gives {name} as {value!r}, not a size (a whole number above "
                                 "0): correct config.json, or choose the folder save_pretrained wrote.")


def check_folder(ref: Any) -> None:
    """A local base's folder, from file names and its config.json alone (cheap: the page checks it on each rerun, the
    command line before a run folder): a folder without tokenizer or weights, or sizes that are no sizes, in one line.
    A GGUF file: its header (a file cut short or of another format), as the page reads it for the estimate."""
    from studio.models import library, loading

    if ref.kind == "gguf":
        from studio.models import gguf

        gguf.inspect(ref.source)
        return
    if ref.local and ref.kind not in ("gguf", "bundled"):
        loading.require_parts(ref)
        check_sizes(ref.spec, library.read_config(ref.source))


def shape_for_base(base: str, *, scratch_size: str = "small", vocab_size: int = 2000, positions: int = 0,
                   token: str | None = None) -> ModelShape:
    """The shape of a training base without loading weights: a scratch size, or the base's config.json.
    ``positions``: a scratch model's, which it is built with (``scratch.build_model`` gives it Max length's): its
    position embeddings are weights like the others (left out, the tiny size at Max length 1,024 and a 300-token
    vocabulary was counted at 35,072 parameters of its 67,840); a pretrained base has its own. A run's shape is
    ``run_shape``'s."""
    if base == "scratch":
        from studio.train import scratch

        if positions <= 0:  # a default (512 was one) counted a scratch run at Max length 128 with 512 positions
            raise ValueError("a scratch model's shape needs its positions: the run's Max length (run_shape)")

        s = scratch.SIZES[scratch_size]
        return shape_from_sizes(s.n_layer, s.n_embd, vocab_size, heads=s.n_head, kind="gpt2", positions=positions,
                                context=positions)
    from studio.models import loading

    ref = loading.resolve(base)
    if ref.kind == "adapter":  # continuing a LoRA run: the shape is its base's
        return shape_for_base(loading.base_for_adapter(ref), token=token)
    if ref.kind in ("gguf", "bundled"):  # not imported yet: the file's header has the shape, read without transformers
        from studio.models import gguf  # (seconds on a fresh start: the Train page drew its settings after it)

        # the same sizes the imported model's config will have; whether transformers loads the file (its list of
        # architectures is transformers' own: imported to read it) is asked of a file of the user's, not of the bundled
        # one, which the studio ships because it loads (tests/models pin it)
        info = gguf.inspect(ref.source, check_support=ref.kind == "gguf")
        return shape_from_sizes(info.layers or 0, info.hidden_size or 0, info.vocab_size or 0, info.feed_forward or 0,
                                info.heads or 0, info.kv_heads or 0, kind=_kind(info.model_type),
                                params=info.parameters, model_type=info.model_type, context=info.context_length or 0)
    hf_import.ready()
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig

    from studio.train.config import offline_remedy

    check_folder(ref)
    try:
        cfg = AutoConfig.from_pretrained(ref.source, **loading.pretrained_kwargs(ref, token))
    except (OSError, ValueError, StrictDataclassError) as exc:  # a Hub config's field of the wrong type: one line
        with offline_remedy():  # a training base: scratch works offline too
            raise loading.explain_load_error(ref, exc) from None
    check_sizes(base, {name: getattr(cfg, name, None) for name in _SIZES})
    return shape_of_config(cfg)


def run_shape(cfg: Any, token: str | None = None) -> ModelShape:
    """The shape of the base a run of ``cfg`` (a ``TrainConfig``) trains: a scratch model of its size, vocabulary and
    Max length of positions, or the pretrained base's own (whose positions are its config's). The one reading of it
    for the Train page, the run's log and ``for_run``."""
    return shape_for_base(cfg.base, scratch_size=cfg.scratch_size, vocab_size=cfg.vocab_size,
                          positions=cfg.max_length, token=token)


def record_limit(max_length: int, context: int) -> int:
    """Tokens a record keeps: Max length, or the base's positions (``ModelShape.context``; 0: unknown) where they end
    sooner, as the run cuts them (``loop._encode``). One rule for the run's check before its folder is made
    (``loop.check_answers_fit``), the Train page's preview and this estimate: the page cut tiny_gpt2's records at
    Max length 512, not at its 256 positions, and left Start on for a run the CLI then refused."""
    return min(max_length, context) if context > 0 else max_length


def base_stamp(base: str) -> tuple:
    """What ``shape_for_base`` reads of ``base``, as a key that changes when the shape can: each file of its folder (or
    its GGUF file) by name, size and modification time. The Train page reads the shape once per change of either
    (``studio.ui.train.base_shape``). A Hub id or scratch: () (scratch's shape is its size's; a Hub config is the
    cache's copy); a spec that does not resolve: None (the caller reads it again, to say why)."""
    if base == "scratch":
        return ()
    from studio.errors import StudioError
    from studio.models import loading

    try:
        ref = loading.resolve(base)
    except StudioError:
        return None
    if ref.kind == "hub":
        return ()
    path = Path(ref.source)
    try:
        if path.is_file():
            info = path.stat()
            return ((path.name, info.st_size, info.st_mtime_ns),)
        return tuple(sorted((e.name, info.st_size, info.st_mtime_ns) for e in os.scandir(path)
                            for info in [e.stat()] if e.is_file()))
    except OSError:
        return None


RUNTIME_BYTES = 1 << 30
"""The training process itself (torch, transformers, the tokenized data, allocator slack): about
1 GiB measured on CPU with the bundled SmolLM2-135M-Instruct (docs/train.md)."""


def largest_batch(lengths: Sequence[int], batch_size: int, max_length: int, batch_tokens: int = 0) -> tuple[int, int]:
    """(records, tokens each) of the largest batch a run on records of these token ``lengths`` sees.

    Batches are padded to their own longest record and grouped by length, so the largest holds the
    longest records: ``batch_size`` of them (fewer when there are fewer records) at the longest
    record's length, cut at ``max_length``. No lengths: ``batch_size`` x ``max_length``, the bound.

    With a token budget (``batch_tokens``, ``studio.train.batches``) the batch size plays no part: the
    largest batch is the one the budget makes that costs the most (records x its longest, at most the
    budget, or one record alone); no lengths: as many ``max_length`` records as the budget holds. Packed
    rows (CUDA) hold at most as many tokens as this padded count, so the estimate holds for them too.
    """
    if batch_tokens:
        if not lengths:
            return max(1, batch_tokens // max_length), max_length
        from studio.train import batches

        return batches.largest([min(n, max_length) for n in lengths], batch_tokens)
    if not lengths:
        return batch_size, max_length
    return min(batch_size, len(lengths)), min(max(lengths), max_length)


def estimate(shape: ModelShape, batch_size: int, seq_len: int, *, gradient_checkpointing: bool = False,
             method: str = "full", lora_r: int = 16, lora_targets: str = "all-linear", lora_dropout: float = 0.0,
             device: str | None = None, liger: bool = False) -> MemoryEstimate:
    """Peak training memory in bytes for ``batch_size`` records of ``seq_len`` tokens.

    full: float32 weights and AdamW's two moments for every parameter; at the peak (a backward
    pass) the activations and the gradients being built do not both reach their maximum, so the
    larger of the two counts. lora: the same for the adapters only, beside frozen float32 weights.
    qlora: 4-bit NF4 linear weights (~0.53 byte a parameter with double-quantized scales), the embeddings,
    output layer and norms in float32 (``_qlora_base_bytes``), adapters as in lora; QLoRA always checkpoints.
    Activations: ~68 bytes per token per unit of width and 12 per unit of MLP width in each layer (float32:
    attention, norms, the gated MLP), and three float32 copies of the logits (``_LOGITS_COPIES``). With gradient checkpointing one layer's
    activations at a time (recomputed in the backward), plus each layer's input, which the checkpoint keeps
    (transformers' ``GradientCheckpointingLayer`` holds the hidden states it was called with): layers x tokens x
    width x the residual stream's bytes (``_residual_bytes``: float32 for QLoRA too, after peft's cast; counting
    QLoRA's activations as bf16 left the float32 stream, its norms and the rotary outputs out). Checked against measured peaks on CPU
    (docs/train.md, SmolLM2 on a 40-record FAQ): batches of 8 x 73 tokens full 1.25x, LoRA 1.13x (1.29x and 1.17x with four copies of the logits); a
    2,048-token budget's 31 x 65, full 1.18x, LoRA 1.01x with four copies (about 1.12x and 0.96x with
    three and a flat 10% slack: there the allocator's share of the resident peak is more than 10%; with 10% more of
    the activations as slack, 1.19x and 1.03x, and at 8 x 73 full 1.29x, LoRA 1.18x; docs/train.md). On a CUDA GPU (``device``, default:
    this machine's) LoRA's frozen base is bf16, 2 bytes a parameter (``studio.train.lora.frozen_base_dtype``), and
    its layers' activations are bf16 too: half the float32 figures above (the adapters' own stay float32). Counted
    as float32, a tiny Llama's bf16 forward held 0.55x its LoRA estimate on CPU, where float32 held 0.81x
    (tests/train/test_memory.py), and Phi-3.5-mini's shape on the H200 (LoRA, batch 4) peaked at 11.2 GiB against
    16.4 GiB of weights, optimizer state and activations.
    A full fine-tune on a CUDA GPU keeps float32 weights and trains under bf16 (fp16) autocast (``loop.mixed_precision``):
    its layers' activations are 2 bytes too, except four values of the residual stream's size per token and layer that
    stay float32 (each norm's input and output), and autocast's half-precision copy of every linear weight and the
    output layer is held from the forward to the backward (2 bytes a parameter). Counted as float32, a tiny Llama's
    forward under CPU autocast held 0.59-0.66x its estimate; now 0.90-0.92x (tests/train/test_memory.py).
    LoRA's adapters keep activations of their own: with dropout, a float32 copy of each adapted layer's input
    and its mask (``_DROPOUT_BYTES`` per unit of input width), plus the rank-wide middle, per token and layer. Left out,
    LoRA on SmolLM2 at 2,015 tokens a step (a token budget) peaked 1.19x over the estimate (docs/train.md). Its frozen
    base keeps less than a full fine-tune: a frozen RMS norm keeps no input for its weight's gradient
    (``_FROZEN_NORMS``). At many tokens a step the dropout's copies outgrow the optimizer state LoRA saves, and
    LoRA's estimate is above full fine-tuning's, as its step is (``lora_over_full`` says so on the page).

    ``liger``: Liger Kernel applies (``studio.train.liger``: CUDA, an architecture it covers). Its fused linear
    cross-entropy never holds the logits: it works through chunks of about width/vocab of the tokens, each chunk's
    logits at most ~2 x tokens x width values (the chunk is rounded up to a power of two), with up to three such
    buffers at once, plus the gradient of the final hidden states (tokens x width): counted as 8 x tokens x
    width x 4 bytes. Full fine-tuning also builds the output layer's gradient (vocab x width, float32) during the
    forward, where it adds to the activations. Its norm, RoPE and MLP kernels keep fewer activations too; those
    are left as they are (the estimate errs high). Read from liger-kernel 0.8.5's source, not measured on a GPU.
    """
    trainable = shape.params if method == "full" else shape.lora_params(lora_r, lora_targets)
    if method == "qlora":
        weights = _qlora_base_bytes(shape) + trainable * 4
    else:
        frozen = 2 if method == "lora" and _bf16_base(device) else 4
        weights = shape.params * frozen + (trainable * 4 if method != "full" else 0)
    grads = trainable * 4
    optim = trainable * 8
    tokens = batch_size * seq_len
    checkpointing = gradient_checkpointing or method == "qlora"
    inner = shape.inner or 4 * shape.width
    adapters = copies = 0
    if method != "full":
        copies = _DROPOUT_BYTES * shape.lora_inputs(lora_targets) if lora_dropout else 0  # per token and layer
        adapters = copies + 4 * lora_r * len(shape._targeted(lora_targets))
        if shape.model_type != "gpt2":  # frozen RMS norms keep no input for their weights' gradients (``_FROZEN_NORMS``)
            adapters -= _FROZEN_NORMS * shape.width * _residual_bytes(method, device)
    # GPT-2's tanh GELU keeps five values of the MLP's width per token (its input, and the products the tanh is built
    # from), a gated MLP three; a tiny GPT-2 counted as three held 1.04x its estimate (tests/train/test_memory.py)
    mlp = 5 if shape.model_type == "gpt2" else 3
    # 68 and 12 bytes in float32 (17 and 3 values of the residual stream's size), half that on LoRA's bf16 base
    per_layer = tokens * ((17 * shape.width + mlp * inner) * _residual_bytes(method, device) + adapters
                          + _attention_weights(shape, seq_len, device))
    casts = 0
    if method == "full" and _autocast(device):  # float32 weights, bf16/fp16 compute: what autocast keeps
        # the layers' values at 2 bytes, but four of the residual stream's size stay float32 (each norm's input and
        # output: the stream is float32, and the norms compute in it), and autocast's half-precision copy of each
        # linear weight (the output layer's too) is held from the forward to the backward
        per_layer = tokens * ((17 * shape.width + mlp * inner) * 2 + 4 * shape.width * 2
                              + _attention_weights(shape, seq_len, device))
        casts = 2 * (_linear_params(shape) + shape.vocab * shape.width)
    if checkpointing:  # one layer's activations at a time (recomputed in the backward), plus every layer's input
        acts = per_layer + max(1, shape.layers) * tokens * shape.width * _residual_bytes(method, device)
        copies *= tokens
    else:
        acts = per_layer * max(1, shape.layers)
        copies *= tokens * max(1, shape.layers)
    acts += casts
    if liger:
        acts += tokens * shape.width * 4 * 8 + (shape.vocab * shape.width * 4 if method == "full" else 0)
    else:
        acts += tokens * shape.vocab * 4 * _LOGITS_COPIES
    total = weights + optim + max(acts, grads) + RUNTIME_BYTES
    # +10%: buffers and the allocator's reserve; and 10% more of the step's peak term, freed blocks the allocator keeps
    # as that peak comes and goes (LoRA on SmolLM2 at 31 x 65 tokens a step held 0.96x an estimate with the first alone)
    padded = int(total * 1.1 + max(acts, grads) * 0.1)
    return MemoryEstimate(weights, grads, optim, acts, padded, RUNTIME_BYTES, padded - total, copies)


# LoRA's dropout, per token and layer, for each unit of an adapted layer's input width: a float32 copy (4 bytes) and its
# mask, and what else the dropped path keeps. Measured on SmolLM2's shape (all-linear, rank 16; tests/train/test_memory.py):
# 5.85 bytes; counted as 5, the estimate fell under the step's activations where the frozen norms were taken out.
_DROPOUT_BYTES = 6

# Each layer of a Llama-style model (Phi-3 too) has two RMS norms whose weight multiplies the normalized hidden states:
# a full fine-tune keeps that normalized input for the weight's gradient, a frozen norm (LoRA, QLoRA) does not. Measured
# per token and layer on SmolLM2's width (tests/train/test_memory.py): LoRA without dropout kept two widths of floats
# less than a full fine-tune, beside its rank-wide middles. GPT-2's LayerNorm keeps its input for its own backward.
_FROZEN_NORMS = 2


# What the loss holds of the logits at the step's peak, in float32 values of batch x length x vocab: the start of the
# backward, where cross-entropy's backward holds the log-softmax it kept, the gradient coming in and the logits' gradient
# it builds (every layer's activations are still held then). The logits themselves (and under autocast their bf16 form
# and the float32 copy transformers' loss makes) are gone by then: the log-softmax keeps its output, not its input,
# and the Trainer drops the model's outputs before the backward. Counted as four (the logits as well), a tiny Llama
# whose vocabulary dominates was estimated at 1.33x the peak its step held (tests/train/test_memory.py).
_LOGITS_COPIES = 3


@dataclass(frozen=True)
class RunMemory:
    """What a run of a config needs: the estimate, and what it was made from (for the lines the page writes)."""
    shape: ModelShape
    rows: int  # records in the largest batch (``largest_batch``)
    seq: int  # tokens each
    liger: bool  # Liger Kernel applies (its fused loss holds no logits)
    estimate: MemoryEstimate


def train_lengths(tokenizer: Any, records: Sequence[dict], cfg: Any) -> list[int]:
    """The token lengths of the records a run of ``cfg`` trains on: the usable ones, its training split (the held-out
    records are never in a training batch), each cut at ``max_length``, as the page's preview counts them."""
    from studio.train import recipe

    split = recipe.split_indices(recipe.usable_indices(records), cfg.test_fraction, cfg.seed)
    return [len(e.input_ids) for e in recipe.encode_records(tokenizer, records, split["train"], cfg.max_length)]


def for_run(cfg: Any, lengths: Sequence[int] | None = None, *, shape: ModelShape | None = None,
            device: str | None = None) -> RunMemory:
    """The one memory estimate of a run of ``cfg`` (a ``TrainConfig``) on records of these token ``lengths``
    (``train_lengths``; none: batch x max length): what the Train page shows and bench/qlora.py and
    bench/finetune_faq.py set against measured peaks. Every setting that changes the peak is read from ``cfg``
    here (method, LoRA rank, targets and dropout, checkpointing, the token budget, Liger Kernel where it applies on
    ``device``, default: this machine's), so the page and the benches cannot assemble it differently.
    ``shape``: the base's, when the caller has read it already (``shape_for_base``)."""
    from studio.train import liger

    if device is None:
        from studio.models import loading

        device = loading.pick_device()
    shape = shape or run_shape(cfg)
    # records are cut where the model's positions end, when Max length is longer (``loop._encode``): a GPT-2 of 128
    # positions at Max length 1,024 trains batches of 128 tokens, and was estimated at 1,024
    limit = record_limit(cfg.max_length, shape.context)
    rows, seq = largest_batch(list(lengths or []), cfg.batch_size, limit, cfg.batch_tokens)
    kernels = liger.applies(cfg.liger, shape.model_type, device)
    est = estimate(shape, rows, seq, gradient_checkpointing=cfg.gradient_checkpointing, method=cfg.method,
                   lora_r=cfg.lora_r, lora_targets=cfg.lora_targets, lora_dropout=cfg.lora_dropout, device=device,
                   liger=kernels)
    return RunMemory(shape, rows, seq, kernels, est)


def lora_over_full(cfg: Any, lengths: Sequence[int] | None = None, *, shape: ModelShape | None = None,
                   device: str | None = None) -> str | None:
    """Why a LoRA (QLoRA) run of ``cfg`` needs more memory than a full fine-tune of the same base and batch would,
    where it does, with what LoRA dropout 0 and gradient checkpointing would make it; else None.

    LoRA keeps no gradients or optimizer state for the frozen base, but its dropout keeps a float32 copy of each adapted
    layer's input for every layer (``_DROPOUT_BYTES``): at many tokens a step those copies outgrow the optimizer state a
    full fine-tune adds. Measured op by op on SmolLM2's shape at 8 x 128 tokens (CPU, float32), the step's activations
    peaked at 2,608 MiB with dropout, 1,760 MiB without, 1,889 MiB for a full fine-tune; the page said only "Needs about",
    LoRA's figure above full's."""
    if cfg.method == "full":
        return None
    shape = shape or run_shape(cfg)
    mine = for_run(cfg, lengths, shape=shape, device=device).estimate
    full = for_run(cfg.replace(method="full"), lengths, shape=shape, device=device).estimate
    if mine.total <= full.total or not mine.dropout_copies:
        return None
    name = "QLoRA" if cfg.method == "qlora" else "LoRA"
    undropped = for_run(cfg.replace(lora_dropout=0.0), lengths, shape=shape, device=device).estimate
    if undropped.total > full.total:  # not the dropout's doing: adapters as large as a tiny base's own layers
        return None
    lower = f"With LoRA dropout 0 it needs about {undropped.total / GIB:.2f} GiB"
    if not (cfg.gradient_checkpointing or cfg.method == "qlora"):
        on = for_run(cfg.replace(gradient_checkpointing=True), lengths, shape=shape, device=device).estimate
        lower += f"; with gradient checkpointing, about {on.total / GIB:.2f} GiB"
    return (f"{name} needs more memory here than a full fine-tune of this base would ({full.total / GIB:.2f} GiB): its "
            f"dropout keeps a copy of each adapted layer's input, {mine.dropout_copies / 1024**2:,.0f} MiB at this batch, "
            f"more than the optimizer state {name} saves. {lower} (Advanced settings).")


def _attention_weights(shape: ModelShape, seq_len: int, device: str | None) -> int:
    """Bytes per token a GPT-2 layer's attention keeps on a CPU: GPT-2 trains with attention dropout (0.1, the scratch
    models' too), and on a CPU torch's SDPA takes its math path for dropout, which holds the weights the flash kernels
    never make: the softmax of the scores, the dropout's mask and its output, heads x length float32 values each per
    token. Llama-style models train without attention dropout; on a CUDA GPU the fused kernels apply dropout
    themselves. Left out, a tiny GPT-2's step at 8 x 128 tokens held 1.4x the estimate (tests/train/test_memory.py)."""
    if shape.model_type != "gpt2" or not shape.heads or _on_cuda(device):
        return 0
    return 3 * shape.heads * seq_len * 4


def _on_cuda(device: str | None) -> bool:
    try:
        from studio.models import loading

        return (device or loading.pick_device()) == "cuda"
    except ImportError:  # no torch (API mode): no GPU either
        return False


def _residual_bytes(method: str, device: str | None) -> int:
    """Bytes a value of the residual stream (the hidden states between layers) takes: 2 where LoRA's frozen base is
    bf16 (its embeddings' output, and every bf16 layer output added to it, stay bf16); 4 otherwise: float32 weights
    (full fine-tuning, also under bf16 autocast, where float32 embeddings plus a bf16 layer output add up to float32;
    LoRA on CPU) and QLoRA, whose embeddings peft's ``prepare_model_for_kbit_training`` casts to float32."""
    return 2 if method == "lora" and _bf16_base(device) else 4


def _linear_params(shape: ModelShape) -> int:
    """The layers' linear weights (what 4-bit quantization and autocast's half-precision copies cover)."""
    linears = shape.linears or _llama_linears(shape.width, shape.inner or 4 * shape.width, shape.width)
    return min(shape.params, shape.layers * sum(i * o for _, i, o in linears))


def _autocast(device: str | None) -> bool:
    """Whether training computes under bf16/fp16 autocast on ``device``: on every CUDA GPU (``loop.mixed_precision``:
    bf16 where the GPU computes in it, else fp16), never on a CPU."""
    return _on_cuda(device)


def _qlora_base_bytes(shape: ModelShape) -> int:
    """QLoRA's frozen base: bitsandbytes quantizes the layers' linear weights to 4-bit NF4 (~0.53 byte a parameter
    with double-quantized scales); the rest (the embeddings, the output layer, norms, biases) stays unquantized, and
    peft's ``prepare_model_for_kbit_training`` casts every bf16 parameter that is not 4-bit to float32: 4 bytes."""
    quantized = _linear_params(shape)
    return int(quantized * 0.53) + (shape.params - quantized) * 4


def _bf16_base(device: str | None) -> bool:
    try:
        from studio.models import loading
        from studio.train.lora import frozen_base_dtype

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


def verdict(est: MemoryEstimate, dev: DeviceMemory, batch_size: int, seq_len: int,
            batch_tokens: int = 0) -> tuple[bool, str]:
    """(fits, one line for the page): a warning with a remedy when the run will not fit."""
    need, free = est.total / GIB, dev.free / GIB
    if est.total <= dev.free:
        return True, f"Needs about {need:.2f} GiB; {free:.1f} GiB free on {dev.name}."
    step = (f"tokens per step (try {max(seq_len, batch_tokens // 2)})" if batch_tokens
            else f"the batch size (try {max(1, batch_size // 2)})")
    return False, (
        f"Needs about {need:.2f} GiB but only {free:.1f} GiB is free on {dev.name}: lower {step} "
        f"or the max length (now {seq_len}), turn on gradient checkpointing, or pick a smaller base."
    )


def breakdown(est: MemoryEstimate, batch: str = "") -> str:
    """One line whose terms add up to the total ``verdict`` states: "weights 516 MiB + optimizer state 37 MiB
    + activations 612 MiB (``batch``) + runtime 1,024 MiB + slack 280 MiB = 2,469 MiB (2.41 GiB)",
    then the smaller of gradients and activations, which is not added (they do not peak together). Each term is rounded to a
    MiB and the slack takes the rounding, so the sum written is the total written."""
    mib = 1024**2
    total = round(est.total / mib)
    parts = [(name, round(n / mib)) for name, n in est.parts()]
    parts[-1] = (parts[-1][0], total - sum(n for _, n in parts[:-1]))
    terms = [f"{name} {n:,} MiB" + (f" ({batch})" if batch and name in ("activations", "gradients") else "")
             for name, n in parts]
    peak, (other, n) = parts[2][0], (("gradients", est.gradients) if parts[2][0] == "activations"
                                     else ("activations", est.activations))
    return (f"{' + '.join(terms)} = {total:,} MiB ({est.total / GIB:.2f} GiB); {other} {round(n / mib):,} MiB "
            f"not added: built as the {peak} are freed, only the larger counts")


def fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
