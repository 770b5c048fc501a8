"""Controller-side bench results: load, a host's newest first, and the human table (on a real lab result)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sparkfleet.cli.output import bench_text
from sparkfleet.core.bench_results import latest_bench, load_bench
from sparkfleet.core.project import Project

FIXTURE = next((Path(__file__).resolve().parents[1] / "fixtures" / "bench-result-lab").glob("*.json"))


def place(state_dir: Path, host: str, result: dict) -> Path:
    path = state_dir / "bench" / host / f"{result['id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return path


def test_load_reads_a_result_and_refuses_what_is_not_one(tmp_path):
    result = load_bench(FIXTURE)
    assert result["schema"] == 1 and result["host"] == "lab1" and len(result["scenarios"]) == 4
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="not a bench result"):
        load_bench(tmp_path / "list.json")


def test_latest_is_newest_first_for_that_host_only_and_skips_broken_files(tmp_path):
    result = load_bench(FIXTURE)
    older = {**result, "id": "20261125T000000-lab1-0000", "started_at": "2026-11-25T00:00:00Z"}
    place(tmp_path / ".sparkfleet", "lab1", older)
    place(tmp_path / ".sparkfleet", "lab1", result)
    place(tmp_path / ".sparkfleet", "lab2", {**result, "host": "lab2", "id": "20261127T000000-lab2-0000"})
    (tmp_path / ".sparkfleet" / "bench" / "lab1" / "broken.json").write_text("{")
    assert [r["id"] for r in latest_bench(Project(tmp_path), "lab1")] == [result["id"], older["id"]]
    assert latest_bench(Project(tmp_path), "nohost") == []


def test_text_is_a_table_of_every_scenario_with_the_warnings_after_it():
    result = load_bench(FIXTURE)
    out = bench_text([result]).splitlines()
    assert out[0].split() == ["host", "scenario", "ok", "req/s", "out", "tok/s", "TTFT", "p50", "TTFT", "p99",
                              "TPOT", "p50", "ITL", "p50", "E2EL", "p50"]
    rows = [line.split() for line in out[1:5]]
    assert [r[:3] for r in rows] == [["lab1", "text-c1", "4/4"], ["lab1", "text-c2", "8/8"],
                                     ["lab1", "video-c1", "4/4"], ["lab1", "video-c2", "8/8"]]
    first = result["scenarios"][0]
    assert rows[0][3:6] == [f"{first['request_throughput']:.2f}", f"{first['output_throughput']:.1f}",
                            f"{first['ttft_ms']['median']:.1f}"]
    warned = {**result, "warnings": ["GPU clocks peaked at 845 MHz of 2418 under load"]}
    assert bench_text([warned]).splitlines()[-1] == (
        f"WARNING lab1 ({result['id']}): GPU clocks peaked at 845 MHz of 2418 under load")


def test_text_tells_two_results_of_one_host_apart_and_shows_missing_numbers_as_dashes():
    result = load_bench(FIXTURE)
    failed = {**result, "id": "20261125T000000-lab1-0000",
              "scenarios": [{**result["scenarios"][0], "completed": 0, "request_throughput": None,
                             "ttft_ms": {"mean": None, "median": None, "p99": None}}]}
    lines = bench_text([result, failed]).splitlines()
    assert lines[0].split()[:3] == ["host", "result", "scenario"]
    assert lines[5].split()[:5] == ["lab1", "20261125T000000-lab1-0000", "text-c1", "0/4", "-"]
    assert bench_text([]) == "No bench results."
