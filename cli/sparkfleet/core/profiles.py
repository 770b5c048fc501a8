"""Profiles: what kind of machine a host is, and so which values the roles use for it.

The roles' defaults are a DGX Spark's values: that is the `spark` profile, and a host in no profile group gets it.
Any other profile is an inventory group whose group_vars file (inventory/group_vars/<profile>.yml) sets
`sparkfleet_profile: <profile>` and the values that differ, such as `lab` for local stand-ins. `host add --profile`
puts a host in that group; `describe` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparkfleet.core.errors import UsageError
from sparkfleet.core.project import Project

DEFAULT = "spark"


@dataclass
class Profile:
    name: str
    group: str | None  # the inventory group that selects it (None: the default, no group needed)
    summary: str  # the first comment of its group_vars file
    sets: dict  # the variables it sets (empty for the default: the roles' defaults apply)


def available(project: Project) -> dict[str, Profile]:
    """The profiles this project defines: the default, and every group_vars file that names its own profile."""
    import yaml

    found = {DEFAULT: Profile(DEFAULT, None, "A DGX Spark (the roles' defaults; GPU required).", {})}
    folder = project.root / "inventory" / "group_vars"
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue  # a broken file is Ansible's error to report, on the next run
        if isinstance(values, dict) and values.get("sparkfleet_profile") == path.stem:
            found[path.stem] = Profile(path.stem, path.stem, _summary(path), values)
    return found


def group_for(project: Project, name: str) -> str | None:
    """The group a host joins to get profile `name` (None for the default), or a UsageError naming the choices."""
    profiles = available(project)
    if name not in profiles:
        raise UsageError(f"Unknown profile {name!r}.",
                         hint=f"Choose one of: {', '.join(profiles)} (a profile is a group_vars file in "
                         "inventory/group_vars that sets sparkfleet_profile to its own name).")
    return profiles[name].group


def _summary(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
