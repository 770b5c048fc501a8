"""Hosts and groups <-> inventory/hosts.yml. Every change is validated first and written atomically."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sparkfleet.core.atomic import write_atomically
from sparkfleet.core.errors import InventoryError
from sparkfleet.core.project import Project

DEFAULT_GROUP = "sparks"
RESERVED_GROUPS = {"all", "ungrouped"}

_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")  # Ansible group names must be identifiers
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")

HEADER = (
    "# The hosts sparkfleet manages. Change it with `sparkfleet host add|remove` (and `sparkfleet lab up|down`\n"
    "# for the lab group); hand edits of hosts and variables are kept, comments in this file are not.\n"
    "# Put per-host settings that need comments in inventory/host_vars/NAME.yml instead.\n"
)


@dataclass
class Host:
    name: str
    address: str
    user: str
    port: int = 22
    groups: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # any other host variables, kept as they are

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("extra")
        return data


def validate_host_name(name: str) -> None:
    if not _HOST_NAME.match(name):
        raise InventoryError(
            f"Invalid host name {name!r}.",
            hint="Use letters, digits, '.', '-' or '_', starting with a letter or digit (e.g. spark1).",
        )


def validate_group_name(group: str) -> None:
    if group in RESERVED_GROUPS or not _GROUP_NAME.match(group):
        raise InventoryError(
            f"Invalid group name {group!r}.",
            hint="Use letters, digits and '_', starting with a letter or '_' (e.g. sparks, rack_a); "
            "'all' and 'ungrouped' are reserved by Ansible.",
        )


def validate_address(address: str) -> None:
    try:
        ipaddress.ip_address(address)
        return
    except ValueError:
        pass
    labels = address.rstrip(".").split(".")
    looks_numeric = all(label.isdigit() for label in labels)
    if looks_numeric or len(address) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise InventoryError(
            f"Invalid address {address!r}: not an IPv4/IPv6 address or a host name.",
            hint="Give the Spark's IP address (e.g. 192.168.1.42) or a DNS name (e.g. spark1.lan).",
        )


def validate_user(user: str) -> None:
    if not _USER_NAME.match(user):
        raise InventoryError(
            f"Invalid user name {user!r}.",
            hint="Use the login name on the host: lowercase letters, digits, '-' or '_' (e.g. nvidia).",
        )


def validate_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise InventoryError(f"Invalid port {port}: must be 1-65535.", hint="The ssh port is usually 22.")


class Inventory:
    """The parsed hosts.yml. Groups are flat children of `all`; hosts live in one or more of them."""

    def __init__(self, data: dict):
        self.data = data

    @classmethod
    def load(cls, path: Path) -> Inventory:
        import yaml

        try:
            data = yaml.safe_load(path.read_text()) if path.exists() else None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:  # a YAML mistake, or not text at all
            raise InventoryError(
                f"{path} is not valid YAML: {exc}", hint="Fix the file by hand, or restore it from git."
            ) from exc
        data = data or {}
        if not isinstance(data, dict) or not isinstance(data.setdefault("all", {}) or {}, dict):
            raise InventoryError(f"{path} does not have the shape of an inventory (a mapping with 'all').",
                                 hint="See the inventory that `sparkfleet init` writes for the expected shape.")
        data["all"] = data["all"] or {}
        data["all"]["children"] = data["all"].get("children") or {}
        return cls(data)

    def dump(self) -> str:
        import yaml

        return HEADER + yaml.safe_dump(self.data, sort_keys=False, default_flow_style=False, explicit_start=True)

    @property
    def _groups(self) -> dict:
        return self.data["all"]["children"]

    def _group_hosts(self, group: str) -> dict:
        entry = self._groups.get(group) or {}
        return entry.get("hosts") or {}

    def hosts(self) -> list[Host]:
        found: dict[str, Host] = {}
        for group in self._groups:
            for name, hostvars in self._group_hosts(group).items():
                hostvars = dict(hostvars or {})
                host = found.get(name)
                if host is None:
                    address = str(hostvars.pop("ansible_host", name))
                    user = str(hostvars.pop("ansible_user", ""))
                    port = int(hostvars.pop("ansible_port", 22))
                    host = found[name] = Host(name, address, user, port, extra=hostvars)
                host.groups.append(group)
        return sorted(found.values(), key=lambda h: h.name)

    def get(self, name: str) -> Host | None:
        return next((h for h in self.hosts() if h.name == name), None)

    def add(self, host: Host, group: str) -> None:
        validate_host_name(host.name)
        validate_address(host.address)
        validate_user(host.user)
        validate_port(host.port)
        validate_group_name(group)
        if self.get(host.name) is not None:
            raise InventoryError(
                f"A host named {host.name!r} is already in the inventory.",
                hint=f"Pick another name, or remove it first: sparkfleet host remove {host.name}",
                code="inventory.duplicate_host",
            )
        hostvars = {"ansible_host": host.address, "ansible_user": host.user}
        if host.port != 22:
            hostvars["ansible_port"] = host.port
        hostvars.update(host.extra)
        entry = self._groups.setdefault(group, {}) or {}
        self._groups[group] = entry
        entry.setdefault("hosts", {})
        if entry["hosts"] is None:
            entry["hosts"] = {}
        entry["hosts"][host.name] = hostvars

    def remove(self, name: str) -> Host:
        host = self.get(name)
        if host is None:
            raise InventoryError(f"No host named {name!r} in the inventory.",
                                 hint="See the hosts with: sparkfleet host list", code="inventory.unknown_host")
        for group in host.groups:
            entry = self._groups[group]
            del entry["hosts"][name]
            if not entry["hosts"] and set(entry) == {"hosts"} and group != DEFAULT_GROUP:
                del self._groups[group]  # an emptied group would only clutter the file
        return host


@contextlib.contextmanager
def editing(project: Project) -> Iterator[Inventory]:
    """Load, let the caller change, then write atomically, under a lock so parallel edits don't clash.

    If the caller raises, the file on disk is left exactly as it was.
    """
    project.state_dir.mkdir(exist_ok=True)
    with open(project.inventory_lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        inventory = Inventory.load(project.inventory_file)
        yield inventory
        write_atomically(project.inventory_file, inventory.dump())

