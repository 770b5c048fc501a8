"""Verify: every check per host (pass, warning, FAIL), what did not pass with its hint and journal, and what
passed; or, when this run did not verify, the last verify each host recorded."""

from __future__ import annotations

from sparkfleet.report.inputs import Inputs
from sparkfleet.report.markdown import code, fence, fmt_time, plural, table, text
from sparkfleet.report.outcome import Outcome


def verify(inputs: Inputs, done: Outcome) -> str:
    if not inputs.verify:
        return _not_verified(inputs, done)
    out = ["## Verify", "\n" + "; ".join(_host_summary(inputs, host) for host in inputs.hosts) + ".\n"]
    check_ids = list(dict.fromkeys(c.id for h in inputs.hosts if h in inputs.verify
                                   for c in inputs.verify[h].checks if c.id))
    rows = [[code(cid), *(_mark(inputs, host, cid) for host in inputs.hosts)] for cid in check_ids]
    out.append(table(["Check", *inputs.hosts], rows, "l" + "c" * len(inputs.hosts)))
    details = _did_not_pass(inputs)
    if details:
        out += ["", "### Checks that did not pass", "", *details]
    passed = _what_passed(inputs)
    if passed:
        out += ["", "What passed:", "", *passed]
    return "\n".join(out)


def _not_verified(inputs: Inputs, done: Outcome) -> str:
    lines = []
    for host in inputs.hosts:
        state = inputs.states.get(host)
        last = state.last_verify if state else None
        if last is not None and not inputs.after_run(last.at):
            result = "passed" if last.ok else f"**failed** ({', '.join(last.failed) or 'no ids'})"
            lines.append(f"- {host}: {result} at {fmt_time(last.at)} (from the host state)")
    reason = "This run did not verify the hosts" if inputs.record else "No verify results"
    if done.failed_phase is not None and "verify" in done.not_reached:
        reason = "Verify was not reached in this run"
    return "\n".join(["## Verify", f"\n{reason}." + (" The last verify recorded on each host:" if lines else
                                                     " Run `sparkfleet verify` to check the hosts."), *lines])


def _host_summary(inputs: Inputs, host: str) -> str:
    result = inputs.verify.get(host)
    if result is None:
        return f"{host} has no verify result"
    passed = sum(1 for c in result.checks if c.ok)
    warned = sum(1 for c in result.checks if c.is_warning)
    word = "passed" if result.ok else "**failed**"
    extra = f", {plural(warned, 'warning')}" if warned else ""
    return f"{host} {word} ({passed} of {len(result.checks)} checks ok{extra})"


def _mark(inputs: Inputs, host: str, check_id: str) -> str:
    check = inputs.verify[host].check(check_id) if host in inputs.verify else None
    if check is None:
        return "—"
    if check.ok:
        return "pass"
    return "warning" if check.severity == "warning" else "**FAIL**"


def _did_not_pass(inputs: Inputs) -> list[str]:
    details = []
    for host in inputs.hosts:
        for check in inputs.verify[host].checks if host in inputs.verify else []:
            if check.ok:
                continue
            kind = "warning" if check.severity == "warning" else "failed"
            details.append(f"**{host} · {code(check.id)} {kind}:** {text(check.message)}")
            if check.hint:
                details.append(f"\n*Fix:* {text(check.hint)}")
            if check.journal:
                details.append("\nLast journal lines:\n\n" + fence(check.journal))
            details.append("")
    return details


def _what_passed(inputs: Inputs) -> list[str]:
    """One host: what each passed check said (with more hosts the table says enough)."""
    if len(inputs.hosts) != 1 or inputs.hosts[0] not in inputs.verify:
        return []
    return [f"- {code(c.id)}: {text(c.message)}" for c in inputs.verify[inputs.hosts[0]].checks
            if c.ok and c.message]
