#!/usr/bin/env bash
# A virtualenv with the lent H200 image's library versions, to check here, before any GPU time is spent, that
# bench/gpu.sh and the tests it runs work with them (the lock is newer: transformers 5.25, torch 2.13):
#
#   bash bench/gpu_image_env.sh /tmp/devenv        # ~2 minutes; then
#   PYTHONPATH=$PWD/bench/gpu_image OUT=/tmp/out PYTHON=/tmp/devenv/bin/python bash bench/gpu.sh --cpu-smoke
#   PYTHONPATH=$PWD/bench/gpu_image:$PWD /tmp/devenv/bin/python -m pytest tests/train tests/models/test_worker.py
#
# Versions as read on that machine (/work/.library/device/KINDS.md): transformers 5.17.0, accelerate 1.15.0,
# huggingface_hub 1.33.0 (transformers 5.17 requires < 2), tokenizers 0.23.2, safetensors 0.8.0; peft 0.21.0
# (the 0.21 release of the image's date); everything else at requirements-dev.lock's versions, kernels left
# out (transformers 5.25's dependency only). torch is 2.13.0's CPU build: the image's 2.11.0+cu130 has no CPU
# build on the indexes reached here. bench/gpu_image/sitecustomize.py (on PYTHONPATH) hides the packages the
# image lacks and bench/gpu_wheels.sh does not carry.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/devenv}
PY=${PYTHON:-python3}
pins=$(mktemp)
sed -E -e 's/^transformers==.*/transformers==5.17.0/' -e 's/^peft==.*/peft==0.21.0/' \
       -e 's/^accelerate==.*/accelerate==1.15.0/' -e 's/^huggingface_hub==.*/huggingface_hub==1.33.0/' \
       -e 's/^tokenizers==.*/tokenizers==0.23.2/' requirements-dev.lock | grep -vE '^(-e|kernels==)' >"$pins"
"$PY" -m venv "$DIR"
"$DIR/bin/python" -m pip install -q torch==2.13.0
"$DIR/bin/python" -m pip install -q -r "$pins"
rm -f "$pins"
"$DIR/bin/python" -m pip check
"$DIR/bin/python" -c "import torch, transformers, peft, accelerate, huggingface_hub as h
print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__,
      'accelerate', accelerate.__version__, 'huggingface_hub', h.__version__)"
