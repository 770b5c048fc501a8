"""Fleet comparison: with two or more benched hosts, which is fastest per scenario (output tokens/s and TTFT, the
spread over each host's rounds), and whether the differences are beyond noise (report/comparison.py)."""

from __future__ import annotations

from sparkfleet.report.comparison import HEADERS, compare, comparison_rows
from sparkfleet.report.inputs import Inputs
from sparkfleet.report.markdown import table, text


def fleet_comparison(inputs: Inputs) -> str:
    history = {host: [b.result for b in inputs.benches[host].history] for host in inputs.hosts
               if inputs.benches[host].current}
    if len(history) < 2:
        return ""
    done = compare(history, lab_hosts=[host for host in history if not inputs.is_spark(host)])
    rounds = ", ".join(f"{host} {count}" for host, count in done.rounds.items())
    out = ["## Fleet comparison", "", text(done.summary), "",
           f"Rounds per host (results with the same vLLM unit and model; each `sparkfleet bench` adds one): {rounds}.",
           "", table(HEADERS, [[text(cell) for cell in row] for row in comparison_rows(done)]), ""]
    out += [f"- {text(s.name)}: {text(s.verdict)}" for s in done.scenarios if len(s.ranked) > 1]
    return "\n".join(out)
