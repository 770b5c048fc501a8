"""vllm_bench module: scenarios, the `vllm bench serve` command line, and vLLM's result -> sparkfleet's schema.

The vLLM results are real files recorded on a lab host (tests/fixtures/vllm-bench-lab/README.md says how).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from ansible_collections.sparkfleet.spark.plugins.modules import vllm_bench
from ansible_collections.sparkfleet.spark.plugins.modules.vllm_bench import (
    bench_args,
    bench_id,
    convert,
    failed_scenario,
    log_tail,
    scenarios,
    serving_key,
)

REPO = Path(__file__).resolve().parents[2]

FIXTURES = REPO / "tests" / "fixtures" / "vllm-bench-lab"
LAB_VIDEO = {"width": 160, "height": 120, "frames": 8}
SCHEMA_SCENARIO_KEYS = {"name", "traffic", "concurrency", "num_prompts", "input_len", "output_len", "video",
                        "completed", "failed", "duration_s", "request_throughput", "output_throughput",
                        "total_token_throughput", "ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"}


def test_every_traffic_kind_runs_at_every_concurrency_with_rounds_per_level():
    plan = scenarios(["text", "video"], [1, 2], 4, 64, 16, LAB_VIDEO)
    assert [(s["name"], s["num_prompts"]) for s in plan] == [
        ("text-c1", 4), ("text-c2", 8), ("video-c1", 4), ("video-c2", 8)]
    assert plan[0]["video"] is None and plan[2]["video"] == LAB_VIDEO


def test_text_command_line():
    (text,) = scenarios(["text"], [2], 4, 64, 16, LAB_VIDEO)
    args = bench_args(text, "http://127.0.0.1:8000", "qwen3-vl-tiny", "/opt/m", 7, "/tmp/r", "text-c2.json")
    assert args[:2] == ["bench", "serve"]
    assert {k: args[args.index(k) + 1] for k in ("--backend", "--endpoint", "--base-url", "--model", "--tokenizer",
                                  "--max-concurrency", "--num-prompts", "--seed", "--dataset-name")} == {
        "--backend": "openai-chat", "--endpoint": "/v1/chat/completions", "--base-url": "http://127.0.0.1:8000",
        "--model": "qwen3-vl-tiny", "--tokenizer": "/opt/m", "--max-concurrency": "2", "--num-prompts": "8",
        "--seed": "7", "--dataset-name": "random"}
    assert "--ignore-eos" in args and "--save-result" in args
    assert args[args.index("--result-dir") + 1] == "/tmp/r"
    assert args[args.index("--percentile-metrics") + 1] == "ttft,tpot,itl,e2el"


def test_video_command_line_asks_for_one_video_per_request_in_the_bucket():
    (video,) = scenarios(["video"], [1], 4, 64, 16, LAB_VIDEO)
    args = bench_args(video, "http://h:8000", "m", "/opt/m", 1, "/tmp/r", "v.json")
    assert args[args.index("--dataset-name") + 1] == "random-mm"
    # vLLM's bucket key is (height, width, frames): the form LAB.md uses
    assert args[args.index("--random-mm-bucket-config") + 1] == "{(120, 160, 8): 1.0}"
    assert json.loads(args[args.index("--random-mm-limit-mm-per-prompt") + 1]) == {"image": 0, "video": 1}


def test_a_real_text_result_converts_to_the_schema():
    raw = json.loads((FIXTURES / "text-c2.json").read_text())
    (text,) = scenarios(["text"], [2], 4, 64, 16, LAB_VIDEO)
    out = convert(raw, text, seed=123)
    assert set(out) >= SCHEMA_SCENARIO_KEYS
    assert (out["name"], out["traffic"], out["concurrency"], out["seed"]) == ("text-c2", "text", 2, 123)
    assert (out["completed"], out["failed"], out["error"]) == (8, 0, None)
    assert out["request_throughput"] == round(raw["request_throughput"], 3) > 0
    assert out["output_throughput"] == round(raw["output_throughput"], 3) > 0
    assert out["total_token_throughput"] == round(raw["total_token_throughput"], 3)
    assert out["duration_s"] == round(raw["duration"], 3)
    for metric in ("ttft", "tpot", "itl", "e2el"):
        assert out[f"{metric}_ms"] == {"mean": round(raw[f"mean_{metric}_ms"], 3),
                                       "median": round(raw[f"median_{metric}_ms"], 3),
                                       "p99": round(raw[f"p99_{metric}_ms"], 3)}
    assert out["e2el_ms"]["median"] > out["ttft_ms"]["median"] > 0
    assert json.loads(json.dumps(out)) == out  # per-request lists stay out of the result
    assert "ttfts" not in out and "generated_texts" not in out


def test_a_real_video_result_converts_with_its_video():
    raw = json.loads((FIXTURES / "video-c2.json").read_text())
    (video,) = scenarios(["video"], [2], 4, 64, 16, LAB_VIDEO)
    out = convert(raw, video, seed=124)
    assert out["video"] == LAB_VIDEO and out["completed"] == 8 and out["failed"] == 0
    assert out["ttft_ms"]["p99"] >= out["ttft_ms"]["median"] > 0


def test_failures_carry_the_first_error_and_a_missing_failed_count_is_derived():
    raw = json.loads((FIXTURES / "text-c2.json").read_text())
    raw.update(completed=6, errors=["", "Not Found", "Bad Request"])
    del raw["failed"]
    (text,) = scenarios(["text"], [2], 4, 64, 16, LAB_VIDEO)
    out = convert(raw, text, seed=1)
    assert (out["completed"], out["failed"], out["error"]) == (6, 2, "Not Found")


def test_a_scenario_without_a_result_counts_every_request_as_failed():
    (text,) = scenarios(["text"], [1], 4, 64, 16, LAB_VIDEO)
    out = failed_scenario(text, 5, "stopped after 300 s (bench timeout)")
    assert (out["completed"], out["failed"], out["request_throughput"]) == (0, 4, None)
    assert out["ttft_ms"] == {"mean": None, "median": None, "p99": None}


def test_serving_key_changes_with_the_unit_or_the_manifest_and_cannot_be_forged_by_moving_bytes():
    base = serving_key(b"ExecStart=vllm serve a", b'{"files": {}}')
    assert base == serving_key(b"ExecStart=vllm serve a", b'{"files": {}}')
    assert base != serving_key(b"ExecStart=vllm serve a --x", b'{"files": {}}')
    assert base != serving_key(b"ExecStart=vllm serve a", b'{"files": {"a": 1}}')
    assert serving_key(b"ab", b"c") != serving_key(b"a", b"bc")


def test_bench_id_is_sortable_time_host_and_suffix():
    from datetime import UTC, datetime

    assert bench_id(datetime(2026, 11, 26, 6, 15, tzinfo=UTC), "lab1", "4f2a") == "20261126T061500-lab1-4f2a"
    assert bench_id(datetime(2026, 11, 26, tzinfo=UTC), "spark/1 x", "0000") == "20261126T000000-spark_1_x-0000"


def test_the_log_tail_drops_exit_noise():
    text = "Traceback\nValueError: Initial test run failed\nnanobind: leaked 4 instances!\n - leaked type \"x\"\n"
    assert log_tail(text) == "Traceback | ValueError: Initial test run failed"


def test_the_module_documents_exactly_its_arguments():
    documented = yaml.safe_load(vllm_bench.DOCUMENTATION)["options"]
    assert set(documented) == set(vllm_bench.ARGUMENT_SPEC)
    for name, spec in vllm_bench.ARGUMENT_SPEC.items():
        for key in ("type", "default", "choices", "elements"):
            assert documented[name].get(key) == spec.get(key), (name, key)
        assert bool(documented[name].get("required")) == bool(spec.get("required")), name
    yaml.safe_load(vllm_bench.EXAMPLES)
    yaml.safe_load(vllm_bench.RETURN)
