"""Every performance figure of docs/performance.md in one command: several runs each, printed as median, min and
max, with the machine and its load (load average before and after each figure, cores, memory).

    python bench/harness.py                      # every figure (makes and removes its own lab hosts)
    python bench/harness.py --figures help,engines --runs 5 --hosts 4
    python bench/harness.py --smoke              # CI: one short run of each cheap figure, no timed assertion

Figures (docs/performance.md has one table each):
  help      `sparkfleet --help` (target < 0.25 s)
  unit      the unit suite, `pytest -n 2 tests/unit services/video/tests` (target < 30 s)
  engines   the 20 idempotent operations on 1 and N bare lab hosts: Ansible with sparkfleet's ansible.cfg, Ansible
            defaults, Ansible + mitogen, pyinfra (bench/engines.py; target: sparkfleet's engine within 2x pyinfra)
  first-up  the first `sparkfleet up` of a fresh Debian 12 lab host by phase and by task (from the run's events)
  noop-up   a no-op `up` against a `ping` of the same host, interleaved (target: up <= 4x ping)
  status    `sparkfleet status` on the lab hosts with warm connections (target < 5 s on 4 hosts)
It is a measurement, not a test: nothing here fails on a slow figure. Lab hosts it makes are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import engines

REPO = Path(__file__).resolve().parent.parent
SPARKFLEET = [str(Path(sys.executable).parent / "sparkfleet")]
FIGURES = ("help", "unit", "engines", "first-up", "noop-up", "status")
SMOKE_FIGURES = ("help", "engines", "status")


# -- the machine and the figures' arithmetic ---------------------------------------------------------------------

def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, "
            f"Python {platform.python_version()}, {platform.platform(terse=True)}")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} cores"


def spread(samples: list[float]) -> dict:
    return {"median": round(statistics.median(samples), 3), "min": round(min(samples), 3),
            "max": round(max(samples), 3), "runs": len(samples), "samples": [round(s, 3) for s in samples]}


def row(label: str, samples: list[float], note: str = "") -> str:
    s = spread(samples)
    return (f"  {label:<44} median {s['median']:8.2f} s  min {s['min']:8.2f}  max {s['max']:8.2f}  "
            f"({s['runs']} runs){'  ' + note if note else ''}")


def timed(args: list[str], cwd: Path | None = None, env: dict | None = None, check: bool = True) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-800:]}")
    return seconds


def sparkfleet_json(project: Path, *args: str) -> tuple[float, dict, list[dict]]:
    """Run `sparkfleet --json ARGS`; (wall seconds, summary result, events)."""
    started = time.perf_counter()
    proc = subprocess.run([*SPARKFLEET, "--json", *args], cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"sparkfleet {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr[-800:]}")
    return seconds, lines[-1].get("result") or {}, lines[:-1]


@contextlib.contextmanager
def lab(hosts: int, project: Path | None) -> Iterator[Path]:
    """The given project (its lab hosts are used as they are), or a new one with `hosts` bare Debian 12 hosts."""
    if project is not None:
        yield project
        return
    with tempfile.TemporaryDirectory(prefix="sparkfleet-bench-") as tmp:
        path = Path(tmp) / "bench"
        subprocess.run([*SPARKFLEET, "init", str(path)], check=True, capture_output=True)
        subprocess.run([*SPARKFLEET, "lab", "up", "--os", "debian12", "--hosts", str(hosts)], cwd=path, check=True,
                       capture_output=True)
        try:
            yield path
        finally:
            subprocess.run([*SPARKFLEET, "lab", "down"], cwd=path, capture_output=True)


# -- the figures --------------------------------------------------------------------------------------------------

def fig_help(opts, out: Callable) -> dict:
    samples = [timed([*SPARKFLEET, "--help"]) for _ in range(max(opts.runs, 3) * 3)]
    out(row("sparkfleet --help", samples, "target < 0.25 s"))
    return {"help": spread(samples)}


def fig_unit(opts, out: Callable) -> dict:
    args = [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", "tests/unit",
            "services/video/tests"]
    samples = [timed(args, cwd=REPO) for _ in range(max(1, opts.runs // 3))]
    out(row("unit suite (pytest -n 2)", samples, "target < 30 s"))
    return {"unit": spread(samples)}


def fig_engines(opts, out: Callable) -> dict:
    counts = sorted({1, opts.hosts})
    with lab(opts.hosts, opts.project) as project:
        results, first = engines.compare(project, counts, 0 if opts.smoke else opts.runs, log=out,
                                         names=opts.hosts_named)
    if opts.smoke:  # every engine ran the deploy; no timing is worth printing from one cold run
        for engine, by_count in first.items():
            out(f"  {engine}: first run (converging) {by_count[1]:.1f} s")
        return {"first_run": first}
    figures: dict = {}
    pyinfra = {n: statistics.median(results["pyinfra"][n]) for n in counts}
    for engine, by_count in results.items():
        for n, samples in by_count.items():
            ratio = statistics.median(samples) / pyinfra[n]
            per_task = statistics.median(samples) / engines.OPERATIONS
            out(row(f"{engine} on {n} host(s)", samples, f"{ratio:.1f}x pyinfra, {per_task:.2f} s per operation"))
            figures[f"{engine}/{n}"] = {**spread(samples), "x_pyinfra": round(ratio, 2)}
        if len(counts) > 1:
            fleet = statistics.median(by_count[counts[-1]]) / statistics.median(by_count[1])
            out(f"  {engine}: {counts[-1]} hosts / 1 host = {fleet:.1f}x")
            figures[f"{engine}/fleet_x"] = round(fleet, 2)
    return figures


def task_breakdown(events: list[dict]) -> list[tuple[str, str, str, float]]:
    """(phase, role, task, seconds) from the run's events: a task lasts from its task_start to the next event that
    starts a task or ends a run (for all hosts together, as the person waiting sees it)."""
    marks = [e for e in events if e.get("type") in ("run_start", "task_start", "run_end")]
    spans = []
    phase = ""
    for event, following in itertools.pairwise(marks):
        if event["type"] == "run_start":
            phase = event.get("playbook") or phase
        if event["type"] == "task_start":
            spans.append((phase, event.get("role") or "", event.get("task") or "?", following["ts"] - event["ts"]))
    return spans


def fig_first_up(opts, out: Callable, project: Path) -> dict:
    seconds, result, events = sparkfleet_json(project, "up", "--limit", "lab1")
    out(f"  first up of a fresh host: {seconds:.1f} s wall")
    return {"first_up_s": round(seconds, 1), **breakdown(result, events, out)}


def breakdown(result: dict, events: list[dict], out: Callable) -> dict:
    """A run by phase, by role and by task, the slowest first."""
    for phase in result.get("phases", []):
        out(f"    phase {phase['phase']:<8} {phase['duration_s']:7.1f} s")
    spans = task_breakdown(events)
    by_role: dict[str, float] = defaultdict(float)
    for phase, role, _task, seconds in spans:
        by_role[f"{phase}: {role or '(play)'}"] += seconds
    out("    by role:")
    for name, seconds in sorted(by_role.items(), key=lambda item: -item[1])[:10]:
        out(f"      {seconds:7.1f} s  {name}")
    out("    slowest tasks:")
    slowest = sorted(spans, key=lambda span: -span[3])[:12]
    for phase, role, task, seconds in slowest:
        out(f"      {seconds:7.1f} s  {phase}: {role + ' : ' if role else ''}{task}")
    return {"phases": {p["phase"]: p["duration_s"] for p in result.get("phases", [])},
            "by_role": {name: round(s, 2) for name, s in by_role.items()},
            "slowest_tasks": [[p, r, t, round(s, 2)] for p, r, t, s in slowest]}


def fig_noop_up(opts, out: Callable, project: Path) -> dict:
    ping, up = [], []
    for _ in range(opts.runs):  # interleaved, so that both see the same load
        ping.append(sparkfleet_json(project, "ping", "--limit", "lab1")[0])
        seconds, result, _ = sparkfleet_json(project, "up", "--limit", "lab1")
        if result.get("changed"):
            out("    (that up changed something: not a no-op)")
        up.append(seconds)
    ratio = statistics.median(up) / statistics.median(ping)
    out(row("sparkfleet ping (1 host)", ping))
    out(row("sparkfleet up, nothing to do (1 host)", up, f"{ratio:.1f}x ping; target <= 4x"))
    return {"ping": spread(ping), "noop_up": spread(up), "up_x_ping": round(ratio, 2)}


def fig_status(opts, out: Callable) -> dict:
    with lab(opts.hosts if not opts.smoke else 1, opts.project) as project:
        help_ = subprocess.run([*SPARKFLEET, "status", "--help"], capture_output=True, cwd=project)
        if help_.returncode != 0:
            out("  sparkfleet status: not available in this version")
            return {}
        subprocess.run([*SPARKFLEET, "status"], cwd=project, capture_output=True)  # warms the connections
        samples = [timed([*SPARKFLEET, "status"], cwd=project, check=False) for _ in range(opts.runs)]
        hosts = len(engines.lab_hosts(project))
    out(row(f"sparkfleet status ({hosts} hosts, warm)", samples, "target < 5 s on 4 hosts"))
    return {"status": {**spread(samples), "hosts": hosts}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", default=",".join(FIGURES), help=f"comma-separated, of: {', '.join(FIGURES)}")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median, min, max)")
    parser.add_argument("--hosts", type=int, default=4, help="lab hosts for the fleet figures (the issue used 8)")
    parser.add_argument("--project", type=Path, help="use this project's lab hosts instead of making new ones")
    parser.add_argument("--hosts-named", type=lambda text: text.split(","), metavar="A,B",
                        help="with --project: only these lab hosts for the engines figure")
    parser.add_argument("--smoke", action="store_true", help="one short run of help, engines and status (CI)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--breakdown", type=Path, metavar="NDJSON",
                        help="only print the phase and task breakdown of a saved `sparkfleet --json up` output")
    opts = parser.parse_args()
    if opts.breakdown:
        lines = [json.loads(line) for line in opts.breakdown.read_text().splitlines() if line.startswith("{")]
        summary = lines[-1] if lines and lines[-1].get("type") == "summary" else {}
        breakdown(summary.get("result") or {}, lines, lambda line: print(line, flush=True))
        return
    if opts.smoke:
        opts.runs, opts.hosts, wanted = 1, 1, list(SMOKE_FIGURES)
    else:
        wanted = [f.strip() for f in opts.figures.split(",") if f.strip()]
    unknown = sorted(set(wanted) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    if opts.project:
        opts.project = opts.project.resolve()

    def out(line: str) -> None:
        print(line, flush=True)

    out(f"machine: {machine()}")
    report: dict = {"machine": machine(), "figures": {}}
    served_figures = [f for f in ("first-up", "noop-up") if f in wanted]
    for name in wanted:
        if name in served_figures:
            continue
        out(f"{name} ({load()})")
        report["figures"][name] = {**globals()[f"fig_{name.replace('-', '_')}"](opts, out), "load_before": load()}
        out(f"  ({load()} after)")
    if served_figures:  # one served host for both: the first up is the first-up figure
        with lab(1, opts.project) as project:
            for name in served_figures:
                out(f"{name} ({load()})")
                report["figures"][name] = globals()[f"fig_{name.replace('-', '_')}"](opts, out, project)
                out(f"  ({load()} after)")
    if opts.json:
        opts.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
