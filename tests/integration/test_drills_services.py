"""Drills on the served lab host's services (docs/reliability.md): vLLM killed once, the video endpoint restarted
during a job (vLLM's crash loop is in test_drills_faults.py). Real systemd, a real vLLM (CPU build), real HTTP.
Each drill puts the host back as it found it (the host is shared by the session).
"""

from __future__ import annotations

import time

import pytest
from helpers import on_host, run_sparkfleet
from sparkfleet.lab.test_media import make_video
from test_video_endpoint import request, submit, wait_done

pytestmark = pytest.mark.lab
VLLM_UNIT = "sparkfleet-vllm-qwen3-vl-tiny"
VLLM_BIN = "/opt/sparkfleet/vllm/venv/bin/vllm"


def unit(served, name: str = VLLM_UNIT) -> dict[str, str]:
    out = on_host(served, "systemctl", "show", name, "-p", "ActiveState,SubState,Result,NRestarts,MainPID").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def vllm_state(served) -> dict:
    return request(served["endpoint"] + "/health", timeout=10)[2]["vllm"]


def wait_for(what: str, predicate, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(every)


def checks_of(result) -> dict[str, dict]:
    return {c["id"]: c for c in result.summary["result"]["verify"]["lab1"]["checks"]}


def test_vllm_killed_once_is_restarted_by_systemd_and_verify_passes(served):
    before = unit(served)
    assert before["ActiveState"] == "active", before
    assert on_host(served, "kill", "-9", before["MainPID"]).returncode == 0
    wait_for("systemd to restart vLLM", lambda: int(unit(served)["NRestarts"]) > int(before["NRestarts"]), 60)
    wait_for("vLLM to be ready again", lambda: vllm_state(served)["state"] == "ready", 300)
    verify = run_sparkfleet("--json", "verify", cwd=served["project"], timeout=600)
    assert verify.code == 0, verify.stdout[-3000:]
    assert f"restarts: {int(before['NRestarts']) + 1}" in checks_of(verify)[f"unit_{VLLM_UNIT}"]["message"]


def test_endpoint_restarted_during_a_job_resumes_it(served, tmp_path):
    status, _, job = submit(served, make_video(tmp_path / "long.mp4", seconds=40), segment_seconds=2)
    assert status == 202, job
    wait_for("the job to start", lambda: request(f"{served['endpoint']}/v1/jobs/{job['id']}")[2]["status"]
             in ("probing", "running"), 60, every=0.3)
    progress = request(f"{served['endpoint']}/v1/jobs/{job['id']}")[2]["progress"]
    assert on_host(served, "systemctl", "restart", "sparkfleet-video").returncode == 0
    assert progress["segments_done"] < 20, "the job ended before the restart: the drill tested nothing"
    wait_for("the endpoint to answer again", lambda: _answers(served), 60, every=0.5)
    done = wait_done(served, job["id"], timeout=300)
    # resumed to the end, or failed with a reason: never lost, never stuck
    assert done["status"] == "done" or (done["status"] == "failed" and done.get("error")), done
    if done["status"] == "done":
        assert len(done["segments"]) == 20 and all(s["status"] == "done" for s in done["segments"]), done["segments"]


def _answers(served) -> bool:
    try:
        return request(served["endpoint"] + "/health", timeout=3)[0] == 200
    except OSError:
        return False
