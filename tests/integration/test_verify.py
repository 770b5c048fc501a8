"""`sparkfleet verify` on the served lab host: real units, ports, HTTP, a real video through vLLM, real file modes.

Each test that breaks something puts it back in a finally block: the host is shared by the session.
"""

from __future__ import annotations

import pytest
from helpers import on_host, run_sparkfleet

pytestmark = pytest.mark.lab


def verify(served):
    result = run_sparkfleet("--json", "verify", cwd=served["project"], timeout=600)
    return result, result.summary["result"]


def test_verify_passes_every_check_and_changes_nothing(served):
    result, summary = verify(served)
    assert result.code == 0, result.stdout[-3000:]
    checks = {c["id"]: c for c in summary["verify"]["lab1"]["checks"]}
    expected = {"unit_sparkfleet-vllm-qwen3-vl-tiny", "unit_sparkfleet-video", "port_8000", "port_8080",
                "ports_only_expected", "vllm_health", "vllm_models", "model_files", "endpoint_health", "dashboard",
                "endpoint_api", "video_round_trip", "ssh_password_login", "secrets_private"}
    assert set(checks) == expected
    assert all(c["ok"] for c in checks.values()), [c for c in checks.values() if not c["ok"]]
    assert "analysed through the endpoint" in checks["video_round_trip"]["message"]
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
