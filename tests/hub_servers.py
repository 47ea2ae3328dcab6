"""A loopback HTTP server standing in for the Hugging Face Hub, answering every request with one status."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler`` on a free loopback port in a thread; yields the server's URL. Every stand-in
    server of the tests (the Hub, the sign-in provider) is started and stopped here."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json",
         headers: dict[str, str] | None = None) -> None:
    """One whole HTTP answer from a stand-in server's handler."""
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


@contextlib.contextmanager
def refusing_hub(status: int) -> Iterator[str]:
    """Yields the server's URL, for ``HF_ENDPOINT``."""

    class Refuse(BaseHTTPRequestHandler):
        def _answer(self):
            send(self, status, b'{"error": "nope"}')

        do_GET = do_POST = do_PUT = do_HEAD = _answer

        def log_message(self, *args):
            pass

    with serve(Refuse) as url:
        yield url


LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".pt")


class HubRepo:
    """One repository on the stand-in: its type, visibility and files (path -> bytes) after every commit."""

    def __init__(self, repo_type: str, repo_id: str, private: bool):
        self.type, self.id, self.private = repo_type, repo_id, private
        self.files: dict[str, bytes] = {}
        self.commits: list[str] = []  # commit summaries, oldest first
        self.gated: str | bool = False  # what the repo's info says ("auto", "manual"); downloads are not refused
        self.branches: set[str] | None = None  # when set, the only revisions there are (and the commit sha): any
        # other answers 404 RevisionNotFound, as the Hub does; None: every revision is the latest files

    @property
    def sha(self) -> str:
        return hashlib.sha1(f"{self.id}{len(self.commits)}".encode()).hexdigest()


def git_blob_id(data: bytes) -> str:
    """git's name for a file's bytes, as the Hub lists it (``blobId``, a tree's ``oid``)."""
    blob = hashlib.sha1(b"blob %d\0" % len(data))
    blob.update(data)  # not joined to its header first: a file of many MB is not copied to be named
    return blob.hexdigest()


def blob_etag(data: bytes, name: str) -> str:
    """What the Hub names a file by: the sha256 of an LFS file, the git blob id of any other."""
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return git_blob_id(data)


