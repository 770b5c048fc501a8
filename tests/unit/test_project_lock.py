"""Drill: two sparkfleet commands on one project at once. Real processes and the real `sparkfleet` entry point;
no hosts are needed (the long-running command pings a port that accepts and never speaks, so ssh waits)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SPARKFLEET, run_sparkfleet
from sparkfleet.core import project_lock
from sparkfleet.core.project import Project

HOLDER = """
import sys, time
from pathlib import Path
from sparkfleet.core import project_lock
from sparkfleet.core.project import Project
with project_lock.hold(Project(Path(sys.argv[1])), sys.argv[2]):
    print("held", flush=True)
    time.sleep(300)
"""


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "p"
    assert run_sparkfleet("init", str(root)).code == 0
    return root


def hold(project: Path, command: str) -> subprocess.Popen:
    """A real process holding the project lock until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(project), command], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def hosts_file(project: Path) -> str:
    return (project / "inventory" / "hosts.yml").read_text()


def test_a_second_command_is_refused_with_exit_6_and_changes_nothing(project):
    holder = hold(project, "up")
    try:
        before = hosts_file(project)
        added = run_sparkfleet("--json", "host", "add", "spark1", "--address", "10.0.0.5", "--user", "me",
                               cwd=project)
        assert added.code == 7, added.stdout + added.stderr
        error = added.summary["error"]
        assert error["code"] == "busy"
        assert f"`sparkfleet up` (pid {holder.pid}" in error["message"] and "did not start" in error["message"]
        assert "Traceback" not in added.stderr
        assert hosts_file(project) == before
        plain = run_sparkfleet("host", "remove", "s9", cwd=project)
        assert plain.code == 7 and "is using the project" in plain.stderr
    finally:
        holder.kill()
        holder.wait()


def test_commands_that_only_read_run_while_one_changes_the_project(project):
    holder = hold(project, "up")
    try:
        for args in (["host", "list"], ["lab", "status"]):
            assert run_sparkfleet(*args, cwd=project).code == 0, args
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(project):
    holder = hold(project, "up")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads((project / ".sparkfleet" / "lock").read_text())["pid"] == holder.pid  # the file still says so
    added = run_sparkfleet("host", "add", "spark1", "--address", "10.0.0.5", "--user", "me", cwd=project)
    assert added.code == 0, added.stderr  # ... but the kernel dropped the lock with the process
    assert "spark1" in hosts_file(project)
    assert (project / ".sparkfleet" / "lock").read_text() == ""  # a clean exit leaves no holder named


def test_commands_without_a_project_take_no_lock(tmp_path):
    assert run_sparkfleet("models", cwd=tmp_path).code == 0
    assert not (tmp_path / ".sparkfleet").exists()


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never says anything: ssh waits there for its timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_two_real_commands_never_interleave_even_after_a_sigkill(project, silent_port):
    assert run_sparkfleet("host", "add", "slow", "--address", "127.0.0.1", "--port", str(silent_port),
                          "--user", "me", cwd=project).code == 0
    ping = subprocess.Popen([*SPARKFLEET, "ping"], cwd=project, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=os.environ, start_new_session=True)
    playbooks: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (playbooks := project_lock.leftover_playbooks(Project(project))):
            time.sleep(0.1)
        assert playbooks, "ansible-playbook never started"
        second = run_sparkfleet("host", "remove", "slow", cwd=project)
        assert second.code == 7, second.stderr
        assert f"`sparkfleet ping` (pid {ping.pid}" in second.stderr
        # kill -9 of sparkfleet alone: its ansible-playbook (own session, ansible-runner's pty) lives on ...
        ping.kill()
        ping.wait()
        assert all(pid in project_lock.leftover_playbooks(Project(project)) for pid in playbooks)
        # ... so the lock alone is not enough: the next command that would change things is refused, naming it
        third = run_sparkfleet("--json", "host", "remove", "slow", cwd=project)
        assert third.code == 7
        error = third.summary["error"]
        assert f"ansible-playbook (pid {playbooks[0]}" in error["message"] and "kill " in error["hint"], error
        assert "slow" in hosts_file(project)
        assert run_sparkfleet("host", "list", cwd=project).code == 0  # reading is fine meanwhile
    finally:
        for pid in playbooks:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ping.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while project_lock.leftover_playbooks(Project(project)) and time.monotonic() < deadline:
        time.sleep(0.1)
    removed = run_sparkfleet("host", "remove", "slow", cwd=project)
    assert removed.code == 0, removed.stderr
