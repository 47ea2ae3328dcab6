"""Why is ``generate`` slower in chat than in a notebook? The same call in different threads, side by side.

    python bench/gpu_threads.py                 # CUDA: Phi-3.5-mini's shape with 8 of its 32 layers, bf16
    python bench/gpu_threads.py --cpu           # any machine: a 2-layer, 64-wide Phi-3 (checks the script)

One model, one prompt, greedy, exactly ``--tokens`` new tokens per call, run:
  main            in the calling thread (a notebook)
  new-thread      in a thread started for the call (chat before issue 26: one per answer)
  worker #k       on one long-lived thread, call k (``studio.models.worker``: chat after issue 26)
  ... +streamer   the same with a TextIteratorStreamer-like queue the calling thread consumes
  new-thread+omp1 a new thread that first sets torch's CPU threads to 1 (an OpenMP pool per thread?)
  new-thread+spin a new thread while the calling thread polls instead of blocking (GIL contention?)
  new-thread+set_device  a new thread that first sets the CUDA device and takes its cuBLAS handle
Each row: tokens/s (median of ``--repeats``), the generating thread's CPU seconds per token (from
``time.thread_time``) and wall ms per token: a thread that does the same work but waits (GIL, scheduler)
shows wall >> CPU; a thread that does more work shows more CPU. Then ``torch.profiler`` and ``cProfile``
tables of one call in the calling thread and one in a new thread (written to ``--out``; the first lines
printed) show where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat import PHI35  # noqa: E402  (Phi-3.5-mini's config.json)

from studio.models.worker import GenerationWorker  # noqa: E402


class QueueStreamer:
    """What a TextIteratorStreamer does between threads, without a tokenizer: token ids through a queue."""

    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue()
        self.first = True

    def put(self, value) -> None:
        if self.first:  # the prompt
            self.first = False
            return
        self.q.put(value.tolist())

    def end(self) -> None:
        self.q.put(None)

    def __iter__(self):
        while (item := self.q.get(timeout=300)) is not None:
            yield item


def build(cpu: bool, layers: int):
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    shape = dict(PHI35, num_hidden_layers=layers)
    if cpu:
        shape.update(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=4)
    cfg = Phi3Config(**shape, eos_token_id=None, pad_token_id=0, bos_token_id=1)
    device = "cpu" if cpu else "cuda"
    torch.manual_seed(0)
    with torch.device(device):
        model = Phi3ForCausalLM(cfg).to(torch.bfloat16).eval()
    model.generation_config.eos_token_id = None
    n = sum(p.numel() for p in model.parameters())
    print(f"model: Phi-3 {layers} layers x {shape['hidden_size']} wide, vocab {shape['vocab_size']}, "
          f"{n / 1e6:,.0f}M parameters, bf16, on {device}", flush=True)
    ids = torch.randint(2, 1000, (1, 40), device=device)
    return model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def gen_kwargs(tokens: int) -> dict:
    return dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, temperature=None, top_p=None,
                top_k=None, pad_token_id=0)


def one_call(model, inputs, tokens: int, streamer=None, omp1: bool = False, sync=None,
             set_device: bool = False) -> tuple[float, float]:
    """(wall s, this thread's CPU s) of one generate call, timed inside the generating thread."""
    import torch

    if omp1:
        torch.set_num_threads(1)
    if set_device and torch.cuda.is_available():
        torch.cuda.set_device(model.device)
        torch.cuda.current_blas_handle()
    c0, t0 = time.thread_time(), time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, **gen_kwargs(tokens), **({"streamer": streamer} if streamer else {}))
    if sync:
        sync()
    assert out.shape[1] - inputs["input_ids"].shape[1] == tokens
    return time.perf_counter() - t0, time.thread_time() - c0


def in_new_thread(fn, spin: bool = False):
    box: dict = {}

    def target():
        try:
            box["r"] = fn()
        except BaseException as exc:  # reported, not hidden
            box["e"] = exc

    t = threading.Thread(target=target, name="bench-new-thread")
    t.start()
    if spin:
        while t.is_alive():
            pass
    t.join()
    if "e" in box:
        raise box["e"]
    return box["r"]


