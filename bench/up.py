"""Figures for the whole `sparkfleet up` on a fresh Debian 12 lab host: each phase's time, first run and second run.

Prints the figures; it is a measurement, not a test. Run: .venv/bin/python bench/up.py [--runs N]
The second and later runs change nothing on the host (the bench phase is skipped while what is served is the same).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from labhost import SPARKFLEET, lab_host


def up(project) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run([*SPARKFLEET, "--json", "up"], cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = json.loads(proc.stdout.splitlines()[-1])
    if proc.returncode != 0:
        raise SystemExit(f"up failed (exit {proc.returncode}): {summary['result'] and summary['result']['error']}")
    return seconds, summary["result"]


def phases_line(result: dict) -> str:
    return ", ".join(f"{p['phase']} {p['duration_s']:.1f} s" for p in result["phases"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="how many runs after the first")
    args = parser.parse_args()
    with lab_host() as (project, _host):
        first, result = up(project)
        print(f"first up on a bare Debian 12 lab host: {first:.1f} s wall ({phases_line(result)})")
        again = []
        for _ in range(args.runs):
            seconds, result = up(project)
            assert result["changed"] is False, "a later up changed the host"
            again.append(seconds)
            print(f"  later up (no change, bench skipped): {seconds:.1f} s ({phases_line(result)})")
        median = statistics.median(again)
        print(f"later up median {median:.1f} s over {len(again)}; first/later = {first / median:.1f}x")
        for command in (["verify"], ["bench"], ["report"]):
            started = time.perf_counter()
            subprocess.run([*SPARKFLEET, *command], cwd=project, check=True, capture_output=True)
            print(f"sparkfleet {command[0]}: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
