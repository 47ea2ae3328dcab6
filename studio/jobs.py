"""Background jobs: detached ``python -m studio ...`` processes whose state lives in files.

A job survives reruns, page switches, a closed tab and even a Streamlit restart: the page
re-attaches by reading files in the job's work folder::

    <workdir>/status.json   {"state", "kind", "progress", "eta_s", "message", "error", "pid", ...}
    <workdir>/log.txt       the worker's stdout and stderr
    <workdir>/STOP          exists once a stop was requested; the worker stops at its next step

States: queued -> running -> finished | failed | stopped (running -> stopping -> stopped on request).
A worker that dies while "queued"/"running" (killed, out of memory) is reported as failed with the
reason "the worker process exited unexpectedly (see log.txt)".

One job per device at a time: ``start_job(..., uses_device=True)`` raises ``JobBusyError`` while
another device job runs. Jobs register in ``STUDIO_HOME/jobs/`` so any process can find them.

The worker side: ``update_status(workdir, ...)`` (atomic) and ``stop_requested(workdir)``; the
``STUDIO_JOB_DIR`` environment variable tells a worker its folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from studio import atomic, config
from studio.errors import DiskError, JobBusyError, StudioError, WorkspaceFullError

STATUS = "status.json"
LOG = "log.txt"
JOB_FILES_BYTES = 5 * 4096  # what a job's files take on disk as it starts: jobs/, its folder, its status, its log's
# first block and its registry entry, a 4 KiB block each (studio.cloud.usage.on_disk)
STOP = "STOP"
ACTIVE = ("queued", "running", "stopping")
DONE = ("stopped", "finished", "failed")
DIED = "the worker process exited unexpectedly (see log.txt)"


@dataclass(frozen=True)
class JobStatus:
    state: str  # queued | running | stopping | stopped | finished | failed
    kind: str = ""  # "train", "evaluate", ...
    progress: float = 0.0  # 0..1
    eta_s: float | None = None  # seconds left, when known
    message: str = ""  # what the worker is doing ("step 40/200 · 1,900 tokens/s")
    error: str = ""  # one-line reason when failed
    pid: int | None = None
    workdir: str = ""
    started: float | None = None  # unix time
    updated: float | None = None
    uses_device: bool = True
    extra: dict = field(default_factory=dict)  # worker-specific fields (tokens_per_s, step, ...)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


_KNOWN = {f for f in JobStatus.__dataclass_fields__}
_reapers: dict[int, subprocess.Popen] = {}
_caps: tuple[int | None, int | None, Callable[[], str | None] | None] = (None, None, None)  # set_caps
_groups: dict[int, str] = {}  # pid of a job this server started -> the group its workspace shares an allowance with
_start_lock = threading.Lock()  # the count in all and the start it allows happen together, across workspaces


def set_caps(per_workspace: int | None = None, total: int | None = None,
             group: Callable[[], str | None] | None = None) -> None:
    """Bound the jobs one workspace, and this whole server process, may run at once (a public deployment: each job
    is a process of its own, in the memory the server shares with every visitor). None: no bound (a local install).
    ``group``: asked at each start, the name of workspaces that share one allowance (every workspace of browsers
    without cookies, each page load of theirs a new one), or None for the workspace's own."""
    global _caps
    _caps = (per_workspace, total, group)


