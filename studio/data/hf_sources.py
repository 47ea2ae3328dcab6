"""Hugging Face ``datasets`` as sources: a ``save_to_disk`` folder (a ``Dataset`` or a ``DatasetDict``)
and ``hub:OWNER/NAME[:CONFIG][@SPLIT]`` through ``datasets.load_dataset`` (from the local cache when
offline). Rows come back as plain dicts for the one reader in ``studio.data.formats``."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

from studio.data import hub_failures, hub_files
from studio.data.hub_files import HubFiles
from studio.errors import DatasetFormatError, NetworkError

HUB_PREFIX = "hub:"
_HUB_ID = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+|[\w.-]+)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.-]+))?$")


def is_saved_dataset(path: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
                              or (path / "state.json").is_file())


def _pick_split(obj, split: str | None, where: str):
    from datasets import DatasetDict

    if not isinstance(obj, DatasetDict):
        return obj
    return obj[hub_files.choose_split(list(obj), split, where)]


def _rows(ds) -> list[dict]:
    from studio.data.parquet_rows import json_value

    rows = []
    for row in ds.to_list():
        rec = {k: v if type(v) is str else json_value(v) for k, v in row.items()}
        rows.append({k: v for k, v in rec.items() if v is not None})  # a null (NaN too) is a field it does not have
    return rows


def read_saved(path: Path, split: str | None = None) -> list[dict]:
    """The rows of a ``save_to_disk`` folder (the ``train`` split of a DatasetDict unless ``split``)."""
    from datasets import load_from_disk

    try:
        obj = load_from_disk(str(path))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise DatasetFormatError(f"{path} is not a readable datasets folder ({str(exc).splitlines()[0][:160]}).") from None
    return _rows(_pick_split(obj, split, str(path)))


def parse_hub_id(src: str) -> tuple[str, str | None, str | None]:
    """``hub:owner/name[:config][@split]`` -> (repo, config, split); a one-line error when malformed."""
    m = _HUB_ID.match(src[len(HUB_PREFIX):].strip())
    if not m:
        raise DatasetFormatError(f"Bad Hub dataset {src!r}: write hub:OWNER/NAME, hub:OWNER/NAME:CONFIG or "
                                 "hub:OWNER/NAME@SPLIT.")
    return m["repo"], m["config"], m["split"]


def check_hub_access(repo: str, max_bytes: int, token: str | None = None, config: str | None = None,
                     split: str | None = None) -> HubFiles:
    """On a server several people share, ask the Hub itself (never a cache) before any download whether ``token``
    may read ``repo`` (a private repo it cannot see, a gated one it was not granted: refused), and refuse an import
    whose files add up to more than ``max_bytes``: the files ``config`` and ``split`` need, by the rules
    ``load_dataset`` follows (``studio.data.hub_files``), or every file of the repository where those cannot be
    told. Returns those files, for ``read_hub`` to download and nothing else. Once this passes, what
    ``load_dataset`` may answer from a cache is what this token may read anyway."""
    from huggingface_hub import HfApi


    api = HfApi()
    try:
        info = api.dataset_info(repo, files_metadata=True, token=token or False)
        if info.gated:
            if not token:
                raise DatasetFormatError(f"{repo} is gated on the Hub: give your own Hugging Face token (one that was "
                                         "granted access) to import it.")
            api.auth_check(repo, repo_type="dataset", token=token)
    except DatasetFormatError:
        raise
    except Exception as exc:  # not found (or private), not granted, unreachable: nothing is downloaded
        reason = hub_failures.missing(exc, repo)  # the repository or revision is not there: said so, not an HTTP status
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DatasetFormatError(str(reason) if reason else f"Cannot import {repo} from the Hub: {text}") from None
    siblings = {f.rfilename: int(getattr(f, "size", None) or 0) for f in info.siblings or []}
    card = info.card_data.to_dict() if info.card_data is not None else None
    files = hub_files.plan(siblings, card, config, split, f"hub:{repo}" + (f":{config}" if config else ""))
    if files.size > max_bytes:
        if files.whole:
            what = (f"{repo} holds {files.size / 1e6:,.1f} MB of files (all {len(files.files)} in the repository: "
                    "which of them the split needs could not be told)")
        else:
            where = f"{repo}:{config}" if config else repo
            what = (f"The {files.split} split of {where} is {files.size / 1e6:,.1f} MB in {len(files.files)} "
                    f"file{'s' * (len(files.files) != 1)} ({files.describe()})")
        raise DatasetFormatError(
            f"{what} and this app imports Hub datasets of up to {max_bytes / 1e6:.0f} MB: download the split you "
            "need and import it as a file (up to the same size), or run the studio on your own machine for larger "
            "ones.")
    return files


CONNECT_S = 5.0
"""How long the reachability check waits for the Hub to take a connection; one that takes longer is left to
``load_dataset`` (a slow Hub still serves the import)."""


def _refused() -> str | None:
    """Why the Hub cannot be connected to, in words (nothing listens, no route, its name does not resolve), None when
    it takes the connection or cannot be told: ``load_dataset`` then spent 25-35 s in huggingface_hub's five retries
    (1+2+4+8+8 s, no setting shortens them) before its error."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        return None  # load_dataset reads the cache at once
    url = urlparse(constants.ENDPOINT)
    if getproxies().get(url.scheme) and not proxy_bypass(url.hostname or ""):
        return None  # reached through a proxy: a direct connection says nothing of it
    try:
        with socket.create_connection((url.hostname or "", url.port or (443 if url.scheme == "https" else 80)),
                                      timeout=CONNECT_S):
            return None
    except TimeoutError:
        return None  # slow, not refused: load_dataset waits for it
    except socket.gaierror:  # no DNS, or a mistyped HF_ENDPOINT: "refused the connection" sent people to a firewall
        return f"its name {url.hostname} does not resolve"
    except OSError:
        return "it refused the connection"


