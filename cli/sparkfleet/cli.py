"""The `sparkfleet` command. Commands stay thin: parse, call the core, render.

Heavy imports (ansible-runner, yaml, jinja2) happen inside commands so that `--help` stays fast.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from sparkfleet import __version__
from sparkfleet.errors import Cancelled, ExitCode, SparkfleetError, UsageError
from sparkfleet.output import Output, format_table, run_summary_text


@dataclass
class Settings:
    json: bool = False
    project_dir: Path | None = None

    def project(self):
        from sparkfleet.project import Project

        return Project.find(self.project_dir)


def _set_json(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.ensure_object(Settings).json = True


def _set_project(ctx: click.Context, _param, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).project_dir = value


def common_options(fn):
    """--json and --project work before or after the command name."""
    fn = click.option("--json", "as_json", is_flag=True, expose_value=False, is_eager=True, callback=_set_json,
                      help="Write only newline-delimited JSON to stdout (events, then one summary).")(fn)
    return click.option("--project", type=click.Path(file_okay=False, path_type=Path), expose_value=False,
                        callback=_set_project, envvar="SPARKFLEET_PROJECT",
                        help="The project folder (default: the nearest one above the current folder).")(fn)


def command(group: click.Group, name: str, **kwargs):
    """Register fn as a command that gets (settings, out, **params) and returns an exit code."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(**params):
            ctx = click.get_current_context()
            settings = ctx.ensure_object(Settings)
            out = Output(settings.json, ctx.command_path.partition(" ")[2])
            try:
                return int(fn(settings, out, **params) or 0)
            except SparkfleetError as error:
                out.failure(error)
                return int(error.exit_code)
            except KeyboardInterrupt:
                out.failure(Cancelled("Interrupted; whatever was half-done was cleaned up.", hint=None))
                return int(ExitCode.CANCELLED)

        return group.command(name, **kwargs)(common_options(wrapper))

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(__version__, prog_name="sparkfleet")
def cli() -> None:
    """Provision NVIDIA DGX Spark machines for local AI serving, one Spark or a fleet.

    Every command takes --json for agents: stdout then carries only JSON lines,
    ending with one summary object. Exit codes: 0 ok, 2 usage or config error,
    3 a host failed, 4 a host was unreachable, 5 controller environment problem,
    130 cancelled (see docs/exit-codes.md).
    """


