"""The report's words and markdown: times, durations, values and their changes, safe text, tables and fences."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from sparkfleet.core.json_fields import number
from sparkfleet.report.inputs import parse_time, relative


# values -----------------------------------------------------------------------------------------------------
def fmt_time(iso, with_date: bool = True) -> str:
    moment = parse_time(iso)
    if moment is None:
        return str(iso) if iso else "unknown time"
    zone = "UTC" if moment.utcoffset() is not None and not moment.utcoffset() else moment.strftime("%z")
    return (moment.strftime("%Y-%m-%d %H:%M") if with_date else moment.strftime("%H:%M")) + (f" {zone}" if zone
                                                                                               else "")


def fmt_duration(seconds) -> str:
    value = number(seconds)
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        minutes, rest = divmod(round(value), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(round(value / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def fmt_value(value, unit: str = "") -> str:
    amount = number(value)
    if amount is None:
        return "—"
    if abs(amount) >= 100:
        shown = f"{amount:,.0f}"
    elif abs(amount) >= 10:
        shown = f"{amount:.1f}"
    else:
        shown = f"{amount:.2f}"
    return f"{shown} {unit}".rstrip()


def delta_pct(now, before) -> float | None:
    """(now - before) / before in percent; None when either is missing or before is 0."""
    now, before = number(now), number(before)
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before * 100


def fmt_delta(now, before, higher_is_better: bool) -> str:
    delta = delta_pct(now, before)
    if delta is None:
        return "—"
    if abs(delta) < 0.05:
        return "±0.0 %"
    better = (delta > 0) == higher_is_better
    verdict = "" if abs(delta) < 1 else (" better" if better else " worse")
    return f"{delta:+.1f} %{verdict}"


def gib(mib) -> str:
    value = number(mib)
    return "—" if value is None else f"{value / 1024:.1f} GiB"


def short_revision(revision) -> str | None:
    """A commit hash shortened to 7 characters; any other revision (a tag, a branch) as it is."""
    if not isinstance(revision, str) or not revision:
        return None
    return revision[:7] if re.fullmatch(r"[0-9a-f]{8,64}", revision) else revision


def on_off(value, yes: str, no: str) -> str:
    if value is True:
        return yes
    if value is False:
        return no
    return str(value) if value else "?"


# words ------------------------------------------------------------------------------------------------------
def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def join_words(names: list[str]) -> str:
    """a, b and c"""
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# safe markdown ----------------------------------------------------------------------------------------------
def text(value) -> str:
    """Free text from the inputs, safe inside markdown: no HTML, no table breaks."""
    if value is None or value == "":
        return "—"
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(value) -> str:
    return text(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def code(value) -> str:
    raw = str(value).replace("\n", " ")
    ticks = "``" if "`" in raw else "`"
    return f"{ticks}{raw}{ticks}" if raw else "—"


def link(url, label: str | None = None) -> str:
    if not isinstance(url, str) or not re.match(r"^https?://[^\s()<>]+$", url):
        return cell(url)
    shown = label or re.sub(r"^https?://", "", url).rstrip("/")
    return f"[{cell(shown)}]({url})"


def file_link(root: Path, report_dir: Path, target: Path, label: str | None = None) -> str:
    """A link from the report to a file of the project, relative, so the folder can move."""
    href = os.path.relpath(target, report_dir)
    return f"[{label or relative(target, root)}]({href.replace(' ', '%20')})"


def table(headers: list[str], rows: Iterable[list[str]], align: str = "") -> str:
    """A markdown table; align is one letter per column (l, r, c), default left."""
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join(marks.get(align[i] if i < len(align) else "l", ":---")
                               for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fence(lines: Iterable[str], lang: str = "text") -> str:
    body = "\n".join(str(line).rstrip("\n") for line in lines)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"