def _prepared(repo: str) -> Path:
    """Where ``load_dataset`` keeps ``repo`` once read (its Arrow files): the folder its offline mode reads. The name
    part is snake-cased as ``datasets`` does it (``alice/SoccerQA`` is ``alice___soccer_qa``)."""
    from datasets import config as ds_config
    from datasets.naming import camelcase_to_snakecase

    *owner, name = repo.split("/")
    return Path(ds_config.HF_DATASETS_CACHE) / "___".join([*owner, camelcase_to_snakecase(name)])


def _prepared_whole(repo: str) -> bool:
    """Whether ``repo`` has a prepared copy its offline read can take: a config's folder with its ``dataset_info.json``,
    not the ``<hash>.incomplete`` folder a preparation stopped midway leaves (``datasets`` renames it at the end)."""
    try:
        return any(not p.name.endswith(".incomplete") and (p / "dataset_info.json").is_file()
                   for p in _prepared(repo).glob("*/*/*"))
    except OSError:
        return False


def _cached(repo: str) -> bool:
    """Whether ``load_dataset`` can read ``repo`` without the Hub: a local folder of that name (its own rule: a local
    path comes before the Hub), or anything of it in the machine's caches."""
    from huggingface_hub import constants

    return (Path(repo).exists() or (Path(constants.HF_HUB_CACHE) / f"datasets--{repo.replace('/', '--')}").exists()
            or _prepared(repo).exists())


WHOLE_FILE = ".studio-whole.json"
"""In a repository's folder of the Hugging Face download cache, for each snapshot: ``{"files": {path: size},
"configs": [...]}``, the files a read found there once it had finished and the configs whose files it had then
downloaded whole (``load_dataset`` fetches the files of the config it reads, every split, and no other config's). A
download stopped midway leaves a snapshot of fewer files (``datasets`` fetches them one by one, each whole once there),
and a config never read has none or only some of its files there (another config's can be some of them): read as the
local folder it is, either gave a part of the dataset, said to be the copy last downloaded. ``""`` stands for the
config a read named none of (the repository's default). An entry written before configs were told apart is the files
alone (``{path: size}``)."""


def _repo_cache(repo: str) -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"datasets--{repo.replace('/', '--')}"


