"""Secure defaults on the served lab host: each unit's sandbox as systemd-analyze scores it, and the video
endpoint's API key on the Spark's default (video_endpoint_open: false) made by `up` and kept out of every record."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from helpers import on_host, run_sparkfleet

pytestmark = pytest.mark.lab

UNITS = ("sparkfleet-vllm-qwen3-vl-tiny", "sparkfleet-video")


def exposure(served: dict, unit: str) -> float:
    result = on_host(served, "systemd-analyze", "security", "--no-pager", f"{unit}.service")
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert found, result.stdout[-2000:] + result.stderr
    return float(found.group(1))


@pytest.mark.parametrize("unit", UNITS)
def test_the_unit_s_sandbox_scores_ok_in_systemd_analyze_security(served, unit):
    """Below 4.0 is what systemd-analyze calls OK (both units scored 8.5 EXPOSED before they were hardened)."""
    score = exposure(served, unit)
    assert score < 4.0, f"{unit}: {score}"


def status(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def test_on_the_spark_default_the_endpoint_requires_the_key_up_made_and_no_record_holds_it(served):
    project, endpoint = served["project"], served["endpoint"]
    host_vars = project / "inventory/host_vars/lab1.yml"
    host_vars.parent.mkdir(exist_ok=True)
    host_vars.write_text("---\n# The Spark's default, on a lab host\nvideo_endpoint_open: false\n")
    try:
        up = run_sparkfleet("--json", "up", cwd=project, timeout=1800)
        assert up.code == 0, up.stdout[-5000:] + up.stderr[-3000:]
        where = up.summary["result"]["video_api_key"]
        assert where["created"] is False  # the served fixture's first `up` made it; this one keeps it
        stored = project / where["stored_in"]
        key = yaml.safe_load(stored.read_text())["vault_video_api_key"]
        assert len(key) >= 43 and oct(stored.stat().st_mode & 0o777) == "0o600"

        assert status(f"{endpoint}/v1/jobs") == 401
        assert status(f"{endpoint}/v1/jobs", "not-the-key") == 401
        assert status(f"{endpoint}/v1/jobs", key) == 200

        report = project / up.summary["result"]["report"]  # relative to the project
        assert where["stored_in"] in report.read_text()  # the report says where the key is
        notes = on_host(served, "cat", "/var/lib/sparkfleet/NOTES.md").stdout
        assert "API key required" in notes and "vault_video_api_key" in notes
        journal = on_host(served, "journalctl", "--no-pager", "-o", "cat").stdout
        records = files_under(*(project / ".sparkfleet" / name for name in ("runs", "history", "hosts", "facts")),
                              project / "reports")
        assert records
        leaks = [str(p) for p in records if key in p.read_text(errors="replace")]
        assert not leaks and key not in journal and key not in notes and key not in up.stdout + up.stderr
    finally:
        host_vars.unlink()
        back = run_sparkfleet("--json", "up", cwd=project, timeout=1800)  # the lab's open endpoint again
        assert back.code == 0, back.stdout[-3000:]
    assert status(f"{endpoint}/v1/jobs") == 200
