"""The video endpoint (services/video): real HTTP handling through FastAPI's TestClient, real
ffprobe/ffmpeg on real test videos, a real SQLite store, and a real "vLLM down" (a closed loopback port).

The full job flow against a real vLLM runs only when SPARKFLEET_VIDEO_E2E_VLLM_URL points at one (e.g. the
lab's CPU vLLM serving the tiny Qwen3-VL) and SPARKFLEET_VIDEO_E2E_MEDIA_DIR is its --allowed-local-media-path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient  # noqa: E402
from sparkfleet_video import __version__  # noqa: E402
from sparkfleet_video.app import create_app, sse  # noqa: E402
from sparkfleet_video.config import Settings  # noqa: E402
from sparkfleet_video.jobs import new_job, now_iso, summary_budgets, summary_prompt  # noqa: E402
from sparkfleet_video.media import as_is_fps, cut_segment, place_as_is, plan_segments, probe  # noqa: E402
from sparkfleet_video.store import Store  # noqa: E402
from sparkfleet_video.vllm import TokenRate, parse_prometheus, sample_from_metrics  # noqa: E402

needs_ffmpeg = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                                  reason="ffmpeg is not installed (apt-get install ffmpeg)")


def closed_port() -> int:
    """A loopback port nothing listens on: a real 'vLLM is down'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("ffmpeg is not installed")
    from sparkfleet.lab.test_media import make_image, make_truncated, make_video

    folder = tmp_path_factory.mktemp("media")
    clip = make_video(folder / "clip.mp4", seconds=3)
    files = {"clip": clip, "webm": make_video(folder / "clip.webm", seconds=2),
             "png": make_image(folder / "still.png"),
             "truncated": make_truncated(clip, folder / "truncated.mp4")}
    (folder / "empty.mp4").write_bytes(b"")
    files["empty"] = folder / "empty.mp4"
    (folder / "notes.txt").write_text("this is not a video\n" * 50)
    files["text"] = folder / "notes.txt"
    return files


def settings_for(tmp_path: Path, **env: str) -> Settings:
    base = {"SPARKFLEET_VIDEO_VLLM_URL": f"http://127.0.0.1:{closed_port()}",
            "SPARKFLEET_VIDEO_DATA_DIR": str(tmp_path / "data"),
            "SPARKFLEET_VIDEO_MEDIA_DIR": str(tmp_path / "media"),
            "SPARKFLEET_VIDEO_BENCH_DIR": str(tmp_path / "bench"),
            "SPARKFLEET_VIDEO_NOTES_FILE": str(tmp_path / "NOTES.md"),
            "SPARKFLEET_VIDEO_URL_HOSTS": "127.0.0.1",
            "SPARKFLEET_VIDEO_ALLOWED_HOSTS": "testserver"}  # the Host TestClient sends
    base.update({f"SPARKFLEET_VIDEO_{k.upper()}": v for k, v in env.items()})
    return Settings.from_env(base)


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(settings_for(tmp_path))) as test_client:
        yield test_client


def upload(client: TestClient, path: Path | None, **fields):
    data = {"prompt": "Describe the video", **fields}
    files = {"file": (path.name, path.read_bytes(), "video/mp4")} if path is not None else None
    return client.post("/v1/jobs", data=data, files=files)


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in resp.text
    return body["error"]


def stored_job(job_id: str, status: str = "done", segments: list[dict] | None = None, **extra) -> dict:
    job = new_job(job_id, "Describe", {"kind": "upload", "name": "clip.mp4"}, {"segment_seconds": 2, "fps": 2},
                  {"container": "mov,mp4", "codec": "h264", "duration_s": 3.0, "width": 160, "height": 120,
                   "size_bytes": 100}, 0.05)
    job["status"] = status
    job["segments"] = segments or []
    job.update(extra)
    return job


def put_job(settings: Settings, job: dict, upload_path: Path | None = None) -> None:
    store = Store(settings.db_path)
    asyncio.run(store.put(job, str(upload_path) if upload_path else None))
    store.close()


# --- pure logic ---

@pytest.mark.parametrize(("duration", "seconds", "expected"), [
    (25.0, 10, [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]),
    (20.5, 10, [(0.0, 10.0), (10.0, 20.5)]),  # a 0.5 s tail is merged into the previous segment
    (21.0, 10, [(0.0, 10.0), (10.0, 20.0), (20.0, 21.0)]),
    (5.0, 10, [(0.0, 5.0)]),
    (0.4, 10, [(0.0, 0.4)]),  # a video shorter than 1 s is still one segment
    (30.0, 10, [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]),
    (0.0, 10, []),
])
def test_plan_segments(duration, seconds, expected):
    assert plan_segments(duration, seconds) == expected


MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


@pytest.mark.parametrize(("changes", "fps", "kept"), [
    ({}, 2, 4),  # 2 s at 10 fps: 4 frames, as the re-encode at 2 fps keeps
    ({"frames": 69, "frame_rate": 30.0}, 2, 5),  # 2.3 s: ffmpeg rounds 4.6 frames to 5; vLLM's loader would take 4
    ({"frames": 69, "frame_rate": 30.0}, 1, None),  # 2 frames: vLLM's loader would take 4
    ({"frame_rate": 2.0, "frames": 4}, 2, 4),  # as many frames a second as the model samples
    ({"frame_rate": 1.0, "frames": 10}, 2, None),  # fewer: the re-encode would repeat frames
    ({"frames": None}, 2, None),
    ({"frames": 3000, "frame_rate": 25.0}, 2, None),  # 2 minutes: vLLM would decode every frame in its API server
    ({"height": 720}, 2, None),  # the re-encode would scale it down
    ({"rotation": 90}, 2, None),  # and turn it
    ({"width": 8000, "height": 64}, 2, None),  # and scale a very wide one down
    ({"codec": "vp9", "container": "matroska,webm"}, 2, None),
])
def test_which_videos_go_to_vllm_as_they_are_and_how_many_frames_it_keeps(changes, fps, kept):
    video = {"container": MP4, "codec": "h264", "duration_s": 2.0, "width": 160, "height": 120, "size_bytes": 1,
             "frame_rate": 10.0, "frames": 20, "rotation": 0, **changes}
    loader_fps = as_is_fps(video, fps)
    if kept is None:
        assert loader_fps is None
    else:  # what vLLM's Qwen3-VL loader computes from it
        assert int(video["frames"] / video["frame_rate"] * loader_fps) == kept


