"""A throwaway lab host for a benchmark: a project in a temporary folder, one host, removed at the end."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

SPARKFLEET = [str(Path(sys.executable).parent / "sparkfleet")]


@contextlib.contextmanager
def lab_host(os_name: str = "debian12") -> Iterator[tuple[Path, dict]]:
    """Yields (project folder, the host as `lab status --json` describes it)."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "bench"
        subprocess.run([*SPARKFLEET, "init", str(project)], check=True, capture_output=True)
        up = subprocess.run([*SPARKFLEET, "--json", "lab", "up", "--os", os_name], cwd=project, check=True,
                            capture_output=True, text=True)
        try:
            yield project, json.loads(up.stdout.splitlines()[-1])["result"]["hosts"][0]
        finally:
            subprocess.run([*SPARKFLEET, "lab", "down"], cwd=project, capture_output=True)
