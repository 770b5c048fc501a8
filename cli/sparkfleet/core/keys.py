"""The controller's ssh key pair (ed25519), created once per project and reused by every run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sparkfleet.core.errors import EnvironmentProblem
from sparkfleet.core.project import Project


def controller_key(project: Project) -> Path:
    return project.ssh_dir / "id_ed25519"


def ensure_controller_key(project: Project) -> tuple[Path, bool]:
    """Return (private key path, created). An existing key is never replaced."""
    key = controller_key(project)
    if key.exists() and key.with_suffix(".pub").exists():
        return key, False
    if shutil.which("ssh-keygen") is None:
        raise EnvironmentProblem("ssh-keygen is not installed on this machine.",
                                 hint="Install the OpenSSH client (apt-get install openssh-client).")
    key.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    key.unlink(missing_ok=True)
    comment = f"sparkfleet@{project.root.name}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                   check=True, capture_output=True)
    return key, True


def public_key(project: Project) -> str:
    return controller_key(project).with_suffix(".pub").read_text().strip()
