"""One place that resolves the workspace's paths and the Hugging Face token.

A local install has one workspace, ``STUDIO_HOME``. A public deployment (``studio.cloud``) has one per
visitor, folders under ``STUDIO_HOME``: ``home()`` then answers the current visitor's folder, which the
Streamlit layer resolves for each page run (``set_resolver``) and which work started from a page carries
into its thread (``bound``) or job process (``STUDIO_HOME`` in its environment).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from studio.errors import disk_error, not_a_folder

DEFAULT_HOME = Path.home() / "slm-studio"
"""The workspace when ``STUDIO_HOME`` is not set."""

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATASET = REPO_ROOT / "data" / "soccer_rules.json"
"""The embedded sample: English Q&A pairs on the laws of soccer, with a few planted near-duplicates."""


T = TypeVar("T")

_WORKSPACE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("studio_workspace", default=None)
_resolver: Callable[[], Path | None] | None = None
_tenancy = False  # True on a public deployment: no code may fall back to the server's own folder
_before_write: Callable[[Path, int], Callable[[], None] | None] | None = None
_limit_of: Callable[[Path], tuple[int, int] | None] | None = None
_fits: Callable[[Path, int], None] | None = None
_made: Callable[[list[Path]], None] | None = None  # counts folders made outside a checked save (never refuses)

LIMIT_VAR = "STUDIO_WORKSPACE_LIMIT_BYTES"
"""A job process's workspace size limit, handed over by the page that started it (``job_env``): a job writes
outside the server process, where the page's check (``set_tenancy``'s ``before_write``) does not run."""
TOTAL_VAR = "STUDIO_WORKSPACES_TOTAL_BYTES"
"""The same for every visitor's workspace together (the folder that holds the job's workspace)."""


PUBLIC_ONLY_VAR = "STUDIO_PUBLIC_ADDRESSES_ONLY"
"""1: a server a visitor's URL names is reached only at a public address (``public_addresses_only``); handed to a job
started on a public deployment (``job_env``), whose process has no tenancy of its own."""
PRIVATE_VAR = "STUDIO_PRIVATE_SERVERS"
"""1: a public deployment's visitors may name servers on its own machine or network (``[studio] private_servers``)."""
_private_servers = False


class NoWorkspaceError(RuntimeError):
    """Tenancy is on and this thread was given no visitor's workspace: a bug (work started without ``bound``)."""


def server_home() -> Path:
    """The server's folder (``STUDIO_HOME``, else ``~/slm-studio``): the workspace of a local install,
    the parent of every visitor's workspace on a public deployment."""
    return Path(os.environ.get("STUDIO_HOME") or DEFAULT_HOME).expanduser()


def home(make: bool = True) -> Path:
    """The workspace directory, created on first use: this visitor's on a public deployment, else ``server_home()``
    (``make=False``: not made where it is not there yet, for a read: a listing or a look-up makes no folder)."""
    path = _WORKSPACE.get()
    if path is None and _resolver is not None:
        path = _resolver()
    if path is None:
        if _tenancy:
            raise NoWorkspaceError("no visitor workspace in this thread: start work with config.bound(...)")
        path = server_home()
    return _ensure_dir(path) if make else _could_be_made(path)


def set_tenancy(on: bool, resolver: Callable[[], Path | None] | None = None,
                before_write: Callable[[Path, int], Callable[[], None] | None] | None = None,
                limit_of: Callable[[Path], tuple[int, int] | None] | None = None,
                fits: Callable[[Path, int], None] | None = None,
                made: Callable[[list[Path]], None] | None = None) -> None:
    """Turn per-visitor workspaces on (with the function that names the current visitor's folder, a check run
    before every workspace write, ``limit_of``: a workspace's size limit and that of every workspace together,
    in bytes, handed to its jobs, ``fits``: what ``fits`` below asks, and ``made``: what ``made`` below counts) or
    off."""
    global _tenancy, _resolver, _before_write, _limit_of, _fits, _made
    _tenancy, _resolver, _before_write, _limit_of, _fits, _made = on, resolver, before_write, limit_of, fits, made


def made(folders: list[Path]) -> None:
    """``folders`` were just made outside a checked save (where a save needs them, the trash): on a public app (its
    server, or a job's process) they are counted in the visitor's size total now, never refused (else only the next
    full measure saw them)."""
    if _made is not None and folders:
        _made([Path(f) for f in folders])


def check_writes(before_write: Callable[[Path, int], Callable[[], None] | None] | None,
                 made: Callable[[list[Path]], None] | None = None) -> None:
    """Run ``before_write`` before every workspace write of this process (a job holding its visitor's limit), and
    ``made`` on the folders it makes outside them (``made`` above)."""
    global _before_write, _made
    _before_write, _made = before_write, made


def job_env() -> dict[str, str]:
    """What a job started now must know of its workspace on a public deployment: its size limits (``LIMIT_VAR``,
    ``TOTAL_VAR``), and that a visitor's URL reaches public addresses only (``PUBLIC_ONLY_VAR``)."""
    limits = limits_of(home())
    env = {LIMIT_VAR: str(int(limits[0])), TOTAL_VAR: str(int(limits[1]))} if limits is not None else {}
    return {**env, PUBLIC_ONLY_VAR: "1"} if public_addresses_only() else env


