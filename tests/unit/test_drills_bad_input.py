"""Drill: bad input of every kind the CLI and the video endpoint take. Each must get a clear error (a message
and, from the CLI, exit code 2 with a `Fix:`; from the endpoint a 4xx with {"error": {code, message}}), never a
traceback, never a 5xx. The CLI runs in-process through its real entry point (`sparkfleet.cli.main`, a real
project folder); the endpoint is the real app over real HTTP handling, with real ffprobe, and vLLM down (a closed
port), so a bad input that slipped past the checks to vLLM would show as a 503 and fail here.

docs/reliability.md lists every case by its label with the answer it gets; the last test keeps the two in step.
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
from helpers import REPO
from sparkfleet.cli import main

# label -> (arguments, text to write to a project file first or None, a fragment the error must contain)
CLI_CASES: dict[str, tuple[list[str], tuple[str, bytes] | None, str]] = {
    "host add: name with a space": (["host", "add", "bad name", "--address", "10.0.0.1", "--user", "me"], None,
                                    "Invalid host name"),
    "host add: name starting with '-'": (["host", "add", "--address", "10.0.0.1", "--user", "me", "--", "-x"], None,
                                         "Invalid host name"),
    "host add: name already there": (["host", "add", "s1", "--address", "10.0.0.2", "--user", "me"], None,
                                      "already in the inventory"),
    "host add: address with spaces and '!'": (["host", "add", "s2", "--address", "not an address!", "--user", "me"],
                                              None, "Invalid address"),
    "host add: address with a shell metacharacter": (["host", "add", "s2", "--address", "10.0.0.1;id",
                                                      "--user", "me"], None, "Invalid address"),
    "host add: user with shell characters": (["host", "add", "s2", "--address", "10.0.0.1", "--user", "root;rm -rf"],
                                             None, "Invalid user name"),
    "host add: port 70000": (["host", "add", "s2", "--address", "10.0.0.1", "--user", "me", "--port", "70000"],
                             None, "Invalid port"),
    "host add: port 'abc'": (["host", "add", "s2", "--address", "10.0.0.1", "--user", "me", "--port", "abc"],
                             None, "not a valid integer"),
    "host add: group with a space": (["host", "add", "s2", "--address", "10.0.0.1", "--user", "me", "--group",
                                      "bad group"], None, "Invalid group name"),
    "host add: group 'all'": (["host", "add", "s2", "--address", "10.0.0.1", "--user", "me", "--group", "all"],
                              None, "reserved"),
    "host remove: unknown host": (["host", "remove", "nope"], None, "No host named"),
    "host trust: unknown host": (["host", "trust", "nope"], None, "No host named"),
    "up --model: unknown model": (["up", "--model", "nope/nope"], None, "Unknown model"),
    "up --model: a path": (["up", "--model", "../../etc/passwd"], None, "Unknown model"),
    "notes: unknown host": (["notes", "show", "nope"], None, "No host named"),
    "notes add: unknown host": (["notes", "add", "nope", "hello"], None, "No host named"),
    "report: unknown run id": (["report", "20990101T000000-up-abcd"], None, "No run"),
    "report: a path as run id": (["report", "../../../etc/passwd"], None, "not a run id"),
    "--project: not a project": (["--project", "/nonexistent-sparkfleet", "host", "list"], None,
                                 "is not a sparkfleet project"),
    "lab up --hosts 0": (["lab", "up", "--hosts", "0"], None, "between 1 and 16"),
    "lab up --hosts -3": (["lab", "up", "--hosts", "-3"], None, "between 1 and 16"),
    "lab up --os windows": (["lab", "up", "--os", "windows"], None, "is not one of"),
    "unknown command": (["frobnicate"], None, "No such command"),
    "unknown option": (["up", "--bogus"], None, "No such option"),
    "inventory: broken YAML": (["host", "list"], ("inventory/hosts.yml", b"all: [unclosed\n"), "not valid YAML"),
    "inventory: a list, not a mapping": (["host", "list"], ("inventory/hosts.yml", b"- a\n- b\n"),
                                         "shape of an inventory"),
    "inventory: not UTF-8": (["host", "list"], ("inventory/hosts.yml", b"\xff\xfe\x00"), "not valid YAML"),
    "inventory: broken YAML, then up": (["up"], ("inventory/hosts.yml", b"all: {children: [\n"), "not valid YAML"),
}


def sparkfleet(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    """The real entry point in this process: (exit code, stdout + stderr). A crash raises here, failing the test."""
    monkeypatch.setattr("sys.argv", ["sparkfleet", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


@pytest.fixture
def project(tmp_path, capsys, monkeypatch) -> Path:
    root = tmp_path / "p"
    assert sparkfleet(["init", str(root)], capsys, monkeypatch)[0] == 0
    added = sparkfleet(["--project", str(root), "host", "add", "s1", "--address", "10.0.0.9", "--user", "me"],
                       capsys, monkeypatch)
    assert added[0] == 0, added
    return root


@pytest.mark.parametrize("label", list(CLI_CASES))
def test_cli_bad_input_gets_a_clear_error(label, project, capsys, monkeypatch):
    args, file, fragment = CLI_CASES[label]
    if file:
        (project / file[0]).write_bytes(file[1])
    before = (project / "inventory" / "hosts.yml").read_bytes()
    code, output = sparkfleet(args if args[0] == "--project" else ["--project", str(project), *args],
                              capsys, monkeypatch)
    assert code == 2, (code, output)
    assert fragment in output, output
    assert "Traceback" not in output
    if not re.search(r"No such|not one of|not a valid integer", output):  # click's own usage errors
        assert "Fix:" in output, output  # ours say how to fix it too
    assert (project / "inventory" / "hosts.yml").read_bytes() == before, "bad input changed the inventory"


# --- the video endpoint --------------------------------------------------------------------------------------

fastapi = pytest.importorskip("fastapi")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("ffmpeg is not installed")
    from fastapi.testclient import TestClient
    from sparkfleet.lab.test_media import make_image, make_video
    from sparkfleet_video.app import create_app
    from sparkfleet_video.config import Settings

    tmp = tmp_path_factory.mktemp("endpoint")
    settings = Settings.from_env({"SPARKFLEET_VIDEO_VLLM_URL": f"http://127.0.0.1:{_closed_port()}",
                                  "SPARKFLEET_VIDEO_DATA_DIR": str(tmp / "data"),
                                  "SPARKFLEET_VIDEO_MEDIA_DIR": str(tmp / "media"),
                                  "SPARKFLEET_VIDEO_BENCH_DIR": str(tmp / "bench"),
                                  "SPARKFLEET_VIDEO_NOTES_FILE": str(tmp / "NOTES.md"),
                                  "SPARKFLEET_VIDEO_URL_HOSTS": "videos.example"})
    media = {"clip": make_video(tmp / "clip.mp4", seconds=2).read_bytes(),
             "png": make_image(tmp / "still.png").read_bytes()}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, media


def _upload(name: str, body: bytes, **fields) -> dict:
    return {"data": {"prompt": "Describe the video", **fields}, "files": {"file": (name, body, "video/mp4")}}


HLS = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n/etc/passwd\n#EXT-X-ENDLIST\n"
FFCONCAT = b"ffconcat version 1.0\nfile '/etc/passwd'\n"

# label -> (method, path, request keyword arguments or a function of the test media giving them)
ENDPOINT_CASES = {
    "video: empty file": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", b"")),
    "video: a PNG named .mp4": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["png"])),
    "video: text named .mp4": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", b"not a video\n" * 100)),
    "video: truncated MP4": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"][: len(m["clip"]) // 3])),
    "video: random bytes": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", bytes(range(256)) * 64)),
    "video: HLS playlist naming a local file": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", HLS)),
    "video: ffconcat naming a local file": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", FFCONCAT)),
    "video: file name with a path": ("POST", "/v1/jobs", lambda m: _upload("../../etc/passwd", b"")),
    "prompt: missing": ("POST", "/v1/jobs", lambda m: {"files": {"file": ("a.mp4", m["clip"], "video/mp4")}}),
    "prompt: empty": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], prompt="")),
    "prompt: only spaces": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], prompt="   ")),
    "prompt: 4001 characters": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], prompt="x" * 4001)),
    "spec: segment_seconds 1": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], segment_seconds="1")),
    "spec: segment_seconds 'abc'": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], segment_seconds="abc")),
    "spec: segment_seconds NaN": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], segment_seconds="nan")),
    "spec: fps 9": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], fps="9")),
    "spec: fps -1": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], fps="-1")),
    "spec: wait 'maybe'": ("POST", "/v1/jobs", lambda m: _upload("a.mp4", m["clip"], wait="maybe")),
    "form: no file part": ("POST", "/v1/jobs", {"data": {"prompt": "hi"}, "files": {"x": ("a", b"", "text/plain")}}),
    "body: text/plain": ("POST", "/v1/jobs", {"content": b"hello", "headers": {"content-type": "text/plain"}}),
    "body: none": ("POST", "/v1/jobs", {}),
    "body: broken JSON": ("POST", "/v1/jobs", {"content": b"{not json",
                                                "headers": {"content-type": "application/json"}}),
    "body: JSON list": ("POST", "/v1/jobs", {"json": [1, 2]}),
    "body: multipart without a boundary": ("POST", "/v1/jobs", {"content": b"--x\r\n",
                                                                 "headers": {"content-type": "multipart/form-data"}}),
    "URL: missing": ("POST", "/v1/jobs", {"json": {"prompt": "hi"}}),
    "URL: ftp scheme": ("POST", "/v1/jobs", {"json": {"prompt": "hi", "url": "ftp://videos.example/a.mp4"}}),
    "URL: file scheme": ("POST", "/v1/jobs", {"json": {"prompt": "hi", "url": "file:///etc/passwd"}}),
    "URL: host not allowed": ("POST", "/v1/jobs", {"json": {"prompt": "hi", "url": "http://evil.example/a.mp4"}}),
    "URL: loopback": ("POST", "/v1/jobs", {"json": {"prompt": "hi", "url": "http://127.0.0.1:9/a.mp4"}}),
    "URL: broken IPv6 literal": ("POST", "/v1/jobs", {"json": {"prompt": "hi", "url": "http://[::1/a.mp4"}}),
    "URL: not a string": ("POST", "/v1/jobs", {"json": {"prompt": "hi", "url": 42}}),
    "URL: 10,000 characters": ("POST", "/v1/jobs", {"json": {"prompt": "hi",
                                                             "url": "http://videos.example/" + "a" * 10000}}),
    "job id: unknown": ("GET", "/v1/jobs/j_nope", {}),
    "job id: path traversal": ("GET", "/v1/jobs/..%2F..%2Fetc%2Fpasswd", {}),
    "job id: unknown, delete": ("DELETE", "/v1/jobs/j_nope", {}),
    "job id: unknown, video": ("GET", "/v1/jobs/j_nope/video", {}),
    "job id: unknown, events": ("GET", "/v1/jobs/j_nope/events", {}),
    "list: limit 0": ("GET", "/v1/jobs?limit=0", {}),
    "list: limit 'many'": ("GET", "/v1/jobs?limit=many", {}),
    "list: unknown status": ("GET", "/v1/jobs?status=bogus", {}),
    "route: unknown path": ("GET", "/v1/nothing-here", {}),
    "route: wrong method": ("PUT", "/v1/jobs", {}),
}


@pytest.mark.parametrize("label", list(ENDPOINT_CASES))
def test_endpoint_bad_input_gets_a_clear_4xx(label, endpoint):
    client, media = endpoint
    method, path, kwargs = ENDPOINT_CASES[label]
    resp = client.request(method, path, **(kwargs(media) if callable(kwargs) else kwargs))
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:500])
    error = resp.json()["error"]
    assert error["code"] and error["message"], error
    assert "Traceback" not in resp.text and "/etc/passwd" not in error["message"]


def test_every_case_is_in_docs_reliability():
    """docs/reliability.md counts the bad inputs: every case here has its row there."""
    doc = (REPO / "docs" / "reliability.md").read_text()
    missing = [label for label in [*CLI_CASES, *ENDPOINT_CASES] if f"| {label} |" not in doc]
    assert not missing, missing
