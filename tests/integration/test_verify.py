"""`sparkfleet verify` on the served lab host: real units, ports, HTTP, a real video through vLLM, real file modes.

Each test that breaks something puts it back in a finally block: the host is shared by the session.
"""

from __future__ import annotations

import time

import pytest
from helpers import on_host, on_host_http, run_sparkfleet

pytestmark = pytest.mark.lab
VLLM_UNIT = "sparkfleet-vllm-qwen3-vl-tiny"


def verify(served):
    result = run_sparkfleet("--json", "verify", cwd=served["project"], timeout=600)
    return result, result.summary["result"]


def test_verify_passes_every_check_and_changes_nothing(served):
    result, summary = verify(served)
    assert result.code == 0, result.stdout[-3000:]
    checks = {c["id"]: c for c in summary["verify"]["lab1"]["checks"]}
    expected = {"unit_sparkfleet-vllm-qwen3-vl-tiny", "unit_sparkfleet-video", "port_8000", "port_8080",
                "ports_only_expected", "vllm_local_only", "vllm_health", "vllm_models", "model_files",
                "endpoint_health", "dashboard", "endpoint_api", "video_round_trip", "ssh_password_login",
                "secrets_private"}
    assert set(checks) == expected
    assert all(c["ok"] for c in checks.values()), [c for c in checks.values() if not c["ok"]]
    assert "analysed through the endpoint" in checks["video_round_trip"]["message"]
    assert "loopback only" in checks["vllm_local_only"]["message"]
    verify_phase = summary["phases"][0]
    assert verify_phase["phase"] == "verify" and verify_phase["changes"] == []
    # the round trip's job was deleted: verify leaves nothing behind on the endpoint
    jobs = on_host(served, "python3", "-c", "import urllib.request;print(urllib.request.urlopen("
                   "'http://127.0.0.1:8080/v1/jobs').read().decode())").stdout
    assert "verify.mp4" not in jobs


def test_a_stopped_endpoint_fails_verify_with_the_units_journal(served):
    on_host(served, "systemctl", "stop", "sparkfleet-video")
    try:
        result, summary = verify(served)
    finally:
        on_host(served, "systemctl", "start", "sparkfleet-video")
    assert result.code == 3
    checks = {c["id"]: c for c in summary["verify"]["lab1"]["checks"]}
    unit = checks["unit_sparkfleet-video"]
    assert not unit["ok"] and "inactive" in unit["message"]
    assert "journalctl -u sparkfleet-video" in unit["hint"]
    assert any("sparkfleet-video" in line or "Stopped" in line for line in unit["journal"]), unit["journal"]
    assert not checks["endpoint_health"]["ok"] and not checks["port_8080"]["ok"]
    assert checks["vllm_health"]["ok"]  # only what is broken is reported broken
    assert "The verify phase failed" in summary["error"]


def test_a_secret_readable_by_every_user_fails_verify(served):
    on_host(served, "sh", "-c",
            "echo not-a-real-key > /etc/sparkfleet/leaked-key && chmod 0644 /etc/sparkfleet/leaked-key")
    try:
        result, summary = verify(served)
    finally:
        on_host(served, "rm", "-f", "/etc/sparkfleet/leaked-key")
    assert result.code == 3
    check = next(c for c in summary["verify"]["lab1"]["checks"] if c["id"] == "secrets_private")
    assert not check["ok"] and "/etc/sparkfleet/leaked-key" in check["message"]
    assert "chmod o-r /etc/sparkfleet/leaked-key" in check["hint"]


def restart_vllm_healthy(served, timeout: float = 300) -> None:
    on_host(served, "systemctl", "daemon-reload")
    on_host(served, "systemctl", "restart", VLLM_UNIT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_host_http(served, "http://127.0.0.1:8000/health", timeout=5)[0] == 200:
            return
        time.sleep(2)
    raise AssertionError(f"vLLM did not come back within {timeout} s")


def test_vllm_open_beyond_loopback_without_a_key_fails_verify(served):
    """vLLM's own command line, changed by hand to listen on every address (what an old unit did), with no key."""
    unit = on_host(served, "cat", f"/etc/systemd/system/{VLLM_UNIT}.service").stdout
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert "--host 127.0.0.1" in exec_start
    dropin = f"/run/systemd/system/{VLLM_UNIT}.service.d"
    on_host(served, "mkdir", "-p", dropin)
    on_host(served, "sh", "-c", f"cat > {dropin}/exposed.conf", input_text="[Service]\nExecStart=\n"
            + exec_start.replace("--host 127.0.0.1", "--host 0.0.0.0") + "\n")
    try:
        restart_vllm_healthy(served)
        result, summary = verify(served)
    finally:
        on_host(served, "rm", "-rf", dropin)
        restart_vllm_healthy(served)
    assert result.code == 3, result.stdout[-3000:]
    checks = {c["id"]: c for c in summary["verify"]["lab1"]["checks"]}
    check = checks["vllm_local_only"]
    assert not check["ok"] and "0.0.0.0:8000 without an API key" in check["message"], check
    assert "vault_vllm_api_key" in check["hint"]
    assert checks["vllm_health"]["ok"] and checks["ports_only_expected"]["ok"]  # only what is wrong is reported
