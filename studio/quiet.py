"""Keep the libraries' own noise out of the user's terminal, page and run logs.

bitsandbytes serves the studio only for 4-bit and 8-bit models on a CUDA GPU. Yet peft, transformers
and sentence-transformers import it whenever it is installed, and on a CPU whose processor has
AVX512-BF16 that import asks the ``kernels`` package for a Hub kernel: a network request where the Hub
is reachable, and two warning lines ("Skipping publisher trust check ...", "Failed to load CPU
gemm_4bit_forward from kernels-community ...") on stderr in every process that trains or embeds.

So on a machine with no NVIDIA driver, bitsandbytes is hidden from every import (``find_spec`` answers
None, as if it were not installed): the libraries skip it, nothing is fetched, nothing is printed, and
the studio's own CUDA check already refuses QLoRA and loads 4/8-bit chat models unquantized there. Where
a driver is present it stays importable and only its loggers are quietened to errors.

The other libraries' advice to developers (transformers' logger: "The tokenizer has new PAD/BOS/EOS
tokens ...", peft's "fan_in_fan_out is set to False ...", torch's deprecation notes) is quietened the same
way: the studio prints its own lines and its errors say what to do. ``STUDIO_LIBRARY_WARNINGS=1`` keeps
everything, for debugging.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

# Loggers of libraries that warn about optional kernels the studio never uses; errors still show.
NOISY_LOGGERS = ("bitsandbytes", "kernels")
# Libraries whose Python warnings (UserWarning, FutureWarning, ...) speak to their own developers.
NOISY_MODULES = r"(torch|transformers|peft|accelerate|sentence_transformers|bitsandbytes|kernels)(\.|$)"


def has_nvidia_driver() -> bool:
    """An NVIDIA driver on this machine (Linux), without importing torch: its device node or /proc entry."""
    if sys.platform != "linux":
        return sys.platform == "win32"  # Windows: cannot tell cheaply, keep bitsandbytes importable
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()


def quiet_libraries() -> None:
    """Hide bitsandbytes where no GPU can use it, and quieten the libraries' warnings (errors still show)."""
    if os.environ.get("STUDIO_LIBRARY_WARNINGS") == "1":
        return
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=NOISY_MODULES)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # read when transformers is imported, here and in jobs
    if "transformers" in sys.modules:  # imported before the studio: set its logger directly
        logging.getLogger("transformers").setLevel(logging.ERROR)
    if os.environ.get("STUDIO_KEEP_BITSANDBYTES") == "1" or has_nvidia_driver():
        return
    # A None entry makes `import bitsandbytes` raise ImportError and importlib.util.find_spec return None,
    # which is how peft and transformers decide that it is not installed. Set only if not imported yet.
    sys.modules.setdefault("bitsandbytes", None)


def quiet_hub() -> None:
    """For the command line: huggingface_hub's own warnings off the terminal (errors still show). A Hub that cannot
    be reached printed eleven lines of its retries ("'[Errno 111] Connection refused' thrown while requesting HEAD
    ...", "Retrying in 1s [Retry 1/5].") before the command's one ``error: ...`` line, which says what to do."""
    if os.environ.get("STUDIO_LIBRARY_WARNINGS") == "1":
        return
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # read when huggingface_hub is imported, here and in jobs
    if "huggingface_hub" in sys.modules:  # imported already: its logger's level was set from the environment then
        logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"huggingface_hub(\.|$)")
