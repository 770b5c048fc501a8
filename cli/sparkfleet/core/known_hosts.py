"""The project's known_hosts: the one place host keys are pinned (lab hosts at creation, Sparks on first use)."""

from __future__ import annotations

import subprocess

from sparkfleet.core.atomic import write_atomically
from sparkfleet.core.errors import HostUnreachable
from sparkfleet.core.project import Project


def host_pattern(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def _lines(project: Project) -> list[str]:
    path = project.known_hosts
    return path.read_text().splitlines() if path.exists() else []


def pin(project: Project, address: str, port: int, key: str, label: str) -> None:
    """Record `key` ("ssh-ed25519 AAAA...") for the host, replacing what was pinned for it before."""
    pattern = host_pattern(address, port)
    kept = [line for line in _lines(project) if line.split(" ", 1)[0] != pattern]
    kept.append(f"{pattern} {key} {label}")
    write_atomically(project.known_hosts, "\n".join(kept) + "\n", mode=0o600)


def unpin(project: Project, address: str, port: int) -> None:
    pattern = host_pattern(address, port)
    lines = _lines(project)
    kept = [line for line in lines if line.split(" ", 1)[0] != pattern]
    if kept != lines:
        write_atomically(project.known_hosts, "".join(f"{line}\n" for line in kept), mode=0o600)


def pinned(project: Project, address: str, port: int) -> str | None:
    pattern = host_pattern(address, port)
    for line in _lines(project):
        fields = line.split()
        if len(fields) >= 3 and fields[0] == pattern:
            return f"{fields[1]} {fields[2]}"
    return None


def scan(address: str, port: int, timeout: int = 10) -> str:
    """The ed25519 host key the host offers now ("ssh-ed25519 AAAA...")."""
    proc = subprocess.run(["ssh-keyscan", "-T", str(timeout), "-t", "ed25519", "-p", str(port), address],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and not line.startswith("#"):
            return f"{fields[1]} {fields[2]}"
    raise HostUnreachable(f"{address}:{port} offered no ed25519 ssh host key.",
                          hint="Check that the host is up and sshd runs there.")


def fingerprint(key: str) -> str:
    proc = subprocess.run(["ssh-keygen", "-lf", "-"], input=key + "\n", capture_output=True, text=True, check=True)
    return proc.stdout.split()[1]
