"""Bench results fetched to the controller (`.sparkfleet/bench/<host>/<id>.json`, schema in docs/run-data.md):
read them, find a host's newest, and render them as a table for people."""

from __future__ import annotations

import json
from pathlib import Path

from sparkfleet.output import format_table

BENCH_DIRNAME = "bench"


def load(path: str | Path) -> dict:
    """One result file. Raises OSError or ValueError when it cannot be read as a JSON object."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a bench result (a JSON object)")
    return data


def latest(project_state_dir: str | Path, host: str) -> list[dict]:
    """A host's results, newest first (by start time, then id); unreadable files are left out."""
    folder = Path(project_state_dir) / BENCH_DIRNAME / host
    results = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            results.append(load(path))
        except (OSError, ValueError):
            continue
    results.sort(key=lambda r: (str(r.get("started_at") or ""), str(r.get("id") or "")), reverse=True)
    return results


def _num(value: object, digits: int) -> str | None:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ms(scenario: dict, metric: str, stat: str) -> str | None:
    return _num((scenario.get(f"{metric}_ms") or {}).get(stat), 1)


def text(results: list[dict]) -> str:
    """Every scenario of every result as one table (latencies in ms), then the results' warnings."""
    if not results:
        return "No bench results."
    hosts = [r.get("host") for r in results]
    several = len(hosts) != len(set(hosts))  # a host with two results: tell them apart by id
    headers = ["host", *(["result"] if several else []), "scenario", "ok", "req/s", "out tok/s", "TTFT p50",
               "TTFT p99", "TPOT p50", "ITL p50", "E2EL p50"]
    rows = []
    for result in results:
        for sc in result.get("scenarios") or []:
            rows.append([
                result.get("host"), *([result.get("id")] if several else []), sc.get("name"),
                f"{sc.get('completed', 0)}/{sc.get('num_prompts', '?')}",
                _num(sc.get("request_throughput"), 2), _num(sc.get("output_throughput"), 1),
                _ms(sc, "ttft", "median"), _ms(sc, "ttft", "p99"), _ms(sc, "tpot", "median"),
                _ms(sc, "itl", "median"), _ms(sc, "e2el", "median"),
            ])
    lines = [format_table(headers, rows), "(latencies in ms)"]
    for result in results:
        lines += [f"WARNING {result.get('host')} ({result.get('id')}): {w}" for w in result.get("warnings") or []]
    return "\n".join(lines)
