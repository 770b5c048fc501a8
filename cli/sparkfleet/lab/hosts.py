"""Lab hosts: start them, list them, remove them, and keep the project's inventory and known_hosts in step."""

from __future__ import annotations

import hashlib
import io
import json
import platform
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sparkfleet.core import inventory, keys, known_hosts
from sparkfleet.core.atomic import write_atomically
from sparkfleet.core.errors import EnvironmentProblem, UsageError
from sparkfleet.core.project import Project
from sparkfleet.lab.engine import docker, ensure_engine
from sparkfleet.lab.images import LAB_UID, LAB_USER, RECIPES, ensure_image

LAB_GROUP = "lab"
LABEL_PROJECT = "io.sparkfleet.lab.project"
LABEL_OS = "io.sparkfleet.lab.os"
LABEL_ARCH = "io.sparkfleet.lab.arch"
# Ports published on the controller's loopback: ssh and the video endpoint/dashboard. vLLM listens on the host's
# own loopback (its default), which a published port cannot reach: reach it on the host (docker exec).
PUBLISHED_PORTS = (22, 8080)
SSH_READY_TIMEOUT_S = 60
MAX_HOSTS = 16

# The flags LAB.md measured for systemd as PID 1 in a container on these machines (--privileged fails here).
RUN_FLAGS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
    "-e", "container=docker", "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--stop-signal", "SIGRTMIN+3",
    # vLLM's engine and API server talk through /dev/shm; docker's default 64 MiB is too small for it.
    "--shm-size", "2g",
]


@dataclass
class LabHost:
    name: str
    container: str
    os: str
    state: str
    arch: str
    ports: dict[int, int]  # port on the host -> port on the controller's loopback

    @property
    def ssh_port(self) -> int | None:
        return self.ports.get(22)

    def to_dict(self) -> dict:
        return {"name": self.name, "container": self.container, "os": self.os, "arch": self.arch, "state": self.state,
                "address": "127.0.0.1", "ssh_port": self.ssh_port, "ports": self.ports}


def project_key(project: Project) -> str:
    return hashlib.sha256(str(project.root).encode()).hexdigest()[:10]


def network_name(project: Project) -> str:
    return f"sparkfleet-lab-{project_key(project)}"


def container_name(project: Project, host: str) -> str:
    return f"sparkfleet-lab-{project_key(project)}-{host}"


def list_hosts(project: Project) -> list[LabHost]:
    ids = docker("ps", "-aq", "--filter", f"label={LABEL_PROJECT}={project_key(project)}").stdout.split()
    if not ids:
        return []
    details = json.loads(docker("inspect", *[i.decode() for i in ids]).stdout)
    hosts = []
    for item in details:
        ports = {}
        for spec, bindings in (item["NetworkSettings"].get("Ports") or {}).items():
            if bindings:
                ports[int(spec.split("/")[0])] = int(bindings[0]["HostPort"])
        hosts.append(LabHost(
            name=item["Config"]["Hostname"],
            container=item["Name"].lstrip("/"),
            os=item["Config"]["Labels"].get(LABEL_OS, "?"),
            state=item["State"]["Status"],
            arch=item["Config"]["Labels"].get(LABEL_ARCH) or platform.machine(),
            ports=ports,
        ))
    return sorted(hosts, key=lambda h: int(h.name.removeprefix("lab")) if h.name[3:].isdigit() else 0)


def lab_password_file(project: Project) -> Path:
    return project.state_dir / "lab" / "password"


def lab_password(project: Project) -> str:
    """The login password of fresh lab hosts: random, made once per project, readable by the owner only."""
    path = lab_password_file(project)
    if not path.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        write_atomically(path, secrets.token_urlsafe(12) + "\n", mode=0o600)
    return path.read_text().strip()