# project ------------------------------------------------------------------------------------------------
@command(cli, "init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def init_cmd(settings: Settings, out: Output, directory: Path | None) -> int:
    """Create a project folder (default: the current one). Re-running it changes nothing."""
    from sparkfleet.project import init_project

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
    from sparkfleet import inventory

    host = inventory.Host(name, address, user, port)
    with inventory.editing(settings.project()) as inv:
        inv.add(host, group_name)
    host.groups = [group_name]
    out.success({"host": host.to_dict()}, f"Added {name} ({user}@{address}:{port}) to group {group_name}.")
    return ExitCode.OK


@command(host_group, "list")
def host_list(settings: Settings, out: Output) -> int:
    """List the hosts in the inventory."""
    from sparkfleet.inventory import Inventory

    hosts = Inventory.load(settings.project().inventory_file).hosts()
    rows = [[h.name, h.address, h.port, h.user, ",".join(h.groups)] for h in hosts]
    text = format_table(["NAME", "ADDRESS", "PORT", "USER", "GROUPS"], rows) if hosts else "No hosts yet."
    out.success({"hosts": [h.to_dict() for h in hosts]}, text)
    return ExitCode.OK


@command(host_group, "remove")
@click.argument("name")
def host_remove(settings: Settings, out: Output, name: str) -> int:
    """Remove a host from the inventory (and forget its pinned host key)."""
    from sparkfleet import inventory, known_hosts

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
    from sparkfleet import known_hosts
    from sparkfleet.inventory import Inventory

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


# runs ---------------------------------------------------------------------------------------------------
def run(settings: Settings, out: Output, playbook: str, limit: str | None, **options):
    """Run a playbook over the inventory (refusing an empty one); options go to run_playbook."""
    from sparkfleet.diagnose import annotate
    from sparkfleet.inventory import Inventory
    from sparkfleet.runner import run_playbook

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
    from sparkfleet import keys

    keys.ensure_controller_key(settings.project())
    password = os.environ.get(password_env) or None
    if password is None and sys.stdin.isatty():
        password = click.prompt("ssh password (empty if the hosts accept the key already)", default="",
                                hide_input=True, show_default=False, err=True) or None
    become = os.environ.get("SPARKFLEET_BECOME_PASSWORD") or password
    passwords = {"ssh": password or "", "become": become or ""}
    extravars = {"ssh_access_passwordless_sudo": passwordless_sudo,
                 "ssh_access_disable_password_login": disable_password_login}
    return run_plan(settings, out, "bootstrap", limit, extravars=extravars, passwords=passwords)


@command(cli, "doctor")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
def doctor(settings: Settings, out: Output, limit: str | None) -> int:
    """Facts and checks for every host: GPU, driver, CUDA, memory, disk, container engine. Changes nothing.

    Exits 0 when there are at most warnings, 3 when a check found an error.
    """
    from sparkfleet.output import doctor_text

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


@command(cli, "models")
def models(settings: Settings, out: Output) -> int:
    """List the models sparkfleet can serve (the catalog), with what each needs."""
    from sparkfleet import catalog

    entries = catalog.load()
    rows = [[name, e["precision"], e["weights_gib"], e["memory_gib"], e["max_model_len"], e["repo"] or e["source"]]
            for name, e in sorted(entries.items())]
    out.success({"models": entries},
                format_table(["NAME", "PRECISION", "DISK GIB", "MEMORY GIB", "MAX LEN", "SOURCE"], rows))
    return ExitCode.OK


def _plan(settings: Settings, out: Output, command: str, phases: list[str], limit: str | None,
          extravars: dict | None = None, model: str | None = None) -> dict:
    """Run a plan (plans.execute) over a non-empty inventory; returns the run's record."""
    from sparkfleet import plans
    from sparkfleet.inventory import Inventory

    project = settings.project()
    hosts = Inventory.load(project.inventory_file).hosts()
    if not hosts:
        raise UsageError("The inventory has no hosts.",
                         hint="Add one with `sparkfleet host add NAME --address IP --user USER`, "
                         "or start local stand-ins with `sparkfleet lab up`.")
    return plans.execute(project, out.event, command, phases, limit, extravars or {},
                         [h.name for h in hosts], model)


def _plan_result(settings: Settings, record: dict) -> dict:
    """The summary agents get for a plan: the record's essentials (docs/json-output.md), without phase data."""
    from sparkfleet import notes, plans

    phases = [{key: value for key, value in phase.items() if key != "data"} for phase in record["phases"]]
    return {"record": record["id"], "phases": phases, "changed": plans.changed(record),
            "warnings": record["warnings"], "error": record["error"], "duration_s": record["duration_s"],
            "report": record.get("report"), "hosts": notes.urls(settings.project())}


def _plan_text(record: dict, result: dict, details: str = "") -> str:
    rows = [[p["phase"], "ok" if p["ok"] else "FAILED", f"{p['duration_s']:.1f}",
             len(p["changes"]), len(p["failures"])] for p in record["phases"]]
    lines = [format_table(["PHASE", "RESULT", "SECONDS", "CHANGES", "FAILURES"], rows)]
    if details:
        lines.append(details)
    for phase in record["phases"]:
        for failure in phase["failures"]:
            lines.append(f"{failure['host']}: {phase['phase']} failed at '{failure['task']}': {failure['message']}")
            if failure.get("hint"):
                lines.append(f"  Fix: {failure['hint']}")
    if record["error"]:
        lines.append(click.style(record["error"], fg="red", bold=True))
    lines += [click.style(f"WARNING: {warning}", fg="yellow", bold=True) for warning in record["warnings"]]
    for host, urls in sorted(result["hosts"].items()):
        lines.append(f"{host}: dashboard {urls.get('dashboard')}  API {urls.get('api')}")
    if result.get("report"):
        lines.append(f"Report: {result['report']}")
    lines.append(f"{record['command']} {'finished' if record['ok'] else 'stopped'} in {record['duration_s']:.1f} s "
                 f"({'changes made' if result['changed'] else 'no change to the hosts'}).")
    return "\n".join(lines)


@command(cli, "up")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--model", help="A model from `sparkfleet models` (default: the profile's). Remembered for later runs.")
def up(settings: Settings, out: Output, limit: str | None, model: str | None) -> int:
    """Everything, phase by phase: doctor, serve (model, vLLM, video endpoint and dashboard under systemd),
    verify, bench, notes and the report.

    Stops at the first phase that fails, with a partial report. A second run changes nothing on the hosts and
    skips the bench when a result for what is served exists.
    """
    from sparkfleet import catalog, plans
    from sparkfleet.project import remember_model

    extravars = {"bench_when": "missing"}
    if model:
        catalog.check(model)
        extravars["sparkfleet_model"] = model
    record = _plan(settings, out, "up", plans.UP_PHASES, limit, extravars, model)
    if model and plans.served(record):  # later runs (verify, bench, notes) then check and measure this model
        remember_model(settings.project(), model)
    result = _plan_result(settings, record)
    out.success(result, _plan_text(record, result), exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]


@command(cli, "verify")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
def verify(settings: Settings, out: Output, limit: str | None) -> int:
    """Check every host end to end: services, ports, health, model files, a real video through the endpoint,
    the dashboard, password login and secrets. Changes nothing; exits 3 when a check fails."""
    from sparkfleet import plans
    from sparkfleet.output import verify_text

    record = _plan(settings, out, "verify", plans.COMMAND_PHASES["verify"][:-1], limit)
    result = _plan_result(settings, record)
    result["verify"] = record["phases"][0]["data"]
    out.success(result, _plan_text(record, result, verify_text(result["verify"])),
                exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]


@command(cli, "bench")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--if-missing", is_flag=True, help="Skip hosts that already have a result for what they serve.")
def bench(settings: Settings, out: Output, limit: str | None, if_missing: bool) -> int:
    """Benchmark vLLM on every host (`vllm bench serve`, text and video traffic, several concurrencies) and
    fetch the results (JSON) to the controller."""
    from sparkfleet import bench_results, plans

    record = _plan(settings, out, "bench", plans.COMMAND_PHASES["bench"][:-1], limit,
                   {"bench_when": "missing" if if_missing else "always"})
    result = _plan_result(settings, record)
    result["bench"] = record["phases"][0]["data"]
    project = settings.project()
    loaded = [bench_results.load(project.root / entry["file"]) for entry in result["bench"].values()
              if entry.get("file")]
    details = [bench_results.text(loaded)] if loaded else []
    details += [f"{host}: skipped: {entry['skipped']}" for host, entry in sorted(result["bench"].items())
                if entry.get("skipped")]
    out.success(result, _plan_text(record, result, "\n".join(details)), exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]


class _NotesGroup(click.Group):
    """`notes [HOST]` shows the notes; `notes add HOST TEXT` adds one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@cli.group("notes", cls=_NotesGroup)
def notes_group() -> None:
    """Each host's memory notes: `notes [HOST]` prints them, `notes add HOST TEXT` adds one."""


@command(notes_group, "show")
@click.argument("host", required=False)
def notes_show(settings: Settings, out: Output, host: str | None) -> int:
    """Print the notes the last run gathered (all hosts, or one); --json gives the state files."""
    from sparkfleet import notes

    states = notes.gathered(settings.project(), host)
    out.success({"hosts": {name: item["state"] for name, item in states.items()}},
                "\n\n".join(item["markdown"] or f"{name}: no NOTES.md gathered yet" for name, item in states.items()))
    return ExitCode.OK


@command(notes_group, "add")
@click.argument("host")
@click.argument("text")
def notes_add(settings: Settings, out: Output, host: str, text: str) -> int:
    """Append a note to HOST's notes (written on the host now, kept by every later run)."""
    from sparkfleet import notes

    text = notes.check_note(settings.project(), host, text)
    result = run(settings, out, "notes", host, extravars={"notes_add": text})
    data = result.to_dict()
    code = result.exit_code
    state = notes.gathered(settings.project(), host).get(host, {}).get("state") if code == ExitCode.OK else None
    out.success({"run": data, "state": state}, f"Added to {host}'s notes." if code == ExitCode.OK
                else run_summary_text(data), exit_code=code)
    return code


@command(cli, "report")
@click.argument("record_id", required=False)
def report(settings: Settings, out: Output, record_id: str | None) -> int:
    """Build the markdown report (with charts) of a run: the newest `up` by default, or RECORD_ID."""
    from sparkfleet.report import build_report

    project = settings.project()
    path = build_report(project.root, record_id)
    out.success({"report": str(path)}, f"Report: {path}")
    return ExitCode.OK


# lab ----------------------------------------------------------------------------------------------------
@cli.group("lab")
def lab_group() -> None:
    """Local stand-in Sparks: real Linux hosts with systemd and sshd, in containers."""


def _say(out: Output):
    from sparkfleet.events import Progress

    return lambda message: out.event(Progress(message=message))


def _lab_table(hosts) -> str:
    rows = [[h.name, h.os, h.state, f"127.0.0.1:{h.ssh_port}" if h.ssh_port else None, h.container]
            for h in hosts]
    return format_table(["NAME", "OS", "STATE", "SSH", "CONTAINER"], rows) if hosts else "No lab hosts."


@command(lab_group, "up")
@click.option("--hosts", "count", default=1, show_default=True, type=int, help="How many lab hosts.")
@click.option("--os", "os_name", default="ubuntu2404", show_default=True,
              type=click.Choice(["ubuntu2404", "debian12"]), help="Ubuntu 24.04 (DGX OS base) or Debian 12.")
@click.option("--fresh", is_flag=True,
              help="Start new hosts like a new Spark: password login and sudo with password, no key, "
              "nothing pinned (for `sparkfleet bootstrap`).")
def lab_up(settings: Settings, out: Output, count: int, os_name: str, fresh: bool) -> int:
    """Start lab hosts lab1..labN and add them to the inventory (group `lab`)."""
    from sparkfleet.lab import hosts as lab

    project = settings.project()
    hosts, created = lab.up(project, count, os_name, _say(out), fresh=fresh)
    result = {"hosts": [h.to_dict() for h in hosts], "created": created, "changed": bool(created)}
    text = _lab_table(hosts)
    if fresh:
        result["password_file"] = str(lab.lab_password_file(project))
        text += (f"\nThe login password of fresh hosts is in {result['password_file']}; next: "
                 f"SPARKFLEET_SSH_PASSWORD=\"$(cat {result['password_file']})\" sparkfleet bootstrap")
    out.success(result, text)
    return ExitCode.OK


@command(lab_group, "status")
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


def main() -> None:
    """Entry point: turns every outcome, even a usage error or a crash, into an exit code (and JSON)."""
    json_mode = "--json" in sys.argv[1:]
    try:
        code = cli.main(prog_name="sparkfleet", standalone_mode=False)
    except click.ClickException as error:
        if json_mode:
            Output(True, "").failure(UsageError(error.format_message(), hint="See `sparkfleet --help`."))
        else:
            error.show()
        code = ExitCode.USAGE
    except (click.Abort, KeyboardInterrupt):
        if json_mode:
            Output(True, "").failure(Cancelled("Interrupted."))
        code = ExitCode.CANCELLED
    except Exception as error:  # a bug: still give agents a parseable end
        if not json_mode:
            raise
        Output(True, "").failure(SparkfleetError(f"Internal error: {error!r}",
                                                 hint="Please report this with the command you ran."))
        code = ExitCode.INTERNAL
    sys.exit(int(code or 0))
