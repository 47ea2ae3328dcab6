"""transformers imported once per process, under one lock, before any of the studio's lazy imports of it.

Two threads importing it at once in a fresh process (two browser tabs whose pages load a model, check a tokenizer
or read a GGUF in the background) can fail: transformers swaps its module for a lazy one while it initialises, and
the second thread reads that half-made module ("cannot import name 'AutoConfig' from 'transformers'"; reproduced
here in about half of fresh processes with two threads, and with peft beside it: "partially initialized module
'transformers.utils'"). Once the package itself is imported, its names load on first use without that race. So every
function in ``studio`` that imports transformers, or a package built on it (peft, sentence-transformers, Liger
Kernel), calls ``ready()`` first; ``tests/models/test_hf_import.py`` finds any that does not.
"""

from __future__ import annotations

import sys
import threading

_LOCK = threading.Lock()
_done = False


def ready() -> None:
    """Import transformers (its package, which loads no weights and not torch) unless this process has. Without
    transformers (the API-only install) nothing happens: the import that follows says it is missing, as before."""
    global _done
    if _done:
        return
    with _LOCK:
        if _done:
            return
        try:
            import transformers  # noqa: F401
        except ImportError:
            sys.modules.pop("transformers", None)  # half made: the caller's own import tries again and says why
            return
        _done = True
