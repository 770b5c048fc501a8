"""What runs leave behind and everything else reads (docs/run-data.md): the phases of each command, the history
records with their phases, changes and failures, and the verify results they carry. runs/ writes them; report/
and cli/ read them through here. Bench results and host state files have rooms of their own (bench_results.py,
host_state.py).

The typed records are built tolerantly, one parsing function each: a field of the wrong type counts as missing
(json_fields.py), so a partly broken file still gives a record. Only input that is not a JSON object at all is
refused (by the reader, which then leaves the file out with a notice).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparkfleet.core.json_fields import Number, as_list, flag, number, objects, string, texts

UP_PHASES = ["doctor", "serve", "verify", "bench"]
# upgrade, batch by batch: what the host serves kept for a rollback (snapshot), the endpoint drained around serve
# (drain, resume), the snapshot dropped once verify passed (commit). playbooks/<phase>.yml each.
# No bench: a rollout should not wait on one; `sparkfleet bench` measures what the upgrade brought.
UPGRADE_PHASES = ["doctor", "snapshot", "drain", "serve", "resume", "verify", "commit"]
ROLLBACK_PHASES = ["rollback", "resume", "commit"]
DOWN_PHASES = ["down"]
# The phases each command runs, in order; the last, notes, runs whatever happened before it.
COMMAND_PHASES = {"up": [*UP_PHASES, "notes"], "upgrade": [*UPGRADE_PHASES, "notes"],
                  "verify": ["verify", "notes"], "bench": ["bench", "notes"]}
# Phases that only read, measure or record (or keep and drop a snapshot, drain and resume around serve): their
# changes are not changes to how a host is set up.
BOOKKEEPING = {"doctor", "snapshot", "drain", "resume", "verify", "commit", "bench", "notes"}


# a history record (.sparkfleet/history/<id>.json) ----------------------------------------------------------
@dataclass(frozen=True)
class Change:
    host: str | None
    task: str | None  # "role : task name"


@dataclass(frozen=True)
class Failure:
    host: str | None
    task: str | None
    status: str | None  # failed, unreachable
    message: str | None
    hint: str | None


@dataclass(frozen=True)
class Phase:
    name: str | None
    ok: bool | None
    skipped: bool
    started_at: str | None
    duration_s: Number | None
    changes: list[Change]
    failures: list[Failure]
    error: str | None
    run_id: str | None
    artifacts_dir: str | None
    data: object  # what the phase published (its shape is the phase's: see docs/run-data.md)


@dataclass(frozen=True)
class RunRecord:
    id: str | None
    command: str | None
    started_at: str | None
    finished_at: str | None
    duration_s: Number | None
    ok: bool | None  # None: the record does not say (a record with "ok": null is a run that did not finish: False)
    exit_code: int | None
    hosts: list[str]
    model: str | None
    warnings: list[str]
    error: str | None
    phases: list[Phase]

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)


def parse_change(raw: dict) -> Change:
    return Change(host=string(raw.get("host")), task=string(raw.get("task")))


def parse_failure(raw: dict) -> Failure:
    return Failure(host=string(raw.get("host")), task=string(raw.get("task")), status=string(raw.get("status")),
                   message=string(raw.get("message")), hint=string(raw.get("hint")))


def parse_phase(raw: dict) -> Phase:
    return Phase(name=string(raw.get("phase")), ok=flag(raw.get("ok")), skipped=bool(raw.get("skipped")),
                 started_at=string(raw.get("started_at")), duration_s=number(raw.get("duration_s")),
                 changes=[parse_change(c) for c in objects(raw.get("changes"))],
                 failures=[parse_failure(f) for f in objects(raw.get("failures"))],
                 error=string(raw.get("error")), run_id=string(raw.get("run_id")),
                 artifacts_dir=string(raw.get("artifacts_dir")), data=raw.get("data"))


def parse_run_record(raw: dict) -> RunRecord:
    ok = bool(raw["ok"]) if "ok" in raw else None
    exit_code = raw.get("exit_code")
    return RunRecord(id=string(raw.get("id")), command=string(raw.get("command")),
                     started_at=string(raw.get("started_at")), finished_at=string(raw.get("finished_at")),
                     duration_s=number(raw.get("duration_s")), ok=ok,
                     exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
                     hosts=[h for h in as_list(raw.get("hosts")) if isinstance(h, str)],
                     model=string(raw.get("model")), warnings=texts(raw.get("warnings")),
                     error=string(raw.get("error")), phases=[parse_phase(p) for p in objects(raw.get("phases"))])


# a verify result (published by the verify phase, per host) -------------------------------------------------
@dataclass(frozen=True)
class Check:
    id: str | None
    ok: bool
    severity: str | None  # error fails verify, warning does not
    message: str | None
    hint: str | None
    journal: list[str]  # the unit's last journal lines, for a failed check about a unit

    @property
    def is_warning(self) -> bool:
        return not self.ok and self.severity == "warning"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool | None
    checks: list[Check]

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)


def parse_check(raw: dict) -> Check:
    return Check(id=string(raw.get("id")), ok=bool(raw.get("ok")), severity=string(raw.get("severity")),
                 message=string(raw.get("message")), hint=string(raw.get("hint")), journal=texts(raw.get("journal")))


def parse_verify_result(raw: dict) -> VerifyResult:
    return VerifyResult(ok=flag(raw.get("ok")), checks=[parse_check(c) for c in objects(raw.get("checks"))])
