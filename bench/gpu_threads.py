"""Why is ``generate`` slower in chat than in a notebook? The same call in different threads, side by side.

    python bench/gpu_threads.py                 # CUDA: Phi-3.5-mini's shape with 8 of its 32 layers, bf16
    python bench/gpu_threads.py --cpu           # any machine: a 2-layer, 64-wide Phi-3 (checks the script)

Bounded: ``--budget-s`` (60 s) stops starting new measurements; each row is printed as it is measured, so a
run cut short keeps what it measured. The table and the profiles' summaries go to ``--out``/threads.txt.

One model, one prompt, greedy, exactly ``--tokens`` new tokens per call, run:
  main            in the calling thread (a notebook)
  new-thread      in a thread started for the call (chat before issue 26: one per answer)
  worker #k       on one long-lived thread, call k (``studio.models.worker``: chat after issue 26)
  ... +streamer   the same with a TextIteratorStreamer-like queue the calling thread consumes
  new-thread+omp1 a new thread that first sets torch's CPU threads to 1 (an OpenMP pool per thread?)
  new-thread+spin a new thread while the calling thread polls instead of blocking (GIL contention?; 4 tokens)
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
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=60.0,
                    help="stop starting new measurements after this many seconds (default 60); the profiles "
                         "run only if time is left")
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for threads.txt and the profiles")
    args = ap.parse_args()
    t_start = time.monotonic()
    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("error: no CUDA GPU: run with --cpu to check the script here", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "threads.txt"
    head = (f"torch {torch.__version__}, cpu threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
            f"affinity {len(os.sched_getaffinity(0))}, switch interval {sys.getswitchinterval()} s, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(head, flush=True)
    model, inputs = build(args.cpu, args.layers if not args.cpu else 2)
    sync = torch.cuda.synchronize if not args.cpu else None
    T = args.tokens
    one_call(model, inputs, T, sync=sync)  # warm-up in the calling thread: kernels, allocator, cuBLAS handle
    worker = GenerationWorker("bench-worker")
    rows: dict[str, list[tuple[float, float]]] = {}
    lines: list[str] = [head]

    def left() -> float:
        return args.budget_s - (time.monotonic() - t_start)

    def record(name, fn, tokens=T):
        """Measure one call unless the budget is spent; print it at once (a timeout keeps what was printed)."""
        if left() <= 0:
            return
        wall, cpu = fn()
        rows.setdefault(name, []).append((wall / tokens * T, cpu / tokens * T))  # per T tokens, to compare
        line = f"{name:24} {tokens / wall:9.1f} tokens/s  wall {wall / tokens * 1000:7.2f} ms/token  CPU {cpu / tokens * 1000:7.2f} ms/token"
        print(line, flush=True)
        lines.append(line)

    def streamed_new_thread():
        s, box = QueueStreamer(), {}
        t = threading.Thread(target=lambda: box.setdefault("r", one_call(model, inputs, T, streamer=s, sync=sync)))
        t.start()
        n = sum(1 for _ in s)
        t.join()
        assert n == T
        return box["r"]

    def streamed_worker():
        s = QueueStreamer()
        fut = worker.submit(lambda: one_call(model, inputs, T, streamer=s, sync=sync))
        return consumed(lambda: fut.result, s)[0]

    # The question first (calling thread, a new thread, the worker's calls), then the suspects, each bounded.
    for _ in range(args.repeats):
        record("main", lambda: one_call(model, inputs, T, sync=sync))
        record("new-thread", lambda: in_new_thread(lambda: one_call(model, inputs, T, sync=sync)))
    for k in range(1, 4):  # the worker's first call pays whatever a fresh thread pays; later ones should not
        record(f"worker #{k}", lambda: worker.submit(lambda: one_call(model, inputs, T, sync=sync)).result())
    for _ in range(args.repeats):
        record("worker +streamer", streamed_worker)
        record("new-thread +streamer", streamed_new_thread)
    record("new-thread+set_device", lambda: in_new_thread(lambda: one_call(model, inputs, T, sync=sync, set_device=True)))
    record("new-thread+omp1", lambda: in_new_thread(lambda: one_call(model, inputs, T, omp1=True, sync=sync)))
    # A calling thread that spins holds the GIL: few tokens, once (this row alone made the last GPU run time out).
    record("new-thread+spin", lambda: in_new_thread(lambda: one_call(model, inputs, 4, sync=sync), spin=True), tokens=4)
    record("main (again)", lambda: one_call(model, inputs, T, sync=sync))

    table = [f"\n{'where generate ran':24} {'tokens/s':>9} {'ratio to main':>14}   ({T} new tokens, median of the calls)"]
    base = statistics.median(T / w for w, _ in rows["main"]) if rows.get("main") else None
    for name, vals in rows.items():
        tps = statistics.median(T / w for w, _ in vals)
        table.append(f"{name:24} {tps:9.1f} {tps / base if base else float('nan'):14.2f}")
    if left() <= 0:
        table.append(f"(budget of {args.budget_s:.0f} s spent: later rows and the profiles skipped)")
    print("\n".join(table), flush=True)
    lines += table

    # Where the time goes: one short call profiled in the calling thread, one in a fresh thread.
    for where in ("main", "new-thread"):
        if left() <= 5:
            lines.append(f"profile {where}: skipped (budget spent)")
            continue

        def profiled():
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if not args.cpu else [])
            with profile(activities=acts) as prof:
                wall, _ = one_call(model, inputs, 8, sync=sync)
            pr = cProfile.Profile()
            pr.enable()
            one_call(model, inputs, 8, sync=sync)
            pr.disable()
            return prof, pr, wall

        prof, pr, wall = profiled() if where == "main" else in_new_thread(profiled)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20)
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(20)
        (out / f"profile_{where}.txt").write_text(f"{where}: 8 tokens in {wall * 1000:.0f} ms\n\n"
                                                  f"torch.profiler, by self CPU time:\n{table}\n\n"
                                                  f"cProfile, by own time:\n{s.getvalue()}", encoding="utf-8")
        lines.append(f"profile {where}: 8 tokens in {wall * 1000:.0f} ms (profile_{where}.txt)")
        print(lines[-1], flush=True)
    worker.close()
    summary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"finished in {time.monotonic() - t_start:.0f} s; summary in {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
