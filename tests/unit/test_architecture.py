"""The controller package's shape (docs/architecture.md): every module imports on its own, in a fresh
interpreter (no hidden reliance on import order), and the dependency rule holds (import-linter's contract in
pyproject.toml, checked here as well as by scripts/test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sparkfleet

PACKAGE = Path(sparkfleet.__file__).resolve().parent
REPO = PACKAGE.parents[1]


def modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_imports_on_its_own():
    names = [name for name in modules() if not name.endswith("__main__")]
    assert {"sparkfleet.cli", "sparkfleet.core.runner", "sparkfleet.runs.plans", "sparkfleet.report.build",
            "sparkfleet.lab.hosts", "sparkfleet.role_tools.wheelhouse"} <= set(names)
    # One fresh interpreter per module, all at once: a module that only works after another was imported fails.
    procs = {name: subprocess.Popen([sys.executable, "-c", f"import {name}"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name in names}
    failed = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failed[name] = err.strip().splitlines()[-1:]
    assert not failed, failed


def test_the_dependency_rule_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_only_the_top_floor_talks_to_people():
    """click is the CLI's: no module below cli/ imports it (they raise errors and emit events instead)."""
    offenders = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                 if path.relative_to(PACKAGE).parts[0] != "cli" and "import click" in path.read_text()]
    assert offenders == []
