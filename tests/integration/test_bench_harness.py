"""The performance harness still runs (CI smoke): `bench/harness.py --smoke` on a lab host of its own makes every
engine of the comparison run the 20-operation deploy once, times `--help` and runs `status`. Nothing is asserted
about times (the figures are measured by the harness, on a quiet machine, not by a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def test_the_harness_smoke_runs_every_cheap_figure(tmp_path):
    figures = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "harness.py"), "--smoke", "--json", str(figures)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "cores" in proc.stdout and "load" in proc.stdout  # the machine and its load are part of every figure
    report = json.loads(figures.read_text())["figures"]
    assert set(report) == {"help", "engines", "status"}
    assert report["help"]["help"]["runs"] >= 3
    assert set(report["engines"]["first_run"]) == {"ansible-sparkfleet", "ansible-defaults", "ansible-mitogen",
                                                   "pyinfra"}
    assert report["status"]["status"]["hosts"] == 1
