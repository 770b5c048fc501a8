"""What the video endpoint must be after converge, with no vLLM on the host: up, enabled, listening, healthy, and
honest about vLLM being down (new jobs get 503 with Retry-After, after the video itself was checked).

Molecule runs these with testinfra over its inventory (see .config/molecule/config.yml). HTTP requests are made on
the host itself with its python3, against the port the role was given.
"""

import json

import pytest

UNIT = "sparkfleet-video"
USER = "sparkfleet-video"

# Runs on the host: one HTTP request, prints {"status", "headers", "body"} as JSON. argv: method, url, then for a
# POST the path of a file to send as the multipart field `file` beside a `prompt`.
REQUEST = r"""
import json, sys, urllib.error, urllib.request
method, url = sys.argv[1], sys.argv[2]
data, headers = None, {}
if len(sys.argv) > 3:
    boundary = "molecule-boundary"
    with open(sys.argv[3], "rb") as f:
        video = f.read()
    data = (f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nDescribe the video.\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\n'
            'Content-Type: video/mp4\r\n\r\n').encode() + video + f"\r\n--{boundary}--\r\n".encode()
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
request = urllib.request.Request(url, data=data, headers=headers, method=method)
try:
    with urllib.request.urlopen(request, timeout=60) as response:
        status, got, body = response.status, dict(response.headers), response.read().decode()
except urllib.error.HTTPError as error:
    status, got, body = error.code, dict(error.headers), error.read().decode()
print(json.dumps({"status": status, "headers": got, "body": body}))
"""


@pytest.fixture(scope="module")
def port(host):
    return int(host.ansible.get_variables().get("video_endpoint_port", 8080))


def http(host, method, url, *args):
    result = host.run("python3 -c %s %s %s " + " ".join(["%s"] * len(args)), REQUEST, method, url, *args)
    assert result.rc == 0, result.stderr
    answer = json.loads(result.stdout)
    answer["headers"] = {k.lower(): v for k, v in answer["headers"].items()}
    return answer


def test_the_unit_is_active_and_enabled(host):
    service = host.service(UNIT)
    assert service.is_running
    assert service.is_enabled


def test_the_unit_runs_as_its_own_user(host):
    assert host.user(USER).exists
    shown = host.run("systemctl show %s -p User -p MainPID", UNIT).stdout
    props = dict(line.split("=", 1) for line in shown.splitlines())
    assert props["User"] == USER
    assert host.file(f"/proc/{props['MainPID']}").user == USER  # /proc/PID belongs to the process's user


def test_it_listens_on_its_port(host, port):
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_health_answers_and_reports_vllm_down(host, port):
    answer = http(host, "GET", f"http://127.0.0.1:{port}/health")
    assert answer["status"] == 200, answer
    health = json.loads(answer["body"])
    assert health["status"] == "ok"
    assert health["vllm"]["state"] == "down"  # nothing listens on vLLM's port in this scenario


def test_a_real_video_gets_503_with_retry_after_while_vllm_is_down(host, port):
    clip = "/tmp/molecule-clip.mp4"
    # A real 2 s video made on the host with the ffmpeg the role installed: the service probes it before it asks
    # vLLM, so the 503 is about vLLM and not about the upload.
    made = host.run("ffmpeg -y -loglevel error -f lavfi -i testsrc=duration=2:size=160x120:rate=4 "
                    "-pix_fmt yuv420p %s", clip)
    assert made.rc == 0, made.stderr
    try:
        answer = http(host, "POST", f"http://127.0.0.1:{port}/v1/jobs", clip)
    finally:
        host.run("rm -f %s", clip)
    assert answer["status"] == 503, answer
    assert int(answer["headers"]["retry-after"]) > 0
    assert "vLLM" in json.loads(answer["body"])["error"]["message"]
