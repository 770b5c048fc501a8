"""`sparkfleet status`: the fleet at a glance, drift included (one read-only probe per host)."""

from __future__ import annotations

import click

from sparkfleet.cli.base import Settings, cli, command
from sparkfleet.cli.output import Output, format_table


def status_text(status: dict) -> str:
    rows = []
    for name, host in status["hosts"].items():
        if not host.get("reachable") or "error" in host:
            rows.append([name, "no", "-", "-", "-", "-", host.get("error") or "unreachable"])
            continue
        if not host["set_up"]:
            rows.append([name, "yes", "-", "-", "-", "-", "not set up by sparkfleet yet (`sparkfleet up`)"])
            continue
        services = ", ".join(f"{unit.removeprefix('sparkfleet-')} {state}" for unit, state in host["services"].items())
        run = host["last_run"] or {}
        rows.append([name, "yes", services or "-", f"{host['model'] or '-'}@{(host['revision'] or '-')[:10]}",
                     f"vllm {host['versions']['vllm'] or '-'}",
                     f"{run.get('command', '-')} {run.get('at', '')} {'ok' if run.get('ok') else 'failed'}",
                     f"DRIFT ({len(host['drift'])})" if host["drift"] else "in sync"])
    lines = [format_table(["HOST", "REACHABLE", "SERVICES", "MODEL@REVISION", "VERSIONS", "LAST RUN", "STATE"], rows)]
    for name, host in status["hosts"].items():
        for item in host.get("drift") or []:
            lines.append(f"{name}: drift: {item['what']}: expected {item['expected']}, found {item['found']}")
        for problem in host.get("problems") or []:
            lines.append(f"{name}: open problem: {problem}")
        bench = host.get("last_bench")
        if bench and bench.get("best_output_tokens_per_s") is not None:
            lines.append(f"{name}: last bench {bench['id']} at {bench['at']}: "
                         f"{bench['best_output_tokens_per_s']:.1f} output tokens/s at best")
    if status["drift"]:
        lines.append("Drift: the next `sparkfleet up` puts back what sparkfleet deploys (a hand edit is undone).")
    return "\n".join(lines)


@command(cli, "status")
@click.option("--limit", help="Only these hosts or groups (Ansible pattern).")
def status(settings: Settings, out: Output, limit: str | None) -> int:
    """Each host: reachable, services, versions, model, last run and bench, problems, and drift."""
    from sparkfleet.runs.fleet_status import fleet_status

    result, code = fleet_status(settings.project(), out.event, limit)
    out.success(result, status_text(result), exit_code=code)
    return code
