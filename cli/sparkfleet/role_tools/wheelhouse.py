"""A wheelhouse: the wheels a host needs, downloaded once on the controller, with a lock file of exact pins.

Hosts install from it with `pip install --no-index --no-deps -r requirements.lock`, so an air-gapped fleet needs
no index, every host gets the same versions, and packages can be left out on purpose (`--exclude`).

    python -m sparkfleet.role_tools.wheelhouse DEST --python-version 3.11 --arch x86_64 [--exclude NAME ...] PACKAGE...

Prints one JSON object: {"dest", "changed", "wheels", "lock"}. Re-running with the same request does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

LOCK = "requirements.lock"
REQUEST = "request.json"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(dest: Path, exclude: set[str]) -> list[str]:
    pins = []
    for wheel in sorted(dest.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        if _normalize(name) not in exclude:
            pins.append(f"{_normalize(name)}=={version}")
    return pins


def build(dest: Path, packages: list[str], python_version: str, arch: str, exclude: list[str]) -> dict:
    request = {"packages": packages, "python_version": python_version, "arch": arch, "exclude": sorted(exclude)}
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    if (dest / LOCK).exists() and (dest / REQUEST).exists() and \
            json.loads((dest / REQUEST).read_text()).get("fingerprint") == fingerprint:
        return {"dest": str(dest), "changed": False, "wheels": len(list(dest.glob("*.whl"))), "lock": str(dest / LOCK)}
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in (17, 27, 28, 31, 34, 35)]
    platforms += [f"manylinux2014_{arch}", f"linux_{arch}"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp"]
    for platform in platforms:
        command += ["--platform", platform]
    result = subprocess.run(command + packages, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"pip download failed for {' '.join(packages)}:\n{result.stderr[-3000:]}")
    pins = _pins(dest, {_normalize(n) for n in exclude})
    (dest / LOCK).write_text("\n".join(pins) + "\n")
    (dest / REQUEST).write_text(json.dumps({**request, "fingerprint": fingerprint}, indent=1) + "\n")
    return {"dest": str(dest), "changed": True, "wheels": len(pins), "lock": str(dest / LOCK)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("packages", nargs="+")
    parser.add_argument("--python-version", required=True, help="The host's Python, e.g. 3.11")
    parser.add_argument("--arch", required=True, help="The host's machine, e.g. x86_64 or aarch64")
    parser.add_argument("--exclude", action="append", default=[], help="A package to leave out of the lock")
    args = parser.parse_args()
    print(json.dumps(build(args.dest, args.packages, args.python_version, args.arch, args.exclude)))


if __name__ == "__main__":
    main()
