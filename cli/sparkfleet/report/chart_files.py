"""Which charts a report gets, drawn as PNG files beside it: output throughput against concurrency for all hosts
(with each host's previous bench dashed), and each host's latency per scenario. matplotlib is imported here only
when charts are drawn, so reading or building a report without charts never loads it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from sparkfleet.report.inputs import TRAFFIC_ORDER, Inputs
from sparkfleet.report.sections.bench import LATENCIES, latency

CHART_PREFIXES = ("latency-", "throughput")  # the files this module writes (stale ones are removed)


def draw_charts(inputs: Inputs, report_dir: Path) -> tuple[dict[str, str], list[str]]:
    """The PNGs beside the report: {name: file name}, and why any chart could not be drawn."""
    drawn: dict[str, str] = {}
    errors: list[str] = []
    try:
        import matplotlib  # noqa: F401  (charts imports it where it draws; a missing one is found once, here)

        from sparkfleet.report import charts
    except Exception as error:  # matplotlib missing or broken: a report without charts is still a report
        return drawn, [f"Charts were not drawn ({type(error).__name__}: {error}); install matplotlib to get them."]
    for key, name, draw in _chart_jobs(inputs, charts):
        try:
            draw(report_dir / name)
            drawn[key] = name
        except Exception as error:  # one bad chart must not cost the report
            errors.append(f"Chart {name} was not drawn: {type(error).__name__}: {error}")
    remove_stale_charts(report_dir, keep=set(drawn.values()))
    return drawn, errors


def remove_stale_charts(report_dir: Path, keep: set[str]) -> None:
    """Charts of an earlier build of this report that are not part of this one."""
    for stale in report_dir.glob("*.png"):
        if stale.name not in keep and stale.name.startswith(CHART_PREFIXES):
            stale.unlink(missing_ok=True)


def _chart_jobs(inputs: Inputs, charts) -> list[tuple[str, str, Callable[[Path], None]]]:
    """(chart name, file name, draw(path)) for each chart the inputs have data for."""
    jobs = []
    panels = _throughput_panels(inputs, charts)
    if panels:
        jobs.append(("throughput", "throughput.png", lambda path: charts.throughput(path, panels)))
    for host in inputs.hosts:
        bench = inputs.benches[host].current
        scenarios = bench.scenarios() if bench else []
        if not scenarios:
            continue
        latency_panels = [charts.LatencyPanel(label, [_float(latency(s, key).median) for s in scenarios],
                                              [_float(latency(s, key).p99) for s in scenarios])
                          for key, label in LATENCIES]
        names = [s.name or "?" for s in scenarios]
        jobs.append((f"latency-{host}", f"latency-{host}.png",
                     lambda path, names=names, latency_panels=latency_panels, host=host:
                     charts.latency(path, f"{host}: latency per scenario", names, latency_panels)))
    return jobs


def _float(value) -> float | None:
    return None if value is None else float(value)


def _throughput_panels(inputs: Inputs, charts) -> dict[str, list]:
    """Per traffic type, a line per host (and one dashed for its previous bench): output tok/s by concurrency."""
    panels: dict[str, list] = {}
    for host in inputs.hosts:
        hb = inputs.benches[host]
        for bench, dashed in ((hb.previous, True), (hb.current, False)):
            if bench is None:
                continue
            lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for s in bench.scenarios():
                if s.concurrency is not None and s.output_throughput is not None:
                    lines[s.traffic or "?"].append((float(s.concurrency), float(s.output_throughput)))
            for traffic, points in lines.items():
                label = f"{host} (previous)" if dashed else host
                panels.setdefault(traffic, []).append(charts.Line(label, sorted(points), host, dashed))
    panels = dict(sorted(panels.items(), key=lambda item: TRAFFIC_ORDER.get(item[0], 9)))
    for lines_of_traffic in panels.values():  # current lines first in the legend
        lines_of_traffic.sort(key=lambda line: (line.dashed, line.label))
    return panels
