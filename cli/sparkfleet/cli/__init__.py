"""The `sparkfleet` command: click commands and rendering only; the work happens in runs, report, lab and core.

Heavy imports (ansible-runner, yaml, jinja2) happen inside commands so that `--help` stays fast.
"""

from __future__ import annotations

import sys

import click

# Importing the command modules registers their commands on the group.
from sparkfleet.cli import (  # noqa: F401
    agent_commands,
    fleet_commands,
    host_commands,
    lab_commands,
    plan_commands,
    run_commands,
    status_commands,
)
from sparkfleet.cli.base import cli
from sparkfleet.cli.output import Output
from sparkfleet.core.errors import Cancelled, ExitCode, SparkfleetError, UsageError


def main() -> None:
    """Entry point: turns every outcome, even a usage error or a crash, into an exit code (and JSON)."""
    json_mode = "--json" in sys.argv[1:]
    try:
        code = cli.main(prog_name="sparkfleet", standalone_mode=False)
    except click.ClickException as error:
        if json_mode:
            Output(True, "").failure(UsageError(error.format_message(), hint="See `sparkfleet --help`."))
        else:
            error.show()
        code = ExitCode.USAGE
    except (click.Abort, KeyboardInterrupt):
        if json_mode:
            Output(True, "").failure(Cancelled("Interrupted."))
        code = ExitCode.CANCELLED
    except Exception as error:  # a bug: still give agents a parseable end
        if not json_mode:
            raise
        Output(True, "").failure(SparkfleetError(f"Internal error: {error!r}",
                                                 hint="Please report this with the command you ran."))
        code = ExitCode.INTERNAL
    sys.exit(int(code or 0))
