"""The title, the one-paragraph verdict on the run and the run's particulars."""

from __future__ import annotations

from sparkfleet.report.inputs import Inputs, record_id_of
from sparkfleet.report.markdown import code, fmt_duration, fmt_time, join_words, plural, text
from sparkfleet.report.outcome import Outcome, run_warnings


def header(inputs: Inputs, done: Outcome) -> str:
    record = inputs.record
    if record is None:
        lines = ["# sparkfleet report: no run recorded", "",
                 "> **No run is recorded in this project yet** (`.sparkfleet/history/` holds no record). "
                 "This report shows only what the host state and bench files say. Run `sparkfleet up` to "
                 "provision the hosts; its report will then show every phase."]
        if not inputs.hosts:
            lines.append("> No host has state or bench files either: there is nothing to report yet.")
        return "\n".join(lines)
    command = inputs.command
    exit_code = "?" if record.exit_code is None else record.exit_code
    lines = [f"# sparkfleet report: `{command}` of {fmt_time(record.started_at)}", "", "> " + verdict(inputs, done),
             ""]
    meta = [f"**Run** {code(inputs.report_id)} (`sparkfleet {command}`, exit code {exit_code})",
            f"**Started** {fmt_time(record.started_at)}, finished {fmt_time(record.finished_at, with_date=False)}; "
            f"took **{fmt_duration(record.duration_s)}**",
            f"**Hosts** {', '.join(inputs.hosts) or 'none'}; model {code(record.model or '?')}; "
            f"profile {profile_words(inputs)}"]
    previous = inputs.previous
    if previous:
        meta.append(f"**Previous `{command}`** {code(record_id_of(previous, None))} of "
                    f"{fmt_time(previous.started_at)} ({'succeeded' if previous.ok else 'failed'})")
    lines += [f"- {m}" for m in meta]
    return "\n".join(lines)


def profile_words(inputs: Inputs) -> str:
    kinds = {h: ("spark" if inputs.is_spark(h) else "lab") for h in inputs.hosts}
    if not kinds:
        return "unknown"
    if set(kinds.values()) == {"lab"}:
        return "**lab** (CPU stand-ins, no GPU)"
    if set(kinds.values()) == {"spark"}:
        return "**spark**"
    return "mixed: " + ", ".join(f"{h} {k}" for h, k in kinds.items())


def verdict(inputs: Inputs, done: Outcome) -> str:
    return _failed(inputs, done) if not done.ok else _succeeded(inputs)


def _failed(inputs: Inputs, done: Outcome) -> str:
    """Which phase failed, why, what was done before it and what was not reached."""
    command, phases, phase = inputs.command, inputs.phases(), done.failed_phase
    where = f" on {join_words(done.failed_hosts)}" if done.failed_hosts else ""
    words = (f"**`{command}` failed in the {phase.name} phase{where}.** " if phase
             else f"**`{command}` did not finish.** ")
    words += f"Error: {text(done.error)}" if done.error else "No error message was recorded."
    position = {id(p): i for i, p in enumerate(phases)}
    index = position[id(phase)] if phase else len(phases)
    before = [str(p.name) for p in done.reached if position[id(p)] < index]
    after = [p for p in done.reached if position[id(p)] > index]
    if before:
        words += f" Done before it: {join_words(before)}."
    if done.not_reached:
        words += f" Not reached: {join_words(done.not_reached)}."
    if any(p.name == "notes" and p.ok for p in after):
        words += " The notes phase still recorded the run on the hosts."
    return words + " See [Problems](#problems-met) and [Next steps](#next-steps)."


def _succeeded(inputs: Inputs) -> str:
    """What the hosts do now: serving, verified, benchmarked."""
    hosts, command = inputs.hosts, inputs.command
    parts = []
    if inputs.phase("serve") is not None or command == "up":
        model = inputs.record.model or next((inputs.model(h) for h in hosts if inputs.model(h)), None)
        parts.append(f"are serving {code(model) if model else 'their model'}")
    verified = [h for h in hosts if h in inputs.verify and inputs.verify[h].ok is True]
    unverified = [h for h in hosts if h in inputs.verify and inputs.verify[h].ok is False]
    if inputs.verify:
        if unverified:
            parts.append(f"{join_words(verified) or 'none'} passed verify but {join_words(unverified)} did not")
        else:
            parts.append("passed verify")
    benched = [h for h in hosts if inputs.benches[h].from_this_run]
    skipped = [h for h in hosts if inputs.benches[h].skipped]
    if inputs.phase("bench") is not None:
        if benched and len(benched) == len(hosts):
            parts.append("were benchmarked")
        elif benched:
            parts.append(f"{join_words(benched)} benchmarked")
        if skipped:
            parts.append(f"the bench skipped {join_words(skipped)}")
    subject = f"all {plural(len(hosts), 'host')}" if len(hosts) > 1 else (hosts[0] if hosts else "the run")
    if len(hosts) > 1:
        subject += f" ({join_words(hosts)})"
    body = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else (parts[0] if parts else "")
    if len(hosts) == 1:
        body = body.replace("are serving", "is serving").replace("were benchmarked", "was benchmarked")
    words = f"**`{command}` succeeded: {subject} {body}.**" if body else f"**`{command}` succeeded.**"
    warnings = run_warnings(inputs)
    if warnings:
        words += f" {plural(len(warnings), 'warning')} to read below."
    if not inputs.phase("bench") and not any(b.current for b in inputs.benches.values()):
        words += " No bench has been run yet."
    return words
