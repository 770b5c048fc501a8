"""The inputs of a report: one history record (and the previous one of the same command), the hosts' state files
and their bench results, read tolerantly (docs/run-data.md) into typed records. What cannot be read is left out
and noted.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sparkfleet.core.bench_results import BenchResult, Scenario, parse_bench_result
from sparkfleet.core.errors import ProjectError, UsageError
from sparkfleet.core.host_state import DoctorFacts, HostState, parse_doctor_facts, parse_host_state
from sparkfleet.core.json_fields import dig
from sparkfleet.core.project import STATE_DIRNAME, Project
from sparkfleet.core.records import Phase, RunRecord, VerifyResult, parse_run_record, parse_verify_result

NO_RUN_ID = "no-run"  # the report's folder when no run is recorded yet
LAB_MODEL = "qwen3-vl-tiny"  # the lab profile's random-weight stand-in (roles/model/vars/main.yml)
TRAFFIC_ORDER = {"text": 0, "image": 1, "video": 2}
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # ids and host names that may become a path
HOST_FILES = ("NOTES.md", "state.json")  # a host's files the last run fetched into the project


@dataclass(frozen=True)
class Bench:
    """A bench result and the file it came from."""

    path: Path
    result: BenchResult

    @property
    def key(self) -> tuple[str, str]:
        return (self.result.started_at or "", self.id)

    @property
    def id(self) -> str:
        return self.result.id or self.path.stem

    def scenarios(self) -> list[Scenario]:
        """In the report's order: text, image, video, then by concurrency."""
        return sorted(self.result.scenarios, key=lambda s: (TRAFFIC_ORDER.get(str(s.traffic), 9), str(s.traffic),
                                                            s.concurrency or 0, str(s.name)))


@dataclass
class HostBench:
    current: Bench | None = None
    previous: Bench | None = None
    from_this_run: bool = False
    skipped: str | None = None  # why the record's bench phase skipped this host
    history: list[Bench] = field(default_factory=list)  # up to and with current, oldest first (fleet comparison)


@dataclass
class Inputs:
    root: Path
    record: RunRecord | None
    record_path: Path | None
    previous: RunRecord | None
    hosts: list[str]
    states: dict[str, HostState | None]  # the hosts' state files (None: none, or an empty one)
    benches: dict[str, HostBench]
    verify: dict[str, VerifyResult]
    facts: dict[str, DoctorFacts]  # what the doctor phase found on the hosts it reached
    notices: list[str] = field(default_factory=list)  # inputs that could not be read
    present: set[Path] = field(default_factory=set)  # the project's files and folders the report links to

    @property
    def report_id(self) -> str:
        return record_id_of(self.record, self.record_path) if self.record else NO_RUN_ID

    @property
    def ended(self) -> datetime | None:
        """When the run ended: what the files say about later times is not this run's."""
        if self.record is None:
            return None
        return parse_time(self.record.finished_at) or parse_time(self.record.started_at)

    def after_run(self, iso) -> bool:
        moment, ended = parse_time(iso), self.ended
        return bool(moment and ended and moment > ended)

    @property
    def command(self) -> str:
        return (self.record.command if self.record else None) or "run"

    def phases(self) -> list[Phase]:
        return self.record.phases if self.record else []

    def phase(self, name: str) -> Phase | None:
        return self.record.phase(name) if self.record else None

    def model(self, host: str) -> str | None:
        state, bench = self.states.get(host), self.benches[host].current
        return ((state.model.name if state else None) or (bench.result.model if bench else None)
                or (self.record.model if self.record else None))

    def profile(self, host: str) -> str | None:
        state, bench, facts = self.states.get(host), self.benches[host].current, self.facts.get(host)
        return ((state.profile if state else None) or (bench.result.profile if bench else None)
                or (facts.profile if facts else None))

    def is_spark(self, host: str) -> bool:
        """A real Spark's numbers: the spark profile, or any model but the lab's tiny one."""
        profile = self.profile(host)
        model = self.model(host)
        if profile == "spark":
            return True
        return profile != "lab" and model is not None and model != LAB_MODEL


