"""What runs leave behind and everything else reads: the phases of each command, run records, bench results and
the hosts' state files (docs/run-data.md). runs/ writes them; report/ and cli/ read them through here."""

from __future__ import annotations

import json
from pathlib import Path

from sparkfleet.core.project import Project

UP_PHASES = ["doctor", "serve", "verify", "bench"]
# The phases each command runs, in order; the last, notes, runs whatever happened before it.
COMMAND_PHASES = {"up": [*UP_PHASES, "notes"], "verify": ["verify", "notes"], "bench": ["bench", "notes"]}
# Phases that only read, measure or record: their changes are not changes to how a host is set up.
BOOKKEEPING = {"doctor", "verify", "bench", "notes"}


def load_bench(path: str | Path) -> dict:
    """One bench result file. Raises OSError or ValueError when it cannot be read as a JSON object."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a bench result (a JSON object)")
    return data


def latest_bench(project: Project, host: str) -> list[dict]:
    """A host's bench results, newest first (by start time, then id); unreadable files are left out."""
    folder = project.bench_dir / host
    results = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            results.append(load_bench(path))
        except (OSError, ValueError):
            continue
    results.sort(key=lambda r: (str(r.get("started_at") or ""), str(r.get("id") or "")), reverse=True)
    return results


def read_host_state(project: Project, host: str) -> dict | None:
    """The host's state.json as the last run gathered it, or None."""
    try:
        return json.loads((project.hosts_dir / host / "state.json").read_text())
    except (OSError, ValueError):
        return None
