"""Figures for fleet rollouts (docs/fleet.md) on a project whose lab hosts already serve (after `sparkfleet up`):
a no-op `up` on 1, 2 and 4 hosts, and the rollout of a vLLM flag change (`upgrade --batches 1,100%`) on all of them.

Prints the figures; it is a measurement, not a test. Run from the project folder, or give it:
    .venv/bin/python bench/rollout.py --project /tmp/p [--runs 2]
The flag change sets vllm_max_num_seqs in inventory/group_vars/all/bench_flags.yml to 3, then back (each a rollout
timed); the file is removed at the end, so the hosts serve as before.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

SPARKFLEET = [str(Path(sys.executable).parent / "sparkfleet")]


def sparkfleet(project: Path, *args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run([*SPARKFLEET, "--json", *args], cwd=project, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    summary = json.loads(proc.stdout.splitlines()[-1])
    if proc.returncode != 0:
        raise SystemExit(f"sparkfleet {' '.join(args)} failed (exit {proc.returncode}): "
                         f"{(summary.get('result') or {}).get('error') or summary.get('error')}")
    return seconds, summary["result"]


def batches_line(result: dict) -> str:
    parts = []
    for batch in result["rollout"]["batches"]:
        phases = ", ".join(f"{p['phase']} {p['duration_s']:.1f}" for p in batch["phases"])
        parts.append(f"batch {batch['number']} ({len(batch['hosts'])} hosts) {batch['duration_s']:.1f} s: {phases}")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--runs", type=int, default=2, help="no-op runs per host count")
    args = parser.parse_args()
    project = args.project.resolve()
    status = json.loads(subprocess.run([*SPARKFLEET, "--json", "lab", "status"], cwd=project, capture_output=True,
                                       text=True, check=True).stdout.splitlines()[-1])
    hosts = [h["name"] for h in status["result"]["hosts"] if h["state"] == "running"]
    print(f"{len(hosts)} lab hosts serving: {', '.join(hosts)}")

    for count in [n for n in (1, 2, 4) if n <= len(hosts)]:
        limit = ",".join(hosts[:count])
        samples = []
        for _ in range(args.runs):
            seconds, result = sparkfleet(project, "up", "--limit", limit)
            assert result["changed"] is False, "a no-op up changed a host: serve the hosts first"
            samples.append(seconds)
        print(f"no-op up on {count} host{'s' * (count > 1)}: median {statistics.median(samples):.1f} s over "
              f"{len(samples)} ({', '.join(f'{s:.1f}' for s in samples)})")

    flags = project / "inventory" / "group_vars" / "all" / "bench_flags.yml"
    try:
        for value in (3, 4):
            flags.write_text(f"---\n# bench/rollout.py: a flag change to roll out (removed at the end)\n"
                             f"vllm_max_num_seqs: {value}\n")
            seconds, result = sparkfleet(project, "upgrade", "--batches", "1,100%")
            assert result["changed"] is True, "the flag change changed nothing"
            print(f"flag change (max_num_seqs -> {value}) rolled out on {len(hosts)} hosts in batches 1,100%: "
                  f"{seconds:.1f} s wall ({batches_line(result)})")
    finally:
        flags.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
