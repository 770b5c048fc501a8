"""aarch64 lab hosts need qemu-aarch64 registered with the F and C flags (issue 12).

Debian's qemu-user-static registers PF; under it, sudo on an emulated host says "effective uid is not 0" (seen on
an aarch64 lab host). The kernel's binfmt_misc folder is stood in for by a temporary folder with the same files.
"""

from __future__ import annotations

from sparkfleet.lab import emulation

DEBIAN_ENTRY = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def test_an_entry_without_the_credentials_flag_is_registered_again_with_it(tmp_path, monkeypatch):
    monkeypatch.setattr(emulation, "BINFMT", tmp_path)
    (tmp_path / "qemu-aarch64").write_text(DEBIAN_ENTRY)
    assert not emulation.registered("aarch64")
    emulation._register_with_credentials("aarch64")
    assert (tmp_path / "qemu-aarch64").read_text() == "-1"  # the old entry removed first
    line = (tmp_path / "register").read_text()
    assert line.startswith(":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46\\x02")
    assert ":\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00" in line
    assert line.endswith(":/usr/libexec/qemu-binfmt/aarch64-binfmt-P:CFOP")
    (tmp_path / "qemu-aarch64").write_text(DEBIAN_ENTRY.replace("flags: PF", "flags: POCF"))
    assert emulation.registered("aarch64")


def test_a_missing_or_disabled_entry_is_not_registered(tmp_path, monkeypatch):
    monkeypatch.setattr(emulation, "BINFMT", tmp_path)
    assert not emulation.registered("aarch64")
    (tmp_path / "qemu-aarch64").write_text(DEBIAN_ENTRY.replace("enabled", "disabled").replace("PF", "POCF"))
    assert not emulation.registered("aarch64")
