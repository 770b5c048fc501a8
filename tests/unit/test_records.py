"""The typed records of docs/run-data.md (sparkfleet.core.records): built from the fixtures' files, and tolerant
of fields of the wrong type, which count as missing instead of failing the whole record."""

from __future__ import annotations

import json

from helpers import FIXTURES
from sparkfleet.core.bench_results import parse_bench_result
from sparkfleet.core.host_state import parse_doctor_facts, parse_host_state
from sparkfleet.core.records import parse_run_record, parse_verify_result

LAB = FIXTURES / "report" / "lab" / "state"


def test_a_history_record_with_its_phases_changes_and_failures():
    record = parse_run_record(json.loads((LAB / "history" / "20261126T050000-up-0c11.json").read_text()))
    assert (record.id, record.command, record.ok, record.hosts) == ("20261126T050000-up-0c11", "up", False,
                                                                    ["lab1", "lab2"])
    serve = record.phase("serve")
    assert serve is not None and serve.ok is False and not serve.skipped
    failure = serve.failures[0]
    assert (failure.host, failure.task, failure.status) == ("lab2", "vllm : Wait for /health", "failed")
    assert failure.hint.startswith("Lower vllm_gpu_memory_utilization")
    assert all(change.host and change.task for phase in record.phases for change in phase.changes)
    verify = parse_verify_result(
        json.loads((LAB / "history" / "20261126T061500-up-ab12.json").read_text())["phases"][2]["data"]["lab2"])
    assert verify.ok is True and verify.check("endpoint_api_key").is_warning


def test_a_bench_result_keeps_numbers_as_written():
    result = parse_bench_result(json.loads((LAB / "bench" / "lab1" / "20261126T061533-lab1-2b2b.json").read_text()))
    c16 = next(s for s in result.scenarios if s.name == "text-c16")
    assert c16.concurrency == 16 and isinstance(c16.concurrency, int)
    assert c16.ttft_ms.median is not None and c16.tpot_ms.p99 is not None
    assert result.conditions is not None and result.conditions.gpu is None and result.conditions.gpu_recorded


def test_fields_of_the_wrong_type_count_as_missing():
    record = parse_run_record({"id": 5, "ok": None, "hosts": ["lab1", 3, None], "duration_s": True,
                               "warnings": "one", "phases": [{"phase": "serve", "ok": "yes", "changes": ["x", {}],
                                                              "failures": [7, {"host": ["lab1"]}]}, "junk"]})
    assert (record.id, record.duration_s, record.warnings, record.hosts) == (None, None, [], ["lab1"])
    assert record.ok is False  # "ok": null: a run that did not finish
    assert parse_run_record({}).ok is None  # no "ok": the record does not say
    (phase,) = record.phases
    assert phase.ok is None and len(phase.changes) == 1 and phase.failures[0].host is None
    bench = parse_bench_result({"scenarios": [{"name": "t", "concurrency": "4", "ttft_ms": [1]}],
                                "conditions": {"gpu": "H200"}, "seed": 1.5})
    assert bench.scenarios[0].concurrency is None and bench.scenarios[0].ttft_ms.median is None
    assert bench.seed is None and bench.conditions.gpu is None and bench.conditions.gpu_recorded


def test_a_host_state_and_the_doctor_facts():
    state = parse_host_state(json.loads((LAB / "hosts" / "lab2" / "state.json").read_text()))
    assert state.system is not None and state.system.gpu is None and state.system.memory_total_mib == 24000
    assert (state.vllm.unit, state.vllm.active, state.video_endpoint.api_key) == (
        "sparkfleet-vllm-qwen3-vl-tiny.service", True, False)
    assert state.vllm.api_key is None  # vLLM's entry says nothing of a key
    assert state.last_verify is not None and state.last_verify.ok and state.problems[0].resolved_by
    assert parse_host_state({"system": {}, "vllm": {}, "last_verify": {"at": "x"}}).system is None
    record = json.loads((LAB / "history" / "20261126T050000-up-0c11.json").read_text())
    facts = parse_doctor_facts(record["phases"][0]["data"]["lab1"]["facts"])
    assert (facts.os, facts.arch, facts.gpu_present, facts.gpu.name) == ("Debian 12", "x86_64", False, None)
    spark = parse_doctor_facts({"gpu": {"present": True, "driver_version": "580.95.05",
                                        "gpus": [{"name": "NVIDIA GB10"}]}})
    assert (spark.gpu.name, spark.gpu.driver, spark.gpu.cuda, spark.os) == ("NVIDIA GB10", "580.95.05", None, None)