def test_placing_a_video_as_it_is_copies_it_for_vllms_group_only(tmp_path):
    """A copy, never a hard link: a link is the upload itself, whose mode would change with it."""
    source = tmp_path / "uploads" / "source"
    source.parent.mkdir()
    source.write_bytes(b"video bytes")
    source.chmod(0o600)
    place_as_is(source, tmp_path / "media" / "j_1" / "seg-0.mp4")
    copied = tmp_path / "media" / "j_1" / "seg-0.mp4"
    assert copied.read_bytes() == b"video bytes" and copied.stat().st_ino != source.stat().st_ino
    assert oct(copied.stat().st_mode & 0o777) == "0o640" and oct(source.stat().st_mode & 0o777) == "0o600"
    assert copied.parent.stat().st_mode & 0o007 == 0
    assert sorted(p.name for p in copied.parent.iterdir()) == ["seg-0.mp4"]


@needs_ffmpeg
def test_media_files_are_not_readable_by_other_local_users(tmp_path, media):
    """The upload 0600 in a 0700 folder; the segments 0640 in 0750 folders (vLLM reads them through its group)."""
    vllm = StandInVllm()
    settings = settings_for(tmp_path, vllm_url=vllm.url)
    try:
        with TestClient(create_app(settings)) as client:
            job = upload(client, media["clip"], segment_seconds="2", wait="true").json()
            assert job["status"] == "done", job
            one = upload(client, media["clip"], wait="true").json()  # one segment: the clip as it is
    finally:
        vllm.server.shutdown()
    upload_file = settings.uploads_dir / job["id"] / "source"
    assert oct(upload_file.stat().st_mode & 0o777) == "0o600"
    assert upload_file.parent.stat().st_mode & 0o077 == 0
    for job_id in (job["id"], one["id"]):
        folder = settings.media_dir / job_id
        assert folder.stat().st_mode & 0o007 == 0
        for seg in folder.iterdir():
            assert oct(seg.stat().st_mode & 0o777) == "0o640", seg
    assert settings.media_dir.stat().st_mode & 0o007 == 0


@needs_ffmpeg
def test_a_very_wide_video_is_scaled_down_before_vllm(tmp_path):
    """8000x64 is cut to 640 px wide (the aspect kept, even sizes): vLLM would make every pixel into tokens."""
    import subprocess

    wide = tmp_path / "wide.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=8000x64:rate=4:duration=2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(wide)], check=True)
    asyncio.run(cut_segment(wide, tmp_path / "out" / "seg-0.mp4", 0, 2, 2))
    cut = asyncio.run(probe(tmp_path / "out" / "seg-0.mp4", "seg-0.mp4", 60))
    assert cut.width == 640 and 4 <= cut.height <= 6 and cut.height % 2 == 0, (cut.width, cut.height)
    tall = tmp_path / "tall.mp4"  # and the height cap still holds, the aspect kept
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x960:rate=4:duration=2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(tall)], check=True)
    asyncio.run(cut_segment(tall, tmp_path / "out" / "seg-1.mp4", 0, 2, 2))
    cut = asyncio.run(probe(tmp_path / "out" / "seg-1.mp4", "seg-1.mp4", 60))
    assert (cut.width, cut.height) == (120, 360)


