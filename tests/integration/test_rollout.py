"""Rollouts on three lab hosts (real Ansible, real vLLM CPU build, the tiny Qwen3-VL): a canary then the rest; a
rolling flag change probed throughout (at most one batch's endpoints down at a time) that halts when a host is
stopped mid-rollout and converges on a rerun once it is back; a failing upgrade rolled back; down, then up again.

The module's hosts are its own (the tests change and remove what they serve); they run in file order.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import run_sparkfleet

pytestmark = [pytest.mark.lab, pytest.mark.extended]

HOSTS = ["lab1", "lab2", "lab3"]
UNIT = "/etc/systemd/system/sparkfleet-vllm-qwen3-vl-tiny.service"


def lab_hosts(root: Path) -> dict[str, dict]:
    """{host: {"container", "endpoint"}} as `lab status` reports them now (ports change when a host restarts)."""
    status = run_sparkfleet("--json", "lab", "status", cwd=root, timeout=120)
    assert status.code == 0, status.stderr
    return {h["name"]: {"container": h["container"], "endpoint": f"http://127.0.0.1:{h['ports']['8080']}"}
            for h in status.summary["result"]["hosts"]}


def in_container(container: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True, timeout=120,
                          check=False)


def unit_text(fleet: dict, host: str) -> str:
    return in_container(fleet["hosts"][host]["container"], "cat", UNIT).stdout


def set_flags(root: Path, text: str | None) -> None:
    path = root / "inventory" / "group_vars" / "all" / "test_flags.yml"
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text("---\n" + text)


class Probe(threading.Thread):
    """Asks every endpoint's /health in turn, continuously: a host is down when it does not answer or its vLLM is
    not ready. Keeps each round's set of down hosts."""

    def __init__(self, hosts: dict[str, dict]):
        super().__init__(daemon=True)
        self.hosts = hosts
        self.rounds: list[frozenset[str]] = []
        self.stopped = threading.Event()

    def down(self, endpoint: str) -> bool:
        try:
            with urllib.request.urlopen(endpoint + "/health", timeout=3) as response:
                return json.loads(response.read())["vllm"]["state"] != "ready"
        except (OSError, ValueError, KeyError):
            return True

    def run(self) -> None:
        while not self.stopped.is_set():
            self.rounds.append(frozenset(h for h, info in self.hosts.items() if self.down(info["endpoint"])))
            time.sleep(0.2)

    def finish(self) -> list[frozenset[str]]:
        self.stopped.set()
        self.join(timeout=30)
        return self.rounds


def assert_one_batch_down_at_most(rounds: list[frozenset[str]], batches: list[list[str]]) -> None:
    assert rounds, "the probe made no round"
    for down in rounds:
        assert any(down <= set(batch) for batch in batches), f"hosts of two batches down at once: {sorted(down)}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Three Debian 12 lab hosts after `sparkfleet up --batches 1,100%`."""
    root = tmp_path_factory.mktemp("fleet") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    lab = run_sparkfleet("--json", "lab", "up", "--os", "debian12", "--hosts", "3", cwd=root, timeout=900)
    assert lab.code == 0, lab.stdout + lab.stderr
    first = run_sparkfleet("--json", "up", "--batches", "1,100%", cwd=root, timeout=2400)
    assert first.code == 0, first.stdout[-5000:] + first.stderr[-3000:]
    yield {"project": root, "first": first, "hosts": lab_hosts(root)}
    assert run_sparkfleet("lab", "down", cwd=root, timeout=300).code == 0


def test_up_rolls_out_to_a_canary_then_the_rest(fleet):
    rollout = fleet["first"].summary["result"]["rollout"]
    assert [b["hosts"] for b in rollout["batches"]] == [["lab1"], ["lab2", "lab3"]]
    assert rollout["done"] == HOSTS and rollout["failed"] == [] and rollout["untouched"] == []
    assert rollout["halted_after"] is None
    # verify ran in each batch, before the next one started (the gate)
    phases = [[p["phase"] for p in batch["phases"]] for batch in rollout["batches"]]
    assert phases == [["doctor", "serve", "verify", "bench"]] * 2
    events = fleet["first"].json_lines()
    canary_verify = next(i for i, e in enumerate(events) if e["type"] == "run_start"
                         and Path(e["playbook"]).stem == "verify" and e["limit"] == "lab1")
    second_batch = next(i for i, e in enumerate(events) if e.get("message") == "Batch 2 of 2: lab2, lab3")
    assert canary_verify < second_batch


