"""Commands for local stand-in Sparks: lab up, status, down."""

from __future__ import annotations

import click

from sparkfleet.cli.base import Settings, cli, command
from sparkfleet.cli.output import Output, format_table
from sparkfleet.core.errors import ExitCode


# lab ----------------------------------------------------------------------------------------------------
@cli.group("lab")
def lab_group() -> None:
    """Local stand-in Sparks: real Linux hosts with systemd and sshd, in containers."""


def _say(out: Output):
    from sparkfleet.core.events import Progress

    return lambda message: out.event(Progress(message=message))


def _lab_table(hosts) -> str:
    rows = [[h.name, h.os, h.state, f"127.0.0.1:{h.ssh_port}" if h.ssh_port else None, h.container]
            for h in hosts]
    return format_table(["NAME", "OS", "STATE", "SSH", "CONTAINER"], rows) if hosts else "No lab hosts."


@command(lab_group, "up")
@click.option("--hosts", "count", default=1, show_default=True, type=int, help="How many lab hosts.")
@click.option("--os", "os_name", default="ubuntu2404", show_default=True,
              type=click.Choice(["ubuntu2404", "debian12"]), help="Ubuntu 24.04 (DGX OS base) or Debian 12.")
@click.option("--arch", "machine", default=None, type=click.Choice(["x86_64", "aarch64"]),
              help="The hosts' machine (default: this one's). aarch64 (a Spark's) runs under qemu-user-static: "
              "several times slower.")
@click.option("--fresh", is_flag=True,
              help="Start new hosts like a new Spark: password login and sudo with password, no key, "
              "nothing pinned (for `sparkfleet bootstrap`).")
def lab_up(settings: Settings, out: Output, count: int, os_name: str, fresh: bool, machine: str | None) -> int:
    """Start lab hosts lab1..labN and add them to the inventory (group `lab`)."""
    from sparkfleet.lab import hosts as lab
    from sparkfleet.lab.controller_needs import require_lab_extra

    project = settings.project()
    require_lab_extra([f"lab{i}" for i in range(1, count + 1)])  # `up` on them will need it: say so now
    hosts, created = lab.up(project, count, os_name, _say(out), fresh=fresh, machine=machine)
    result = {"hosts": [h.to_dict() for h in hosts], "created": created, "changed": bool(created)}
    text = _lab_table(hosts)
    if fresh:
        result["password_file"] = str(lab.lab_password_file(project))
        text += (f"\nThe login password of fresh hosts is in {result['password_file']}; next: "
                 f"SPARKFLEET_SSH_PASSWORD=\"$(cat {result['password_file']})\" sparkfleet bootstrap")
    out.success(result, text)
    return ExitCode.OK


@command(lab_group, "status", lock=None)
def lab_status(settings: Settings, out: Output) -> int:
    """List this project's lab hosts."""
    from sparkfleet.lab import engine
    from sparkfleet.lab import hosts as lab

    hosts = lab.list_hosts(settings.project()) if engine.engine_running() else []
    out.success({"hosts": [h.to_dict() for h in hosts]}, _lab_table(hosts))
    return ExitCode.OK


@command(lab_group, "down")
def lab_down(settings: Settings, out: Output) -> int:
    """Remove this project's lab hosts, their network, inventory entries and pinned keys."""
    from sparkfleet.lab import hosts as lab

    removed = lab.down(settings.project(), _say(out))
    out.success({"removed": removed, "changed": bool(removed)},
                f"Removed {', '.join(removed)}." if removed else "No lab hosts to remove.")
    return ExitCode.OK


