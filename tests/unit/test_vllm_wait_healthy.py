"""vllm_wait_healthy module, run as Ansible runs it: a real HTTP server plays vLLM; systemd cannot run here, so
stand-in `systemctl` and `journalctl` scripts (named so) report the unit's state and journal.

The module against a real vLLM under systemd runs in every lab `sparkfleet up` (roles/vllm/tasks/run.yml).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from helpers import module_command, module_env


class StandInVllm(BaseHTTPRequestHandler):
    models: ClassVar[list[str]] = []  # what /v1/models lists; each test sets it

    def do_GET(self):
        body = json.dumps({"data": [{"id": m} for m in self.models]}).encode() if self.path == "/v1/models" else b""
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def vllm():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInVllm)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()


def run(tmp_path: Path, port: int, active: str = "activating", restarts: str = "0", timeout: int = 20) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text(f"#!/bin/sh\necho ActiveState={active}\necho NRestarts={restarts}\n")
    (bin_dir / "journalctl").write_text("#!/bin/sh\necho 'RuntimeError: stand-in crash'\n")
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"unit": "vllm-x", "port": port, "model": "tiny",
                                                        "timeout": timeout}}))
    env = module_env({**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"})
    proc = subprocess.run(module_command("vllm_wait_healthy", args), capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    result = json.loads(proc.stdout)
    assert (proc.returncode != 0) == bool(result.get("failed")), proc.stdout + proc.stderr
    return result


def test_healthy_when_the_model_is_listed(tmp_path, vllm):
    StandInVllm.models = ["tiny"]
    result = run(tmp_path, vllm.server_port)
    assert not result.get("failed") and result["changed"] is False and result["models"] == ["tiny"]


def test_a_failed_unit_fails_fast_with_its_journal(tmp_path, vllm):
    StandInVllm.models = ["another"]
    result = run(tmp_path, vllm.server_port, active="failed", timeout=60)
    assert result["failed"] and result["reason"] == "vllm-x failed while starting"
    assert result["journal"] == ["RuntimeError: stand-in crash"] and result["seconds"] < 30
    assert "stand-in crash" in result["msg"]


def test_times_out_when_the_model_never_appears(tmp_path, vllm):
    StandInVllm.models = []
    result = run(tmp_path, vllm.server_port, timeout=1)
    assert result["failed"] and result["reason"] == "vllm-x did not become healthy within 1 s"
