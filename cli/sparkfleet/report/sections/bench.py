"""Bench: per host, the bench shown (this run's, or the newest before it), its conditions and warnings, a row per
scenario, its latency chart, and the comparison with the host's previous bench; the lab caveat, the throughput
chart, and for Sparks the published figures (spark_figures)."""

from __future__ import annotations

from sparkfleet.core.bench_results import Conditions, Latency, Scenario
from sparkfleet.report.inputs import Inputs
from sparkfleet.report.markdown import (
    cell,
    code,
    fmt_delta,
    fmt_duration,
    fmt_time,
    fmt_value,
    gib,
    join_words,
    short_revision,
    table,
    text,
)
from sparkfleet.report.outcome import Outcome
from sparkfleet.report.sections.spark_figures import spark_figures

LATENCIES = (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("itl_ms", "ITL"), ("e2el_ms", "E2EL"))


def latency(scenario: Scenario, key: str) -> Latency:
    return getattr(scenario, key)


def bench(inputs: Inputs, done: Outcome, chart_files: dict[str, str]) -> str:
    """chart_files: chart name -> file name beside the report (throughput, latency-<host>)."""
    out = ["## Bench"]
    if not any(b.current for b in inputs.benches.values()):
        if inputs.phase("bench") is not None:
            out.append("\nThe bench phase ran but left no results.")
        elif done.failed_phase is not None and "bench" in done.not_reached:
            out.append("\nThe bench was not reached in this run, and no host has an earlier bench result.")
        else:
            out.append("\nNo bench results yet. Run `sparkfleet bench` to measure the hosts.")
        out += [f"\n- {host}: skipped ({text(inputs.benches[host].skipped)})" for host in inputs.hosts
                if inputs.benches[host].skipped]
        return "\n".join(out)
    lab_hosts = [h for h in inputs.hosts if inputs.benches[h].current and not inputs.is_spark(h)]
    if lab_hosts:
        one = len(lab_hosts) == 1
        out += ["", f"> **Lab numbers.** {join_words(lab_hosts)} {'is a' if one else 'are'} CPU "
                f"stand-in{'' if one else 's'} serving a tiny random-weight model through "
                "vLLM's CPU build. These numbers show that the serving and bench pipeline works end to end and "
                "let you compare one lab run with the next; they say nothing about a DGX Spark and **must not "
                "be compared with a Spark's numbers or with published figures.**"]
    if "throughput" in chart_files:
        out += ["", f"![Output throughput against concurrency]({chart_files['throughput']})", "",
                "*Output tokens per second against the number of requests in flight, per traffic type; "
                "dashed lines: each host's previous bench.*"]
    for host in inputs.hosts:
        out += ["", host_bench(inputs, host, chart_files.get(f"latency-{host}"))]
    spark_hosts = [h for h in inputs.hosts if inputs.benches[h].current and inputs.is_spark(h)]
    if spark_hosts:
        out += ["", spark_figures(inputs, spark_hosts)]
    return "\n".join(out)


def host_bench(inputs: Inputs, host: str, latency_chart: str | None) -> str:
    hb = inputs.benches[host]
    out = [f"### {host}"]
    if hb.current is None:
        reason = f"skipped: {text(hb.skipped)}" if hb.skipped else "no results"
        out.append(f"\nNo bench for {host} ({reason}).")
        return "\n".join(out)
    result = hb.current.result
    origin = "this run" if hb.from_this_run else "an earlier run" if inputs.record else "the newest"
    if not hb.from_this_run and inputs.record is not None:
        why = f"the bench skipped {host} this time: {text(hb.skipped)}" if hb.skipped else "this run did not bench"
        origin += f"; {why}"
    revision = short_revision(result.model_revision)
    seed = "—" if result.seed is None else result.seed
    out.append(f"\nBench {code(hb.current.id)} of {fmt_time(result.started_at)} ({origin}), "
               f"{fmt_duration(result.duration_s)}: model {code(result.model or '?')}"
               + (f" @ {code(revision)}" if revision else "") + f", vLLM {code(result.vllm_version or '?')}, "
               f"seed {seed}.")
    if result.conditions is not None:
        out.append("\n*Conditions:* " + conditions(result.conditions))
    out += [f"\n> **Warning:** {text(warning)}" for warning in result.warnings]
    scenarios = hb.current.scenarios()
    out += ["", table(["Scenario", "Traffic", "Conc.", "Requests", "req/s", "Output tok/s",
                       *(f"{label} ms<br>median / p99" for _, label in LATENCIES)],
                      [_scenario_row(s) for s in scenarios], "llrrrrrrrr")]
    errors = [f"- {code(s.name or '?')}: {text(s.error)}" for s in scenarios if s.error]
    if errors:
        out += ["", "Scenarios with errors:", "", *errors]
    if latency_chart:
        out += ["", f"![Latency of {host} per scenario]({latency_chart})"]
    out += ["", comparison(inputs, host)]
    return "\n".join(out)