def set_private_servers(on: bool) -> None:
    """Let a public deployment's visitors name servers on its machine or network (the deployer's choice)."""
    global _private_servers
    _private_servers = bool(on)


def public_addresses_only() -> bool:
    """Whether a server a visitor names (an OpenAI-compatible base URL) may be reached only at a public address: on a
    public deployment, where loopback, the private network and the cloud's metadata address are the server's own,
    not the visitor's, unless the deployer allows them (``set_private_servers``, ``PRIVATE_VAR``)."""
    if os.environ.get(PRIVATE_VAR) == "1":
        return False
    return (_tenancy and not _private_servers) or os.environ.get(PUBLIC_ONLY_VAR) == "1"


def limits_of(path: Path) -> tuple[int, int] | None:
    """On a public deployment: the size limit of the workspace ``path`` is (or lies in) and that of every workspace
    together, in bytes; else None."""
    return _limit_of(Path(path)) if (_tenancy and _limit_of is not None) else None


def before_write(path: Path, nbytes: int) -> Callable[[], None] | None:
    """Called by ``studio.atomic`` before it writes ``nbytes`` to ``path``: raises when the workspace is full; else
    what to call once the write is over (the room it took is then in the file, no longer being written)."""
    if _before_write is not None:
        return _before_write(Path(path), nbytes)
    return None


def fits(path: Path, adding: int) -> None:
    """Raise what a save would raise (``WorkspaceFullError``) where ``adding`` more bytes cannot fit now in the
    workspace ``path`` lies in, or in every workspace together; reserving nothing, removing nothing. A restore asks
    before it downloads, so what cannot fit is not fetched again and again only to be refused."""
    if _tenancy and _fits is not None:
        _fits(Path(path), int(adding))


def tenancy() -> bool:
    return _tenancy


@contextlib.contextmanager
def use_workspace(path: Path) -> Iterator[Path]:
    """Run a block (in this thread or context) with ``home()`` answering ``path``."""
    token = _WORKSPACE.set(Path(path))
    try:
        yield Path(path)
    finally:
        _WORKSPACE.reset(token)


def bound(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to the workspace current now, for a worker thread (which starts with no visitor)."""
    path = home() if (_tenancy or _WORKSPACE.get() is not None) else None
    if path is None:
        return fn

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        with use_workspace(path):
            return fn(*args, **kwargs)

    return run


def _sub(name: str, make: bool) -> Path:
    return _ensure_dir(home() / name) if make else _could_be_made(home(make=False) / name)


def entries(folder: Path) -> list[Path]:
    """What ``folder`` holds, sorted by name; nothing where it is not made yet. A listing reads a workspace's folder
    with ``make=False`` and this: a visitor who only looks gets no empty folders (each a block of their size total)."""
    try:
        return sorted(Path(folder).iterdir())
    except FileNotFoundError:
        return []


def missing(path: Path) -> list[Path]:
    """``path`` and each folder above it that is not there yet, deepest first: what making it would make."""
    out, walk = [], Path(path)
    while not walk.exists() and walk != walk.parent:
        out.append(walk)
        walk = walk.parent
    return out


def take_back(folders: list[Path]) -> None:
    """Remove ``folders`` (``missing``'s answer before they were made), deepest first, each only while it is empty: a
    start refused after making its folder leaves the workspace as it was."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _could_be_made(path: Path) -> Path:
    """``path``, a folder or one not made yet; where a file (or a link that loops or leads nowhere) stands in its way,
    the line making it says, for a read too (it read on into a traceback: "Not a directory")."""
    if path.is_dir():
        return path
    for part in (path, *path.parents):
        if os.path.lexists(part):
            if not part.is_dir():
                code = errno.ELOOP if part.is_symlink() else errno.ENOTDIR
                raise not_a_folder(OSError(code, os.strerror(code)), path) or OSError(code, os.strerror(code))
            break
    return path


def _ensure_dir(path: Path) -> Path:
    made_now = missing(path) if _made is not None else []  # on a public app (or a job of one): counted (``made``)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err = disk_error(exc, path) or not_a_folder(exc, path)
        if err is None:
            raise
        raise err from None
    made(made_now)
    return path


def datasets_dir(make: bool = True) -> Path:
    return _sub("datasets", make)


def runs_dir(make: bool = True) -> Path:
    return _sub("runs", make)


def evals_dir(make: bool = True) -> Path:
    return _sub("evals", make)


def jobs_dir(make: bool = True) -> Path:
    return _sub("jobs", make)


def models_dir(make: bool = True) -> Path:
    """The model library's own models (imported GGUF files, the bundled model): one folder each (``make=False``: not
    made where it is not there yet, for a listing)."""
    return _sub("models", make)


def hf_token(secrets: Mapping[str, object] | None = None, session_value: str | None = None) -> str | None:
    """The Hugging Face token: a value typed in this session, then secrets, then the environment.

    The token is only ever passed along as an argument; nothing in the studio writes it anywhere.
    """
    if session_value and session_value.strip():
        return session_value.strip()
    if secrets is not None:
        try:
            value = secrets.get("HF_TOKEN")
        except Exception:  # st.secrets raises when no secrets file exists at all
            value = None
        if isinstance(value, str) and value.strip():
            return value.strip()
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var)
        if value and value.strip():
            return value.strip()
    return None
