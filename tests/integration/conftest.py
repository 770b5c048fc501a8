"""Lab fixtures: real hosts (containers with systemd and sshd), shared per session because they cost seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import run_sparkfleet


def pytest_collection_modifyitems(config, items):
    """The extended tests (the Spark path on a nested container engine and an emulated aarch64 host, the rollout
    drills, the fault chain) run only when asked: scripts/test-extended sets SPARKFLEET_EXTENDED_TESTS=1. Each
    takes tens of minutes, longer than the rest of the suite together."""
    if os.environ.get("SPARKFLEET_EXTENDED_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="an extended test: run scripts/test-extended")
    for item in items:
        if "extended" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def lab_project(tmp_path_factory) -> Path:
    """A project with two Ubuntu 24.04 lab hosts, removed at the end of the session."""
    root = tmp_path_factory.mktemp("lab") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    try:
        up = run_sparkfleet("--json", "lab", "up", "--hosts", "2", cwd=root, timeout=900)
        assert up.code == 0, up.stdout + up.stderr
        yield root
    finally:
        down = run_sparkfleet("lab", "down", cwd=root, timeout=300)
        assert down.code == 0, down.stderr


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """One Debian 12 lab host after `sparkfleet up`: vLLM serving the tiny Qwen3-VL, and the video endpoint."""
    root = tmp_path_factory.mktemp("serving") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    try:  # the host goes away even when the first `up` fails or times out
        up = run_sparkfleet("--json", "lab", "up", "--os", "debian12", cwd=root, timeout=900)
        assert up.code == 0, up.stdout + up.stderr
        first = run_sparkfleet("--json", "up", cwd=root, timeout=1800)
        assert first.code == 0, first.stdout[-5000:] + first.stderr[-3000:]
        host = up.summary["result"]["hosts"][0]
        # vLLM listens on the host's loopback (the default): its URL works on the host only (helpers.on_host_http)
        yield {"project": root, "container": host["container"], "api": "http://127.0.0.1:8000",
               "endpoint": f"http://127.0.0.1:{host['ports']['8080']}", "first": first}
    finally:
        assert run_sparkfleet("lab", "down", cwd=root, timeout=300).code == 0
