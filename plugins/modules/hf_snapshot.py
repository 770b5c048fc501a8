#!/usr/bin/python
# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module: download a Hugging Face model snapshot into a folder with the official client, resumably.

The helpers (listing, describe_error, the resumable download) are plain functions so tests can import them;
the module itself is exercised by running this file as Ansible does, against a Hub stand-in.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hf_snapshot
short_description: Download a Hugging Face model snapshot (pinned revision, resumable) into a folder
description:
  - Downloads the files of a model repository at one revision into O(local_dir) with
    C(huggingface_hub.snapshot_download), the client vLLM itself uses, on the host that runs the module.
  - The revision (a branch, tag or commit) is resolved to its commit id first and the download is pinned to
    that commit, so a branch moving during the download cannot mix two revisions. The commit is returned so
    callers can record and pin it.
  - Files already present at the right commit are not fetched again (C(changed=false)). A download cut off
    mid-file resumes where it stopped, both within a run (the client retries with an HTTP Range request) and
    across runs (a partial file is kept as C(<local_dir>/.cache/huggingface/download/*.<etag>.incomplete) and
    continued with a Range request). LFS files (etag = sha256) are checked against their sha256 after download.
  - In check mode the commit is resolved and the tree listing is compared with the files and the client's
    download records in O(local_dir); nothing is written (the client's own dry run creates folders and lock files).
version_added: "0.1.0"
author: sparkfleet contributors
requirements:
  - huggingface_hub >= 1.0 (tested with 2.4.0) importable by the Python that runs the module
    (set C(ansible_python_interpreter) to vLLM's venv, or install it for the system Python).
options:
  repo_id:
    description: Model repository, C(namespace/name).
    type: str
    required: true
  revision:
    description: Branch, tag or full commit id. Pin a commit id for reproducible hosts.
    type: str
    default: main
  local_dir:
    description: Folder the files are written to (created if missing).
    type: path
    required: true
  endpoint:
    description:
      - Hub URL (a mirror or a Hub-compatible server). Default from C(HF_ENDPOINT), else https://huggingface.co.
    type: str
  token:
    description:
      - Hugging Face access token for private or gated repos. Never logged or returned.
      - Without it the client's own token (C(HF_TOKEN) or a stored login) is used if there is one.
    type: str
  allow_patterns:
    description: Only files matching one of these glob patterns are downloaded (e.g. C(*.safetensors)).
    type: list
    elements: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Large files served through Xet storage (when C(hf_xet) is installed) are fetched by hf_xet, which keeps its
    own chunk cache; the cross-run byte resume above applies to plain HTTP downloads.
"""

EXAMPLES = r"""
- name: Download Qwen3-VL at a pinned commit
  sparkfleet.spark.hf_snapshot:
    repo_id: Qwen/Qwen3-VL-8B-Instruct
    revision: "{{ model_revision }}"
    local_dir: /srv/models/Qwen3-VL-8B-Instruct
    token: "{{ vault_hf_token | default(omit) }}"
  register: model_snapshot

- name: Only the weights and configs, from a mirror
  sparkfleet.spark.hf_snapshot:
    repo_id: Qwen/Qwen3-VL-8B-Instruct
    local_dir: /srv/models/Qwen3-VL-8B-Instruct
    endpoint: https://hf-mirror.example.org
    allow_patterns: ["*.json", "*.safetensors", "*.txt"]
"""

RETURN = r"""
commit:
  description: Commit id the revision resolved to (what the files are).
  returned: always
  type: str
  sample: 0123456789abcdef0123456789abcdef01234567
revision:
  description: The revision asked for.
  returned: always
  type: str
  sample: main
local_dir:
  description: Absolute path of the folder.
  returned: always
  type: str
files:
  description: Repository files of the snapshot (after allow_patterns), relative path to size in bytes.
  returned: always
  type: dict
  sample: {"config.json": 1234, "model-00001-of-00004.safetensors": 4968243304}
downloaded:
  description: Files written by this run (in check mode, those that would be).
  returned: always
  type: list
  elements: str
resumed:
  description: Files whose download continued a partial file from an earlier run, with the byte offset.
  returned: success
  type: dict
  sample: {"model-00001-of-00004.safetensors": 2147483648}
download_bytes:
  description: In check mode, bytes that would be downloaded.
  returned: check mode
  type: int
"""

import hashlib  # noqa: E402
import inspect  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

COMMIT = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")
DEFAULT_ENDPOINT = "https://huggingface.co"
TRANSPORT_ERRORS = {"ConnectError", "ConnectTimeout", "TimeoutException", "ReadTimeout", "WriteTimeout", "PoolTimeout",
                    "ReadError", "WriteError", "RemoteProtocolError", "NetworkError", "ProxyError",
                    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError"}


def listing(local_dir: str | Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of the files under local_dir, without the client's .cache folder."""
    root = Path(local_dir)
    found: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".cache" in dirnames:
            dirnames.remove(".cache")
        for name in filenames:
            path = Path(dirpath, name)
            st = path.stat()
            found[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return found


def partial_files(local_dir: str | Path) -> list[Path]:
    """Partial downloads the client left under local_dir/.cache/huggingface/download."""
    folder = Path(local_dir, ".cache", "huggingface", "download")
    return sorted(folder.rglob("*.incomplete")) if folder.is_dir() else []


def missing_hub_message(error: BaseException) -> str:
    return (f"huggingface_hub is not importable by {sys.executable} (Python {sys.version.split()[0]}): {error}. "
            f"Install it for that Python ({sys.executable} -m pip install 'huggingface_hub>=1.0'), or run the module "
            "with a Python that has it (ansible_python_interpreter, e.g. the vLLM venv's bin/python).")


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if any(current is e for e in seen):
            continue
        seen.append(current)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def describe_error(error: BaseException, *, repo_id: str, revision: str, endpoint: str, token_given: bool,
                   hub_errors: object = None, partials: int = 0) -> str:
    """One clear sentence for a failed resolve or download (the caller scrubs the token from it)."""
    def is_a(exc: BaseException, name: str) -> bool:
        cls = getattr(hub_errors, name, None)
        return isinstance(exc, cls) if isinstance(cls, type) else type(exc).__name__ == name

    where = f"{repo_id} (revision {revision}) at {endpoint}"
    resume = (f"; {partials} partial file(s) are kept and the next run resumes them" if partials else "")
    token_note = ("a token was given but the Hub rejected it or it has no access to the repository"
                  if token_given else "no token was given (token option, HF_TOKEN or a stored login)")
    for exc in _chain(error):
        status = _status(exc)
        if is_a(exc, "GatedRepoError"):
            return (f"{repo_id} is gated at {endpoint} (HTTP {status}): accept its conditions on the Hub with the "
                    f"account whose token is used; {token_note}")
        if is_a(exc, "RevisionNotFoundError"):
            return f"revision {revision!r} not found in {repo_id} at {endpoint} (HTTP {status}): check the revision"
        if is_a(exc, "RemoteEntryNotFoundError") or is_a(exc, "EntryNotFoundError"):
            return f"a file of {where} was not found on the Hub (HTTP {status}): {_first_line(exc)}"
        if status == 401 and token_given and "Invalid credentials" in _error_message(exc):
            return (f"token missing or wrong for {repo_id}: {endpoint} rejected the token given "
                    "(HTTP 401, invalid credentials)")
        if status == 401:
            return (f"token missing or wrong for {repo_id} (HTTP 401 from {endpoint}): {token_note}; "
                    "or the repository does not exist (the Hub answers 401 for both without a valid token)")
        if is_a(exc, "RepositoryNotFoundError") or status == 404:
            hint = " and that the token's account can see it" if token_given else ""
            return f"repository {repo_id} not found at {endpoint} (HTTP {status}): check repo_id{hint}"
        if status == 403:
            return f"access to {repo_id} refused at {endpoint} (HTTP 403): {token_note}"
        if status is not None and is_a(exc, "HfHubHTTPError"):
            response = getattr(exc, "response", None)
            url = str(getattr(response, "url", "") or "").split("?")[0]  # CDN urls carry signatures in the query
            reason = getattr(response, "reason_phrase", "") or ""
            return f"HTTP {status} {reason} from {url or endpoint} while fetching {where}{resume}".replace("  ", " ")
        if type(exc).__name__ in TRANSPORT_ERRORS or isinstance(exc, ConnectionError):
            what = "the download was interrupted" if partials else "cannot reach the Hub"
            return f"{what} for {where}: {type(exc).__name__}: {_first_line(exc)}{resume}"
        if is_a(exc, "IncompleteSnapshotError"):
            return f"the snapshot of {where} is incomplete: {_first_line(exc)}"
    return f"downloading {where} failed: {type(error).__name__}: {_first_line(error)}{resume}"


def _error_message(error: BaseException) -> str:
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    return str(headers.get("X-Error-Message", "")) + " " + str(error)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:3])[:500] if lines else type(error).__name__


def scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "********") if secret else text


class ResumableDownloads:
    """Keep partial files across runs and continue them with a Range request.

    huggingface_hub 2.x downloads each file to a process-unique temporary file and deletes it on failure, so a
    new run starts every interrupted file from byte 0. While active, this replaces the client's
    `file_download._download_to_tmp_and_move` (same signature) with a version that appends to the client's own
    per-etag `incomplete_path` and passes its size to the client's `http_get(resume_size=...)`; the client's
    per-file lock still guards it. Xet downloads go to the original function. If the client's function does not
    look as expected, nothing is replaced (`active` stays False) and the stock behaviour applies.
    """

    EXPECTED = ("incomplete_path", "destination_path", "url_to_download", "headers", "expected_size", "filename",
                "force_download", "etag", "xet_file_data", "tqdm_class")

    def __init__(self, file_download: object):
        self.fd = file_download
        self.original = getattr(file_download, "_download_to_tmp_and_move", None)
        self.resumed: dict[str, int] = {}
        self.active = False

    def __enter__(self) -> ResumableDownloads:
        needed = ("http_get", "_chmod_and_move", "is_xet_available")
        if self.original is None or not all(hasattr(self.fd, n) for n in needed):
            return self
        if tuple(inspect.signature(self.original).parameters) != self.EXPECTED:
            return self
        self.fd._download_to_tmp_and_move = self._download
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            self.fd._download_to_tmp_and_move = self.original
            self.active = False

    def _download(self, incomplete_path: Path, destination_path: Path, url_to_download: str, headers: dict,
                  expected_size: int | None, filename: str, force_download: bool, etag: str | None,
                  xet_file_data: object, tqdm_class: object = None) -> None:
        fd = self.fd
        if xet_file_data is not None and fd.is_xet_available():
            return self.original(incomplete_path=incomplete_path, destination_path=destination_path,
                                 url_to_download=url_to_download, headers=headers, expected_size=expected_size,
                                 filename=filename, force_download=force_download, etag=etag,
                                 xet_file_data=xet_file_data, tqdm_class=tqdm_class)
        if destination_path.exists() and not force_download:
            return None
        partial = Path(incomplete_path)
        partial.parent.mkdir(parents=True, exist_ok=True)
        have = partial.stat().st_size if partial.exists() and not force_download else 0
        if expected_size is not None and have > expected_size:
            have = 0  # not a prefix of this file: start over
        with partial.open("r+b" if have else "wb") as f:
            f.truncate(have)
            f.seek(have)
            if have:
                self.resumed[filename] = have
            if expected_size is not None:
                free = shutil.disk_usage(partial.parent).free
                if free < expected_size - have:
                    raise OSError(f"not enough disk space for {filename}: {expected_size - have} bytes needed, "
                                  f"{free} free in {partial.parent}")
            fd.http_get(url_to_download, f, resume_size=have, headers=headers, expected_size=expected_size,
                        displayed_filename=filename, tqdm_class=tqdm_class)
        if etag and SHA256.fullmatch(etag):
            digest = hashlib.sha256()
            with partial.open("rb") as f:
                for block in iter(lambda: f.read(8 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != etag:
                partial.unlink(missing_ok=True)
                raise OSError(f"{filename}: sha256 of the downloaded file does not match the Hub's ({etag}); "
                              "the partial file was removed, run again")
        fd._chmod_and_move(partial, destination_path)
        return None


def resolve_commit(api: object, repo_id: str, revision: str) -> str:
    if COMMIT.fullmatch(revision):
        return revision
    info = api.model_info(repo_id, revision=revision)
    if not info.sha:
        raise RuntimeError(f"the Hub returned no commit id for {repo_id} at {revision}")
    return info.sha


def expected_files(hub: object, api: object, repo_id: str, commit: str, local_dir: str,
                   allow_patterns: list[str] | None) -> dict[str, int]:
    """Repository files at `commit` (after allow_patterns) with their sizes.

    From the tree listing the client cached in local_dir; else (older client, or the client fell back to the local
    folder because the Hub was unreachable) from the Hub, so an unconfirmed snapshot fails instead of passing.
    """
    from huggingface_hub.utils import filter_repo_objects

    try:
        tree = hub.get_cached_repo_tree(repo_id, revision=commit, local_dir=local_dir)
    except Exception:
        tree = [f for f in api.list_repo_tree(repo_id, revision=commit, recursive=True)
                if getattr(f, "blob_id", None) is not None]
    sizes = {f.path: f.size for f in tree}
    return {p: sizes[p] for p in filter_repo_objects(sizes, allow_patterns=allow_patterns)}


def local_metadata(local_dir: str, filename: str) -> tuple[str, str] | None:
    """(commit, etag) the client recorded for a downloaded file, if still valid (file not modified since).

    Read directly (the client's own reader creates folders and lock files, which check mode must not).
    """
    meta = Path(local_dir, ".cache", "huggingface", "download", f"{filename}.metadata")
    try:
        commit, etag, timestamp = meta.read_text().splitlines()[:3]
        if Path(local_dir, filename).stat().st_mtime - 1 <= float(timestamp):
            return commit.strip(), etag.strip()
    except (OSError, ValueError):
        pass
    return None


def plan(api: object, repo_id: str, commit: str, local_dir: str, allow_patterns: list[str] | None
         ) -> tuple[dict[str, int], list[str]]:
    """Check mode: the snapshot's files and those a download would write, from one tree listing; writes nothing.

    (The client's dry run is not used: it creates the local folder, bookkeeping folders and lock files.)
    """
    from huggingface_hub.utils import filter_repo_objects

    entries = {f.path: f for f in api.list_repo_tree(repo_id, revision=commit, recursive=True)
               if getattr(f, "blob_id", None) is not None}
    wanted = sorted(filter_repo_objects(entries, allow_patterns=allow_patterns))
    present = listing(local_dir)
    would = []
    for name in wanted:
        entry = entries[name]
        etag = entry.lfs.sha256 if entry.lfs is not None else entry.blob_id
        meta = local_metadata(local_dir, name)
        up_to_date = meta is not None and (meta[0] == commit or meta[1] == etag)
        if present.get(name, (None,))[0] != entry.size or not up_to_date:
            would.append(name)
    return {name: entries[name].size for name in wanted}, would


def run(module: AnsibleModule, hub: object) -> dict:
    p = module.params
    repo_id, revision, token = p["repo_id"], p["revision"], p["token"]
    local_dir = str(Path(p["local_dir"]).resolve())  # type path: ~ is already expanded
    allow = p["allow_patterns"] or None
    endpoint = (p["endpoint"] or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    api = hub.HfApi(endpoint=endpoint, token=token)
    result: dict = {"repo_id": repo_id, "revision": revision, "local_dir": local_dir}

    commit = resolve_commit(api, repo_id, revision)
    result["commit"] = commit
    common = {"revision": commit, "local_dir": local_dir, "endpoint": endpoint, "token": token,
              "allow_patterns": allow}

    if module.check_mode:
        files, would = plan(api, repo_id, commit, local_dir, allow)
        return {**result, "changed": bool(would), "files": files, "downloaded": would,
                "download_bytes": sum(files[f] for f in would)}

    before = listing(local_dir)
    with ResumableDownloads(hub.file_download) as resumable:
        if not resumable.active:
            module.warn("this huggingface_hub version's download function is not the expected one: interrupted "
                        "files restart from the beginning on the next run")
        hub.snapshot_download(repo_id, **common)
        files = expected_files(hub, api, repo_id, commit, local_dir, allow)
        wrong = [f for f, size in files.items() if listing(local_dir).get(f, (None,))[0] != size]
        if wrong:  # present with matching metadata but not the right size (truncated or edited): fetch again
            for name in wrong:
                Path(local_dir, name).unlink(missing_ok=True)
            hub.snapshot_download(repo_id, **common)
            now = listing(local_dir)
            still = [f for f in wrong if now.get(f, (None,))[0] != files[f]]
            if still:
                raise RuntimeError(f"after download these files still differ in size from the Hub's: {still}")
    for stale in partial_files(local_dir):  # all files are complete: what is left belongs to no download
        stale.unlink(missing_ok=True)
    after = listing(local_dir)
    downloaded = sorted(f for f, st in after.items() if before.get(f) != st)
    return {**result, "changed": bool(downloaded), "files": dict(sorted(files.items())), "downloaded": downloaded,
            "resumed": resumable.resumed}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "repo_id": {"type": "str", "required": True},
            "revision": {"type": "str", "default": "main"},
            "local_dir": {"type": "path", "required": True},
            "endpoint": {"type": "str"},
            "token": {"type": "str", "no_log": True},
            "allow_patterns": {"type": "list", "elements": "str"},
        },
        supports_check_mode=True,
    )
    # Before the import: the client reads these at import time. Progress bars would only clutter stderr.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import huggingface_hub as hub
        import huggingface_hub.file_download  # makes hub.file_download available
    except ImportError as error:
        module.fail_json(msg=missing_hub_message(error))

    p = module.params
    token = p["token"]
    try:
        result = run(module, hub)
    except Exception as error:
        endpoint = (p["endpoint"] or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        local_dir = Path(p["local_dir"])
        msg = describe_error(error, repo_id=p["repo_id"], revision=p["revision"], endpoint=endpoint,
                             token_given=bool(token), hub_errors=getattr(hub, "errors", None),
                             partials=len(partial_files(local_dir)) if not module.check_mode else 0)
        module.fail_json(msg=scrub(msg, token), error_type=type(error).__name__,
                         exception=scrub(traceback.format_exc(), token))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
