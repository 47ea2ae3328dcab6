"""The command a training job starts with: plain python on one GPU, accelerate with N processes (and
FSDP or DeepSpeed sharding) on several; impossible asks refused in one line before anything runs.
tests/train/test_multiprocess.py runs the 2-process command for real on CPU."""

from __future__ import annotations

import importlib.util

import pytest

from studio.errors import TrainingError
from studio.train import launch


def test_one_gpu_starts_plain_python_and_several_start_one_process_each():
    assert launch.launcher(1, available=0) is None
    cmd = launch.launcher(4, available=8)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in cmd
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    fsdp = launch.launcher(2, "fsdp", available=2)
    assert "--use_fsdp" in fsdp and fsdp[fsdp.index("--fsdp_sharding_strategy") + 1] == "FULL_SHARD"


def test_two_runs_at_once_meet_on_ports_of_their_own():
    """Each several-GPU run's processes meet on a port free when it starts, not accelerate's one default (29500): a
    second run started beside a first (or with 29500 taken by anything else) failed with "address already in use"."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        try:
            taken.bind(("127.0.0.1", 29500))
        except OSError:
            pass  # taken already: all the same to the launcher
        taken.listen()
        first = launch.launcher(2, available=2)
        port = int(first[first.index("--main_process_port") + 1])
        assert port != 29500
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))  # free when the run starts


@pytest.mark.parametrize("sharding", ["none", "fsdp"])
def test_accelerate_accepts_the_command_it_is_given(sharding):
    """accelerate refuses --multi_gpu with --use_fsdp ("You can only use one of ..."): every FSDP run failed at
    launch before its first line. Its own parser and checks read the launcher's flags here, no GPU needed."""
    accelerate_launch = pytest.importorskip("accelerate.commands.launch")
    cmd = launch.launcher(2, sharding, available=2)
    args = accelerate_launch.launch_command_parser().parse_args([*cmd[3:], "-m", "studio", "train"])
    accelerate_launch._validate_launch_command(args)  # noqa: SLF001 - the check launch_command runs first
    assert args.num_processes == 2 and (args.use_fsdp if sharding == "fsdp" else args.multi_gpu)
    assert args.main_process_port == int(cmd[cmd.index("--main_process_port") + 1])


@pytest.mark.parametrize(("gpus", "sharding", "available", "message"), [
    (3, "none", 2, "3 GPUs asked for but this machine has 2: choose 2 or fewer."),
    (2, "fsdp", 0, "2 GPUs asked for but this machine has none: train in one process (GPUs 1), which runs on its CPU."),
    (1, "fsdp", 1, "Sharding needs more than one GPU"),
    (2, "zero9", 2, "Unknown sharding 'zero9'"),
])
def test_impossible_asks_are_refused_with_what_to_choose(gpus, sharding, available, message):
    with pytest.raises(TrainingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        launch.launcher(gpus, sharding, available=available)


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here")
def test_deepspeed_without_its_package_says_how_to_get_it_or_use_fsdp():
    with pytest.raises(TrainingError, match="pip install deepspeed.*FSDP"):
        launch.launcher(2, "zero2", available=2)


def test_a_two_gpu_ask_on_a_machine_without_them_starts_nothing(tmp_path, offline):
    from studio.data.ref import DatasetRef
    from studio.train import job
    from studio.train.config import TrainConfig

    data = tmp_path / "qa.json"
    data.write_text('[{"question": "q?", "answer": "a."}, {"question": "r?", "answer": "b."}]')
    with pytest.raises(TrainingError, match="GPUs asked for"):
        job.start_training(TrainConfig(base="scratch"), DatasetRef(file=str(data), name="qa"), gpus=64)
    from studio.train import runs

    assert runs.count_runs() == 0
