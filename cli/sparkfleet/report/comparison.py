"""Which host is fastest: each host's bench rounds compared per scenario, with the spread over rounds, a ranking,
and plain words when the differences are within noise or the hosts were benched at the same time.

A round is one bench result; a host's rounds are its newest results that share the newest one's serving key (the
same vLLM unit and model), so a changed flag starts the count again. Pure: bench results in, figures and words out,
for both `sparkfleet bench` (text) and the report (markdown).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from sparkfleet.core.bench_results import BenchResult
from sparkfleet.report.inputs import parse_time

MAX_ROUNDS = 5
# Below this difference in median output tokens/s two hosts are not told apart, even when their rounds do not
# overlap: repeated benches of one host on an idle lab or Spark differ by a few percent.
NOISE_FLOOR = 0.05
TRAFFIC_ORDER = {"text": 0, "image": 1, "video": 2}


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, values: list[float]) -> Spread | None:
        return cls(statistics.median(values), min(values), max(values), len(values)) if values else None


@dataclass(frozen=True)
class HostFigures:
    host: str
    output_tok_s: Spread
    ttft_ms: Spread | None  # median TTFT of each round


@dataclass(frozen=True)
class ScenarioComparison:
    name: str
    ranked: list[HostFigures]  # fastest first (median output tokens/s)
    verdict: str
    clear_winner: str | None  # the fastest host when it is ahead beyond the noise


@dataclass
class Comparison:
    scenarios: list[ScenarioComparison] = field(default_factory=list)
    rounds: dict[str, int] = field(default_factory=dict)  # host -> rounds used
    at_same_time: list[tuple[str, str]] = field(default_factory=list)
    shared_machine: list[str] = field(default_factory=list)  # lab hosts: stand-ins on one machine
    summary: str = ""


def rounds_of(results: list[BenchResult], limit: int = MAX_ROUNDS) -> list[BenchResult]:
    """A host's rounds: its newest results with the newest one's serving key, newest first (results in any order)."""
    ordered = sorted(results, key=lambda r: (r.started_at or "", r.id or ""), reverse=True)
    if not ordered:
        return []
    key = ordered[0].serving_key
    return [r for r in ordered if r.serving_key == key][:limit]


def _window(result: BenchResult):
    start = parse_time(result.started_at)
    if start is None or result.duration_s is None:
        return None
    return start, start + timedelta(seconds=float(result.duration_s))


def overlapping(latest: dict[str, BenchResult]) -> list[tuple[str, str]]:
    """Pairs of hosts whose newest rounds ran at the same time (their start-to-end windows overlap)."""
    pairs = []
    hosts = sorted(latest)
    for i, first in enumerate(hosts):
        for second in hosts[i + 1:]:
            a, b = _window(latest[first]), _window(latest[second])
            if a and b and a[0] < b[1] and b[0] < a[1]:
                pairs.append((first, second))
    return pairs


def _scenario_order(name: str, traffic: str | None, concurrency) -> tuple:
    return (TRAFFIC_ORDER.get(str(traffic), 9), str(traffic), concurrency or 0, name)


def _apart(fast: HostFigures, slow: HostFigures) -> bool:
    """Told apart: the rounds' ranges do not overlap and the medians differ by more than the noise floor."""
    a, b = fast.output_tok_s, slow.output_tok_s
    return a.low > b.high and (a.median - b.median) > NOISE_FLOOR * b.median


def _verdict(ranked: list[HostFigures]) -> tuple[str, str | None]:
    if len(ranked) < 2:
        return (f"only {ranked[0].host} has results" if ranked else "no results"), None
    first, second = ranked[0], ranked[1]
    gain = (first.output_tok_s.median - second.output_tok_s.median) / second.output_tok_s.median * 100 \
        if second.output_tok_s.median else 0.0
    if _apart(first, second):
        return f"{first.host} is fastest, {gain:.0f}% more output tokens/s than {second.host}", first.host
    tied = [h.host for h in ranked if not _apart(first, h)]
    single = min(h.output_tok_s.rounds for h in ranked) < 2
    why = (f"one round on some host, so the spread is unknown and differences under "
           f"{NOISE_FLOOR:.0%} count as noise" if single else "their rounds overlap or differ by under "
           f"{NOISE_FLOOR:.0%}")
    return f"{', '.join(tied[:-1])} and {tied[-1]} are within noise ({gain:.0f}% apart; {why})", None


