# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Small readers of a host's state, shared by the collection's modules.

The parsers are pure functions (unit tests call them); the readers that run a command take the module and use
its run_command, so Ansible's environment, locale and error handling apply.
"""

from __future__ import annotations

import glob
import hashlib
import os
import tempfile

_MIB = 1024 * 1024


def read_text(path: str) -> str | None:
    """A file's text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def vllm_api_key(env_file: str | None) -> str:
    """VLLM_API_KEY from the environment file the vllm role writes when a key is set ("" when none)."""
    for line in (read_text(env_file) or "").splitlines() if env_file else []:
        name, _, value = line.partition("=")
        if name.strip() == "VLLM_API_KEY":
            return value.strip()
    return ""


def vllm_auth_headers(env_file: str | None) -> dict[str, str]:
    """The header vLLM's /v1 routes need when it has a key."""
    key = vllm_api_key(env_file)
    return {"Authorization": f"Bearer {key}"} if key else {}


def parse_meminfo(text: str) -> dict[str, int | None]:
    """/proc/meminfo -> {'memory_total_mib': MemTotal, 'memory_available_mib': MemAvailable} in MiB (rounded down)."""
    values: dict[str, int] = {}
    for line in (text or "").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            factor = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            values[name.strip()] = int(parts[0]) * factor
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    return {
        "memory_total_mib": total // _MIB if total is not None else None,
        "memory_available_mib": available // _MIB if available is not None else None,
    }


def meminfo() -> dict[str, int | None]:
    """The host's memory now (see parse_meminfo); None values where /proc/meminfo is missing."""
    return parse_meminfo(read_text("/proc/meminfo") or "")


def with_timeout(module, argv: list[str], seconds: int) -> list[str]:
    """argv under coreutils `timeout` when it is installed (a hung command must not hang the module)."""
    timeout = module.get_bin_path("timeout")
    return [timeout, str(seconds), *argv] if timeout else list(argv)


def _output(module, argv: list[str], seconds: int, stderr: bool = False) -> str:
    """What a command printed ("" when it could not start); its exit status is the caller's to judge."""
    try:
        _, out, err = module.run_command(with_timeout(module, argv, seconds), handle_exceptions=False)
    except OSError:
        return ""
    return out + err if stderr else out


def parse_properties(text: str) -> dict[str, str]:
    """`systemctl show -p A,B` output (A=x lines) -> {'A': 'x', 'B': ...}."""
    return dict(line.split("=", 1) for line in (text or "").splitlines() if "=" in line)


def unit_properties(module, unit: str, names: list[str]) -> dict[str, str]:
    """Properties of a systemd unit (`systemctl show`); empty without systemctl or a unit name."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl or not unit:
        return {}
    return parse_properties(_output(module, [systemctl, "show", unit, "-p", ",".join(names)], 30))


def journal_tail(module, unit: str, lines: int, output: str = "short-iso") -> list[str]:
    """The unit's last journal lines (empty without journalctl)."""
    journalctl = module.get_bin_path("journalctl")
    if not journalctl or lines <= 0:
        return []
    argv = [journalctl, "-u", unit, "-n", str(lines), "--no-pager", "-o", output]
    return _output(module, argv, 60, stderr=True).splitlines()[-lines:]


def package_version(module, python: list[str], dist: str) -> str | None:
    """A distribution's installed version as the given Python sees it (a venv's python, or `docker exec C python3`):
    vLLM's, or a service's such as sparkfleet-video."""
    if not python:
        return None
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    try:
        rc, out, _ = module.run_command(with_timeout(module, [*python, "-c", code], 60),
                                        handle_exceptions=False)
    except OSError:
        return None
    return (out.strip() or None) if rc == 0 else None


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write text to path so readers see the old file or the new one, never a part (same-folder rename)."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")  # not *.json until complete
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def file_sha256(path: str | None) -> str | None:
    """A file's sha256 (hex), or None when there is no such file."""
    if not path:
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def dist_version(venv: str | None, dist: str) -> str | None:
    """A distribution's version read from its METADATA in a venv, without starting that venv's Python (a probe
    must be cheap); None when it is not installed there."""
    if not venv:
        return None
    name = dist.replace("-", "_").lower()
    pattern = os.path.join(venv, "lib", "python3*", "site-packages", "*.dist-info", "METADATA")
    for metadata in sorted(glob.glob(pattern)):
        folder = os.path.basename(os.path.dirname(metadata))
        if folder.lower().split("-", 1)[0] != name:  # NAME-VERSION.dist-info, NAME with underscores
            continue
        for line in (read_text(metadata) or "").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
            if not line:
                break
    return None
