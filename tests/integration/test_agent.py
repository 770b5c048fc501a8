"""The agent interface on real lab hosts: `run` with the policy (a flagged playbook changes nothing until
approved, proven from the hosts), a scripted agent session that reads only --json and exit codes, and the MCP
server called with the MCP SDK's own stdio client. Every JSON line and record is checked against the shipped
JSON Schemas.

The hosts are two bare lab hosts of this module's own (seconds to start once the image exists): the runs leave
notes on them, and lab_project's hosts must stay fresh for test_check_mode.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import Result, run_sparkfleet
from sparkfleet.agent import schemas

pytestmark = pytest.mark.lab

PROBE = "/var/tmp/sparkfleet-policy-probe"
FLAGGED = f"""---
- name: Leave a probe file with a shell command on every host
  hosts: all
  gather_facts: false
  tasks:
    - name: Create the probe file
      ansible.builtin.shell:
        cmd: echo probe > {PROBE}
        creates: {PROBE}
"""


@pytest.fixture(scope="module")
def agent_lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("agent") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    up = run_sparkfleet("--json", "lab", "up", "--hosts", "2", cwd=root, timeout=900)
    assert up.code == 0, up.stdout + up.stderr
    containers = {h["name"]: h["container"] for h in up.summary["result"]["hosts"]}
    yield root, containers
    assert run_sparkfleet("lab", "down", cwd=root, timeout=300).code == 0


def conforms(result: Result) -> dict:
    """Every line of a --json output against the schemas; returns the summary."""
    for line in result.json_lines():
        name = "summary" if line["type"] == "summary" else "event"
        assert schemas.errors(name, line) == [], line
    return result.summary


def record_conforms(project: Path, record_id: str) -> dict:
    record = json.loads((project / ".sparkfleet" / "history" / f"{record_id}.json").read_text())
    assert schemas.errors("record", record) == []
    return record


def exists_on(container: str, path: str) -> bool:
    return subprocess.run(["docker", "exec", container, "test", "-e", path]).returncode == 0


def test_a_flagged_playbook_changes_no_host_until_approved_by_yes_or_by_its_digest(agent_lab):
    project, containers = agent_lab
    book = project / "probe.yml"
    book.write_text(FLAGGED)
    refused = run_sparkfleet("--json", "run", "probe.yml", cwd=project, timeout=300)
    summary = conforms(refused)
    assert refused.code == 6 and summary["exit_code"] == 6 and summary["ok"] is False
    checks = summary["result"]["checks"]
    assert summary["result"]["applied"] is False and checks["needs_approval"] is True
    assert "shell_on_all_hosts" in checks["policy"]["rules"]
    assert checks["sha256"] in checks["approval"]["how"] and "--yes" in checks["approval"]["how"]
    assert sorted(d["host"] for d in checks["diff"]) == ["lab1", "lab2"]  # what the check-mode run would change
    assert not any(exists_on(c, PROBE) for c in containers.values())  # from the hosts, not the output

    approved = run_sparkfleet("--json", "run", "probe.yml", "--yes", "--limit", "lab1", cwd=project, timeout=600)
    summary = conforms(approved)
    assert approved.code == 0, summary
    assert summary["result"]["applied"] is True and summary["result"]["checks"]["approved_by"] == "--yes"
    assert exists_on(containers["lab1"], PROBE) and not exists_on(containers["lab2"], PROBE)
    record = record_conforms(project, summary["result"]["record"])
    assert record["command"] == "run" and [p["phase"] for p in record["phases"]] == ["playbook", "notes"]
    assert record["playbook"]["approved_by"] == "--yes" and record["playbook"]["sha256"] == checks["sha256"]
    assert (project / record["report"]).is_file()

    (project / "approvals.yml").write_text(yaml.safe_dump({"approved": [{"sha256": checks["sha256"]}]}))
    by_file = run_sparkfleet("--json", "run", "probe.yml", cwd=project, timeout=600)
    summary = conforms(by_file)
    assert by_file.code == 0 and summary["result"]["checks"]["approved_by"] == "approvals.yml"
    assert [c["host"] for c in summary["result"]["phases"][0]["changes"]] == ["lab2"]  # lab1 had it: no change
    assert all(exists_on(c, PROBE) for c in containers.values())

    # an edited playbook needs approving again; this edit also breaks a lint rule, which needs approval too
    book.write_text(FLAGGED + "    - ansible.builtin.debug:\n        msg: unnamed\n")
    edited = run_sparkfleet("--json", "run", "probe.yml", cwd=project, timeout=300)
    summary = conforms(edited)
    assert edited.code == 6 and summary["result"]["applied"] is False
    assert summary["result"]["checks"]["lint"]["findings"][0]["rule"] == "name[missing]"
    assert {"lint", "shell_on_all_hosts"} <= set(summary["result"]["checks"]["policy"]["rules"])


def test_a_scripted_agent_session_reading_only_json_and_exit_codes(agent_lab):
    project, containers = agent_lab

    def step(*args: str, code: int = 0, timeout: float = 600) -> dict:
        result = run_sparkfleet("--json", *args, cwd=project, timeout=timeout)
        summary = conforms(result)
        assert result.code == code, (args, summary)
        return summary["result"]

    described = step("describe")
    assert "sparkfleet.spark.notes" in described["roles"] and "run" in {c["command"] for c in described["commands"]}
    step("bootstrap", timeout=300)  # the lab hosts take the controller's key already: no password needed
    # read first: hosts no run has touched have none yet
    before = run_sparkfleet("--json", "notes", "show", cwd=project)
    assert before.code == 0 or (before.code == 2 and "sparkfleet up" in conforms(before)["error"]["hint"])
    spec = {"name": "Write the agent's marker on every lab host", "hosts": "lab",
            "tasks": [{"name": "Write the marker", "module": "ansible.builtin.copy", "become": True,
                       "args": {"content": "written by an agent\n", "dest": "/var/tmp/agent-marker", "mode": "0644"}}]}
    (project / "task.json").write_text(json.dumps(spec))
    generated = step("generate", "--spec", "task.json", "-o", "task.yml")
    checked = step("run", "task.yml", "--check")
    assert checked["applied"] is False and checked["checks"]["policy"]["flags"] == []
    assert not exists_on(containers["lab1"], "/var/tmp/agent-marker")
    applied = step("run", "task.yml")
    assert applied["applied"] and applied["changed"] and applied["checks"]["sha256"] == generated["sha256"]
    assert all(exists_on(c, "/var/tmp/agent-marker") for c in containers.values())
    again = step("run", "task.yml", "--check")  # idempotent: a dry run after it would change nothing
    assert again["checks"]["check_run"]["changed"] is False and again["checks"]["diff"] == []
    doctor = step("doctor", timeout=300)
    assert set(doctor["hosts"]) == {"lab1", "lab2"} and doctor["errors"] == 0
    assert set(step("notes", "show")["hosts"]) == {"lab1", "lab2"}  # the run left notes on every host
    step("notes", "add", "lab1", "The agent wrote /var/tmp/agent-marker.")
    state = step("notes", "show", "lab1")["hosts"]["lab1"]
    assert any("agent-marker" in (n.get("text") if isinstance(n, dict) else n) for n in state["notes"])
    report = step("report", applied["record"])
    assert Path(report["report"]).is_file()


def test_the_mcp_server_serves_every_tool_to_the_sdk_client(agent_lab):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    project, containers = agent_lab
    spec = {"name": "Write the MCP marker on lab1", "hosts": "lab1",
            "tasks": [{"name": "Write the marker", "module": "ansible.builtin.copy", "become": True,
                       "args": {"content": "via mcp\n", "dest": "/var/tmp/mcp-marker", "mode": "0644"}}]}

    async def session() -> dict:
        params = StdioServerParameters(command=sys.executable, args=["-m", "sparkfleet", "mcp", "--project",
                                                                     str(project)], env=dict(os.environ))
        results, progress = {}, []

        async def on_progress(count, total, message):
            progress.append(message)

        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            results["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
            calls = [("describe", {}), ("status", {}), ("notes", {"host": "lab1"}), ("doctor", {"limit": "lab1"}),
                     ("generate", {"spec": spec, "output": "mcp.yml"}), ("check", {"playbook": "mcp.yml"}),
                     ("run", {"playbook": "mcp.yml"}), ("verify", {"limit": "lab1"})]
            for name, args in calls:
                reply = await client.call_tool(name, args, progress_callback=on_progress)
                assert not reply.isError, (name, reply.content)
                results[name] = reply.structuredContent
            results["report"] = (await client.call_tool("report", {"record_id": results["run"]["result"]["record"]}
                                                        )).structuredContent
        results["progress"] = progress
        return results

    results = asyncio.run(asyncio.wait_for(session(), 900))
    assert results["tools"] == sorted(["describe", "status", "notes", "doctor", "generate", "check", "run",
                                       "verify", "report"])
    for name in ("describe", "status", "notes", "doctor", "generate", "check", "run", "verify", "report"):
        assert schemas.errors("summary", results[name]) == [], name
    assert results["describe"]["ok"] and "sparkfleet.spark.vllm" in results["describe"]["result"]["roles"]
    assert set(results["status"]["result"]["hosts"]) == {"lab1", "lab2"}
    assert results["doctor"]["exit_code"] == 0 and set(results["doctor"]["result"]["hosts"]) == {"lab1"}
    assert results["generate"]["ok"] and (project / "mcp.yml").is_file()
    assert results["check"]["ok"] and results["check"]["result"]["applied"] is False
    assert results["run"]["ok"] and results["run"]["result"]["applied"] is True
    assert exists_on(containers["lab1"], "/var/tmp/mcp-marker")
    assert not exists_on(containers["lab2"], "/var/tmp/mcp-marker")
    # nothing is served on these bare hosts: verify answers, and fails, with its checks per host
    assert results["verify"]["exit_code"] == 3 and "lab1" in results["verify"]["result"]["verify"]
    assert Path(results["report"]["result"]["report"]).is_file()
    assert any(m.startswith("task: Write the marker") for m in results["progress"])  # the run's events, live


def test_a_real_up_conforms_to_the_schemas(served):
    """The first `up` on the served host (the shared fixture): its event lines and summary, its record and the
    bench result it fetched, each against its schema."""
    summary = conforms(served["first"])
    project = served["project"]
    record = record_conforms(project, summary["result"]["record"])
    assert [p["phase"] for p in record["phases"]] == ["doctor", "serve", "verify", "bench", "notes"]
    files = [entry["file"] for entry in record["phases"][3]["data"].values() if entry.get("file")]
    assert files
    for name in files:
        assert schemas.errors("bench-result", json.loads((project / name).read_text())) == [], name
