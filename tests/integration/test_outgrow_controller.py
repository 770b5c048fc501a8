"""When a fleet outgrows one controller: the collection's playbooks run unchanged without the sparkfleet CLI, with
plain `ansible-playbook` on the project folder, and through ansible-runner's streaming mode (transmit | worker |
process, the protocol AWX and receptor use to run a job on a remote execution node), against the two bare lab
hosts. Here the worker runs on this machine; on AWX it runs in the execution environment (execution-environment.yml).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import collections_path

pytestmark = pytest.mark.lab
BIN = Path(sys.executable).parent


def recap(stdout: str) -> dict[str, str]:
    """host -> its PLAY RECAP line."""
    lines = stdout.split("PLAY RECAP")[-1].splitlines()
    return {line.split()[0]: line for line in lines if ":" in line and "ok=" in line}


def test_plain_ansible_playbook_runs_a_collection_playbook_on_the_project_folder(lab_project):
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_path()), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_CONFIG", None)  # the project's own ansible.cfg, found in the working folder
    proc = subprocess.run([str(BIN / "ansible-playbook"), "sparkfleet.spark.ping"], cwd=lab_project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    hosts = recap(proc.stdout)
    assert sorted(hosts) == ["lab1", "lab2"]
    assert all("failed=0" in line and "unreachable=0" in line for line in hosts.values()), hosts


def test_ansible_runner_streaming_mode_runs_a_playbook_on_the_lab_hosts(lab_project, tmp_path):
    # The job as AWX would send it: inventory, variables and settings in a private data folder.
    job = tmp_path / "job"
    (job / "env").mkdir(parents=True)
    (job / "project").mkdir()
    subprocess.run(["cp", "-r", str(lab_project / "inventory"), str(job / "inventory")], check=True)
    (job / "env/envvars").write_text(json.dumps({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),  # in an execution environment: installed there
        "ANSIBLE_CONFIG": str(lab_project / "ansible.cfg"), "ANSIBLE_HOST_KEY_CHECKING": "True"}))
    # The project's ssh key and pinned host keys (AWX injects them as a machine credential instead).
    (job / "env/extravars").write_text(json.dumps({"sparkfleet_project_dir": str(lab_project)}))
    worker_dir, processed = tmp_path / "worker", tmp_path / "processed"
    transmit = subprocess.Popen([str(BIN / "ansible-runner"), "transmit", str(job), "-p", "sparkfleet.spark.ping"],
                                stdout=subprocess.PIPE)
    worker = subprocess.Popen([str(BIN / "ansible-runner"), "worker", "--private-data-dir", str(worker_dir)],
                              stdin=transmit.stdout, stdout=subprocess.PIPE)
    transmit.stdout.close()
    process = subprocess.run([str(BIN / "ansible-runner"), "process", str(processed)], stdin=worker.stdout,
                             capture_output=True, text=True, timeout=300)
    worker.stdout.close()
    assert transmit.wait(timeout=60) == 0 and worker.wait(timeout=60) == 0
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-2000:]

    # What came back through the stream: the status, and every host's events.
    artifacts = processed / "artifacts"
    assert (artifacts / "status").read_text() == "successful" and (artifacts / "rc").read_text() == "0"
    events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
    ok = {e["event_data"]["host"] for e in events if e["event"] == "runner_on_ok"
          and e["event_data"]["task"] == "Check that the host answers over ssh and runs Python"}
    assert ok == {"lab1", "lab2"}
    assert not [e for e in events if e["event"] in ("runner_on_failed", "runner_on_unreachable")]
