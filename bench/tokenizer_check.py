"""What the Models library's tokenizer check costs: ``library.list_models()`` over N model folders (copies of the
bundled SmolLM2-135M-Instruct's tokenizer and config, no weights needed), first listing (each tokenizer loaded once)
and later listings (the folder state unchanged: nothing loaded), against the file-name check alone, in one process.

    STUDIO_HOME=<a workspace holding the bundled model> HF_HUB_OFFLINE=1 python bench/tokenizer_check.py [N]
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config  # noqa: E402
from studio.models import bundled, library, tokenizer_check  # noqa: E402


def main(n: int = 10) -> None:
    source = config.models_dir() / bundled.NAME  # the bundled model's copy in the workspace: open Chat with it once
    if not (source / "tokenizer.json").is_file():
        sys.exit(f"error: no {source}: use the bundled model once (python -m studio ask {bundled.SPEC} Hi), then rerun.")
    for i in range(n):
        folder = config.models_dir() / f"copy-{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for f in source.iterdir():
            if f.suffix != ".safetensors" and f.is_file():
                shutil.copy2(f, folder / f.name)
        (folder / "model.json").write_text(json.dumps({"label": f"copy {i}"}))

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    names_only = min(timed(lambda: [tokenizer_check.by_file_names(config.models_dir() / f"copy-{i}")
                                    for i in range(n)]) for _ in range(3))
    first = timed(library.list_models)
    later = min(timed(library.list_models) for _ in range(3))
    print(f"{n} model folders with one tokenizer: first listing in this process {first:.2f} s (the tokenizer loaded "
          f"once, unless the workspace knows it: run it twice), later listings {later * 1000:.0f} ms; the file-name "
          f"check alone {names_only * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