def _scenario_row(s: Scenario) -> list[str]:
    requests = f"{s.completed if s.completed is not None else '?'}" + (f" (**{s.failed} failed**)" if s.failed
                                                                       else "")
    return ([code(s.name or "?"), cell(s.traffic) + video_words(s), cell(s.concurrency), requests,
             fmt_value(s.request_throughput), fmt_value(s.output_throughput)]
            + [f"{fmt_value(latency(s, key).median)} / {fmt_value(latency(s, key).p99)}" for key, _ in LATENCIES])


def video_words(scenario: Scenario) -> str:
    video = scenario.video
    return "" if video is None else f" ({video.width}x{video.height}, {video.frames} frames)"


def conditions(found: Conditions) -> str:
    """What the host was like while measured: memory, memory pressure, GPU clocks."""
    parts = []
    if found.memory_total_mib or found.memory_available_mib:
        parts.append(f"memory {gib(found.memory_available_mib)} available of {gib(found.memory_total_mib)}")
    if found.memory_psi_some_avg10 is not None:
        parts.append(f"memory pressure (PSI some, avg10) {float(found.memory_psi_some_avg10):g} %")
    gpu = found.gpu
    if gpu is not None:
        parts.append(f"GPU {text(gpu.name or '?')}: SM clock peaked at {gpu.clock_sm_peak_mhz or '?'} MHz of "
                     f"{gpu.clock_sm_max_mhz or '?'} MHz (idle {gpu.clock_sm_idle_mhz or '?'} MHz)")
    elif found.gpu_recorded:
        parts.append("no GPU")
    return "; ".join(parts) + "." if parts else "not recorded."


def comparison(inputs: Inputs, host: str) -> str:
    """This bench against the host's previous one, scenario by scenario, with what changed in what is served."""
    hb = inputs.benches[host]
    if hb.previous is None:
        return f"No earlier bench of {host} to compare with."
    now, before = hb.current.result, hb.previous.result
    lines = [f"**Against the previous bench** {code(hb.previous.id)} of {fmt_time(before.started_at)}:"]
    caveats = []
    for key, label in (("model", "model"), ("model_revision", "model revision"),
                       ("vllm_version", "vLLM version"), ("profile", "profile")):
        old, new = getattr(before, key), getattr(now, key)
        if old != new and (old or new):
            caveats.append(f"{label} {code(old or '?')} → {code(new or '?')}")
    if caveats:
        lines.append("what is served changed (" + "; ".join(caveats) + "), so differences are not only noise.")
    elif now.serving_key and before.serving_key == now.serving_key:
        lines.append("the same model and vLLM unit were served, so the differences are run-to-run variation.")
    elif now.serving_key and before.serving_key:
        lines.append("the served unit or model files differ (another serving key).")
    previous = {s.name: s for s in hb.previous.scenarios()}
    rows = []
    for s in hb.current.scenarios():
        p = previous.get(s.name)
        if p is None:
            rows.append([code(s.name or "?"), "new scenario", "", "", ""])
            continue
        row = [code(s.name or "?")]
        for get, better in ((lambda x: x.output_throughput, True), (lambda x: x.ttft_ms.median, False),
                            (lambda x: x.tpot_ms.median, False), (lambda x: x.e2el_ms.median, False)):
            row.append(f"{fmt_value(get(p))} → {fmt_value(get(s))} ({fmt_delta(get(s), get(p), better)})")
        rows.append(row)
    gone = [name for name in previous if name not in {s.name for s in hb.current.scenarios()}]
    out = [" ".join(lines), "",
           table(["Scenario", "Output tok/s", "TTFT median ms", "TPOT median ms", "E2EL median ms"], rows, "lrrrr")]
    if gone:
        out += ["", f"Not run this time: {', '.join(code(n) for n in gone)}."]
    return "\n".join(out)
