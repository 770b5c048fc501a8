#!/usr/bin/env python3
"""Waits until vLLM answers /health and lists the model in /v1/models; fails fast when the unit crash-loops.

Usage: wait_healthy.py UNIT PORT MODEL TIMEOUT_S. Prints one JSON line; on failure exits 1 with the unit's last
journal lines, so the reason is in the run's output rather than only on the host.
"""

import json
import subprocess
import sys
import time
import urllib.request

MAX_RESTARTS = 3


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def unit_state(unit: str) -> dict:
    out = subprocess.run(["systemctl", "show", unit, "-p", "ActiveState,NRestarts,SubState"],
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def fail(unit: str, reason: str) -> None:
    journal = subprocess.run(["journalctl", "-u", unit, "-n", "25", "--no-pager", "-o", "cat"],
                             capture_output=True, text=True).stdout
    print(json.dumps({"healthy": False, "reason": reason, "journal": journal.splitlines()[-25:]}))
    sys.exit(1)


def main() -> None:
    unit, port, model, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    started = time.monotonic()
    restarts_before = int(unit_state(unit).get("NRestarts", "0") or 0)
    while time.monotonic() - started < timeout:
        status, _ = get(f"http://127.0.0.1:{port}/health")
        if status == 200:
            status, body = get(f"http://127.0.0.1:{port}/v1/models")
            served = [m["id"] for m in json.loads(body or b"{}").get("data", [])] if status == 200 else []
            if model in served:
                print(json.dumps({"healthy": True, "seconds": round(time.monotonic() - started, 1), "models": served}))
                return
        state = unit_state(unit)
        if int(state.get("NRestarts", "0") or 0) - restarts_before >= MAX_RESTARTS:
            fail(unit, f"{unit} failed and restarted {MAX_RESTARTS} times while starting")
        if state.get("ActiveState") == "failed":
            fail(unit, f"{unit} failed while starting")
        time.sleep(2)
    fail(unit, f"{unit} did not become healthy within {timeout:.0f} s")


if __name__ == "__main__":
    main()
