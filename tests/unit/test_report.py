"""`sparkfleet report`'s engine on recorded run data (tests/fixtures/report/, the files of docs/run-data.md).

lab/: two lab hosts and four history records: a first `up` whose serve phase failed on lab2, a second `up` that
did everything, a third that changed nothing, and a later `verify`; two bench results per host and the hosts'
state files. spark/: one DGX Spark with a real model and GPU clocks in its bench.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import struct
import sys
from pathlib import Path

import pytest
from helpers import FIXTURES, loaded_in_a_fresh_interpreter
from sparkfleet.core.errors import ProjectError, UsageError
from sparkfleet.report import published_figures as published
from sparkfleet.report.build import build_report, render
from sparkfleet.report.inputs import load
from sparkfleet.report.markdown import delta_pct, fmt_delta

REPORT_FIXTURES = FIXTURES / "report"
NEWEST_UP = "20261126T061500-up-ab12"
SECOND_UP = "20261126T053000-up-9f31"
FAILED_UP = "20261126T050000-up-0c11"


def project(tmp_path: Path, name: str = "lab") -> Path:
    """A copy of a fixture as a project folder (its state/ becomes .sparkfleet/)."""
    root = tmp_path / name
    root.mkdir()
    shutil.copytree(REPORT_FIXTURES / name / "state", root / ".sparkfleet")
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> tuple[Path, Path]:
    """The lab fixture's default report, built once for the tests that only read it: (project, report)."""
    root = project(tmp_path_factory.mktemp("shared"))
    return root, build_report(root, charts=False)


def tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every table of a markdown text as a list of rows, each a dict keyed by the header cells."""
    found, block = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif block:
            header, rows = block[0], block[2:]
            found.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return found


def row(markdown: str, first_header: str, key: str, **must_have_headers) -> dict[str, str]:
    """The row whose first cell is key, in the first table with that first header and those headers."""
    for rows in tables(markdown):
        if rows and next(iter(rows[0])) == first_header and all(h in rows[0] for h in must_have_headers):
            for r in rows:
                if r[first_header] == key:
                    return r
    raise AssertionError(f"no row {key!r} under {first_header!r}")


def section(markdown: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert match, title
    return match.group(1)


def bench(root: Path, host: str, bench_id: str) -> dict:
    return json.loads((root / ".sparkfleet" / "bench" / host / f"{bench_id}.json").read_text())


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        chunks.append((kind, data[offset + 8:offset + 8 + length]))
        offset += 12 + length
    return chunks


# the newest up ------------------------------------------------------------------------------------------
def test_the_default_report_is_of_the_newest_up_not_of_a_later_verify(lab):
    root, path = lab
    assert path == root / "reports" / NEWEST_UP / "report.md"
    text = path.read_text()
    assert text.startswith("# sparkfleet report: `up` of 2026-11-26 06:15 UTC")
    verdict = text.split("\n")[2]
    assert "`up` succeeded: all 2 hosts (lab1 and lab2) are serving `qwen3-vl-tiny`, passed verify and were " \
           "benchmarked" in verdict
    assert f"**Run** `{NEWEST_UP}`" in text and "took **1 min 37 s**" in text
    assert f"**Previous `up`** `{SECOND_UP}`" in text


def test_fleet_rows_carry_the_values_of_the_state_files(lab):
    root, path = lab
    text = path.read_text()
    state = json.loads((root / ".sparkfleet/hosts/lab2/state.json").read_text())
    machine = row(text, "Host", "**lab2**", GPU=1)
    assert machine["OS · arch"] == f"{state['system']['os']} · {state['system']['arch']}"
    assert machine["Memory"] == "23.4 GiB"  # 24000 MiB
    assert machine["GPU"] == "none (CPU only)" and machine["Driver"] == "—" and machine["CUDA"] == "—"
    serving = row(text, "Host", "**lab2**", vLLM=1)
    assert serving["vLLM"] == "0.32.0+cpu (pip)"
    assert serving["Model"] == "`qwen3-vl-tiny` @ `3f9c2a1`"  # the revision, short
    assert serving["API"] == "[127.0.0.1:32781/v1](http://127.0.0.1:32781/v1)"
    assert serving["Endpoint"] == "[127.0.0.1:32782](http://127.0.0.1:32782)"
    assert serving["Dashboard"] == "[127.0.0.1:32782](http://127.0.0.1:32782/)"
    assert serving["Services"] == "vLLM: active, enabled<br>endpoint: active, enabled<br>API key: **off**"


def test_verify_results_per_host_and_check(lab):
    text = section(lab[1].read_text(), "Verify")
    assert "lab1 passed (6 of 7 checks ok, 1 warning)" in text
    assert row(text, "Check", "`vllm_health`") == {"Check": "`vllm_health`", "lab1": "pass", "lab2": "pass"}
    assert row(text, "Check", "`endpoint_api_key`")["lab2"] == "warning"
    assert "*Fix:* Set vault_video_api_key" in text


def test_a_failed_check_shows_its_message_hint_and_journal(tmp_path):
    root = project(tmp_path)
    record_path = root / ".sparkfleet" / "history" / f"{NEWEST_UP}.json"
    record = json.loads(record_path.read_text())
    verify = next(p for p in record["phases"] if p["phase"] == "verify")
    verify["data"]["lab2"]["ok"] = False
    check = verify["data"]["lab2"]["checks"][0]
    check.update(ok=False, message="sparkfleet-vllm-qwen3-vl-tiny is failed", hint="Read its journal.",
                 journal=["Nov 26 06:15:40 lab2 vllm[812]: RuntimeError: ```no``` memory",
                          "Nov 26 06:15:41 lab2 systemd[1]: sparkfleet-vllm-qwen3-vl-tiny.service: Failed"])
    record_path.write_text(json.dumps(record))
    text = build_report(root, charts=False).read_text()
    verify_text = section(text, "Verify")
    assert row(verify_text, "Check", "`vllm_unit`") == {"Check": "`vllm_unit`", "lab1": "pass", "lab2": "**FAIL**"}
    assert "**lab2 · `vllm_unit` failed:** sparkfleet-vllm-qwen3-vl-tiny is failed" in verify_text
    assert "*Fix:* Read its journal." in verify_text
    # the journal in a fence longer than any backtick run inside it
    assert "````text\nNov 26 06:15:40 lab2 vllm[812]: RuntimeError: ```no``` memory\n" in verify_text
    assert "lab1 and lab2 are serving" not in text and "lab1 passed verify but lab2 did not" in text
    assert "lab2 failed verify" in section(text, "Next steps")


def test_bench_tables_carry_the_scenarios(lab):
    root, path = lab
    text = section(path.read_text(), "Bench")
    lab1 = text.split("### lab1")[1].split("### lab2")[0]
    now = bench(root, "lab1", "20261126T061533-lab1-2b2b")
    c16 = next(s for s in now["scenarios"] if s["name"] == "text-c16")
    r = row(lab1, "Scenario", "`text-c16`", Traffic=1)
    assert (r["Traffic"], r["Conc."], r["Requests"]) == ("text", "16", "32")
    assert r["Output tok/s"] == f"{c16['output_throughput']:,.0f}"
    assert r["TTFT ms<br>median / p99"] == f"{c16['ttft_ms']['median']:.0f} / {c16['ttft_ms']['p99']:.0f}"
    assert r["E2EL ms<br>median / p99"] == "1,127 / 1,464"
    assert row(lab1, "Scenario", "`video-c4`", Traffic=1)["Traffic"] == "video (160x120, 8 frames)"
    assert "memory 19.5 GiB available of 23.4 GiB" in lab1 and "no GPU" in lab1
    assert f"Bench `{now['id']}` of 2026-11-26 06:15 UTC (this run)" in lab1


def test_bench_is_compared_with_the_previous_bench_of_the_same_host(lab):
    root, path = lab
    text = path.read_text()
    lab1 = text.split("### lab1")[1].split("### lab2")[0]
    lab2 = text.split("### lab2")[1].split("## Timeline")[0]
    assert "**Against the previous bench** `20261126T053520-lab1-1a1a`" in lab1
    assert "the same model and vLLM unit were served" in lab1
    r1 = row(lab1, "Scenario", "`text-c1`", **{"TTFT median ms": 1})
    assert r1["Output tok/s"] == "80.0 → 88.0 (+10.0 % better)"
    assert r1["TTFT median ms"] == "20.0 → 18.2 (-9.0 % better)"  # lower latency is better
    # every delta is (now - before) / before of the fixture's numbers
    before = {s["name"]: s for s in bench(root, "lab2", "20261126T053520-lab2-1a1a")["scenarios"]}
    for scenario in bench(root, "lab2", "20261126T061533-lab2-2b2b")["scenarios"]:
        old = before[scenario["name"]]
        r = row(lab2, "Scenario", f"`{scenario['name']}`", **{"TTFT median ms": 1})
        delta = (scenario["output_throughput"] - old["output_throughput"]) / old["output_throughput"] * 100
        assert f"({delta:+.1f} % worse)" in r["Output tok/s"]
        tpot = (scenario["tpot_ms"]["median"] - old["tpot_ms"]["median"]) / old["tpot_ms"]["median"] * 100
        assert f"({tpot:+.1f} % worse)" in r["TPOT median ms"]


def test_delta_arithmetic():
    assert delta_pct(88.0, 80.0) == pytest.approx(10.0)
    assert delta_pct(18.2, 20.0) == pytest.approx(-9.0)
    assert delta_pct(5, 0) is None and delta_pct(None, 3) is None and delta_pct(True, 3) is None
    assert fmt_delta(88.0, 80.0, higher_is_better=True) == "+10.0 % better"
    assert fmt_delta(88.0, 80.0, higher_is_better=False) == "+10.0 % worse"
    assert fmt_delta(100.4, 100.0, higher_is_better=True) == "+0.4 %"
    assert fmt_delta(100.0, 100.0, higher_is_better=True) == "±0.0 %"


def test_charts_are_valid_pngs_beside_the_report_and_rebuild_to_the_same_bytes(tmp_path):
    root = project(tmp_path)
    path = build_report(root)
    text = path.read_text()
    names = ["throughput.png", "latency-lab1.png", "latency-lab2.png"]
    first = {}
    for name in names:
        assert f"]({name})" in text  # embedded with a relative link
        data = (path.parent / name).read_bytes()
        assert len(data) > 10_000
        chunks = png_chunks(data)
        assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
        width, height = struct.unpack(">II", chunks[0][1][:8])
        assert width == 900 and 300 <= height <= 1000
        texts = b"".join(body for kind, body in chunks if kind in (b"tEXt", b"iTXt", b"zTXt"))
        assert b"Software" not in texts and b"matplotlib" not in texts.lower()
        first[name] = data
    build_report(root)
    assert {name: (path.parent / name).read_bytes() for name in names} == first


def test_without_charts_the_report_has_no_image_and_says_nothing_of_charts(lab):
    path = lab[1]  # built with charts=False, as every test but the chart tests (drawing costs seconds)
    text = path.read_text()
    assert ".png)" not in text and not list(path.parent.glob("*.png"))
    assert "Charts were not drawn" not in text and "## Data notes" not in text


def test_timeline_with_changes_and_the_previous_run(lab):
    text = section(lab[1].read_text(), "Timeline")
    serve = row(text, "Phase", "**serve**")
    assert serve == {"Phase": "**serve**", "Result": "ok", "Took": "14.2 s", "Previous run": "5 min 1 s",
                     "Changes": "none", "Ansible run": "`20261126T061506-serve-1b02`"}
    assert row(text, "Phase", "**notes**")["Changes"] == "2 on lab1 and lab2 (1 per host)"
    # 412.7 s then, 97.0 s now; the second up changed 10 things in serve (writing notes or a bench result is not
    # a change to how a host is set up)
    assert "took 1 min 37 s, 4.3x faster than the previous `up` (6 min 53 s), with no change to the hosts' setup " \
           "(everything was already in place); the previous one made 10 changes." in text
    assert "- **notes** on lab1 and lab2: `notes` (1): Write state.json" in text


def test_the_second_run_grouped_changes_per_host_and_role(tmp_path):
    root = project(tmp_path)
    text = section(build_report(root, SECOND_UP, charts=False).read_text(), "Timeline")
    assert "- **serve** on lab1: `video_endpoint` (3): Install the app; Write the systemd unit; Start and" in text
    assert "- **serve** on lab2: `venv` (1): Install vLLM (CPU build) · `vllm` (3):" in text
    assert "The previous one made 14 changes and failed in serve" in text.replace("the previous", "The previous")


def test_problems_and_warnings(lab):
    text = section(lab[1].read_text(), "Problems met")
    problem = row(text, "When", "2026-11-26 05:16 UTC")
    assert problem["Host"] == "lab2" and problem["Phase"] == "serve"
    assert problem["Status"] == f"fixed 2026-11-26 05:33 UTC by `{SECOND_UP}`"
    assert problem["Fix"].startswith("gpu_memory_utilization lowered to 0.8")
    assert "lab1: The video endpoint on lab1 listens on 0.0.0.0:8080 without an API key" in text


def test_next_steps_of_a_lab_run(lab):
    steps = section(lab[1].read_text(), "Next steps")
    assert "The video endpoint of lab1 and lab2 takes requests without an API key" in steps
    assert "To go to a real DGX Spark: `sparkfleet host add spark1 --address IP --user USER`" in steps
    assert steps.count("\n1. ") == 1


def test_where_things_are_links_into_the_project(lab):
    path = lab[1]
    text = section(path.read_text(), "Where things are")
    assert "[.sparkfleet/hosts/lab1/NOTES.md](../../.sparkfleet/hosts/lab1/NOTES.md)" in text
    assert "dashboard [127.0.0.1:32772](http://127.0.0.1:32772/)" in text
    assert "[bench](../../.sparkfleet/runs/20261126T061532-bench-1b04)" in text
    for target in re.findall(r"\]\((\.\./[^)]+)\)", text):
        assert (path.parent / target).exists(), target


# lab and spark ------------------------------------------------------------------------------------------
def test_lab_numbers_are_said_not_to_be_comparable_with_a_spark(lab):
    text = lab[1].read_text()
    assert "must not be compared with a Spark's numbers or with published figures" in text
    assert "Against published DGX Spark figures" not in text
    assert all(figure.source not in text for figure in published.FIGURES)


def test_a_spark_report_sets_the_bench_beside_published_figures_with_sources(tmp_path):
    root = project(tmp_path, "spark")
    text = build_report(root, charts=False).read_text()
    assert "must not be compared" not in text
    assert "`up` succeeded: spark1 is serving `qwen3-vl-30b-a3b-instruct-fp8`, passed verify and was benchmarked" \
        in text
    machine = row(text, "Host", "**spark1**", GPU=1)
    assert (machine["GPU"], machine["Driver"], machine["CUDA"]) == ("NVIDIA GB10", "580.95.05", "13.0")
    assert "GPU NVIDIA GB10: SM clock peaked at 2405 MHz of 2418 MHz (idle 208 MHz)" in text
    published_part = text.split("### Against published DGX Spark figures")[1]
    rows = {r["Model"]: r for r in tables(published_part)[0]}
    for figure in published.FIGURES:
        r = rows[figure.label]
        assert (r["Output tok/s"], r["Source"], r["Sparks"]) == (f"{figure.output_tok_s:g}", figure.source,
                                                                 str(figure.sparks))
    assert rows["Qwen3-VL-32B FP8"]["Setup"] == "4 Sparks, tensor parallel 4 (closest to this run)"
    assert (rows["Qwen3-VL-32B FP8"]["TTFT ms"], rows["Qwen3-VL-32B FP8"]["TPOT ms"]) == ("83.9", "51.95")
    assert row(published_part, "Setup", "**spark1**, this run (`text-c1`)")["Output tok/s"] == "42.8"
    assert "NVIDIA developer forum, thread 354399" in published_part and "lyb.re, 2026-03-10" in published_part
    # 42.8 against 19.15: +123 %
    assert "42.8 output tok/s against 19.15 tok/s published for Qwen3-VL-32B FP8" in published_part
    assert "+123 %" in published_part and "mixture of experts" in published_part


def test_published_figures_and_the_closest_one():
    assert {f.source for f in published.FIGURES} == {"NVIDIA developer forum, thread 354399", "lyb.re, 2026-03-10",
                                                     "NVIDIA blog"}
    assert published.closest("qwen3-vl-32b-instruct-fp8").output_tok_s == 19.15
    assert published.closest("qwen3-vl-8b-instruct").family == "qwen3-vl"
    assert published.closest("some-other-model") is None
    assert published.model_size_b("qwen3-vl-30b-a3b-instruct-fp8") == 30


# a failed up --------------------------------------------------------------------------------------------
def test_a_failed_up_says_which_phase_failed_why_and_what_was_not_reached(tmp_path):
    root = project(tmp_path)
    text = build_report(root, FAILED_UP, charts=False).read_text()
    verdict = text.split("\n")[2]
    assert "**`up` failed in the serve phase on lab2.**" in verdict
    assert "Free memory on device (3.1/23.4 GiB) on startup is less than desired" in verdict
    assert "Done before it: doctor. Not reached: verify and bench. The notes phase still recorded the run on the " \
           "hosts." in verdict
    timeline = section(text, "Timeline")
    results = [(r["Phase"], r["Result"]) for r in tables(timeline)[0]]
    assert results == [("**doctor**", "ok"), ("**serve**", "**FAILED**"), ("**verify**", "not reached"),
                       ("**bench**", "not reached"), ("**notes**", "ok")]
    problems = section(text, "Problems met")
    assert "**serve** · lab2 · `vllm : Wait for /health` failed: vLLM did not answer /health" in problems
    assert "*Fix:* Lower vllm_gpu_memory_utilization" in problems
    steps = section(text, "Next steps")
    assert "1. Fix the serve failure on lab2: Lower vllm_gpu_memory_utilization" in steps
    assert "`journalctl -u sparkfleet-vllm-qwen3-vl-tiny.service -n 100` on lab2" in steps
    assert "Run `sparkfleet up` again: what is already in place is not redone, and it goes on with verify and " \
           "bench." in steps
    # what the files say about later times is not this run's
    assert "The bench was not reached in this run, and no host has an earlier bench result." in text
    assert "Verify was not reached in this run." in text
    assert "written **after** this run" in section(text, "Fleet")


def test_a_failed_up_that_is_the_newest_is_the_default_and_latest(tmp_path):
    root = project(tmp_path)
    for later in (SECOND_UP, NEWEST_UP, "20261126T062000-verify-77aa"):
        (root / ".sparkfleet" / "history" / f"{later}.json").unlink()
    shutil.rmtree(root / ".sparkfleet" / "bench")
    for host in ("lab1", "lab2"):  # the state as the failed run left it: no notes phase, so none
        (root / ".sparkfleet" / "hosts" / host / "state.json").unlink()
    path = build_report(root)
    assert path.parent.name == FAILED_UP
    text = path.read_text()
    assert "failed in the serve phase on lab2" in text
    assert os.readlink(root / "reports" / "latest.md") == f"{FAILED_UP}/report.md"
    # the machines come from the doctor's facts when no state file exists
    machine = row(text, "Host", "**lab1**", GPU=1)
    assert machine["OS · arch"] == "Debian 12 · x86_64" and machine["GPU"] == "none (CPU only)"
    assert "the doctor's facts (no state file yet)" in text
    assert not list(path.parent.glob("*.png"))  # no bench, no charts


# latest, missing and broken data ------------------------------------------------------------------------
def test_latest_points_to_the_newest_report_whatever_was_built_last(tmp_path):
    root = project(tmp_path)
    newest = build_report(root, charts=False)
    build_report(root, SECOND_UP, charts=False)
    latest = root / "reports" / "latest.md"
    assert latest.is_symlink() and os.readlink(latest) == f"{NEWEST_UP}/report.md"  # relative
    assert latest.read_text() == newest.read_text()
    verify = build_report(root, "20261126T062000-verify-77aa", charts=False)
    assert os.readlink(latest) == "20261126T062000-verify-77aa/report.md"
    assert "# sparkfleet report: `verify` of" in verify.read_text()


def test_with_no_run_recorded_the_report_comes_from_state_and_bench_files(tmp_path):
    root = project(tmp_path)
    shutil.rmtree(root / ".sparkfleet" / "history")
    path = build_report(root, charts=False)
    assert path == root / "reports" / "no-run" / "report.md"
    text = path.read_text()
    assert "**No run is recorded in this project yet**" in text
    assert row(text, "Host", "**lab1**", vLLM=1)["vLLM"] == "0.32.0+cpu (pip)"
    assert "Bench `20261126T061533-lab1-2b2b` of 2026-11-26 06:15 UTC (the newest)" in text
    assert "1. Provision the hosts and record a run: `sparkfleet up`." in text
    assert os.readlink(root / "reports" / "latest.md") == "no-run/report.md"


def test_an_empty_project_still_gets_a_report(tmp_path):
    root = tmp_path / "empty"
    (root / ".sparkfleet").mkdir(parents=True)
    text = build_report(root, charts=False).read_text()
    assert "No host has state or bench files either" in text
    assert "No bench results yet. Run `sparkfleet bench`" in text


def test_broken_and_partial_inputs_are_left_out_and_named(tmp_path):
    root = project(tmp_path)
    state_dir = root / ".sparkfleet"
    (state_dir / "bench" / "lab1" / "20261126T061533-lab1-2b2b.json").write_text("{not json")
    (state_dir / "hosts" / "lab2" / "state.json").write_text("[]")
    (state_dir / "history" / "20261126T070000-up-zzzz.json").write_text(
        json.dumps({"id": "20261126T070000-up-zzzz", "command": "up", "started_at": "2026-11-26T07:00:00Z",
                    "hosts": ["lab1", "../etc", 3], "phases": [{"phase": "serve", "ok": None}, "junk"]}))
    (state_dir / "history" / "garbage.json").write_bytes(b"\xff\xfe")
    path = build_report(root, charts=False)
    assert path.parent.name == "20261126T070000-up-zzzz"
    text = path.read_text()
    assert "## Data notes" in text
    assert "`.sparkfleet/history/garbage.json` could not be read" in text
    assert "../etc" not in text
    # lab1's bench of this run is unreadable: the bench the record names is missing, the earlier one is shown
    assert "20261126T053520-lab1-1a1a" in text
    text = build_report(root, NEWEST_UP, charts=False).read_text()
    assert "`.sparkfleet/hosts/lab2/state.json` does not hold a JSON object" in text
    assert "the bench file this run wrote, `.sparkfleet/bench/lab1/20261126T061533-lab1-2b2b.json`, is missing" \
        in text


def _json_paths(data, prefix=()):
    yield prefix
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        yield from _json_paths(value, (*prefix, key))


def test_fields_of_the_wrong_type_never_cost_the_report(tmp_path):
    """Seeded damage: in each copy, a few fields of a few files get a value of another type."""
    rng = random.Random(7)
    wrong = [None, 5, "x", [], {}, True, "", [1, "a"], {"a": 1}, -1.5]
    for n in range(20):
        (tmp_path / str(n)).mkdir()
        root = project(tmp_path / str(n), rng.choice(["lab", "spark"]))
        files = [f for f in (root / ".sparkfleet").rglob("*.json") if "runs" not in f.parts]
        for path in rng.sample(files, k=rng.randint(1, 3)):
            data = json.loads(path.read_text())
            paths = [k for k in _json_paths(data) if k]
            for keys in rng.sample(paths, k=min(3, len(paths))):
                target = data
                try:  # an earlier change in this file may have cut the path
                    for key in keys[:-1]:
                        target = target[key]
                    target[keys[-1]] = rng.choice(wrong)
                except (KeyError, IndexError, TypeError):
                    continue
            path.write_text(json.dumps(data))
        text = build_report(root, charts=False).read_text()
        assert text.startswith("# sparkfleet report") and "## Next steps" in text


def test_only_an_unreadable_project_or_an_unknown_run_raises(tmp_path):
    with pytest.raises(ProjectError):
        build_report(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ProjectError):
        build_report(tmp_path / "plain")
    root = project(tmp_path)
    with pytest.raises(UsageError) as error:
        build_report(root, "20990101T000000-up-0000")
    assert NEWEST_UP in error.value.hint
    with pytest.raises(UsageError):
        build_report(root, "../../etc/passwd")


def test_the_sections_are_pure_functions_of_the_inputs(tmp_path):
    root = project(tmp_path)
    written = build_report(root, NEWEST_UP, charts=False)
    inputs = load(root, NEWEST_UP)
    text = written.read_text()
    assert render(inputs, written.parent, {}, []) == text
    shutil.rmtree(root)  # nothing is read once the inputs are loaded
    assert render(inputs, written.parent, {}, []) == text


def test_importing_the_report_does_not_import_matplotlib():
    assert loaded_in_a_fresh_interpreter("import sparkfleet.report.build", {"matplotlib"}) == set()


def test_a_run_that_stopped_between_phases_and_a_clock_warning(tmp_path):
    root = project(tmp_path, "spark")
    record_path = next((root / ".sparkfleet" / "history").glob("*.json"))
    original = record_path.read_text()
    record = json.loads(original)
    record.update(ok=False, exit_code=130, error="Interrupted; whatever was half-done was cleaned up.")
    record["phases"] = record["phases"][:2]
    record_path.write_text(json.dumps(record))
    bench_path = next((root / ".sparkfleet" / "bench" / "spark1").glob("*.json"))
    data = json.loads(bench_path.read_text())
    data["warnings"] = ["GPU clocks peaked at 820 MHz of 2418 under load"]
    bench_path.write_text(json.dumps(data))
    text = build_report(root, charts=False).read_text()
    assert "**`up` did not finish.** Error: Interrupted; whatever was half-done was cleaned up." in text
    assert "Not reached: verify, bench and notes." in text  # notes too: the run stopped before it
    steps = section(text, "Next steps")
    assert "The run did not finish (Interrupted; whatever was half-done was cleaned up.)" in steps
    # the bench of an earlier run is shown as such, and its clock warning is not this run's
    assert "(an earlier run; this run did not bench)" in text
    assert "> **Warning:** GPU clocks peaked at 820 MHz" in text
    assert "power supply" not in steps
    # the same warning from this run's bench: a next step about the power supply
    record_path.write_text(original)
    text = build_report(root, charts=False).read_text()
    assert "spark1: GPU clocks peaked at 820 MHz of 2418 under load" in section(text, "Problems met")
    assert "The GPU clocks of spark1 stayed low under load: check the power supply" in section(text, "Next steps")


def test_without_matplotlib_the_report_is_written_without_charts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    path = build_report(project(tmp_path))
    text = path.read_text()
    assert "Charts were not drawn" in section(text, "Data notes") and "install matplotlib" in text
    assert ".png)" not in text and not list(path.parent.glob("*.png"))
    assert "| `text-c1` | text | 1 | 8 |" in text  # the tables are all there
