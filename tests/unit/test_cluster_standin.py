"""Two Sparks as one server, without the hardware (no Spark and no ConnectX-7 NIC exists here): the doctor's link
checks and the NCCL/Gloo environment computed from stand-in facts (tests/fixtures/spark-pair-standin), the Ray head
and worker units and vLLM's unit and arguments rendered by real ansible-playbook from the roles' own files, and the
fit check offering the layout for a model too large for one Spark."""

from __future__ import annotations

import copy
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.sparkfleet.spark.plugins.filter.cluster import (
    cluster_checks,
    cluster_environment,
    cluster_nodes,
)
from helpers import FIXTURES, REPO, collections_path

STANDIN = FIXTURES / "spark-pair-standin"


def facts() -> dict:
    return {name: json.loads((STANDIN / f"{name}.json").read_text()) for name in ("spark1", "spark2")}


def link(node: dict, name: str) -> dict:
    return next(i for i in node["addr"] if i["ifname"] == name)


def severities(checks: list[dict]) -> dict[str, str]:
    return {c["id"]: c["severity"] for c in checks}


def test_standin_pair_passes_every_link_check_on_both_nodes():
    nodes = facts()
    for me in nodes:
        checks = cluster_checks(me, nodes, "spark1", "enp1s0f1np1")
        assert set(severities(checks).values()) == {"ok"}, checks
    worker = {c["id"]: c for c in cluster_checks("spark2", nodes, "spark1", "enp1s0f1np1")}
    assert worker["cluster_layout"]["message"] == "spark2 is the worker of 2 nodes (spark1, spark2), head spark1"
    assert worker["cluster_address"]["message"] == "192.168.177.12/24 on enp1s0f1np1, head at 192.168.177.11"


@pytest.mark.parametrize(("breakage", "check_id", "severity"), [
    (lambda n: link(n["spark2"], "enp1s0f1np1").update(mtu=1500), "cluster_mtu", "error"),
    (lambda n: link(n["spark2"], "enp1s0f1np1").update(operstate="DOWN", flags=["BROADCAST"]), "cluster_interface",
     "error"),
    (lambda n: link(n["spark2"], "enp1s0f1np1")["addr_info"].clear(), "cluster_address", "error"),
    (lambda n: link(n["spark2"], "enp1s0f1np1")["addr_info"][0].update(local="192.168.177.11"), "cluster_address",
     "error"),
    (lambda n: link(n["spark2"], "enp1s0f1np1")["addr_info"][0].update(local="10.0.0.12"), "cluster_address", "error"),
    (lambda n: n["spark2"].update(machine_id=n["spark1"]["machine_id"]), "cluster_machine_id", "warning"),
    (lambda n: n["spark2"].update(jumbo_ping_rc=1), "cluster_path", "error"),
])
def test_standin_breakages_are_named_with_a_fix(breakage, check_id, severity):
    nodes = copy.deepcopy(facts())
    breakage(nodes)
    checks = {c["id"]: c for c in cluster_checks("spark2", nodes, "spark1", "enp1s0f1np1")}
    assert checks[check_id]["severity"] == severity, checks[check_id]
    assert checks[check_id]["hint"]
    assert [c for c in checks.values() if c["severity"] != "ok"] == [checks[check_id]]


def test_layouts_other_than_2_4_or_8_nodes_with_the_head_among_them_are_refused():
    nodes = facts()
    three = {**nodes, "spark3": nodes["spark2"]}
    assert severities(cluster_checks("spark1", three, "spark1", "enp1s0f1np1"))["cluster_layout"] == "error"
    assert severities(cluster_checks("spark2", nodes, "spark9", "enp1s0f1np1"))["cluster_layout"] == "error"
    hostvars = {"a": {"cluster_head": "b"}, "b": {"cluster_head": "b"}, "c": {"cluster_head": ""}}
    assert cluster_nodes(hostvars, ["a", "b", "c"], "b") == ["b", "a"]  # head first


