"""Lab base images: a debootstrap root file system imported into the container engine, built once and cached.

The image tag carries a digest of the recipe, so changing the recipe builds a new image and an
unchanged one is reused, across projects and runs.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sparkfleet.core.errors import EnvironmentProblem
from sparkfleet.lab.emulation import DPKG_ARCH, ensure_emulation
from sparkfleet.lab.engine import docker, ensure_tool

IMAGE_REPO = "sparkfleet-lab"
LAB_USER = "spark"
LAB_UID = 1000
# python3-apt: Ubuntu 24.04 (and so DGX OS) ships it, and Ansible's apt module needs it to run in check mode.
PACKAGES = "openssh-server,python3,python3-apt,sudo,systemd,systemd-sysv,dbus,iproute2,ca-certificates"
CACHE_DIR = Path.home() / ".cache" / "sparkfleet"

# Debian 12 has no ubuntu-keyring package, so the Ubuntu archive key comes from the Ubuntu archive
# itself, checked against this digest (noble's ubuntu-keyring 2023.11.28.1).
UBUNTU_KEYRING_DEB = "pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb"
UBUNTU_KEYRING_SHA256 = "36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8"


@dataclass(frozen=True)
class Recipe:
    os: str
    suite: str
    mirrors: dict[str, str]  # by dpkg architecture
    components: str
    extra_sources: tuple[str, ...]  # apt lines for the updates and security pockets, so hosts get fixes
    ubuntu: bool

    def mirror(self, arch: str) -> str:
        return self.mirrors.get(arch, self.mirrors["default"])


RECIPES = {
    "ubuntu2404": Recipe(
        os="ubuntu2404",
        suite="noble",
        mirrors={"default": "http://archive.ubuntu.com/ubuntu", "arm64": "http://ports.ubuntu.com/ubuntu-ports"},
        components="main,universe",
        extra_sources=("deb {mirror} noble-updates main universe", "deb {mirror} noble-security main universe"),
        ubuntu=True,
    ),
    "debian12": Recipe(
        os="debian12",
        suite="bookworm",
        mirrors={"default": "http://deb.debian.org/debian"},
        components="main",
        extra_sources=("deb {mirror} bookworm-updates main",
                       "deb http://deb.debian.org/debian-security bookworm-security main"),
        ubuntu=False,
    ),
}

# Run inside the new root file system. Host keys are removed (each lab host gets its own at creation),
# machine-id is emptied (unique per host at boot), and the lab user matches a fresh Spark's: uid 1000, sudo.
CONFIGURE_SCRIPT = f"""set -e
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
id -u {LAB_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash -u {LAB_UID} -G sudo {LAB_USER}
apt-get clean
"""


def image_tag(recipe: Recipe, arch: str) -> str:
    fingerprint = hashlib.sha256(repr((recipe, arch, PACKAGES, CONFIGURE_SCRIPT)).encode()).hexdigest()[:12]
    return f"{IMAGE_REPO}:{recipe.os}-{fingerprint}"


def dpkg_arch() -> str:
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EnvironmentProblem("The lab builds its images with Debian tools, and dpkg is missing.",
                                 hint="Run the lab on a Debian or Ubuntu machine.") from exc


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def ensure_image(os_name: str, say: Callable[[str], None], machine: str | None = None) -> str:
    """Return the tag of the lab image for os_name (and a machine such as aarch64; default: this one's), building it
    first if it is not cached. Another machine's image runs under qemu-user-static (see emulation.py)."""
    recipe = RECIPES[os_name]
    native = dpkg_arch()
    arch = DPKG_ARCH[machine] if machine else native
    tag = image_tag(recipe, arch)
    if image_exists(tag):
        return tag
    foreign = arch != native
    if foreign:
        ensure_emulation(machine, say)
    ensure_tool("debootstrap", "debootstrap", say)
    say(f"Building the {os_name} {arch} lab image with debootstrap"
        f" ({'several minutes under emulation' if foreign else 'about a minute'}, once per machine)")
    with tempfile.TemporaryDirectory(prefix="sparkfleet-lab-image-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        _debootstrap(recipe, arch, rootfs, Path(work), foreign)
        _configure(recipe, arch, rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "--platform", f"linux/{arch}",
                                   "--change", 'CMD ["/sbin/init"]', "-", tag],
                                  stdin=tar.stdout, capture_output=True)
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise EnvironmentProblem(f"Importing the lab image failed: {imported.stderr.decode().strip()}",
                                     hint="Check free disk space and that the container engine runs.")
    return tag


def _debootstrap(recipe: Recipe, arch: str, rootfs: Path, work: Path, foreign: bool = False) -> None:
    command = ["debootstrap", "--variant=minbase", f"--arch={arch}", f"--components={recipe.components}",
               f"--include={PACKAGES}"] + (["--foreign"] if foreign else [])
    if recipe.ubuntu:
        command.append(f"--keyring={_ubuntu_keyring(recipe, arch)}")
    command += [recipe.suite, str(rootfs), recipe.mirror(arch)]
    if recipe.ubuntu:
        # Debian 12's debootstrap has no script for noble; gutsy's is the one all later Ubuntu releases use.
        command.append("/usr/share/debootstrap/scripts/gutsy")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        log = rootfs / "debootstrap" / "debootstrap.log"
        detail = log.read_text(errors="replace")[-1500:] if log.exists() else result.stderr[-1500:]
        raise EnvironmentProblem(f"debootstrap of {recipe.suite} ({arch}) failed:\n{detail}",
                                 hint=f"Check that {recipe.mirror(arch)} is reachable from this machine.")
    if foreign:  # the second stage runs the new system's own binaries: under qemu, through binfmt_misc
        result = subprocess.run(["chroot", str(rootfs), "/debootstrap/debootstrap", "--second-stage"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            log = rootfs / "debootstrap" / "debootstrap.log"
            detail = log.read_text(errors="replace")[-1500:] if log.exists() else result.stderr[-1500:]
            raise EnvironmentProblem(f"debootstrap's second stage ({arch}, emulated) failed:\n{detail}",
                                     hint="Check that qemu-user-static is registered: ls /proc/sys/fs/binfmt_misc")


def _configure(recipe: Recipe, arch: str, rootfs: Path) -> None:
    sources = rootfs / "etc" / "apt" / "sources.list"
    with open(sources, "a") as handle:
        for line in recipe.extra_sources:
            handle.write(line.format(mirror=recipe.mirror(arch)) + "\n")
    result = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", CONFIGURE_SCRIPT],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise EnvironmentProblem(f"Configuring the lab image failed: {result.stderr.strip()[-800:]}",
                                 hint="This is a bug in sparkfleet's image recipe; please report it.")


def _ubuntu_keyring(recipe: Recipe, arch: str) -> Path:
    keyring = CACHE_DIR / "ubuntu-archive-keyring.gpg"
    if keyring.exists():
        return keyring
    url = f"{recipe.mirror(arch)}/{UBUNTU_KEYRING_DEB}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            deb = response.read()
    except OSError as exc:
        raise EnvironmentProblem(f"Could not fetch the Ubuntu archive keyring from {url}: {exc}",
                                 hint="The ubuntu2404 lab image needs the Ubuntu archive.") from exc
    if hashlib.sha256(deb).hexdigest() != UBUNTU_KEYRING_SHA256:
        raise EnvironmentProblem(f"The Ubuntu keyring package from {url} does not match its pinned digest.",
                                 hint="Something between this machine and the archive altered it; do not proceed.")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        deb_path = Path(tmp) / "keyring.deb"
        deb_path.write_bytes(deb)
        subprocess.run(["dpkg-deb", "-x", str(deb_path), tmp], check=True)
        (Path(tmp) / "usr/share/keyrings/ubuntu-archive-keyring.gpg").replace(keyring)
    return keyring
