"""Where the Ansible content lives: the collection sparkfleet.spark (playbooks, roles, plugins) and the
inventory templates.

Ansible finds a collection at <path>/ansible_collections/sparkfleet/spark for a path in
ANSIBLE_COLLECTIONS_PATH. A wheel packages the collection at such a path (sparkfleet/_collections/...). In a
source checkout the repository root is the collection; a symlink in .sparkfleet/collections gives it that shape
without copying.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

NAMESPACE, NAME = "sparkfleet", "spark"
COLLECTION = f"{NAMESPACE}.{NAME}"
_PACKAGE = Path(__file__).resolve().parents[1]  # the sparkfleet package
_PARTS = ("playbooks", "roles", "plugins")


def _checkout() -> Path | None:
    root = _PACKAGE.parents[1]
    if (root / "galaxy.yml").is_file() and all((root / part).is_dir() for part in _PARTS):
        return root
    return None


def _linked(checkout: Path) -> Path:
    """A collections path whose ansible_collections/sparkfleet/spark is a symlink to the checkout.

    It lives in the checkout's .sparkfleet/ (git, ruff, yamllint, ansible-lint, pytest and galaxy.yml's build_ignore
    all skip that folder, so none walks into the loop), where molecule.yml can name it; in the user's cache dir
    when the checkout is read-only.
    """
    try:
        return _link(checkout / ".sparkfleet" / "collections", checkout)
    except OSError:
        cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        digest = hashlib.sha256(str(checkout).encode()).hexdigest()[:12]
        return _link(cache_home / "sparkfleet" / "collections" / digest, checkout)


def _link(base: Path, checkout: Path) -> Path:
    link = base / "ansible_collections" / NAMESPACE / NAME
    if not (link.is_symlink() and link.resolve() == checkout):
        link.parent.mkdir(parents=True, exist_ok=True)
        fresh = link.with_name(f".{NAME}-{os.getpid()}")
        fresh.unlink(missing_ok=True)
        target = os.path.relpath(checkout, link.parent)  # relative: the link survives moving the checkout
        fresh.symlink_to(target, target_is_directory=True)
        os.replace(fresh, link)  # atomic: a concurrent run sees the old link or the new one
    return base


@cache
def collections_path() -> Path:
    """The folder to put in ANSIBLE_COLLECTIONS_PATH (it holds ansible_collections/sparkfleet/spark)."""
    packaged = _PACKAGE / "_collections"
    if (packaged / "ansible_collections" / NAMESPACE / NAME / "galaxy.yml").is_file():
        return packaged
    checkout = _checkout()
    if checkout is None:
        raise RuntimeError(f"sparkfleet's Ansible collection is missing: looked in {packaged} "
                           f"and {_PACKAGE.parents[1]}")
    return _linked(checkout)


@cache
def content_root() -> Path:
    """The collection's own folder (galaxy.yml, playbooks/, roles/, plugins/), with no symlink in its path."""
    packaged = _PACKAGE / "_collections" / "ansible_collections" / NAMESPACE / NAME
    if (packaged / "galaxy.yml").is_file():
        return packaged
    return (collections_path() / "ansible_collections" / NAMESPACE / NAME).resolve()


def playbook(name: str) -> Path:
    return content_root() / "playbooks" / f"{name}.yml"


def roles_dir() -> Path:
    return content_root() / "roles"


def plugins_dir(kind: str) -> Path:
    """kind: modules, module_utils, filter, ..."""
    return content_root() / "plugins" / kind


def inventory_template_dir() -> Path:
    packaged = _PACKAGE / "_ansible" / "inventory"
    if packaged.is_dir():
        return packaged
    return content_root() / "inventory"


def services_dir() -> Path:
    """The source of the services sparkfleet builds into wheels for its hosts (services/video)."""
    packaged = _PACKAGE / "_ansible" / "services"
    if packaged.is_dir():
        return packaged
    return content_root() / "services"
