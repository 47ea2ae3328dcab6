"""Per-visitor workspaces on a public deployment: one folder each under the server's ``STUDIO_HOME``.

    STUDIO_HOME/visitors/u-<hash>/   a signed-in visitor (hash of the provider's issuer and subject): kept
    STUDIO_HOME/visitors/h-<hash>/   a visitor who gave a Hugging Face token (hash of the account): kept
    STUDIO_HOME/visitors/a-<hash>/   an anonymous browser (hash of the secret in its session cookie; random for a
                                     tab without one): bounded in size, removed when idle

Folder names are hashes or random, never anything a visitor types, so no name reaches another's folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from studio import config
from studio.cloud import usage
from studio.errors import StudioError, WorkspaceFullError, in_words

VISITORS = "visitors"
TRASH = "trash"  # where deleting a dataset (or a run) moves it: emptied when the workspace needs the room
SEEN = ".last-seen"  # touched on every page run: what the clean-up measures idleness by
ANONYMOUS_LIMIT_MB = 50  # an anonymous workspace holds Q&A datasets and evaluations: a few MB is a lot
KEPT_LIMIT_MB = 500  # a signed-in (or token-giving) visitor's workspace: the server's one disk serves every visitor
ANONYMOUS_IDLE_HOURS = 24.0  # an anonymous workspace nobody opened for this long is removed
TOTAL_LIMIT_MB = 5_000  # every visitor's workspace together; the secret [studio] workspaces_total_mb: 100 full
# anonymous workspaces, and all that a script loading the app again and again without cookies (each load a new
# anonymous workspace, kept 24 h) can fill. The disk is shared with the checkout, the Python packages (~1 GB) and the files
# being imported; a deployment with less free disk sets it lower.
IN_USE_GRACE_S = 1800  # an anonymous workspace opened this recently is never removed to make room: a reload or a
# sign-in (whose handover takes the tab's workspace within 15 minutes) may come back to it


def root() -> Path:
    return config.server_home() / VISITORS


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def signed_in(issuer: str, subject: str) -> Path:
    """The workspace of a visitor signed in with an OIDC provider (stable across sessions and restarts)."""
    return root() / f"u-{_digest('oidc', issuer, subject)}"


def hub_account(user_id: str) -> Path:
    """The workspace of a visitor known by their Hugging Face account (they gave its token)."""
    return root() / f"h-{_digest('hf', user_id)}"


def anonymous(browser_secret: str | None = None) -> Path:
    """An anonymous visitor's workspace: their browser's, kept across its reloads and tabs until the browser ends the
    session cookie holding ``browser_secret`` (``handoff.browser_secret``); a new random one for a tab without it.
    Either name is one nobody else can guess."""
    if browser_secret:
        return root() / f"a-{_digest('browser', browser_secret)}"
    return root() / f"a-{secrets.token_hex(16)}"


def hub_account_folder(path: Path) -> bool:
    """Whether ``path`` is the workspace of a visitor known by their Hugging Face token."""
    return Path(path).name.startswith("h-")


def is_anonymous(path: Path) -> bool:
    return Path(path).name.startswith("a-")


def owner(path: Path, base: Path | None = None) -> Path | None:
    """The visitor workspace that ``path`` lies in, if any (``base``: the folder of every workspace, ``root()``)."""
    base = root() if base is None else Path(base)
    for parent in Path(path).parents:
        if parent.parent == base:
            return parent
    return None


def count_made(folders: list[Path], base: Path | None = None) -> None:
    """Folders made in visitors' workspaces without a checked save: a block each, counted in their workspace's total
    and in every workspace's together (``usage.count``; never refused). A workspace's own folder counts in every
    workspace's total alone (its own measure does not count it; the walk of every workspace does). ``base``: the
    folder of every workspace (``root()``; a job's process names its workspace's parent, ``job_made``)."""
    base = root() if base is None else Path(base)
    by_owner: dict[Path, int] = {}
    new_workspaces = 0
    for folder in map(Path, folders):
        ws = owner(folder, base)
        if ws is not None:
            if _in_jobs(ws, folder):  # measured at every check, its own block too: not kept in the total
                continue
            by_owner[ws] = by_owner.get(ws, 0) + usage.BLOCK
        elif folder.parent == base:
            new_workspaces += 1
    for ws, nbytes in by_owner.items():
        usage.count(ws, nbytes)
        usage.count(base, nbytes)
    usage.count(base, new_workspaces * usage.BLOCK)


def _in_jobs(workspace: Path, folder: Path) -> bool:
    """Whether ``folder`` is the workspace's ``jobs/`` or lies in it (``usage.MEASURED_EACH_TIME``)."""
    jobs_folder = Path(workspace) / usage.MEASURED_EACH_TIME
    return folder == jobs_folder or jobs_folder in folder.parents


