"""Commands that make and edit the project: init, host add/list/remove/trust."""

from __future__ import annotations

from pathlib import Path

import click

from sparkfleet.cli.base import Settings, cli, command
from sparkfleet.cli.output import Output, format_table
from sparkfleet.core.errors import ExitCode, UsageError


# project ------------------------------------------------------------------------------------------------
@command(cli, "init", lock=None)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def init_cmd(settings: Settings, out: Output, directory: Path | None) -> int:
    """Create a project folder (default: the current one). Re-running it changes nothing."""
    from sparkfleet.core.project import init_project

    project, created, kept = init_project(directory or settings.project_dir or Path.cwd())
    lines = [f"Project: {project.root}"]
    lines += [f"  created  {path}" for path in created] or ["  nothing to create: every file already exists"]
    if created:
        lines.append(f"Next: cd {project.root} && sparkfleet host add spark1 --address IP --user USER")
    out.success({"project": str(project.root), "created": created, "kept": kept, "changed": bool(created)},
                "\n".join(lines))
    return ExitCode.OK


# inventory ----------------------------------------------------------------------------------------------
@cli.group("host")
def host_group() -> None:
    """Add, list and remove the hosts in the project's inventory."""


@command(host_group, "add")
@click.argument("name")
@click.option("--address", required=True, help="IP address or DNS name of the host.")
@click.option("--user", required=True, help="Login user on the host.")
@click.option("--port", default=22, show_default=True, type=int, help="ssh port.")
@click.option("--group", "group_name", default="sparks", show_default=True, help="Inventory group.")
def host_add(settings: Settings, out: Output, name: str, address: str, user: str, port: int,
             group_name: str) -> int:
    """Add a host to the inventory."""
    from sparkfleet.core import inventory

    host = inventory.Host(name, address, user, port)
    with inventory.editing(settings.project()) as inv:
        inv.add(host, group_name)
    host.groups = [group_name]
    out.success({"host": host.to_dict()}, f"Added {name} ({user}@{address}:{port}) to group {group_name}.")
    return ExitCode.OK


@command(host_group, "list", lock=None)
def host_list(settings: Settings, out: Output) -> int:
    """List the hosts in the inventory."""
    from sparkfleet.core.inventory import Inventory

    hosts = Inventory.load(settings.project().inventory_file).hosts()
    rows = [[h.name, h.address, h.port, h.user, ",".join(h.groups)] for h in hosts]
    text = format_table(["NAME", "ADDRESS", "PORT", "USER", "GROUPS"], rows) if hosts else "No hosts yet."
    out.success({"hosts": [h.to_dict() for h in hosts]}, text)
    return ExitCode.OK


@command(host_group, "remove")
@click.argument("name")
def host_remove(settings: Settings, out: Output, name: str) -> int:
    """Remove a host from the inventory (and forget its pinned host key)."""
    from sparkfleet.core import inventory, known_hosts

    project = settings.project()
    with inventory.editing(project) as inv:
        host = inv.remove(name)
    known_hosts.unpin(project, host.address, host.port)
    out.success({"host": host.to_dict()}, f"Removed {name}.")
    return ExitCode.OK


@command(host_group, "trust")
@click.argument("name")
def host_trust(settings: Settings, out: Output, name: str) -> int:
    """Accept the host key a host offers now (after a reinstall), replacing the pinned one."""
    from sparkfleet.core import known_hosts
    from sparkfleet.core.inventory import Inventory

    project = settings.project()
    host = Inventory.load(project.inventory_file).get(name)
    if host is None:
        raise UsageError(f"No host named {name!r} in the inventory.", hint="See the hosts with: sparkfleet host list")
    old = known_hosts.pinned(project, host.address, host.port)
    new = known_hosts.scan(host.address, host.port)
    known_hosts.pin(project, host.address, host.port, new, f"sparkfleet-trusted:{name}")
    result = {"host": name, "previous": known_hosts.fingerprint(old) if old else None,
              "pinned": known_hosts.fingerprint(new), "changed": old != new}
    out.success(result, f"{name}: pinned {result['pinned']} (was {result['previous'] or 'nothing'}).")
    return ExitCode.OK