def test_standin_environment_pins_nccl_gloo_ucx_and_vllm_to_the_link():
    env = cluster_environment("enp1s0f1np1", "192.168.177.12", ["rocep1s0f1", "roceP2p1s0f1"])
    assert env == {"NCCL_SOCKET_IFNAME": "enp1s0f1np1", "GLOO_SOCKET_IFNAME": "enp1s0f1np1",
                   "UCX_NET_DEVICES": "enp1s0f1np1", "VLLM_HOST_IP": "192.168.177.12",
                   "RAY_memory_monitor_refresh_ms": "0", "NCCL_IB_HCA": "rocep1s0f1,roceP2p1s0f1"}


# --- real ansible-playbook on two local stand-in hosts ------------------------------------------------------------
def play(tmp_path: Path, tasks: list[dict], extra: dict | None = None, roles_vars: tuple[str, ...] = ("cluster",)
         ) -> subprocess.CompletedProcess:
    """Two inventory hosts spark1 (the head) and spark2 on a local connection, each with its stand-in facts; the
    named roles' defaults and vars as vars files; cluster_head spark1."""
    inventory = {"all": {"hosts": {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                          "_cluster_facts": node}
                                   for name, node in facts().items()}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    files = [str(REPO / f"roles/{role}/{kind}/main.yml") for role in roles_vars for kind in ("defaults", "vars")]
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "Stand-in Spark pair", "hosts": "all", "gather_facts": False, "vars_files": files, "tasks": tasks}]))
    # extra vars, since the roles' defaults come in as play vars (which win over the inventory)
    (tmp_path / "extra.json").write_text(json.dumps({"cluster_head": "spark1", **(extra or {})}))
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
                           "-e", f"@{tmp_path / 'extra.json'}", str(tmp_path / "play.yml")],
                          capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_path())})


def test_standin_ray_units_head_then_worker_rendered_from_the_role(tmp_path):
    proc = play(tmp_path, [{"name": "Render", "ansible.builtin.template": {
        "src": str(REPO / "roles/cluster/templates/ray.service.j2"),
        "dest": str(tmp_path) + "/{{ inventory_hostname }}.service", "mode": "0644"}}])
    assert proc.returncode == 0, proc.stdout[-3000:]
    head, worker = (tmp_path / "spark1.service").read_text(), (tmp_path / "spark2.service").read_text()
    argv = {name: shlex.split(next(line for line in unit.splitlines() if line.startswith("ExecStart="))[10:])
            for name, unit in (("head", head), ("worker", worker))}
    assert argv["head"][1:] == ["start", "--head", "--block", "--disable-usage-stats",
                                "--node-ip-address=192.168.177.11", "--port=6379", "--dashboard-host=127.0.0.1"]
    assert argv["worker"][1:] == ["start", "--block", "--disable-usage-stats", "--node-ip-address=192.168.177.12",
                                  "--address=192.168.177.11:6379"]
    assert "Environment=NCCL_SOCKET_IFNAME=enp1s0f1np1" in worker
    assert "Environment=GLOO_SOCKET_IFNAME=enp1s0f1np1" in worker
    assert "Environment=VLLM_HOST_IP=192.168.177.12" in worker and "Environment=VLLM_HOST_IP=192.168.177.11" in head


def test_standin_vllm_unit_on_the_head_requires_ray_and_spreads_the_model_over_both(tmp_path):
    served = {"vllm_install_method": "pip", "vllm_model": "qwen3-vl-235b", "vllm_served_model_name": "qwen3-vl-235b",
              "vllm_model_path": "/opt/sparkfleet/models/qwen3-vl-235b", "vllm_max_model_len": 32768}
    cluster_service = {"unit": "sparkfleet-ray", "tensor_parallel_size": 2,
                       "environment": cluster_environment("enp1s0f1np1", "192.168.177.11", ["rocep1s0f1"])}
    proc = play(tmp_path, [{"name": "Render", "when": "inventory_hostname == 'spark1'", "ansible.builtin.template": {
        "src": str(REPO / "roles/vllm/templates/vllm.service.j2"), "dest": str(tmp_path / "vllm.service"),
        "mode": "0644"}}], {**served, "vllm_cluster": cluster_service}, roles_vars=("vllm",))
    assert proc.returncode == 0, proc.stdout[-3000:]
    unit = (tmp_path / "vllm.service").read_text()
    assert "After=sparkfleet-ray.service" in unit and "Requires=sparkfleet-ray.service" in unit
    assert "Environment=NCCL_SOCKET_IFNAME=enp1s0f1np1" in unit and "Environment=NCCL_IB_HCA=rocep1s0f1" in unit
    argv = shlex.split(next(line for line in unit.splitlines() if line.startswith("ExecStart="))[10:])
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert argv[argv.index("--distributed-executor-backend") + 1] == "ray"