def ensure(path: Path) -> Path:
    """The workspace folder ``path``, made where it is not there yet, and then counted in every workspace's total (a
    block), not found only at that total's next walk."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        usage.count(path.parent, usage.BLOCK)
    return path


def touch(path: Path) -> None:
    """Record that the visitor used the workspace now."""
    (ensure(path) / SEEN).touch()


@contextlib.contextmanager
def _new_blocks_counted(path: Path) -> Iterator[None]:
    """The block's first check of a workspace makes its folder and the record of its total (``usage.USAGE``, a block
    each), outside any save: counted in every workspace's total (``path.parent``) once the block ends."""
    new = [p for p in (path, path / usage.USAGE) if not p.exists()]
    try:
        yield
    finally:
        usage.count(path.parent, usage.BLOCK * sum(p.exists() for p in new))


def check_room(path: Path, limit_bytes: int, adding: int) -> Callable[[], None]:
    """Raise ``WorkspaceFullError`` when writing ``adding`` more bytes would pass the limit; else count them and
    return what to call once they are written. The workspace's running total (``usage``) answers; a save it would refuse measures the workspace
    first, so what was deleted since counts. What the visitor deleted (the workspace's trash, which no page reaches
    on a public app) is emptied first when that makes room: deleting is how the refusal tells them to free it."""
    return _check(Path(path), limit_bytes, lambda: adding)


def check_save(workspace: Path, limit_bytes: int, path: Path, nbytes: int,
               server: Callable[[int], Callable[[], None]] | None = None) -> Callable[[], None]:
    """``check_room`` for writing ``nbytes`` to ``path`` in ``workspace``, then ``server(adding)`` (every workspace's
    check, ``make_room_on_server``), all while the workspace's total is held: what the save adds (``replacing``) is
    reckoned there, and the folders it goes in are made there once both let it through. Two saves at once into a
    folder not made yet each reckoned its block before the other made it: counted twice. Returns what to call once
    it is written."""
    def fitted(written: Callable[[], None]) -> Callable[[], None]:
        written_too = None
        if server is not None:
            try:
                written_too = server(adding[0])
            except BaseException:
                written()  # not written after all
                raise
        with contextlib.suppress(OSError):  # the write says why in its own line (a file where the folder goes)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return written if written_too is None else lambda: (written(), written_too())

    adding: list[int] = []

    def reckon() -> int:
        adding.append(replacing(path, nbytes))
        return adding[0]

    return _check(Path(workspace), limit_bytes, reckon, fitted)


def _check(path: Path, limit_bytes: int, reckon: Callable[[], int],
           fitted: Callable[[Callable[[], None]], Callable[[], None]] | None = None) -> Callable[[], None]:
    new = [p for p in (path, path / usage.USAGE) if not p.exists()]  # as ``_new_blocks_counted``, whose count comes
    # before ``fitted``'s check of every workspace's total (which may walk them): else counted there twice

    def count_new() -> None:
        usage.count(path.parent, usage.BLOCK * sum(p.exists() for p in new))
        new.clear()

    try:
        with usage.held(path) as tally:
            adding = reckon()
            if tally.used + adding > limit_bytes and not tally.exact:
                tally.measure()
            trash = path / TRASH
            if tally.used + adding > limit_bytes and trash.is_dir():
                shutil.rmtree(trash, ignore_errors=True)
                tally.measure()
            used = tally.used
            if used + adding <= limit_bytes:
                written = tally.add(adding)
                count_new()
                return written if fitted is None else fitted(written)
    finally:
        count_new()
    raise _full(path, limit_bytes, used, adding)


def fits(path: Path, limit_bytes: int, adding: int) -> None:
    """Raise what ``check_room`` would raise for ``adding`` more bytes now, reserving nothing and removing nothing
    (what the workspace's trash holds counts as free: a save empties it first). A restore asks before it downloads a
    file, so a file that cannot fit is not fetched again and again only to be refused."""
    path = Path(path)
    with _new_blocks_counted(path), usage.held(path) as tally:
        if tally.used + adding > limit_bytes and not tally.exact:
            tally.measure()
        used = tally.used
        if used + adding > limit_bytes and (path / TRASH).is_dir():
            used -= usage.measure(path / TRASH)
    if used + adding > limit_bytes:
        raise _full(path, limit_bytes, used, adding)


