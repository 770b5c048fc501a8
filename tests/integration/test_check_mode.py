"""Every playbook in check mode (--check --diff) on real lab hosts: fresh ones (`lab up`, nothing served) and a served
one (after `sparkfleet up`). A dry run must not fail and must not touch the hosts; on a served host it also reports
no change (what is there is what the playbooks would make).

Whether a host was touched is read from the host itself: no file under the folders sparkfleet writes to is newer
than a marker made just before the run.
"""

from __future__ import annotations

import subprocess

import pytest
from helpers import run_sparkfleet
from sparkfleet.core.project import Project
from sparkfleet.core.runner import RunResult, run_playbook

pytestmark = pytest.mark.lab

PLAYBOOKS = ["ping", "bootstrap", "doctor", "serve", "verify", "bench", "notes", "status"]
# What `sparkfleet bootstrap` passes when run without its flags.
EXTRAVARS = {"bootstrap": {"ssh_access_passwordless_sudo": False, "ssh_access_disable_password_login": False}}
MARKER = "/run/sparkfleet-check-mode-marker"
# Where the roles write: configuration, installed code and packages, services, state and notes, the login user's
# authorized keys.
WATCHED = ["/etc", "/opt", "/usr", "/var/lib/dpkg", "/var/lib/sparkfleet", "/home/spark/.ssh"]
# Written by the running services themselves, not by a playbook.
SERVICE_DATA = ["/var/lib/sparkfleet/video", "/var/lib/sparkfleet/media"]


def dry_run(project, playbook: str) -> RunResult:
    return run_playbook(Project(project), playbook, check=True, emit=lambda event: None,
                        extravars=EXTRAVARS.get(playbook))


def mark(container: str) -> None:
    subprocess.run(["docker", "exec", container, "touch", MARKER], check=True)


def touched(container: str) -> list[str]:
    """Files and folders under WATCHED changed since the marker."""
    prune = [arg for path in SERVICE_DATA for arg in ("-path", path, "-prune", "-o")]
    out = subprocess.run(["docker", "exec", container, "find", *WATCHED, "-xdev", *prune, "-newer", MARKER, "-print"],
                         capture_output=True, text=True).stdout
    return out.split()


def failures(result: RunResult) -> list:
    return result.failures or ([result.error] if result.error else [])


@pytest.fixture(scope="module")
def fresh_containers(lab_project) -> list[str]:
    hosts = run_sparkfleet("--json", "lab", "status", cwd=lab_project).summary["result"]["hosts"]
    return [host["container"] for host in hosts]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_dry_run_on_fresh_hosts_fails_nowhere_and_touches_nothing(lab_project, fresh_containers, playbook):
    for container in fresh_containers:
        mark(container)
    result = dry_run(lab_project, playbook)
    assert not failures(result) and result.status == "successful", failures(result)
    assert sorted(result.hosts) == ["lab1", "lab2"]
    for container in fresh_containers:
        assert touched(container) == [], container
    if playbook != "serve":  # serve would install everything; the others change nothing even for real
        assert result.changed is False, result.changes


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_dry_run_on_a_served_host_fails_nowhere_and_reports_no_change(served, playbook):
    mark(served["container"])
    result = dry_run(served["project"], playbook)
    assert not failures(result) and result.status == "successful", failures(result)
    assert result.changed is False, result.changes
    assert touched(served["container"]) == []
