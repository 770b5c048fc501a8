"""The lab and the first playbook on real hosts: lab up, ping, idempotence, host keys, lab down."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import run_sparkfleet

pytestmark = pytest.mark.lab


def docker_names(label_filter: str, kind: str = "ps") -> list[str]:
    args = ["docker", kind, "-a", "--filter", label_filter, "--format", "{{.Names}}"] if kind == "ps" else \
        ["docker", "network", "ls", "--filter", label_filter, "--format", "{{.Name}}"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()


def lab_hosts(project) -> dict:
    data = yaml.safe_load((project / "inventory/hosts.yml").read_text())
    return (data["all"]["children"].get("lab") or {}).get("hosts") or {}


def test_lab_up_adds_hosts_to_the_inventory_and_pins_their_own_host_keys(lab_project):
    hosts = lab_hosts(lab_project)
    assert sorted(hosts) == ["lab1", "lab2"]
    pins = (lab_project / ".sparkfleet/known_hosts").read_text().splitlines()
    ports = sorted(f"[127.0.0.1]:{h['ansible_port']}" for h in hosts.values())
    assert sorted(line.split()[0] for line in pins) == ports
    assert len({line.split()[2] for line in pins}) == 2  # each host has its own key
    status = run_sparkfleet("--json", "lab", "status", cwd=lab_project)
    assert [(h["name"], h["state"], h["os"]) for h in status.summary["result"]["hosts"]] == [
        ("lab1", "running", "ubuntu2404"), ("lab2", "running", "ubuntu2404")]


def test_ping_reaches_every_host_and_stdout_is_only_json(lab_project):
    result = run_sparkfleet("--json", "ping", cwd=lab_project, timeout=300)
    assert result.code == 0, result.stdout + result.stderr
    lines = result.json_lines()  # fails if any stdout line is not JSON
    summary = result.summary
    assert summary["ok"] is True and summary["command"] == "ping"
    assert {name: stats["status"] for name, stats in summary["result"]["hosts"].items()} == {
        "lab1": "ok", "lab2": "ok"}
    answered = {e["host"] for e in lines if e["type"] == "host_result" and e["status"] == "ok"}
    assert answered == {"lab1", "lab2"}


def test_second_runs_change_nothing(lab_project):
    before = lab_hosts(lab_project)
    again = run_sparkfleet("--json", "lab", "up", "--hosts", "2", cwd=lab_project, timeout=300)
    assert again.code == 0 and again.summary["result"]["created"] == [] and again.summary["result"]["changed"] is False
    assert lab_hosts(lab_project) == before
    for _ in range(2):
        ping = run_sparkfleet("--json", "ping", cwd=lab_project, timeout=300)
        assert ping.code == 0 and ping.summary["result"]["changed"] is False


def test_a_changed_host_key_stops_the_connection(lab_project):
    known = lab_project / ".sparkfleet/known_hosts"
    original = known.read_text()
    port = lab_hosts(lab_project)["lab2"]["ansible_port"]
    other_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    lines = [f"[127.0.0.1]:{port} {other_key} impostor" if line.startswith(f"[127.0.0.1]:{port} ") else line
             for line in original.splitlines()]
    known.write_text("\n".join(lines) + "\n")
    # Ansible keeps master connections open (ControlPersist); close them so the next run connects anew.
    for socket_path in (Path.home() / ".ansible" / "cp").glob("*"):
        subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket_path}", "unused"], capture_output=True)
    try:
        result = run_sparkfleet("--json", "ping", "--limit", "lab2", cwd=lab_project, timeout=300)
        assert result.code == 4
        assert "host key" in result.summary["result"]["failures"][0]["message"].lower()
    finally:
        known.write_text(original)


def test_lab_down_leaves_nothing_behind_on_debian12(tmp_path):
    project = tmp_path / "p"
    assert run_sparkfleet("init", str(project)).code == 0
    up = run_sparkfleet("--json", "lab", "up", "--os", "debian12", cwd=project, timeout=900)
    assert up.code == 0, up.stdout + up.stderr
    ping = run_sparkfleet("--json", "ping", cwd=project, timeout=300)
    assert ping.code == 0 and ping.summary["result"]["hosts"]["lab1"]["status"] == "ok"
    container = up.summary["result"]["hosts"][0]["container"]
    label = f"label=io.sparkfleet.lab.project={container.split('-')[2]}"
    assert docker_names(label) == [container]

    down = run_sparkfleet("--json", "lab", "down", cwd=project, timeout=300)
    assert down.code == 0 and down.summary["result"]["removed"] == ["lab1"]
    assert docker_names(label) == []
    assert docker_names(label, kind="network") == []
    assert lab_hosts(project) == {}
    assert "lab" not in yaml.safe_load((project / "inventory/hosts.yml").read_text())["all"]["children"]
    assert (project / ".sparkfleet/known_hosts").read_text().strip() == ""
    again = run_sparkfleet("--json", "lab", "down", cwd=project)
    assert again.code == 0 and again.summary["result"]["removed"] == []
    assert json.loads(down.stdout.splitlines()[-1])["type"] == "summary"
