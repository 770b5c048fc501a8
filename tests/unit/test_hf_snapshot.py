"""hf_snapshot module: the real module file, run as Ansible runs it, with the real huggingface_hub client.

The Hugging Face Hub cannot be reached from a test machine, so the client talks to tests/support/hf_server.py,
a Hub-compatible stand-in that serves the same endpoints and headers, records every request and injects faults.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import collections_path, module_command, module_env
from support.hf_server import HubServer

hf_constants = pytest.importorskip("huggingface_hub.constants", reason="the hf_snapshot module needs huggingface_hub")

REPO = Path(__file__).resolve().parents[2]
# The client writes what it receives in chunks of DOWNLOAD_CHUNK_SIZE (10 MiB in 2.4.0): a partial file, and so a
# resume offset, is a multiple of it. The big file is one chunk plus 2 MiB, cut after one chunk plus 1 MiB.
CHUNK = hf_constants.DOWNLOAD_CHUNK_SIZE
BIG = random.Random(7).randbytes(CHUNK + 2 * 1024 * 1024)
CUT = CHUNK + 1024 * 1024
TOKEN = "hf_sparkfleetTestToken0123456789abcdef"
MODEL = "org/model"
PRIVATE = "org/private"


def weights(seed: int, size: int = 200 * 1024) -> bytes:
    return random.Random(seed).randbytes(size)


V1 = {"config.json": b'{"v": 1}\n', "tokenizer/vocab.txt": b"a\nb\n", "model.safetensors": weights(1)}
V2 = {"config.json": b'{"v": 2}\n', "tokenizer/vocab.txt": b"a\nb\nc\n", "model.safetensors": weights(2)}


@pytest.fixture
def hub():
    with HubServer(lfs_threshold=64 * 1024, extra_tokens=("hf_validButNoAccess",)) as server:
        yield server


@pytest.fixture
def run(tmp_path):
    """Run the module file as Ansible does (args file with ANSIBLE_MODULE_ARGS); return (result, stdout+stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "HUGGING_FACE_HUB_TOKEN"}
    env["HF_HOME"] = str(tmp_path / "hf-home")  # no stored token, no shared cache
    calls = iter(range(1000))

    def invoke(check_mode: bool = False, background: bool = False, extra_env: dict | None = None, **args):
        args_file = tmp_path / f"args-{next(calls)}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}}))
        cmd = module_command("hf_snapshot", args_file)
        extra = dict(extra_env or {})
        run_env = module_env({**env, "PYTHONPATH": extra.pop("PYTHONPATH", env.get("PYTHONPATH", ""))})
        run_env.update(extra)
        if background:
            return subprocess.Popen(cmd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=120, check=False)
        try:
            result = json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"module printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        assert result.get("failed", False) == (proc.returncode != 0), proc.stdout
        return result, proc.stdout + proc.stderr

    return invoke