def _full(path: Path, limit_bytes: int, used: int, adding: int) -> WorkspaceFullError:
    more = (", or sign in (or give your Hugging Face token) for a larger workspace" if is_anonymous(path)
            else " (this server's disk serves every visitor)")
    size = usage.readable_size
    err = WorkspaceFullError(
        f"Not saved: it needs {size(adding)} and this workspace has {size(max(0, limit_bytes - used))} left of its "
        f"{size(limit_bytes)} limit ({size(used)} used): delete datasets or evaluations you no longer need{more}.")
    err.room = f"this workspace is at its {size(limit_bytes)} limit"
    return err


def _seen(folder: Path) -> float:
    try:
        return (folder / SEEN).stat().st_mtime if (folder / SEEN).exists() else folder.stat().st_mtime
    except OSError:
        return 0.0


def _removable(base: Path, own: Path, in_use: set[Path], grace_s: float, now: float) -> list[Path]:
    """The anonymous workspaces a save may remove to make room on the server, least recently used first: idle (no
    live session uses them, nobody opened them in ``grace_s``) and not the writer's own."""
    return sorted((f for f in base.glob("a-*") if f.is_dir() and f != own and f not in in_use
                   and now - _seen(f) > grace_s), key=_seen)


def _server_full(used: int, total_bytes: int) -> WorkspaceFullError:
    err = WorkspaceFullError(
        f"Not saved: this server is full (its visitors' workspaces hold {usage.readable_size(used)} of its "
        f"{usage.readable_size(total_bytes)}): try again later, or delete datasets or evaluations you no longer need.")
    err.room = "this server is full"
    return err


def _remove(folder: Path, tally: usage.Tally) -> None:
    """Remove the workspace ``folder`` for good, with every workspace's total (``tally``, its lock held) made smaller
    by what it held: its own block and what lies in it, its ``jobs/`` (measured at each check) apart. It took off what
    lies in it alone, its jobs/ too: the total read a block a workspace less than the disk held, and a job's files
    less still."""
    held = usage.folder_size(folder, usage.MEASURED_EACH_TIME)
    shutil.rmtree(folder, ignore_errors=True)
    tally.freed(held - usage.folder_size(folder, usage.MEASURED_EACH_TIME))  # what could not go stays counted
    tally._jobs_bytes = tally._jobs_size()


def remove(folders: list[Path]) -> None:
    """Remove visitors' workspaces for good (Clear this workspace; idle ones), every workspace's total made smaller by
    what they held (not found only where a save the total would refuse walks the server)."""
    with usage.held(root(), jobs=usage.EACH) as tally:
        for folder in folders:
            _remove(Path(folder), tally)


def make_room_on_server(path: Path, adding: int, total_bytes: int, in_use: set[Path],
                        grace_s: float = IN_USE_GRACE_S, now: float | None = None,
                        base: Path | None = None) -> tuple[list[Path], Callable[[], None]]:
    """Keep every visitor's workspace together within ``total_bytes`` when ``adding`` more bytes are written to
    ``path``'s: first remove the least recently used anonymous workspaces that no live session uses (``in_use``) and
    nobody opened in ``grace_s``; then raise ``WorkspaceFullError`` saying the server is full. A signed-in or
    token-giving visitor's workspace is never removed, nor the writer's own. ``base``: the folder of every
    workspace (``root()``). Returns what was removed, and what to call once the ``adding`` bytes are written."""
    now = time.time() if now is None else now
    base = root() if base is None else Path(base)
    removed: list[Path] = []
    with usage.held(base, jobs=usage.EACH) as tally:
        if tally.used + adding > total_bytes and not tally.exact:
            tally.measure()
        if tally.used + adding > total_bytes:
            for folder in _removable(base, owner(path) or Path(path), in_use, grace_s, now):
                if tally.used + adding <= total_bytes:
                    break
                _remove(folder, tally)
                removed.append(folder)
        used = tally.used
        if used + adding <= total_bytes:
            return removed, tally.add(adding)
    raise _server_full(used, total_bytes)


