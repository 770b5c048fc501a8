"""A small Hugging Face Hub-compatible HTTP server for tests (stdlib only: http.server + threading).

The real Hub cannot be reached from a test machine, so this serves the endpoints the official client
(`huggingface_hub` 2.4.0) calls for `snapshot_download(repo_id, revision=..., local_dir=..., endpoint=...)` and
`hf_hub_download`, with the headers and error codes that client reads:

- `GET /api/models/{repo}` and `GET /api/models/{repo}/revision/{rev}`: model info (`id`, `sha`, `siblings`, ...).
- `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=...`: tree listing (files with `oid`, `size`, `lfs`).
- `HEAD`/`GET /{repo}/resolve/{rev}/{path}`: regular files answer 200 (`ETag` = git blob id, `X-Repo-Commit`,
  `Content-Length`, `Range` -> 206); LFS files (size >= `lfs_threshold`) answer 302 to a second listener, the
  "CDN" (another origin, like cdn-lfs.hf.co, so the client stops there and drops the Authorization header), with
  `X-Linked-Etag` (sha256) and `X-Linked-Size`, as the Hub does.
- `HEAD`/`GET /lfs/{secret}/{sha256}?repo=..&file=..` on the CDN listener: the LFS content, with `Range` support.

Errors look like the Hub's: 401 + `X-Error-Code: RepoNotFound` for a missing or private repo without a token,
404 `RepoNotFound` with a token, 401 "Invalid credentials in Authorization header" for an unknown token,
404 `RevisionNotFound`, 404 `EntryNotFound`. Xet is never advertised, so the client uses plain HTTP.

Fault injection applies to content GETs of one file (regular `resolve` GETs or CDN GETs), one fault per GET, in
order: `fail_after_bytes` (send N body bytes, then drop the connection), `fail_with_status`, `stall_after_bytes`
(send N bytes, then hold the connection until `release_stalls()`). Every request is recorded in `requests`.

    with HubServer(lfs_threshold=1024) as hub:
        sha = hub.add_commit("org/model", {"config.json": b"{}", "model.safetensors": blob}, branch="main")
        hub.fail_after_bytes("org/model", "model.safetensors", 11 << 20)
        snapshot_download("org/model", local_dir=..., endpoint=hub.url)
        [r.range for r in hub.requests_for("model.safetensors", method="GET")]
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import threading
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["Blob", "HubServer", "RecordedRequest", "commit_sha", "files_from_folder"]

LAST_MODIFIED = "2025-01-01T00:00:00.000Z"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def commit_sha(files: dict[str, bytes], parent: str | None = None) -> str:
    """A deterministic 40-hex commit id for a set of files (and its parent), like a git commit id."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update((parent or "").encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def files_from_folder(folder: str | Path) -> dict[str, bytes]:
    """Every file under `folder` as {relative posix path: bytes}."""
    root = Path(folder)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def pointer(self) -> bytes:
        """The git-lfs pointer file that git stores in place of an LFS file."""
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @cached_property
    def git_oid(self) -> str:
        """The git blob id of what git stores (the pointer for LFS files), as the Hub reports it."""
        stored = self.pointer if self.lfs else self.data
        return hashlib.sha1(b"blob %d\0" % len(stored) + stored, usedforsecurity=False).hexdigest()


@dataclass
class Repo:
    repo_id: str
    commits: dict[str, dict[str, Blob]]
    branches: dict[str, str]
    token: str | None = None  # set: a private repo that only this token can read

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


@dataclass
class RecordedRequest:
    listener: str  # "hub" or "cdn"
    method: str
    path: str  # URL path, percent-decoded
    query: str
    range: str | None  # the Range header as sent
    authorization: bool  # an Authorization header was present
    repo_id: str | None = None
    file: str | None = None  # repo file path, for resolve and CDN requests
    status: int = 0
    body_bytes: int = 0  # body bytes actually written

    @property
    def range_start(self) -> int | None:
        """N of a `Range: bytes=N-...` header, else None."""
        match = _RANGE.match(self.range or "")
        return int(match.group(1)) if match and match.group(1) else None


