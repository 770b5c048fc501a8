"""The video endpoint and dashboard on a lab host, through the real vLLM: real videos made by the tests, bad
inputs, vLLM going away, a restart of the service, a fuzz run against its OpenAPI spec, and a real browser.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from helpers import on_host
from sparkfleet.lab.test_media import make_image, make_truncated, make_video

pytestmark = pytest.mark.lab
VLLM_UNIT = "sparkfleet-vllm-qwen3-vl-tiny"


def request(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None,
            timeout: float = 300) -> tuple[int, Message, dict | str]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            body = response.read().decode()
            status, response_headers = response.status, response.headers  # case-insensitive
    except urllib.error.HTTPError as error:
        body, status, response_headers = error.read().decode(), error.code, error.headers
    try:
        return status, response_headers, json.loads(body)
    except ValueError:
        return status, response_headers, body


def multipart(fields: dict[str, str], file: tuple[str, bytes, str] | None = None) -> tuple[bytes, str]:
    boundary = "sparkfleet-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    if file:
        name, data, ctype = file
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def submit(served, path: Path | None, prompt: str = "Describe the video.", **fields) -> tuple[int, dict, dict]:
    data = path.read_bytes() if path else None
    body, ctype = multipart({"prompt": prompt, **{k: str(v) for k, v in fields.items()}},
                            (path.name, data, "application/octet-stream") if path else None)
    return request(served["endpoint"] + "/v1/jobs", body, {"Content-Type": ctype})


def wait_done(served, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = request(f"{served['endpoint']}/v1/jobs/{job_id}")[2]
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


def test_the_service_runs_as_its_own_user_after_vllm(served):
    assert on_host(served, "systemctl", "is-active", "sparkfleet-video").stdout.strip() == "active"
    assert on_host(served, "systemctl", "is-enabled", "sparkfleet-video").stdout.strip() == "enabled"
    shown = on_host(served, "systemctl", "show", "sparkfleet-video", "-p", "User,After,Requires").stdout
    props = dict(line.split("=", 1) for line in shown.splitlines())
    assert props["User"] == "sparkfleet-video" and f"{VLLM_UNIT}.service" in props["After"].split()
    assert f"{VLLM_UNIT}.service" not in props["Requires"].split()  # up even when vLLM is not
    status, _, health = request(served["endpoint"] + "/health")
    assert status == 200 and health["vllm"]["state"] == "ready" and health["vllm"]["model"] == "qwen3-vl-tiny"


@pytest.mark.parametrize(("name", "codec"), [("clip.mp4", "h264"), ("clip.webm", "vp9"), ("clip.mkv", "h264"),
                                             ("clip.avi", "mpeg4")])
def test_videos_in_several_containers_are_analysed(served, tmp_path, name, codec):
    video = make_video(tmp_path / name, seconds=3, codec=codec)
    status, _, job = submit(served, video, wait="true", segment_seconds=10)
    assert status == 200, job
    assert job["status"] == "done" and job["video"]["codec"] == codec
    assert len(job["segments"]) == 1 and job["segments"][0]["status"] == "done"
    assert isinstance(job["summary"], str) and job["usage"]["prompt_tokens"] > 0
    assert job["model"] == "qwen3-vl-tiny"


def test_on_the_host_only_vllms_group_reads_the_segments_and_foreign_hosts_and_origins_are_refused(served, tmp_path):
    """What the role sets up around the service: the media folder in vLLM's group (setgid 2750) with the segments
    0640 (vLLM reads them: the jobs above finish), the uploads 0600; a DNS-rebinding Host gets 421, a cross-site
    POST 403."""
    status, _, job = submit(served, make_video(tmp_path / "perm.mp4", seconds=3), wait="true", segment_seconds=2)
    assert status == 200 and job["status"] == "done", job
    media = on_host(served, "stat", "-c", "%a %U %G", "/var/lib/sparkfleet/media").stdout.split()
    assert media == ["2750", "sparkfleet-video", "vllm"]
    modes = on_host(served, "sh", "-c", f"stat -c '%a %G %n' /var/lib/sparkfleet/media/{job['id']} "
                    f"/var/lib/sparkfleet/media/{job['id']}/* /var/lib/sparkfleet/video/uploads/{job['id']}/source")
    lines = [line.split() for line in modes.stdout.splitlines()]
    assert lines[0][:2] == ["2750", "vllm"] and [m[:2] for m in lines[1:-1]] == [["640", "vllm"]] * 2, lines
    assert lines[-1][0] == "600", lines
    status, _, body = request(served["endpoint"] + "/v1/jobs", headers={"Host": "evil.example"})
    assert status == 421 and body["error"]["code"] == "untrusted_host"
    data, ctype = multipart({"prompt": "hi"}, ("a.mp4", b"x" * 100, "video/mp4"))
    status, _, body = request(served["endpoint"] + "/v1/jobs", data,
                              {"Content-Type": ctype, "Origin": "http://evil.example"})
    assert status == 403 and body["error"]["code"] == "cross_origin"


def test_a_long_video_is_split_into_segments_and_progress_streams_live(served, tmp_path):
    video = make_video(tmp_path / "long.mp4", seconds=25)
    status, _, job = submit(served, video, segment_seconds=10)
    assert status == 202 and job["status"] in ("queued", "probing", "running")
    events = []
    with urllib.request.urlopen(f"{served['endpoint']}/v1/jobs/{job['id']}/events", timeout=300) as stream:
        event = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))
                if event == "end":
                    break
    assert events[-1][0] == "end"
    done_counts = [data["progress"]["segments_done"] for name, data in events if name == "progress"]
    assert done_counts == sorted(done_counts) and done_counts[-1] == 3
    final = request(f"{served['endpoint']}/v1/jobs/{job['id']}")[2]
    assert final["status"] == "done"
    assert [(s["start_s"], s["end_s"]) for s in final["segments"]] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert all(isinstance(s["text"], str) for s in final["segments"])
    assert final["progress"] == {"segments_total": 3, "segments_done": 3}


def test_bad_inputs_get_their_own_clear_4xx(served, tmp_path):
    image = make_image(tmp_path / "still.png")
    text = tmp_path / "notes.txt"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = make_truncated(make_video(tmp_path / "whole.mp4", seconds=4), tmp_path / "half.mp4")
    cases = [
        (submit(served, image), 415, "not_a_video"),
        (submit(served, text), 415, "not_a_video"),
        (submit(served, empty), 400, "empty_file"),
        (submit(served, truncated), 422, "unreadable_video"),
        (submit(served, make_video(tmp_path / "ok.mp4", seconds=2), prompt="x" * 5000), 422, "invalid_request"),
        (submit(served, make_video(tmp_path / "ok2.mp4", seconds=2), segment_seconds=0), 422, "invalid_request"),
        (submit(served, None), 422, "invalid_request"),  # neither file nor url
        (request(served["endpoint"] + "/v1/jobs", b"just text", {"Content-Type": "text/plain"}), 415, None),
        (request(served["endpoint"] + "/v1/jobs", b"x", {"Content-Type": "multipart/form-data; boundary=b",
                                                         "Content-Length": str(100 << 30)}), 413, "too_large"),
    ]
    for (status, _, body), expected_status, expected_code in cases:
        assert status == expected_status, body
        assert isinstance(body, dict) and body["error"]["message"] and body["error"].get("hint") is not None, body
        if expected_code:
            assert body["error"]["code"] == expected_code, body
        assert "Traceback" not in json.dumps(body)


def test_jobs_survive_a_restart_of_the_service(served, tmp_path):
    status, _, job = submit(served, make_video(tmp_path / "a.mp4", seconds=3), wait="true")
    assert status == 200 and job["status"] == "done"
    assert on_host(served, "systemctl", "restart", "sparkfleet-video").returncode == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if request(served["endpoint"] + "/health", timeout=3)[0] == 200:
                break
        except OSError:
            time.sleep(1)
    again = request(f"{served['endpoint']}/v1/jobs/{job['id']}")[2]
    assert again["status"] == "done" and again["segments"] == job["segments"]
    listed = [j["id"] for j in request(served["endpoint"] + "/v1/jobs")[2]["jobs"]]
    assert job["id"] in listed


def test_while_vllm_is_down_new_jobs_get_503_with_retry_after(served, tmp_path):
    video = make_video(tmp_path / "b.mp4", seconds=2)
    assert on_host(served, "systemctl", "stop", VLLM_UNIT).returncode == 0
    try:
        deadline = time.monotonic() + 30  # the service re-checks vLLM every few seconds
        while request(served["endpoint"] + "/health")[2]["vllm"]["state"] != "down":
            assert time.monotonic() < deadline, "/health never reported vLLM down"
            time.sleep(1)
        status, headers, body = submit(served, video)
        assert status == 503 and int(headers["Retry-After"]) > 0, body
        assert "vLLM" in body["error"]["message"]
    finally:
        on_host(served, "systemctl", "start", VLLM_UNIT)
    deadline = time.monotonic() + 240
    while request(served["endpoint"] + "/health")[2]["vllm"]["state"] != "ready":
        assert time.monotonic() < deadline, "vLLM did not come back"
        time.sleep(2)
    status, _, job = submit(served, video, wait="true")
    assert status == 200 and job["status"] == "done"


def test_a_fuzz_run_against_the_openapi_spec_finds_no_server_error(served, tmp_path):
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{served['endpoint']}/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "25", "--exclude-method", "DELETE",
         "--request-timeout", "120"],
        cwd=tmp_path,  # its example database (.hypothesis) and reports stay out of the repository
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_dashboard_in_a_real_browser_analyses_a_video_and_seeks_to_a_segment(served, tmp_path):
    from e2e.dashboard_driver import run_dashboard_scenario

    video = make_video(tmp_path / "dash.mp4", seconds=14)
    seen = run_dashboard_scenario(served["endpoint"] + "/", video, tmp_path / "shots", segment_seconds=5,
                                  timeout_s=300)
    assert seen["status"] == "done" and seen["segments_count"] == 3
    assert abs(seen["current_time"] - seen["clicked_start"]) <= 1 and seen["last_segment_highlighted"]
    assert not seen["page_errors"]
    # the Bench & notes tab: the bench results of the first `up`, and the host's NOTES.md with its tables rendered
    assert seen["bench_results"] >= 1
    assert seen["notes_tables"] >= 2 and "notes for whoever runs this host next" in seen["notes_text"]
    assert "Ansible managed" not in seen["notes_text"] and "|---" not in seen["notes_text"]
    assert all(Path(p).stat().st_size > 0 for p in seen["screenshots"].values())
