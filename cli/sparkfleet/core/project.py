"""The project folder a user works in: ansible.cfg, inventory/, group_vars, the vault and .sparkfleet/."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sparkfleet.core import content
from sparkfleet.core.errors import ProjectError

STATE_DIRNAME = ".sparkfleet"
DEFAULT_FORKS = 50  # above any fleet of Sparks we expect; Ansible only opens as many as there are hosts


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIRNAME

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def inventory_dir(self) -> Path:
        return self.root / "inventory"

    @property
    def inventory_file(self) -> Path:
        return self.inventory_dir / "hosts.yml"

    @property
    def ansible_cfg(self) -> Path:
        return self.root / "ansible.cfg"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def ssh_dir(self) -> Path:
        return self.state_dir / "ssh"

    @property
    def lock_file(self) -> Path:
        """The command lock (core.project_lock): one command changing the project at a time."""
        return self.state_dir / "lock"

    @property
    def inventory_lock_file(self) -> Path:
        """The inventory edit lock (core.inventory.editing); its own file, since a command that holds lock_file
        edits the inventory, and a second flock on the same file in one process would wait for itself."""
        return self.state_dir / "inventory.lock"

    @property
    def history_dir(self) -> Path:
        """Run records, one JSON per `up`, `verify` or `bench` (docs/run-data.md)."""
        return self.state_dir / "history"

    @property
    def hosts_dir(self) -> Path:
        """Copies of each host's notes: hosts/<host>/state.json and NOTES.md."""
        return self.state_dir / "hosts"

    @property
    def bench_dir(self) -> Path:
        """Bench results fetched from the hosts: bench/<host>/<id>.json."""
        return self.state_dir / "bench"

    @classmethod
    def find(cls, explicit: Path | None = None, start: Path | None = None) -> Project:
        """The project named by --project, else the nearest folder above the current one holding .sparkfleet/."""
        if explicit is not None:
            root = explicit.expanduser().resolve()
            if not (root / STATE_DIRNAME).is_dir():
                raise ProjectError(
                    f"{root} is not a sparkfleet project (no {STATE_DIRNAME}/ folder in it).",
                    hint=f"Create it with: sparkfleet init {explicit}",
                )
            return cls(root)
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / STATE_DIRNAME).is_dir():
                return cls(candidate)
        raise ProjectError(
            f"No sparkfleet project in {here} or any folder above it.",
            hint="Run `sparkfleet init DIR` to create one, then work inside DIR or pass --project DIR.",
        )


def init_project(root: Path) -> tuple[Project, list[str], list[str]]:
    """Create the files of a project folder that are missing. Returns (project, created, kept).

    Existing files are never touched, so a user's edits survive any number of re-runs.
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined

    root = root.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} exists and is not a folder.", hint="Choose another path for the project.")
    created: list[str] = []
    kept: list[str] = []

    def place(rel: str, write) -> None:
        target = root / rel
        if target.exists():
            kept.append(rel)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        write(tmp)
        os.replace(tmp, target)
        created.append(rel)

    for sub in ("runs", "facts", "ssh"):
        path = root / STATE_DIRNAME / sub
        if not path.is_dir():
            path.mkdir(parents=True, mode=0o700)
            created.append(f"{STATE_DIRNAME}/{sub}/")
    os.chmod(root / STATE_DIRNAME, 0o700)

    env = Environment(loader=PackageLoader("sparkfleet.core", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True)
    for name in ("ansible.cfg", ".gitignore", "policy.yml"):  # policy.yml: what `sparkfleet run` lets apply
        text = env.get_template(f"{name}.j2").render(forks=DEFAULT_FORKS, state_dir=STATE_DIRNAME)
        place(name, lambda tmp, text=text: tmp.write_text(text))

    template_root = content.inventory_template_dir()
    for src in sorted(template_root.rglob("*")):
        if src.is_file():
            rel = "inventory/" + src.relative_to(template_root).as_posix()
            place(rel, lambda tmp, src=src: shutil.copyfile(src, tmp))
    return Project(root), created, kept


MODEL_VARS = "model.yml"


def remember_model(project: Project, model: str) -> Path:
    """Record `up --model` in the inventory, so that later runs (verify, bench, notes) serve and check the same."""
    from sparkfleet.core.atomic import write_atomically

    path = project.inventory_dir / "group_vars" / "all" / MODEL_VARS
    write_atomically(path, "---\n# Written by `sparkfleet up --model`; edit it, or run that again, to change it.\n"
                     f"sparkfleet_model: {model}\n")
    return path
