"""Uploads that are not videos but lists of other files: an HLS playlist, a DASH manifest and an ffconcat list,
each renamed .mp4 and naming a local file outside the job or an http URL. The real service app runs in-process
with the real ffprobe and ffmpeg; each upload must get a clear 4xx, and nothing outside the job may be read.

"Read" is observed, not guessed: a local target is a FIFO whose watcher sees any reader open it (ffmpeg's open of
a FIFO waits for a writer, and the watcher's non-blocking open for writing succeeds only while a reader waits),
and an http target is a real server on loopback that records every request.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")

from fastapi.testclient import TestClient
from sparkfleet_video.app import create_app
from sparkfleet_video.config import Settings
from sparkfleet_video.media import cut_segment

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                                reason="ffmpeg is not installed (apt-get install ffmpeg)")


class FifoCanary:
    """A FIFO at `path` that records whether anything opened it for reading."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path, self.opened = path, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader has it open
                time.sleep(0.002)
                continue
            self.opened = True
            os.close(fd)  # the reader then sees the end of the file and gives up

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class RecordingServer:
    """A real HTTP server on loopback that serves a real video and records every path asked for."""

    def __init__(self, folder: Path) -> None:
        requests = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def private(tmp_path_factory) -> Path:
    """Real videos outside any job (another job's segments, a person's files), served over http too."""
    folder = tmp_path_factory.mktemp("private")
    clip = folder / "private.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=duration=3:size=160x120:rate=8", "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    str(clip)], check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-c", "copy", str(folder / "private.ts")],
                   check=True)
    return folder


@pytest.fixture
def watched(tmp_path, private):
    """Local targets (FIFOs) and an http server; each test asserts that none of them was touched."""
    canaries = {name: FifoCanary(tmp_path / name) for name in ("seg.ts", "seg.mp4", "list.mp4")}
    server = RecordingServer(private)
    yield canaries, server
    for canary in canaries.values():
        canary.stop()
    server.stop()


def hls(target: str) -> str:
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n{target}\n#EXT-X-ENDLIST\n"


def dash(target: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT3S" '
            'minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">\n'
            ' <Period><AdaptationSet mimeType="video/mp4" segmentAlignment="true">\n'
            '  <Representation id="1" bandwidth="100000" codecs="avc1.64000c" width="160" height="120">\n'
            f'   <BaseURL>{target}</BaseURL><SegmentBase indexRange="0-800"/>\n'
            '  </Representation></AdaptationSet></Period>\n</MPD>\n')


def ffconcat(target: str) -> str:
    return f"ffconcat version 1.0\nfile '{target}'\nduration 3\n"


# (name, builder, target): {local} is a FIFO canary's path, {http} the recording server's base URL
CASES = [
    ("hls-local-ts", hls, "{local}/seg.ts"),
    ("hls-local-mp4", hls, "{local}/seg.mp4"),
    ("hls-http", hls, "{http}/private.ts"),
    ("hls-nested-playlist", hls, "{http}/private.m3u8"),
    ("dash-local", dash, "file://{local}/seg.mp4"),
    ("dash-local-path", dash, "{local}/seg.mp4"),
    ("dash-http", dash, "{http}/private.mp4"),
    ("ffconcat-local", ffconcat, "{local}/list.mp4"),
    ("ffconcat-http", ffconcat, "{http}/private.mp4"),
]


def settings_for(tmp_path: Path) -> Settings:
    return Settings.from_env({"SPARKFLEET_VIDEO_VLLM_URL": "http://127.0.0.1:9",  # discard: vLLM is down
                              "SPARKFLEET_VIDEO_DATA_DIR": str(tmp_path / "data"),
                              "SPARKFLEET_VIDEO_MEDIA_DIR": str(tmp_path / "media"),
                              "SPARKFLEET_VIDEO_BENCH_DIR": str(tmp_path / "bench"),
                              "SPARKFLEET_VIDEO_NOTES_FILE": str(tmp_path / "NOTES.md"),
                              "SPARKFLEET_VIDEO_ALLOWED_HOSTS": "testserver"})


@pytest.mark.parametrize(("case", "build", "target"), CASES, ids=[c[0] for c in CASES])
def test_a_list_of_other_files_renamed_mp4_is_refused_and_reads_nothing(tmp_path, watched, case, build, target):
    canaries, server = watched
    content = build(target.format(local=tmp_path, http=server.base))
    with TestClient(create_app(settings_for(tmp_path))) as client:
        resp = client.post("/v1/jobs", data={"prompt": "Describe the video"},
                           files={"file": ("holiday.mp4", content.encode(), "video/mp4")})
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    error = resp.json()["error"]
    assert error["code"] == "not_a_video" and error["message"] and error["hint"], error
    assert "holiday.mp4" in error["message"] and str(tmp_path) not in resp.text
    assert [name for name, canary in canaries.items() if canary.opened] == []
    assert server.requests == []
    assert not any((tmp_path / "data" / "uploads").iterdir())  # nothing of the upload is kept


def test_the_service_says_what_to_send_instead_of_a_playlist(tmp_path, watched):
    canaries, _ = watched
    with TestClient(create_app(settings_for(tmp_path))) as client:
        resp = client.post("/v1/jobs", data={"prompt": "Describe the video"},
                           files={"file": ("clip.mp4", hls(str(tmp_path / "seg.ts")).encode(), "video/mp4")})
    error = resp.json()["error"]
    assert resp.status_code == 415 and "playlist" in error["message"] and "m3u8" in error["hint"]
    assert "whitelist" not in error["message"] and "0x" not in error["message"]  # no ffmpeg internals
    assert not canaries["seg.ts"].opened


def test_the_cut_refuses_a_playlist_too(tmp_path, watched):
    """Defence in depth: ffmpeg itself, not only the probe before it, takes the listed containers only."""
    canaries, _ = watched
    playlist = tmp_path / "source"
    playlist.write_text(hls(str(tmp_path / "seg.ts")))
    with pytest.raises(RuntimeError, match="ffmpeg could not cut the segment"):
        asyncio.run(cut_segment(playlist, tmp_path / "out" / "seg-0.mp4", 0.0, 2.0, 2.0))
    assert not canaries["seg.ts"].opened


@pytest.mark.parametrize("suffix", ["mp4", "webm", "mkv", "mov", "avi", "ts", "flv", "ogv", "mpg"])
def test_the_containers_the_service_takes_still_pass_the_probe(tmp_path, private, suffix):
    """The whitelist keeps every usual container: each probes fine and only the missing vLLM stops the job (503)."""
    video = tmp_path / f"clip.{suffix}"
    codec = {"webm": ["-c:v", "libvpx-vp9"], "ogv": ["-c:v", "libtheora"], "flv": ["-c:v", "flv"],
             "mpg": ["-c:v", "mpeg2video"]}.get(suffix, ["-c:v", "libx264", "-pix_fmt", "yuv420p"])
    made = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(private / "private.mp4"), *codec,
                           str(video)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"this ffmpeg cannot write {suffix}: {made.stderr.decode()[-200:]}")
    with TestClient(create_app(settings_for(tmp_path))) as client:
        resp = client.post("/v1/jobs", data={"prompt": "Describe the video"},
                           files={"file": (video.name, video.read_bytes(), "video/mp4")})
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "vllm_unavailable", resp.text
