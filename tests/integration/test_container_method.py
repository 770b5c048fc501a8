"""The container method, a Spark's default, for real on a Debian 12 lab host (issue 12).

The host sets vllm_install_method: container; the lab profile swaps only the engine (podman: Docker cannot run
nested) and drops the GPU flags. The image is vLLM's CPU build made on the controller from the pip method's
wheelhouse and loaded on the host from an archive (no registry). The same role and unit logic as a Spark then
pins the image, starts the unit once, gates on /health, warms up, restarts on failure and takes a new image.
Its own host: the tests kill vLLM and change its image. The unit's difference from a Spark's:
tests/unit/test_vllm_container_unit.py.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from helpers import on_host, on_host_http, run_sparkfleet

pytestmark = [pytest.mark.lab, pytest.mark.extended]
UNIT = "sparkfleet-vllm-qwen3-vl-tiny"
STATE = "/opt/sparkfleet/vllm/state.json"


@pytest.fixture(scope="module")
def contained(tmp_path_factory):
    root = tmp_path_factory.mktemp("container") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    up = run_sparkfleet("--json", "lab", "up", "--os", "debian12", cwd=root, timeout=900)
    assert up.code == 0, up.stdout + up.stderr
    (root / "inventory/host_vars").mkdir(exist_ok=True)
    (root / "inventory/host_vars/lab1.yml").write_text("---\nvllm_install_method: container\n")
    host = up.summary["result"]["hosts"][0]
    served = {"project": root, "container": host["container"], "api": "http://127.0.0.1:8000",
              "endpoint": f"http://127.0.0.1:{host['ports']['8080']}"}
    first = run_sparkfleet("--json", "up", cwd=root, timeout=1800)
    assert first.code == 0, first.stdout[-5000:] + first.stderr[-3000:]
    yield {**served, "first": first}
    assert run_sparkfleet("lab", "down", cwd=root, timeout=300).code == 0


def starts(served, since: str | None = None) -> list[str]:
    command = ["journalctl", "-u", UNIT, "-o", "cat"] + (["--since", since] if since else [])
    return [line for line in on_host(served, *command).stdout.splitlines() if line.startswith("Started ")]


def exec_start(served) -> str:
    return on_host(served, "systemctl", "show", UNIT, "-p", "ExecStart", "--value").stdout


def wait_healthy(served, timeout: float = 900) -> None:  # vfs copies the whole image before each start
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if on_host_http(served, served["api"] + "/health", timeout=5)[0] == 200:
                return
        except (OSError, AssertionError):
            pass
        time.sleep(2)
    raise AssertionError(f"vLLM did not answer /health within {timeout} s")


def test_the_first_up_serves_the_model_from_the_loaded_image_started_once(contained):
    state = json.loads(on_host(contained, "cat", STATE).stdout)
    assert state["image"].startswith("localhost/sparkfleet-vllm-cpu:")
    assert re.fullmatch(r"(sha256:)?[0-9a-f]{64}", state["image_digest"])  # podman prints IDs without the prefix
    command = exec_start(contained)
    assert "path=/usr/bin/podman" in command and state["image_digest"] in command  # pinned: the image's ID
    assert "--gpus" not in command
    running = on_host(contained, "podman", "ps", "--format", "{{.Names}} {{.ImageID}}").stdout.split()
    assert running[0] == UNIT and state["image_digest"].removeprefix("sha256:").startswith(running[1])
    assert len(starts(contained)) == 1  # started once, not started and restarted at once
    status, models = on_host_http(contained, contained["api"] + "/v1/models")
    assert status == 200 and [m["id"] for m in models["data"]] == ["qwen3-vl-tiny"]
    status, answer = on_host_http(contained, contained["api"] + "/v1/chat/completions", {
        "model": "qwen3-vl-tiny", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4})
    assert status == 200 and answer["usage"]["completion_tokens"] >= 1
    serve = next(p for p in contained["first"].summary["result"]["phases"] if p["phase"] == "serve")
    tasks = [change["task"] for change in serve["changes"]]
    assert "Load the image from its archive (no registry)" in tasks and "Enable and start vLLM" in tasks
    assert "Restart vLLM" not in tasks, tasks


def test_a_second_up_changes_nothing(contained):
    again = run_sparkfleet("--json", "up", cwd=contained["project"], timeout=900)
    assert again.code == 0, again.stdout[-3000:]
    assert again.summary["result"]["changed"] is False, [
        (p["phase"], p["changes"]) for p in again.summary["result"]["phases"] if p.get("changes")]


def test_a_killed_container_is_restarted_by_systemd(contained):
    before = int(on_host(contained, "systemctl", "show", UNIT, "-p", "NRestarts", "--value").stdout)
    assert on_host(contained, "podman", "kill", UNIT).returncode == 0
    deadline = time.monotonic() + 60
    while int(on_host(contained, "systemctl", "show", UNIT, "-p", "NRestarts", "--value").stdout) == before:
        assert time.monotonic() < deadline, "systemd did not restart the unit after its container was killed"
        time.sleep(1)
    wait_healthy(contained)


def test_a_new_image_is_loaded_pinned_and_started_once(contained):
    """Runs last: an upgrade (a new image revision) replaces the image the unit runs, with one restart."""
    old = json.loads(on_host(contained, "cat", STATE).stdout)["image_digest"]
    host_vars = contained["project"] / "inventory/host_vars/lab1.yml"
    host_vars.write_text(host_vars.read_text() + "vllm_container_lab_image_revision: 1\n")
    since = on_host(contained, "date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    time.sleep(1)
    upgrade = run_sparkfleet("--json", "up", cwd=contained["project"], timeout=1800)
    assert upgrade.code == 0, upgrade.stdout[-5000:]
    new = json.loads(on_host(contained, "cat", STATE).stdout)["image_digest"]
    assert new != old and new in exec_start(contained)
    assert on_host(contained, "podman", "exec", UNIT, "cat", "/etc/sparkfleet-image-revision").stdout.strip() == "1"
    assert len(starts(contained, since)) == 1
    wait_healthy(contained)
