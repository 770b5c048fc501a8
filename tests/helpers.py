"""Run the real `sparkfleet` entry point as a subprocess, and read what it printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPARKFLEET = [sys.executable, "-m", "sparkfleet"]


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


def on_host(served: dict, *command: str) -> subprocess.CompletedProcess:
    """Run a command on a lab host (through the container engine, as root)."""
    return subprocess.run(["docker", "exec", served["container"], *command], capture_output=True, text=True)
