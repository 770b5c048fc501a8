"""The engine comparison: the same 20 idempotent operations (engines/deploy20.yml and deploy20.py) re-run with
nothing to do, on 1 host and on N hosts, by Ansible with sparkfleet's ansible.cfg, Ansible with its defaults,
Ansible + mitogen (strategy mitogen_linear) and pyinfra. Runs are interleaved (engine after engine, round after
round) so that the load of the shared machine falls on all of them alike.

pyinfra and mitogen are installed into a venv of their own (~/.cache/sparkfleet/bench-engines, made on first use)
and used only
for measuring; Ansible is the ansible-core of sparkfleet's own environment in every case.
Used by bench/harness.py (the `engines` figure); alone: python bench/engines.py PROJECT [--hosts 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
# Outside the repository, so that no linter walks into it.
VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sparkfleet" / "bench-engines"
MITOGEN_LIB = VENV / "mitogen-lib"
PINS = {"pyinfra": "pyinfra==3.10.0", "mitogen": "mitogen==0.3.54"}
ENGINES = ("ansible-sparkfleet", "ansible-defaults", "ansible-mitogen", "pyinfra")
OPERATIONS = 20


def ensure_venv(log=print) -> None:
    """pyinfra in a venv of its own; mitogen as a plain folder put on the Ansible run's PYTHONPATH."""
    if not (VENV / "bin" / "pyinfra").exists():
        log(f"installing {PINS['pyinfra']} into {VENV} (for measuring only)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", PINS["pyinfra"]], check=True)
    if not (MITOGEN_LIB / "ansible_mitogen").exists():
        log(f"installing {PINS['mitogen']} into {MITOGEN_LIB} (for measuring only)")
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--target", str(MITOGEN_LIB), PINS["mitogen"]],
                       check=True)


def lab_hosts(project: Path) -> list[dict]:
    """The lab hosts of the project's inventory: name, port, user."""
    import yaml

    inventory = yaml.safe_load((project / "inventory" / "hosts.yml").read_text())
    hosts = inventory["all"]["children"]["lab"]["hosts"] or {}
    return [{"name": name, "port": int(h["ansible_port"]), "user": h["ansible_user"], "address": h["ansible_host"]}
            for name, h in hosts.items()]


def _ansible_env(project: Path, engine: str) -> dict[str, str]:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "False",
           "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    if engine == "ansible-defaults":
        empty = project / ".sparkfleet" / "ansible-defaults.cfg"
        empty.write_text("[defaults]\n")  # no pipelining, Ansible's own ControlPersist, 5 forks
        env["ANSIBLE_CONFIG"] = str(empty)
        env["ANSIBLE_FORKS"] = "50"  # except forks, so that 8 hosts still run as one batch
    else:
        env["ANSIBLE_CONFIG"] = str(project / "ansible.cfg")
    if engine == "ansible-mitogen":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(MITOGEN_LIB), env.get("PYTHONPATH")]))
        env["ANSIBLE_STRATEGY_PLUGINS"] = str(MITOGEN_LIB / "ansible_mitogen" / "plugins" / "strategy")
        env["ANSIBLE_STRATEGY"] = "mitogen_linear"
    return env


def _pyinfra_inventory(project: Path, hosts: list[dict], path: Path) -> None:
    state = project / ".sparkfleet"
    lines = ["hosts = ["]
    for h in hosts:
        data = {"ssh_hostname": h["address"], "ssh_port": h["port"], "ssh_user": h["user"],
                "ssh_key": str(state / "ssh" / "id_ed25519"), "ssh_known_hosts_file": str(state / "known_hosts"),
                "ssh_strict_host_key_checking": "yes"}
        lines.append(f"    ({h['name']!r}, {data!r}),")
    lines.append("]")
    path.write_text("\n".join(lines) + "\n")


def run_once(project: Path, engine: str, hosts: list[dict]) -> tuple[float, str]:
    """One run of the deploy; returns (wall seconds, a short outcome: 'ok' or what went wrong)."""
    names = ",".join(h["name"] for h in hosts)
    if engine == "pyinfra":
        inventory = project / ".sparkfleet" / f"pyinfra-{len(hosts)}.py"
        _pyinfra_inventory(project, hosts, inventory)
        args = [str(VENV / "bin" / "pyinfra"), "-y", "--parallel", str(len(hosts)), str(inventory),
                str(HERE / "engines" / "deploy20.py")]
        env = {**os.environ}
    else:
        args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(project / "inventory"),
                "--limit", names, "-e", f"sparkfleet_project_dir={project}", str(HERE / "engines" / "deploy20.yml")]
        env = _ansible_env(project, engine)
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        return seconds, f"failed (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-600:]}"
    if engine != "pyinfra" and "changed=0" not in proc.stdout.split("PLAY RECAP")[-1].split("\n", 2)[1]:
        return seconds, "changed something (not a no-op run)"
    return seconds, "ok"


def compare(project: Path, counts: list[int], runs: int, log=print,
            names: list[str] | None = None) -> tuple[dict, dict]:
    """({engine: {host count: [seconds per no-op run]}}, {engine: {host count: seconds of the first run}}).

    The first run per engine and count converges the hosts and warms the ssh masters; it is not a no-op time.
    With runs=0 only that first run is made (the CI smoke: every engine still works, nothing timed)."""
    ensure_venv(log)
    all_hosts = [h for h in lab_hosts(project) if not names or h["name"] in names]
    if len(all_hosts) < max(counts):
        raise SystemExit(f"the project has {len(all_hosts)} lab host(s); {max(counts)} are needed")
    results: dict[str, dict[int, list[float]]] = {e: {n: [] for n in counts} for e in ENGINES}
    first: dict[str, dict[int, float]] = {e: {} for e in ENGINES}
    for n in counts:
        for engine in ENGINES:
            seconds, outcome = run_once(project, engine, all_hosts[:n])
            if outcome != "ok" and not outcome.startswith("changed"):
                raise SystemExit(f"{engine} on {n} host(s): {outcome}")
            first[engine][n] = seconds
            log(f"    {engine} on {n} host(s), first run (converging): {seconds:.1f} s")
        for round_ in range(runs):
            for engine in ENGINES:
                seconds, outcome = run_once(project, engine, all_hosts[:n])
                log(f"    {engine} on {n} host(s), run {round_ + 1}: {seconds:.1f} s {outcome}")
                results[engine][n].append(seconds)
    return results, first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path, help="a sparkfleet project with lab hosts (`sparkfleet lab up`)")
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results, _first = compare(args.project.resolve(), sorted({1, args.hosts}), args.runs)
    print(json.dumps({engine: {n: [round(s, 2) for s in samples] for n, samples in by_count.items()}
                      for engine, by_count in results.items()}))


if __name__ == "__main__":
    main()
