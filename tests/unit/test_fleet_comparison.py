"""The fleet comparison on real bench result shapes (the lab fixture written by the bench role), with each host's
figures scaled and its rounds spread apart to make fast, slow and noisy hosts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sparkfleet.core.bench_results import parse_bench_result
from sparkfleet.report.comparison import HEADERS, compare, comparison_rows, rounds_of

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures/bench-result-lab/20261126T061541-lab1-a1a0.json")
                     .read_text())


def result(host: str, started: str, scale: float, serving_key: str = "k1", duration: float = 30.0):
    """The fixture as `host`'s round started at `started` (HH:MM:SS), every output tokens/s times `scale`."""
    raw = copy.deepcopy(FIXTURE)
    raw.update(host=host, id=f"{started}-{host}", started_at=f"2026-11-26T{started}Z", serving_key=serving_key,
               duration_s=duration)
    for scenario in raw["scenarios"]:
        scenario["output_throughput"] *= scale
        scenario["ttft_ms"]["median"] /= scale
    return parse_bench_result(raw)


def serial_rounds(host: str, scales: list[float], offset: int) -> list:
    """One round per hour, hosts minutes apart: never at the same time."""
    return [result(host, f"{hour:02d}:{offset:02d}:00", scale) for hour, scale in enumerate(scales, start=1)]


def test_a_host_clearly_ahead_in_every_scenario_is_named_fastest_with_its_margin():
    done = compare({"spark1": serial_rounds("spark1", [1.00, 1.02, 0.99], 0),
                    "spark2": serial_rounds("spark2", [1.30, 1.28, 1.31], 10)})
    assert [s.name for s in done.scenarios] == ["text-c1", "text-c2", "video-c1", "video-c2"]
    assert all(s.clear_winner == "spark2" for s in done.scenarios)
    text_c1 = done.scenarios[0]
    assert [f.host for f in text_c1.ranked] == ["spark2", "spark1"]
    assert text_c1.ranked[0].output_tok_s.rounds == 3
    assert round(text_c1.ranked[0].output_tok_s.median, 1) == round(354.756 * 1.30, 1)
    assert text_c1.ranked[0].ttft_ms.median < text_c1.ranked[1].ttft_ms.median
    assert "spark2 is fastest, 30% more output tokens/s than spark1" in text_c1.verdict
    assert done.summary.startswith("Fastest: spark2, clearly ahead in 4 of 4 scenarios.")
    assert "same time" not in done.summary


def test_overlapping_rounds_are_within_noise_even_when_the_medians_differ():
    done = compare({"spark1": serial_rounds("spark1", [1.00, 1.20, 0.90], 0),
                    "spark2": serial_rounds("spark2", [1.08, 1.10, 1.06], 10)})
    assert all(s.clear_winner is None for s in done.scenarios)
    assert "spark2 and spark1 are within noise" in done.scenarios[0].verdict
    assert "rounds overlap" in done.scenarios[0].verdict
    assert done.summary.startswith("No host is clearly fastest")


def test_one_round_each_counts_small_differences_as_noise_and_says_the_spread_is_unknown():
    close = compare({"a": serial_rounds("a", [1.00], 0), "b": serial_rounds("b", [1.03], 10)})
    assert close.scenarios[0].clear_winner is None
    assert "spread is unknown" in close.scenarios[0].verdict
    far = compare({"a": serial_rounds("a", [1.00], 0), "b": serial_rounds("b", [1.50], 10)})
    assert far.scenarios[0].clear_winner == "b"


def test_hosts_benched_at_the_same_time_on_one_machine_are_flagged():
    done = compare({"lab1": [result("lab1", "06:15:41", 1.0)], "lab2": [result("lab2", "06:15:50", 1.5)]},
                   lab_hosts=["lab1", "lab2"])
    assert done.at_same_time == [("lab1", "lab2")]
    assert "lab1 and lab2 were benched at the same time" in done.summary
    assert "--fleet-mode serial" in done.summary
    assert "lab stand-ins on one machine" in done.summary


