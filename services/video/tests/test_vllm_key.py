"""vLLM exposed beyond loopback requires its API key: the service sends it as a bearer token, read from a file."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from sparkfleet_video.app import create_app
from sparkfleet_video.config import ConfigError, Settings

KEY = "vllm-key-for-the-test"


@pytest.fixture
def keyed_vllm():
    """A real HTTP server standing in for vLLM with --api-key: /v1 answers 401 without the bearer token."""
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                body, status = b"", 200
            else:
                seen.append(self.headers.get("Authorization"))
                ok = self.headers.get("Authorization") == f"Bearer {KEY}"
                status = 200 if ok else 401
                body = json.dumps({"data": [{"id": "tiny", "max_model_len": 2048}]} if ok
                                  else {"error": "Unauthorized"}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def settings(tmp_path, url: str, key_file: str = "") -> Settings:
    return Settings.from_env({"SPARKFLEET_VIDEO_VLLM_URL": url, "SPARKFLEET_VIDEO_DATA_DIR": str(tmp_path / "d"),
                              "SPARKFLEET_VIDEO_MEDIA_DIR": str(tmp_path / "m"),
                              "SPARKFLEET_VIDEO_VLLM_API_KEY_FILE": key_file,
                              "SPARKFLEET_VIDEO_ALLOWED_HOSTS": "testserver"})


def test_the_key_is_sent_as_a_bearer_token_when_a_file_holds_it(tmp_path, keyed_vllm):
    url, seen = keyed_vllm
    key_file = tmp_path / "video-vllm-api-key"
    key_file.write_text(KEY + "\n")
    with TestClient(create_app(settings(tmp_path, url, str(key_file)))) as client:
        assert client.get("/health").json()["vllm"] == {"state": "ready", "model": "tiny"}
    assert seen and set(seen) == {f"Bearer {KEY}"}


def test_without_the_key_vllm_refuses_and_the_service_does_not_call_it_ready(tmp_path, keyed_vllm):
    url, seen = keyed_vllm
    with TestClient(create_app(settings(tmp_path, url))) as client:
        assert client.get("/health").json()["vllm"]["state"] != "ready"
    assert seen and set(seen) == {None}


def test_a_key_file_that_cannot_be_read_stops_the_start_with_its_name(tmp_path):
    with pytest.raises(ConfigError, match="VLLM_API_KEY_FILE"):
        create_app(settings(tmp_path, "http://127.0.0.1:9", str(tmp_path / "missing")))
