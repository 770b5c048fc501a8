"""`sparkfleet doctor` on real lab hosts: facts and checks per host, read-only, exit code from severities.

The lab hosts have no GPU; the spark-profile case shows how a host without one is reported.
"""

from __future__ import annotations

import pytest
import yaml
from helpers import run_sparkfleet

pytestmark = pytest.mark.lab


def test_doctor_reports_facts_and_checks_for_every_host_and_changes_nothing(lab_project):
    result = run_sparkfleet("--json", "doctor", cwd=lab_project, timeout=300)
    assert result.code == 0, result.stdout + result.stderr
    summary = result.summary["result"]
    assert sorted(summary["hosts"]) == ["lab1", "lab2"]
    assert summary["run"]["changed"] is False and summary["errors"] == 0
    for report in summary["hosts"].values():
        facts = report["facts"]
        assert facts["profile"] == "lab" and facts["arch"] in ("x86_64", "aarch64")
        assert facts["os"]["distribution"] == "Ubuntu" and facts["os"]["version"] == "24.04"
        assert facts["gpu"]["present"] is False
        assert facts["memory"]["total_mib"] > 0 and facts["disk"]["free_gib"] > 0
        checks = {c["id"]: c["severity"] for c in report["checks"]}
        assert checks["gpu_present"] == "ok"  # the lab profile needs no GPU


def test_without_a_gpu_the_spark_profile_is_an_error_with_a_fix(lab_project):
    inventory = lab_project / "inventory/hosts.yml"
    original = inventory.read_text()
    data = yaml.safe_load(original)
    data["all"]["children"]["lab"]["hosts"]["lab2"]["sparkfleet_profile"] = "spark"
    inventory.write_text(yaml.safe_dump(data))
    try:
        result = run_sparkfleet("--json", "doctor", "--limit", "lab2", cwd=lab_project, timeout=300)
    finally:
        inventory.write_text(original)
    assert result.code == 3, result.stdout
    checks = {c["id"]: c for c in result.summary["result"]["hosts"]["lab2"]["checks"]}
    assert checks["gpu_present"]["severity"] == "error" and checks["gpu_present"]["hint"]
    human = run_sparkfleet("doctor", "--limit", "lab1", cwd=lab_project, timeout=300)
    assert human.code == 0 and "lab1" in human.stdout and "0 error(s)" in human.stdout
