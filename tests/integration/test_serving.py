"""The serving stack for real on a Debian 12 lab host: vLLM's CPU build serving the tiny Qwen3-VL under systemd.

One host is provisioned once for the session (the `served` fixture: `sparkfleet up`, about two minutes from a bare
host); the tests then probe it through real HTTP, systemd and the CLI. The flag-change test restarts the service and
runs last here.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from helpers import collections_path, on_host, on_host_http, run_sparkfleet
from sparkfleet.core.project import Project
from sparkfleet.core.runner import run_playbook
from sparkfleet.lab.test_media import make_video

pytestmark = pytest.mark.lab
UNIT = "sparkfleet-vllm-qwen3-vl-tiny"


def unit_show(served, *props: str) -> dict:
    out = on_host(served, "systemctl", "show", UNIT, "-p", ",".join(props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def wait_healthy(served, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if on_host_http(served, served["api"] + "/health", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(2)
    raise AssertionError(f"vLLM did not come back within {timeout} s")


def starts_during_the_first_up(served, unit: str) -> list[str]:
    """The unit's "Started" lines in the journal up to the end of the fixture's first `up`.

    Bounded by the first `up`'s own record (its finished_at, second-truncated, plus a second), not by test order:
    later tests in the session restart the services, each well after that second. The host is a container on
    this machine's kernel, so its journal and the record share one clock; an epoch timestamp avoids time zones.
    """
    record_id = served["first"].summary["result"]["record"]
    record = json.loads((served["project"] / ".sparkfleet/history" / f"{record_id}.json").read_text())
    finished = datetime.datetime.strptime(record["finished_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    until = f"@{int(finished.timestamp()) + 1}"
    out = on_host(served, "journalctl", "-u", unit, "--until", until, "-o", "cat").stdout
    return [line for line in out.splitlines() if line.startswith("Started ")]


def test_a_first_up_starts_each_service_once(served):
    """A service not running before the run is started once with its final configuration, not started and then
    restarted at once by its handler (on a Spark, a vLLM killed while it sets up CUDA)."""
    starts = {unit: starts_during_the_first_up(served, unit) for unit in (UNIT, "sparkfleet-video")}
    assert {unit: len(lines) for unit, lines in starts.items()} == {UNIT: 1, "sparkfleet-video": 1}, starts
    serve = next(p for p in served["first"].summary["result"]["phases"] if p["phase"] == "serve")
    tasks = [change["task"] for change in serve["changes"]]
    assert "Enable and start vLLM" in tasks and "Enable and start the service" in tasks
    assert "Restart vLLM" not in tasks and "Restart the video endpoint" not in tasks, tasks


def test_the_unit_is_active_enabled_and_runs_as_its_own_user(served):
    assert on_host(served, "systemctl", "is-active", UNIT).stdout.strip() == "active"
    assert on_host(served, "systemctl", "is-enabled", UNIT).stdout.strip() == "enabled"
    props = unit_show(served, "User", "Restart", "TimeoutStartUSec", "NoNewPrivileges")
    assert props["User"] == "vllm" and props["Restart"] == "on-failure" and props["NoNewPrivileges"] == "yes"
    assert props["TimeoutStartUSec"] == "20min"


def test_health_models_and_a_video_request_answer(served, tmp_path):
    assert on_host_http(served, served["api"] + "/health")[0] == 200
    status, models = on_host_http(served, served["api"] + "/v1/models")
    assert status == 200 and [m["id"] for m in models["data"]] == ["qwen3-vl-tiny"]
    video = make_video(tmp_path / "clip.mp4", seconds=2)
    data_url = "data:video/mp4;base64," + base64.b64encode(video.read_bytes()).decode()
    status, answer = on_host_http(served, served["api"] + "/v1/chat/completions", {
        "model": "qwen3-vl-tiny", "max_tokens": 8,
        "messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": data_url}},
            {"type": "text", "text": "What happens in this video?"}]}]})
    assert status == 200, answer
    assert answer["usage"]["prompt_tokens"] > 20  # the video's frames became tokens
    assert isinstance(answer["choices"][0]["message"]["content"], str)


def test_vllm_listens_on_the_hosts_loopback_only(served):
    """Secure by default: vLLM has no key, so nothing beyond the host may reach it (the endpoint is its client)."""
    sockets = on_host(served, "ss", "-ltnH", "sport = :8000").stdout.splitlines()
    assert {line.split()[3] for line in sockets} == {"127.0.0.1:8000"}, sockets
    assert "--host 127.0.0.1" in unit_show(served, "ExecStart")["ExecStart"]
    # what a machine on the network sees: the host's own address, from the controller
    address = on_host(served, "sh", "-c", "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1"
                      ).stdout.strip()
    assert address
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{address}:8000/v1/models", timeout=5)
    # the endpoint, its client on the host, still gets answers (test_verify's round trip goes through it too)
    with urllib.request.urlopen(served["endpoint"] + "/health", timeout=10) as response:
        assert json.loads(response.read())["vllm"]["state"] == "ready"


def test_vllm_beyond_loopback_without_a_key_is_refused_before_anything_changes(served):
    inventory = served["project"] / "inventory/hosts.yml"
    before = inventory.read_text()
    data = yaml.safe_load(before)
    data["all"]["children"]["lab"]["hosts"]["lab1"]["vllm_host"] = "0.0.0.0"
    inventory.write_text(yaml.safe_dump(data))
    unit_before = on_host(served, "cat", f"/etc/systemd/system/{UNIT}.service").stdout
    try:
        result = run_sparkfleet("--json", "up", cwd=served["project"], timeout=900)
    finally:
        inventory.write_text(before)
    assert result.code == 3, result.stdout[-3000:]
    phases = {p["phase"]: p for p in result.summary["result"]["phases"]}
    [failure] = phases["serve"]["run"]["failures"]
    assert "vllm_host is 0.0.0.0" in failure["message"] and "vault_vllm_api_key" in failure["message"]
    assert phases["serve"]["changes"] == [] and "verify" not in phases
    assert on_host(served, "cat", f"/etc/systemd/system/{UNIT}.service").stdout == unit_before


def test_vllm_exposed_on_purpose_requires_its_key_and_keeps_it_secret(served):
    """vllm_host beyond loopback with a key: strangers get 401, the endpoint, verify and bench send the key, and
    the key is on no command line, in no log and no record. Then back to loopback, as the other tests expect."""
    key = "test-only-vllm-key-7f3a9c"
    project = served["project"]
    inventory = project / "inventory/hosts.yml"
    before = inventory.read_text()
    data = yaml.safe_load(before)
    data["all"]["children"]["lab"]["hosts"]["lab1"].update(vllm_host="0.0.0.0", vault_vllm_api_key=key)
    inventory.write_text(yaml.safe_dump(data))
    try:
        exposed = run_sparkfleet("--json", "up", cwd=project, timeout=1200)
        assert exposed.code == 0, exposed.stdout[-3000:]
        sockets = on_host(served, "ss", "-ltnH", "sport = :8000").stdout.splitlines()
        assert {line.split()[3] for line in sockets} == {"0.0.0.0:8000"}, sockets
        address = on_host(served, "sh", "-c", "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 "
                          "| head -1").stdout.strip()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{address}:8000/v1/models", timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(f"http://{address}:8000/v1/models", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert [m["id"] for m in json.loads(response.read())["data"]] == ["qwen3-vl-tiny"]
        verify = run_sparkfleet("--json", "verify", cwd=project, timeout=600)
        assert verify.code == 0, verify.stdout[-3000:]
        checks = {c["id"]: c for c in verify.summary["result"]["verify"]["lab1"]["checks"]}
        assert checks["vllm_local_only"]["ok"] and "refuses requests without its API key" in \
            checks["vllm_local_only"]["message"]
        assert checks["video_round_trip"]["ok"]  # the endpoint sends the key
        env = on_host(served, "stat", "-c", "%a %U %G", "/etc/sparkfleet/vllm.env").stdout.split()
        assert env == ["640", "root", "vllm"]
        assert "--allowed-media-domains invalid" in unit_show(served, "ExecStart")["ExecStart"]
        for where in (on_host(served, "systemctl", "cat", UNIT).stdout, on_host(served, "ps", "-eo", "args").stdout,
                      on_host(served, "journalctl", "--no-pager", "-o", "cat").stdout,
                      on_host(served, "cat", "/var/lib/sparkfleet/NOTES.md").stdout):
            assert key not in where
        for folder in ("history", "hosts"):
            for path in (project / ".sparkfleet" / folder).rglob("*"):
                assert not path.is_file() or key not in path.read_text(errors="replace"), path
        for path in (project / "reports").rglob("*.md"):
            assert key not in path.read_text(), path
    finally:
        inventory.write_text(before)
        back = run_sparkfleet("--json", "up", cwd=project, timeout=1200)
    assert back.code == 0, back.stdout[-3000:]
    assert on_host(served, "test", "-e", "/etc/sparkfleet/vllm.env").returncode == 1
    sockets = on_host(served, "ss", "-ltnH", "sport = :8000").stdout.splitlines()
    assert {line.split()[3] for line in sockets} == {"127.0.0.1:8000"}, sockets


def test_a_second_up_changes_nothing(served):
    again = run_sparkfleet("--json", "up", cwd=served["project"], timeout=900)
    assert again.code == 0, again.stdout[-3000:]
    assert again.summary["result"]["changed"] is False


def test_model_files_match_the_controller_manifest(served):
    manifest = json.loads((served["project"] / ".sparkfleet/models/qwen3-vl-tiny/.sparkfleet-manifest.json")
                          .read_text())
    for rel, entry in manifest["files"].items():
        digest = on_host(served, "sha256sum", f"/opt/sparkfleet/models/qwen3-vl-tiny/{rel}").stdout.split()[0]
        assert digest == entry["sha256"], rel


def test_systemd_restarts_vllm_after_kill_9(served):
    before = unit_show(served, "MainPID", "NRestarts")
    assert on_host(served, "kill", "-9", before["MainPID"]).returncode == 0
    time.sleep(3)
    wait_healthy(served)
    after = unit_show(served, "MainPID", "NRestarts")
    assert after["MainPID"] != before["MainPID"] and int(after["NRestarts"]) == int(before["NRestarts"]) + 1


def test_a_model_that_does_not_fit_is_refused_before_download(served):
    result = run_sparkfleet("--json", "up", "--model", "qwen3-vl-32b-instruct-fp8", cwd=served["project"],
                            timeout=600)
    assert result.code == 3, result.stdout[-3000:]
    phases = {p["phase"]: p for p in result.summary["result"]["phases"]}
    message = phases["serve"]["run"]["failures"][0]["message"]
    assert "needs about 52 GiB of memory" in message and "Nothing was downloaded" in message
    assert "verify" not in phases and phases["notes"]["ok"]  # stopped at serve; the notes still recorded it
    # the model that does not fit is not remembered, and the notes still describe the model that is served
    assert not (served["project"] / "inventory/group_vars/all/model.yml").exists()
    state = json.loads((served["project"] / ".sparkfleet/hosts/lab1/state.json").read_text())
    assert state["model"]["name"] == "qwen3-vl-tiny" and state["problems"][-1]["phase"] == "serve"
    assert not (served["project"] / ".sparkfleet/models/qwen3-vl-32b-instruct-fp8").exists()
    assert on_host(served, "test", "-e", "/opt/sparkfleet/models/qwen3-vl-32b-instruct-fp8").returncode == 1


def test_an_unknown_model_is_refused_before_anything_runs(served):
    runs_before = set((served["project"] / ".sparkfleet/runs").iterdir())
    result = run_sparkfleet("--json", "up", "--model", "qwen9-vl-huge", cwd=served["project"])
    assert result.code == 2 and "Unknown model 'qwen9-vl-huge'" in result.summary["error"]["message"]
    assert "qwen3-vl-tiny" in result.summary["error"]["hint"]
    assert set((served["project"] / ".sparkfleet/runs").iterdir()) == runs_before


def test_a_package_missing_from_the_venv_is_reinstalled_and_the_venv_role_restarts_vllm_once(served):
    """The shared venv role notifies its caller's handler (`vllm restart`): no stand-in task in between."""
    venv_python = "/opt/sparkfleet/vllm/venv/bin/python"
    assert on_host(served, venv_python, "-m", "pip", "uninstall", "--yes", "tqdm").returncode == 0
    since = on_host(served, "date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    time.sleep(1)
    result = run_playbook(Project(served["project"]), "serve", emit=lambda event: None)
    assert result.exit_code == 0, result.failures
    assert [c["task"] for c in result.changes] == ["Install the packages into the venv", "Restart vLLM"]
    assert on_host(served, venv_python, "-c", "import tqdm").returncode == 0
    starts = [line for line in on_host(served, "journalctl", "-u", UNIT, "--since", since, "-o", "cat").stdout
              .splitlines() if line.startswith("Started ")]
    assert len(starts) == 1, starts
    wait_healthy(served)


def test_changing_one_flag_restarts_the_service_exactly_once(served):
    """Runs last: it leaves the service with another flag value."""
    inventory = served["project"] / "inventory/hosts.yml"
    data = yaml.safe_load(inventory.read_text())
    data["all"]["children"]["lab"]["hosts"]["lab1"]["vllm_max_num_seqs"] = 3
    inventory.write_text(yaml.safe_dump(data))
    since = on_host(served, "date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    time.sleep(1)
    result = run_sparkfleet("--json", "up", cwd=served["project"], timeout=900)
    assert result.code == 0, result.stdout[-3000:]
    starts = [line for line in on_host(served, "journalctl", "-u", UNIT, "--since", since, "-o", "cat").stdout
              .splitlines() if line.startswith("Started ")]
    assert len(starts) == 1, starts
    cmdline = on_host(served, "systemctl", "show", UNIT, "-p", "ExecStart").stdout
    assert "--max-num-seqs 3" in cmdline


def test_the_container_method_renders_a_pinned_gpu_unit_without_a_gpu_container_engine(tmp_path):
    """No container engine with a GPU exists here: the unit is rendered and its ExecStart parsed, not started."""
    playbook = tmp_path / "render.yml"
    out = tmp_path / "vllm.service"
    repo = Path(__file__).resolve().parents[2]
    playbook.write_text(yaml.safe_dump([{
        "name": "Render", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(repo / "roles/vllm/defaults/main.yml"), str(repo / "roles/vllm/vars/main.yml")],
        "vars": {"vllm_install_method": "container", "ansible_python_interpreter": sys.executable,
                 # what playbooks/serve.yml passes from the model role
                 "vllm_model": "qwen3-vl-30b", "vllm_served_model_name": "qwen3-vl-30b",
                 "vllm_model_path": "/opt/sparkfleet/models/qwen3-vl-30b", "vllm_max_model_len": 32768,
                 "_vllm_image_ref": "nvcr.io/nvidia/vllm@sha256:" + "a" * 64},
        "tasks": [{"name": "Render the unit", "ansible.builtin.template": {
            "src": str(repo / "roles/vllm/templates/vllm.service.j2"), "dest": str(out), "mode": "0644"}}],
    }]))
    ansible_playbook = str(Path(sys.executable).parent / "ansible-playbook")
    proc = subprocess.run([ansible_playbook, "-i", "localhost,", str(playbook)], capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_path())})
    assert proc.returncode == 0, proc.stdout[-2000:]
    unit = out.read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[:3] == ["/usr/bin/docker", "run", "--rm"]
    for pair in (["--gpus", "all"], ["--ipc", "host"], ["--network", "host"]):
        assert argv[argv.index(pair[0]) + 1] == pair[1]
    assert "nvcr.io/nvidia/vllm@sha256:" + "a" * 64 in argv  # pinned by digest
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.8"
    assert "--enforce-eager" not in argv
    assert "ExecStartPre=+/bin/sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'" in unit
    assert "Requires=docker.service" in unit and "TimeoutStartSec=1200" in unit
    # the docker client runs as root: the vllm user is kept out of the docker group (root-equivalent)
    assert "User=root" in unit and "SupplementaryGroups" not in unit
