"""Lab fixtures: real hosts (containers with systemd and sshd), shared per session because they cost seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_sparkfleet


@pytest.fixture(scope="session")
def lab_project(tmp_path_factory) -> Path:
    """A project with two Ubuntu 24.04 lab hosts, removed at the end of the session."""
    root = tmp_path_factory.mktemp("lab") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    up = run_sparkfleet("--json", "lab", "up", "--hosts", "2", cwd=root, timeout=900)
    assert up.code == 0, up.stdout + up.stderr
    yield root
    down = run_sparkfleet("lab", "down", cwd=root, timeout=300)
    assert down.code == 0, down.stderr
