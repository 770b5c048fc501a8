"""Problems met: this run's failures with their fixes, the problems recorded on the hosts with how each was
fixed, and the warnings."""

from __future__ import annotations

from sparkfleet.core.host_state import Problem
from sparkfleet.report.inputs import Inputs
from sparkfleet.report.markdown import cell, code, fmt_time, table, text
from sparkfleet.report.outcome import run_warnings


def problems(inputs: Inputs) -> str:
    out = ["## Problems met"]
    failures = _this_run(inputs)
    if failures:
        out += ["", "In this run:", "", *failures]
    rows = [_problem_row(host, problem) for host in inputs.hosts for problem in host_problems(inputs, host)]
    if rows:
        out += ["", "Recorded on the hosts (state files), with how each was fixed:", "",
                table(["When", "Host", "Phase", "Problem", "Status", "Fix"], rows)]
    warnings = run_warnings(inputs)
    if warnings:
        out += ["", "Warnings:", "", *(f"- {text(w)}" for w in warnings)]
    if len(out) == 1:
        out.append("\nNone: no failure in this run, no problem recorded on the hosts, no warning.")
    return "\n".join(out)


def host_problems(inputs: Inputs, host: str) -> list[Problem]:
    """The problems the host's state file records (open ones have no resolved_at)."""
    state = inputs.states.get(host)
    return state.problems if state else []


def _this_run(inputs: Inputs) -> list[str]:
    lines = []
    for phase in inputs.phases():
        for failure in phase.failures:
            line = (f"- **{phase.name}** · {failure.host or '?'} · {code(failure.task or '?')} "
                    f"{failure.status or 'failed'}: {text(failure.message)}")
            if failure.hint:
                line += f"  \n  *Fix:* {text(failure.hint)}"
            lines.append(line)
        if phase.error and not phase.failures:
            lines.append(f"- **{phase.name}**: {text(phase.error)}")
    error = inputs.record.error if inputs.record else None
    if error and not any(text(error) in line for line in lines):
        lines.append(f"- **run**: {text(error)}")
    return lines


def _problem_row(host: str, problem: Problem) -> list[str]:
    if problem.resolved_at:
        status = f"fixed {fmt_time(problem.resolved_at)}"
        if problem.resolved_by:
            status += f" by {code(problem.resolved_by)}"
    else:
        status = "**open**"
    return [fmt_time(problem.at), host, cell(problem.phase), cell(problem.message), status, cell(problem.fix)]