def _snapshots(repo: str) -> list[Path]:
    """``repo``'s snapshots in the download cache, its main branch's first, then the newest first."""
    root = _repo_cache(repo)
    try:
        found = sorted((p for p in (root / "snapshots").iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime,
                       reverse=True)
    except OSError:
        return []
    try:
        main = (root / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        main = ""
    return sorted(found, key=lambda p: p.name != main)


def _files(snapshot: Path) -> dict[str, int]:
    """The files of a snapshot (a path inside it -> its size); a link to a blob that is not there is none."""
    out = {}
    for path in snapshot.rglob("*"):
        try:
            if path.is_file():
                out[path.relative_to(snapshot).as_posix()] = path.stat().st_size
        except OSError:
            continue
    return out


def _whole_list(repo: str) -> dict:
    try:
        kept = json.loads((_repo_cache(repo) / WHOLE_FILE).read_text(encoding="utf-8"))
        return kept if isinstance(kept, dict) else {}
    except (OSError, ValueError):
        return {}


def _older_mark(entry: object) -> bool:
    """A ``WHOLE_FILE`` entry written before configs were told apart: the snapshot's files alone, ``{path: size}``."""
    return isinstance(entry, dict) and bool(entry) and all(type(v) is int for v in entry.values())


def _whole_configs(entry: object, files: dict[str, int], snapshot: Path) -> set[str]:
    """The configs a snapshot's ``WHOLE_FILE`` entry names as downloaded whole, while the files it wrote down are all
    still there at their sizes (files added since are another config's: a config's own were all there). An entry
    written before configs were told apart (``_older_mark``) counts for the repository's one config where it has only
    one (``_only_config``: no other config's files can have been taken for it), for none where it has several (which
    one it was cannot be said)."""
    if _older_mark(entry):
        marked = entry
    elif isinstance(entry, dict) and isinstance(entry.get("files"), dict) and isinstance(entry.get("configs"), list):
        marked = entry["files"]
    else:
        return set()
    if any(files.get(path) != size for path, size in marked.items()):
        return set()
    if marked is entry:
        return _only_config(snapshot, files)
    return {c for c in entry["configs"] if isinstance(c, str)}


def _only_config(snapshot: Path, files: dict[str, int]) -> set[str]:
    """The names of the repository's one config, as a read may name it (``""`` for none, ``default`` where its README
    names no configs: ``datasets`` then makes one of that name from the files), read from the snapshot's README (which
    ``load_dataset`` downloads with the data); none where it has several, or where a loading script or a
    ``.huggingface.yaml`` decides them."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub.repocard import metadata_load

    if any(path.endswith(".py") or Path(path).name == ".huggingface.yaml" for path in files):
        return set()
    try:
        card = metadata_load(snapshot / "README.md") if "README.md" in files else None
        configs = MetadataConfigs.from_dataset_card_data(card or {})
    except Exception:  # a README whose metadata cannot be read: which configs it names cannot be told
        return set()
    if len(configs) > 1:
        return set()
    return {"", *configs} if configs else {"", "default"}


def _mark_whole(repo: str, name: str | None, obj) -> None:
    """After ``load_dataset`` read config ``name`` of ``repo`` from the Hub: its snapshot's files, all there and whole
    now, and that config written down (``WHOLE_FILE``; the configs read whole before kept) so that an offline read
    later tells this config's copy from one a stopped download left, or another config's."""
    from huggingface_hub import constants

    from studio import atomic

    if constants.is_offline_mode():  # read from the cache: what a stopped download added since would pass for whole
        return
    cache_files = getattr(obj, "cache_files", None) or []
    parts = obj.values() if isinstance(cache_files, dict) else [obj]  # a DatasetDict: each split's
    if isinstance(cache_files, dict):  # a DatasetDict: each split's files
        cache_files = [f for files in cache_files.values() for f in files]
    # the config read, as asked ("" for none: the default) and as load_dataset resolved it
    read = {name or ""} | {getattr(getattr(p, "info", None), "config_name", None) or name or "" for p in parts}
    # its prepared copy is in a folder named after the commit it read (``<config>/<version>/<commit>``)
    shas = {Path(f["filename"]).parent.name for f in cache_files if isinstance(f, dict) and f.get("filename")}
    kept = _whole_list(repo)
    for sha in shas:
        snapshot = _repo_cache(repo) / "snapshots" / sha
        if snapshot.is_dir():
            files = _files(snapshot)
            kept[sha] = {"files": files, "configs": sorted(_whole_configs(kept.get(sha), files, snapshot) | read)}
    if shas & set(kept):
        try:
            atomic.write_json(_repo_cache(repo) / WHOLE_FILE, kept, indent=None)
        except OSError:
            pass  # a cache this process cannot write: the copy is not offered offline, nothing else is lost


def _downloaded(repo: str, name: str | None = None) -> tuple[Path | None, str | None]:
    """(the whole copy of config ``name`` of ``repo`` in the machine's Hugging Face download cache (its main
    branch's, else the newest), or None where it holds none; where none, why a snapshot there that is whole was not
    taken: ``"older"``, marked before configs were told apart in a repository of several, ``"other"``, marked for
    another config, else None). A snapshot counts only as ``_mark_whole`` wrote its files and that config down, each
    file still there at its size, or as the tree listing of ``snapshot_download`` names them (``_listed_whole``: every
    file of the repository).

    Not ``snapshot_download(repo, repo_type="dataset", local_files_only=True)`` (huggingface_hub 2.4): offline it finds
    a snapshot only through ``refs/<revision>`` ("main"), and the copy this reads is the one ``load_dataset`` left,
    which ``datasets`` downloads through ``HfFileSystem`` pinned to the commit it resolved, so the cache holds
    ``snapshots/<sha>/`` and no ``refs/main``: the library call raised ``LocalEntryNotFoundError`` for a dataset
    downloaded a minute before (tests/data/test_hub_errors.py, the import with its prepared copy deleted). Nor would
    it tell a partial copy from a whole one here: it checks completeness only against the tree listing
    (``trees/<sha>.json``) its own downloads write, and ``datasets`` writes none."""
    kept = _whole_list(repo)
    why: str | None = None
    for snapshot in _snapshots(repo):
        files = _files(snapshot)
        entry = kept.get(snapshot.name)
        configs = _whole_configs(entry, files, snapshot)
        if (name or "") in configs or _listed_whole(snapshot, files):
            return snapshot, None
        if _older_mark(entry) and not configs and all(files.get(p) == size for p, size in entry.items()):
            why = "older"
        elif configs and why is None:
            why = "other"
    return None, why


def _listed_whole(snapshot: Path, files: dict[str, int]) -> bool:
    """Whether ``snapshot`` holds every file of the tree listing ``snapshot_download`` (``huggingface-cli download``)
    writes before it downloads (``trees/<commit>.json``: {"format_version": 1, "files": {path: {"size": ...}}}), each
    at its size: a copy downloaded whole by another tool than this studio."""
    try:
        listed = json.loads((snapshot.parents[1] / "trees" / f"{snapshot.name}.json").read_text(encoding="utf-8"))
        wanted = listed["files"]
        return bool(wanted) and all(files.get(path) == info["size"] for path, info in wanted.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _read_prepared(repo: str, name: str | None, split: str | None):
    """``repo`` from its prepared copy in the local cache, without asking the Hub: what ``load_dataset`` reads in
    offline mode (the newest copy of the config), built directly, as switching the process-wide offline mode on for
    one read would switch it on for every other read and push the server is doing meanwhile."""
    import logging

    from datasets.packaged_modules.cache.cache import Cache

    # its "Found the latest cached dataset configuration ... at /path" on stderr: the caller's note says it in words
    logging.getLogger(Cache.__module__).setLevel(logging.ERROR)
    builder = Cache(repo_id=repo, dataset_name=repo.split("/")[-1], config_name=name, version="auto", hash="auto")
    return builder.as_dataset(split=split)


def read_hub(src: str, token: str | None = None, cache_dir: str | None = None,
             files: HubFiles | None = None, notes: list[str] | None = None) -> list[dict]:
    """A Hub dataset's rows through ``datasets.load_dataset`` (the local cache serves it offline).

    ``cache_dir``: a cache of this read's own (removed after it by the caller). ``load_dataset`` answers from its
    cache whenever the Hub refuses or fails, so on a server several people share, each import reads through its
    own, after ``check_hub_access``: the repository's files are downloaded into it and read from there
    (``load_dataset`` of a Hub id puts them in the machine's one Hugging Face cache whatever its ``cache_dir``,
    where every import any visitor made stayed for good). ``files``: what ``check_hub_access`` counted; only
    those are downloaded (a repository's other configs and splits are not). ``notes``: gets the line saying the
    rows came from the local cache because the Hub refused the connection.
    """
    from datasets import load_dataset

    repo, name, split = parse_hub_id(src)
    # A Hub that refuses the connection (with cache_dir the Hub answered check_hub_access): a copy in the local cache
    # is read at once, as load_dataset's offline mode reads it (load_dataset itself waited 25-35 s in
    # huggingface_hub's retries first); without one, it is said at once.
    refused = cache_dir is None and not Path(repo).exists() and _refused()
    # only the downloaded files (their prepared copy deleted): read as the local folder they are, without the Hub
    prepared = bool(refused) and _prepared_whole(repo)
    files_copy, why = _downloaded(repo, name) if refused and not prepared else (None, None)
    if refused and files_copy is None and not prepared and why == "older":
        raise NetworkError(f"Cannot reach the Hub for {repo} ({refused}) and its copy in the local cache was downloaded "
                           "by an earlier version of the studio, which did not write down which of its configurations "
                           "it holds: check the connection and import it again, which writes that down.")
    if refused and files_copy is None and not prepared and why == "other":
        config = f"configuration {name}" if name else "default configuration"
        raise NetworkError(f"Cannot reach the Hub for {repo} ({refused}) and its {config} was never downloaded whole "
                           "here: check the connection and import it again, which downloads it.")
    if refused and files_copy is None and not prepared and (_snapshots(repo) or _prepared(repo).exists()):
        raise NetworkError(f"Cannot reach the Hub for {repo} ({refused}) and its copy in the local cache is "
                           "incomplete (a download that stopped midway): check the connection and import it again, "
                           "which finishes the download.")
    if refused and (files_copy is not None or prepared):
        try:
            obj = (_read_prepared(repo, name, split) if files_copy is None
                   else load_dataset(str(files_copy), name, split=split))
        except Exception as exc:  # not this config, not this split: said as load_dataset's own failures are
            reason = hub_failures.missing(exc, repo)
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise (reason or NetworkError(f"Cannot reach the Hub for {repo} ({refused}) and its copy "
                                          f"in the local cache cannot be read ({text}): check the connection and try "
                                          "again, or import a downloaded file.")) from None
        if notes is not None:
            notes.append(f"Read {repo} from the local cache: the Hub cannot be reached ({refused}), so this is the copy "
                         "last downloaded here, which may be older than the Hub's.")
        return _rows(_pick_split(obj, split, src))
    if refused and not _cached(repo):
        raise NetworkError(f"Cannot reach the Hub for {repo} ({refused}) and it is not in the local "
                           "cache: check the connection and try again, or import a downloaded file.")
    try:
        if cache_dir is None:
            obj = load_dataset(repo, name, split=split, token=token)
            _mark_whole(repo, name, obj)
        else:
            from huggingface_hub import snapshot_download

            if files is None or files.whole:
                folder = snapshot_download(repo, repo_type="dataset", token=token or False, cache_dir=cache_dir)
                obj = load_dataset(folder, name, split=split, cache_dir=cache_dir)
            else:  # just the split's files, read as datasets would read them from the Hub
                folder = snapshot_download(repo, repo_type="dataset", token=token or False, cache_dir=cache_dir,
                                           allow_patterns=files.allow_patterns)
                split = files.split
                obj = load_dataset(folder, data_files={split: sorted(files.files)}, split=split, cache_dir=cache_dir,
                                   **files.builder_kwargs)
    except (ConnectionError, TimeoutError):
        raise NetworkError(f"Cannot reach the Hub for {repo} (no answer came) and it is not in the local cache: check "
                           "the connection and try again, or import a downloaded file.") from None
    except Exception as exc:  # datasets raises its own types (DatasetNotFoundError, ValueError for splits, ...)
        reason = hub_failures.missing(exc, repo)  # the repository, a revision, a file or the split is not there
        if reason is not None:
            raise DatasetFormatError(str(reason)) from None
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if "offline" in text.lower() or "couldn't reach" in text.lower() or "connection" in text.lower():
            raise NetworkError(f"Cannot reach the Hub for {repo} and it is not in the local cache: connect, "
                               "or import a downloaded file.") from None
        raise DatasetFormatError(f"Cannot load {repo} from the Hub: {text}") from None
    return _rows(_pick_split(obj, split, src))
