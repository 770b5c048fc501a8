"""The project's known_hosts: the one place host keys are pinned (lab hosts at creation, Sparks on first use)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from sparkfleet.core.atomic import write_atomically
from sparkfleet.core.errors import HostUnreachable, InventoryError
from sparkfleet.core.project import Project

FINGERPRINT_VAR = "sparkfleet_host_key_fingerprint"  # a host's expected key, given to `host add`
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")  # what `ssh-keygen -lf` prints, without padding


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


def check_fingerprint(text: str) -> str:
    if not _FINGERPRINT.match(text):
        raise InventoryError(f"Invalid host key fingerprint {text!r}.",
                             hint="Give it as ssh-keygen prints it on the host: `ssh-keygen -lf "
                             "/etc/ssh/ssh_host_ed25519_key.pub` shows SHA256: and 43 characters.")
    return text


def check_key(text: str) -> str:
    """An ed25519 public key as "ssh-ed25519 AAAA..." (a trailing comment is dropped)."""
    fields = text.split()
    if len(fields) < 2 or fields[0] != "ssh-ed25519":
        raise InventoryError("The host key must be an ed25519 public key (\"ssh-ed25519 AAAA...\").", hint=(
                             "Copy /etc/ssh/ssh_host_ed25519_key.pub from the host (by its console, not the network)."))
    key = f"{fields[0]} {fields[1]}"
    proc = subprocess.run(["ssh-keygen", "-lf", "-"], input=key + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        raise InventoryError("The host key is not a valid ssh public key.",
                             hint="Copy /etc/ssh/ssh_host_ed25519_key.pub from the host exactly.")
    return key


@dataclass
class FirstContact:
    host: str
    address: str
    port: int
    key: str
    fingerprint: str
    expected: str | None  # the fingerprint given to `host add --host-key-fingerprint`, if any

    @property
    def matches(self) -> bool:
        return self.expected is None or self.expected == self.fingerprint


def first_contact(project: Project, hosts: list) -> list[FirstContact]:
    """The key each host without a pinned one offers now, with its fingerprint: shown before anything is pinned.

    hosts: inventory Hosts. Hosts that do not answer are left to the run, which says why.
    """
    found = []
    for host in hosts:
        if pinned(project, host.address, host.port) is not None:
            continue
        try:
            key = scan(host.address, host.port)
        except HostUnreachable:
            continue
        expected = host.extra.get(FINGERPRINT_VAR)
        found.append(FirstContact(host.name, host.address, host.port, key, fingerprint(key),
                                  str(expected) if expected else None))
    return found


def pin_first_contact(project: Project, contact: FirstContact) -> None:
    pin(project, contact.address, contact.port, contact.key, f"sparkfleet-tofu:{contact.host}")
