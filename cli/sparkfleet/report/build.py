"""`sparkfleet report`: a markdown report of a run, from the files a run leaves behind (docs/run-data.md).

It reads one history record (and the previous record of the same command), the hosts' state files, their
bench results and the verify results in the record (inputs.py), draws PNG charts (chart_files.py), joins the
sections (sections/, each a pure function of the inputs) and writes reports/<id>/report.md beside the charts.
Every input may be missing or partial: a report after a failed `up` says which phase failed, why, and what was
not reached. Only a project that cannot be read (or written) raises.
"""

from __future__ import annotations

import os
from pathlib import Path

from sparkfleet import __version__
from sparkfleet.core.atomic import write_atomically
from sparkfleet.core.errors import ProjectError, UsageError
from sparkfleet.core.project import STATE_DIRNAME, Project
from sparkfleet.core.records import parse_run_record
from sparkfleet.report.chart_files import draw_charts
from sparkfleet.report.inputs import NO_RUN_ID, SAFE_NAME, Inputs, load, read_json
from sparkfleet.report.outcome import outcome
from sparkfleet.report.sections.bench import bench
from sparkfleet.report.sections.comparison import fleet_comparison
from sparkfleet.report.sections.data_notes import data_notes
from sparkfleet.report.sections.fleet import fleet
from sparkfleet.report.sections.header import header
from sparkfleet.report.sections.next_steps import next_steps
from sparkfleet.report.sections.problems import problems
from sparkfleet.report.sections.timeline import timeline
from sparkfleet.report.sections.verify import verify
from sparkfleet.report.sections.where import where

REPORTS_DIRNAME = "reports"
FOOTER = (f"---\n\n*Written by sparkfleet {__version__} from the files under `{STATE_DIRNAME}/` "
          "(see docs/run-data.md); nothing in it was typed in by hand.*")


def render(inputs: Inputs, report_dir: Path, chart_files: dict[str, str], chart_errors: list[str]) -> str:
    """The report's markdown. chart_files: chart name -> file name beside the report (none: no chart shown)."""
    done = outcome(inputs)
    sections = [header(inputs, done), fleet(inputs), verify(inputs, done), bench(inputs, done, chart_files),
                fleet_comparison(inputs),
                timeline(inputs, done), problems(inputs), next_steps(inputs, done), where(inputs, report_dir),
                data_notes(inputs.notices, chart_errors), FOOTER]
    return "\n\n".join(s.strip("\n") for s in sections if s) + "\n"


def build_report(project_root: Path, record_id: str | None = None, charts: bool = True) -> Path:
    """Write reports/<id>/report.md (+ PNG charts unless charts is False) for a run, point reports/latest.md at
    the newest report, and return the report's path. Raises ProjectError only when the project cannot be read
    or written."""
    if record_id is not None and not SAFE_NAME.match(record_id):
        raise UsageError(f"{record_id!r} is not a run id.", hint="Run ids look like 20261126T061500-up-ab12.")
    inputs = load(Path(project_root), record_id)
    report_dir = inputs.root / REPORTS_DIRNAME / inputs.report_id
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        chart_files, chart_errors = draw_charts(inputs, report_dir) if charts else ({}, [])
        path = report_dir / "report.md"
        write_atomically(path, render(inputs, report_dir, chart_files, chart_errors))
        _point_latest(inputs)
    except OSError as error:
        raise ProjectError(f"Cannot write the report under {inputs.root / REPORTS_DIRNAME}: "
                           f"{error.strerror or error}.",
                           hint="Check the folder's owner, permissions and free space.") from error
    return path


def _point_latest(inputs: Inputs) -> None:
    """reports/latest.md -> the report of the newest recorded run that has one (relative link)."""
    reports = inputs.root / REPORTS_DIRNAME
    history = Project(inputs.root).history_dir
    best: tuple[tuple[str, str], str] | None = None
    for folder in reports.iterdir():
        if not (folder / "report.md").is_file() or folder.name == NO_RUN_ID:
            continue
        data = read_json(history / f"{folder.name}.json", inputs.root, [])
        key = ((parse_run_record(data).started_at if data else None) or "", folder.name)
        if best is None or key > best[0]:
            best = (key, folder.name)
    target_name = best[1] if best else (NO_RUN_ID if (reports / NO_RUN_ID / "report.md").is_file() else None)
    if target_name is None:
        return
    latest = reports / "latest.md"
    target = f"{target_name}/report.md"
    if latest.is_symlink() and os.readlink(latest) == target:
        return
    tmp = reports / f".latest.md.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, latest)