def test_a_damaged_jobs_db_is_moved_aside_and_the_service_starts(tmp_path):
    """Not a database at all: moved aside, a new one made. Damaged pages: what can be read is kept."""
    import sqlite3

    settings = settings_for(tmp_path)
    settings.data_dir.mkdir(parents=True)
    settings.db_path.write_bytes(b"this is not an SQLite file" * 200)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/jobs").json() == {"jobs": []}
    assert [p.name.split("-")[0] for p in settings.data_dir.glob("jobs.db.corrupt-*")] == ["jobs.db.corrupt"]

    other = settings_for(tmp_path / "b")
    for i in range(40):
        put_job(other, stored_job(f"j_{i:02d}", summary="x" * 3000))
    db = sqlite3.connect(other.db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    index_page = db.execute("SELECT rootpage FROM sqlite_master WHERE name='jobs_status'").fetchone()[0]
    db.close()
    with other.db_path.open("r+b") as fh:  # wreck the status index: the table itself stays readable
        fh.seek((index_page - 1) * page_size)
        fh.write(b"\xff" * page_size)
    with TestClient(create_app(other)) as client:
        jobs = client.get("/v1/jobs?limit=100").json()["jobs"]
    assert len(jobs) == 40 and jobs[0]["summary"] == "x" * 3000
    assert list(other.data_dir.glob("jobs.db.corrupt-*"))


def test_summary_prompt_has_times_texts_and_request_and_fits_a_budget():
    segs = [{"start_s": 0.0, "end_s": 10.0, "status": "done", "text": "a red ball\nrolls"},
            {"start_s": 10.0, "end_s": 20.0, "status": "failed", "text": None},
            {"start_s": 20.0, "end_s": 25.0, "status": "done", "text": "x" * 5000}]
    text = summary_prompt("What moves?", segs, budget_chars=1000)
    assert "What moves?" in text
    assert "[0.0s - 10.0s] a red ball rolls" in text
    assert "10.0s - 20.0s" not in text  # failed segments are left out
    assert "[20.0s - 25.0s] xxx" in text
    assert "x" * 501 not in text  # each text cut to its share of the budget
    assert text.index("0.0s - 10.0s") < text.index("20.0s - 25.0s")


def test_summary_budget_follows_the_models_context():
    assert summary_budgets(None, 256) == [48000, 16000, 4800]
    small = summary_budgets(2048, 24)
    assert small[0] < 2048 * 1.5 and small[0] > small[1] > small[2]
    assert summary_budgets(262144, 256)[0] == 48000


def test_prometheus_parsing_and_token_rate():
    text = ('# HELP vllm:num_requests_running x\nvllm:num_requests_running{model_name="m",engine="0"} 2.0\n'
            'vllm:num_requests_running{model_name="m",engine="1"} 1.0\nvllm:num_requests_waiting{model_name="m"} 0.0\n'
            'vllm:kv_cache_usage_perc{model_name="m"} 0.25\nvllm:generation_tokens_total{model_name="m"} 1500.0\n')
    assert parse_prometheus(text)["vllm:num_requests_running"] == 3.0
    sample = sample_from_metrics(text)
    assert (sample.requests_running, sample.requests_waiting, sample.kv_cache_usage) == (3.0, 0.0, 0.25)
    rate = TokenRate()
    rate.add(100.0, 1000.0)
    rate.add(105.0, 1500.0)
    rate.add(110.0, 20.0)  # vLLM restarted: the counter starts again
    assert [p[1] for p in rate.points] == [100.0, 4.0]


def test_sse_framing():
    frame = sse("progress", {"id": "j_1", "text": "two\nlines"}).decode()
    assert frame.startswith("event: progress\ndata: {")
    assert frame.endswith("}\n\n")
    assert frame.count("\n") == 3  # the JSON stays on one data: line


# --- the service with vLLM down ---

def test_health_says_vllm_down_and_metrics_are_served(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "version": __version__, "vllm": {"state": "down", "model": None}}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    for name in ("sparkfleet_video_http_requests_total", "sparkfleet_video_jobs", "sparkfleet_video_queue_depth",
                 "sparkfleet_video_http_request_duration_seconds"):
        assert name in metrics.text
    assert 'route="/health"' in metrics.text


@needs_ffmpeg
def test_a_draining_endpoint_refuses_new_jobs_until_the_drain_file_goes(client, media, tmp_path):
    drain_file = tmp_path / "data" / "draining"  # what `sparkfleet upgrade` writes before restarting the service
    drain_file.touch()
    resp = upload(client, media["clip"])
    err = assert_error(resp, 503, "draining")
    assert resp.headers["retry-after"] == "15" and "another host" in err["hint"]
    assert client.get("/v1/jobs").json() == {"jobs": []}
    drain_file.unlink()
    assert_error(upload(client, media["clip"]), 503, "vllm_unavailable")  # past the drain check (no vLLM here)


@needs_ffmpeg
def test_submit_while_vllm_down_is_503_with_retry_after(client, media, tmp_path):
    resp = upload(client, media["clip"])
    err = assert_error(resp, 503, "vllm_unavailable")
    assert resp.headers["retry-after"] == "15"
    assert "down" in err["message"]
    assert client.get("/v1/jobs").json() == {"jobs": []}
    assert list((tmp_path / "data" / "uploads").iterdir()) == []  # the upload was not kept
    assert 'code="vllm_unavailable"' in client.get("/metrics").text


@needs_ffmpeg
@pytest.mark.parametrize(("name", "status", "code"), [
    ("empty", 400, "empty_file"),
    ("png", 415, "not_a_video"),
    ("text", 415, "not_a_video"),
    ("truncated", 422, "unreadable_video"),
])
def test_bad_files_get_their_4xx_before_vllm_is_asked(client, media, name, status, code):
    err = assert_error(upload(client, media[name]), status, code)
    assert err["hint"]
    assert str(media[name].parent) not in err["message"]  # no server paths in messages


@needs_ffmpeg
def test_truncated_mp4_names_ffprobes_reason(client, media):
    err = assert_error(upload(client, media["truncated"]), 422, "unreadable_video")
    assert "moov atom not found" in err["message"]
    # in the service's words: ffprobe's own lines name demuxers, paths and pointer addresses
    assert "@ 0x" not in err["message"] and "[mov" not in err["message"]
    err = assert_error(upload(client, media["text"]), 415, "not_a_video")
    assert err["message"] == "notes.txt is not a video file (no readable video data was found in it)"


@needs_ffmpeg
def test_over_the_size_limit_is_413(tmp_path, media):
    with TestClient(create_app(settings_for(tmp_path, max_upload_mb="0.01"))) as client:  # 10 KiB
        err = assert_error(upload(client, media["clip"]), 413, "too_large")
        assert "MiB" in err["message"]
        # streamed without a Content-Length: the limit holds while reading
        body = (b"--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n--b\r\n"
                b"Content-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
                + b"\0" * 3_000_000 + b"\r\n--b--\r\n")

        def chunks():
            for i in range(0, len(body), 65536):
                yield body[i:i + 65536]

        resp = client.post("/v1/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert_error(resp, 413, "too_large")
        assert list((tmp_path / "data" / "uploads").iterdir()) == []


@needs_ffmpeg
def test_probe_reads_frame_rate_and_rotation(media, tmp_path):
    import subprocess

    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media["clip"]), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(rotated)], check=True)
    clip = asyncio.run(probe(media["clip"], "clip.mp4", 60)).as_dict()
    assert (clip["frame_rate"], clip["frames"], clip["rotation"], clip["container"]) == (10.0, 30, 0, MP4)
    assert asyncio.run(probe(rotated, "rotated.mp4", 60)).rotation in (90, 270)


