"""The bench for real on a Debian 12 lab host: `vllm bench serve` (vLLM's CPU build, the tiny Qwen3-VL) with text
and video traffic at the lab's concurrencies, results fetched to the controller, listed by the dashboard.

Uses the session's `served` host; the lab defaults keep a bench near half a minute (mostly `vllm bench serve`
starting once per scenario).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import on_host, run_sparkfleet
from sparkfleet.core.bench_results import latest_bench, load_bench
from sparkfleet.core.project import Project

pytestmark = pytest.mark.lab
LAB_SCENARIOS = ["text-c1", "text-c2", "video-c1", "video-c2"]


def bench(served: dict, *args: str) -> tuple[dict, float]:
    started = time.monotonic()
    result = run_sparkfleet("--json", "bench", *args, cwd=served["project"], timeout=900)
    elapsed = time.monotonic() - started
    assert result.code == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.summary["result"], elapsed


@pytest.fixture(scope="module")
def two_runs(served):
    """Two benches in a row (bench_when: always), each a new result."""
    first, first_s = bench(served)
    second, second_s = bench(served)
    print(f"bench phase on the lab: {first['phases'][0]['duration_s']:.1f} s and "
          f"{second['phases'][0]['duration_s']:.1f} s (command {first_s:.1f} s, {second_s:.1f} s)")
    return first, second


def test_each_host_gets_a_result_with_every_scenario_complete_fetched_to_the_controller(served, two_runs):
    first, _ = two_runs
    assert first["bench"], first
    for host, entry in first["bench"].items():
        assert entry["skipped"] is None and entry["file"] == f".sparkfleet/bench/{host}/{entry['id']}.json"
        result = load_bench(served["project"] / entry["file"])
        assert (result["schema"], result["id"], result["host"], result["profile"]) == (1, entry["id"], host, "lab")
        assert result["model"] == "qwen3-vl-tiny" and result["vllm_version"].endswith("+cpu")
        assert len(result["serving_key"]) == 64 and isinstance(result["seed"], int)
        assert result["conditions"]["gpu"] is None and result["conditions"]["memory_available_mib"] > 0
        assert [s["name"] for s in result["scenarios"]] == LAB_SCENARIOS
        for scenario in result["scenarios"]:
            assert scenario["completed"] == scenario["num_prompts"] and scenario["failed"] == 0, scenario
            assert scenario["request_throughput"] > 0 and scenario["output_throughput"] > 0
            for metric in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
                assert scenario[metric]["p99"] >= scenario[metric]["median"] > 0, (scenario["name"], metric)
        assert result["scenarios"][2]["video"] == {"width": 160, "height": 120, "frames": 8}
        # the controller's copy is the host's file
        on_host_copy = on_host(served, "cat", f"/var/lib/sparkfleet/bench/{entry['id']}.json")
        assert json.loads(on_host_copy.stdout) == result
        mode = on_host(served, "stat", "-c", "%a %U", f"/var/lib/sparkfleet/bench/{entry['id']}.json").stdout
        assert mode.split() == ["644", "root"]


def test_a_second_bench_is_a_new_file_with_a_new_seed_for_the_same_serving_key(served, two_runs):
    first, second = two_runs
    for host, entry in second["bench"].items():
        before = load_bench(served["project"] / first["bench"][host]["file"])
        after = load_bench(served["project"] / entry["file"])
        assert after["id"] != before["id"] and after["seed"] != before["seed"]
        assert after["serving_key"] == before["serving_key"]
        assert [r["id"] for r in latest_bench(Project(served["project"]), host)][:2] == [
            after["id"], before["id"]]


def test_if_missing_skips_a_host_with_a_result_for_what_it_serves(served, two_runs):
    _, second = two_runs
    files_before = set((served["project"] / ".sparkfleet" / "bench").rglob("*.json"))
    skipped, elapsed = bench(served, "--if-missing")
    for host, entry in skipped["bench"].items():
        assert entry["file"] is None and entry["id"] == second["bench"][host]["id"]
        assert entry["skipped"].startswith("a result for what is served already exists")
    assert skipped["phases"][0]["changed"] is False
    assert set((served["project"] / ".sparkfleet" / "bench").rglob("*.json")) == files_before
    print(f"bench --if-missing with a result: {elapsed:.1f} s")


def test_the_dashboard_lists_the_results(served, two_runs):
    with urllib.request.urlopen(served["endpoint"] + "/api/bench", timeout=30) as response:
        listed = json.loads(response.read())["results"]
    ids = [entry["result"]["id"] for entry in listed if entry["result"]]
    for run in two_runs:
        for entry in run["bench"].values():
            assert entry["id"] in ids
    newest = next(e for e in listed if e["result"])
    assert newest["result"]["id"] == next(iter(two_runs[1]["bench"].values()))["id"]


def test_the_dashboard_bench_tab_shows_a_table_per_result_in_a_real_browser(served, two_runs, tmp_path):
    pytest.importorskip("playwright")
    from e2e.dashboard_driver import CHROMIUM_ARGS, chromium_path
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if not exe:
        pytest.skip("no Chromium (apt-get install -y chromium)")
    newest = next(iter(two_runs[1]["bench"].values()))["id"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(served["endpoint"] + "/#bench")
            run = page.locator(f'[data-testid="bench-run"][data-bench-id="{newest}"]')
            run.wait_for(timeout=15_000)
            rows = run.locator('[data-testid="bench-row"]')
            assert [rows.nth(i).get_attribute("data-scenario") for i in range(rows.count())] == LAB_SCENARIOS
            headers = run.locator("th").all_inner_texts()
            assert {"traffic", "concurrency", "req/s", "output tok/s", "TTFT p50 ms", "E2EL p99"} <= set(headers)
            page.screenshot(path=str(tmp_path / "bench.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()


def test_a_bench_against_a_vllm_that_does_not_answer_fails_with_what_to_do(served):
    from sparkfleet.core.project import Project
    from sparkfleet.core.runner import run_playbook

    # the describe facts follow vllm_port, so this points the bench at a port where nothing listens
    result = run_playbook(Project(Path(served["project"])), "bench", emit=lambda event: None,
                          extravars={"bench_when": "always", "vllm_port": 9})
    (failure,) = result.failures
    assert failure["message"].startswith("vLLM does not answer at http://127.0.0.1:9/health")
    assert "journalctl -u sparkfleet-vllm-qwen3-vl-tiny" in failure["message"]