def test_a_rolling_flag_change_halts_on_a_stopped_host_and_a_rerun_converges(fleet):
    root: Path = fleet["project"]
    hosts = fleet["hosts"]
    batches = [["lab1"], ["lab2"], ["lab3"]]
    set_flags(root, "vllm_max_num_seqs: 3\n")
    probe = Probe(hosts)
    probe.start()
    # the rollout, in batches of one; lab2 stops (docker stop) as its batch begins
    proc = subprocess.Popen(["sparkfleet", "--json", "upgrade", "--batches", "1"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if '"Batch 2 of 3: lab2"' in line:
            subprocess.run(["docker", "stop", hosts["lab2"]["container"]], check=True, capture_output=True)
    proc.wait(timeout=1800)
    rounds = probe.finish()
    summary = json.loads(lines[-1])
    assert proc.returncode in (3, 4), lines[-1]
    rollout = summary["result"]["rollout"]
    assert (rollout["done"], rollout["failed"], rollout["untouched"], rollout["halted_after"]) == (
        ["lab1"], ["lab2"], ["lab3"], 2)
    assert "halted after batch 2 of 3" in summary["result"]["error"]
    assert_one_batch_down_at_most(rounds, batches)
    assert any("lab1" in down for down in rounds), "the probe never saw the canary restart: it proves nothing"
    # the canary serves the new flag; the untouched host is intact (old flag, still serving)
    assert "--max-num-seqs 3" in unit_text(fleet, "lab1")
    assert "--max-num-seqs 4" in unit_text(fleet, "lab3")
    assert not Probe(hosts).down(hosts["lab3"]["endpoint"])

    # lab2 back (the same container, started again; its ports may change), then the rerun converges
    back = run_sparkfleet("--json", "lab", "up", "--os", "debian12", "--hosts", "3", cwd=root, timeout=900)
    assert back.code == 0, back.stdout + back.stderr
    fleet["hosts"] = hosts = lab_hosts(root)
    probe = Probe(hosts)
    probe.start()
    rerun = run_sparkfleet("--json", "upgrade", "--batches", "1", cwd=root, timeout=1800)
    rounds = probe.finish()
    assert rerun.code == 0, rerun.stdout[-5000:] + rerun.stderr[-3000:]
    rollout = rerun.summary["result"]["rollout"]
    assert rollout["done"] == HOSTS and rollout["failed"] == [] and rollout["untouched"] == []
    assert all("--max-num-seqs 3" in unit_text(fleet, host) for host in HOSTS)
    assert_one_batch_down_at_most(rounds, batches)
    # a further rerun changes nothing
    again = run_sparkfleet("--json", "upgrade", cwd=root, timeout=1800)
    assert again.code == 0 and again.summary["result"]["changed"] is False, again.stdout[-3000:]


def test_a_failed_upgrade_halts_at_the_canary_and_rolls_back(fleet):
    root: Path = fleet["project"]
    before = unit_text(fleet, "lab1")
    set_flags(root, "vllm_max_num_seqs: 3\nvllm_extra_args: {no_such_vllm_flag: 1}\n")  # vLLM refuses to start
    failed = run_sparkfleet("--json", "upgrade", "--batches", "1,100%", cwd=root, timeout=1800)
    assert failed.code == 3, failed.stdout[-3000:]
    rollout = failed.summary["result"]["rollout"]
    assert (rollout["done"], rollout["failed"], rollout["untouched"]) == ([], ["lab1"], ["lab2", "lab3"])
    assert "--no-such-vllm-flag" in unit_text(fleet, "lab1")
    assert "--no-such-vllm-flag" not in unit_text(fleet, "lab2")

    back = run_sparkfleet("--json", "upgrade", "--rollback", cwd=root, timeout=1800)
    assert back.code == 0, back.stdout[-5000:] + back.stderr[-3000:]
    assert unit_text(fleet, "lab1") == before
    assert not Probe(fleet["hosts"]).down(fleet["hosts"]["lab1"]["endpoint"])
    assert in_container(fleet["hosts"]["lab1"]["container"], "test", "-e", "/opt/sparkfleet/previous").returncode == 1
    # the endpoint takes jobs again (the drain file is gone)
    assert in_container(fleet["hosts"]["lab1"]["container"], "test", "-e",
                        "/var/lib/sparkfleet/video/draining").returncode == 1
    set_flags(root, "vllm_max_num_seqs: 3\n")  # the change undone in the inventory: what lab1 serves again


def test_down_removes_everything_and_up_serves_again(fleet):
    root: Path = fleet["project"]
    container = fleet["hosts"]["lab3"]["container"]
    down = run_sparkfleet("--json", "down", "--limit", "lab3", "--yes", cwd=root, timeout=900)
    assert down.code == 0, down.stdout[-5000:] + down.stderr[-3000:]
    assert down.summary["result"]["rollout"]["done"] == ["lab3"]
    units = in_container(container, "sh", "-c", "ls /etc/systemd/system | grep -c '^sparkfleet' || true").stdout
    assert units.strip() == "0"
    for user in ("vllm", "sparkfleet-video"):
        assert in_container(container, "id", user).returncode != 0, user
    listening = in_container(container, "ss", "-Hltn").stdout
    assert not {":8000 ", ":8080 "} & {f":{line.split()[3].rsplit(':', 1)[1]} " for line in listening.splitlines()}
    for folder in ("/opt/sparkfleet", "/etc/sparkfleet", "/var/lib/sparkfleet", "/var/lib/vllm"):
        assert in_container(container, "test", "-e", folder).returncode == 1, folder
    notes = (root / ".sparkfleet" / "hosts" / "lab3" / "NOTES.md").read_text()
    assert "`sparkfleet down` removed" in notes
    assert not (root / ".sparkfleet" / "hosts" / "lab3" / "state.json").exists()
    # the other hosts are untouched
    assert not Probe(fleet["hosts"]).down(fleet["hosts"]["lab2"]["endpoint"])
    # a second down changes nothing
    again = run_sparkfleet("--json", "down", "--limit", "lab3", "--yes", cwd=root, timeout=900)
    assert again.code == 0 and not any(p["changed"] for p in again.summary["result"]["phases"])

    up = run_sparkfleet("--json", "up", "--limit", "lab3", cwd=root, timeout=2400)
    assert up.code == 0, up.stdout[-5000:] + up.stderr[-3000:]
    assert not Probe(fleet["hosts"]).down(fleet["hosts"]["lab3"]["endpoint"])
