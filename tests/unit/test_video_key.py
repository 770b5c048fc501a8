"""The video endpoint's API key: made once, kept in the vault (encrypted with a vault password, else a 0600 file)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sparkfleet.core import video_key
from sparkfleet.core.project import Project

ANSIBLE_VAULT = str(Path(sys.executable).parent / "ansible-vault")


@pytest.fixture
def no_vault_password(monkeypatch):
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)


@pytest.fixture
def vault_password(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "vault-pass"
    path.write_text("correct horse battery staple\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(path))
    return path


def view(path: Path) -> str:
    return subprocess.run([ANSIBLE_VAULT, "view", str(path)],
                          capture_output=True, text=True, check=True).stdout


def test_without_a_vault_password_the_key_goes_to_a_private_file_git_ignores(project, no_vault_password):
    made = video_key.ensure(Project(project))
    assert made.created and made.key and len(made.key) >= 43  # 32 random bytes
    path = project / made.stored_in
    assert path.name == "vault_video_api_key.yml" and path.parent.name == "all"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {"vault_video_api_key": made.key}
    assert made.stored_in in (project / ".gitignore").read_text().splitlines()
    assert made.key not in (project / "inventory/group_vars/all/vault.yml").read_text()


def test_a_second_up_keeps_the_key_and_never_returns_it(project, no_vault_password):
    first = video_key.ensure(Project(project))
    stored = (project / first.stored_in).read_text()
    gitignore = (project / ".gitignore").read_text()
    second = video_key.ensure(Project(project))
    assert not second.created and second.key is None and second.stored_in == first.stored_in
    assert (project / first.stored_in).read_text() == stored
    assert (project / ".gitignore").read_text() == gitignore  # listed once


def test_two_projects_get_different_keys(tmp_path, cli, no_vault_password):
    keys = set()
    for name in ("a", "b"):
        assert cli("init", str(tmp_path / name)).code == 0
        keys.add(video_key.ensure(Project(tmp_path / name)).key)
    assert len(keys) == 2


def test_with_a_vault_password_a_plain_vault_gets_one_encrypted_value(project, vault_password):
    vault = project / "inventory/group_vars/all/vault.yml"
    before = vault.read_text()
    made = video_key.ensure(Project(project))
    assert made.created and made.encrypted and made.stored_in == "inventory/group_vars/all/vault.yml"
    text = vault.read_text()
    assert text.startswith(before) and made.key not in text and "vault_video_api_key: !vault |" in text
    assert not (project / "inventory/group_vars/all/vault_video_api_key.yml").exists()
    # Ansible reads it back with the same password
    shown = subprocess.run([str(Path(sys.executable).parent / "ansible"), "localhost", "-i", "localhost,",
                            "-c", "local", "-e", f"@{vault}",
                            "-m", "debug", "-a", "var=vault_video_api_key"], capture_output=True, text=True)
    assert made.key in shown.stdout, shown.stdout + shown.stderr
    assert not video_key.ensure(Project(project)).created


def test_with_a_vault_password_an_encrypted_vault_is_re_encrypted_with_the_key(project, vault_password):
    vault = project / "inventory/group_vars/all/vault.yml"
    vault.write_text("---\nvault_hf_token: hf_example\n")
    subprocess.run([ANSIBLE_VAULT, "encrypt", str(vault)], check=True)  # with ANSIBLE_VAULT_PASSWORD_FILE
    made = video_key.ensure(Project(project))
    assert made.created and made.key not in vault.read_text()
    assert vault.read_text().startswith("$ANSIBLE_VAULT")
    assert yaml.safe_load(view(vault)) == {"vault_hf_token": "hf_example",
                                                           "vault_video_api_key": made.key}
    assert not video_key.ensure(Project(project)).created


def test_a_key_the_person_set_is_kept(project, no_vault_password):
    vault = project / "inventory/group_vars/all/vault.yml"
    vault.write_text(vault.read_text() + "vault_video_api_key: mine\n")
    kept = video_key.ensure(Project(project))
    assert not kept.created and kept.stored_in == "inventory/group_vars/all/vault.yml"
    assert not (project / "inventory/group_vars/all/vault_video_api_key.yml").exists()


def test_an_encrypted_vault_without_its_password_is_a_clear_error(project, vault_password, monkeypatch):
    vault = project / "inventory/group_vars/all/vault.yml"
    subprocess.run([ANSIBLE_VAULT, "encrypt", str(vault)], check=True)  # with ANSIBLE_VAULT_PASSWORD_FILE
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE")
    with pytest.raises(Exception, match="encrypted and no vault password"):
        video_key.ensure(Project(project))


def test_the_report_names_where_the_key_is_never_the_key(project, no_vault_password):
    assert video_key.location(Project(project)) is None
    made = video_key.ensure(Project(project))
    where = video_key.location(Project(project))
    assert made.stored_in in where and made.key not in where
