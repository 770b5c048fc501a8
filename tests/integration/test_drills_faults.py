"""Drills that break the served lab host's serving and interrupt `sparkfleet up` (docs/reliability.md), as one
story so that the whole chain costs one converging rerun: vLLM falls into a crash loop (verify, /health and the 503
say why); the cause is fixed and the model folder is lost, and the `up` that would repair it is interrupted by
Ctrl-C, then killed with SIGKILL, then meets a full disk, then loses its host (docker pause). After each, nothing is
left half-configured on the host; the last rerun converges. Real systemd, real rsync over ssh, a real tmpfs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import SPARKFLEET, on_host, run_sparkfleet
from sparkfleet.core import project_lock
from sparkfleet.core.project import Project
from sparkfleet.lab.test_media import make_video
from test_drills_services import VLLM_UNIT, checks_of, unit, vllm_state, wait_for
from test_video_endpoint import submit

pytestmark = [pytest.mark.lab, pytest.mark.extended]
VLLM_BIN = "/opt/sparkfleet/vllm/venv/bin/vllm"
MODEL = "qwen3-vl-tiny"
HOST_MODEL = f"/opt/sparkfleet/models/{MODEL}"


def up_until(served, moment, act, timeout: float = 900) -> tuple[int, list[dict], float]:
    """Run `sparkfleet --json up`; when moment(event) is first true, act(process). Returns the exit code, the
    events, and the seconds from the act to the end."""
    proc = subprocess.Popen([*SPARKFLEET, "--json", "up"], cwd=served["project"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=os.environ, start_new_session=True)
    events, acted_at = [], None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if acted_at is None and moment(event):
            act(proc)
            acted_at = time.monotonic()
        assert time.monotonic() < deadline, "up ran past the drill's timeout"
    code = proc.wait(timeout=300)
    assert acted_at is not None, "the moment never came: " + json.dumps(events[-3:])
    return code, events, time.monotonic() - acted_at


def at_model_copy(event: dict) -> bool:
    copy = f"Copy a controller folder to the host: {MODEL}"
    return event.get("type") == "task_start" and event["task"].endswith(copy)


def host_files(served) -> dict[str, str]:
    """sha256 of each file under the host's model folder (relative names; hidden ones too)."""
    out = on_host(served, "sh", "-c", f"cd {HOST_MODEL} 2>/dev/null && find . -type f -exec sha256sum {{}} +").stdout
    return {name[2:]: digest for digest, name in (line.split(None, 1) for line in out.splitlines())}


def controller_files(served) -> dict[str, str]:
    folder = Path(served["project"]) / ".sparkfleet" / "models" / MODEL
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def assert_nothing_half_configured(served, vllm_pid_before: str) -> None:
    """What an interrupted run may leave: old state or new, never a mix that is served."""
    # every sparkfleet unit's program exists (no unit pointing at a missing venv)
    units = on_host(served, "sh", "-c", "ls /etc/systemd/system/sparkfleet-*.service").stdout.split()
    assert units
    for path in units:
        text = on_host(served, "cat", path).stdout
        program = re.search(r"^ExecStart=[+-]?(\S+)", text, re.M).group(1)
        assert on_host(served, "test", "-x", program).returncode == 0, f"{path} runs {program}, which is missing"
    # no model file under its real name that differs from the controller's (a partial copy)
    want = controller_files(served)
    for name, digest in host_files(served).items():
        if not name.startswith(".rsync-partial/"):
            assert want.get(name) == digest, f"{HOST_MODEL}/{name} is not the controller's file"
    # vLLM was not (re)started on an incomplete model folder
    now = unit(served)
    if host_files(served).keys() & want.keys() != want.keys():
        assert now["MainPID"] in ("0", vllm_pid_before), ("vLLM was started on an incomplete model", now)
    # the run is gone: no ansible-playbook of this project is left behind, and the project is free
    wait_for("the interrupted run's processes to end",
             lambda: not project_lock.leftover_playbooks(Project(Path(served["project"]))), 30, every=0.5)
    assert run_sparkfleet("host", "list", cwd=served["project"]).code == 0


