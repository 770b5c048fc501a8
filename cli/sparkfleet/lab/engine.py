"""The container engine the lab runs on: found, or installed and started when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sparkfleet.core.errors import EnvironmentProblem

DOCKERD_LOG = Path("/var/log/sparkfleet-dockerd.log")
START_TIMEOUT_S = 60


def docker(*args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the docker client; a failure becomes an EnvironmentProblem quoting docker's own words."""
    result = subprocess.run(["docker", *args], input=input, capture_output=True)
    if check and result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise EnvironmentProblem(f"`docker {' '.join(args[:2])}` failed: {stderr}",
                                 hint="Check that the container engine runs: docker info")
    return result


def engine_running() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_engine(say: Callable[[str], None]) -> None:
    """Make `docker` usable: install docker.io (root only) and start the daemon if needed. Idempotent."""
    if engine_running():
        return
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        if os.geteuid() != 0:
            raise EnvironmentProblem(
                "The lab needs a container engine and none is installed; installing one needs root.",
                hint="Run this command as root (sudo), or install Docker yourself and start it.")
        say("Installing the container engine (apt-get install docker.io), once per machine")
        apt_install("docker.io")
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "The container engine is installed but not running (or not reachable by this user); "
            "starting it needs root.",
            hint="Start it (sudo systemctl start docker) or add yourself to the docker group.")
    say("Starting the container engine")
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "start", "docker"], check=False, capture_output=True)
    else:  # no init system (a container or CI sandbox): run the daemon in the background ourselves
        with open(DOCKERD_LOG, "ab") as log:
            subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if engine_running():
            return
        time.sleep(0.5)
    raise EnvironmentProblem(f"The container engine did not start within {START_TIMEOUT_S} s.",
                             hint=f"See its log: {DOCKERD_LOG} (or journalctl -u docker).")


def apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise EnvironmentProblem(f"`{' '.join(command)}` failed: {result.stderr.strip()[-800:]}",
                                     hint="Check this machine's package sources and network, then retry.")


def ensure_tool(binary: str, package: str, say: Callable[[str], None]) -> None:
    """Install a Debian package that provides `binary` when it is missing (root only)."""
    if shutil.which(binary):
        return
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"{binary} is needed to build lab images and is not installed.",
                                 hint=f"Install it: sudo apt-get install {package}")
    say(f"Installing {package}")
    apt_install(package)
