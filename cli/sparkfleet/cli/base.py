"""What every command shares: the root group, --json and --project, and the wrapper that turns outcomes into
exit codes. Commands stay thin: parse, call runs/report/lab/core, render."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import click

from sparkfleet import __version__
from sparkfleet.cli.output import Output
from sparkfleet.core.errors import Cancelled, ExitCode, SparkfleetError


@dataclass
class Settings:
    json: bool = False
    project_dir: Path | None = None

    def project(self):
        from sparkfleet.core.project import Project

        return Project.find(self.project_dir)


def _set_json(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.ensure_object(Settings).json = True


def _set_project(ctx: click.Context, _param, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).project_dir = value


def common_options(fn):
    """--json and --project work before or after the command name."""
    fn = click.option("--json", "as_json", is_flag=True, expose_value=False, is_eager=True, callback=_set_json,
                      help="Write only newline-delimited JSON to stdout (events, then one summary).")(fn)
    return click.option("--project", type=click.Path(file_okay=False, path_type=Path), expose_value=False,
                        callback=_set_project, envvar="SPARKFLEET_PROJECT",
                        help="The project folder (default: the nearest one above the current folder).")(fn)


def command(group: click.Group, name: str, **kwargs):
    """Register fn as a command that gets (settings, out, **params) and returns an exit code."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(**params):
            ctx = click.get_current_context()
            settings = ctx.ensure_object(Settings)
            out = Output(settings.json, ctx.command_path.partition(" ")[2])
            try:
                return int(fn(settings, out, **params) or 0)
            except SparkfleetError as error:
                out.failure(error)
                return int(error.exit_code)
            except KeyboardInterrupt:
                out.failure(Cancelled("Interrupted; whatever was half-done was cleaned up.", hint=None))
                return int(ExitCode.CANCELLED)

        return group.command(name, **kwargs)(common_options(wrapper))

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(__version__, prog_name="sparkfleet")
def cli() -> None:
    """Provision NVIDIA DGX Spark machines for local AI serving, one Spark or a fleet.

    Every command takes --json for agents: stdout then carries only JSON lines,
    ending with one summary object. Exit codes: 0 ok, 2 usage or config error,
    3 a host failed, 4 a host was unreachable, 5 controller environment problem,
    6 a playbook needs approval (run),
    130 cancelled (see docs/exit-codes.md).
    """

