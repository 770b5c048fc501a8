"""Rollouts: a command's phases run batch by batch (a canary first, then larger batches), verify as the health gate.

The controller drives the batches (one `--limit` per batch) rather than Ansible's `serial`: the gate is then
sparkfleet's own verify phase (and the phases before it), each batch gets its own entry in the record, and a halt
can say which hosts are done, failed and untouched. A rerun runs the same batches again; hosts already done change
nothing (every playbook is idempotent), so it continues where the halted run stopped and converges.

Batches are written like Ansible's `serial`: `1,50%,100%` means a batch of 1 host, then batches of 50% of the hosts,
then the rest (the last size repeats until every host is in a batch). The project may set them in its inventory
(`sparkfleet_rollout_batches`, `sparkfleet_rollout_max_fail_percent` in group_vars/all); options override.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

from sparkfleet.core.errors import ExitCode, UsageError
from sparkfleet.core.events import Progress
from sparkfleet.core.project import Project
from sparkfleet.runs import history, plans

BATCHES_VAR = "sparkfleet_rollout_batches"
MAX_FAIL_VAR = "sparkfleet_rollout_max_fail_percent"
_STEP = re.compile(r"^(?:[1-9][0-9]{0,5}|(?:[1-9][0-9]?|100)%)$")  # a host count, or 1% to 100%


def default_batches(host_count: int) -> str:
    """A canary, then the rest, once there are enough hosts for a canary to mean something."""
    return "1,100%" if host_count > 2 else "100%"


def parse_batches(spec: str) -> list[str]:
    """The steps of a batch spec (`1,50%,100%`), each checked; a clear error for anything else."""
    steps = [step.strip() for step in str(spec).split(",")]
    bad = [step for step in steps if not _STEP.match(step)]
    if not steps or bad:
        raise UsageError(f"Bad batch sizes {spec!r}: {', '.join(repr(b) for b in bad) or 'empty'} is not a host "
                         "count or a percentage.",
                         hint="Give host counts and percentages (1 to 100%) separated by commas, e.g. 1,50%,100%.")
    return steps


def split(hosts: list[str], spec: str) -> list[list[str]]:
    """The hosts in batches, in inventory order; the last step repeats until every host has a batch."""
    steps = parse_batches(spec)
    sizes = [max(1, math.ceil(len(hosts) * int(s[:-1]) / 100)) if s.endswith("%") else int(s) for s in steps]
    batches: list[list[str]] = []
    rest = list(hosts)
    index = 0
    while rest:
        size = sizes[min(index, len(sizes) - 1)]
        batches.append(rest[:size])
        rest = rest[size:]
        index += 1
    return batches


def check_max_fail(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise UsageError(f"Bad maximum failure percentage {value!r}.",
                         hint="Give a whole number from 0 (halt at the first failed host) to 100 (never halt).")
    return value


def project_settings(project: Project) -> dict:
    """The rollout settings the project's inventory sets for all hosts (group_vars/all/*.yml), if any."""
    import yaml

    found: dict = {}
    folder = project.inventory_dir / "group_vars" / "all"
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue  # an encrypted vault or a broken file: Ansible itself says what is wrong with it
        if isinstance(data, dict):
            found.update({key: data[key] for key in (BATCHES_VAR, MAX_FAIL_VAR) if key in data})
    return found


def select_hosts(project: Project, limit: str | None) -> list[str]:
    """The inventory's hosts matching limit (an Ansible pattern), in inventory order, as Ansible resolves it."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(project.inventory_file)])
    return [host.name for host in manager.list_hosts(limit or "all")]


def _failed_hosts(entry: dict, active: list[str]) -> set[str]:
    """The hosts a phase failed on; all of them when it failed with no host to blame (e.g. a playbook error)."""
    failed = {f["host"] for f in entry["failures"] if f.get("host") in active}
    failed |= {host for host, stats in entry["run"]["hosts"].items()
               if host in active and stats.get("status") in ("failed", "unreachable")}
    if not entry["ok"] and not failed:
        failed = set(active)
    return failed


def merge_phases(entries: list[dict]) -> list[dict]:
    """One entry per phase, as the record of a plan has (the report and notes read it so); the batches are kept
    in the record's `rollout` section."""
    merged: dict[str, dict] = {}
    for entry in entries:
        into = merged.get(entry["phase"])
        if into is None:
            merged[entry["phase"]] = {**entry, "data": dict(entry["data"] or {}), "changes": list(entry["changes"]),
                                      "failures": list(entry["failures"]), "warnings": list(entry["warnings"]),
                                      "run": {**entry["run"], "hosts": dict(entry["run"].get("hosts", {}))},
                                      "run_ids": [entry["run_id"]]}
            continue
        into["ok"] = into["ok"] and entry["ok"]
        into["duration_s"] = round(into["duration_s"] + entry["duration_s"], 1)
        into["changed"] = into["changed"] or entry["changed"]
        into["changes"] += entry["changes"]
        into["failures"] += entry["failures"]
        into["warnings"] += entry["warnings"]
        into["data"].update(entry["data"] or {})
        into["run"]["hosts"].update(entry["run"].get("hosts", {}))
        into["run_ids"].append(entry["run_id"])
        into["error"] = into["error"] or entry["error"]
        if into["exit_code"] == ExitCode.OK:
            into["exit_code"] = entry["exit_code"]
    return list(merged.values())


