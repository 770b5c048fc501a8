"""Where the Ansible content (playbooks, roles, plugins, inventory templates) lives.

In a wheel it is packaged under sparkfleet/_ansible; in a source checkout (editable install)
it is the repository's top-level folders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PARTS = ("playbooks", "roles", "plugins", "inventory")


@cache
def content_root() -> Path:
    package = Path(__file__).resolve().parents[1]  # sparkfleet/
    packaged = package / "_ansible"
    if (packaged / "playbooks").is_dir():
        return packaged
    checkout = package.parents[1]
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
