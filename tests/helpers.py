"""What tests share: the repository's paths, the real `sparkfleet` entry point run as a subprocess (and what it
printed), a command on a lab host, which modules a fresh interpreter loads, and the collection's modules found
and run as Ansible does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"  # recorded inputs, each folder with its provenance
SPARKFLEET = [sys.executable, "-m", "sparkfleet"]


def collections_path() -> Path:
    """The folder holding ansible_collections/sparkfleet/spark (the checkout, through a symlink)."""
    from sparkfleet.core import content

    return content.collections_path()


def use_collections_path() -> None:
    """Make `ansible_collections.sparkfleet.spark...` importable in this process, as Ansible's loader does."""
    path = str(collections_path())
    if path not in sys.path:
        sys.path.insert(0, path)


def module_file(name: str) -> Path:
    """A module's file inside the collection (its path runs through ansible_collections/sparkfleet/spark)."""
    return collections_path() / "ansible_collections" / "sparkfleet" / "spark" / "plugins" / "modules" / f"{name}.py"


def module_env(env: dict | None = None) -> dict:
    """env (default: this process's) with the collections path on PYTHONPATH, so a module file run directly
    imports the collection's module_utils as it does inside Ansible's module payload."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(collections_path()), env.get("PYTHONPATH")) if p)
    return env


def module_command(name: str, args_file: Path) -> list[str]:
    """The command that runs a module file with an args file ({"ANSIBLE_MODULE_ARGS": ...}), as Ansible does."""
    return [sys.executable, str(module_file(name)), str(args_file)]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict]:
        """Every stdout line parsed as JSON (fails the test if one is not)."""
        return [json.loads(line) for line in self.stdout.splitlines()]

    @property
    def summary(self) -> dict:
        lines = self.json_lines()
        assert lines and lines[-1]["type"] == "summary", self.stdout
        return lines[-1]


def run_sparkfleet(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> Result:
    proc = subprocess.run([*SPARKFLEET, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return Result(proc.returncode, proc.stdout, proc.stderr)


def on_host(served: dict, *command: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    """Run a command on a lab host (through the container engine, as root); input_text goes to its stdin."""
    interactive = ["-i"] if input_text is not None else []
    return subprocess.run(["docker", "exec", *interactive, served["container"], *command], input=input_text,
                          capture_output=True, text=True)


# Runs on a lab host: one HTTP request (JSON body from stdin when given), prints {"status", "body"} as JSON.
_HOST_REQUEST = r"""
import json, sys, urllib.error, urllib.request
data = sys.stdin.buffer.read() or None
headers = {"Content-Type": "application/json"} if data else {}
request = urllib.request.Request(sys.argv[1], data=data, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=float(sys.argv[2])) as response:
        status, body = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read().decode()
except OSError as error:
    status, body = 0, str(error)
print(json.dumps({"status": status, "body": body}))
"""


def on_host_http(served: dict, url: str, body: dict | None = None, timeout: float = 120) -> tuple[int, dict | str]:
    """An HTTP request made on the lab host itself, for what listens on its loopback only (vLLM by default)."""
    proc = subprocess.run(["docker", "exec", "-i", served["container"], "python3", "-c", _HOST_REQUEST, url,
                           str(timeout)], input=json.dumps(body).encode() if body is not None else b"",
                          capture_output=True, timeout=timeout + 30)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    answer = json.loads(proc.stdout)
    raw = answer["body"]
    return answer["status"], json.loads(raw) if raw.startswith(("{", "[")) else raw


def loaded_in_a_fresh_interpreter(code: str, watched: set[str]) -> set[str]:
    """Which of the watched top-level modules are imported once code has run in a new interpreter (the test's own
    process has imported everything already)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {sorted(watched)!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(proc.stdout.splitlines()[-1]))
