"""Benchmark: what a load of the embedding model (all-MiniLM-L6-v2 from the offline package) holds up in the server.

    python bench/embed_hold.py

One session's semantic run loads the model in a worker thread; meanwhile every other page run that estimates a
semantic run asks ``embed.loaded()``. Each case runs in a fresh process (a cold load: torch imported, the weights
read), loading in a thread while the main thread asks ``loaded()`` every 10 ms and a third thread ticks every 10 ms
(the event loop's stand-in: how long the interpreter was held at a time). Printed: the load's time, the longest wait
for ``loaded()``, the longest tick gap, for the cache kept under one lock held across the load (before) and with a
lock per model held by its load only (now), and the ratio of the waits. Then the same after the cache was cleared
(a second load, warm: files in the page cache, torch imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _one_lock_cache(embed) -> None:
    """The cache as it was: one lock kept it and was held across the load."""
    lock, cache = threading.Lock(), embed._loaded.values  # cleared between the cold and the warm probe below

    def shared(model=None, *, device=None):
        key = ((model or "").strip() or embed.DEFAULT_MODEL, device)
        with lock:
            if key not in cache:
                cache[key] = embed.load_embedder(key[0], device=device)
            return cache[key]

    def loaded(model=None, *, device=None):
        with lock:
            return cache.get(((model or "").strip() or embed.DEFAULT_MODEL, device))

    embed.shared_embedder, embed.loaded = shared, loaded


def _probe(embed) -> dict[str, float]:
    gaps: list[float] = []
    loader = threading.Thread(target=embed.shared_embedder, daemon=True)

    def tick() -> None:
        last = time.perf_counter()
        while loader.is_alive():
            time.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    start = time.perf_counter()
    loader.start()
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    waits = [0.0]
    while loader.is_alive():
        asked = time.perf_counter()
        embed.loaded()
        waits.append(time.perf_counter() - asked)
        time.sleep(0.01)
    ticker.join()
    return {"load": time.perf_counter() - start, "wait": max(waits), "gap": max(gaps, default=0.0)}


def _child(variant: str) -> None:
    sys.path.insert(0, str(ROOT))
    from studio.dedup import embed

    if variant == "before":
        _one_lock_cache(embed)
    cold = _probe(embed)
    embed._loaded.clear()
    warm = _probe(embed)
    print(json.dumps({"cold": cold, "warm": warm}))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    print(f"embedding model load bench, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    found = {}
    for variant in ("before", "now"):
        out = subprocess.run([sys.executable, __file__, "--child", variant], capture_output=True, text=True, env=env,
                             check=True).stdout
        found[variant] = json.loads(out.strip().splitlines()[-1])
    for case in ("cold", "warm"):
        for variant in ("before", "now"):
            r = found[variant][case]
            print(f"{case:5} {variant:7} load {r['load']:5.2f} s · loaded() waited up to {r['wait']:5.2f} s · "
                  f"interpreter held up to {r['gap'] * 1000:4.0f} ms")
        before, now = found["before"][case]["wait"], found["now"][case]["wait"]
        print(f"{case:5} loaded() wait now/before: {now / max(before, 1e-9):.3f}")


if __name__ == "__main__":
    main()
