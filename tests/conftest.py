"""Shared helpers: run the real `sparkfleet` entry point in-process or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `sparkfleet ARGS` in this process (fast) through the real entry point."""
    from sparkfleet.cli import main

    def invoke(*args: str, cwd: Path | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["sparkfleet", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        return Result(int(exit_info.value.code or 0), captured.out, captured.err)

    return invoke


@pytest.fixture
def project(tmp_path, cli) -> Path:
    root = tmp_path / "proj"
    assert cli("init", str(root)).code == 0
    return root
