"""First contact on real lab hosts in the fresh-Spark state: password -> key-only access, and each failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import run_sparkfleet

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def fresh_lab(tmp_path_factory):
    """Three fresh hosts: lab1 and lab2 are bootstrapped, lab3 is kept for the failure cases."""
    root = tmp_path_factory.mktemp("bootstrap") / "project"
    assert run_sparkfleet("init", str(root)).code == 0
    up = run_sparkfleet("--json", "lab", "up", "--fresh", "--hosts", "3", cwd=root, timeout=900)
    assert up.code == 0, up.stdout + up.stderr
    password = Path(up.summary["result"]["password_file"]).read_text().strip()
    yield root, password
    assert run_sparkfleet("lab", "down", cwd=root, timeout=300).code == 0


def host_vars(project: Path, name: str) -> dict:
    data = yaml.safe_load((project / "inventory/hosts.yml").read_text())
    return next(g["hosts"][name] for g in data["all"]["children"].values() if name in (g.get("hosts") or {}))


def in_container(project: Path, name: str, *command: str) -> subprocess.CompletedProcess:
    status = run_sparkfleet("--json", "lab", "status", cwd=project).summary["result"]["hosts"]
    container = next(h["container"] for h in status if h["name"] == name)
    return subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True)


def password_login_refused(project: Path, name: str) -> bool:
    port = str(host_vars(project, name)["ansible_port"])
    probe = subprocess.run(
        ["ssh", "-p", port, "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no", "-o", "ControlPath=none",
         "-o", f"UserKnownHostsFile={project}/.sparkfleet/known_hosts", "-o", "StrictHostKeyChecking=yes",
         "spark@127.0.0.1", "true"], capture_output=True, text=True)
    assert probe.returncode == 255
    return "Permission denied (publickey)." in probe.stderr


def test_fresh_hosts_only_take_a_password_and_are_not_pinned(fresh_lab):
    project, _ = fresh_lab
    ping = run_sparkfleet("--json", "ping", "--limit", "lab1", cwd=project, timeout=120)
    assert ping.code == 4
    assert "sparkfleet bootstrap" in ping.summary["result"]["failures"][0]["hint"]
    assert not (project / ".sparkfleet/known_hosts").exists() or \
        (project / ".sparkfleet/known_hosts").read_text().strip() == ""


def test_bootstrap_goes_key_only_and_a_second_run_changes_nothing(fresh_lab):
    project, password = fresh_lab
    first = run_sparkfleet("--json", "bootstrap", "--limit", "lab1,lab2", "--passwordless-sudo",
                           "--disable-password-login", cwd=project, timeout=300,
                           env={"SPARKFLEET_SSH_PASSWORD": password})
    assert first.code == 0, first.stdout + first.stderr
    assert {h: s["status"] for h, s in first.summary["result"]["hosts"].items()} == {
        "lab1": "changed", "lab2": "changed"}
    pins = (project / ".sparkfleet/known_hosts").read_text().splitlines()
    assert len(pins) == 2 and all("sparkfleet-tofu:" in line for line in pins)

    for name in ("lab1", "lab2"):
        assert password_login_refused(project, name)
        effective = in_container(project, name, "sshd", "-T").stdout.splitlines()
        assert "passwordauthentication no" in effective
        assert in_container(project, name, "sudo", "-n", "-u", "spark", "sudo", "-n", "true").returncode == 0
    assert run_sparkfleet("ping", "--limit", "lab1,lab2", cwd=project, timeout=120).code == 0

    # No password this time: the key is enough, and nothing changes.
    second = run_sparkfleet("--json", "bootstrap", "--limit", "lab1,lab2", "--passwordless-sudo",
                            "--disable-password-login", cwd=project, timeout=300)
    assert second.code == 0, second.stdout
    assert second.summary["result"]["changed"] is False

    # The password is in no log, artifact or output.
    assert password not in first.stdout + first.stderr + second.stdout
    for path in (project / ".sparkfleet").rglob("*"):
        if path.is_file() and path.name != "password":
            assert password not in path.read_text(errors="replace"), path


def test_a_wrong_password_is_refused_clearly_and_changes_nothing(fresh_lab):
    project, _ = fresh_lab
    result = run_sparkfleet("--json", "bootstrap", "--limit", "lab3", cwd=project, timeout=300,
                            env={"SPARKFLEET_SSH_PASSWORD": "not-the-password"})
    assert result.code == 4, result.stdout
    failure = result.summary["result"]["failures"][0]
    assert failure["host"] == "lab3" and "password was refused" in failure["hint"]
    assert in_container(project, "lab3", "test", "-e", "/home/spark/.ssh/authorized_keys").returncode == 1


def test_a_user_without_sudo_is_stopped_before_any_change(fresh_lab):
    project, password = fresh_lab
    assert in_container(project, "lab3", "useradd", "-m", "-s", "/bin/bash", "nosudo").returncode == 0
    container_status = run_sparkfleet("--json", "lab", "status", cwd=project).summary["result"]["hosts"]
    container = next(h["container"] for h in container_status if h["name"] == "lab3")
    subprocess.run(["docker", "exec", "-i", container, "chpasswd"], input=f"nosudo:{password}\n", text=True,
                   check=True)
    port = str(host_vars(project, "lab3")["ansible_port"])
    assert run_sparkfleet("host", "add", "lab3-nosudo", "--address", "127.0.0.1", "--port", port,
                          "--user", "nosudo", "--allow-same-address", cwd=project).code == 0
    result = run_sparkfleet("--json", "bootstrap", "--limit", "lab3-nosudo", cwd=project, timeout=300,
                            env={"SPARKFLEET_SSH_PASSWORD": password})
    assert result.code == 3, result.stdout
    message = result.summary["result"]["failures"][0]["message"]
    assert "nosudo cannot use sudo" in message and "usermod -aG sudo" in message
    assert in_container(project, "lab3", "test", "-e", "/home/nosudo/.ssh/authorized_keys").returncode == 1
    run_sparkfleet("host", "remove", "lab3-nosudo", cwd=project)


def test_an_unreachable_host_gets_its_own_error(fresh_lab, tmp_path):
    project, password = fresh_lab
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    run_sparkfleet("host", "add", "ghost", "--address", "127.0.0.1", "--port", port, "--user", "spark", cwd=project)
    try:
        result = run_sparkfleet("--json", "bootstrap", "--limit", "ghost", cwd=project, timeout=300,
                                env={"SPARKFLEET_SSH_PASSWORD": password})
        assert result.code == 4, result.stdout
        assert "Nothing answers on the ssh port" in result.summary["result"]["failures"][0]["hint"]
    finally:
        run_sparkfleet("host", "remove", "ghost", cwd=project)


def test_a_changed_host_key_stops_the_run_with_both_fingerprints(fresh_lab):
    project, _ = fresh_lab
    known = project / ".sparkfleet/known_hosts"
    port = host_vars(project, "lab2")["ansible_port"]
    impostor = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    original = known.read_text()
    known.write_text("\n".join(f"[127.0.0.1]:{port} {impostor} sparkfleet-tofu:lab2"
                               if line.startswith(f"[127.0.0.1]:{port} ") else line
                               for line in original.splitlines()) + "\n")
    result = run_sparkfleet("--json", "bootstrap", "--limit", "lab2", cwd=project, timeout=300)
    assert result.code == 3, result.stdout
    message = result.summary["result"]["failures"][0]["message"]
    assert "changed" in message and message.count("SHA256:") == 2 and "sparkfleet host trust lab2" in message

    trust = run_sparkfleet("--json", "host", "trust", "lab2", cwd=project)
    assert trust.code == 0 and trust.summary["result"]["changed"] is True
    assert trust.summary["result"]["previous"] in message and trust.summary["result"]["pinned"] in message
    again = run_sparkfleet("--json", "bootstrap", "--limit", "lab2", cwd=project, timeout=300)
    assert again.code == 0 and again.summary["result"]["changed"] is False


def unpin(project: Path, port: int) -> None:
    known = project / ".sparkfleet/known_hosts"
    if known.exists():
        known.write_text("".join(f"{line}\n" for line in known.read_text().splitlines()
                                 if not line.startswith(f"[127.0.0.1]:{port} ")))


def test_a_login_with_a_dot_gets_a_sudoers_file_that_sudo_reads(fresh_lab):
    """sudo skips /etc/sudoers.d files whose names hold a dot: first.last needs another file name."""
    project, password = fresh_lab
    assert in_container(project, "lab3", "useradd", "-m", "-s", "/bin/bash", "-G", "sudo", "first.last").returncode == 0
    status = run_sparkfleet("--json", "lab", "status", cwd=project).summary["result"]["hosts"]
    container = next(h["container"] for h in status if h["name"] == "lab3")
    subprocess.run(["docker", "exec", "-i", container, "chpasswd"], input=f"first.last:{password}\n", text=True,
                   check=True)
    port = str(host_vars(project, "lab3")["ansible_port"])
    assert run_sparkfleet("host", "add", "lab3-dotted", "--address", "127.0.0.1", "--port", port, "--user",
                          "first.last", "--allow-same-address", cwd=project).code == 0
    try:
        result = run_sparkfleet("--json", "bootstrap", "--limit", "lab3-dotted", "--passwordless-sudo", cwd=project,
                                timeout=300, env={"SPARKFLEET_SSH_PASSWORD": password})
        assert result.code == 0, result.stdout + result.stderr
        assert in_container(project, "lab3", "test", "-f", "/etc/sudoers.d/90-sparkfleet-first_last").returncode == 0
        assert in_container(project, "lab3", "sudo", "-n", "-u", "first.last", "sudo", "-n", "true").returncode == 0
    finally:
        run_sparkfleet("host", "remove", "lab3-dotted", cwd=project)


def test_a_match_block_that_keeps_passwords_on_stops_key_only_and_is_undone(fresh_lab):
    """`sshd -T` alone ignores Match blocks; `-C user=,host=,addr=` applies them for this login."""
    project, password = fresh_lab
    config = "/etc/ssh/sshd_config"
    assert in_container(project, "lab3", "sh", "-c", f"cp {config} /root/sshd_config.before && printf "
                        f"'\\nMatch User spark\\n    PasswordAuthentication yes\\n' >> {config}").returncode == 0
    try:
        result = run_sparkfleet("--json", "bootstrap", "--limit", "lab3", "--disable-password-login", cwd=project,
                                timeout=300, env={"SPARKFLEET_SSH_PASSWORD": password})
        assert result.code == 3, result.stdout
        message = result.summary["result"]["failures"][0]["message"]
        assert "would still accept passwords for spark" in message and "Match" in message
        # the drop-in is removed again: sshd is left as it was
        assert in_container(project, "lab3", "test", "-e", "/etc/ssh/sshd_config.d/00-sparkfleet.conf").returncode == 1
    finally:
        in_container(project, "lab3", "sh", "-c",
                     f"cp /root/sshd_config.before {config} && systemctl try-reload-or-restart ssh")


def test_a_given_fingerprint_is_shown_checked_and_a_different_key_refused(fresh_lab):
    project, password = fresh_lab
    port = host_vars(project, "lab3")["ansible_port"]
    real = in_container(project, "lab3", "ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
    wrong = "SHA256:" + "A" * 43
    unpin(project, port)
    add = ["host", "add", "lab3-fp", "--address", "127.0.0.1", "--port", str(port), "--user", "spark",
           "--allow-same-address"]
    assert run_sparkfleet(*add, "--host-key-fingerprint", wrong, cwd=project).code == 0
    try:
        refused = run_sparkfleet("--json", "bootstrap", "--limit", "lab3-fp", cwd=project, timeout=300,
                                 env={"SPARKFLEET_SSH_PASSWORD": password})
        assert refused.code == 3, refused.stdout
        error = refused.summary["error"]
        assert error["code"] == "host_key_mismatch" and real in error["message"] and wrong in error["message"]
        assert f"[127.0.0.1]:{port} " not in (project / ".sparkfleet/known_hosts").read_text()
        assert not any(line["type"] == "run_start" for line in refused.json_lines())  # no playbook ran

        run_sparkfleet("host", "remove", "lab3-fp", cwd=project)
        assert run_sparkfleet(*add, "--host-key-fingerprint", real, cwd=project).code == 0
        accepted = run_sparkfleet("--json", "bootstrap", "--limit", "lab3-fp", cwd=project, timeout=300,
                                  env={"SPARKFLEET_SSH_PASSWORD": password})
        assert accepted.code == 0, accepted.stdout
        events = accepted.json_lines()
        shown = next(i for i, e in enumerate(events) if e["type"] == "progress" and real in e["message"])
        assert shown < next(i for i, e in enumerate(events) if e["type"] == "run_start")  # shown, then pinned
        assert f"[127.0.0.1]:{port} " in (project / ".sparkfleet/known_hosts").read_text()
    finally:
        run_sparkfleet("host", "remove", "lab3-fp", cwd=project)
