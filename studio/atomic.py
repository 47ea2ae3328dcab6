"""Crash-safe file writes: write a temporary file beside the target, fsync, then rename; and moves into the trash."""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from studio import config
from studio.errors import StudioError, disk_error, not_a_folder


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: readers see the old file or the new one, never half.

    A replaced file keeps its permissions; a new one gets rw-r--r-- (the temporary file is private).
    A full or read-only disk raises ``DiskError`` (one line) and leaves the old file as it was.
    """
    _checked(Path(path), data, len(data))


def copy_file(path: Path, source: Path) -> None:
    """``write_bytes`` with the bytes of the file ``source``, copied a MB at a time: a file of hundreds of MB (a
    restored dataset version) is never held whole in memory."""
    _checked(Path(path), Path(source), os.path.getsize(source))


def _checked(path: Path, data: bytes | Path, nbytes: int) -> None:
    written = config.before_write(path, nbytes)  # a visitor's workspace on a public deployment has a size limit
    try:
        write_unchecked(path, data)
    finally:
        if written is not None:  # the room it took is in the file now (or, failed, counted until measured again)
            written()


def write_unchecked(path: Path, data: bytes | Path) -> None:
    """``write_bytes`` without the workspace's size check, for the few bytes of bookkeeping that must be written
    even in a full workspace (what a restore brought back); still atomic, and a full disk is one line."""
    path = Path(path)
    try:
        _write(path, data)
    except OSError as exc:
        err = disk_error(exc, path)
        if err is None:
            raise
        raise err from None


def _write(path: Path, data: bytes | Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise (not_a_folder(exc, path.parent) or exc) from None
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    # The temporary name stays within the file system's 255 bytes whatever the target's (a 250-character
    # name is a valid file name; with the prefix and suffix added it was "File name too long").
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, Path):
                with open(data, "rb") as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_output(path: Path, data: bytes | str) -> None:
    """``write_bytes`` (text as UTF-8) for a file the person named (an export, a report): whatever stops the
    write is one line naming the file, and what was there stays.

    The write goes where the name leads, as ``cp`` and ``>`` do: a link (``qa.json -> ../shared/qa.json``) stays
    a link and the file it names is replaced; a device or a pipe (``/dev/stdout``, ``/dev/null``, a FIFO) is
    written into. Replacing the name itself put a plain file where the link or ``/dev/null`` had been."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    path = Path(path).expanduser()
    refuse_missing_folder(path)
    try:
        kind = os.stat(path).st_mode
    except OSError:
        kind = None  # not there yet (or unreadable): the write below says why, in one line
    try:
        if kind is not None and not stat.S_ISREG(kind) and not stat.S_ISDIR(kind):
            with open(path, "wb") as fh:  # a device or a pipe: nothing to replace atomically
                fh.write(data)
            return
        write_bytes(path.resolve() if kind is not None and path.is_symlink() else path, data)
    except StudioError:
        raise  # already one line: disk full or read-only, a folder in the way, a workspace's limit
    except OSError as exc:
        if (err := disk_error(exc, path)) is not None:  # a device that is full (/dev/full)
            raise err from None
        raise StudioError(f"Cannot write {path} ({exc.strerror or exc}): check the folder exists and is "
                          "writable.") from None


def refuse_missing_folder(path: Path) -> None:
    """A file the person named goes into a folder that is there: ``--out typo/x.json`` is one line, not a typo'd
    folder made for it (a workspace's own files are another matter: ``write_bytes`` makes their folders)."""
    path = Path(path).expanduser()
    if path.parent.is_dir():
        return
    for part in path.parents:  # note.txt/x.json: the file that stands where the folder would be
        if os.path.lexists(part) and not part.is_dir():
            raise StudioError(f"{part} is a file, not a folder: choose another path for {path}.")
    raise StudioError(f"The folder of {path} does not exist: create it or choose another path.")


def check_writable(path: Path) -> None:
    """Raise now the one line a write to ``path`` would raise after the work that produces it (a read-only or
    missing folder, a folder not yours): a private temporary file is made beside it and removed at once, so
    nothing is left behind and ``path`` itself is not created. A device or a pipe is not checked."""
    path = Path(path).expanduser()
    try:
        kind = os.stat(path).st_mode
    except OSError:
        kind = None
    if kind is not None and not stat.S_ISREG(kind) and not stat.S_ISDIR(kind):
        return
    folder = path.resolve().parent
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
    except OSError as exc:
        if exc.errno == 2 and not folder.is_dir():  # ENOENT
            raise StudioError(f"The folder of {path} does not exist: create it or choose another path.") from None
        if exc.errno == 2:  # a folder that is there, where no file can be made (/proc): not a missing folder
            raise StudioError(f"cannot write {path}: {folder} is there but no file can be made in it "
                              f"({exc.strerror}); choose a writable folder.") from None
        if exc.errno in (1, 13, 30):  # EPERM, EACCES, EROFS
            raise StudioError(f"cannot write {path}: the folder is read-only or not yours ({exc.strerror}); choose "
                              "a writable folder.") from None
        raise (disk_error(exc, path) or StudioError(f"Cannot write {path} ({exc.strerror or exc}): check the "
                                                    "folder exists and is writable.")) from None
    os.close(fd)
    os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any, *, indent: int | None = 2) -> None:
    """Atomically write ``value`` as UTF-8 JSON, keeping non-ASCII text as it is."""
    write_text(path, json.dumps(value, ensure_ascii=False, indent=indent) + "\n")


def move_into_trash(trash: Path, source: Path, name: str) -> Path:
    """Move the folder ``source`` into ``trash`` as ``<name>-<time>`` (``-2``, ``-3``... after it where that is taken:
    a dataset deleted, made again and deleted within the second went inside the first one's folder) and return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        dest = trash / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
        try:
            dest.mkdir()  # the name taken at once: two deletes in the same second cannot both pick it
        except FileExistsError:
            continue
        break
    try:
        os.rename(source, dest)  # over the empty folder just made: one step on one disk
    except OSError as exc:
        dest.rmdir()
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(source), dest)  # a workspace whose datasets or runs are on another disk than its trash
    return dest
