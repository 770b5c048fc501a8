"""Commands made of phases (runs.plans): up, verify, bench; the notes and the report they leave."""

from __future__ import annotations

import click

from sparkfleet.cli.base import Settings, cli, command
from sparkfleet.cli.output import Output, bench_text, fleet_comparison, format_table, run_summary_text
from sparkfleet.cli.run_commands import run
from sparkfleet.core.errors import ExitCode, UsageError


def _hosts(settings: Settings) -> list:
    """The inventory's hosts; an empty inventory is refused before anything runs."""
    from sparkfleet.core.inventory import Inventory

    hosts = Inventory.load(settings.project().inventory_file).hosts()
    if not hosts:
        raise UsageError("The inventory has no hosts.",
                         hint="Add one with `sparkfleet host add NAME --address IP --user USER`, "
                         "or start local stand-ins with `sparkfleet lab up`.")
    return hosts


def _plan(settings: Settings, out: Output, command: str, phases: list[str], limit: str | None,
          extravars: dict | None = None, model: str | None = None) -> dict:
    """Run a plan (plans.execute) over a non-empty inventory; returns the run's record."""
    from sparkfleet.report.build import build_report
    from sparkfleet.runs import plans

    project = settings.project()
    hosts = _hosts(settings)
    return plans.execute(project, out.event, command, phases, limit, extravars or {},
                         [h.name for h in hosts], model, build_report=build_report)


def _plan_result(settings: Settings, record: dict) -> dict:
    """The summary agents get for a plan: the record's essentials (docs/json-output.md), without phase data."""
    from sparkfleet.runs import host_notes as notes
    from sparkfleet.runs import plans

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
        local = " (on the host only)" if urls.get("api_local") is True else ""
        lines.append(f"{host}: dashboard {urls.get('dashboard')}  API {urls.get('api')}{local}")
    if result.get("report"):
        lines.append(f"Report: {result['report']}")
    lines.append(f"{record['command']} {'finished' if record['ok'] else 'stopped'} in {record['duration_s']:.1f} s "
                 f"({'changes made' if result['changed'] else 'no change to the hosts'}).")
    return "\n".join(lines)


@command(cli, "verify")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
def verify(settings: Settings, out: Output, limit: str | None) -> int:
    """Check every host end to end: services, ports, health, model files, a real video through the endpoint,
    the dashboard, password login and secrets. Changes nothing; exits 3 when a check fails."""
    from sparkfleet.cli.output import verify_text
    from sparkfleet.core import records

    record = _plan(settings, out, "verify", records.COMMAND_PHASES["verify"][:-1], limit)
    result = _plan_result(settings, record)
    result["verify"] = record["phases"][0]["data"]
    out.success(result, _plan_text(record, result, verify_text(result["verify"])),
                exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]


@command(cli, "bench")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--if-missing", is_flag=True, help="Skip hosts that already have a result for what they serve.")
@click.option("--fleet-mode", type=click.Choice(["parallel", "serial"]), default="parallel", show_default=True,
              help="All hosts at once, or one at a time (fair when hosts share a machine, switch or power).")
def bench(settings: Settings, out: Output, limit: str | None, if_missing: bool, fleet_mode: str) -> int:
    """Benchmark vLLM on every host (`vllm bench serve`, text and video traffic, several concurrencies), fetch
    the results (JSON) to the controller, and compare the hosts (each `bench` adds a round to the comparison)."""
    from sparkfleet.core import records
    from sparkfleet.core.bench_results import load_bench

    record = _plan(settings, out, "bench", records.COMMAND_PHASES["bench"][:-1], limit,
                   {"bench_when": "missing" if if_missing else "always", "bench_fleet_mode": fleet_mode})
    result = _plan_result(settings, record)
    result["bench"] = record["phases"][0]["data"]
    project = settings.project()
    loaded = [load_bench(project.root / entry["file"]) for entry in result["bench"].values()
              if entry.get("file")]
    details = [bench_text(loaded)] if loaded else []
    if len(loaded) > 1:
        text, result["comparison"] = fleet_comparison(project, [r.get("host") for r in loaded])
        details.append(text)
    details += [f"{host}: skipped: {entry['skipped']}" for host, entry in sorted(result["bench"].items())
                if entry.get("skipped")]
    out.success(result, _plan_text(record, result, "\n".join(details)), exit_code=ExitCode(record["exit_code"]))
    return record["exit_code"]


@cli.group("notes")
def notes_group() -> None:
    """Each host's memory notes: `notes show [HOST]` prints them, `notes add HOST TEXT` adds one."""


@command(notes_group, "show", lock=None)
@click.argument("host", required=False)
def notes_show(settings: Settings, out: Output, host: str | None) -> int:
    """Print the notes the last run gathered (all hosts, or one); --json gives the state files."""
    from sparkfleet.runs import host_notes as notes

    states = notes.gathered(settings.project(), host)
    out.success({"hosts": {name: item["state"] for name, item in states.items()}},
                "\n\n".join(item["markdown"] or f"{name}: no NOTES.md gathered yet" for name, item in states.items()))
    return ExitCode.OK


@command(notes_group, "add")
@click.argument("host")
@click.argument("text")
def notes_add(settings: Settings, out: Output, host: str, text: str) -> int:
    """Append a note to HOST's notes (written on the host now, kept by every later run)."""
    from sparkfleet.runs import host_notes as notes

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
    from sparkfleet.report.build import build_report

    project = settings.project()
    path = build_report(project.root, record_id)
    out.success({"report": str(path)}, f"Report: {path}")
    return ExitCode.OK


