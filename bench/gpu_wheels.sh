#!/usr/bin/env bash
# Fills .whl/ (ignored by git) with the wheels bench/gpu.sh needs on the lent GPU machine (nvidia-h200:
# Python 3.12, x86-64, no package index) and that its image lacks. Run HERE, on a machine that reaches PyPI,
# before the device `run` call that names ".whl" in carry (bench/gpu.sh's header has that call):
#
#   bash bench/gpu_wheels.sh
#
# What the image has (as read there: torch 2.11.0+cu130, transformers 5.17.0, accelerate 1.15.0, peft,
# huggingface_hub 1.33.0, tokenizers 0.23.2, safetensors, numpy, pandas, pyarrow, pytest, pytest-timeout,
# hypothesis, einops) stays as it is: carrying a newer huggingface_hub, say, would shadow the one its
# transformers needs (transformers 5.17 requires huggingface_hub < 2). Carried, at requirements-dev.lock's
# versions, only packages the image lacks. Of these, bench/gpu.sh's parts import bitsandbytes alone (every
# module its processes imported, traced in the CPU smoke run, 2026-12-04); the other three are the studio's own
# runtime dependencies, 3.4 MB together, so the CLI works there too (datasets' checks, GGUF models):
#   bitsandbytes  4-bit loading (QLoRA tests, bench/qlora.py, bench/chat.py's 4-bit row); the wheel is
#                 repacked with its CPU and CUDA 13 libraries only (the image's torch is built for CUDA 13.0;
#                 the CUDA 11/12, ROCm and XPU builds are ~110 MB of the 129 MB and would not fit in 64 MiB)
#   orjson        studio.data.formats writes large datasets with it (the json module otherwise)
#   RapidFuzz     studio.dedup.fuzzy: near-duplicate checks and evaluation's leakage check
#   gguf          studio.models.gguf and export: GGUF files in the model library
#   liger-kernel  TrainConfig.liger (bench/gpu.sh's Liger Kernel parts and CUDA test), at requirements-gpu.txt's pin:
#                 a pure-Python wheel of ~0.9 MB; it needs torch and triton, both in the image (triton comes with
#                 its CUDA torch), and packaging and transformers, which the image has
# Not carried though absent there: datasets, dill, multiprocess (transformers and torch import them only when
# installed), streamlit and plotly (the pages), trl (bench/train.py --against trl), kernels (transformers 5.25's).
# Each has no dependency the image lacks (their Requires-Dist: torch, numpy, packaging, pyyaml, requests, tqdm).
# Prints the size of what travels (tracked files + .whl) and fails when it passes the device's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHL=.whl
NAMES=(bitsandbytes orjson RapidFuzz gguf)

rm -rf "$WHL"
mkdir -p "$WHL"
pins=()
for name in "${NAMES[@]}"; do
    pin=$(grep -i "^$name==" requirements-dev.lock) || { echo "error: $name is not pinned in requirements-dev.lock" >&2; exit 2; }
    pins+=("$pin")
done
# The device's Python (3.12.3) and platform; pip matches each manylinux_2_N tag exactly, so name the usual N.
platforms=()
for tag in manylinux_2_39 manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 \
           manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$WHL" "${pins[@]}" 2>&1 | grep -v "is ignored: it is neither" || true
for name in "${NAMES[@]}"; do
    lower=$(echo "$name" | tr 'A-Z-' 'a-z_')
    ls "$WHL" | grep -qi "^${lower}-" || { echo "error: no Python 3.12 x86-64 wheel of $name was downloaded" >&2; exit 1; }
done

# The GPU extras (requirements-gpu.txt: liger-kernel), pure Python: any platform's wheel is the device's.
gpu_pins=$(grep -E '^[A-Za-z0-9_.-]+==' requirements-gpu.txt) || { echo "error: requirements-gpu.txt pins nothing" >&2; exit 2; }
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: -d "$WHL" $gpu_pins 2>&1 | grep -v "is ignored: it is neither" || true
ls "$WHL" | grep -qi "^liger_kernel-" || { echo "error: no wheel of liger-kernel was downloaded" >&2; exit 1; }

# bitsandbytes: keep the CPU and CUDA 13.x libraries, drop the rest, and list only what is kept in RECORD.
"$PY" - "$WHL" <<'EOF'
import re, sys, zipfile
from pathlib import Path

for wheel in Path(sys.argv[1]).glob("bitsandbytes-*.whl"):
    drop = re.compile(r"bitsandbytes/libbitsandbytes_(?!cpu\.so$|cuda13\d*\.so$)[^/]+\.so$")
    slim = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if drop.search(info.filename):
                continue
            data = src.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line for line in data.splitlines(keepends=True) if not drop.search(line.decode()))
            out.writestr(info, data)
    slim.replace(wheel)
    kept = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".so")]
    if not any("cuda130" in n for n in kept):
        sys.exit(f"error: {wheel.name} has no libbitsandbytes_cuda130.so (the device's torch is CUDA 13.0)")
    print(f"{wheel.name}: kept {', '.join(Path(n).name for n in kept)}")
EOF

wheels=$(du -cb "$WHL"/*.whl | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" {s += $1} END {print s + 0}')
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | awk '$2 == "total" {s += $1} END {print s + 0}')
total=$((wheels + tree + untracked))
ls -l "$WHL"
awk -v w="$wheels" -v t="$tree" -v u="$untracked" -v a="$total" 'BEGIN {m = 1048576
    printf "wheels %.1f MiB + tracked files %.1f MiB + untracked %.1f MiB = %.1f MiB of the 64 MiB that travels\n", w/m, t/m, u/m, a/m}'
if [ "$total" -ge $((64 * 1048576)) ]; then
    echo "error: over the device's 64 MiB: carry fewer wheels" >&2
    exit 1
fi
