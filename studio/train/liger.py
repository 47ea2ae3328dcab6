"""Liger Kernel (LinkedIn's Triton kernels for training) through transformers' ``use_liger_kernel``.

For the architectures liger-kernel knows (Llama and SmolLM2, Mistral, Qwen2, Phi-3, Gemma, ...; its own
``MODEL_TYPE_TO_APPLY_LIGER_FN``), the Trainer swaps in, on the model instance it trains: RMSNorm, RoPE and the
SwiGLU MLP as Triton kernels, and the loss as **fused linear cross-entropy**: the output layer and the
cross-entropy computed together over chunks of tokens, so the batch x length x vocabulary logits (and their
gradient) are never held. The loss is the same: the labels shift as transformers' ``ForCausalLMLoss`` shifts
them, -100 is ignored (the studio's answer-only labels, each packed record's first label), and
``num_items_in_batch`` divides a summed loss as transformers' does. Evaluation (``prediction_loss_only``) skips
the logits too. transformers unwraps a PEFT model first, so LoRA and QLoRA runs are patched the same way.

Triton compiles for a GPU: CUDA only here (``problem``). GPT-2 (distilgpt2, the scratch models) has no Liger
kernels: a run on it trains without them, and says so (``unsupported_note``). Optional, for CUDA machines:
``pip install liger-kernel==0.8.5`` (requirements-gpu.txt); it needs triton, which PyTorch's CUDA build brings.
Its module-level patches (RoPE, the norm and MLP classes) last for the process: a training process is its own.
"""

from __future__ import annotations

import importlib.util

from studio.errors import TrainingError
from studio.models import hf_import

PIN = "liger-kernel==0.8.5"
"""The version checked with the studio (transformers 5.17 and 5.25; docs/train.md); requirements-gpu.txt."""

OFF = "turn it off (--no-liger; Advanced settings on the Train page)"


def problem(device: str, instead: str | None = None) -> str | None:
    """Why Liger Kernel cannot train on ``device`` here, in one line that says what to do; None when it can.
    ``instead`` replaces the remedy with what happens instead (a resumed run goes on without it).

    The package check is transformers' own (``is_liger_kernel_available``: liger-kernel >= 0.3.0), so what
    passes here is what the Trainer accepts; triton is checked apart, as a CPU build of torch lacks it."""
    found = _missing(device)
    if found is None:
        return None
    reason, fix = found
    return f"{reason}: {instead or (fix + ', or ' if fix else '') + OFF}."


def off_reason(device: str) -> str | None:
    """The page's words where its checkbox is off and disabled: the reason, and how to get it, without "turn it off"."""
    found = _missing(device)
    if found is None:
        return None
    reason, fix = found
    return f"{reason}: {fix}." if fix else f"{reason}."


def _missing(device: str) -> tuple[str, str | None] | None:
    """(the reason, how to get Liger Kernel where that can be done here) or None when it can run."""
    if device != "cuda":
        where = "the CPU" if device == "cpu" else device
        return f"Liger Kernel needs a CUDA GPU (its kernels are Triton's) and this machine trains on {where}", None
    hf_import.ready()
    from transformers.utils import is_liger_kernel_available

    if not is_liger_kernel_available():
        return "Liger Kernel is not installed", f"pip install {PIN} on this GPU machine"
    if importlib.util.find_spec("triton") is None:
        return "Liger Kernel needs triton, which this torch build lacks", "install PyTorch's CUDA build"
    return None


def refuse(device: str) -> None:
    """A new run that asks for Liger Kernel where it cannot run stops here, before anything is written."""
    why = problem(device)
    if why:
        raise TrainingError(why)


def supported(model_type: str) -> bool:
    """Whether the installed liger-kernel has kernels for this ``config.model_type`` (its own table)."""
    try:
        hf_import.ready()
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except ImportError:  # not installed (or no triton): nothing is supported
        return False
    return model_type in MODEL_TYPE_TO_APPLY_LIGER_FN


def applies(wanted: bool, model_type: str, device: str) -> bool:
    """Whether a run asking for Liger Kernel (``wanted``) gets it: it can run here and the model has kernels."""
    return wanted and problem(device) is None and supported(model_type)


def unsupported_note(model_type: str) -> str:
    return f"Liger Kernel has no kernels for {model_type or 'this model'}'s architecture: this run trains without them."
