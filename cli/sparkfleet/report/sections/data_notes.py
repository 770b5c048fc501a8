"""Data notes: the inputs that could not be read and the charts that could not be drawn."""

from __future__ import annotations

from sparkfleet.report.markdown import text


def data_notes(notices: list[str], chart_errors: list[str]) -> str:
    if not notices and not chart_errors:
        return ""
    return "\n".join(["## Data notes", "", *(f"- {n}" for n in notices), *(f"- {text(n)}" for n in chart_errors)])
