"""A wheelhouse: the wheels a host needs, downloaded once on the controller, with a lock file of exact pins.

Hosts install from it with `pip install --no-index --no-deps -r requirements.lock`, so an air-gapped fleet needs
no index, every host gets the same versions, and packages can be left out on purpose (`--exclude`).

    python -m sparkfleet.role_tools.wheelhouse DEST --python-version 3.11 --arch x86_64 [--exclude NAME ...] PACKAGE...

Prints one JSON object: {"dest", "changed", "wheels", "lock", "local"}. Re-running with the same request does
nothing.

A package named like a service that sparkfleet ships (services/*, e.g. sparkfleet-video) is not taken from the
index: its wheel is built here from that source, pinned to the version the source declares, and its dependencies
are held to the service's requirements.lock. Such a wheelhouse is rebuilt from empty when the source changes; a
changed source that keeps its version is refused (hosts install by version, so they would never get it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
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


def foreign_wheels(names: list[str], arch: str) -> list[str]:
    """The wheel file names that are neither pure Python (`any`) nor built for `arch` (e.g. manylinux*_aarch64)."""
    foreign = []
    for name in names:
        platforms = name.removesuffix(".whl").split("-")[-1].split(".")  # compressed tags: a.b means a or b
        if not any(tag == "any" or tag.endswith(f"_{arch}") for tag in platforms):
            foreign.append(name)
    return foreign


def local_projects() -> dict[str, Path]:
    """The services sparkfleet ships as source, by project name: {"sparkfleet-video": .../services/video}."""
    from sparkfleet.core.content import services_dir

    found = {}
    for pyproject in sorted(services_dir().glob("*/pyproject.toml")):
        found[_normalize(tomllib.loads(pyproject.read_text())["project"]["name"])] = pyproject.parent
    return found


def source_hash(project: Path) -> str:
    """What the wheel is built from: pyproject.toml, the lock and src/ (not tests, not caches)."""
    digest = hashlib.sha256()
    files = [project / "pyproject.toml", project / LOCK, *sorted((project / "src").rglob("*"))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(f"{path.relative_to(project)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _requested_name(package: str) -> str:
    return _normalize(re.split(r"[\s\[<>=!~;@]", package.strip(), maxsplit=1)[0])


def _build_local(dest: Path, projects: dict[str, Path], sources: dict[str, str]) -> dict[str, str]:
    """Builds each local project's wheel into `dest` (emptied first); returns {name: version}."""
    previous = json.loads((dest / REQUEST).read_text()).get("local", {}) if (dest / REQUEST).exists() else {}
    versions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, project in projects.items():
            result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                                     "--no-build-isolation", "--wheel-dir", tmp, str(project)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"building the wheel of {project} failed:\n{result.stderr[-3000:]}")
            versions[name] = next(Path(tmp).glob(f"{name.replace('-', '_')}-*.whl")).name.split("-")[1]
            before = previous.get(name) or {}
            if before.get("version") == versions[name] and before.get("source") != sources[name]:
                raise SystemExit(f"{project} changed since version {versions[name]} was built, but its version did "
                                 "not: bump __version__ (hosts install by version and would keep the old code)")
        (dest / REQUEST).unlink(missing_ok=True)  # until the new one is complete, nothing here counts as built
        for wheel in dest.glob("*.whl"):  # the source or its lock changed: nothing left over may enter the lock
            wheel.unlink()
        for wheel in Path(tmp).glob("*.whl"):
            shutil.move(wheel, dest / wheel.name)
    return versions


def build(dest: Path, packages: list[str], python_version: str, arch: str, exclude: list[str]) -> dict:
    request: dict = {"packages": packages, "python_version": python_version, "arch": arch, "exclude": sorted(exclude)}
    projects = {name: path for name, path in local_projects().items()
                if name in {_requested_name(p) for p in packages}}
    sources = {name: source_hash(path) for name, path in projects.items()}
    if sources:
        request["local_sources"] = sources
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    previous = json.loads((dest / REQUEST).read_text()) if (dest / LOCK).exists() and (dest / REQUEST).exists() else {}
    if previous.get("fingerprint") == fingerprint:
        local = previous.get("local", {})
        return {"dest": str(dest), "changed": False, "wheels": len(list(dest.glob("*.whl"))), "lock": str(dest / LOCK),
                "local": {name: built["version"] for name, built in local.items()}}
    dest.mkdir(parents=True, exist_ok=True)
    versions = _build_local(dest, projects, sources) if projects else {}
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in (17, 27, 28, 31, 34, 35)]
    platforms += [f"manylinux2014_{arch}", f"linux_{arch}"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp"]
    for platform in platforms:
        command += ["--platform", platform]
    if projects:  # the wheels just built, their dependencies as their locks pin them
        command += ["--find-links", str(dest)]
        command += [arg for p in projects.values() if (p / LOCK).exists() for arg in ("--constraint", str(p / LOCK))]
    wanted = [f"{_requested_name(p)}=={versions[_requested_name(p)]}" if _requested_name(p) in versions else p
              for p in packages]
    result = subprocess.run(command + wanted, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"pip download failed for {' '.join(packages)}:\n{result.stderr[-3000:]}")
    foreign = foreign_wheels([wheel.name for wheel in dest.glob("*.whl")], arch)
    if foreign:  # pip's --platform should make this impossible; a host would fail to install them much later
        raise SystemExit(f"wheels for another machine than {arch} in {dest}: {', '.join(foreign)}")
    pins = _pins(dest, {_normalize(n) for n in exclude})
    (dest / LOCK).write_text("\n".join(pins) + "\n")
    local = {name: {"version": versions[name], "source": sources[name]} for name in versions}
    (dest / REQUEST).write_text(json.dumps({**request, "local": local, "fingerprint": fingerprint}, indent=1) + "\n")
    return {"dest": str(dest), "changed": True, "wheels": len(pins), "lock": str(dest / LOCK), "local": versions}


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
