"""A cheap no-op `up`: when every host is as the last `up` left it, the phases that would change nothing are
skipped whole.

A host is in sync when its state file says the last run passed, that run's `serve` was made from the same inputs
(inputs_digest: the collection, the services' source, the project's inventory and vault, the options of `up`,
sparkfleet's version), and the one read-only probe (playbooks/status.yml) finds no drift: the unit files and the
model manifest have the digests serve left, the versions are the same, the services are active. Anything else, a
hand edit included, runs every phase as before, which puts the host back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from sparkfleet import __version__
from sparkfleet.core import content
from sparkfleet.core.project import Project

# What a no-op `up` skips when every host is in sync. verify still runs: it is the health gate, and it checks what
# no digest covers (a secret file left readable, a port opened by hand, a video through the endpoint).
SKIPPED_WHEN_IN_SYNC = ("doctor", "serve", "bench")
_CONTENT_PARTS = ("playbooks", "roles", "plugins", "meta")


def _tree_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".md"))


def inputs_digest(project: Project, options: dict) -> str:
    """sha256 over everything `up` deploys from; a change anywhere makes every host out of sync (conservative)."""
    digest = hashlib.sha256(f"sparkfleet {__version__}\n{json.dumps(options, sort_keys=True)}\n".encode())
    roots = [content.content_root() / part for part in _CONTENT_PARTS]
    roots += [content.services_dir(), project.inventory_dir]
    for root in roots:
        if not root.exists():
            continue
        for path in _tree_files(root):
            digest.update(f"{path.relative_to(root.parent)}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def out_of_sync(status: dict, inputs: str) -> dict[str, str]:
    """{host: why it is not in sync} from `fleet_status`'s result; empty when every host is in sync."""
    why = {}
    for name, host in status["hosts"].items():
        if "error" in host or not host.get("reachable"):
            why[name] = host.get("error") or "unreachable"
        elif not host.get("set_up"):
            why[name] = "not set up yet"
        elif host["drift"]:
            why[name] = "drift: " + "; ".join(d["what"] for d in host["drift"])
        elif not (host.get("last_run") or {}).get("ok"):
            why[name] = "the last run did not pass"
        elif host.get("inputs") != inputs:
            why[name] = "the inputs changed since the last serve (content, inventory or options)"
    return why


def phases_to_skip(project: Project, emit: Callable, limit: str | None, inputs: str) -> tuple[dict, dict]:
    """(phase -> why it is skipped, host -> why it is not in sync) after one probe of every host."""
    from sparkfleet.runs.fleet_status import fleet_status

    status, _code = fleet_status(project, emit, limit)
    why = out_of_sync(status, inputs)
    if why or not status["hosts"]:
        return {}, why
    reason = "every host is as the last up left it (no drift, same inputs, services answering)"
    return {phase: reason for phase in SKIPPED_WHEN_IN_SYNC}, {}
