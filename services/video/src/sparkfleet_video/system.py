"""Host facts for /api/system, /api/bench and /api/notes: /proc/meminfo, nvidia-smi, bench JSON, NOTES.md."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

BENCH_MAX_FILES = 50
BENCH_MAX_BYTES = 5 * 1024 * 1024
NOTES_MAX_BYTES = 1024 * 1024


def meminfo(path: Path = Path("/proc/meminfo")) -> dict:
    values: dict[str, float] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0]) / 1024  # kB -> MiB
    except OSError:
        pass
    return {"memory_total_mib": _round(values.get("MemTotal")),
            "memory_available_mib": _round(values.get("MemAvailable"))}


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _num(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None  # "[N/A]" (GB10 has no separate GPU memory), "[Not Supported]"


def gpu() -> dict | None:
    """The first GPU as nvidia-smi tells it, or None without nvidia-smi (the lab profile)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total,utilization.gpu",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [line.split(",") for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or not rows or len(rows[0]) < 4:
        return None
    name, driver, memory, util = (c.strip() for c in rows[0][:4])
    return {"name": name, "driver_version": driver or None, "memory_total_mib": _num(memory),
            "utilization_pct": _num(util), "count": len(rows)}


def bench_results(folder: Path) -> list[dict]:
    """The JSON files under `folder`, newest first (at most BENCH_MAX_FILES)."""
    if not folder.is_dir():
        return []
    files = []
    for path in folder.rglob("*.json"):
        try:
            if path.is_file():
                files.append((path.stat().st_mtime, path))
        except OSError:
            continue
    files.sort(key=lambda item: item[0], reverse=True)
    results = []
    for mtime, path in files[:BENCH_MAX_FILES]:
        entry: dict = {"file": str(path.relative_to(folder)),
                       "modified_at": datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")
                       .replace("+00:00", "Z"), "result": None, "error": None}
        try:
            if path.stat().st_size > BENCH_MAX_BYTES:
                entry["error"] = "file too large to show"
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    entry["result"] = data
                else:
                    entry["error"] = "not a JSON object"
        except (OSError, ValueError) as exc:
            entry["error"] = f"unreadable ({type(exc).__name__})"
        results.append(entry)
    return results


def notes(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            return fh.read(NOTES_MAX_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
