"""`sparkfleet up` does the whole paragraph on the served lab host: doctor, serve, verify, bench, notes, report.

The `served` fixture ran the first `up` on a bare host; these tests read what it left behind, then run `up` again:
once with a problem planted on the host (it must stop at verify with a partial report, and the host's notes must
remember the problem) and once after the problem is gone (the notes must say which run fixed it).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from helpers import on_host, run_sparkfleet

pytestmark = pytest.mark.lab


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_the_first_up_ran_every_phase_and_left_a_report_notes_and_bench(served):
    result = served["first"].summary["result"]
    project: Path = served["project"]
    assert [p["phase"] for p in result["phases"]] == ["doctor", "serve", "verify", "bench", "notes"]
    assert all(p["ok"] for p in result["phases"]) and result["error"] is None
    assert result["changed"] is True
    # the record, the report with its charts, the gathered notes and the fetched bench result
    record = json.loads((project / ".sparkfleet" / "history" / f"{result['record']}.json").read_text())
    assert record["ok"] and record["report"] == result["report"]
    report = project / result["report"]
    text = report.read_text()
    assert "lab1" in text and "qwen3-vl-tiny" in text
    charts = list(report.parent.glob("*.png"))
    assert charts and all(c.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for c in charts)
    newest = sorted((project / ".sparkfleet" / "history").glob("*.json"))[-1]  # later tests add records
    newest_report = project / json.loads(newest.read_text())["report"]
    assert (project / "reports" / "latest.md").resolve() == newest_report.resolve()
    # the gathered state is the newest run's (tests before this one ran more commands)
    state = json.loads((project / ".sparkfleet" / "hosts" / "lab1" / "state.json").read_text())
    assert state["vllm"]["active"] == "active" and state["vllm"]["version"].startswith("0.32.0")
    assert state["last_run"]["id"] == newest.stem and state["last_verify"]["ok"] is True
    assert state["last_bench"]["scenarios"]
    bench = json.loads((project / record["phases"][3]["data"]["lab1"]["file"]).read_text())
    assert bench["scenarios"] and all(s["completed"] == s["num_prompts"] for s in bench["scenarios"])
    # the URLs the summary gives are the ones that answer, and the dashboard serves the notes and the bench
    urls = result["hosts"]["lab1"]
    assert urls["endpoint"] == served["endpoint"] and urls["api"] == served["api"] + "/v1"
    notes = get_json(served["endpoint"] + "/api/notes")["markdown"]
    assert "# lab1: notes for whoever runs this host next" in notes and "sparkfleet-vllm-qwen3-vl-tiny" in notes
    assert get_json(served["endpoint"] + "/api/bench")["results"]


def test_a_failing_up_stops_with_a_partial_report_and_the_next_run_records_the_fix(served):
    project: Path = served["project"]
    on_host(served, "sh", "-c", "echo x > /etc/sparkfleet/planted-key && chmod 0644 /etc/sparkfleet/planted-key")
    try:
        failed = run_sparkfleet("--json", "up", cwd=project, timeout=900)
    finally:
        on_host(served, "rm", "-f", "/etc/sparkfleet/planted-key")
    assert failed.code == 3, failed.stdout[-3000:]
    result = failed.summary["result"]
    assert [(p["phase"], p["ok"]) for p in result["phases"]] == [
        ("doctor", True), ("serve", True), ("verify", False), ("notes", True)]  # bench was not reached
    assert "The verify phase failed" in result["error"] and "secrets_private" in result["error"]
    report = (project / result["report"]).read_text()
    assert "planted-key" in report and "verify" in report
    state = json.loads((project / ".sparkfleet" / "hosts" / "lab1" / "state.json").read_text())
    [problem] = [p for p in state["problems"] if p["run"] == result["record"]]
    assert problem["phase"] == "verify" and problem["resolved_at"] is None

    fixed = run_sparkfleet("--json", "up", "--model", "qwen3-vl-tiny", cwd=project, timeout=900)
    assert fixed.code == 0, fixed.stdout[-3000:]
    # a model given to a successful up is remembered for the runs after it
    assert "sparkfleet_model: qwen3-vl-tiny" in (project / "inventory/group_vars/all/model.yml").read_text()
    state = json.loads((project / ".sparkfleet" / "hosts" / "lab1" / "state.json").read_text())
    [problem] = [p for p in state["problems"] if p["run"] == result["record"]]
    assert problem["resolved_by"] == fixed.summary["result"]["record"]
    notes = on_host(served, "cat", "/var/lib/sparkfleet/NOTES.md").stdout
    assert f"Fixed {problem['resolved_at']} by run `{problem['resolved_by']}`" in notes
