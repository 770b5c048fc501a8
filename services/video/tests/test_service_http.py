"""The service as a real process (`python -m sparkfleet_video`) over real HTTP and HTTPS: what reaches its access
log, which Host names and Origins it answers, and TLS with a certificate made here by openssl."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

KEY = "s3cret-key-for-the-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """`python -m sparkfleet_video` on a free loopback port (HTTPS when `context` is given), vLLM down."""

    def __init__(self, tmp_path: Path, context: ssl.SSLContext | None = None, **env: str) -> None:
        self.port = free_port()
        self.context = context
        self.log = tmp_path / f"service-{self.port}.log"
        full = {**os.environ,
                "SPARKFLEET_VIDEO_VLLM_URL": f"http://127.0.0.1:{free_port()}",  # down
                "SPARKFLEET_VIDEO_DATA_DIR": str(tmp_path / "data"),
                "SPARKFLEET_VIDEO_MEDIA_DIR": str(tmp_path / "media"),
                "SPARKFLEET_VIDEO_BENCH_DIR": str(tmp_path / "bench"),
                "SPARKFLEET_VIDEO_NOTES_FILE": str(tmp_path / "NOTES.md"),
                **{f"SPARKFLEET_VIDEO_{k}": v for k, v in env.items()}}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "sparkfleet_video", "--host", "127.0.0.1",
                                          "--port", str(self.port)], env=full, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the service did not start: " + self.stop()[-2000:])

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                context: ssl.SSLContext | None = None, plain: bool = False) -> tuple[int, dict | str]:
        context = context or self.context
        conn = (http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=context)
                if context and not plain else http.client.HTTPConnection("127.0.0.1", self.port, timeout=10))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            text = resp.read().decode()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text()


@pytest.fixture
def keyed(tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    service = Service(tmp_path, API_KEY_FILE=str(tmp_path / "key"), ALLOWED_HOSTS="spark-1.lan,192.0.2.7")
    yield service
    service.stop()


def multipart_body() -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
            f"Content-Type: video/mp4\r\n\r\n").encode() + b"\0" * 2000 + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_the_access_log_never_holds_the_key(keyed):
    status, _ = keyed.request("GET", f"/v1/jobs/j_nope/events?api_key={KEY}")
    assert status == 404  # past the key check: the job does not exist
    assert keyed.request("GET", f"/v1/jobs/j_nope/video?x=1&api_key={KEY}&y=2")[0] == 404
    log = keyed.stop()
    assert "/v1/jobs/j_nope/events?api_key=[redacted]" in log, log
    assert "api_key=[redacted]&y=2" in log
    assert KEY not in log


def test_only_the_hosts_own_names_and_loopback_are_answered(keyed):
    """DNS rebinding: a page on evil.example whose name now resolves to the Spark sends Host: evil.example."""
    headers = {"X-API-Key": KEY}
    for host in ("evil.example", "evil.example:8080", "spark-1.lan.evil.example", "[::2]:80"):
        status, body = keyed.request("GET", "/v1/jobs", headers={**headers, "Host": host})
        assert status == 421 and body["error"]["code"] == "untrusted_host", (host, body)
        assert keyed.request("GET", "/health", headers={"Host": host})[0] == 421
    for host in ("spark-1.lan", f"SPARK-1.lan:{keyed.port}", "192.0.2.7:8080", f"127.0.0.1:{keyed.port}",
                 "localhost", "[::1]:8080"):
        assert keyed.request("GET", "/v1/jobs", headers={**headers, "Host": host})[0] == 200, host


def test_a_cross_site_post_is_refused_before_the_body_is_read(keyed, tmp_path):
    """A form on another site can POST multipart to the service without a CORS preflight; the browser then
    sends its Origin (or at least Sec-Fetch-Site: cross-site). The key does not help such a request."""
    body, ctype = multipart_body()
    base = {"Content-Type": ctype, "X-API-Key": KEY}
    for extra in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                  {"Origin": f"http://127.0.0.1:{keyed.port + 1}"}, {"Sec-Fetch-Site": "cross-site"}):
        status, answer = keyed.request("POST", "/v1/jobs", body, {**base, **extra})
        assert status == 403 and answer["error"]["code"] == "cross_origin", (extra, answer)
        assert keyed.request("DELETE", "/v1/jobs/j_x", headers={"X-API-Key": KEY, **extra})[0] == 403
    assert not any((tmp_path / "data" / "uploads").iterdir())
    # the dashboard's own origin, and a client that is not a browser (no Origin), get past the check
    status, answer = keyed.request("POST", "/v1/jobs", body, {**base, "Origin": f"http://127.0.0.1:{keyed.port}"})
    assert answer["error"]["code"] == "not_a_video", answer
    assert keyed.request("POST", "/v1/jobs", body, base)[1]["error"]["code"] == "not_a_video"
    # reading is not state-changing: a GET with a foreign Origin is up to CORS (no CORS headers: unreadable)
    assert keyed.request("GET", "/v1/jobs", headers={"X-API-Key": KEY, "Origin": "http://evil.example"})[0] == 200


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_tls_serves_https_with_the_given_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=sparkfleet-test", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    try:  # one without the other: a clear error, no start
        started = Service(tmp_path, TLS_CERT_FILE=str(cert))
    except AssertionError as exc:
        assert "TLS_CERT_FILE and SPARKFLEET_VIDEO_TLS_KEY_FILE go together" in str(exc)
    else:
        started.stop()
        pytest.fail("the service started with a certificate and no key")
    pinned = ssl.create_default_context(cafile=str(cert))
    service = Service(tmp_path, pinned, TLS_CERT_FILE=str(cert), TLS_KEY_FILE=str(key))
    try:
        status, body = service.request("GET", "/health")
        assert status == 200 and body["status"] == "ok"
        with pytest.raises(ssl.SSLError):  # the system's CAs do not know it: pinning is what makes it trusted
            service.request("GET", "/health", context=ssl.create_default_context())
        with pytest.raises((http.client.HTTPException, OSError)):  # plain HTTP gets no answer
            service.request("GET", "/health", plain=True)
    finally:
        service.stop()


def test_the_dashboard_takes_the_key_from_the_links_fragment_and_plays_the_video_with_it(tmp_path):
    """A real Chromium opens http://host:port/#key=KEY: the key reaches the page but never the server's log (a
    fragment is not sent), leaves the address bar, is kept for the tab only, and the page's API calls and its
    <video> (which cannot send a header: ?api_key=) get through."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no Chromium (apt-get install chromium)")
    import asyncio

    from sparkfleet_video.jobs import new_job
    from sparkfleet_video.store import Store

    source = tmp_path / "data" / "uploads" / "j_browser" / "source"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"\0" * 4096)
    job = new_job("j_browser", "Describe", {"kind": "upload", "name": "clip.mp4"}, {"segment_seconds": 10, "fps": 2},
                  {"container": "mov,mp4", "codec": "h264", "duration_s": 3.0, "width": 160, "height": 120,
                   "size_bytes": 4096}, 0.05)
    job["status"] = "done"
    store = Store(tmp_path / "data" / "jobs.db")
    asyncio.run(store.put(job, str(source)))
    store.close()
    (tmp_path / "key").write_text(KEY + "\n")
    service = Service(tmp_path, API_KEY_FILE=str(tmp_path / "key"))
    base = f"http://127.0.0.1:{service.port}/"
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--headless=new", "--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                with page.expect_response(lambda r: "/v1/jobs?limit=1" in r.url) as probe:
                    page.goto(base + "#key=" + KEY)
                assert probe.value.status == 200
                assert page.evaluate("location.hash") == ""
                assert page.evaluate("sessionStorage.getItem('sparkfleet.video.apiKey')") == KEY
                assert page.evaluate("localStorage.length") == 0
                assert page.locator('[data-testid="api-key-form"]').is_hidden()
                with page.expect_response(lambda r: "/v1/jobs/j_browser/video" in r.url) as video:
                    page.evaluate("location.hash = '#job/j_browser'")
                assert video.value.status in (200, 206)
                # a tab without the key asks for it
                other = browser.new_page()
                with other.expect_response(lambda r: "/v1/jobs?limit=1" in r.url) as probe:
                    other.goto(base)
                assert probe.value.status == 401
                other.locator('[data-testid="api-key-form"]').wait_for(state="visible", timeout=5000)
            finally:
                browser.close()
    finally:
        log = service.stop()
    assert KEY not in log and "api_key=[redacted]" in log


