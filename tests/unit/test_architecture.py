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


# One bare interpreter forks a child per module (the child starts with nothing of sparkfleet, as a fresh
# interpreter does, without paying an interpreter's start-up 50 times); each child imports its module and says why
# it failed.
IMPORT_EACH = """
import os, sys
children = {}
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            __import__(name)
        except BaseException as error:
            print(f"{name}: {type(error).__name__}: {error}", flush=True)
            os._exit(1)
        os._exit(0)
    children[pid] = name
failed = [name for pid, name in children.items() if os.waitpid(pid, 0)[1] != 0]
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_on_its_own():
    names = [name for name in modules() if not name.endswith("__main__")]
    assert {"sparkfleet.cli", "sparkfleet.core.runner", "sparkfleet.runs.plans", "sparkfleet.report.build",
            "sparkfleet.lab.hosts", "sparkfleet.role_tools.wheelhouse"} <= set(names)
    proc = subprocess.run([sys.executable, "-c", IMPORT_EACH, *names], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


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
