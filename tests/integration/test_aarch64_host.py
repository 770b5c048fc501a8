"""A Spark's machine, aarch64, as a lab host on this x86_64 machine under qemu-user-static (issue 12).

The Spark path as far as emulation allows: a fresh aarch64 host, bootstrap, doctor, the video endpoint (its
wheelhouse built on this controller for aarch64, its venv installed on the host), its /health and a 503 while vLLM
is absent, and verify. vLLM itself is left out: no CPU wheel of vLLM for aarch64 is at hand and it would be far too
slow emulated. Its own host (several times slower than a native one): bench/aarch64.py prints each phase's time.
Ubuntu 24.04 arm64 packages live on ports.ubuntu.com, which these machines cannot reach: the host is Debian 12
arm64 (the same Spark path; the ubuntu2404 recipe takes arm64 from ports.ubuntu.com where it is reachable).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from helpers import run_sparkfleet
from sparkfleet.core.project import Project
from sparkfleet.core.runner import run_playbook
from sparkfleet.lab.emulation import registered
from sparkfleet.lab.test_media import make_video
from test_video_endpoint import request, submit

pytestmark = [pytest.mark.lab, pytest.mark.extended]
ENDPOINT_TAGS = "video_endpoint_install,video_endpoint_configure,video_endpoint_run"


@pytest.fixture(scope="module")
def arm(tmp_path_factory):
    if "binfmt_misc" not in Path("/proc/filesystems").read_text():
        pytest.skip("this kernel has no binfmt_misc: it cannot run aarch64 programs")
    assert registered("aarch64"), "scripts/setup registers qemu-aarch64; run it (as root)"
    root = tmp_path_factory.mktemp("arm") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    up = run_sparkfleet("--json", "lab", "up", "--fresh", "--arch", "aarch64", "--os", "debian12", cwd=root,
                        timeout=1800)
    assert up.code == 0, up.stdout + up.stderr
    host = up.summary["result"]["hosts"][0]
    password = Path(up.summary["result"]["password_file"]).read_text().strip()
    yield {"project": root, "container": host["container"], "password": password,
           "endpoint": f"http://127.0.0.1:{host['ports']['8080']}"}
    assert run_sparkfleet("lab", "down", cwd=root, timeout=300).code == 0


def test_the_host_is_aarch64_and_bootstrap_and_doctor_run_on_it(arm):
    machine = subprocess.run(["docker", "exec", arm["container"], "uname", "-m"], capture_output=True, text=True)
    assert machine.stdout.strip() == "aarch64"
    boot = run_sparkfleet("--json", "bootstrap", "--passwordless-sudo", "--disable-password-login",
                          cwd=arm["project"], timeout=900, env={"SPARKFLEET_SSH_PASSWORD": arm["password"]})
    assert boot.code == 0, boot.stdout[-3000:] + boot.stderr[-2000:]
    doctor = run_sparkfleet("--json", "doctor", cwd=arm["project"], timeout=900)
    assert doctor.code == 0, doctor.stdout[-3000:]


def test_the_video_endpoint_serves_health_and_answers_503_without_vllm(arm, tmp_path):
    result = run_playbook(Project(arm["project"]), "serve", emit=lambda event: None, tags=ENDPOINT_TAGS)
    assert result.exit_code == 0, result.failures
    deadline = time.monotonic() + 120
    while True:
        try:
            status, _, health = request(arm["endpoint"] + "/health", timeout=10)
            if status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the endpoint did not answer /health"
        time.sleep(2)
    assert health["status"] == "ok" and health["vllm"]["state"] == "down"
    status, headers, body = submit(arm, make_video(tmp_path / "a.mp4", seconds=2))
    assert status == 503 and int(headers["Retry-After"]) > 0, body