def fits_on_server(path: Path, adding: int, total_bytes: int, in_use: set[Path], grace_s: float = IN_USE_GRACE_S,
                   now: float | None = None, base: Path | None = None) -> None:
    """Raise what ``make_room_on_server`` would raise for ``adding`` more bytes now, reserving nothing and removing
    nothing (the idle anonymous workspaces it would remove count as free)."""
    now = time.time() if now is None else now
    base = root() if base is None else Path(base)
    with usage.held(base, jobs=usage.EACH) as tally:
        if tally.used + adding > total_bytes and not tally.exact:
            tally.measure()
        used = tally.used
        if used + adding > total_bytes:
            for folder in _removable(base, owner(path) or Path(path), in_use, grace_s, now):
                if used + adding <= total_bytes:
                    break
                used -= usage.folder_size(folder)  # its own block too, and its jobs/ (in ``used``)
    if used + adding > total_bytes:
        raise _server_full(used, total_bytes)


def replacing(path: Path, nbytes: int) -> int:
    """What writing ``nbytes`` to ``path`` adds to its workspace on disk (``usage.on_disk``): a file it replaces is
    freed by the write; each folder it makes costs a block."""
    return replacing_all([(path, nbytes)])


def replacing_all(writes: list[tuple[Path, int]]) -> int:
    """``replacing`` of several files written together: a folder they all go in is made, and counted, once. A
    workspace's own folder is not among them: the check that makes it counts it where it counts, in every workspace's
    total alone (``_new_blocks_counted``; counted here too, a workspace's first save counted it twice there, and once
    in its own total, which does not hold its folder's block)."""
    total, made = 0, set()
    for path, nbytes in writes:
        try:
            total += max(0, usage.on_disk(nbytes) - usage.on_disk(os.lstat(path).st_size))
        except OSError:
            total += usage.on_disk(nbytes)
            ws = owner(path)
            for parent in Path(path).parents:
                if parent == ws or parent.exists():
                    break
                made.add(parent)
    return total + len(made) * usage.BLOCK


def job_check(workspace: Path, limit_bytes: int, total_bytes: int | None = None):
    """The size check of a job process working in ``workspace`` (its ``STUDIO_HOME``): what it saves counts against
    the visitor's limit, and every workspace's together, as a page's save does (a job cannot tell which sessions
    are live, so it removes nothing to make room: it is refused); its own status and log (``jobs/``, a few hundred
    bytes) do not, so a job refused its save can still say why."""
    workspace = Path(workspace)

    def check(path: Path, nbytes: int) -> Callable[[], None] | None:
        path = Path(path)
        if workspace in path.parents and not _in_jobs(workspace, path):
            def server(adding: int) -> Callable[[], None]:
                return make_room_on_server(workspace, adding, total_bytes, set(), grace_s=float("inf"),
                                           base=workspace.parent)[1]

            return check_save(workspace, limit_bytes, path, nbytes, server if total_bytes is not None else None)
        return None

    return check


def job_made(workspace: Path) -> Callable[[list[Path]], None]:
    """What a job process working in ``workspace`` (its ``STUDIO_HOME``, so ``root()`` is not every workspace's folder
    there) does with the folders it makes outside a checked save (``config.made``): the server's ``count_made``, every
    workspace's folder named. Only folders in its workspace count (none above it, the folder of every workspace
    included)."""
    workspace = Path(workspace)

    def made(folders: list[Path]) -> None:
        count_made([f for f in map(Path, folders) if workspace in f.parents], base=workspace.parent)

    return made


def job_ended(workspace: Path) -> None:
    """A job process working in ``workspace`` ends: what it wrote outside any check (a library's folders and files:
    a training's checkpoints) is measured into the workspace's total, and what that adds into every workspace's, so
    the next save anywhere counts it (every workspace's total is never made smaller here: a delete it missed is
    found where a save it would refuse walks the server). A workspace cleared meanwhile is left gone."""
    workspace = Path(workspace)
    if not (workspace / usage.USAGE).exists():  # no total kept (or no workspace any more): the next check measures
        return
    before = usage.kept(workspace) or 0  # taken before ``held``, whose first check in a process measures at once
    try:
        with usage.held(workspace) as tally:
            if not tally.exact:
                tally.measure()
            grown = (tally.counted or 0) - before
        usage.count(workspace.parent, grown)
    except OSError:  # the job's own outcome is what it reports; the next check measures instead
        return