def record_id_of(record: RunRecord | None, path: Path | None) -> str:
    rid = (record.id if record else None) or (path.stem if path else "")
    return rid if SAFE_NAME.match(rid) else (path.stem if path else NO_RUN_ID)


def parse_time(iso) -> datetime | None:
    if not isinstance(iso, str) or not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def read_json(path: Path, root: Path, notices: list[str]) -> dict | None:
    """A JSON object from a file; None when missing, and a notice when it cannot be read or is not an object."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        notices.append(f"`{relative(path, root)}` could not be read ({type(error).__name__}); it was left out.")
        return None
    if not isinstance(data, dict):
        notices.append(f"`{relative(path, root)}` does not hold a JSON object; it was left out.")
        return None
    return data


def _check_project(root: Path) -> None:
    state = root / STATE_DIRNAME
    if not state.is_dir():
        raise ProjectError(f"{root} is not a sparkfleet project (no {STATE_DIRNAME}/ folder in it).",
                           hint=f"Create it with: sparkfleet init {root}")
    try:
        os.listdir(state)
    except OSError as error:
        raise ProjectError(f"Cannot read {state}: {error.strerror or error}.",
                           hint="Check the folder's owner and permissions.") from error


def _unwrap(data, key: str) -> dict[str, dict]:
    """A phase's data, whether it holds the published dict itself or the stats key around it."""
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        data = data[key]
    return {h: v for h, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def artifacts_folder(root: Path, phase: Phase) -> Path | None:
    """The phase's ansible-runner artifacts, relative to the project: where the record says (unless that is
    outside the project's state folder), else where its run id puts them."""
    if phase.artifacts_dir:
        path = (root / phase.artifacts_dir).resolve()  # absolute, unless the project moved
        if path.is_relative_to(root / STATE_DIRNAME):
            return path.relative_to(root)
    if phase.run_id and SAFE_NAME.match(phase.run_id):
        return Path(STATE_DIRNAME) / "runs" / phase.run_id
    return None


def _present(project: Project, hosts: list[str], phases: list[Phase]) -> set[Path]:
    """Which of the files and folders the report would link to exist."""
    files = [project.hosts_dir / host / name for host in hosts for name in HOST_FILES]
    folders = [project.root / folder for phase in phases
               if (folder := artifacts_folder(project.root, phase)) is not None]
    return {path for path in files if path.is_file()} | {path for path in folders if path.is_dir()}


def _record_key(record: RunRecord, path: Path) -> tuple[str, str]:
    return (record.started_at or "", record_id_of(record, path))


def _read_records(project: Project, notices: list[str]) -> list[tuple[RunRecord, Path]]:
    """The project's run records, oldest first."""
    records = []
    history = project.history_dir
    for path in sorted(history.glob("*.json")) if history.is_dir() else []:
        data = read_json(path, project.root, notices)
        if data is not None:
            records.append((parse_run_record(data), path))
    records.sort(key=lambda item: _record_key(*item))
    return records


def _choose(records: list[tuple[RunRecord, Path]], record_id: str | None,
            project: Project) -> tuple[RunRecord, Path] | None:
    """The record asked for by id, else the newest `up`, else the newest record."""
    if record_id is None:
        ups = [item for item in records if item[0].command == "up"]
        return (ups or records)[-1] if records else None
    chosen = next((item for item in records if record_id_of(*item) == record_id or item[1].stem == record_id),
                  None)
    if chosen is None:
        known = ", ".join(record_id_of(*item) for item in records[-5:]) or "none yet"
        raise UsageError(f"No run {record_id!r} in {relative(project.history_dir, project.root)}/.",
                         hint=f"The newest runs: {known}. Without an id the report is of the newest `up`.")
    return chosen


def _hosts(record: RunRecord | None, project: Project) -> list[str]:
    """The record's hosts (and any host a failure names), else every host with state or bench files."""
    hosts: list[str] = []
    names = [*record.hosts, *(f.host for p in record.phases for f in p.failures)] if record else []
    if not any(isinstance(n, str) and SAFE_NAME.match(n) for n in names):
        names = [p.name for folder in (project.hosts_dir, project.bench_dir)
                 for p in (sorted(folder.iterdir()) if folder.is_dir() else []) if p.is_dir()]
    for name in names:
        if isinstance(name, str) and SAFE_NAME.match(name) and name not in hosts:
            hosts.append(name)
    return hosts


def load(root: Path, record_id: str | None = None) -> Inputs:
    """Everything the report shows, read tolerantly from the project folder."""
    root = Path(root).expanduser().resolve()
    _check_project(root)
    project = Project(root)
    notices: list[str] = []
    records = _read_records(project, notices)
    chosen = _choose(records, record_id, project)
    record, record_path = chosen if chosen else (None, None)
    previous = None
    if chosen:
        earlier = [item for item in records if item[0].command == record.command
                   and _record_key(*item) < _record_key(*chosen)]
        previous = earlier[-1][0] if earlier else None
    hosts = _hosts(record, project)
    phase_data = {str(p.name): p.data for p in (record.phases if record else [])}
    verify = {h: parse_verify_result(v) for h, v in _unwrap(phase_data.get("verify"), "sparkfleet_verify").items()}
    bench_data = _unwrap(phase_data.get("bench"), "sparkfleet_bench")
    facts = {h: parse_doctor_facts(report["facts"])
             for h, report in _unwrap(phase_data.get("doctor"), "sparkfleet_preflight").items()
             if isinstance(report.get("facts"), dict) and report["facts"]}
    inputs = Inputs(root=root, record=record, record_path=record_path, previous=previous, hosts=hosts,
                    states={}, benches={}, verify=verify, facts=facts, notices=notices,
                    present=_present(project, hosts, record.phases if record else []))
    for host in hosts:
        state = read_json(project.hosts_dir / host / "state.json", root, notices)
        inputs.states[host] = parse_host_state(state) if state else None
        inputs.benches[host] = _host_bench(project, host, bench_data.get(host), notices, inputs.ended)
    return inputs


def _read_benches(project: Project, host: str, notices: list[str]) -> list[Bench]:
    """A host's bench results, oldest first."""
    folder = project.bench_dir / host
    benches = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = read_json(path, project.root, notices)
        if data is not None:
            benches.append(Bench(path, parse_bench_result(data)))
    return sorted(benches, key=lambda b: b.key)


def _host_bench(project: Project, host: str, published_entry: dict | None, notices: list[str],
                until: datetime | None = None) -> HostBench:
    """The bench to show for a host: the one the run's bench phase wrote, else the newest one that existed when
    the run ended (until), and the one before it for comparison."""
    root = project.root
    benches = _read_benches(project, host, notices)
    result = HostBench()
    named = dig(published_entry, "file")
    if isinstance(named, str) and named:
        target = (root / named).resolve()
        result.current = next((b for b in benches if b.path.resolve() == target), None)
        if result.current is None:
            data = read_json(target, root, notices) if target.is_relative_to(root) else None
            if data is None:
                notices.append(f"{host}: the bench file this run wrote, `{named}`, is missing.")
            else:
                result.current = Bench(target, parse_bench_result(data))
        result.from_this_run = result.current is not None
    skipped = dig(published_entry, "skipped")
    result.skipped = str(skipped) if skipped else None
    if result.current is None:
        known = [b for b in benches if until is None or (parse_time(b.result.started_at) or until) <= until]
        result.current = known[-1] if known else None
    if result.current is not None:
        before = [b for b in benches if b.key < result.current.key]
        result.previous = before[-1] if before else None
        result.history = [*before, result.current]
    return result