def up(project: Project, count: int, os_name: str, say: Callable[[str], None],
       fresh: bool = False, machine: str | None = None) -> tuple[list[LabHost], list[str]]:
    """Make lab1..labN exist and run. Returns (all lab hosts, names created now). Idempotent.

    A normal host is ready for sparkfleet: the controller key is authorized, sudo needs no password, and
    its host key is pinned. A fresh host is like a new Spark: the user has only a password (also for sudo),
    password login is on (through a cloud-init style drop-in), and nothing is pinned: `sparkfleet bootstrap`
    takes it from there.

    Hosts are created and proven reachable over ssh before anything is written to the inventory; if any
    step fails, the containers made by this call are removed and the project is left as it was.
    """
    if not 1 <= count <= MAX_HOSTS:
        raise UsageError(f"--hosts must be between 1 and {MAX_HOSTS}, not {count}.",
                         hint="Each lab host takes about 15 MiB idle; vLLM hosts take about 3 GB.")
    if os_name not in RECIPES:
        raise UsageError(f"Unknown lab OS {os_name!r}.", hint=f"Choose one of: {', '.join(RECIPES)}")
    ensure_engine(say)
    existing = {h.name: h for h in list_hosts(project)}
    wanted = [f"lab{i}" for i in range(1, count + 1)]
    machine = machine or platform.machine()
    mismatched = [h.name for h in existing.values() if h.name in wanted and (h.os, h.arch) != (os_name, machine)]
    if mismatched:
        raise UsageError(f"Lab hosts {', '.join(mismatched)} already run another OS or machine than {os_name} "
                         f"({machine}).",
                         hint="Remove them first with `sparkfleet lab down`, or ask for their OS.")
    clashes = [h.name for h in inventory.Inventory.load(project.inventory_file).hosts()
               if h.name in wanted and LAB_GROUP not in h.groups]
    if clashes:
        raise UsageError(f"The inventory already has non-lab hosts named {', '.join(clashes)}.",
                         hint="Lab hosts are named lab1, lab2, ...: rename those hosts (host remove, host add).")
    image = ensure_image(os_name, say, machine)
    keys.ensure_controller_key(project)
    authorized_key = None if fresh else keys.public_key(project)
    password = lab_password(project) if fresh else None
    _ensure_network(project)

    created: list[str] = []
    pending: list[str] = [name for name in wanted if name not in existing]
    host_keys: dict[str, str] = {}
    try:
        for name in wanted:
            if name in existing and existing[name].state != "running":
                say(f"Starting {name}")
                docker("start", existing[name].container)
        for name in pending:
            say(f"Creating {name} ({os_name}{', fresh' if fresh else ''})")
            host_keys[name] = _create_host(project, name, os_name, image, authorized_key, password, machine)
            created.append(name)
        hosts = {h.name: h for h in list_hosts(project)}
        for name in wanted:
            _wait_for_ssh(hosts[name])
    except BaseException:
        for name in created:
            docker("rm", "-f", container_name(project, name), check=False)
        raise

    with inventory.editing(project) as inv:
        for name in wanted:
            host = hosts[name]
            if name in host_keys and not fresh:
                known_hosts.pin(project, "127.0.0.1", host.ssh_port, host_keys[name], f"sparkfleet-lab:{name}")
            current = inv.get(name)
            if current is not None and current.port == host.ssh_port:
                continue
            if current is not None:
                inv.remove(name)
            inv.add(inventory.Host(name, "127.0.0.1", LAB_USER, host.ssh_port,
                                   extra={"sparkfleet_published_ports": {str(k): v for k, v in host.ports.items()}}),
                    LAB_GROUP)
    return [hosts[name] for name in wanted] + [h for n, h in hosts.items() if n not in wanted], created


