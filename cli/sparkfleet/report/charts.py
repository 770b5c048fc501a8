"""The report's charts as PNG files (matplotlib's Agg canvas, imported only when a chart is drawn).

Output is deterministic: fixed size and resolution, no pyplot global state, and no software or date
stamp in the PNG, so the same data gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

WIDTH_IN = 9.0
DPI = 100
PALETTE = ("#1f6fb4", "#e07b1a", "#2a9d4b", "#c0392b", "#7e57c2", "#8c564b", "#d6457f", "#5f6b6d")
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


@dataclass
class Line:
    label: str
    points: list[tuple[float, float]]  # (concurrency, value)
    color_key: str = ""  # lines with the same key share a colour (a host now and before)
    dashed: bool = False


@dataclass
class LatencyPanel:
    title: str  # "TTFT", ...
    median: list[float | None] = field(default_factory=list)  # one per scenario
    p99: list[float | None] = field(default_factory=list)


def _figure(panels: int, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        figure.savefig(tmp, dpi=DPI, format="png", metadata={"Software": None}, facecolor="white")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def throughput(path: Path, panels: dict[str, list[Line]], ylabel: str = "output tokens/s") -> None:
    """One panel per traffic type: a value against concurrency, one line per host (dashed: the previous bench)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        figure = _figure(len(panels), 3.6)
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        keys = sorted({line.color_key or line.label for lines in panels.values() for line in lines})
        colors = {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}
        for ax, (traffic, lines) in zip(axes, panels.items(), strict=True):
            ticks: set[float] = set()
            for line in lines:
                xs = [x for x, _ in line.points]
                ys = [y for _, y in line.points]
                ticks.update(xs)
                ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.2 if line.dashed else 1.8,
                        linestyle="--" if line.dashed else "-", alpha=0.55 if line.dashed else 1.0,
                        color=colors[line.color_key or line.label], label=line.label)
            if ticks and min(ticks) > 0 and max(ticks) / min(ticks) >= 8:
                ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(ticks), [f"{t:g}" for t in sorted(ticks)])
            ax.minorticks_off()
            ax.set_ylim(bottom=0)
            ax.set_title(f"{traffic} traffic")
            ax.set_xlabel("concurrency (requests in flight)")
            ax.set_ylabel(ylabel)
            ax.legend(loc="best")
        _save(figure, path)


def latency(path: Path, title: str, scenarios: Sequence[str], panels: Sequence[LatencyPanel]) -> None:
    """Median and p99 latency per scenario, one panel per metric (each on its own scale)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        columns = 2
        rows = (len(panels) + columns - 1) // columns
        figure = _figure(len(panels), 2.3 * rows + 0.6)
        axes = figure.subplots(rows, columns, squeeze=False).flatten()
        width = 0.38
        positions = list(range(len(scenarios)))
        for index, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
            median = [v or 0.0 for v in panel.median]
            p99 = [v or 0.0 for v in panel.p99]
            ax.bar([p - width / 2 for p in positions], median, width, label="median", color=PALETTE[0])
            ax.bar([p + width / 2 for p in positions], p99, width, label="p99", color=PALETTE[1])
            ax.set_xticks(positions, list(scenarios), rotation=30 if len(scenarios) > 4 else 0,
                          ha="right" if len(scenarios) > 4 else "center")
            ax.set_title(f"{panel.title} (ms)")
            ax.grid(axis="x", visible=False)
            if index == 0:
                ax.legend(loc="upper left")
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        figure.suptitle(title, fontsize=11)
        _save(figure, path)