def consumed(fn_submit, streamer):
    """Start generation elsewhere and consume its streamer here, as LocalBackend.stream does."""
    handle = fn_submit()
    n = sum(1 for _ in streamer)
    return handle(), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", action="store_true", help="a tiny model on the CPU (to check the script)")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for the profiler tables")
    args = ap.parse_args()
    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("error: no CUDA GPU: run with --cpu to check the script here", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, cpu threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"affinity {len(os.sched_getaffinity(0))}, switch interval {sys.getswitchinterval()} s, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}", flush=True)
    model, inputs = build(args.cpu, args.layers if not args.cpu else 2)
    sync = torch.cuda.synchronize if not args.cpu else None
    T = args.tokens
    one_call(model, inputs, 4, sync=sync)  # warm-up in the calling thread: kernels, allocator, cuBLAS handle
    worker = GenerationWorker("bench-worker")
    rows: dict[str, list[tuple[float, float]]] = {}

    def record(name, wall_cpu):
        rows.setdefault(name, []).append(wall_cpu)

    for _ in range(args.repeats):
        record("main", one_call(model, inputs, T, sync=sync))
        record("new-thread", in_new_thread(lambda: one_call(model, inputs, T, sync=sync)))
    for k in range(1, 5):  # the worker's first call pays whatever a fresh thread pays; later ones should not
        record(f"worker #{k}", worker.submit(lambda: one_call(model, inputs, T, sync=sync)).result())
    for _ in range(args.repeats):
        record("worker (later calls)", worker.submit(lambda: one_call(model, inputs, T, sync=sync)).result())
        s = QueueStreamer()
        fut = worker.submit(lambda s=s: one_call(model, inputs, T, streamer=s, sync=sync))
        r, _n = consumed(lambda fut=fut: fut.result, s)
        record("worker +streamer", r)
        s = QueueStreamer()
        box: dict = {}
        t = threading.Thread(target=lambda s=s, box=box: box.setdefault("r", one_call(model, inputs, T, streamer=s, sync=sync)))
        t.start()
        n = sum(1 for _ in s)
        t.join()
        record("new-thread +streamer", box["r"])
        assert n == T
        record("new-thread+omp1", in_new_thread(lambda: one_call(model, inputs, T, omp1=True, sync=sync)))
        record("new-thread+spin", in_new_thread(lambda: one_call(model, inputs, T, sync=sync), spin=True))
        record("new-thread+set_device", in_new_thread(lambda: one_call(model, inputs, T, sync=sync, set_device=True)))
        record("main (again)", one_call(model, inputs, T, sync=sync))
    print(f"\n{'where generate ran':24} {'tokens/s':>9} {'wall ms/token':>14} {'thread CPU ms/token':>20}   "
          f"({T} new tokens, median of the calls)")
    base = statistics.median(T / w for w, _ in rows["main"])
    for name, vals in rows.items():
        tps = statistics.median(T / w for w, _ in vals)
        wall = statistics.median(w for w, _ in vals) / T * 1000
        cpu = statistics.median(c for _, c in vals) / T * 1000
        print(f"{name:24} {tps:9.1f} {wall:14.2f} {cpu:20.2f}   ratio to main {tps / base:.2f}", flush=True)

    # Where the time goes: one call profiled in the calling thread, one in a fresh thread.
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for where in ("main", "new-thread"):
        def profiled():
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if not args.cpu else [])
            with profile(activities=acts) as prof:
                wall, _ = one_call(model, inputs, 16, sync=sync)
            pr = cProfile.Profile()
            pr.enable()
            one_call(model, inputs, 16, sync=sync)
            pr.disable()
            return prof, pr, wall

        prof, pr, wall = profiled() if where == "main" else in_new_thread(profiled)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(25)
        (out / f"profile_{where}.txt").write_text(f"{where}: 16 tokens in {wall * 1000:.0f} ms\n\n"
                                                  f"torch.profiler, by self CPU time:\n{table}\n\n"
                                                  f"cProfile, by own time:\n{s.getvalue()}", encoding="utf-8")
        print(f"\n--- {where}: 16 tokens in {wall * 1000:.0f} ms; torch.profiler top ops by self CPU time "
              f"(full table in profile_{where}.txt)")
        print("\n".join(table.splitlines()[:14]))
        print("\n".join(line for line in s.getvalue().splitlines()[:30] if line.strip())[-3000:], flush=True)
    worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