def down(project: Project, say: Callable[[str], None]) -> list[str]:
    """Remove every lab host of this project, its network, and their inventory and known_hosts entries."""
    from sparkfleet.lab.engine import engine_running

    removed: list[str] = []
    if engine_running():
        for host in list_hosts(project):
            say(f"Removing {host.name}")
            docker("rm", "-f", "-v", host.container)
            removed.append(host.name)
        if docker("network", "inspect", network_name(project), check=False).returncode == 0:
            docker("network", "rm", network_name(project))
    with inventory.editing(project) as inv:
        # the hosts `lab up` made; a host added by hand on the lab profile (`host add --profile lab`) stays
        made = [h for h in inv.hosts() if LAB_GROUP in h.groups
                and (h.name in removed or (h.address == "127.0.0.1" and re.fullmatch(r"lab\d+", h.name)))]
        for host in made:
            inv.remove(host.name)
            known_hosts.unpin(project, host.address, host.port)
            if host.name not in removed:
                removed.append(host.name)
    shutil.rmtree(project.state_dir / "lab", ignore_errors=True)
    return removed


def _ensure_network(project: Project) -> None:
    # A network of the project's own gives lab hosts DNS names for each other, as on a LAN.
    name = network_name(project)
    if docker("network", "inspect", name, check=False).returncode != 0:
        docker("network", "create", "--label", f"{LABEL_PROJECT}={project_key(project)}", name)


def _create_host(project: Project, name: str, os_name: str, image: str, authorized_key: str | None,
                 password: str | None, machine: str) -> str:
    """Create, seed and start one host. Returns its ssh host public key ("ssh-ed25519 AAAA...").

    Either authorized_key (a ready host) or password (a fresh one) is given.
    """
    container = container_name(project, name)
    publish = [arg for port in PUBLISHED_PORTS for arg in ("-p", f"127.0.0.1::{port}")]
    docker("create", "--name", container, "--hostname", name, "--network", network_name(project),
           "--network-alias", name, "--label", f"{LABEL_PROJECT}={project_key(project)}",
           "--label", f"{LABEL_OS}={os_name}", "--label", f"{LABEL_ARCH}={machine}", *publish, *RUN_FLAGS, image,
           "/sbin/init")  # no --platform: docker 20.10 records an imported image as its own machine's
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(key)],
                       check=True, capture_output=True)
        files = {
            "etc/ssh/ssh_host_ed25519_key": (key.read_bytes(), 0o600, 0),
            "etc/ssh/ssh_host_ed25519_key.pub": (key.with_suffix(".pub").read_bytes(), 0o644, 0),
        }
        if authorized_key is not None:
            files |= {
                f"home/{LAB_USER}/.ssh/": (None, 0o700, LAB_UID),
                f"home/{LAB_USER}/.ssh/authorized_keys": ((authorized_key + "\n").encode(), 0o600, LAB_UID),
                f"etc/sudoers.d/90-{LAB_USER}": (f"{LAB_USER} ALL=(ALL) NOPASSWD:ALL\n".encode(), 0o440, 0),
            }
        else:
            # What Ubuntu cloud images ship, and what makes turning password login off non-trivial.
            files["etc/ssh/sshd_config.d/50-cloud-init.conf"] = (b"PasswordAuthentication yes\n", 0o600, 0)
        host_key = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    docker("cp", "-", f"{container}:/", input=_seed_archive(files))
    docker("start", container)
    if password is not None:  # through stdin, so it shows in no process list
        docker("exec", "-i", container, "chpasswd", input=f"{LAB_USER}:{password}\n".encode())
    return host_key


def _seed_archive(files: dict[str, tuple[bytes | None, int, int]]) -> bytes:
    """A tar stream with exact owners and modes, copied into the container before its first boot."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, (data, mode, owner) in files.items():
            info = tarfile.TarInfo(path.rstrip("/"))
            info.mode, info.uid, info.gid, info.mtime = mode, owner, owner, int(time.time())
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _wait_for_ssh(host: LabHost) -> None:
    """Wait until sshd itself answers (the port proxy accepts connections before sshd is up)."""
    deadline = time.monotonic() + SSH_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", host.ssh_port), timeout=2) as conn:
                conn.settimeout(2)
                if conn.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    logs = docker("logs", "--tail", "20", host.container, check=False).stdout.decode(errors="replace")
    raise EnvironmentProblem(f"Lab host {host.name} did not answer on ssh within {SSH_READY_TIMEOUT_S} s.",
                             hint=f"Its console said:\n{logs}")