def test_uploads_and_url_fetches_at_once_are_bounded(tmp_path):
    """Two slow clients hold the service's slots (a URL that trickles, an upload that stalls); the next ones get
    429 with Retry-After at once instead of more disk held; a client that goes away frees its slot and its files."""
    import threading

    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def trickle() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                while not stop.wait(0.2):
                    conn.sendall(b"x")

    threading.Thread(target=trickle, daemon=True).start()
    service = Service(tmp_path, MAX_UPLOADS="2", MAX_URL_FETCHES="1", URL_HOSTS="127.0.0.1", URL_DEADLINE_S="2")
    slow_url = json.dumps({"prompt": "hi", "url": f"http://127.0.0.1:{listener.getsockname()[1]}/a.mp4"}).encode()
    as_json = {"Content-Type": "application/json"}
    try:
        fetching = threading.Thread(target=service.request, args=("POST", "/v1/jobs", slow_url, as_json), daemon=True)
        fetching.start()
        time.sleep(0.5)
        status, body = service.request("POST", "/v1/jobs", slow_url, as_json)
        assert (status, body["error"]["code"]) == (429, "too_many_fetches"), body
        stalled = socket.create_connection(("127.0.0.1", service.port))
        form, ctype = multipart_body()
        stalled.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                        f"Content-Length: {10 * 1024 * 1024}\r\n\r\n".encode() + form[:200])
        time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
        conn.request("POST", "/v1/jobs", *multipart_body()[:1], headers={"Content-Type": ctype})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        conn.close()
        assert (resp.status, answer["error"]["code"]) == (429, "too_many_uploads"), answer
        assert resp.getheader("Retry-After") == "5" and "at most 2" in answer["error"]["message"]
        stalled.close()
        fetching.join(10)
        deadline = time.monotonic() + 10
        while (code := service.request("POST", "/v1/jobs", form, {"Content-Type": ctype})[0]) == 429:
            assert time.monotonic() < deadline, "the slots were not freed"
            time.sleep(0.2)
        assert code == 415  # the junk upload itself, past the cap
        assert not any((tmp_path / "data" / "uploads").iterdir())
    finally:
        stop.set()
        listener.close()
        service.stop()