def clean_idle(max_idle_hours: float = ANONYMOUS_IDLE_HOURS, now: float | None = None) -> list[Path]:
    """Remove anonymous workspaces nobody opened for ``max_idle_hours``; returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    if not root().is_dir():
        return removed
    for folder in root().glob("a-*"):
        try:
            seen = (folder / SEEN).stat().st_mtime if (folder / SEEN).exists() else folder.stat().st_mtime
        except OSError:
            continue
        if now - seen > max_idle_hours * 3600:
            removed.append(folder)
    if removed:
        remove(removed)
    return removed


class Merged(NamedTuple):
    """What ``merge_into`` did: the ids moved, a one-line note for the visitor about their Chat conversation where it
    did not all move (None where it did), and whether the source must stay (its conversation could not move)."""
    moved: list[str]
    note: str | None = None
    keep_source: bool = False
    renamed: dict[str, str] | None = None  # {a dataset's id in ``source``: its new id}, where that id was taken


STAYS_IN_BROWSER = ("it stays in this browser's own workspace (forget the token or sign out to open it, and export it "
                    "on the Chat page)")
STAYS_IN_TAB = ("it stays in this tab's own workspace, which a reload or closing the tab loses (this tab has no session "
                "cookie): forget the token to go back to it and export it on the Chat page")


def merge_into(source: Path, target: Path, stays: str = STAYS_IN_BROWSER) -> Merged:
    """Move the datasets, evaluations and Chat conversation of ``source`` (an anonymous session's) into ``target``,
    the visitor's kept workspace; a dataset whose id is taken there arrives under a new id. The untouched
    sample is left behind (the kept workspace has its own). Where the conversation cannot move (the kept workspace
    is full), ``source`` keeps it and must not be removed; ``stays`` tells the visitor how to reach it again."""
    from studio.data import store

    moved, renamed = [], {}
    usage.forget(target)  # what arrives here was counted in the other workspace: measured at the next save
    for kind in ("datasets", "evals"):
        src = Path(source) / kind
        if not src.is_dir():
            continue
        dest = Path(target) / kind
        dest.mkdir(parents=True, exist_ok=True)
        for item in sorted(src.iterdir()):
            if item.name.startswith("."):
                continue
            if kind == "datasets" and untouched_sample(item):
                continue
            name = store.free_id(dest, *((item.stem, item.suffix) if item.is_file() else (item.name,)))
            shutil.move(str(item), dest / name)
            if kind == "datasets" and name != item.name:
                _renamed_dataset(dest / name)
                renamed[item.name] = name
            moved.append(name)
    note, keep_source = _move_conversation(Path(source), Path(target), stays)
    usage.forget(target)  # again: a save while they moved may have measured the workspace halfway
    return Merged(moved, note, keep_source, renamed)


def _move_conversation(source: Path, target: Path, stays: str = STAYS_IN_BROWSER) -> tuple[str | None, bool]:
    """The Chat conversation of ``source`` goes to ``target`` too: as it is where ``target`` has none, else after
    the one there (both are the visitor's). Returns a one-line note where it did not all move, and whether it
    stayed in ``source`` (it could not be written there)."""
    from studio.chat import saved

    src = source / "chat" / saved.FILE
    if not src.is_file():
        return None, False
    dest = target / "chat" / saved.FILE
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), dest)
        return None, False
    try:
        with config.use_workspace(source):
            before, _, before_left_out = saved.kept()
        with config.use_workspace(target):
            kept, _, left_out = saved.kept()
            both, gone = saved.joined(kept, left_out, before, before_left_out)  # what both hold, once
            _stamp, dropped = saved.save(both, left_out=gone)
    except (saved.Unreadable, OSError, StudioError) as exc:  # the source's stays where it is, as it was
        why = f" ({in_words(exc, 300)})" if in_words(exc) else ""
        return f"The Chat conversation made before could not join your kept one{why}: {stays}.", True
    if dropped:
        return (f"Your kept Chat conversation and this tab's together passed the {saved.KEEP} turns kept: the oldest "
                f"{dropped} were left out."), False
    return None, False


def untouched_sample(folder: Path) -> bool:
    from studio.data import sample

    try:
        head = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    versions = list((folder / "versions").glob("*.meta"))
    return head.get("name") == sample.SAMPLE_NAME and len(versions) == 1


def _renamed_dataset(folder: Path) -> None:
    """A moved dataset's head names its new id, and a name that cannot clash with the one already there."""
    from studio import atomic

    head = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    head["id"] = folder.name
    head["name"] = f"{head.get('name', folder.name)} ({folder.name})"
    atomic.write_json(folder / "dataset.json", head)
