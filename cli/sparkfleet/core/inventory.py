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
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")  # `first.last` is a valid login on Debian and Ubuntu
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
    if name in RESERVED_GROUPS:  # `--limit all` would then mean the whole fleet, not this host
        raise InventoryError(
            f"Invalid host name {name!r}: Ansible reads it as a pattern ('all' is every host, 'ungrouped' a group).",
            hint="Pick another name (e.g. spark1).",
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
            hint="Use the login name on the host: lowercase letters, digits, '.', '-' or '_' (e.g. nvidia).",
        )


def validate_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise InventoryError(f"Invalid port {port}: must be 1-65535.", hint="The ssh port is usually 22.")


def parse_port_maps(specs: tuple[str, ...] | list[str]) -> dict[str, int]:
    """["8080:18080", ...] -> {"8080": 18080}: a service port on the host and the port that reaches it."""
    ports: dict[str, int] = {}
    for spec in specs:
        service, _, reached = spec.partition(":")
        if not (service.isdigit() and reached.isdigit() and 1 <= int(service) <= 65535 and 1 <= int(reached) <= 65535):
            raise InventoryError(f"Invalid port map {spec!r}.",
                                 hint="Give the host's port and the port that reaches it (1-65535), "
                                 "e.g. --port-map 8080:18080.")
        if service in ports:
            raise InventoryError(f"Port {service} is mapped twice.", hint="Give each host port once.")
        ports[str(int(service))] = int(reached)
    return ports


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
        variables: dict[str, dict] = {}  # a host may sit in several groups; its variables in any of them
        groups: dict[str, list[str]] = {}
        for group in self._groups:
            for name, hostvars in self._group_hosts(group).items():
                merged = variables.setdefault(name, {})
                for key, value in (hostvars or {}).items():
                    merged.setdefault(key, value)
                groups.setdefault(name, []).append(group)
        found = []
        for name, hostvars in sorted(variables.items()):
            address = str(hostvars.pop("ansible_host", name))
            user = str(hostvars.pop("ansible_user", ""))
            port = int(hostvars.pop("ansible_port", 22))
            found.append(Host(name, address, user, port, groups=groups[name], extra=hostvars))
        return found

    def get(self, name: str) -> Host | None:
        return next((h for h in self.hosts() if h.name == name), None)

    def add(self, host: Host, group: str, also: tuple[str, ...] = (), allow_same_address: bool = False) -> None:
        """Add host to group (with its variables) and to the groups in also (by name only)."""
        validate_host_name(host.name)
        validate_address(host.address)
        validate_user(host.user)
        validate_port(host.port)
        for name in (group, *also):
            validate_group_name(name)
        if self.get(host.name) is not None:
            raise InventoryError(
                f"A host named {host.name!r} is already in the inventory.",
                hint=f"Pick another name, or remove it first: sparkfleet host remove {host.name}",
                code="inventory.duplicate_host",
            )
        host_names = {h.name for h in self.hosts()}
        clashes = [n for n in (group, *also) if n in host_names]
        if host.name in self._groups or clashes:
            clash = host.name if host.name in self._groups else clashes[0]
            raise InventoryError(
                f"{clash!r} would name both a host and a group: `--limit {clash}` would be ambiguous.",
                hint="Give the host (or the group) another name.", code="inventory.name_clash")
        same = [h.name for h in self.hosts() if (h.address.lower(), h.port) == (host.address.lower(), host.port)]
        if same and not allow_same_address:
            raise InventoryError(
                f"{host.address}:{host.port} is already in the inventory as {', '.join(same)}: two names for one "
                "machine would let two runs change it at once.",
                hint=f"Use {same[0]}, or pass --allow-same-address if they really are different machines "
                "(behind one address).", code="inventory.duplicate_address")
        hostvars = {"ansible_host": host.address, "ansible_user": host.user}
        if host.port != 22:
            hostvars["ansible_port"] = host.port
        hostvars.update(host.extra)
        for name in dict.fromkeys((group, *also)):
            entry = self._groups.setdefault(name, {}) or {}
            self._groups[name] = entry
            if entry.get("hosts") is None:
                entry["hosts"] = {}
            entry["hosts"][host.name] = hostvars if name == group else None

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

