"""The wheelhouses a Spark needs, built for aarch64 on this x86_64 controller (issue 12).

A Spark (DGX OS = Ubuntu 24.04, Python 3.12, aarch64) installs the video endpoint from a wheelhouse the controller
builds. A dependency without an aarch64 wheel must show up here, not on a Spark: the wheelhouse is really built
from PyPI (pip's own cache makes a rerun cheap) and every wheel in it must be for aarch64 or pure Python.
"""

from __future__ import annotations

import json
import subprocess
import sys

from sparkfleet.role_tools import wheelhouse


def test_the_video_endpoints_wheelhouse_for_a_spark_holds_only_aarch64_or_pure_wheels(tmp_path):
    dest = tmp_path / "video-py3.12-aarch64"
    proc = subprocess.run([sys.executable, "-m", "sparkfleet.role_tools.wheelhouse", str(dest), "sparkfleet-video",
                           "--python-version", "3.12", "--arch", "aarch64"], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = json.loads(proc.stdout)
    wheels = sorted(path.name for path in dest.glob("*.whl"))
    assert built["wheels"] == len(wheels) > 5
    assert wheelhouse.foreign_wheels(wheels, "aarch64") == []
    compiled = [name for name in wheels if not name.endswith("-any.whl")]
    assert compiled and all("aarch64" in name for name in compiled), compiled  # the check above saw real ones
    assert any(name.startswith("sparkfleet_video-") for name in wheels)


def test_a_wheel_for_another_machine_is_named():
    names = ["av-14.4.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
             "numpy-2.3.0-cp312-cp312-manylinux_2_28_x86_64.whl", "click-8.2.1-py3-none-any.whl",
             "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl"]
    assert wheelhouse.foreign_wheels(names, "aarch64") == [names[1], names[3]]
    assert wheelhouse.foreign_wheels(names, "x86_64") == [names[0]]