def tree(folder: Path) -> dict[str, bytes]:
    """The files under folder, without the client's .cache."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).parts[0] != ".cache"}


def partials(folder: Path) -> list[Path]:
    return sorted((folder / ".cache" / "huggingface" / "download").rglob("*.incomplete"))


def test_branch_resolves_to_its_commit_and_files_match(hub, run, tmp_path):
    sha = hub.add_commit(MODEL, V1)
    out = tmp_path / "model"
    result, _ = run(repo_id=MODEL, revision="main", local_dir=str(out), endpoint=hub.url)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["commit"] == sha
    assert result["files"] == {name: len(data) for name, data in V1.items()}
    assert sorted(result["downloaded"]) == sorted(V1)
    assert tree(out) == V1
    # the large file went the LFS way: 302 from the Hub, content from the other origin ("CDN")
    assert [r.status for r in hub.requests_for("model.safetensors", method="HEAD")] == [302]
    assert [r.listener for r in hub.requests_for("model.safetensors", method="GET")] == ["cdn"]


def test_revision_pins_a_commit_and_switching_rewrites_the_files(hub, run, tmp_path):
    old = hub.add_commit(MODEL, V1)
    new = hub.add_commit(MODEL, V2)  # main moves on
    out = tmp_path / "model"
    result, _ = run(repo_id=MODEL, revision=old, local_dir=str(out), endpoint=hub.url)
    assert result["commit"] == old and result["changed"] is True
    assert tree(out) == V1
    # a full commit id needs no lookup: no model info call
    assert not [r for r in hub.requests if r.path.startswith("/api/models/") and "/revision/" in r.path]

    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)  # revision defaults to main
    assert result["commit"] == new and result["changed"] is True
    assert sorted(result["downloaded"]) == sorted(V2)
    assert tree(out) == V2

    result, _ = run(repo_id=MODEL, revision=old, local_dir=str(out), endpoint=hub.url)
    assert result["commit"] == old and result["changed"] is True
    assert tree(out) == V1


def test_interrupted_transfer_resumes_in_the_same_run(hub, run, tmp_path):
    files = {**V1, "model.safetensors": BIG}
    hub.add_commit(MODEL, files)
    hub.fail_after_bytes(MODEL, "model.safetensors", CUT)  # connection dropped after 11 MiB
    out = tmp_path / "model"
    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert not result.get("failed"), result["msg"]
    gets = hub.requests_for("model.safetensors", method="GET")
    assert [g.range_start for g in gets] == [None, CHUNK]  # the client's own retry asked for the rest only
    assert gets[0].body_bytes == CUT and gets[1].status == 206 and gets[1].body_bytes == len(BIG) - CHUNK
    assert tree(out) == files
    assert partials(out) == []


def test_failed_run_leaves_a_partial_file_and_the_next_run_resumes_it(hub, run, tmp_path):
    files = {**V1, "model.safetensors": BIG}
    hub.add_commit(MODEL, files)
    hub.fail_after_bytes(MODEL, "model.safetensors", CUT)  # first GET cut after 11 MiB ...
    hub.fail_with_status(MODEL, "model.safetensors", 503)  # ... and the client's retry refused: the run fails
    out = tmp_path / "model"

    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert result["failed"] is True
    assert "HTTP 503" in result["msg"] and MODEL in result["msg"] and "resumes" in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
    (partial,) = partials(out)
    assert partial.stat().st_size == CHUNK and BIG.startswith(partial.read_bytes())
    assert not (out / "model.safetensors").exists()

    first_of_run2 = len(hub.requests)
    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert not result.get("failed"), result["msg"]
    gets = hub.requests_for("model.safetensors", method="GET", since=first_of_run2)
    assert [(g.range, g.status) for g in gets] == [(f"bytes={CHUNK}-", 206)]  # resumed, not restarted
    assert gets[0].body_bytes == len(BIG) - CHUNK
    assert result["resumed"] == {"model.safetensors": CHUNK}
    assert "model.safetensors" in result["downloaded"]
    assert tree(out) == files
    assert partials(out) == []


def test_killed_run_is_resumed_by_the_next_run(hub, run, tmp_path):
    """The realistic interruption: the process dies mid-file (task timeout, lost ssh connection, reboot)."""
    files = {"config.json": b"{}", "model.safetensors": BIG}
    hub.add_commit(MODEL, files)
    hub.stall_after_bytes(MODEL, "model.safetensors", CUT)
    out = tmp_path / "model"
    proc = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url, background=True)
    try:
        deadline = time.monotonic() + 30
        while not (partials(out) and partials(out)[0].stat().st_size >= CHUNK):
            assert time.monotonic() < deadline and proc.poll() is None, "the download never reached 10 MiB"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        hub.release_stalls()

    first_of_run2 = len(hub.requests)
    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert not result.get("failed"), result["msg"]
    gets = hub.requests_for("model.safetensors", method="GET", since=first_of_run2)
    assert [g.range_start for g in gets] == [CHUNK]
    assert result["resumed"] == {"model.safetensors": CHUNK}
    assert tree(out) == files


def test_second_run_changes_nothing_and_check_mode_predicts(hub, run, tmp_path):
    sha = hub.add_commit(MODEL, V1)
    out = tmp_path / "model"

    result, _ = run(check_mode=True, repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert result["changed"] is True and result["commit"] == sha
    assert sorted(result["downloaded"]) == sorted(V1)
    assert result["download_bytes"] == sum(len(d) for d in V1.values())
    assert not out.exists()  # check mode wrote nothing
    assert not hub.requests_for(method="GET", listener="cdn")

    assert run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)[0]["changed"] is True
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    first_of_run2 = len(hub.requests)
    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert result["changed"] is False and result["downloaded"] == [] and result["commit"] == sha
    assert result["files"] == {name: len(data) for name, data in V1.items()}
    # one call to resolve the branch; the files are known to be at that commit, so nothing else is asked
    assert [r.path for r in hub.requests[first_of_run2:]] == [f"/api/models/{MODEL}/revision/main"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes

    result, _ = run(check_mode=True, repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert result["changed"] is False and result["downloaded"] == []


def test_truncated_file_is_fetched_again(hub, run, tmp_path):
    hub.add_commit(MODEL, V1)
    out = tmp_path / "model"
    run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    (out / "model.safetensors").write_bytes(V1["model.safetensors"][:1000])
    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url)
    assert result["changed"] is True and result["downloaded"] == ["model.safetensors"]
    assert tree(out) == V1


def test_allow_patterns_limit_the_files(hub, run, tmp_path):
    hub.add_commit(MODEL, V1)
    out = tmp_path / "model"
    result, _ = run(repo_id=MODEL, local_dir=str(out), endpoint=hub.url, allow_patterns=["*.json"])
    assert result["files"] == {"config.json": len(V1["config.json"])}
    assert tree(out) == {"config.json": V1["config.json"]}


def test_private_repo_needs_the_token_and_never_shows_it(hub, run, tmp_path):
    hub.add_commit(PRIVATE, V1, token=TOKEN)
    out = tmp_path / "model"

    result, output = run(repo_id=PRIVATE, local_dir=str(out), endpoint=hub.url)
    assert result["failed"] is True and TOKEN not in output
    assert f"token missing or wrong for {PRIVATE}" in result["msg"] and "no token was given" in result["msg"]

    result, output = run(repo_id=PRIVATE, local_dir=str(out), endpoint=hub.url, token="hf_wrong")
    assert result["failed"] is True and f"token missing or wrong for {PRIVATE}" in result["msg"]
    assert "rejected the token" in result["msg"] and "hf_wrong" not in output

    first = len(hub.requests)
    result, output = run(repo_id=PRIVATE, local_dir=str(out), endpoint=hub.url, token=TOKEN)
    assert not result.get("failed"), result["msg"]
    assert tree(out) == V1
    assert TOKEN not in output
    assert all(r.authorization for r in hub.requests_for(since=first, listener="hub"))
    cdn = hub.requests_for(since=first, listener="cdn")
    assert cdn and not any(r.authorization for r in cdn)  # the client keeps the token off other hosts


def test_token_stays_out_of_ansible_output(hub, tmp_path):
    """Through real Ansible (ad-hoc, -vvv): no_log keeps the token out, even from a failure."""
    hub.add_commit(PRIVATE, V1, token=TOKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ANSIBLE_"))}
    env.update(HF_HOME=str(tmp_path / "hf-home"), ANSIBLE_COLLECTIONS_PATH=str(collections_path()), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    ansible = Path(sys.executable).with_name("ansible")
    if not ansible.exists():
        pytest.skip(f"no ansible next to {sys.executable}")
    for repo, expect_rc in ((PRIVATE, 0), ("org/missing", 2)):
        args = json.dumps({"repo_id": repo, "local_dir": str(tmp_path / "m"), "endpoint": hub.url, "token": TOKEN})
        proc = subprocess.run([str(ansible), "localhost", "-m", "sparkfleet.spark.hf_snapshot", "-a", args, "-vvv"],
                              env=env, capture_output=True, text=True, timeout=180, check=False)
        assert proc.returncode == expect_rc, proc.stdout + proc.stderr
        assert TOKEN not in proc.stdout + proc.stderr


def test_unknown_repo_and_revision_fail_clearly(hub, run, tmp_path):
    hub.add_commit(MODEL, V1)
    out = str(tmp_path / "model")

    result, _ = run(repo_id="org/missing", local_dir=out, endpoint=hub.url, token="hf_validButNoAccess")
    assert result["failed"] is True
    assert result["msg"].startswith("repository org/missing not found at") and "HTTP 404" in result["msg"]

    result, _ = run(repo_id="org/missing", local_dir=out, endpoint=hub.url)  # like the Hub: 401 without a token
    assert result["failed"] is True and "token missing or wrong for org/missing" in result["msg"]
    assert "does not exist" in result["msg"]

    result, _ = run(repo_id=MODEL, revision="no-such-branch", local_dir=out, endpoint=hub.url)
    assert result["failed"] is True and result["msg"].startswith("revision 'no-such-branch' not found in org/model")

    with HubServer() as gone:
        closed = gone.url  # a port nobody listens on once this server stops
    result, _ = run(repo_id=MODEL, local_dir=out, endpoint=closed)
    assert result["failed"] is True and result["msg"].startswith("cannot reach the Hub for org/model"), result["msg"]


def test_missing_client_says_which_python_and_how_to_fix(run, tmp_path):
    """A stand-in package that fails to import, as on a host whose Python lacks huggingface_hub."""
    fake = tmp_path / "no-hub" / "huggingface_hub"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named huggingface_hub')\n")
    result, _ = run(repo_id=MODEL, local_dir=str(tmp_path / "m"), extra_env={"PYTHONPATH": str(fake.parent)})
    assert result["failed"] is True
    assert f"huggingface_hub is not importable by {sys.executable}" in result["msg"]
    assert "pip install" in result["msg"] and "ansible_python_interpreter" in result["msg"]
