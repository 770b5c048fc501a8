"""Next steps: what to do now, in order: fix what failed, run again, act on failed checks and warnings, measure,
and go from the lab to a real Spark."""

from __future__ import annotations

from sparkfleet.report.inputs import Inputs
from sparkfleet.report.markdown import join_words, plural, text
from sparkfleet.report.outcome import Outcome, run_warnings, verify_warnings
from sparkfleet.report.sections.problems import host_problems


def next_steps(inputs: Inputs, done: Outcome) -> str:
    steps = [*_after_the_run(inputs, done), *_after_warnings(inputs, done), *_then(inputs, done)]
    if not steps:
        steps.append("Nothing to do: the fleet is serving. Open the dashboard to analyse a video, or re-run "
                     "`sparkfleet bench` after a change.")
    return "## Next steps\n\n" + "\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1))


def _after_the_run(inputs: Inputs, done: Outcome) -> list[str]:
    """What the run's own result asks for: record one, fix the failed phase and run again."""
    limit = f" --limit {','.join(done.failed_hosts)}" if done.failed_hosts else ""
    if inputs.record is None:
        return ["Provision the hosts and record a run: `sparkfleet up`."]
    failed = done.failed_phase
    if failed is None:
        if done.ok is False:
            why = f" ({text(done.error)})" if done.error else ""
            return [f"The run did not finish{why}: run `sparkfleet {inputs.command}` again."]
        return []
    steps = []
    if any(f.status == "unreachable" for f in failed.failures):
        steps.append("A host could not be reached: check it is on and its address in "
                     "`inventory/hosts.yml`, then `sparkfleet ping`.")
    hints = [f.hint for f in failed.failures if f.hint]
    where = f" on {join_words(done.failed_hosts)}" if done.failed_hosts else ""
    step = f"Fix the {failed.name} failure{where}: " + (text(hints[0]).rstrip(".") + "." if hints
                                                         else "see [Problems met](#problems-met).")
    if failed.name == "doctor":
        step += f" Check with `sparkfleet doctor{limit}`."
    elif failed.name == "serve":
        host = done.failed_hosts[0] if done.failed_hosts else None
        state = inputs.states.get(host) if host else None
        unit = state.vllm.unit if state and state.vllm else None
        step += (f" The service's journal tells more: `journalctl -u {unit or 'sparkfleet-vllm-*'} -n 100`"
                 + (f" on {host}." if host else "."))
    elif failed.name == "verify":
        step += f" Check again with `sparkfleet verify{limit}`."
    elif failed.name == "bench":
        step += f" Measure again with `sparkfleet bench{limit}`."
    steps.append(step)
    if inputs.command == "up":
        rest = f", and it goes on with {join_words(done.not_reached)}" if done.not_reached else ""
        steps.append(f"Run `sparkfleet up` again: what is already in place is not redone{rest}.")
    else:
        steps.append(f"Run `sparkfleet {inputs.command}{limit}` again.")
    return steps


def _after_warnings(inputs: Inputs, done: Outcome) -> list[str]:
    """Failed checks, low GPU clocks, an endpoint open without a key, other warnings, open problems."""
    steps = []
    failing_verify = [h for h in inputs.hosts if h in inputs.verify and inputs.verify[h].ok is False]
    if failing_verify and not (done.failed_phase and done.failed_phase.name == "verify"):
        steps.append(f"{join_words(failing_verify)} failed verify: fix the checks above, then `sparkfleet verify`.")
    clocks: list[str] = []
    open_endpoint: list[str] = []
    others = 0
    for warning in run_warnings(inputs):
        prefix = warning.partition(":")[0]
        host = prefix if prefix in inputs.hosts else None
        lowered = warning.lower()
        if "clock" in lowered:
            clocks.append(host or "a host")
        elif "api key" in lowered:
            open_endpoint.append(host or "a host")
        else:
            others += 1
    for host, check in verify_warnings(inputs):
        if "api key" in f"{check.message} {check.id}".lower().replace("_", " "):
            open_endpoint.append(host)
    if clocks:
        steps.append(f"The GPU clocks of {join_words(sorted(set(clocks)))} stayed low under load: check the power "
                     "supply and cable (a degraded USB-PD state caps the GPU at 500-850 MHz instead of about "
                     "2400 MHz), then run `sparkfleet bench` again.")
    if open_endpoint:
        steps.append(f"The video endpoint of {join_words(sorted(set(open_endpoint)))} takes requests without an API "
                     "key: set `video_endpoint_open: false` (`sparkfleet up` makes a key if the project has none, "
                     "and keeps it in the vault) or `video_endpoint_host: 127.0.0.1`, and run `sparkfleet up` again, "
                     "unless the network is trusted.")
    if others:
        steps.append(f"Read the {'other ' if clocks or open_endpoint else ''}"
                     f"{plural(others, 'warning')} under [Problems met](#problems-met) and act on "
                     f"{'it' if others == 1 else 'them'}.")
    still_open = [p for h in inputs.hosts for p in host_problems(inputs, h) if not p.resolved_at]
    if still_open:
        steps.append(f"{plural(len(still_open), 'problem')} recorded on the hosts "
                     f"{'is' if len(still_open) == 1 else 'are'} still open (see above).")
    return steps


def _then(inputs: Inputs, done: Outcome) -> list[str]:
    """Measure, and go from the lab to a real Spark."""
    steps = []
    if not any(b.current for b in inputs.benches.values()) and done.failed_phase is None:
        steps.append("Measure the hosts: `sparkfleet bench`.")
    elif inputs.record and not inputs.phase("bench") and done.failed_phase is None:
        steps.append("The bench results above are from an earlier run; `sparkfleet bench` measures again.")
    if inputs.hosts and not any(inputs.is_spark(h) for h in inputs.hosts):
        steps.append("To go to a real DGX Spark: `sparkfleet host add spark1 --address IP --user USER`, "
                     "`sparkfleet bootstrap` (pins its host key and installs the controller key; asks for the "
                     "password once), `sparkfleet doctor`, then `sparkfleet up` (the spark profile and a real "
                     "Qwen3-VL; the first start takes 10-15 minutes).")
    return steps
