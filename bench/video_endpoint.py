"""Figures for the video endpoint on a Debian 12 lab host with the real vLLM (CPU build, tiny Qwen3-VL):

1. the endpoint's overhead over a direct vLLM request for the same short video and the same max_tokens as the
   service asks for (p50; target: within 10 % or 20 ms, whichever is larger);
2. the service's memory growth while a 1 GiB upload streams in (target: <= 64 MiB);
3. /health latency while 8 uploads run at once (target: p99 < 100 ms).

Prints the figures; a measurement, not a test. Run: .venv/bin/python bench/video_endpoint.py
"""

from __future__ import annotations

import base64
import http.client
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from labhost import SPARKFLEET, lab_host
from sparkfleet.lab.test_media import make_video
from sparkfleet_video.config import Settings

ROUNDS = 15
BOUNDARY = "sparkfleet-bench"


# Runs on the host: vLLM listens on its loopback only. Posts stdin's JSON, prints [status, answer, seconds] with
# the request timed on the host, so docker exec's own start is not counted.
POST_ON_HOST = r"""
import json, sys, time, urllib.error, urllib.request
body = sys.stdin.buffer.read()
request = urllib.request.Request("http://127.0.0.1:8000" + sys.argv[1], data=body,
                                 headers={"Content-Type": "application/json"})
started = time.perf_counter()
try:
    with urllib.request.urlopen(request, timeout=300) as response:
        status, raw = response.status, response.read()
except urllib.error.HTTPError as error:
    status, raw = error.code, error.read()
print(json.dumps([status, json.loads(raw), time.perf_counter() - started]))
"""


def post_vllm_on_host(container: str, path: str, body: dict) -> tuple[int, dict, float]:
    proc = subprocess.run(["docker", "exec", "-i", container, "python3", "-c", POST_ON_HOST, path],
                          input=json.dumps(body).encode(), capture_output=True, check=True)
    status, answer, seconds = json.loads(proc.stdout)
    return status, answer, seconds