def test_standin_doctor_checks_run_by_the_role_on_both_nodes(tmp_path):
    """roles/cluster/tasks/checks.yml (what the doctor runs after gathering facts) on the stand-in facts, one node's
    MTU broken: the checks land in each host's preflight report."""
    link(json.loads((STANDIN / "spark2.json").read_text()), "enp1s0f1np1")  # the fixture has the interface
    proc = play(tmp_path, [
        {"name": "Break the worker's MTU", "ansible.builtin.set_fact": {"_cluster_facts": "{{ _cluster_facts | combine("
         "{'addr': _cluster_facts.addr | map('combine', {'mtu': 1500}) | list}) if inventory_hostname == 'spark2' "
         "else _cluster_facts }}"}},
        {"name": "A doctor report so far", "ansible.builtin.set_fact": {"preflight_report": {"checks": []}}},
        {"name": "The role's checks", "ansible.builtin.include_tasks": str(REPO / "roles/cluster/tasks/checks.yml")},
        {"name": "Write the report", "ansible.builtin.copy": {"content": "{{ preflight_report | to_json }}",
                                                               "dest": str(tmp_path) + "/{{ inventory_hostname }}.json",
                                                               "mode": "0644"}},
    ])
    assert proc.returncode == 0, proc.stdout[-3000:]
    reports = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("spark1", "spark2")}
    assert severities(reports["spark1"]["checks"])["cluster_mtu"] == "ok"
    worker = {c["id"]: c for c in reports["spark2"]["checks"]}
    assert worker["cluster_mtu"]["severity"] == "error"
    assert worker["cluster_mtu"]["message"] == "enp1s0f1np1 has MTU 1500, not 9000"
    assert "mtu: 9000" in worker["cluster_mtu"]["hint"]


def test_the_fit_check_offers_two_sparks_for_a_model_too_large_for_one(tmp_path):
    """roles/model/tasks/fit_check.yml on a stand-in Spark's facts (121.7 GiB visible, SPARK_FACTS.md): a model
    needing 150 GiB is refused on one host with the two-Spark layout offered, and fits the stand-in pair."""
    gpu = {"memory_total_mib": 124621, "disk": {"free_bytes": 2 << 40, "measured_at": "/opt"}}
    big = {"repo": "Qwen/Qwen3-VL-235B-A22B-Instruct", "revision": None, "precision": "nvfp4", "weights_gib": 141,
           "memory_gib": 150, "max_model_len": 32768, "source": "huggingface"}
    task = [{"name": "Fit", "vars": {"_model_entry": big, "sparkfleet_gpu": gpu, "_model_present": {"stat": {
        "exists": False}}}, "ansible.builtin.include_tasks": str(REPO / "roles/model/tasks/fit_check.yml")}]
    base = {"model_name": "qwen3-vl-235b", "sparkfleet_state_dir": str(tmp_path)}
    alone = play(tmp_path, task, {**base, "cluster_head": ""}, roles_vars=("model",))
    assert alone.returncode == 2
    assert "serve it from 2 Sparks linked by ConnectX-7 as one server" in alone.stdout
    assert "cluster_head" in alone.stdout
    pair = play(tmp_path, task, base, roles_vars=("model",))  # both stand-ins name spark1 as their head
    assert pair.returncode == 0, pair.stdout[-3000:]