def _check_caps() -> str | None:
    """Raise ``JobBusyError`` (one line) when starting one more job would pass a bound of ``set_caps``; the group the
    job counts in (``set_caps``), if any."""
    per, total, group_of = _caps
    for pid in [pid for pid, proc in _reapers.items() if proc.poll() is not None]:
        del _reapers[pid]
        _groups.pop(pid, None)
    group = group_of() if group_of is not None and per is not None else None
    if group is not None:
        shared = sum(1 for pid in _reapers if _groups.get(pid) == group)
        if shared >= per:
            raise JobBusyError(f"Browsers that send no cookies count as one visitor on this app, who runs at most {per} "
                               f"background job{'s' if per != 1 else ''} (evaluations) at a time, and {shared} "
                               f"{'is' if shared == 1 else 'are'} running: allow cookies for this site and reload, or "
                               "wait for one to finish.")
    mine = sum(1 for s in registered_jobs() if s.active) if per is not None else 0
    if per is not None and mine >= per:
        raise JobBusyError(f"You already have {mine} background job{'s' if mine != 1 else ''} (evaluations) running and "
                           f"this app runs at most {per} per visitor at a time: wait for one to finish, or stop it.")
    if total is not None and len(_reapers) >= total:
        raise JobBusyError(f"This app is running its limit of {total} background jobs (evaluations) for all its "
                           "visitors together: start yours again in a few minutes.")
    return group


def readable_time(iso: str | float | None) -> str:
    """Every time the UI shows (a run or evaluation started, a dataset version saved, a sync done), in one form:
    the stored ISO time ``2026-12-05T00:12:33.123456+00:00`` reads ``2026-12-05 00:12 UTC``, and so do seconds
    since the epoch (``time.time()``). UTC, not local time: the server's zone is not the visitor's. Another
    offset is converted to UTC, a time without one taken as UTC; text that is not an ISO time is returned as
    it is."""
    if iso is None or iso == "":
        return ""
    try:
        if isinstance(iso, (int, float)) and not isinstance(iso, bool):
            moment = datetime.fromtimestamp(iso, timezone.utc)
        else:
            moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _status_path(workdir: Path) -> Path:
    return Path(workdir) / STATUS


def alive(pid: int | None) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    if not pid:
        return False
    proc = _reapers.get(pid)
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def died(state: str, pid: int | None) -> bool:
    """The one dead-worker rule: a job still active whose process is gone."""
    return state in ACTIVE and bool(pid) and not alive(pid)


