"""Commands rolled out over the fleet in batches (runs.rollout): up, upgrade and down."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from sparkfleet.cli.base import Settings, cli, command
from sparkfleet.cli.output import Output, format_table
from sparkfleet.cli.plan_commands import _plan_result, _plan_text
from sparkfleet.core import records
from sparkfleet.core.errors import ExitCode, UsageError


def batch_options(func: Callable) -> Callable:
    """--batches and --max-fail-percent, shared by every command that rolls out."""
    func = click.option("--max-fail-percent", type=int,
                        help="Halt once more than this percentage of the hosts failed (default 0: at the first "
                        "failed host; project setting sparkfleet_rollout_max_fail_percent).")(func)
    return click.option("--batches",
                        help="Batch sizes, host counts or percentages, e.g. 1,50%,100% (default: a canary of 1 "
                        "then the rest when there are more than 2 hosts; project setting "
                        "sparkfleet_rollout_batches).")(func)


def rolled_out(settings: Settings, out: Output, command_name: str, phases: list[str], limit: str | None,
               batches: str | None, max_fail_percent: int | None, extravars: dict, model: str | None,
               report: bool = True, notes: bool = True, skip: dict[str, str] | None = None,
               hosts: list[str] | None = None) -> dict:
    """Run phases over the hosts in limit batch by batch (runs.rollout); returns the record.

    hosts: the selection when the caller already resolved limit (else it is resolved here).
    """
    from sparkfleet.core.inventory import Inventory
    from sparkfleet.runs import rollout

    project = settings.project()
    if hosts is None:
        Inventory.load(project.inventory_file)  # a broken inventory gets sparkfleet's clear error, not Ansible's
        hosts = rollout.select_hosts(project, limit)
    if not hosts:
        raise UsageError(f"--limit {limit!r} matches no host in the inventory." if limit
                         else "The inventory has no hosts.",
                         hint="See the hosts with `sparkfleet host list`; add one with `sparkfleet host add`, "
                         "or start local stand-ins with `sparkfleet lab up`.")
    configured = rollout.project_settings(project)
    spec = batches or configured.get(rollout.BATCHES_VAR) or rollout.default_batches(len(hosts))
    rollout.parse_batches(str(spec))
    max_fail = rollout.check_max_fail(max_fail_percent if max_fail_percent is not None
                                      else configured.get(rollout.MAX_FAIL_VAR, 0))
    build_report = None
    if report:
        from sparkfleet.report.build import build_report
    return rollout.roll_out(project, out.event, command_name, phases, hosts, str(spec), max_fail, extravars, model,
                            build_report=build_report, notes=notes, skip=skip)


def rollout_text(record: dict) -> str:
    """Each batch's hosts and result, then the hosts done, failed and untouched."""
    rollout = record["rollout"]
    rows = [[batch["number"], ", ".join(batch["hosts"]), "FAILED: " + ", ".join(batch["failed"]) if batch["failed"]
             else "ok", f"{batch['duration_s']:.1f}"] for batch in rollout["batches"]]
    lines = [format_table(["BATCH", "HOSTS", "RESULT", "SECONDS"], rows)]
    for label in ("done", "failed", "untouched"):
        lines.append(f"{label.capitalize()}: {', '.join(rollout[label]) or 'none'}")
    return "\n".join(lines)


def rollout_result(settings: Settings, record: dict) -> dict:
    result = _plan_result(settings, record)
    result["rollout"] = record["rollout"]
    return result


