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
    says so in one line, as ``atomic.write_output`` does, rather than creating the typo'd folder; and one where no file
    can be written (a read-only folder, ``/proc``), before the work whose result it was to hold. The one output-path
    check of every command's ``--out``, ``--csv``, ``--html`` and ``--report``. ``outputs`` and ``inputs`` map each
    flag to its path (None: not given)."""
    from studio import atomic

    for path in outputs.values():
        if path:
            atomic.refuse_missing_folder(Path(path))
            atomic.check_writable(Path(path))
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


NAMES_LISTED = 10  # workspace datasets named in the line saying a name is neither a file nor one of them


def file_or_dataset(src: str | Path):
    """The workspace dataset (``store.DatasetInfo``) that ``src`` names where no file, folder (``FOLDER@SPLIT``) or
    ``hub:`` source is at ``src``; None where there is one to read. Neither: one line naming both choices and the
    workspace's datasets (it said "No file at general-quiz: check the path." though a dataset's name is taken too)."""
    from studio.data import hf_sources, store

    text = str(src)
    path = Path(text).expanduser()
    if text.startswith(hf_sources.HUB_PREFIX) or path.exists():
        return None
    info = store.find_dataset(text)
    if info is not None:
        return info
    if "@" in path.name and Path(text.rpartition("@")[0]).expanduser().exists():
        return None  # FOLDER@SPLIT: the reader says what is wrong with it
    names = [d.name for d in store.list_datasets()]
    listed = ", ".join(names[:NAMES_LISTED]) + (f" and {len(names) - NAMES_LISTED:,} more" if len(names) > NAMES_LISTED
                                                 else "") if names else "none yet"
    raise StudioError(f"No file at {text} and no workspace dataset of that name or id (workspace datasets: {listed}; "
                      "`python -m studio dataset list` lists them): give a file's path or a dataset's name.")
