"""Where the Ansible content (playbooks, roles, plugins, inventory templates) and the host services' source live.

In a wheel it is packaged under sparkfleet/_ansible; in a source checkout (editable install)
it is the repository's top-level folders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PARTS = ("playbooks", "roles", "plugins", "inventory")


@cache
def content_root() -> Path:
    packaged = Path(__file__).resolve().parent / "_ansible"
    if (packaged / "playbooks").is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2]
    if all((checkout / part).is_dir() for part in _PARTS):
        return checkout
    raise RuntimeError(f"sparkfleet's Ansible content is missing: looked in {packaged} and {checkout}")


def playbook(name: str) -> Path:
    return content_root() / "playbooks" / f"{name}.yml"


def roles_dir() -> Path:
    return content_root() / "roles"


def plugins_dir(kind: str) -> Path:
    """kind: modules, filter, callback, ..."""
    return content_root() / "plugins" / kind


def inventory_template_dir() -> Path:
    return content_root() / "inventory"


def services_dir() -> Path:
    """The source of the services sparkfleet builds into wheels for its hosts (services/video)."""
    return content_root() / "services"