@command(cli, "up")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--model", help="A model from `sparkfleet models` (default: the profile's). Remembered for later runs.")
@click.option("--full", is_flag=True, help="Run every phase even when every host is as the last up left it.")
@batch_options
def up(settings: Settings, out: Output, limit: str | None, model: str | None, full: bool, batches: str | None,
       max_fail_percent: int | None) -> int:
    """Everything, phase by phase: doctor, serve (model, vLLM, video endpoint and dashboard under systemd),
    verify, bench, notes and the report; in batches (a canary first when there are more than 2 hosts), verify
    being the gate before the next batch.

    A failed batch halts the rollout with a partial report naming the hosts done, failed and untouched. A second
    run changes nothing on the hosts: when one probe per host finds every host as the last up left it (no drift,
    same inventory and options), doctor, serve and bench are skipped and only verify and notes run; a hand edit on
    a host runs every phase again.
    """
    return _roll(settings, out, "up", records.UP_PHASES, limit, model, batches, max_fail_percent,
                 {"bench_when": "missing"}, skip_in_sync=not full)


@command(cli, "upgrade")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--model", help="A model from `sparkfleet models` (default: the profile's). Remembered for later runs.")
@click.option("--drain-timeout", type=click.IntRange(0, 86400), default=600, show_default=True,
              help="Seconds a host's jobs in flight get to finish before its services restart (jobs still "
              "running then are resumed by the restarted endpoint).")
@click.option("--rollback", is_flag=True,
              help="Return the hosts where an upgrade did not pass verify to what they served before it.")
@batch_options
def upgrade(settings: Settings, out: Output, limit: str | None, model: str | None, drain_timeout: int,
            rollback: bool, batches: str | None, max_fail_percent: int | None) -> int:
    """Roll a change out batch by batch: a new vLLM version or image, model, flags (edit the inventory first) or
    sparkfleet itself. Each batch is drained (its endpoints take no new jobs and finish the ones in flight), served,
    verified (the health gate), then the next batch starts: at most one batch's endpoints are down at a time.

    On a failure the rollout halts and says which hosts are done, failed and untouched; running the command again
    continues and converges. `--rollback` returns the hosts whose upgrade failed to what they served before it
    (their unit files, settings, venvs or image digest, and models were kept until they passed); then undo the
    change in the inventory, or the next `up` or `upgrade` applies it again.
    """
    if rollback:
        if model:
            raise UsageError("--rollback returns what the hosts served before; it takes no --model.",
                             hint="Run `sparkfleet upgrade --rollback` alone.")
        return _roll(settings, out, "rollback", records.ROLLBACK_PHASES, limit, None, batches, max_fail_percent, {})
    return _roll(settings, out, "upgrade", records.UPGRADE_PHASES, limit, model, batches, max_fail_percent,
                 {"sparkfleet_drain_timeout_s": drain_timeout})


def _key_text(key) -> str:
    return (click.style("The video endpoint's API key (shown only this once; send it as X-API-Key): ", bold=True)
            + f"{key.key}\nIt is kept as {key.where()}.")


def _roll(settings: Settings, out: Output, command_name: str, phases: list[str], limit: str | None,
          model: str | None, batches: str | None, max_fail_percent: int | None, extravars: dict,
          skip_in_sync: bool = False) -> int:
    """up, upgrade and rollback: phases rolled out in batches, the model remembered once served, the summary."""
    from sparkfleet.core import catalog, video_key
    from sparkfleet.core.project import remember_model
    from sparkfleet.lab.controller_needs import lab_hosts, require_lab_extra
    from sparkfleet.runs import plans, rollout

    project = settings.project()
    if model:
        catalog.check(model)
        extravars = {**extravars, "sparkfleet_model": model}
    from sparkfleet.core.inventory import Inventory

    inventory_hosts = Inventory.load(project.inventory_file).hosts()  # a broken inventory: a clear error first
    selected = rollout.select_hosts(project, limit)  # resolved once (an empty one is refused by rolled_out)
    if selected:
        require_lab_extra(lab_hosts(inventory_hosts, limit))
    skip = None
    if skip_in_sync:  # one read-only probe per host; phases with nothing to do are skipped (runs.noop)
        from sparkfleet.runs import noop

        extravars = {**extravars, "sparkfleet_inputs": noop.inputs_digest(project, extravars)}
        if selected:
            skip, _why = noop.phases_to_skip(project, out.event, limit, extravars["sparkfleet_inputs"])
    # Made before any playbook runs, so the first deploy already requires it (hosts with video_endpoint_open: false).
    key = video_key.ensure(project) if command_name in ("up", "upgrade") else None
    try:
        record = rolled_out(settings, out, command_name, phases, limit, batches, max_fail_percent, extravars, model,
                            skip=skip, hosts=selected)
    except BaseException:
        if key is not None and key.created and not out.json_mode:  # interrupted: the key is still shown, once
            click.echo(_key_text(key), err=True)
        raise
    if model and plans.served(record) and not record["rollout"]["failed"]:
        remember_model(project, model)  # later runs (verify, bench, notes) then check this model
    result = rollout_result(settings, record)
    text = _plan_text(record, result, rollout_text(record))
    if key is not None:
        # Agents learn where the key is, never the key; a person sees it once, below everything else.
        result["video_api_key"] = {"created": key.created, "stored_in": key.stored_in, "encrypted": key.encrypted}
        text += "\n" + _key_text(key) if key.created else ""
    out.success(result, text, exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]


@command(cli, "down")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--keep-model", is_flag=True, help="Leave the model's files on the hosts (a later `up` is faster).")
@click.option("--keep-notes", is_flag=True, help="Leave the hosts' state file and NOTES.md on them.")
@click.option("--remove-access", is_flag=True,
              help="Also remove the sshd and sudoers drop-ins `sparkfleet bootstrap` added.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@batch_options
def down(settings: Settings, out: Output, limit: str | None, keep_model: bool, keep_notes: bool, remove_access: bool,
         yes: bool, batches: str | None, max_fail_percent: int | None) -> int:
    """Take sparkfleet off the hosts, in batches: its services and units, venvs, container image, service users
    and folders (and the model unless --keep-model). System packages stay. The controller keeps the hosts' notes,
    with a line saying what was removed; `sparkfleet up` installs everything again.
    """
    from sparkfleet.runs import history, host_notes

    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("`sparkfleet down` removes sparkfleet from the hosts and needs confirmation.",
                             hint="Add --yes to confirm (e.g. from a script or an agent).")
        click.confirm(f"Remove sparkfleet from {limit or 'every host'}?", abort=True, err=True)
    extravars = {"sparkfleet_down_keep_model": keep_model, "sparkfleet_down_keep_notes": keep_notes,
                 "sparkfleet_down_access": remove_access}
    record = rolled_out(settings, out, "down", records.DOWN_PHASES, limit, batches, max_fail_percent, extravars, None,
                        report=False, notes=False)
    kept = [name for name, flag in (("the model", keep_model), ("the host's notes", keep_notes)) if flag]
    for host in record["rollout"]["done"]:
        host_notes.record_down(settings.project(), host, record["id"], history.utc_now(), kept)
    result = rollout_result(settings, record)
    out.success(result, _plan_text(record, result, rollout_text(record)), exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]