def compare(results: dict[str, list[BenchResult]], lab_hosts: list[str] | None = None) -> Comparison:
    """results: host -> that host's bench results (any order). lab_hosts: hosts that are stand-ins on one machine."""
    rounds = {host: rounds_of(found) for host, found in results.items()}
    rounds = {host: found for host, found in rounds.items() if found}
    done = Comparison(rounds={host: len(found) for host, found in rounds.items()})
    done.at_same_time = overlapping({host: found[0] for host, found in rounds.items()})
    done.shared_machine = sorted(h for h in (lab_hosts or []) if h in rounds)
    names: dict[str, tuple] = {}
    for found in rounds.values():
        for result in found:
            for scenario in result.scenarios:
                if scenario.name:
                    names.setdefault(scenario.name, _scenario_order(scenario.name, scenario.traffic,
                                                                     scenario.concurrency))
    for name in sorted(names, key=names.get):
        figures = []
        for host, found in rounds.items():
            ran = [s for r in found for s in r.scenarios if s.name == name and not s.error and s.failed in (0, None)]
            tok_s = Spread.of([float(s.output_throughput) for s in ran if s.output_throughput is not None])
            if tok_s is not None:
                figures.append(HostFigures(host, tok_s, Spread.of(
                    [float(s.ttft_ms.median) for s in ran if s.ttft_ms.median is not None])))
        figures.sort(key=lambda f: (-f.output_tok_s.median, f.host))
        verdict, winner = _verdict(figures)
        done.scenarios.append(ScenarioComparison(name, figures, verdict, winner))
    done.summary = _summary(done)
    return done


def _summary(done: Comparison) -> str:
    compared = [s for s in done.scenarios if len(s.ranked) > 1]
    if len(done.rounds) < 2:
        return "Nothing to compare: fewer than two hosts have bench results."
    if not compared:
        return "Nothing to compare: no scenario has results from two hosts."
    wins: dict[str, int] = {}
    for scenario in compared:
        if scenario.clear_winner:
            wins[scenario.clear_winner] = wins.get(scenario.clear_winner, 0) + 1
    if not wins:
        words = "No host is clearly fastest: in every scenario the differences are within noise."
    else:
        best = max(wins, key=lambda h: (wins[h], h))
        words = f"Fastest: {best}, clearly ahead in {wins[best]} of {len(compared)} scenarios."
        if wins[best] < len(compared):
            words += " In the others the difference is within noise or another host leads."
    if done.at_same_time:
        pairs = ", ".join(f"{a} and {b}" for a, b in done.at_same_time)
        words += (f" {pairs} were benched at the same time: hosts that share a machine, a switch or power slow each"
                  " other, so bench them one at a time (`sparkfleet bench --fleet-mode serial`) to rank them.")
    if len(done.shared_machine) > 1:
        words += (f" {', '.join(done.shared_machine)} are lab stand-ins on one machine: their differences say"
                  " nothing about Sparks.")
    return words


def fmt_spread(spread: Spread | None, digits: int = 1) -> str:
    if spread is None:
        return "—"
    if spread.rounds < 2:
        return f"{spread.median:.{digits}f} (1 round)"
    return f"{spread.median:.{digits}f} ({spread.low:.{digits}f}-{spread.high:.{digits}f}, {spread.rounds} rounds)"


def comparison_rows(done: Comparison) -> list[list[str]]:
    """One row per scenario and host: scenario, rank, host, output tok/s, TTFT p50 ms (median and range)."""
    rows = []
    for scenario in done.scenarios:
        for rank, figures in enumerate(scenario.ranked, start=1):
            rows.append([scenario.name, str(rank), figures.host, fmt_spread(figures.output_tok_s),
                         fmt_spread(figures.ttft_ms)])
    return rows


HEADERS = ["scenario", "rank", "host", "out tok/s median (min-max)", "TTFT p50 ms median (min-max)"]