def sibling(name: str, data: bytes) -> dict:
    """A file as the Hub's repo info lists it with ``blobs=true``: size, git blob id, LFS size and sha256."""
    entry = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
    if name.endswith(LFS_SUFFIXES):
        entry["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
    return entry


def card_data(readme: bytes) -> dict | None:
    """The README's YAML header, as the Hub's repo info gives it (``cardData``); None without one."""
    import yaml

    text = readme.decode("utf-8", "replace")
    if not text.startswith("---\n") or "\n---" not in text[4:]:
        return None
    data = yaml.safe_load(text[4:].split("\n---", 1)[0])
    return data if isinstance(data, dict) else None


class StandInHub:
    """What the stand-in saw: ``repos`` by (type, id), and every request's method, path and headers
    (names in lower case) and body."""

    def __init__(self) -> None:
        self.url = ""
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lfs: dict[str, bytes] = {}  # LFS objects by sha256, as PUT
        self.bodies: list[bytes] = []  # every request's body, in order
        self.unknown: list[str] = []  # requests it had no answer for (a test asserts there are none)
        # Faults a download meets, by file name: "500" (a server error), "500-once" (one, then the file), "cut" (the connection closes halfway
        # through the promised body), "short" (a body half the listed size, its Content-Length saying so),
        # "zeros" (the listed size, all zero bytes), "trickle" (1 KB every ``trickle_s``), "drop-upload" (an
        # LFS upload's connection closed before any answer).
        self.faults: dict[str, str] = {}
        self.trickle_s = 0.05
        self.sent = 0  # bytes of file bodies sent so far
        self.users: dict[str, tuple[str, str]] = {}  # token -> (user name, "write" or "read"), for whoami
        self.down = False  # True: every request answers 503, as the Hub does in an outage
        self.refused: dict[str, int] = {}  # token -> the status every request with it answers (401: revoked; 403:
        # its access to the repo taken away)


def point_hub_at(monkeypatch, url: str) -> None:
    """Point huggingface_hub, in this process, at ``url`` (a stand-in): what HF_ENDPOINT sets when read at import,
    with classic LFS transfer (no Xet) and the Hub switched on."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@contextlib.contextmanager
def standin_hub() -> Iterator[StandInHub]:
    """A loopback HTTP server standing in for huggingface.co, for ``HF_ENDPOINT``: just the part of the
    Hub's API that ``create_repo``, ``upload_file``/``upload_folder``/``create_commit`` and
    ``datasets.Dataset.push_to_hub`` call: repo creation; preupload answering ``uploadMode: regular``
    (contents come base64 in the commit's NDJSON) except for Parquet and weights, which go through the
    classic LFS batch API with one PUT each (run the client with ``HF_HUB_DISABLE_XET=1``: the stand-in
    does not speak Xet); the commit; repo info, file listings and downloads; YAML validation; whoami for
    the tokens a test puts in ``users``. It checks no other token: a test asserts what the client sent.
    ``down = True`` makes it answer 503 to everything."""
    import base64
    import json
    import re
    import time
    from urllib.parse import unquote, urlsplit

    hub = StandInHub()
    lock = threading.Lock()
    repo_path = r"(?P<type>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: object = None, headers: dict | None = None) -> None:
            data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _repo(self, repo_type: str, repo_id: str) -> HubRepo | None:
            return hub.repos.get((repo_type, unquote(repo_id)))

        def _not_found(self, what: str = "Repository not found") -> None:
            self._send(404, {"error": what}, {"X-Error-Code": "RepoNotFound" if "Repo" in what else "EntryNotFound"})

        def _has_revision(self, repo: HubRepo, rev: str) -> bool:
            return repo.branches is None or rev in repo.branches or rev == repo.sha

        def _no_revision(self) -> None:
            self._send(404, {"error": "Invalid rev id"}, {"X-Error-Code": "RevisionNotFound"})

        def _handle(self) -> None:
            path = unquote(urlsplit(self.path).path)
            body = self._body() if self.command in ("POST", "PUT") else b""
            with lock:
                hub.requests.append((self.command, path, {k.lower(): v for k, v in self.headers.items()}))
                hub.bodies.append(body)
            if hub.down:
                return self._send(503, {"error": "Service Unavailable"})
            refused = hub.refused.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
            if refused:
                return self._send(refused, {"error": "Invalid credentials" if refused == 401 else "Forbidden"})
            if path == "/api/whoami-v2":  # who a token belongs to: only the tokens a test registered exist
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in hub.users:
                    return self._send(401, {"error": "Invalid credentials in Authorization header"})
                name, role = hub.users[token]
                return self._send(200, {"type": "user", "id": f"id-{name}", "name": name,
                                        "auth": {"type": "access_token", "accessToken": {"role": role}}})
            if path == "/api/agent-harnesses":  # the client's registry of AI agent tools: none here
                return self._send(200, {"standardEnvVars": [], "harnesses": {}})
            if self.command == "POST" and path == "/api/validate-yaml":  # a README's metadata: accepted as it is
                return self._send(200, {"errors": [], "warnings": []})
            if self.command == "POST" and path == "/api/repos/create":
                spec = json.loads(body)
                repo_type = spec.get("type") or "model"
                repo_id = f"{spec['organization']}/{spec['name']}" if spec.get("organization") else spec["name"]
                with lock:
                    exists = (repo_type, repo_id) in hub.repos
                    hub.repos.setdefault((repo_type, repo_id), HubRepo(repo_type, repo_id, bool(spec.get("private")) or spec.get("visibility") == "private"))
                prefix = "" if repo_type == "model" else f"{repo_type}s/"
                self._send(409 if exists else 200, {"url": f"{hub.url}/{prefix}{repo_id}", "name": repo_id,
                                                    "error": "You already created this repo" if exists else None})
                return
            m = re.fullmatch(rf"/api/{repo_path}/preupload/(?P<rev>[^/]+)", path)
            if self.command == "POST" and m:
                if self._repo(m["type"], m["repo"]) is None:
                    return self._not_found()
                # binary weights and Parquet go to LFS, as the Hub's .gitattributes says, and any file over 10 MB
                files = json.loads(body)["files"]
                self._send(200, {"files": [{"path": f["path"], "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES)
                                            or int(f.get("size") or 0) > 10_000_000 else "regular",
                                            "shouldIgnore": False, "oid": None} for f in files]})
                return
            m = re.fullmatch(r"/(?:(?P<type>dataset|space)s/)?(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
            if self.command == "POST" and m:  # the LFS batch API, "basic" transfer: one PUT per object
                objects = json.loads(body)["objects"]
                self._send(200, {"transfer": "basic", "objects": [
                    {"oid": o["oid"], "size": o["size"], "authenticated": True,
                     "actions": {"upload": {"href": f"{hub.url}/lfs-objects/{o['oid']}"}}} for o in objects]})
                return
            m = re.fullmatch(r"/lfs-objects/(?P<oid>[0-9a-f]{64})", path)
            if self.command == "PUT" and m and "drop-upload" in hub.faults.values():
                self.close_connection = True  # the connection drops mid-upload: no answer at all
                return
            if self.command == "PUT" and m:
                with lock:
                    hub.lfs[m["oid"]] = body
                return self._send(200, {})
            m = re.fullmatch(rf"/api/{repo_path}/commit/(?P<rev>[^/]+)", path)
            if self.command == "POST" and m:
                repo = self._repo(m["type"], m["repo"])
                if repo is None:
                    return self._not_found()
                summary = ""
                with lock:
                    for line in body.decode().splitlines():
                        if not line.strip():
                            continue
                        item = json.loads(line)
                        value = item["value"]
                        if item["key"] == "header":
                            summary = value.get("summary", "")
                        elif item["key"] == "file":
                            repo.files[value["path"]] = base64.b64decode(value["content"])
                        elif item["key"] == "lfsFile":
                            repo.files[value["path"]] = hub.lfs[value["oid"]]
                        elif item["key"] == "deletedFile":
                            repo.files.pop(value["path"], None)
                        else:
                            hub.unknown.append(f"commit operation {item['key']}")
                    repo.commits.append(summary)
                    oid = hashlib.sha1(f"{repo.id}{len(repo.commits)}".encode()).hexdigest()
                self._send(200, {"success": True, "commitOid": oid, "commitUrl": f"{hub.url}/{repo.id}/commit/{oid}",
                                 "pullRequestUrl": None})
                return
            m = re.fullmatch(rf"/api/{repo_path}(?:/revision/(?P<rev>[^/]+))?", path)
            if self.command == "GET" and m:
                repo = self._repo(m["type"], m["repo"])
                if repo is None:
                    return self._not_found()
                if m["rev"] and not self._has_revision(repo, m["rev"]):
                    return self._no_revision()
                self._send(200, {"id": repo.id, "private": repo.private, "gated": repo.gated, "sha": repo.sha,
                                 "siblings": [sibling(f, b) for f, b in sorted(repo.files.items())],
                                 "cardData": card_data(repo.files.get("README.md", b""))})
                return
            m = re.fullmatch(rf"/api/{repo_path}/(?P<op>tree|paths-info)/(?P<rev>[^/]+)(?P<sub>/.*)?", path)
            if m:
                repo = self._repo(m["type"], m["repo"])
                if repo is None:
                    return self._not_found()
                # Folders exist as the Hub shows them: "directory" entries, a plain listing one level deep
                # (``recursive=true``: everything below), paths-info answering for a folder's own path.
                folders = {f.rsplit("/", i)[0] for f in repo.files for i in range(1, f.count("/") + 1)}
                if m["op"] == "paths-info":
                    spec = json.loads(body) if body.startswith(b"{") else {}
                    wanted = set(spec.get("paths") or [])
                    chosen = {f: b for f, b in repo.files.items() if f in wanted}
                    dirs = sorted(wanted & folders)
                else:
                    sub = (m["sub"] or "").strip("/")
                    below = {f: b for f, b in repo.files.items() if not sub or f.startswith(sub + "/")}
                    if sub and not below:  # what the Hub says of a folder that is not there
                        return self._not_found("Entry not found")
                    deep = "recursive=true" in urlsplit(self.path).query.lower()
                    depth = sub.count("/") + 1 if sub else 0  # slashes in a direct child's path
                    chosen = {f: b for f, b in below.items() if deep or f.count("/") == depth}
                    dirs = sorted(d for d in folders if (not sub or d.startswith(sub + "/"))
                                  and (deep or d.count("/") == depth))
                self._send(200, [{"type": "directory", "path": d, "size": 0, "oid": hashlib.sha1(d.encode()).hexdigest()}
                                 for d in dirs]
                           + [{"type": "file", "path": f, "size": len(b), "oid": git_blob_id(b)}
                              for f, b in sorted(chosen.items())])
                return
            m = re.fullmatch(r"/(?:(?P<type>dataset|space)s/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path)
            if m and self.command in ("GET", "HEAD"):
                repo = self._repo(m["type"] or "model", m["repo"])
                if repo is None:
                    return self._not_found()
                if not self._has_revision(repo, m["rev"]):
                    return self._no_revision()
                if m["file"] not in repo.files:
                    return self._not_found("Entry not found")
                return self._file(repo, m["file"])
            with lock:
                hub.unknown.append(f"{self.command} {self.path}")
            self._send(404, {"error": "not in the stand-in"})

        def _file(self, repo: HubRepo, name: str) -> None:
            data = repo.files[name]
            fault = hub.faults.get(name)
            if fault == "500-once":  # a blip: this download fails, the next one of the file comes
                with lock:
                    hub.faults.pop(name, None)
            if fault in ("500", "500-once"):
                return self._send(500, {"error": "Internal Error"})
            start = 0
            rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if rng and fault != "short":
                start = min(int(rng[1]), len(data))
            body = b"\0" * len(data) if fault == "zeros" else data[start:]
            if fault == "short":
                body = data[: len(data) // 2]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("ETag", f'"{blob_etag(data, name)}"')
            self.send_header("X-Repo-Commit", repo.sha)
            self.end_headers()
            if self.command == "HEAD":
                return
            if fault == "cut":
                body = body[: len(body) // 2]
                self.close_connection = True
            step = 1024 if fault == "trickle" else len(body) or 1
            for at in range(0, len(body), step):
                piece = body[at:at + step]
                try:
                    self.wfile.write(piece)
                    self.wfile.flush()
                except OSError:  # the client went away
                    self.close_connection = True
                    return
                with lock:
                    hub.sent += len(piece)
                if fault == "trickle":
                    time.sleep(hub.trickle_s)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        def log_message(self, *args):
            pass

    with serve(Handler) as url:
        hub.url = url
        yield hub


def token_leaks(hub: StandInHub, token: str, *folders) -> list[str]:
    """Where ``token`` went other than as ``Authorization: Bearer <token>``: another header, a path, a
    request body, a file the stand-in received, or any file under ``folders`` (what the push wrote)."""
    from pathlib import Path

    secret = token.encode()
    leaks = []
    for (method, path, headers), body in zip(hub.requests, hub.bodies):
        leaks += [f"{method} {path}: header {k}" for k, v in headers.items()
                  if token in v and not (k == "authorization" and v == f"Bearer {token}")]
        leaks += [f"{method} {path}: path"] * (token in path) + [f"{method} {path}: body"] * (secret in body)
    leaks += [f"{repo.id}/{name}" for repo in hub.repos.values() for name, data in repo.files.items() if secret in data]
    for folder in folders:
        leaks += [str(f) for f in Path(folder).rglob("*") if f.is_file() and secret in f.read_bytes()]
    return leaks
