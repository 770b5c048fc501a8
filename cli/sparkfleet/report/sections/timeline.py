"""The timeline: each phase with its result, time, changes and Ansible run (and the phases not reached), the run
set beside the previous one of the same command, and what changed, grouped per host and role."""

from __future__ import annotations

from collections import defaultdict

from sparkfleet.core.records import BOOKKEEPING, COMMAND_PHASES, Change, Phase, RunRecord
from sparkfleet.report.inputs import Inputs
from sparkfleet.report.markdown import code, fmt_duration, join_words, plural, table, text
from sparkfleet.report.outcome import Outcome


def timeline(inputs: Inputs, done: Outcome) -> str:
    if inputs.record is None:
        return ""
    phases = inputs.phases()
    previous = {str(p.name): p for p in (inputs.previous.phases if inputs.previous else [])}

    def took_before(name: str) -> str:
        return fmt_duration(previous[name].duration_s) if name in previous else "—"

    rows = []
    for phase in phases:
        name = str(phase.name)
        if phase.skipped:
            result = "skipped"
        elif phase is done.failed_phase or phase.ok is False:
            result = "**FAILED**"
        else:
            result = "ok"
        rows.append([f"**{name}**", result, fmt_duration(phase.duration_s), took_before(name),
                     change_summary(phase.changes), code(phase.run_id) if phase.run_id else "—"])
    expected = list(COMMAND_PHASES.get(inputs.command, ()))
    for name in done.not_reached:
        if any(p.name == name for p in phases):
            continue  # a skipped phase has its own row
        missing = [f"**{name}**", "not reached", "—", took_before(name), "—", "—"]
        # before the first phase that would have run after it (notes runs after a failure too)
        later = [i for i, r in enumerate(rows) if r[0].strip("*") in expected
                 and expected.index(r[0].strip("*")) > expected.index(name)]
        rows.insert(later[0] if later else len(rows), missing)
    headers = ["Phase", "Result", "Took", "Previous run", "Changes", "Ansible run"]
    if inputs.previous is None:  # nothing to set beside it
        headers.pop(3)
        rows = [row[:3] + row[4:] for row in rows]
    out = ["## Timeline", "", table(headers, rows, "llrrll" if inputs.previous else "llrll"), "",
           run_comparison(inputs)]
    detail = change_details(phases)
    if detail:
        out += ["", "What changed:", "", detail]
    return "\n".join(out)


def change_summary(changes: list[Change]) -> str:
    if not changes:
        return "none"
    hosts = sorted({str(c.host) for c in changes})
    per = len(changes) / max(1, len(hosts))
    each = f" ({per:g} per host)" if len(hosts) > 1 and per == int(per) else ""
    return f"{len(changes)} on {join_words(hosts)}{each}"


def _role_and_task(task: str) -> tuple[str, str]:
    role, sep, name = task.partition(" : ")
    return (role.strip(), name.strip()) if sep else ("", role.strip())


def change_details(phases: list[Phase]) -> str:
    """One line per phase and group of hosts that changed the same tasks, the tasks grouped by role."""
    lines = []
    for phase in phases:
        by_host: dict[str, list[str]] = defaultdict(list)
        for change in phase.changes:
            by_host[str(change.host)].append(change.task or "?")
        groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for host, tasks in by_host.items():
            groups[tuple(tasks)].append(host)
        for tasks, hosts in groups.items():
            by_role: dict[str, list[str]] = defaultdict(list)
            for task in tasks:
                role, name = _role_and_task(task)
                by_role[role or "playbook"].append(name)
            parts = []
            for role, names in by_role.items():
                unique = list(dict.fromkeys(names))
                shown = "; ".join(text(n) for n in unique[:3])
                more = f"; and {len(unique) - 3} more" if len(unique) > 3 else ""
                parts.append(f"{code(role)} ({len(names)}): {shown}{more}")
            lines.append(f"- **{phase.name}** on {join_words(sorted(hosts))}: " + " · ".join(parts))
    return "\n".join(lines)


def setup_changes(record: RunRecord | None) -> int:
    """Changes to how the hosts are set up (a bench result or the notes written are not such changes)."""
    return sum(len(p.changes) for p in (record.phases if record else []) if p.name not in BOOKKEEPING)


def run_comparison(inputs: Inputs) -> str:
    record, previous = inputs.record, inputs.previous
    total = setup_changes(record)
    changed = "no change to the hosts' setup (everything was already in place)" if total == 0 else \
        plural(total, "change") + " to the hosts' setup"
    if previous is None:
        return f"This is the first recorded `{inputs.command}` of this project: {changed}."
    now, then = record.duration_s, previous.duration_s
    if now and then:
        ratio = then / now
        if ratio >= 1.1:
            speed = f"{ratio:.1f}x faster than"
        elif ratio <= 1 / 1.1:
            speed = f"{1 / ratio:.1f}x slower than"
        else:
            speed = "about as long as"
        words = (f"This run took {fmt_duration(now)}, {speed} the previous `{inputs.command}` "
                 f"({fmt_duration(then)}), with {changed}")
    else:
        words = f"This run made {changed}"
    words += f"; the previous one made {plural(setup_changes(previous), 'change')}"
    if previous.ok is False:
        failed = next((p.name for p in previous.phases if p.ok is False), None)
        words += f" and failed{f' in {failed}' if failed else ''}"
    return words + "."
