"""Training on several GPUs through accelerate: the command a training job starts with.

One GPU (or none) runs ``python -m studio train ...`` as always. N GPUs run
``accelerate launch --multi_gpu --num_processes N [sharding] -m studio train ...``: one process per
GPU, each taking ``batch_size`` records a step, the first process alone writing the run's files
(tests/train/test_multiprocess.py proves the run folder, status and losses with two CPU processes).
Sharding splits what each GPU holds: FSDP (PyTorch's own, nothing to install) or DeepSpeed ZeRO
stage 2/3 (needs the ``deepspeed`` package).
"""

from __future__ import annotations

import importlib.util
import socket
import sys

from studio.errors import TrainingError

SHARDING = {
    "none": "none: every GPU holds the whole model (data parallel)",
    "fsdp": "FSDP: weights, gradients and optimizer state sharded over the GPUs (PyTorch)",
    "zero2": "DeepSpeed ZeRO-2: gradients and optimizer state sharded (needs deepspeed)",
    "zero3": "DeepSpeed ZeRO-3: weights too (needs deepspeed)",
}


def gpu_count() -> int:
    """CUDA GPUs on this machine (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def free_port() -> int:
    """A loopback port free now, for the processes of one run to meet on: accelerate's default (29500) is one port
    for the whole machine, so a second several-GPU run started while one trains failed with "address already in use"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launcher(gpus: int, sharding: str = "none", *, available: int | None = None) -> list[str] | None:
    """The command prefix that runs ``-m studio ...`` on ``gpus`` GPUs; None for one process."""
    if sharding not in SHARDING:
        raise TrainingError(f"Unknown sharding {sharding!r}: choose {', '.join(SHARDING)}.")
    available = gpu_count() if available is None else available
    if gpus <= 1:
        if sharding != "none":
            raise TrainingError("Sharding needs more than one GPU: choose none, or train on 2 or more GPUs.")
        return None
    if gpus > available:
        if not available:  # "choose 1 or fewer" read as if one GPU were there
            raise TrainingError(f"{gpus} GPUs asked for but this machine has none: train in one process (GPUs 1), "
                                "which runs on its CPU.")
        raise TrainingError(f"{gpus} GPUs asked for but this machine has {available}: choose {available} or fewer.")
    if sharding.startswith("zero") and importlib.util.find_spec("deepspeed") is None:
        raise TrainingError("DeepSpeed ZeRO needs the deepspeed package (pip install deepspeed): install it, or "
                            "choose FSDP, which PyTorch has built in.")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(gpus),
           "--num_machines", "1", "--dynamo_backend", "no", "--main_process_port", str(free_port())]
    if sharding == "fsdp":  # accelerate takes one of --multi_gpu, --use_fsdp, --use_deepspeed (a ValueError for two)
        cmd = [c for c in cmd if c != "--multi_gpu"]
        cmd += ["--use_fsdp", "--fsdp_sharding_strategy", "FULL_SHARD", "--fsdp_auto_wrap_policy",
                "TRANSFORMER_BASED_WRAP", "--fsdp_state_dict_type", "FULL_STATE_DICT",
                "--fsdp_use_orig_params", "true"]  # LoRA: frozen and trained weights in one wrapped module
    elif sharding.startswith("zero"):
        cmd = [c for c in cmd if c != "--multi_gpu"] + ["--use_deepspeed", "--zero_stage", sharding[-1]]
    return cmd