def _raw(workdir: Path) -> dict:
    try:
        data = json.loads(_status_path(workdir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}  # a file edited into a list or a string: no status


_NUMBER = (int, float)
_KINDS = {"state": str, "kind": str, "progress": _NUMBER, "eta_s": _NUMBER, "message": str, "error": str, "pid": int,
          "workdir": str, "started": _NUMBER, "updated": _NUMBER, "uses_device": bool}
"""The kind of value each field holds; one of another kind (a hand-edited file) reads as the field's default, so
the pages that show the job never fail on it."""


def _fits(key: str, value: object) -> bool:
    kind = _KINDS[key]
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _from_dict(data: dict, workdir: Path) -> JobStatus:
    known = {k: v for k, v in data.items() if k in _KNOWN and k != "extra" and (v is None or _fits(k, v))}
    known = {k: v for k, v in known.items() if v is not None or k in ("eta_s", "pid", "started", "updated")}
    extra = {k: v for k, v in data.items() if k not in _KNOWN}
    extra.update(data["extra"] if isinstance(data.get("extra"), dict) else {})
    known.setdefault("state", "queued")
    known["workdir"] = str(workdir)
    return JobStatus(**known, extra=extra)


def read_status(workdir: Path) -> JobStatus:
    """The job's state from its files; a dead worker that was still "running" reads as failed.

    A folder with no status file reads as ``JobStatus(state="none")``.
    """
    workdir = Path(workdir)
    data = _raw(workdir)
    if not data:
        return JobStatus(state="none", workdir=str(workdir))
    status = _from_dict(data, workdir)
    if died(status.state, status.pid):
        # Re-read: the worker may have written its last state between the two reads.
        status = _from_dict(_raw(workdir) or data, workdir)
        if died(status.state, status.pid):
            if status.state == "stopping":
                return update_status(workdir, state="stopped", message="stopped")
            return update_status(workdir, state="failed", error=DIED, message="failed")
    return status


def update_status(workdir: Path, **fields) -> JobStatus:
    """Merge ``fields`` into the job's status file atomically (the worker's side). Returns the new status."""
    workdir = Path(workdir)
    data = _raw(workdir)
    data.update(fields)
    data["updated"] = time.time()
    try:
        atomic.write_json(_status_path(workdir), data, indent=None)
    except DiskError:
        # A full disk has no room for the temporary copy; the status is a few hundred bytes, and
        # rewriting it in place reuses its own block, so a run never stays "running" for want of space.
        try:
            _status_path(workdir).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        except OSError:
            raise DiskError(28, f"disk full: cannot record the job's state in {workdir}; free some space.") from None
    return _from_dict(data, workdir)


def request_stop(workdir: Path) -> JobStatus:
    """Ask the worker to stop at its next step (it saves a checkpoint first)."""
    workdir = Path(workdir)
    (workdir / STOP).write_text(f"{time.time()}\n", encoding="utf-8")
    status = read_status(workdir)
    if status.state in ("queued", "running"):
        status = update_status(workdir, state="stopping", message=_stopping(status))
    return status


def _stopping(status: JobStatus) -> str:
    """What Stop will do, said while it happens: a training run finishes the step under way (its first included:
    it can take minutes on a CPU) and saves a checkpoint; while its model loads it stops before any step; any other
    job stops at once."""
    if status.kind != "train":
        return "stopping"
    if status.progress > 0:
        return "stopping after the current step"
    if status.message.startswith("training"):  # the first step is under way: it is finished, then saved
        return "stopping after the first step (it finishes first): a checkpoint is saved then, to resume from"
    if status.message.startswith("loading the model to go on"):  # a resumed run
        return "stopping once the model has loaded: the run stays at its last checkpoint"
    return "stopping once the base has loaded, before its first step: nothing is trained, nothing to resume"


def stop_requested(workdir: Path | None) -> bool:
    return workdir is not None and (Path(workdir) / STOP).exists()


def clear_stop(workdir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (Path(workdir) / STOP).unlink()


def tail_log(workdir: Path, n: int = 40) -> str:
    """The last ``n`` lines of the worker's log ("" before it wrote any)."""
    path = Path(workdir) / LOG
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    # Progress bars redraw with carriage returns: keep what a terminal would show.
    lines = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(lines[-n:])


def _registry() -> Path:
    return config.jobs_dir()


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Hold the registry's lock. ``_drop_registry`` removes the lock file and its folder while holding it, so a
    process that opened the file before that and waited holds a lock on a file no one else can open again: it
    opens the file anew until the one it holds is the one at the path (two processes held "the" lock at once,
    and an open between another's folder made and removed failed with "No such file or directory")."""
    registry = config.jobs_dir(make=False)  # made in the loop below, where its removal at that moment is met
    held = _held_here.__dict__.setdefault("registries", set())
    if registry in held:  # this thread holds it already (a start's device check reads the registry)
        yield
        return
    for attempt in range(_LOCK_TRIES):
        try:
            fh = open(_registry() / ".lock", "a+")
        except (FileNotFoundError, DiskError) as exc:  # the folder removed between its making and the open
            if attempt == _LOCK_TRIES - 1 or not _vanished(exc):
                raise
            continue
        fcntl.flock(fh, fcntl.LOCK_EX)
        if _same_file(fh):
            break
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
    else:
        raise StudioError(f"Could not lock {_registry() / '.lock'}: it is removed and made again without end; "
                          "try again.")
    with fh:
        held.add(registry)
        try:
            yield
        finally:
            held.discard(registry)
            fcntl.flock(fh, fcntl.LOCK_UN)


_held_here = threading.local()  # the registries this thread holds the lock of: taking it again would wait on itself
_LOCK_TRIES = 1000  # each a folder made and a file opened, lost only to another process's drop of the registry


@contextlib.contextmanager
def no_start_meanwhile() -> Iterator[None]:
    """Hold the lock every job start holds (``start_job``), so what the caller looks at and then does is not undone by
    a start in another tab or process between the two (a run moved to the trash as a Resume of it started its
    training there). The registry's folder, where it was made for this, goes after."""
    fresh = not config.jobs_dir(make=False).is_dir()
    with _locked():
        try:
            yield
        finally:
            if fresh:
                _drop_registry()


def _same_file(fh) -> bool:
    """Whether the open lock file ``fh`` is still the one at its path (not removed by ``_drop_registry``)."""
    try:
        at_path = os.stat(fh.name)
    except FileNotFoundError:
        return False
    held = os.fstat(fh.fileno())
    return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)


def _vanished(exc: OSError) -> bool:
    """Whether ``exc``, from making the registry's folder and opening its lock, came of the folder being removed at
    that moment (pathlib's ``mkdir(exist_ok=True)`` raises "exists" when the folder it found is gone when it looks
    again), not of a file standing where the folder goes or a full disk."""
    if isinstance(exc, FileNotFoundError):
        return True
    registry = config.jobs_dir(make=False)
    return getattr(exc, "errno", None) == errno.EEXIST and not (os.path.lexists(registry) and not registry.is_dir())


def _entry(workdir: Path) -> Path:
    digest = hashlib.sha1(str(Path(workdir).resolve()).encode()).hexdigest()[:16]
    return _registry() / f"{digest}.json"


def registered_jobs() -> list[JobStatus]:
    """Every registered job's current status (finished ones are dropped from the registry)."""
    out = []
    for entry in sorted(config.jobs_dir(make=False).glob("*.json")):
        try:
            workdir = Path(json.loads(entry.read_text(encoding="utf-8"))["workdir"])
        except (OSError, ValueError, KeyError):
            continue
        status = read_status(workdir)
        if _ended(status):
            _drop_if_ended(entry)
            continue
        out.append(status)
    return out


def _ended(status: JobStatus) -> bool:
    return status.state in DONE or status.state == "none"


def _drop_if_ended(entry: Path) -> None:
    """Remove a registry entry whose job has ended, looking again under the lock: a run resumed in the same folder
    since the look without it wrote a fresh entry there, which must stay (removed, the device check missed the run)."""
    with _locked():
        try:
            workdir = Path(json.loads(entry.read_text(encoding="utf-8"))["workdir"])
        except (OSError, ValueError, KeyError):
            return
        if _ended(read_status(workdir)):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def active_device_job() -> JobStatus | None:
    """The job holding the device now, if any."""
    for status in registered_jobs():
        if status.uses_device and status.active:
            return status
    return None


KIND_NAMES = {"train": "training run", "evaluate": "evaluation", "export": "model export", "import": "model import",
              "download": "model download"}
TITLE = "title"  # the status field naming a job as the person knows it (a run's name), recorded when it starts
TITLE_CHARS = 120  # a title's most characters in a message
# The text-direction embeddings, overrides and isolates: one in a name turns the text after it around wherever the
# name is quoted ("‮lmth.exe" shows as "exe.html"); right-to-left names need none of them
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
BIDI_REFUSED = "cannot hold a text-direction control (U+202A to U+202E, U+2066 to U+2069): it shows the name in " \
               "another order than it was typed. Leave it out."


def without_bidi(text: str) -> str:
    """``text`` with its text-direction controls taken out: how a name written before they were refused is shown."""
    return "".join(c for c in text if c not in BIDI_CONTROLS) if any(c in BIDI_CONTROLS for c in text) else text
_TITLED = {"evaluate": "the evaluation of {}"}  # how a kind reads with its title, where not "the <kind> “<title>”"


def describe(status: JobStatus) -> str:
    """A job as the person knows it: its kind and name ("the training run “faq · SmolLM2”", "the evaluation of
    SmolLM2-135M-Instruct"), not its folder's id; a job started without a name (an older one) is named by its folder."""
    what = KIND_NAMES.get(status.kind, f"{status.kind} job" if status.kind else "job")
    title = title_of(status)
    if title:
        return _TITLED.get(status.kind, f"the {what} “{{}}”").format(title)
    return f"the {what} in {Path(status.workdir).name}" if status.workdir else f"another {what}"


def title_of(status: JobStatus) -> str:
    """The job's name as the person knows it (a run's name), on one line and cut to ``TITLE_CHARS``; "" for a job
    started without one (an older one)."""
    title = status.extra.get(TITLE)
    if not isinstance(title, str) or not title.strip():
        return ""
    title = " ".join(without_bidi(title).split())  # one line in its own order, whatever the name held
    return title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…"  # twenty models' labels


def _device_busy(busy: JobStatus) -> JobBusyError:
    return JobBusyError(f"The device is busy with {describe(busy)}: one job per device at a time. Stop it or wait for "
                        "it to finish.")


def check_room(workdir: Path, more: int = 0) -> None:
    """Raise ``WorkspaceFullError`` ("Not started: …", one line) where the files of a job in ``workdir``, and ``more``
    bytes its starter writes before it (an evaluation's queued result), cannot fit in the visitor's workspace. A job's
    status, log and registry entry are written outside any size check (measured at every later save): on a public app
    its start is refused here, before anything is made or written, not let past the visitor's limit."""
    try:
        config.fits(Path(workdir) / STATUS, JOB_FILES_BYTES + more)
    except WorkspaceFullError as exc:  # said as a refused save says it ("Not saved: …"), above a Start button
        said = str(exc)
        started = WorkspaceFullError("Not started: " + said.removeprefix("Not saved: ") if said.startswith("Not saved: ")
                                     else said)
        started.room = exc.room
        raise started from None


def start_job(kind: str, argv: list[str], workdir: Path, *, uses_device: bool = True,
              env: Mapping[str, str] | None = None, launcher: list[str] | None = None,
              record: Mapping[str, str] | None = None, gone: str | None = None) -> JobStatus:
    """Start ``python -m studio <argv>`` detached, logging to ``<workdir>/log.txt``.

    ``gone``: the job goes on in ``workdir`` (a resume), which must still be there; when it is not (deleted meanwhile:
    a delete holds the lock every start holds), ``StudioError(gone)`` and no folder is made.

    ``launcher`` replaces ``python`` (``accelerate launch ...`` for several GPUs: ``studio.train.launch``).

    ``record`` adds fields to the job's status from its start (what it works on, for checks in other processes:
    an export's model, read back as ``status.extra``).

    ``env`` adds variables to the job's environment only (a token typed in the browser reaches the
    job this way: never on its command line, in its status or on disk).

    Raises ``JobBusyError`` when ``uses_device`` and another device job is running, or past a bound of
    ``set_caps``.
    """
    workdir = Path(workdir)
    check_room(workdir)
    fresh = not config.jobs_dir(make=False).is_dir()  # the registry's folder, made for this start
    with _start_lock, _locked():
        try:
            group = _check_caps()
            if uses_device:
                busy = active_device_job()
                if busy is not None:
                    raise _device_busy(busy)
            if read_status(workdir).active:
                raise JobBusyError(f"A job is already running in {workdir.name}: stop it first.")
            if gone is not None and not workdir.is_dir():
                raise StudioError(gone)
        except StudioError:  # refused: the workspace as it was (no job folder, no empty jobs/ and runs/ left)
            if fresh:
                _drop_registry()
            raise
        workdir.mkdir(parents=True, exist_ok=True)
        clear_stop(workdir)
        now = time.time()
        atomic.write_json(_status_path(workdir), {
            "state": "queued", "kind": kind, "progress": 0.0, "eta_s": None, "message": "starting",
            "error": "", "pid": None, "started": now, "updated": now, "uses_device": uses_device, **(record or {}),
        }, indent=None)
        child_env = {**os.environ, **(env or {}), **config.job_env(), "STUDIO_JOB_DIR": str(workdir), "PYTHONUNBUFFERED": "1",
                     "TOKENIZERS_PARALLELISM": "false", "STUDIO_HOME": str(config.home())}  # this visitor's workspace
        try:
            with open(workdir / LOG, "ab") as log:
                proc = subprocess.Popen(
                    [*(launcher or [sys.executable]), "-m", "studio", *argv], cwd=config.REPO_ROOT, env=child_env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
        except OSError as exc:
            update_status(workdir, state="failed", error=f"could not start the worker: {exc}")
            raise StudioError(f"Could not start the {kind} job: {exc}") from None
        _reapers[proc.pid] = proc
        if group is not None:
            _groups[proc.pid] = group
        # Reap the child when it exits so its pid does not linger as a zombie of this process.
        threading.Thread(target=proc.wait, daemon=True).start()
        status = update_status(workdir, pid=proc.pid)
        atomic.write_json(_entry(workdir), {"workdir": str(workdir.resolve()), "kind": kind, "pid": proc.pid})
    return status


def claim_device(kind: str, workdir: Path, title: str = "") -> None:
    """Take the device for a job run in the foreground (the CLI): the busy check and the claim happen
    under the jobs lock, so two commands started together cannot both take it. ``title``: its name, for others'
    busy message."""
    with _locked():
        busy = active_device_job()
        if busy is not None and not _launched_together(busy, workdir):
            raise _device_busy(busy)
        Path(workdir).mkdir(parents=True, exist_ok=True)
        clear_stop(workdir)
        update_status(workdir, state="running", kind=kind, pid=os.getpid(), error="", progress=0.0,
                      message="starting", uses_device=True, **({TITLE: title} if title else {}))
        atomic.write_json(_entry(workdir), {"workdir": str(Path(workdir).resolve()), "kind": kind, "pid": os.getpid(),
                                            "parent": os.getppid()})


def _launched_together(busy: JobStatus, workdir: Path) -> bool:
    """Whether ``busy`` is another process of this one's launch (``accelerate launch`` starts one per GPU, each
    claiming the run's folder, all children of one launcher): the one job. Any other job in the same folder is not:
    ``train --resume`` of a run still training (the page's job, or another terminal's) trained it twice at once,
    rewound its metrics and failed with a traceback when the other rotated its checkpoint away."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) < 2 or Path(busy.workdir).resolve() != Path(workdir).resolve():
        return False  # one process: no other of its launch
    try:
        entry = json.loads(_entry(workdir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(entry, dict) and entry.get("parent") == os.getppid()


def register_current(kind: str, workdir: Path) -> None:
    """Register a job run in the foreground (the CLI) so the page sees the device is busy."""
    with _locked():
        atomic.write_json(_entry(workdir), {"workdir": str(Path(workdir).resolve()), "kind": kind, "pid": os.getpid()})


def unregister_current(workdir: Path, *, made_registry: bool = False, remove: bool = False) -> None:
    """Take a job run in the foreground out of the registry as it ends (``register_current``); ``made_registry``: the
    registry's folder was made for it, and goes too where nothing else was registered since. ``remove``: its folder
    (its status) goes too, what it made being kept elsewhere (a command-line evaluation's result)."""
    with _locked():
        with contextlib.suppress(FileNotFoundError):
            _entry(workdir).unlink()
        if remove:
            shutil.rmtree(workdir, ignore_errors=True)
        if made_registry:
            _drop_registry()


def _drop_registry() -> None:
    """Under the lock: remove the registry's folder where it holds nothing but its lock file (made for a start that was
    refused, or a foreground job that ended), so the workspace is as it was. A process waiting on the lock file removed
    here opens the new one when it gets it (``_locked``)."""
    registry = config.jobs_dir(make=False)
    with contextlib.suppress(OSError):
        if [p.name for p in registry.iterdir()] == [".lock"]:
            (registry / ".lock").unlink()
            registry.rmdir()


def status_dict(status: JobStatus) -> dict:
    return asdict(status)