def test_crash_loop_then_interrupted_and_failing_reruns_then_one_converges(served, tmp_path):
    video = make_video(tmp_path / "loop.mp4", seconds=2)
    # --- vLLM crash-loops: its program is gone, so every start fails at once (as a broken install would)
    assert on_host(served, "mv", VLLM_BIN, VLLM_BIN + ".drill").returncode == 0
    try:
        on_host(served, "kill", "-9", unit(served)["MainPID"])
        wait_for("systemd to give up on vLLM", lambda: (u := unit(served))["ActiveState"] == "failed"
                 and int(u["NRestarts"]) >= 5, 150)
        verify = run_sparkfleet("--json", "verify", cwd=served["project"], timeout=600)
        assert verify.code == 3
        check = checks_of(verify)[f"unit_{VLLM_UNIT}"]
        assert not check["ok"] and "systemd gave up restarting it" in check["message"], check
        assert f"journalctl -u {VLLM_UNIT}" in check["hint"] and check["journal"]
        state = wait_for("/health to say why vLLM is down",
                         lambda: (s := vllm_state(served))["state"] == "down" and "gave up" in s.get("reason", "")
                         and s, 30)
        assert "sparkfleet up" in state["reason"]
        status, headers, body = submit(served, video)
        assert status == 503 and int(headers["Retry-After"]) > 0, body
        assert "systemd gave up" in body["error"]["message"], body
    finally:
        on_host(served, "mv", VLLM_BIN + ".drill", VLLM_BIN)  # the person fixes the cause...
    on_host(served, "rm", "-rf", HOST_MODEL)  # ... and the model folder is lost too: `up` must copy it again
    pid = unit(served)["MainPID"]

    # --- Ctrl-C during the model copy: exit 130, and nothing half-configured
    code, _, after = up_until(served, at_model_copy, lambda p: p.send_signal(signal.SIGINT))
    assert code == 130 and after < 120
    assert_nothing_half_configured(served, pid)

    # --- kill -9 of sparkfleet during the model copy: its ansible-playbook lives on (own session), so a rerun
    # is refused, naming it, until it ends or is stopped as the message says
    code, _, _ = up_until(served, at_model_copy, lambda p: p.kill())
    assert code == -signal.SIGKILL
    leftovers = project_lock.leftover_playbooks(Project(Path(served["project"])))
    if leftovers:  # (it may have finished already)
        busy = run_sparkfleet("--json", "up", cwd=served["project"])
        assert busy.code == 7 and "ansible-playbook (pid" in busy.summary["error"]["message"], busy.stdout
        for leftover in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGTERM)
        wait_for("the leftover ansible-playbook to stop",
                 lambda: not project_lock.leftover_playbooks(Project(Path(served["project"]))), 60, every=0.5)
    assert_nothing_half_configured(served, pid)

    # --- the disk fills during the copy: a 1 MiB filesystem where the 2.4 MB model goes
    on_host(served, "mkdir", "-p", HOST_MODEL)
    assert on_host(served, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", HOST_MODEL).returncode == 0
    try:
        full = run_sparkfleet("--json", "up", cwd=served["project"], timeout=900)
        assert full.code == 3, full.stdout[-2000:]
        failure = full.summary["result"]["phases"][1]["failures"][0]
        assert "rsync exit code 11" in failure["message"] and "disk is full" in failure["message"], failure
        assert_nothing_half_configured(served, pid)
    finally:
        on_host(served, "umount", HOST_MODEL)

    # --- the host goes away during the copy (docker pause): the run ends on its own, unreachable, within minutes
    try:
        code, _, after = up_until(served, at_model_copy,
                                       lambda p: subprocess.run(["docker", "pause", served["container"]], check=True))
    finally:
        subprocess.run(["docker", "unpause", served["container"]], check=False)
    assert code in (3, 4) and after < 240, (code, after)
    assert_nothing_half_configured(served, pid)

    # --- a plain rerun converges: model copied whole, vLLM back, verify passes inside `up`
    final = run_sparkfleet("--json", "up", cwd=served["project"], timeout=1500)
    assert final.code == 0, final.stdout[-3000:]
    assert host_files(served) == controller_files(served)
    assert unit(served)["ActiveState"] == "active"
    status, _, job = submit(served, video, wait="true")
    assert status == 200 and job["status"] == "done", job