def stream_upload(port: int, size: int, prompt: str = "Describe.", chunk: int = 1 << 20) -> int:
    """POST a multipart upload of `size` bytes, streamed in chunks; returns the status."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n{prompt}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", "/v1/jobs")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    block = b"\0" * chunk
    sent = 0
    while sent < size:
        piece = block[: min(chunk, size - sent)]
        conn.send(piece)
        sent += len(piece)
    conn.send(tail)
    return conn.getresponse().status


def upload_sync(port: int, video: Path) -> tuple[int, dict]:
    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nDescribe the video.\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="wait"\r\n\r\ntrue\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{video.name}"\r\n'
            "Content-Type: video/mp4\r\n\r\n").encode() + video.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request("POST", "/v1/jobs", body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def service_rss_kib(container: str) -> int:
    out = subprocess.run(["docker", "exec", container, "sh", "-c",
                          "ps -u sparkfleet-video -o rss= | awk '{s+=$1} END {print s}'"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip() or 0)


def service_max_tokens(container: str) -> int:
    """max_tokens of the service's vLLM requests: its settings as the host's env file gives them."""
    text = subprocess.run(["docker", "exec", container, "cat", "/etc/sparkfleet/video.env"], capture_output=True,
                          text=True, check=True).stdout
    env = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return Settings.from_env(env).max_tokens


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def unique_copies(video: Path, count: int) -> list[Path]:
    """Copies of the clip that differ only in a comment: vLLM caches preprocessed media by their bytes, and real
    uploads are all different."""
    copies = [video.with_name(f"{video.stem}-{i}{video.suffix}") for i in range(count)]
    for i, copy in enumerate(copies):
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-c", "copy", "-metadata",
                        f"comment=copy {i}", str(copy)], check=True)
    return copies


def overhead(host: dict, video: Path) -> None:
    endpoint = host["ports"]["8080"]
    # the same answer length as the service asks for: the tiny model's random weights rarely stop early, so the
    # length, not the endpoint, would otherwise make most of the difference
    max_tokens = service_max_tokens(host["container"])
    clips = iter(unique_copies(video, 2 * (ROUNDS + 1)))
    direct, through, own, probes, usage = [], [], [], [], {"direct": [], "endpoint": []}
    for round_ in range(ROUNDS + 1):  # interleaved, so drift affects both alike; round 0 warms both up
        data_url = "data:video/mp4;base64," + base64.b64encode(next(clips).read_bytes()).decode()
        direct_body = {"model": "qwen3-vl-tiny", "max_tokens": max_tokens, "messages": [
            {"role": "user", "content": [{"type": "video_url", "video_url": {"url": data_url}},
                                         {"type": "text", "text": "Describe the video."}]}]}
        # direct: timed on the host (vLLM listens on its loopback); through: from the controller via the published port
        status, answer, direct_s = post_vllm_on_host(host["container"], "/v1/chat/completions", direct_body)
        assert status == 200
        started = time.perf_counter()
        status, job = upload_sync(endpoint, next(clips))
        through_s = time.perf_counter() - started
        assert status == 200 and job["status"] == "done", job
        if round_:
            direct.append(direct_s)
            through.append(through_s)
            own.append(through_s - job["segments"][0]["seconds"])
            probes.append(job["timings"]["probe_s"])
            usage["direct"].append(answer["usage"])
            usage["endpoint"].append(job["segments"][0]["usage"])
    d50, t50 = statistics.median(direct) * 1000, statistics.median(through) * 1000
    allowed = max(0.10 * d50, 20.0)
    tokens = {side: (sorted({u["prompt_tokens"] for u in uses}),
                     statistics.median(u["completion_tokens"] for u in uses)) for side, uses in usage.items()}
    own50, probe50 = statistics.median(own) * 1000, statistics.median(probes) * 1000
    print(f"1. overhead, {ROUNDS} rounds of a 2 s clip (each time a copy vLLM has not seen): direct vLLM p50 "
          f"{d50:.0f} ms, through the endpoint p50 {t50:.0f} ms, overhead {t50 - d50:.0f} ms "
          f"(target <= {allowed:.0f} ms: {'met' if t50 - d50 <= allowed else 'NOT met'}); the endpoint's own time "
          f"(its wall time minus its vLLM call) p50 {own50:.0f} ms, of it ffprobe p50 {probe50:.0f} ms; "
          f"(prompt tokens, completion tokens p50): direct {tokens['direct']}, endpoint {tokens['endpoint']}")


def upload_memory(host: dict) -> None:
    container, endpoint = host["container"], host["ports"]["8080"]
    before = service_rss_kib(container)
    peak = before
    done = threading.Event()
    result = {}

    def run() -> None:
        result["status"] = stream_upload(endpoint, 1 << 30)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    while not done.wait(0.2):
        peak = max(peak, service_rss_kib(container))
    growth = (peak - before) / 1024
    print(f"2. memory during a 1 GiB upload: {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB, growth "
          f"{growth:.1f} MiB (target <= 64 MiB: {'met' if growth <= 64 else 'NOT met'}); "
          f"answer {result['status']} (zeros are not a video)")


def health_under_uploads(host: dict) -> None:
    endpoint = host["ports"]["8080"]
    uploads = [threading.Thread(target=stream_upload, args=(endpoint, 256 << 20), daemon=True) for _ in range(8)]
    for thread in uploads:
        thread.start()
    latencies = []
    conn = http.client.HTTPConnection("127.0.0.1", endpoint, timeout=10)
    while any(t.is_alive() for t in uploads):
        started = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.05)
    p99 = percentile(latencies, 0.99)
    print(f"3. /health during 8 concurrent 256 MiB uploads: {len(latencies)} probes, p50 "
          f"{statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms "
          f"(target p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'})")


def main() -> None:
    with lab_host() as (project, host), tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*SPARKFLEET, "up"], cwd=project, check=True, capture_output=True)
        video = make_video(Path(tmp) / "clip.mp4", seconds=2)
        overhead(host, video)
        upload_memory(host)
        health_under_uploads(host)


if __name__ == "__main__":
    main()
