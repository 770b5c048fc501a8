"""The video endpoint's API key: made once, at the first `up`, and kept in the project's vault.

With a vault password (ANSIBLE_VAULT_PASSWORD_FILE, or vault_password_file in the project's ansible.cfg) the key
goes into inventory/group_vars/all/vault.yml as `vault_video_api_key`, encrypted with ansible-vault: the whole
file re-encrypted when it is an encrypted vault, one encrypted value appended when it is plain YAML. Without one,
it goes into a file of its own beside the vault, readable by its owner only (0600) and listed in the project's
.gitignore; Ansible reads it like any other group_vars file. Nothing sparkfleet copies into run artifacts, reports
or notes reads either file, and only its location is ever printed after the first time.
"""

from __future__ import annotations

import configparser
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sparkfleet.core.errors import ProjectError
from sparkfleet.core.project import Project

VARIABLE = "vault_video_api_key"
PLAIN_FILE = "vault_video_api_key.yml"  # beside vault.yml, used only when the project has no vault password
_KEY_BYTES = 32  # 256 bits from the OS's CSPRNG, URL-safe text of 43 characters
_DEFINED = re.compile(rf"^{VARIABLE}\s*:", re.MULTILINE)


@dataclass(frozen=True)
class KeyResult:
    created: bool
    stored_in: str  # relative to the project root
    encrypted: bool
    key: str | None = None  # only when created: shown to the person once, never written anywhere else

    def where(self) -> str:
        how = "encrypted with ansible-vault" if self.encrypted else "plain text, mode 0600: readable by its owner only"
        return f"{VARIABLE} in {self.stored_in} ({how})"


def vault_file(project: Project) -> Path:
    return project.inventory_dir / "group_vars" / "all" / "vault.yml"


def plain_file(project: Project) -> Path:
    return project.inventory_dir / "group_vars" / "all" / PLAIN_FILE


def vault_password_file(project: Project) -> Path | None:
    """The vault password file Ansible will use for this project, as Ansible finds it (environment first)."""
    named = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    base = Path.cwd()
    if not named and project.ansible_cfg.is_file():
        config = configparser.ConfigParser(interpolation=None)
        config.read(project.ansible_cfg)
        named = config.get("defaults", "vault_password_file", fallback=None)
        base = project.root
    if not named:
        return None
    path = Path(os.path.expanduser(named))
    return path if path.is_absolute() else base / path


def _vault(password_file: Path):
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    if not password_file.is_file():
        raise ProjectError(f"The vault password file {password_file} does not exist.",
                           hint="Create it, or unset ANSIBLE_VAULT_PASSWORD_FILE / vault_password_file.")
    secret = get_file_vault_secret(filename=str(password_file), loader=DataLoader())
    secret.load()
    return VaultLib([("default", secret)])


def _write_private(path: Path, text: str) -> None:
    """Write a secret file atomically, created 0600 so it is never readable by others, even for a moment."""
    mode = path.stat().st_mode & 0o777 & ~0o077 if path.exists() else 0o600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode or 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _ignore_in_git(project: Project, rel: str) -> None:
    gitignore = project.root / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if rel not in lines:
        with open(gitignore, "a") as handle:
            separator = "\n" if lines and lines[-1] else ""
            handle.write(f"{separator}# The video endpoint's API key (no vault password)\n{rel}\n")


def ensure(project: Project) -> KeyResult:
    """Make the key if the project has none; return where it is (and the key itself only when just made)."""
    from ansible.parsing.vault import is_encrypted

    vault = vault_file(project)
    plain = plain_file(project)
    rel = lambda path: path.relative_to(project.root).as_posix()  # noqa: E731
    password_file = vault_password_file(project)
    vault_text = vault.read_text() if vault.exists() else ""
    vault_encrypted = is_encrypted(vault_text)

    if plain.exists() and _DEFINED.search(plain.read_text()):
        return KeyResult(created=False, stored_in=rel(plain), encrypted=False)
    if vault_encrypted:
        if password_file is None:
            raise ProjectError(f"{rel(vault)} is encrypted and no vault password is given.",
                               hint="Set ANSIBLE_VAULT_PASSWORD_FILE (or vault_password_file in ansible.cfg).")
        lib = _vault(password_file)
        plaintext = lib.decrypt(vault_text).decode()
        if _DEFINED.search(plaintext):
            return KeyResult(created=False, stored_in=rel(vault), encrypted=True)
    elif _DEFINED.search(vault_text):
        return KeyResult(created=False, stored_in=rel(vault), encrypted="!vault" in vault_text)

    key = secrets.token_urlsafe(_KEY_BYTES)
    comment = "# Made by the first `sparkfleet up`: the video endpoint requires it as the X-API-Key header.\n"
    if password_file is None:
        _write_private(plain, f"---\n{comment}{VARIABLE}: {key}\n")
        _ignore_in_git(project, rel(plain))
        return KeyResult(created=True, stored_in=rel(plain), encrypted=False, key=key)
    lib = _vault(password_file)
    if vault_encrypted:
        plaintext = lib.decrypt(vault_text).decode()
        new = plaintext.rstrip("\n") + f"\n{comment}{VARIABLE}: {key}\n"
        _write_private(vault, lib.encrypt(new).decode())
    else:
        # A plain vault (comments, or values the person encrypted one by one): append one encrypted value.
        blob = lib.encrypt(key).decode().strip().replace("\n", "\n  ")
        prefix = vault_text if vault_text.endswith("\n") or not vault_text else vault_text + "\n"
        _write_private(vault, (prefix or "---\n") + f"{comment}{VARIABLE}: !vault |\n  {blob}\n")
    return KeyResult(created=True, stored_in=rel(vault), encrypted=True, key=key)


def location(project: Project) -> str | None:
    """Where the key is kept, for the report; None when the project keeps none in the usual places."""
    plain = plain_file(project)
    if plain.exists():
        return KeyResult(created=False, stored_in=plain.relative_to(project.root).as_posix(), encrypted=False).where()
    vault = vault_file(project)
    if vault.exists():
        text = vault.read_text()
        if text.startswith("$ANSIBLE_VAULT") or _DEFINED.search(text):
            encrypted = text.startswith("$ANSIBLE_VAULT") or "!vault" in text
            return KeyResult(created=False, stored_in=vault.relative_to(project.root).as_posix(),
                             encrypted=encrypted).where()
    return None
