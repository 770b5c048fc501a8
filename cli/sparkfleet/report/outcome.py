"""What a run came to, derived once from the inputs: used by the verdict, the timeline, the problems and the next
steps alike, so they never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from sparkfleet.core.records import COMMAND_PHASES, Check, Phase
from sparkfleet.report.inputs import Inputs


@dataclass(frozen=True)
class Outcome:
    ok: bool | None  # None: no run recorded
    failed_phase: Phase | None
    reached: list[Phase]
    not_reached: list[str]  # in the order they would have run
    skipped: list[Phase]
    error: str | None
    failed_hosts: list[str]


def outcome(inputs: Inputs) -> Outcome:
    record = inputs.record
    if record is None:
        return Outcome(None, None, [], [], [], None, [])
    phases = record.phases
    failed = next((p for p in phases if p.ok is False and not p.skipped), None)
    ok = record.ok if record.ok is not None else failed is None
    seen = [p.name for p in phases]
    not_reached = [name for name in COMMAND_PHASES.get(inputs.command, ())
                   if name not in seen or any(p.name == name and p.skipped for p in phases)]
    error = None
    hosts: list[str] = []
    if failed is not None:
        hosts = sorted({f.host for f in failed.failures if f.host})
        first_message = failed.failures[0].message if failed.failures else None
        error = failed.error or first_message or record.error
    elif not ok:
        error = record.error
    return Outcome(ok, failed, [p for p in phases if not p.skipped], not_reached,
                   [p for p in phases if p.skipped], error, hosts)


def run_warnings(inputs: Inputs) -> list[str]:
    """The run's warnings and those of this run's bench (failed verify checks of severity warning are shown
    under Verify)."""
    warnings = list(inputs.record.warnings) if inputs.record else []
    for host in inputs.hosts:
        bench = inputs.benches[host].current
        if bench is not None and inputs.benches[host].from_this_run:
            warnings += [w if w.startswith(f"{host}:") else f"{host}: {w}" for w in bench.result.warnings]
    return list(dict.fromkeys(warnings))


def verify_warnings(inputs: Inputs) -> list[tuple[str, Check]]:
    """The verify checks that did not pass but only warn, with their host."""
    return [(host, check) for host in inputs.hosts if host in inputs.verify
            for check in inputs.verify[host].checks if check.is_warning]
