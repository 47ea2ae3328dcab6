#!/usr/bin/env bash
# Issue 26's GPU check in one command, from the repository root on a CUDA machine:
#
#   bench/gpu.sh                # CUDA: every part below, ~6 minutes in all
#   bench/gpu.sh --cpu-smoke    # any machine: the same parts on tiny shapes, to check this script
#
# Writes everything to $OUT/gpu.log (OUT defaults to bench/out), plus the profiler tables of
# bench/gpu_threads.py and bench/gpu_steps.py under $OUT. Every part runs under `timeout` and the
# script goes on after a failure; a part is skipped when the overall budget (BUDGET_S, 400 s) is spent.
#   1. the machine and the library versions
#   2. bench/gpu_threads.py: the same generate in the calling thread, a new thread per call, one
#      long-lived worker (calls 1..4 and later), with and without a streamer; profiler tables
#   3. the CUDA-only tests (skipped without CUDA) and the 3 tests that used to assume a CPU
#   4. bench/chat.py --phi35: LocalBackend.stream against bare generate, bf16 and 4-bit
#   5. bench/qlora.py: LoRA and QLoRA on Phi-3.5-mini's shape (tokens/s, peak memory)
#   6. bench/train.py --shape distilgpt2: the studio's recipe against the tutorial's
#   7. bench/gpu_steps.py: per-step time and device syncs of the studio's loop (profiled steps)
set -u
cd "$(dirname "$0")/.."
SMOKE=0
[ "${1:-}" = "--cpu-smoke" ] && SMOKE=1
OUT=${OUT:-$PWD/bench/out}
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
: >"$LOG"
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-400}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
HOME_DIR=$(mktemp -d)
export STUDIO_HOME="$HOME_DIR/studio"
T0=$(date +%s)

log() { echo "$*" | tee -a "$LOG"; }

# part NAME LIMIT_S CMD...: run CMD under timeout (capped by what is left of the budget), log all, never fail
part() {
    local name=$1 limit=$2
    shift 2
    local used=$(( $(date +%s) - T0 ))
    local left=$(( BUDGET_S - used ))
    if [ "$left" -lt 15 ]; then
        log "=== $name: SKIPPED (budget spent: ${used}s of ${BUDGET_S}s) ==="
        return 0
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    log ""
    log "=== $name (limit ${limit}s, at ${used}s) === $*"
    local start=$(date +%s)
    timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    local verdict="ok"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="TIMED OUT"
    [ $rc -ne 0 ] && [ "$verdict" = "ok" ] && verdict="FAILED"
    log "=== $name: $verdict (rc=$rc) in $(( $(date +%s) - start ))s ==="
    return 0
}

if [ $SMOKE = 1 ]; then
    THREADS=(--cpu --tokens 8 --repeats 1)
    CHAT=(--tokens 8 --repeats 1)
    QLORA=(--shape tiny --steps 4)
    TRAIN=(--records 24 --epochs 1)
    STEPS=(--cpu --steps 6)
    TESTS=(tests/train/test_packing.py tests/models/test_worker.py tests/train/test_cuda.py)
else
    THREADS=(--layers 8 --tokens 32 --repeats 2)
    CHAT=(--phi35 --tokens 64 --repeats 3)
    QLORA=(--shape phi35 --steps 12)
    TRAIN=(--shape distilgpt2)
    STEPS=(--steps 30)
    TESTS=(tests/train/test_packing.py tests/models/test_worker.py tests/train/test_cuda.py
           "tests/train/test_train.py::test_out_of_memory_is_caught_with_the_remedy"
           "tests/models/test_models.py::test_load_tiny_model_cpu_and_quantization_note"
           "tests/chat/test_local_chat.py::test_make_backend_loads_local_models_and_reports_cpu_quantization")
fi

part "1 machine" 45 bash -c "$PY - <<'EOF'
import importlib, os, platform, subprocess
print('python', platform.python_version(), 'cpus', os.cpu_count())
for name in ('torch', 'transformers', 'peft', 'accelerate', 'bitsandbytes', 'streamlit'):
    try:
        m = importlib.import_module(name)
        print(name, getattr(m, '__version__', '?'))
    except Exception as exc:
        print(name, 'NOT importable:', type(exc).__name__, str(exc)[:120])
import torch
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print('cuda', torch.version.cuda, torch.cuda.get_device_name(0), f'{p.total_memory / 2**30:.0f} GiB',
          'bf16', torch.cuda.is_bf16_supported())
    subprocess.run(['nvidia-smi', '--query-gpu=name,clocks.sm,clocks.mem,power.draw,utilization.gpu,memory.used',
                    '--format=csv'], check=False)
else:
    print('no CUDA: CPU only')
EOF"
part "2 generate: calling thread vs new thread vs long-lived worker" 90 "$PY" bench/gpu_threads.py "${THREADS[@]}" --out "$OUT"
part "3 tests: CUDA-only and the 3 that assumed a CPU" 90 "$PY" -m pytest -q -rs -p no:cacheprovider --timeout=120 "${TESTS[@]}"
part "4 chat backend vs bare generate (bf16, 4-bit)" 130 "$PY" bench/chat.py "${CHAT[@]}"
part "5 LoRA vs QLoRA, Phi-3.5-mini shape" 130 "$PY" bench/qlora.py "${QLORA[@]}"
part "6 studio recipe vs tutorial, distilgpt2 shape" 70 "$PY" bench/train.py "${TRAIN[@]}"
part "7 training step profile" 45 "$PY" bench/gpu_steps.py "${STEPS[@]}" --out "$OUT"

log ""
log "=== done in $(( $(date +%s) - T0 ))s; summary lines ==="
grep -E "^=== |\bratio\b|tokens/s|PASS|FAIL|passed|failed|skipped|error:|Error" "$LOG" | grep -v "^=== .*===.*\$PY" >"$OUT/summary.txt" || true
cat "$OUT/summary.txt"
rm -rf "$HOME_DIR"
exit 0
