"""`sparkfleet status` and the no-op `up` on the served lab host: one read-only probe per host finds the host as
the last `up` left it, so `up` skips doctor, serve and bench; a unit file edited by hand shows as drift naming the
file, and the next `up` runs serve again and puts the file back. Leaves the host as it found it."""

from __future__ import annotations

import pytest
from helpers import on_host, run_sparkfleet

pytestmark = pytest.mark.lab

UNIT_FILE = "/etc/systemd/system/sparkfleet-video.service"


def status(served) -> dict:
    result = run_sparkfleet("--json", "status", cwd=served["project"], timeout=300)
    assert result.code == 0, result.stdout[-3000:]
    return result.summary["result"]


def up(served) -> dict:
    result = run_sparkfleet("--json", "up", cwd=served["project"], timeout=900)
    assert result.code == 0, result.stdout[-3000:]
    summary = result.summary["result"]
    return {p["phase"]: p for p in summary["phases"]} | {"_changed": summary["changed"]}


def test_a_hand_edit_is_drift_in_status_and_the_next_up_puts_it_back(served):
    up(served)  # whatever earlier tests left, this up leaves the host as sparkfleet deploys it
    phases = up(served)
    assert all(phases[name]["skipped"] for name in ("doctor", "serve", "bench")), phases.keys()
    assert not phases["verify"]["skipped"] and not phases["notes"]["skipped"] and phases["_changed"] is False
    host = status(served)["hosts"]["lab1"]
    assert host["reachable"] and host["set_up"] and host["drift"] == [], host["drift"]
    assert host["model"] == "qwen3-vl-tiny" and host["services"]["sparkfleet-video"] == "active"
    assert host["versions"]["vllm"].startswith("0.32.0") and host["last_run"]["ok"] is True

    original = on_host(served, "cat", UNIT_FILE).stdout
    on_host(served, "sh", "-c", f"echo '# edited by hand' >> {UNIT_FILE}")
    drifted = status(served)
    [drift] = drifted["hosts"]["lab1"]["drift"]
    assert drifted["drift"] is True and drift["what"] == f"unit file {UNIT_FILE}", drift

    phases = up(served)  # drift: every phase runs, and serve rewrites the unit
    assert not phases["serve"]["skipped"] and phases["_changed"] is True
    assert any("sparkfleet-video" in str(c) or "unit" in str(c).lower() for c in phases["serve"]["changes"])
    assert on_host(served, "cat", UNIT_FILE).stdout == original
    assert status(served)["hosts"]["lab1"]["drift"] == []
