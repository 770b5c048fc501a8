"""Renders events and results: readable progress for people, newline-delimited JSON for agents.

In JSON mode stdout carries only JSON lines (events, then exactly one summary object);
in human mode progress goes to stderr and the final result to stdout, so both can be piped.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

import click

from sparkfleet.core.errors import ExitCode, SparkfleetError

if TYPE_CHECKING:
    from sparkfleet.core.events import Event

# The event types and the JSON schema version are imported when first needed, so that `--help` stays fast.

_STATUS_COLORS = {"ok": "green", "changed": "yellow", "failed": "red", "unreachable": "magenta",
                  "ignored": "cyan", "skipped": "bright_black"}


def _schema_version() -> int:
    from sparkfleet.core.events import SCHEMA_VERSION

    return SCHEMA_VERSION


def format_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[("-" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


class Output:
    def __init__(self, json_mode: bool, command: str, out: TextIO | None = None, err: TextIO | None = None):
        self.json_mode = json_mode
        self.command = command
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.finished = False

    # events -------------------------------------------------------------------------------------------
    def event(self, event: Event) -> None:
        if self.json_mode:
            self._json_line(event.to_dict())
        else:
            self._human_event(event)

    def _human_event(self, event: Event) -> None:
        from sparkfleet.core.events import HostResult, PlayStarted, Progress, RunFinished, RunStarted, TaskStarted

        def say(text: str) -> None:
            click.echo(text, file=self.err)

        if isinstance(event, Progress):
            say(f"- {event.message}")
        elif isinstance(event, RunStarted):
            mode = " (check mode: nothing is changed)" if event.check else ""
            say(click.style(f"Running {event.playbook}{mode}", bold=True) + f"  [run {event.run_id}]")
        elif isinstance(event, PlayStarted):
            say(click.style(f"PLAY {event.play}", bold=True))
        elif isinstance(event, TaskStarted):
            say(f"  {event.task}")
        elif isinstance(event, HostResult):
            label = click.style(f"{event.status:<11}", fg=_STATUS_COLORS.get(event.status))
            detail = f": {event.message}" if event.message else ""
            say(f"    {label} {event.host}{detail}")
        elif isinstance(event, RunFinished):
            say(f"Finished in {event.duration_s:.1f} s ({event.status})")

    # the end of a command -----------------------------------------------------------------------------
    def success(self, result: dict, human: str | None = None, exit_code: ExitCode = ExitCode.OK) -> None:
        """The one final object. A command whose hosts failed is still 'finished', with ok false."""
        self.finished = True
        ok = exit_code == ExitCode.OK
        if self.json_mode:
            self._json_line({"v": _schema_version(), "type": "summary", "command": self.command, "ok": ok,
                             "exit_code": int(exit_code), "result": result, "error": None})
        elif human:
            click.echo(human, file=self.out)

    def failure(self, error: SparkfleetError) -> None:
        self.finished = True
        if self.json_mode:
            self._json_line({"v": _schema_version(), "type": "summary", "command": self.command, "ok": False,
                             "exit_code": int(error.exit_code), "result": None, "error": error.to_dict()})
        else:
            click.echo(click.style("Error: ", fg="red", bold=True) + error.message, file=self.err)
            if error.hint:
                click.echo(f"Fix: {error.hint}", file=self.err)

    def _json_line(self, obj: dict) -> None:
        self.out.write(json.dumps(obj, default=str) + "\n")
        self.out.flush()


def run_summary_text(result: dict) -> str:
    """The per-host table people see after a playbook run."""
    rows = []
    for name, stats in sorted(result["hosts"].items()):
        rows.append([name, stats["status"], stats["ok"], stats["changed"], stats["failed"],
                     stats["unreachable"], stats["skipped"]])
    headers = ["HOST", "STATUS", "OK", "CHANGED", "FAILED", "UNREACHABLE", "SKIPPED"]
    lines = [format_table(headers, rows) if rows else "No host ran a task."]
    for failure in result["failures"]:
        lines.append(f"{failure['host']}: {failure['status']} at '{failure['task']}': {failure['message']}")
        if failure.get("hint"):
            lines.append(f"  Fix: {failure['hint']}")
    if result.get("error"):
        lines.append(f"Run error: {result['error']}")
    lines.append(f"Artifacts: {result['artifacts_dir']}")
    return "\n".join(lines)


def doctor_text(data: dict) -> str:
    """Per host: one line of facts, then each check that needs attention with its fix."""
    lines = []
    for host, report in sorted(data["hosts"].items()):
        facts = report["facts"]
        gpus = (facts.get("gpu") or {}).get("gpus") or []
        gpu = ", ".join(g["name"] for g in gpus) or "no GPU"
        if gpus:
            gpu += f" (driver {facts['gpu'].get('driver_version')}, CUDA {facts['gpu'].get('cuda_version')})"
        memory, disk, os_info = facts["memory"], facts["disk"], facts["os"]
        lines.append(click.style(host, bold=True) + f"  {facts['arch']}  {os_info['distribution']} {os_info['version']}"
                     f"  {gpu}  memory {memory['available_gib']}/{memory['total_gib']} GiB available"
                     f"  disk {disk['free_gib']} GiB free at {disk['measured_at']}")
        attention = [c for c in report["checks"] if c["severity"] != "ok"]
        for check in attention:
            color = "red" if check["severity"] == "error" else "yellow"
            label = click.style(f"{check['severity'].upper():<8}", fg=color)
            lines.append(f"  {label} {check['id']}: {check['message']}")
            if check.get("hint"):
                lines.append(f"           Fix: {check['hint']}")
        lines.append(f"  {len(report['checks']) - len(attention)} checks ok")
    run = data["run"]
    if run["failures"] or run.get("error"):
        lines.append(run_summary_text(run))
    lines.append(f"{data['errors']} error(s), {data['warnings']} warning(s)")
    return "\n".join(lines)


def verify_text(results: dict) -> str:
    """Per host: the verdict, then each failed or noteworthy check with its fix and journal lines."""
    lines = []
    for host, result in sorted(results.items()):
        checks = result.get("checks", [])
        passed = sum(1 for c in checks if c["ok"])
        verdict = click.style("PASSED" if result.get("ok") else "FAILED", fg="green" if result.get("ok") else "red",
                              bold=True)
        lines.append(f"{click.style(host, bold=True)}  {verdict}  {passed}/{len(checks)} checks ok")
        for check in checks:
            if check["ok"] and check["severity"] != "warning":
                continue
            label = "ok" if check["ok"] else check["severity"].upper()
            lines.append(f"  {label:<8} {check['id']}: {check['message']}")
            if check.get("hint"):
                lines.append(f"           Fix: {check['hint']}")
            lines += [f"           | {line}" for line in check.get("journal", [])[-8:]]
    return "\n".join(lines)


def _num(value: object, digits: int) -> str | None:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ms(scenario: dict, metric: str, stat: str) -> str | None:
    return _num((scenario.get(f"{metric}_ms") or {}).get(stat), 1)


def bench_text(results: list[dict]) -> str:
    """Every scenario of every result as one table (latencies in ms), then the results' warnings."""
    if not results:
        return "No bench results."
    hosts = [r.get("host") for r in results]
    several = len(hosts) != len(set(hosts))  # a host with two results: tell them apart by id
    headers = ["host", *(["result"] if several else []), "scenario", "ok", "req/s", "out tok/s", "TTFT p50",
               "TTFT p99", "TPOT p50", "ITL p50", "E2EL p50"]
    rows = []
    for result in results:
        for sc in result.get("scenarios") or []:
            rows.append([
                result.get("host"), *([result.get("id")] if several else []), sc.get("name"),
                f"{sc.get('completed', 0)}/{sc.get('num_prompts', '?')}",
                _num(sc.get("request_throughput"), 2), _num(sc.get("output_throughput"), 1),
                _ms(sc, "ttft", "median"), _ms(sc, "ttft", "p99"), _ms(sc, "tpot", "median"),
                _ms(sc, "itl", "median"), _ms(sc, "e2el", "median"),
            ])
    lines = [format_table(headers, rows), "(latencies in ms)"]
    for result in results:
        lines += [f"WARNING {result.get('host')} ({result.get('id')}): {w}" for w in result.get("warnings") or []]
    return "\n".join(lines)


def fleet_comparison(project, hosts: list) -> tuple[str, dict]:
    """The hosts compared over their bench rounds (report/comparison.py): text (a table and what it comes to) and
    the same as data for --json."""
    from dataclasses import asdict

    from sparkfleet.core.bench_results import latest_bench, parse_bench_result
    from sparkfleet.report.comparison import HEADERS, compare, comparison_rows

    results = {host: [parse_bench_result(raw) for raw in latest_bench(project, host)] for host in hosts if host}
    lab = [host for host, found in results.items() if found and found[0].profile == "lab"]
    done = compare(results, lab_hosts=lab)
    lines = ["Fleet comparison (each `sparkfleet bench` adds a round):",
             format_table(HEADERS, comparison_rows(done))]
    lines += [f"{scenario.name}: {scenario.verdict}" for scenario in done.scenarios if len(scenario.ranked) > 1]
    return "\n".join([*lines, done.summary]), asdict(done)
