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
@click.option("--profile", default="spark", show_default=True,
              help="What the host is: `spark` (a DGX Spark: the roles' defaults) or another profile of the project "
              "(`lab`: a local stand-in, CPU vLLM and a tiny model). `sparkfleet describe` lists them.")
@click.option("--group", "group_name", help="Inventory group [default: sparks; the profile's group for another "
              "profile]. With a profile other than spark the host joins both.")
@click.option("--url-address", help="The address clients use for the host's services, when it differs from "
              "--address (a DNS name, or the near end of a tunnel). Used in every URL sparkfleet prints.")
@click.option("--port-map", "port_maps", multiple=True, metavar="PORT:REACHED",
              help="A service port on the host and the port that reaches it from here, behind a port mapping or "
              "tunnel (e.g. 8080:18080). Repeatable.")
@click.option("--allow-same-address", is_flag=True, help="Accept an address and port another host already has.")
@click.option("--host-key", help="The host's ed25519 public key (\"ssh-ed25519 AAAA...\"), pinned now.")
@click.option("--host-key-fingerprint", help="The host key's SHA256 fingerprint; bootstrap refuses any other key.")
def host_add(settings: Settings, out: Output, name: str, address: str, user: str, port: int, profile: str,
             group_name: str | None, url_address: str | None, port_maps: tuple[str, ...], allow_same_address: bool,
             host_key: str | None, host_key_fingerprint: str | None) -> int:
    """Add a host to the inventory, optionally with its known host key (from its console, not the network)."""
    from sparkfleet.core import inventory, known_hosts, profiles

    if host_key and host_key_fingerprint:
        raise UsageError("Give --host-key or --host-key-fingerprint, not both.",
                         hint="The key itself is enough: its fingerprint is computed from it.")
    project = settings.project()
    profile_group = profiles.group_for(project, profile)
    group = group_name or profile_group or inventory.DEFAULT_GROUP
    extra = {}
    if url_address:
        inventory.validate_address(url_address)
        extra["sparkfleet_url_address"] = url_address
    if port_maps:
        extra["sparkfleet_published_ports"] = inventory.parse_port_maps(port_maps)
    if host_key_fingerprint:
        extra[known_hosts.FINGERPRINT_VAR] = known_hosts.check_fingerprint(host_key_fingerprint)
    key = known_hosts.check_key(host_key) if host_key else None
    host = inventory.Host(name, address, user, port, extra=extra)
    also = (profile_group,) if profile_group else ()
    with inventory.editing(project) as inv:
        inv.add(host, group, also=also, allow_same_address=allow_same_address)
        if key is not None:  # inside the edit: a refused host pins nothing
            known_hosts.pin(project, address, port, key, f"sparkfleet-given:{name}")
    host.groups = list(dict.fromkeys((group, *also)))
    data = {"host": {**host.to_dict(), "profile": profile}}
    reached = f"; services reached at {url_address or address}" if url_address or port_maps else ""
    text = f"Added {name} ({user}@{address}:{port}) to {', '.join(host.groups)}, profile {profile}{reached}."
    if key is not None:
        data["pinned"] = known_hosts.fingerprint(key)
        text += f" Pinned its host key {data['pinned']}."
    elif host_key_fingerprint:
        text += f" Bootstrap will accept only the host key {host_key_fingerprint}."
    out.success(data, text)
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


