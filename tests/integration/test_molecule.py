"""`molecule test` for each scenario under molecule/: create lab hosts with the CLI, converge, idempotence, verify
(pytest-testinfra), destroy. The scenarios share .config/molecule/config.yml.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TAIL_LINES = 80
# Each step's own log line as molecule writes it without colours (NO_COLOR below).
STEP_PASSED = r"^INFO +\[{scenario} > {step}\] Executed: Successful *$"


def test_every_scenario_is_tested():
    assert {"default", "video_endpoint", "vllm"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes_end_to_end(scenario, tmp_path):
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
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "molecule", "test", "--scenario-name", scenario], cwd=REPO,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    print(f"molecule test -s {scenario}: {time.monotonic() - started:.0f} s")
    output = ANSI.sub("", proc.stdout)
    tail = "\n".join(output.splitlines()[-TAIL_LINES:])
    assert proc.returncode == 0, f"molecule test exited {proc.returncode}; last {TAIL_LINES} lines:\n{tail}"
    for step in ("create", "converge", "idempotence", "verify", "destroy"):
        # The step's own log line. Not the DETAILS table at the end: molecule 26.10 lists a failed idempotence
        # step there as "Executed: Successful".
        pattern = STEP_PASSED.format(scenario=re.escape(scenario), step=step)
        assert re.search(pattern, output, re.MULTILINE), f"step {step!r} did not pass; last {TAIL_LINES} lines:\n{tail}"
    assert "Idempotence test failed" not in output
    # The verifier's pytest summary: its tests ran and passed, none skipped or deselected.
    summary = re.findall(r"^=+ (.+) in [0-9.]+s(?: \([0-9:]+\))? =+$", output, re.MULTILINE)
    assert len(summary) == 1 and re.fullmatch(r"[1-9][0-9]* passed(, [0-9]+ warnings?)?", summary[0]), summary