def test_rounds_are_the_newest_results_of_the_newest_serving_key():
    old = result("a", "01:00:00", 9.0, serving_key="before-the-flag-change")
    new = [result("a", f"0{h}:00:00", 1.0, serving_key="now") for h in range(2, 9)]
    picked = rounds_of([old, *new])
    assert len(picked) == 5 and all(r.serving_key == "now" for r in picked)
    assert picked[0].started_at == "2026-11-26T08:00:00Z"


def test_failed_scenarios_are_left_out_and_a_single_host_has_nothing_to_compare():
    raw = copy.deepcopy(FIXTURE)
    raw["scenarios"][0].update(failed=4, error="timed out")
    done = compare({"lab1": [parse_bench_result(raw)], "lab2": []})
    assert done.summary.startswith("Nothing to compare")
    assert [s.name for s in done.scenarios if not s.ranked] == ["text-c1"]


def test_rows_show_median_and_range_per_scenario_and_host():
    done = compare({"a": serial_rounds("a", [1.0, 1.1], 0), "b": serial_rounds("b", [2.0, 2.2], 10)})
    rows = comparison_rows(done)
    assert len(HEADERS) == len(rows[0])
    assert rows[0][:3] == ["text-c1", "1", "b"]
    assert "2 rounds" in rows[0][3] and "-" in rows[0][3]


def test_the_report_ranks_the_fleet_from_the_recorded_lab_run(tmp_path):
    """The report fixture: lab1 and lab2 benched together twice with the same serving key."""
    import shutil

    from sparkfleet.report.build import build_report

    root = tmp_path / "lab"
    shutil.copytree(Path(__file__).parents[1] / "fixtures/report/lab/state", root / ".sparkfleet")
    report = build_report(root, charts=False).read_text()
    part = report.split("## Fleet comparison\n")[1].split("\n## ")[0]
    assert "Fastest: lab1, clearly ahead in 5 of 5 scenarios." in part
    assert "lab1 and lab2 were benched at the same time" in part
    assert "lab1 2, lab2 2" in part  # rounds per host
    assert "| text-c1 | 1 | lab1 | 84.0 (80.0-88.0, 2 rounds) |" in part
    assert "- video-c4: lab1 is fastest, 12% more output tokens/s than lab2" in part


def test_a_report_with_one_benched_host_has_no_comparison(tmp_path):
    import shutil

    from sparkfleet.report.build import build_report

    root = tmp_path / "spark"
    shutil.copytree(Path(__file__).parents[1] / "fixtures/report/spark/state", root / ".sparkfleet")
    assert "## Fleet comparison" not in build_report(root, charts=False).read_text()


def test_bench_output_gives_the_comparison_as_text_and_as_data(tmp_path):
    """What `sparkfleet bench` prints and puts in its --json result, from the project's bench files."""
    from sparkfleet.cli.output import fleet_comparison
    from sparkfleet.core.project import Project

    project = Project(tmp_path)
    for host, scale, started in (("lab1", 1.0, "06:15:41"), ("lab2", 1.5, "07:15:41")):
        raw = copy.deepcopy(FIXTURE)
        raw.update(host=host, id=f"r-{host}", started_at=f"2026-11-26T{started}Z")
        for scenario in raw["scenarios"]:
            scenario["output_throughput"] *= scale
        (project.bench_dir / host).mkdir(parents=True)
        (project.bench_dir / host / f"r-{host}.json").write_text(json.dumps(raw))
    text, data = fleet_comparison(project, ["lab1", "lab2"])
    assert "text-c1: lab2 is fastest, 50% more output tokens/s than lab1" in text
    assert data["scenarios"][0]["ranked"][0]["host"] == "lab2" and data["rounds"] == {"lab1": 1, "lab2": 1}
    assert data["at_same_time"] == [] and data["shared_machine"] == ["lab1", "lab2"]
    json.dumps(data)  # plain data for --json
