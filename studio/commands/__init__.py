"""CLI subcommands, one module per concept; each exposes ``register(subparsers)``."""

from __future__ import annotations

from pathlib import Path

from studio.errors import StudioError

_without_teardown = [False]


def end_without_teardown() -> None:
    """Ask ``python -m studio`` to end the process as soon as this command returns, its output flushed and its
    exit handlers run, without the interpreter's teardown: after a model was loaded (torch), freeing the modules
    takes seconds, during which Python no longer handles Ctrl-C and the process died with -2 after its work was
    done and said."""
    _without_teardown[0] = True


def ends_without_teardown() -> bool:
    return _without_teardown[0]


def refuse_overwriting_inputs(outputs: dict[str, str | Path | None], inputs: dict[str, str | Path | None]) -> None:
    """A file named both as something a command reads and something it writes (``evaluate --dataset qa.json
    --out qa.json``), or twice as an output, is refused before anything runs: writing it would replace what the
    user had with a report. So is an output whose folder does not exist (``--out typo/x.json``): every command
    says so in one line, as ``atomic.write_output`` does, rather than creating the typo'd folder. ``outputs`` and
    ``inputs`` map each flag to its path (None: not given)."""
    from studio import atomic

    for path in outputs.values():
        if path:
            atomic.refuse_missing_folder(Path(path))
    seen: dict[Path, str] = {}
    for flag, path in inputs.items():
        if path and Path(path).expanduser().is_file():
            seen.setdefault(Path(path).expanduser().resolve(), flag)
    read = dict(seen)
    for flag, path in outputs.items():
        if not path:
            continue
        where = Path(path).expanduser().resolve()
        if where in read:
            raise StudioError(f"{flag} {path} is the {read[where]} file: writing there would replace it. Choose "
                              "another file name.")
        if where in seen:
            raise StudioError(f"{flag} {path} is also {seen[where]}: one would replace the other. Choose another "
                              "file name.")
        seen[where] = flag