@needs_ffmpeg
def test_too_long_is_422(tmp_path, media):
    with TestClient(create_app(settings_for(tmp_path, max_duration_s="1"))) as client:
        err = assert_error(upload(client, media["clip"]), 422, "too_long")
        assert "3.0 s" in err["message"]


@needs_ffmpeg
@pytest.mark.parametrize(("fields", "fragment"), [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": "x" * 4001}, "prompt"),
    ({"segment_seconds": "1"}, "segment_seconds"),
    ({"segment_seconds": "abc"}, "segment_seconds"),
    ({"segment_seconds": "nan"}, "segment_seconds"),
    ({"fps": "9"}, "fps"),
    ({"wait": "maybe"}, "wait"),
])
def test_bad_fields_are_422_invalid_request(client, media, fields, fragment):
    err = assert_error(upload(client, media["clip"], **fields), 422, "invalid_request")
    assert fragment in err["message"]


def test_missing_prompt_missing_file_and_wrong_content_types(client):
    err = assert_error(client.post("/v1/jobs", files={"file": ("a.mp4", b"1234", "video/mp4")}), 422,
                       "invalid_request")
    assert "prompt" in err["message"]
    err = assert_error(client.post("/v1/jobs", data={"prompt": "hi"}, files={"x": ("a", b"", "text/plain")}), 422,
                       "invalid_request")
    assert "file" in err["message"]
    assert_error(client.post("/v1/jobs", content=b"hello", headers={"content-type": "text/plain"}), 415,
                 "unsupported_media_type")
    assert_error(client.post("/v1/jobs"), 415, "unsupported_media_type")
    assert "url" in assert_error(client.post("/v1/jobs", json={"prompt": "hi"}), 422, "invalid_request")["message"]
    assert "http" in assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": "ftp://x/a.mp4"}), 422,
                                  "invalid_request")["message"]
    assert_error(client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}), 422,
                 "invalid_request")
    assert_error(client.post("/v1/jobs", json=[1, 2]), 422, "invalid_request")
    assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": f"http://127.0.0.1:{closed_port()}/a.mp4"}),
                 422, "url_unreachable")
    assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": "http://[::1/a.mp4"}), 422, "invalid_request")
    assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": "http://ex\u00a7\u00b8.com/a.mp4"}), 403,
                 "url_host_not_allowed")
    resp = client.request("OPTIONS", "/v1/jobs")
    assert_error(resp, 405, "method_not_allowed")
    assert set(resp.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert_error(client.get("/v1/jobs?limit=0"), 422, "invalid_request")
    assert_error(client.get("/v1/jobs?status=bogus"), 422, "invalid_request")
    assert_error(client.get("/v1/jobs/j_nope"), 404, "not_found")
    assert_error(client.delete("/v1/jobs/j_nope"), 404, "not_found")
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")


@needs_ffmpeg
def test_url_sources_are_off_unless_hosts_are_allowed(tmp_path):
    with TestClient(create_app(settings_for(tmp_path, url_hosts=""))) as off:
        assert_error(off.post("/v1/jobs", json={"prompt": "hi", "url": "http://127.0.0.1:9/a.mp4"}), 403,
                     "url_sources_off")
    with TestClient(create_app(settings_for(tmp_path, url_hosts="videos.lan"))) as some:
        body = assert_error(some.post("/v1/jobs", json={"prompt": "hi", "url": "http://127.0.0.1:9/a.mp4"}), 403,
                            "url_host_not_allowed")
        assert "videos.lan" in body["hint"]


def test_url_source_is_fetched_and_probed(client, media, tmp_path):
    """A real HTTP server on loopback serves the files; the checks are the same as for uploads."""
    import http.server
    import threading
    from functools import partial

    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(media["clip"].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": f"{base}/still.png"}), 415, "not_a_video")
        assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": f"{base}/missing.mp4"}), 422,
                     "url_unreachable")
        resp = client.post("/v1/jobs", json={"prompt": "hi", "url": f"{base}/clip.mp4"})
        assert_error(resp, 503, "vllm_unavailable")  # probed fine; only vLLM is missing
    finally:
        server.shutdown()


def test_store_survives_a_restart_and_lists_newest_first(tmp_path):
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/jobs").json() == {"jobs": []}
    put_job(settings, stored_job("j_old", created_at="2024-01-01T00:00:00.000Z", summary="old"))
    put_job(settings, stored_job("j_new", status="failed", summary=None))
    with TestClient(create_app(settings)) as client:
        jobs = client.get("/v1/jobs").json()["jobs"]
        assert [j["id"] for j in jobs] == ["j_new", "j_old"]
        assert client.get("/v1/jobs/j_old").json()["summary"] == "old"
        assert [j["id"] for j in client.get("/v1/jobs?status=failed").json()["jobs"]] == ["j_new"]
        assert client.delete("/v1/jobs/j_old").status_code == 204
    with TestClient(create_app(settings)) as client:
        assert_error(client.get("/v1/jobs/j_old"), 404, "not_found")


@needs_ffmpeg
def test_unfinished_job_resumes_at_start_and_fails_clearly_without_vllm(tmp_path, media):
    """A job left 'running' by a restart is picked up again; its finished segment is kept; with vLLM gone for
    good the job fails with vllm_unavailable."""
    settings = settings_for(tmp_path)
    upload_dir = settings.uploads_dir / "j_resume"
    upload_dir.mkdir(parents=True)
    shutil.copy(media["clip"], upload_dir / "source")
    done = {"index": 0, "start_s": 0.0, "end_s": 2.0, "status": "done", "text": "first",
            "usage": {"prompt_tokens": 10, "completion_tokens": 3}, "seconds": 0.1, "attempts": 1, "error": None}
    running = {"index": 1, "start_s": 2.0, "end_s": 3.0, "status": "running", "text": None,
               "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "seconds": None, "attempts": 0, "error": None}
    put_job(settings, stored_job("j_resume", status="running", segments=[done, running]), upload_dir / "source")
    app = create_app(settings)
    app.state.manager.retry_wait_s = 0.3
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while (job := client.get("/v1/jobs/j_resume").json())["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "vllm_unavailable"
    assert job["segments"][0] == done


class StandInVllm:
    """A loopback HTTP server that answers like vLLM's OpenAI server and keeps the chat requests it got."""

    def __init__(self) -> None:
        import http.server
        import threading

        chats = self.chats = []
        hold = self.hold = threading.Event()  # clear it to keep chat answers back until it is set again
        hold.set()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def answer(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.answer({"data": [{"id": "tiny", "max_model_len": 2048}]} if self.path == "/v1/models" else {})

            def do_POST(self) -> None:
                chats.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                hold.wait(30)
                self.answer({"choices": [{"message": {"content": "a test pattern"}}],
                             "usage": {"prompt_tokens": 50, "completion_tokens": 4}})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@needs_ffmpeg
def test_a_one_segment_clip_goes_to_vllm_as_it_is_and_a_longer_one_in_segments(tmp_path, media):
    """The 3 s, 10 fps clip in one segment is handed over unchanged, vLLM's loader told to keep the 6 frames a
    re-encode at 2 fps has; in 2 s segments each is re-encoded at 2 fps and the loader keeps every frame."""
    vllm = StandInVllm()
    settings = settings_for(tmp_path, vllm_url=vllm.url)
    try:
        with TestClient(create_app(settings)) as client:
            job = upload(client, media["clip"], fps="2", wait="true").json()
            assert job["status"] == "done" and job["summary"] == "a test pattern", job
            assert job["video"]["frame_rate"] == 10.0
            [chat] = vllm.chats
            loader_fps = chat["media_io_kwargs"]["video"]["fps"]
            assert int(30 / 10 * loader_fps) == 6 and chat["mm_processor_kwargs"] == {"fps": loader_fps}
            sent = Path(chat["messages"][0]["content"][0]["video_url"]["url"].removeprefix("file://"))
            assert sent == (settings.media_dir / job["id"] / "seg-0.mp4").resolve()
            assert sent.read_bytes() == media["clip"].read_bytes()

            vllm.chats.clear()
            job = upload(client, media["clip"], fps="2", segment_seconds="2", wait="true").json()
            assert job["status"] == "done" and job["progress"]["segments_total"] == 2, job
            segments = [c for c in vllm.chats if isinstance(c["messages"][0]["content"], list)]
            assert len(segments) == 2 and len(vllm.chats) == 3  # and the summary
            for chat in segments:
                assert chat["media_io_kwargs"] == {"video": {"fps": 2.0}}
                assert chat["mm_processor_kwargs"] == {"fps": 2.0}
            cut = asyncio.run(probe(settings.media_dir / job["id"] / "seg-0.mp4", "seg-0.mp4", 60))
            assert (cut.frame_rate, cut.duration_s) == (2.0, 2.0)
    finally:
        vllm.server.shutdown()


@needs_ffmpeg
def test_segments_are_capped_per_job_and_in_the_queue_and_stored_as_rows(tmp_path, media):
    """A job of more segments than allowed is 413 (with the segment_seconds that would fit); segments waiting
    over the queue's limit is 429 with Retry-After; each segment is a row of its own, not part of the job's JSON."""
    vllm = StandInVllm()
    try:
        with TestClient(create_app(settings_for(tmp_path / "a", vllm_url=vllm.url, max_segments="1"))) as client:
            err = assert_error(upload(client, media["clip"], segment_seconds="2"), 413, "too_many_segments")
            assert "2 segments" in err["message"] and "at most 1" in err["message"]
            assert "segment_seconds=3" in err["hint"]
        settings = settings_for(tmp_path, vllm_url=vllm.url, max_queued_segments="2")
        with TestClient(create_app(settings)) as client:
            vllm.hold.clear()
            first = upload(client, media["clip"], segment_seconds="2")  # 2 segments waiting
            assert first.status_code == 202, first.text
            resp = upload(client, media["clip"])
            err = assert_error(resp, 429, "queue_full")
            assert "at most 2" in err["message"] and resp.headers["retry-after"] == "60"
            vllm.hold.set()
            job = client.get(f"/v1/jobs/{first.json()['id']}").json()
            deadline = time.monotonic() + 30
            while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
                time.sleep(0.1)
                job = client.get(f"/v1/jobs/{job['id']}").json()
            assert job["status"] == "done" and [s["status"] for s in job["segments"]] == ["done", "done"]
            assert upload(client, media["clip"]).status_code == 202  # the queue drained
    finally:
        vllm.hold.set()
        vllm.server.shutdown()
    import sqlite3

    db = sqlite3.connect(settings.db_path)
    data = json.loads(db.execute("SELECT data FROM jobs WHERE id=?", (job["id"],)).fetchone()[0])
    assert "segments" not in data
    rows = db.execute("SELECT idx, data FROM segments WHERE job_id=? ORDER BY idx", (job["id"],)).fetchall()
    assert [(i, json.loads(d)["status"]) for i, d in rows] == [(0, "done"), (1, "done")]
    db.close()


def test_a_version_1_jobs_db_is_migrated_to_segment_rows(tmp_path):
    """A jobs.db written by the service before 1.3 (segments inside each job's JSON) is read as it was."""
    import sqlite3

    settings = settings_for(tmp_path)
    settings.data_dir.mkdir(parents=True)
    seg = {"index": 0, "start_s": 0.0, "end_s": 2.0, "status": "done", "text": "first",
           "usage": {"prompt_tokens": 10, "completion_tokens": 3}, "seconds": 0.1, "attempts": 1, "error": None}
    job = stored_job("j_v1", segments=[seg, {**seg, "index": 1, "start_s": 2.0, "end_s": 3.0, "text": "second"}])
    db = sqlite3.connect(settings.db_path)
    db.executescript("""CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, upload_path TEXT, expired INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL);""")
    db.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?,?)", ("j_v1", "done", job["created_at"], job["updated_at"],
                                                            None, 0, json.dumps(job)))
    db.commit()
    db.close()
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/jobs/j_v1").json() == job
        assert client.get("/v1/jobs").json()["jobs"] == [job]
    db = sqlite3.connect(settings.db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM segments WHERE job_id='j_v1'").fetchone()[0] == 2
    db.close()


def test_api_key_is_enforced_on_v1_api_and_metrics(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    with TestClient(create_app(settings_for(tmp_path, api_key_file=str(key_file)))) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        for path in ("/v1/jobs", "/api/system", "/api/bench", "/api/notes", "/metrics"):
            assert_error(client.get(path), 401, "unauthorized")
            assert_error(client.get(path, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
            assert client.get(path, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert_error(client.post("/v1/jobs", json={"prompt": "x"}), 401, "unauthorized")
        security = client.get("/openapi.json").json()["paths"]["/v1/jobs/{job_id}/video"]["get"]["security"]
        assert {"apiKeyQuery": []} in security
    key_file.write_text("")
    with TestClient(create_app(settings_for(tmp_path, api_key_file=str(key_file)))) as client:
        assert client.get("/v1/jobs").status_code == 200  # an empty key file: no key needed


def test_the_query_key_works_only_where_a_browser_cannot_send_a_header(tmp_path):
    """?api_key= is for <video src> and EventSource (GET video, GET events); everywhere else it is refused,
    POST included (a key in a URL ends up in logs and histories)."""
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    settings = settings_for(tmp_path, api_key_file=str(key_file))
    put_job(settings, stored_job("j_q"))
    with TestClient(create_app(settings)) as client:
        for path in ("/v1/jobs?api_key=s3cret", "/v1/jobs/j_q?api_key=s3cret", "/metrics?api_key=s3cret",
                     "/api/notes?api_key=s3cret"):
            assert "X-API-Key" in assert_error(client.get(path), 401, "unauthorized")["hint"]
        assert_error(client.post("/v1/jobs?api_key=s3cret", json={"prompt": "x", "url": "http://127.0.0.1/a"}),
                     401, "unauthorized")
        assert_error(client.delete("/v1/jobs/j_q?api_key=s3cret"), 401, "unauthorized")
        # the two browser routes take it (410: the stored job has no video; past the key check)
        assert_error(client.get("/v1/jobs/j_q/video?api_key=s3cret"), 410, "expired")
        assert_error(client.get("/v1/jobs/j_q/video?api_key=wrong"), 401, "unauthorized")
        with client.stream("GET", "/v1/jobs/j_q/events?api_key=s3cret") as resp:
            assert resp.status_code == 200
        assert client.get("/v1/jobs/j_q").status_code == 401


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", None], ids=["not-utf8", "unreadable"])
def test_an_unusable_key_file_refuses_every_protected_request(tmp_path, content, caplog):
    """Fail closed: a key file that exists but cannot be read (or decoded) never means 'no key'."""
    key_file = tmp_path / "key"
    if content is None and os.geteuid() == 0:
        key_file.mkdir()  # root reads a file whatever its mode; a folder it cannot read as a file
    elif content is None:
        key_file.write_text("s3cret\n")
        key_file.chmod(0o000)
    else:
        key_file.write_bytes(content)
    logging.getLogger("sparkfleet_video").addHandler(caplog.handler)  # the service's logger does not propagate
    with TestClient(create_app(settings_for(tmp_path, api_key_file=str(key_file)))) as client:
        for path in ("/v1/jobs", "/api/system", "/metrics"):
            for headers in ({}, {"X-API-Key": "s3cret"}, {"X-API-Key": b"\xff"}):
                resp = client.get(path, headers=headers)
                assert_error(resp, 503, "api_key_unreadable")
                assert resp.headers["retry-after"]
        assert_error(client.post("/v1/jobs", json={"prompt": "x"}), 503, "api_key_unreadable")
        assert client.get("/health").status_code == 200
    logging.getLogger("sparkfleet_video").removeHandler(caplog.handler)
    assert "API key file unusable" in caplog.text and str(key_file) in caplog.text


def test_events_stream_a_finished_job_then_end(tmp_path):
    settings = settings_for(tmp_path)
    put_job(settings, stored_job("j_sse", summary="all done"))
    with TestClient(create_app(settings)) as client, client.stream("GET", "/v1/jobs/j_sse/events") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = "".join(resp.iter_text())
    frames = [f for f in body.split("\n\n") if f]
    assert [f.split("\n")[0] for f in frames] == ["event: progress", "event: end"]
    assert json.loads(frames[0].split("\n")[1].removeprefix("data: "))["summary"] == "all done"
    assert json.loads(frames[1].split("\n")[1].removeprefix("data: "))["status"] == "done"


@needs_ffmpeg
def test_video_is_served_with_ranges_until_retention_removes_it(tmp_path, media):
    settings = settings_for(tmp_path, retention_hours="1")
    upload_dir = settings.uploads_dir / "j_ret"
    upload_dir.mkdir(parents=True)
    shutil.copy(media["clip"], upload_dir / "source")
    seg_dir = settings.media_dir / "j_ret"
    seg_dir.mkdir(parents=True)
    (seg_dir / "seg-0.mp4").write_bytes(b"x")
    recent = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    put_job(settings, stored_job("j_ret", summary="kept", created_at=recent, updated_at=recent), upload_dir / "source")
    put_job(settings, stored_job("j_fresh", summary="new"), None)
    app = create_app(settings)
    with TestClient(app) as client:
        full = client.get("/v1/jobs/j_ret/video")  # 30 minutes old, 1 hour retention: still there
        assert full.status_code == 200
        assert full.content == media["clip"].read_bytes()
        part = client.get("/v1/jobs/j_ret/video", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206
        assert len(part.content) == 100
        later = datetime.now(UTC) + timedelta(minutes=45)
        assert client.portal.call(app.state.manager.cleanup_once, later) == ["j_ret"]
        assert not upload_dir.exists()
        assert not seg_dir.exists()
        assert_error(client.get("/v1/jobs/j_ret/video"), 410, "expired")
        assert client.get("/v1/jobs/j_ret").json()["summary"] == "kept"  # results stay
        assert client.portal.call(app.state.manager.cleanup_once, later) == []  # once only
        assert_error(client.get("/v1/jobs/j_fresh/video"), 410, "expired")  # no upload on disk
        orphan = settings.uploads_dir / "j_orphan"  # an upload the service died in the middle of
        orphan.mkdir()
        client.portal.call(app.state.manager.cleanup_once, later)
        assert orphan.exists()  # too young to be sure
        client.portal.call(app.state.manager.cleanup_once, later + timedelta(hours=2))
        assert not orphan.exists()


def test_system_bench_and_notes(tmp_path):
    settings = settings_for(tmp_path)
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "old.json").write_text(json.dumps({"output_throughput": 1.0}))
    os.utime(bench / "old.json", (time.time() - 100, time.time() - 100))
    (bench / "new.json").write_text(json.dumps({"output_throughput": 2.0}))
    (bench / "broken.json").write_text("{")
    os.utime(bench / "broken.json", (time.time() - 200, time.time() - 200))
    with TestClient(create_app(settings)) as client:
        system = client.get("/api/system").json()
        assert system["vllm"]["state"] == "down"
        assert system["vllm"]["tokens_per_s"] == []
        assert system["host"]["memory_total_mib"] > 0
        assert "gpu" in system
        results = client.get("/api/bench").json()["results"]
        assert [r["file"] for r in results] == ["new.json", "old.json", "broken.json"]
        assert results[0]["result"] == {"output_throughput": 2.0}
        assert results[2]["error"]
        assert client.get("/api/notes").json() == {"markdown": None, "html": None}
        (tmp_path / "NOTES.md").write_text("# host\n")
        assert client.get("/api/notes").json() == {"markdown": "# host\n", "html": "<h2>host</h2>\n"}


def test_openapi_documents_every_route(client):
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert "413" in spec["paths"]["/v1/jobs"]["post"]["responses"]
    assert client.get("/").status_code == 200  # the dashboard


# --- the whole flow against a real vLLM (opt-in) ---

E2E_URL = os.environ.get("SPARKFLEET_VIDEO_E2E_VLLM_URL")


@pytest.mark.skipif(not E2E_URL, reason="set SPARKFLEET_VIDEO_E2E_VLLM_URL (and _E2E_MEDIA_DIR) to a running vLLM")
@needs_ffmpeg
def test_real_vllm_job_flow(tmp_path):
    import httpx
    from sparkfleet.lab.test_media import make_video

    media_dir = Path(os.environ.get("SPARKFLEET_VIDEO_E2E_MEDIA_DIR", "/tmp/media")) / f"test-{os.getpid()}"
    video = make_video(tmp_path / "five.mp4", seconds=5.0, size=(320, 240))
    settings = settings_for(tmp_path, vllm_url=E2E_URL, media_dir=str(media_dir), max_tokens="24")
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").json()["vllm"]["state"] == "ready"
            resp = upload(client, video, segment_seconds="2", fps="2", wait="true")
            assert resp.status_code == 200, resp.text
            job = resp.json()
            assert job["status"] == "done", job
            assert [(s["start_s"], s["end_s"]) for s in job["segments"]] == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
            assert all(s["status"] == "done" and s["text"] for s in job["segments"])
            assert job["summary"]
            assert job["usage"]["completion_tokens"] > 0
            assert job["timings"]["analysis_s"] > 0
            assert oct((media_dir / job["id"] / "seg-0.mp4").stat().st_mode & 0o777) == "0o644"

            # a one-segment clip goes as it is and gives the model as many frames (tokens) as its re-encode: 2.3 s
            # at 30 fps sampled at 2 fps is 5 frames (ffmpeg rounds 4.6 up, vLLM's loader alone would take 4)
            short = make_video(tmp_path / "short.mp4", seconds=2.3, fps=30)
            job = upload(client, short, fps="2", wait="true").json()
            assert job["status"] == "done", job
            assert (media_dir / job["id"] / "seg-0.mp4").read_bytes() == short.read_bytes()
            cut = media_dir / "cut.mp4"
            asyncio.run(cut_segment(short, cut, 0.0, job["video"]["duration_s"], 2.0))
            reencoded = httpx.post(f"{E2E_URL}/v1/chat/completions", timeout=120, json={
                "model": job["model"], "max_tokens": 1, "media_io_kwargs": {"video": {"fps": 2.0}},
                "mm_processor_kwargs": {"fps": 2.0}, "messages": [{"role": "user", "content": [
                    {"type": "video_url", "video_url": {"url": cut.resolve().as_uri()}},
                    {"type": "text", "text": "Describe the video"}]}]}).json()
            assert job["usage"]["prompt_tokens"] == reencoded["usage"]["prompt_tokens"]

            system = client.get("/api/system").json()
            assert system["vllm"]["state"] == "ready"
            assert 'kind="segment",outcome="ok"' in client.get("/metrics").text

            # a long job: progress events arrive; DELETE cancels it and removes its files and record
            long_video = make_video(tmp_path / "long.mp4", seconds=60.0)
            job = upload(client, long_video, segment_seconds="2").json()
            assert job["status"] in ("queued", "running")
            with client.stream("GET", f"/v1/jobs/{job['id']}/events") as events:
                frames = []
                for line in events.iter_lines():
                    if line.startswith("data: "):
                        frames.append(json.loads(line.removeprefix("data: ")))
                    if len(frames) >= 3:
                        break
            assert frames[-1]["progress"]["segments_total"] == 30
            assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
            assert_error(client.get(f"/v1/jobs/{job['id']}"), 404, "not_found")
            assert not (media_dir / job["id"]).exists()
            assert not (settings.uploads_dir / job["id"]).exists()
            print(json.dumps({k: job[k] for k in ("progress", "usage", "timings")}),
                  [(s["seconds"], s["usage"]) for s in job["segments"]])
    finally:
        shutil.rmtree(media_dir, ignore_errors=True)


def test_now_iso_sorts_as_text():
    a = now_iso()
    time.sleep(0.002)
    assert now_iso() > a


class CountingServer:
    """A real HTTP server on loopback that counts its requests; `routes` maps a path to (status, headers, body)."""

    def __init__(self, routes: dict[str, tuple[int, dict, bytes]], family: int = socket.AF_INET) -> None:
        import http.server
        import threading

        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def do_GET(self) -> None:
                hits.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b"no"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            address_family = family

        self.server = Server(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@needs_ffmpeg
def test_url_fetch_refuses_every_non_public_address_and_redirects_to_one(tmp_path, media):
    """With `*` the service still fetches from public addresses only: each form below reaches loopback, the
    network itself or the cloud metadata address, and the servers behind them see no request. A host named in
    the list may be local (the operator said so), but a redirect from it to an unnamed local address is refused."""
    clip = media["clip"].read_bytes()
    v4 = CountingServer({"/clip.mp4": (200, {}, clip)})
    v6 = CountingServer({"/clip.mp4": (200, {}, clip)}, socket.AF_INET6) if _ipv6_loopback() else None
    p4, p6 = v4.port, (v6.port if v6 else v4.port)
    try:
        with TestClient(create_app(settings_for(tmp_path, url_hosts="*"))) as client:
            for url in (f"http://127.0.0.1:{p4}/clip.mp4", f"http://[::1]:{p6}/clip.mp4",
                        f"http://2130706433:{p4}/clip.mp4", f"http://0x7f000001:{p4}/clip.mp4",
                        f"http://0.0.0.0:{p4}/clip.mp4", f"http://[::ffff:127.0.0.1]:{p4}/clip.mp4",
                        f"http://localhost:{p4}/clip.mp4", f"http://127.1:{p4}/clip.mp4",
                        "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.mp4", "http://[fe80::1]/a"):
                err = assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": url}), 403,
                                   "url_address_not_allowed")
                assert "not public" in err["message"] and "video_endpoint_url_hosts" in err["hint"], url
        assert v4.hits == [] and (v6 is None or v6.hits == [])
        redirects = CountingServer({"/to-v6": (302, {"Location": f"http://[::1]:{p6}/clip.mp4"}, b""),
                                    "/to-local": (302, {"Location": f"http://localhost:{p4}/clip.mp4"}, b""),
                                    "/to-self": (302, {"Location": "/clip.mp4"}, b""),
                                    "/clip.mp4": (200, {}, clip)})
        try:
            settings = settings_for(tmp_path / "named", url_hosts="127.0.0.1,*")
            with TestClient(create_app(settings)) as client:
                base = f"http://127.0.0.1:{redirects.port}"
                for path in ("/to-v6", "/to-local"):
                    assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": base + path}), 403,
                                 "url_address_not_allowed")
                # a redirect on the named host itself is followed (then vLLM is down: 503)
                assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": base + "/to-self"}), 503,
                             "vllm_unavailable")
            assert redirects.hits == ["/to-v6", "/to-local", "/to-self", "/clip.mp4"]
            assert v4.hits == [] and (v6 is None or v6.hits == [])
            assert not any(settings.uploads_dir.iterdir())
        finally:
            redirects.stop()
    finally:
        v4.stop()
        if v6:
            v6.stop()


def test_a_trickling_url_is_cut_at_the_deadline(tmp_path):
    """One byte every 0.2 s: each read is quick, so only an overall deadline ends it."""
    import threading

    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
            for _ in range(40):
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    settings = settings_for(tmp_path, url_deadline_s="1.5")
    try:
        with TestClient(create_app(settings)) as client:
            started = time.monotonic()
            err = assert_error(client.post("/v1/jobs", json={"prompt": "hi", "url": f"http://127.0.0.1:{port}/a"}),
                               422, "url_unreachable")
            took = time.monotonic() - started
        assert "within 1.5 s" in err["message"] and 1.4 < took < 4, took
        assert not any(settings.uploads_dir.iterdir())
    finally:
        stop.set()
        listener.close()


def test_an_upload_that_would_go_below_the_disk_reserve_is_refused_and_removed(tmp_path, media):
    """The reserve is set to just under what the test's disk has free now: a 32 MiB upload would cross it."""
    free_mib = shutil.disk_usage(tmp_path).free / (1024 * 1024)
    settings = settings_for(tmp_path, disk_reserve_mb=f"{free_mib - 8:.3f}")
    with TestClient(create_app(settings)) as client:
        err = assert_error(upload_bytes(client, os.urandom(32 * 1024 * 1024)), 507, "insufficient_storage")
        assert "MiB free" in err["message"] and "DELETE" in err["hint"]
        assert not any(settings.uploads_dir.iterdir())
        resp = upload(client, media["clip"])  # a small one still fits
        assert_error(resp, 503, "vllm_unavailable")


def upload_bytes(client: TestClient, data: bytes):
    return client.post("/v1/jobs", data={"prompt": "Describe"}, files={"file": ("big.mp4", data, "video/mp4")})