def halt_message(rollout: dict) -> str:
    failed = rollout["failed"]
    return (f"The rollout halted after batch {rollout['halted_after']} of {rollout['planned']}: "
            f"{len(failed)} of {len(rollout['hosts'])} hosts failed ({', '.join(failed)}), more than the "
            f"{rollout['max_fail_percent']}% allowed. Done: {', '.join(rollout['done']) or 'none'}. "
            f"Untouched: {', '.join(rollout['untouched']) or 'none'}. Next: fix the failed hosts (the failures "
            "above say how), then run the command again: hosts already done change nothing, and it continues "
            "with the rest.")


def roll_out(project: Project, emit: Callable, command: str, phases: list[str], hosts: list[str], batches: str,
             max_fail_percent: int, extravars: dict, model: str | None,
             build_report: Callable[[Path, str], Path] | None = None,
             notes: bool = True, skip: dict[str, str] | None = None) -> dict:
    """Run phases over the hosts batch by batch; halt once more than max_fail_percent of all hosts failed.

    skip names phases not to run, with why (runs.noop: a no-op `up`); each is recorded as skipped.

    Returns the record (one entry per phase, as plans.execute writes it) with a `rollout` section: the batches,
    and the hosts done, failed and untouched.
    """
    groups = split(hosts, batches)
    record = history.new_record(command, hosts, model)
    rollout = {"spec": batches, "max_fail_percent": max_fail_percent, "hosts": hosts, "planned": len(groups),
               "batches": [],
               "done": [], "failed": [], "untouched": list(hosts), "halted_after": None,
               "cancelled_in": None}
    record["rollout"] = rollout
    entries: list[dict] = []
    code = ExitCode.OK
    first_error = None
    for number, batch in enumerate(groups, start=1):
        emit(Progress(message=f"Batch {number} of {len(groups)}: {', '.join(batch)}"))
        rollout["untouched"] = [h for h in rollout["untouched"] if h not in batch]
        active = list(batch)
        summary = {"number": number, "hosts": batch, "failed": [], "phases": [], "duration_s": 0.0}
        for name in phases:
            if name in (skip or {}):
                entries.append({**plans.skipped_phase(name, skip[name]), "batch": number})
                continue
            entry, phase_code = plans.run_phase(project, emit, name, ",".join(active),
                                                {**extravars, "sparkfleet_record_id": record["id"]})
            entry["batch"] = number
            entries.append(entry)
            summary["phases"].append({"phase": name, "ok": entry["ok"], "duration_s": entry["duration_s"]})
            summary["duration_s"] = round(summary["duration_s"] + entry["duration_s"], 1)
            if phase_code == ExitCode.CANCELLED:  # Ctrl-C: stop here; no host of this batch counts as failed
                code = phase_code
                rollout["cancelled_in"] = {"batch": number, "phase": name}
                break
            if phase_code != ExitCode.OK:
                code = code or phase_code
                first_error = first_error or plans.phase_error(entry)
                failed = _failed_hosts(entry, active)
                summary["failed"] += sorted(failed)
                active = [h for h in active if h not in failed]
            if not active:
                break
        rollout["batches"].append(summary)
        if rollout["cancelled_in"]:
            record["phases"] = merge_phases(entries)
            break
        rollout["done"] += active
        rollout["failed"] += summary["failed"]
        record["phases"] = merge_phases(entries)
        history.save(project, record)
        if len(rollout["failed"]) * 100 > max_fail_percent * len(hosts):
            rollout["halted_after"] = number
            break
    if rollout["cancelled_in"]:
        where = rollout["cancelled_in"]
        record["error"] = (f"Cancelled in batch {where['batch']} ({where['phase']}). Done: "
                           f"{', '.join(rollout['done']) or 'none'}. Next: run the command again; it continues.")
    elif rollout["halted_after"] is not None:
        # what failed first, then (with batches to speak of) what the halt left done, failed and untouched
        halt = halt_message(rollout) if len(groups) > 1 else None
        record["error"] = " ".join(part for part in (first_error, halt) if part)
    elif first_error:  # failures within the allowed percentage: the run still says it did not fully succeed
        record["error"] = first_error
    record["warnings"] = [w for entry in entries for w in entry["warnings"]]
    touched = rollout["done"] + rollout["failed"] + (rollout["batches"][-1]["hosts"] if rollout["cancelled_in"] else [])
    return plans.conclude(project, emit, record, code, ",".join(touched), extravars, build_report, notes=notes)