class _Reply(Exception):
    """Raised inside a handler to answer with an error status (Hub style headers and JSON body)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: HubServer, role: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub, self.role = hub, role


class HubServer:
    """Hub stand-in on 127.0.0.1 (ephemeral ports). Use as a context manager, or call start() / stop().

    repos: {repo_id: {commit_sha: {relpath: bytes}}}; branches: {repo_id: {"main": sha}};
    private: {repo_id: token}; extra_tokens: tokens the Hub accepts that give access to no private repo.
    """

    def __init__(self, repos: dict[str, dict[str, dict[str, bytes]]] | None = None, *,
                 branches: dict[str, dict[str, str]] | None = None, private: dict[str, str] | None = None,
                 extra_tokens: tuple[str, ...] = (), lfs_threshold: int = 64 * 1024):
        self.lfs_threshold = lfs_threshold
        self.repos: dict[str, Repo] = {}
        self.extra_tokens = set(extra_tokens)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], deque[tuple[str, int]]] = {}
        self._stall = threading.Event()
        self._secret = secrets.token_hex(8)
        self._hub: _Listener | None = None
        self._cdn: _Listener | None = None
        self._threads: list[threading.Thread] = []
        for repo_id, commits in (repos or {}).items():
            self.add_repo(repo_id, commits, branches=(branches or {}).get(repo_id),
                          token=(private or {}).get(repo_id))

    # --- content -------------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, commits: dict[str, dict[str, bytes]], *, branches: dict[str, str] | None = None,
                 token: str | None = None) -> None:
        repo = self.repos.setdefault(repo_id, Repo(repo_id, {}, {}, token))
        repo.token = token if token is not None else repo.token
        for sha, files in commits.items():
            if not re.fullmatch(r"[0-9a-f]{40}", sha):
                raise ValueError(f"commit ids are 40 lowercase hex digits, got {sha!r}")
            repo.commits[sha] = {path: Blob(data, len(data) >= self.lfs_threshold) for path, data in files.items()}
        repo.branches.update(branches or {})

    def add_commit(self, repo_id: str, files: dict[str, bytes], *, branch: str | None = "main",
                   token: str | None = None) -> str:
        """Add one commit (its id derived from the files and the branch's previous head); move `branch` to it."""
        parent = self.repos[repo_id].branches.get(branch or "") if repo_id in self.repos else None
        sha = commit_sha(files, parent)
        self.add_repo(repo_id, {sha: files}, branches={branch: sha} if branch else None, token=token)
        return sha

    def add_folder(self, repo_id: str, folder: str | Path, *, branch: str | None = "main",
                   token: str | None = None) -> str:
        return self.add_commit(repo_id, files_from_folder(folder), branch=branch, token=token)

    # --- faults --------------------------------------------------------------------------------------
    def fail_after_bytes(self, repo_id: str, path: str, n: int, *, times: int = 1) -> None:
        """The next `times` content GETs of this file send `n` body bytes, then drop the connection."""
        self._add_fault(repo_id, path, ("drop", n), times)

    def fail_with_status(self, repo_id: str, path: str, status: int = 503, *, times: int = 1) -> None:
        """The next `times` content GETs of this file answer `status` (no body)."""
        self._add_fault(repo_id, path, ("status", status), times)

    def stall_after_bytes(self, repo_id: str, path: str, n: int) -> None:
        """The next content GET of this file sends `n` body bytes, then holds until release_stalls(), then drops."""
        self._add_fault(repo_id, path, ("stall", n), 1)

    def release_stalls(self) -> None:
        self._stall.set()

    def _add_fault(self, repo_id: str, path: str, fault: tuple[str, int], times: int) -> None:
        with self._lock:
            self._faults.setdefault((repo_id, path), deque()).extend([fault] * times)

    def _next_fault(self, repo_id: str, path: str) -> tuple[str, int] | None:
        with self._lock:
            queue = self._faults.get((repo_id, path))
            return queue.popleft() if queue else None

    # --- requests ------------------------------------------------------------------------------------
    def requests_for(self, file: str | None = None, *, method: str | None = None, since: int = 0,
                     listener: str | None = None) -> list[RecordedRequest]:
        """Recorded requests (from index `since`), optionally only those for repo file `file`, `method`, `listener`."""
        with self._lock:
            found = self.requests[since:]
        return [r for r in found if (file is None or r.file == file) and (method is None or r.method == method)
                and (listener is None or r.listener == listener)]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    @property
    def valid_tokens(self) -> set[str]:
        return {r.token for r in self.repos.values() if r.token} | self.extra_tokens

    # --- lifecycle -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._hub is not None, "server not started"
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        assert self._cdn is not None, "server not started"
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> HubServer:
        self._stall.clear()
        self._hub, self._cdn = _Listener(self, "hub"), _Listener(self, "cdn")
        for listener in (self._hub, self._cdn):
            thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stall.set()
        for listener in (self._hub, self._cdn):
            if listener is not None:
                listener.shutdown()
                listener.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    timeout = 30
    server: _Listener

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")

    # --- plumbing ------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        record = RecordedRequest(self.server.role, method, unquote(split.path), split.query,
                                 self.headers.get("Range"), self.headers.get("Authorization") is not None)
        hub._record(record)
        self._rec = record
        try:
            segments = [unquote(s) for s in split.path.split("/")[1:]]
            if self.server.role == "cdn":
                self._cdn(method, segments, parse_qs(split.query))
            elif segments[:2] == ["api", "models"]:
                self._api(segments[2:], parse_qs(split.query))
            elif "resolve" in segments:
                self._resolve(method, segments)
            else:
                raise _Reply(404, "Not found")
        except _Reply as reply:
            self._error(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, reply: _Reply) -> None:
        body = json.dumps({"error": reply.message}).encode()
        headers = {"X-Error-Message": reply.message, **reply.headers}
        self._head(reply.status, {"Content-Type": "application/json", **headers}, len(body))
        if self.command != "HEAD":
            self._write(body)

    def _head(self, status: int, headers: dict[str, str], length: int) -> None:
        self._rec.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self._rec.body_bytes += len(data)

    def _json(self, payload: object) -> None:
        body = json.dumps(payload).encode()
        self._head(200, {"Content-Type": "application/json"}, len(body))
        self._write(body)

    def _drop(self) -> None:
        """Close the TCP connection mid-body: the client sees a response shorter than its Content-Length."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- auth and lookup -----------------------------------------------------------------------------
    def _repo(self, repo_id: str) -> Repo:
        """The repo, if this request may see it; else the Hub's answer (which does not tell private from missing)."""
        hub = self.server.hub
        header = self.headers.get("Authorization")
        token = header[len("Bearer "):] if header and header.startswith("Bearer ") else None
        if header is not None and token not in hub.valid_tokens:
            raise _Reply(401, "Invalid credentials in Authorization header")
        repo = hub.repos.get(repo_id)
        if repo is None or (repo.token is not None and token != repo.token):
            status = 401 if header is None else 404
            raise _Reply(status, "Repository not found", {"X-Error-Code": "RepoNotFound"})
        return repo

    @staticmethod
    def _commit(repo: Repo, revision: str) -> tuple[str, dict[str, Blob]]:
        sha = repo.resolve(revision)
        if sha is None:
            raise _Reply(404, f"Invalid rev id: {revision}", {"X-Error-Code": "RevisionNotFound"})
        return sha, repo.commits[sha]

    def _split_repo(self, segments: list[str], marker_at: int | None = None) -> tuple[str, list[str]]:
        """Known repo ids first (longest match), else namespace/name."""
        for repo_id in sorted(self.server.hub.repos, key=len, reverse=True):
            parts = repo_id.split("/")
            if segments[: len(parts)] == parts:
                return repo_id, segments[len(parts):]
        cut = marker_at if marker_at is not None else min(2, len(segments))
        return "/".join(segments[:cut]), segments[cut:]

    # --- endpoints -----------------------------------------------------------------------------------
    def _api(self, segments: list[str], query: dict[str, list[str]]) -> None:
        if self.command != "GET":
            raise _Reply(405, "Method not allowed")
        marker = next((i for i, s in enumerate(segments) if s in ("revision", "tree")), None)
        repo_id, rest = self._split_repo(segments, marker)
        self._rec.repo_id = repo_id
        repo = self._repo(repo_id)
        if not rest or rest[0] == "revision":
            revision = rest[1] if len(rest) > 1 else "main"
            sha, files = self._commit(repo, revision)
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            self._json(self._info(repo, sha, files, blobs))
        elif rest[0] == "tree" and len(rest) >= 2:
            sha, files = self._commit(repo, rest[1])
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            self._json(self._tree(files, "/".join(rest[2:]).strip("/"), recursive))
        else:
            raise _Reply(404, "Not found")

    @staticmethod
    def _info(repo: Repo, sha: str, files: dict[str, Blob], blobs: bool) -> dict:
        siblings = []
        for path in sorted(files):
            sibling: dict = {"rfilename": path}
            if blobs:
                blob = files[path]
                sibling.update(size=len(blob.data), blobId=blob.git_oid)
                if blob.lfs:
                    sibling["lfs"] = {"sha256": blob.sha256, "size": len(blob.data), "pointerSize": len(blob.pointer)}
            siblings.append(sibling)
        author = repo.repo_id.split("/")[0] if "/" in repo.repo_id else None
        return {"_id": sha[:24], "id": repo.repo_id, "modelId": repo.repo_id, "author": author, "sha": sha,
                "lastModified": LAST_MODIFIED, "createdAt": LAST_MODIFIED, "private": repo.token is not None,
                "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings}

    @staticmethod
    def _tree(files: dict[str, Blob], prefix: str, recursive: bool) -> list[dict]:
        base = f"{prefix}/" if prefix else ""
        folders = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
        if prefix and prefix not in folders:
            raise _Reply(404, f"{prefix} does not exist", {"X-Error-Code": "EntryNotFound"})

        def wanted(path: str) -> bool:
            return path.startswith(base) and (recursive or "/" not in path[len(base):])

        entries: list[dict] = [
            {"type": "directory", "oid": hashlib.sha1(d.encode(), usedforsecurity=False).hexdigest(), "path": d}
            for d in sorted(folders) if wanted(d)
        ]
        for path in sorted(p for p in files if wanted(p)):
            blob = files[path]
            entry: dict = {"type": "file", "oid": blob.git_oid, "size": len(blob.data), "path": path}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": len(blob.pointer)}
            entries.append(entry)
        return entries

    def _resolve(self, method: str, segments: list[str]) -> None:
        at = segments.index("resolve")
        if at == 0 or at + 2 >= len(segments):
            raise _Reply(404, "Not found")
        repo_id, revision, path = "/".join(segments[:at]), segments[at + 1], "/".join(segments[at + 2:])
        self._rec.repo_id, self._rec.file = repo_id, path
        repo = self._repo(repo_id)
        sha, files = self._commit(repo, revision)
        blob = files.get(path)
        if blob is None:
            raise _Reply(404, "Entry not found", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha})
        if blob.lfs:
            location = (f"{self.server.hub.cdn_url}/lfs/{self.server.hub._secret}/{blob.sha256}"
                        f"?repo={quote(repo_id, safe='')}&file={quote(path, safe='')}")
            self._head(302, {"Location": location, "X-Repo-Commit": sha, "ETag": f'"{blob.git_oid}"',
                             "X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.data))}, 0)
            return
        self._content(method, repo_id, path, blob.data, {"X-Repo-Commit": sha, "ETag": f'"{blob.git_oid}"'})

    def _cdn(self, method: str, segments: list[str], query: dict[str, list[str]]) -> None:
        hub = self.server.hub
        if len(segments) != 3 or segments[0] != "lfs" or segments[1] != hub._secret:
            raise _Reply(403, "Forbidden")
        repo_id, path = query.get("repo", [""])[0], query.get("file", [""])[0]
        self._rec.repo_id, self._rec.file = repo_id, path
        for repo in hub.repos.values():
            for files in repo.commits.values():
                blob = files.get(path)
                if repo.repo_id == repo_id and blob is not None and blob.sha256 == segments[2]:
                    self._content(method, repo_id, path, blob.data, {"ETag": f'"{blob.sha256}"'})
                    return
        raise _Reply(404, "Not found")

    def _content(self, method: str, repo_id: str, path: str, data: bytes, headers: dict[str, str]) -> None:
        """Send a file's bytes: Range -> 206, and the next injected fault for this file on GET."""
        size, start, end, status = len(data), 0, len(data) - 1, 200
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", **headers}
        requested = self.headers.get("Range")
        if requested:
            match = _RANGE.match(requested.strip())
            if not match or (not match.group(1) and not match.group(2)):
                raise _Reply(416, "Bad range", {"Content-Range": f"bytes */{size}"})
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            else:  # bytes=-K: the last K bytes
                start = max(size - int(match.group(2)), 0)
            if start >= size or start > end:
                raise _Reply(416, "Requested range not satisfiable", {"Content-Range": f"bytes */{size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        fault = self.server.hub._next_fault(repo_id, path) if method == "GET" else None
        if fault and fault[0] == "status":
            raise _Reply(fault[1], "Injected failure")
        body = data[start:end + 1]
        self._head(status, headers, len(body))
        if method == "HEAD":
            return
        if fault is None:
            self._write(body)
            return
        self._write(body[: fault[1]])
        if fault[0] == "stall":
            self.wfile.flush()
            self.server.hub._stall.wait(timeout=60)
        self._drop()
