"""Commands that run one playbook over the inventory: ping, bootstrap, doctor; and the model catalog."""

from __future__ import annotations

import os
import sys

import click

from sparkfleet.cli.base import Settings, cli, command
from sparkfleet.cli.output import Output, format_table, run_summary_text
from sparkfleet.core.errors import ExitCode, UsageError


# runs ---------------------------------------------------------------------------------------------------
def run(settings: Settings, out: Output, playbook: str, limit: str | None, **options):
    """Run a playbook over the inventory (refusing an empty one); options go to run_playbook."""
    from sparkfleet.core.failure_hints import annotate
    from sparkfleet.core.inventory import Inventory
    from sparkfleet.core.runner import run_playbook

    project = settings.project()
    if not Inventory.load(project.inventory_file).hosts():
        raise UsageError("The inventory has no hosts.",
                         hint="Add one with `sparkfleet host add NAME --address IP --user USER`, "
                         "or start local stand-ins with `sparkfleet lab up`.")
    result = run_playbook(project, playbook, emit=out.event, limit=limit, **options)
    annotate(result.failures, password_given=bool((options.get("passwords") or {}).get("ssh")))
    return result


def run_plan(settings: Settings, out: Output, playbook: str, limit: str | None, **options) -> int:
    """Run a playbook and report per host."""
    result = run(settings, out, playbook, limit, **options)
    data = result.to_dict()
    out.success(data, run_summary_text(data), exit_code=result.exit_code)
    return result.exit_code


@command(cli, "ping")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern, e.g. spark1,lab).")
def ping(settings: Settings, out: Output, limit: str | None) -> int:
    """Check that every host answers over ssh and runs Python."""
    return run_plan(settings, out, "ping", limit)


@command(cli, "bootstrap")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--passwordless-sudo", is_flag=True, help="Let the login user sudo without a password.")
@click.option("--disable-password-login", is_flag=True,
              help="Turn ssh password login off, once key login is proven.")
@click.option("--password-env", default="SPARKFLEET_SSH_PASSWORD", show_default=True,
              help="Environment variable with the ssh password. Without it, a terminal prompts for it.")
def bootstrap(settings: Settings, out: Output, limit: str | None, passwordless_sudo: bool,
              disable_password_login: bool, password_env: str) -> int:
    """First contact: pin host keys, authorize the controller key, then optionally go key-only.

    The password is never taken from the command line. It comes from the environment variable named by
    --password-env, or from a prompt on a terminal; hosts that already accept the key need none. The
    sudo password is the same unless SPARKFLEET_BECOME_PASSWORD is set.
    """
    from sparkfleet.core import keys

    keys.ensure_controller_key(settings.project())
    _pin_first_contact(settings, out, limit)
    password = os.environ.get(password_env) or None
    if password is None and sys.stdin.isatty():
        password = click.prompt("ssh password (empty if the hosts accept the key already)", default="",
                                hide_input=True, show_default=False, err=True) or None
    become = os.environ.get("SPARKFLEET_BECOME_PASSWORD") or password
    passwords = {"ssh": password or "", "become": become or ""}
    extravars = {"ssh_access_passwordless_sudo": passwordless_sudo,
                 "ssh_access_disable_password_login": disable_password_login}
    return run_plan(settings, out, "bootstrap", limit, extravars=extravars, passwords=passwords)


def _targets(hosts: list, limit: str | None) -> list:
    """The hosts a --limit names, read simply: host or group names, or shell-style patterns of host names."""
    import fnmatch

    if not limit:
        return hosts
    words = [w.lstrip("&!") for w in limit.replace(":", ",").split(",") if w]
    return [h for h in hosts if any(w == h.name or w in h.groups or fnmatch.fnmatch(h.name, w) for w in words)]


def _pin_first_contact(settings: Settings, out: Output, limit: str | None) -> None:
    """Show each new host's key fingerprint before pinning it; refuse a key other than the one `host add` was given."""
    from sparkfleet.core import known_hosts
    from sparkfleet.core.errors import HostKeyMismatch
    from sparkfleet.core.events import Progress
    from sparkfleet.core.inventory import Inventory

    project = settings.project()
    contacts = known_hosts.first_contact(project, _targets(Inventory.load(project.inventory_file).hosts(), limit))
    for contact in contacts:
        if not contact.matches:
            raise HostKeyMismatch(
                f"{contact.host} ({contact.address}:{contact.port}) offers the host key {contact.fingerprint}, not "
                f"{contact.expected} as given to `host add`: nothing was pinned or changed.",
                hint="Someone may be intercepting the connection, or the fingerprint was copied wrong: compare with "
                "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host's console.")
        how = "the fingerprint given to `host add`" if contact.expected else \
            "compare with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host's console"
        out.event(Progress(f"{contact.host} ({contact.address}:{contact.port}) offers the host key "
                           f"{contact.fingerprint} ({how})"))
    unconfirmed = [c for c in contacts if c.expected is None]
    if unconfirmed and not out.json_mode and sys.stdin.isatty() and not click.confirm(
            f"Pin {'this host key' if len(unconfirmed) == 1 else 'these host keys'}?", default=True, err=True):
        raise UsageError("No host key pinned; nothing changed.",
                         hint="Check the fingerprints on the hosts, or give them: sparkfleet host add NAME ... "
                         "--host-key-fingerprint SHA256:...")
    for contact in contacts:
        known_hosts.pin_first_contact(project, contact)


@command(cli, "doctor")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
def doctor(settings: Settings, out: Output, limit: str | None) -> int:
    """Facts and checks for every host: GPU, driver, CUDA, memory, disk, container engine. Changes nothing.

    Exits 0 when there are at most warnings, 3 when a check found an error.
    """
    from sparkfleet.cli.output import doctor_text
    from sparkfleet.core.inventory import Inventory
    from sparkfleet.lab.controller_needs import lab_hosts, require_lab_extra

    require_lab_extra(lab_hosts(Inventory.load(settings.project().inventory_file).hosts(), limit))
    result = run(settings, out, "doctor", limit, check=True)
    reports = result.data.get("sparkfleet_preflight") or {}
    severities = [c["severity"] for report in reports.values() for c in report.get("checks", [])]
    code = result.exit_code
    if code == ExitCode.OK and "error" in severities:
        code = ExitCode.HOST_FAILED
    data = {"hosts": reports, "errors": severities.count("error"), "warnings": severities.count("warning"),
            "run": result.to_dict()}
    out.success(data, doctor_text(data), exit_code=code)
    return code


@command(cli, "models", lock=None)
def models(settings: Settings, out: Output) -> int:
    """List the models sparkfleet can serve (the catalog), with what each needs."""
    from sparkfleet.core import catalog

    entries = catalog.load()
    rows = [[name, e["precision"], e["weights_gib"], e["memory_gib"], e["max_model_len"], e["repo"] or e["source"]]
            for name, e in sorted(entries.items())]
    out.success({"models": entries},
                format_table(["NAME", "PRECISION", "DISK GIB", "MEMORY GIB", "MAX LEN", "SOURCE"], rows))
    return ExitCode.OK


