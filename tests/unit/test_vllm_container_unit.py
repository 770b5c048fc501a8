"""The container method's unit on a Spark and on a lab host differ only in the engine and the GPU flags (issue 12).

Both units are rendered by real ansible-playbook from the role's defaults and vars; the lab's engine settings are
read from inventory/group_vars/lab.yml, so a lab-only setting that leaks into the unit's logic shows up here. The
lab's unit serving for real: tests/integration/test_container_method.py.
"""

from __future__ import annotations

import pytest
import yaml
from helpers import REPO
from test_vllm_exposure import render_unit

IMAGE = "sha256:" + "b" * 64
ENGINE_VARS = ("vllm_container_engine", "vllm_container_gpu_args")


def lab_engine() -> dict:
    lab = yaml.safe_load((REPO / "inventory/group_vars/lab.yml").read_text())
    return {name: lab[name] for name in ENGINE_VARS}


def render(tmp_path, **variables):
    folder = tmp_path / str(len(list(tmp_path.iterdir())))
    folder.mkdir()
    return render_unit(folder, vllm_install_method="container", _vllm_image_ref=IMAGE, **variables)


def test_the_lab_swaps_the_engine_and_drops_the_gpu_flags_and_nothing_else(tmp_path):
    spark_unit, spark_argv = render(tmp_path)
    lab_unit, lab_argv = render(tmp_path, **lab_engine())
    assert lab_engine() == {"vllm_container_engine": "podman", "vllm_container_gpu_args": []}

    # the command: the same words once the engine is named alike and the GPU flags are gone
    assert spark_argv[0] == "/usr/bin/docker" and lab_argv[0] == "/usr/bin/podman"
    assert spark_argv[spark_argv.index("--gpus"):spark_argv.index("--gpus") + 2] == ["--gpus", "all"]
    spark_without_gpu = [word for i, word in enumerate(spark_argv)
                         if word != "--gpus" and not (i and spark_argv[i - 1] == "--gpus")]
    assert spark_without_gpu[1:] == lab_argv[1:]

    # the rest of the unit: only the lines that name docker (its daemon, its client) differ; both run the engine's
    # client as root (membership of the docker group would be root-equivalent for the vllm user)
    spark_lines, lab_lines = spark_unit.splitlines(), lab_unit.splitlines()
    only_spark = [line for line in spark_lines if line not in lab_lines]
    only_lab = [line for line in lab_lines if line not in spark_lines]
    assert {line.split("=")[0] for line in only_spark} == {
        "After", "Requires", "ExecStartPre", "ExecStart", "ExecStop"}
    assert [line for line in only_spark if line.startswith(("After", "Requires"))] == [
        "After=network-online.target docker.service", "Requires=docker.service"]
    assert {line.split("=")[0] for line in only_lab} == {"After", "ExecStartPre", "ExecStart", "ExecStop"}
    assert "User=root" in spark_lines and "User=root" in lab_lines
    assert not any(line.startswith("SupplementaryGroups") for line in spark_lines + lab_lines)
    assert "After=network-online.target" in only_lab
    assert "ExecStartPre=-/usr/bin/podman rm --force sparkfleet-vllm-qwen3-vl-tiny" in only_lab
    assert "ExecStop=/usr/bin/podman stop sparkfleet-vllm-qwen3-vl-tiny" in only_lab


@pytest.mark.parametrize("engine", [{}, {"vllm_container_engine": "podman", "vllm_container_gpu_args": []}])
def test_the_container_gets_the_services_environment_by_name(tmp_path, engine):
    """vllm_environment was set on the unit but never reached the process inside the container."""
    unit, argv = render(tmp_path, vllm_environment={"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_HOST_IP": "127.0.0.1"},
                        **engine)
    assert "Environment=VLLM_CPU_KVCACHE_SPACE=1" in unit.splitlines()
    assert {"--env=VLLM_CPU_KVCACHE_SPACE", "--env=VLLM_HOST_IP"} <= set(argv[:argv.index(IMAGE)])
    assert "127.0.0.1" not in argv[:argv.index(IMAGE)]  # by name: the value comes from the unit's environment


def test_no_shared_memory_size_beside_the_hosts_ipc_namespace(tmp_path):
    """`--ipc host` uses the host's /dev/shm: docker ignores --shm-size then, and podman refuses to start."""
    _, argv = render(tmp_path)
    assert "--ipc" in argv and "--shm-size" not in argv
