"""`molecule test` for molecule/default: create a lab host with the CLI, converge, idempotence, verify, destroy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TAIL_LINES = 80


def test_molecule_default_scenario_passes_end_to_end(tmp_path):
    bindir = str(Path(sys.executable).parent)  # molecule runs ansible-playbook and pytest from here
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MOLECULE_"))}
    env.update({
        "PATH": os.pathsep.join([bindir, env.get("PATH", "")]),
        # Its own state and throwaway project (so its own lab containers): a scenario someone has converged
        # in this checkout is left alone, since `molecule test` begins with destroy.
        "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "molecule"),
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "COLUMNS": "160",
    })
    proc = subprocess.run([sys.executable, "-m", "molecule", "test", "--scenario-name", "default"], cwd=REPO,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200)
    output = ANSI.sub("", proc.stdout)
    tail = "\n".join(output.splitlines()[-TAIL_LINES:])
    assert proc.returncode == 0, f"molecule test exited {proc.returncode}; last {TAIL_LINES} lines:\n{tail}"
    for step in ("create", "converge", "idempotence", "verify", "destroy"):
        # The step's own log line. Not the DETAILS table at the end: molecule 26.10 lists a failed idempotence
        # step there as "Executed: Successful".
        passed = re.search(rf"^INFO +\[default > {step}\] Executed: Successful *$", output, re.MULTILINE)
        assert passed, f"step {step!r} did not pass; last {TAIL_LINES} lines:\n{tail}"
    assert "Idempotence test failed" not in output
