#!/usr/bin/python
# Copyright: sparkfleet contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Ansible module: checks that what sparkfleet serves on a host works, end to end, and changes nothing.

Each check is a dict {id, ok, severity, message, hint, journal}. The checks that read the host (ports,
files, modes) are pure functions over what was read, so unit tests call them without a host.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: serving_verify
short_description: Verify the vLLM service, the video endpoint and the host's security state
description:
  - Checks the systemd units (active and enabled), the listening TCP ports (the expected ones, and no
    other port open beyond loopback by a sparkfleet unit), that vLLM listens on loopback only or refuses
    requests without its API key, vLLM's /health and /v1/models, the model's files
    against their manifest (sizes), the endpoint's /health and dashboard page, a real video inference round
    trip through the endpoint (a short generated clip; the job is deleted afterwards), the ssh password
    login state, and that no secret file is readable by other users.
  - Returns every check; a failed check about a unit carries the unit's last journal lines.
  - Leaves nothing behind and reports no change; runs in check mode too.
version_added: "0.1.0"
author: sparkfleet contributors
options:
  units:
    description: systemd units that must be active and enabled.
    type: list
    elements: str
    required: true
  ports:
    description: TCP ports that must be listening, as {port, unit}, vLLM's first; a sparkfleet unit listening beyond
      loopback on any other port fails the check.
    type: list
    elements: dict
    required: true
  vllm_url:
    description: Base URL of vLLM on the host.
    type: str
    required: true
  vllm_env_file:
    description: The vllm role's environment file; when it holds VLLM_API_KEY, vLLM's /v1 routes are asked
      with it. vLLM listening beyond loopback must refuse requests without it.
    type: path
  served_model_name:
    description: The name /v1/models must list.
    type: str
    required: true
  model_manifest:
    description: The model's manifest (JSON with C(files) {path -> {size, sha256}}); files are checked by size.
    type: path
    required: true
  video_url:
    description: Base URL of the video endpoint on the host.
    type: str
    required: true
  api_key_file:
    description: The endpoint's API key file, read (as root) to call the endpoint when it exists.
    type: path
    required: true
  video_ca_file:
    description:
      - The certificate the endpoint's HTTPS is checked against (its pinned self-signed one). Empty with an
        https video_url (a given certificate) checks no certificate on loopback.
    type: path
    default: ""
  round_trip:
    description: Send a short generated video through the endpoint and wait for the answer.
    type: bool
    default: true
  round_trip_timeout:
    description: Seconds the round trip may take.
    type: int
    default: 300
  secret_paths:
    description: Files (globs) holding secrets; none may be readable by other users.
    type: list
    elements: str
    default: []
  password_login_dropin:
    description: The sshd drop-in sparkfleet writes to turn password login off; when present, sshd must
      refuse passwords, when absent the check only notes that password login is on.
    type: path
    required: true
  ssh_login:
    description: The login sparkfleet uses; with it, sshd's settings are read for that login from
      O(ssh_client_address) (C(sshd -T -C)), so Match blocks count.
    type: str
  ssh_client_address:
    description: The address the controller connects from (C(SSH_CLIENT) on the host).
    type: str
    default: 127.0.0.1
  journal_lines:
    description: Journal lines attached to a failed unit check.
    type: int
    default: 15
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Verify the host
  sparkfleet.spark.serving_verify:
    units: [sparkfleet-vllm-qwen3-vl-tiny, sparkfleet-video]
    ports: [{port: 8000, unit: sparkfleet-vllm-qwen3-vl-tiny}, {port: 8080, unit: sparkfleet-video}]
    vllm_url: http://127.0.0.1:8000
    served_model_name: qwen3-vl-tiny
    model_manifest: /opt/sparkfleet/models/qwen3-vl-tiny/.sparkfleet-manifest.json
    video_url: http://127.0.0.1:8080
    api_key_file: /etc/sparkfleet/video-api-key
    password_login_dropin: /etc/ssh/sshd_config.d/00-sparkfleet.conf
  become: true
  register: verify
"""

RETURN = r"""
ok:
  description: True when no check of severity error failed.
  returned: always
  type: bool
checks:
  description: Every check, in order.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "vllm_health", "ok": true, "severity": "error", "message": "vLLM /health answers 200",
            "hint": null, "journal": []}]
"""

import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import stat  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import uuid  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError  # noqa: E402
from ansible.module_utils.urls import open_url  # noqa: E402
from ansible_collections.sparkfleet.spark.plugins.module_utils.host import (  # noqa: E402
    journal_tail,
    unit_properties,
    vllm_auth_headers,
    with_timeout,
)

LOOPBACK = ("127.", "::1", "[::1]")


def check(check_id: str, ok: bool, message: str, hint: str | None = None, severity: str = "error",
          journal: list[str] | None = None) -> dict:
    return {"id": check_id, "ok": bool(ok), "severity": severity, "message": message,
            "hint": None if ok else hint, "journal": journal or []}


# pure functions over what was read -------------------------------------------------------------------------
def parse_ss(output: str) -> list[dict]:
    """`ss -ltnpH` lines -> [{address, port, pids}]."""
    sockets = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        address, _, port = fields[3].rpartition(":")
        if not port.isdigit():
            continue
        pids = [int(pid) for pid in re.findall(r"pid=(\d+)", line)]
        sockets.append({"address": address, "port": int(port), "pids": pids})
    return sockets


def unit_of_cgroup(cgroup_text: str) -> str | None:
    """The systemd service a process belongs to, from /proc/PID/cgroup."""
    found = re.findall(r"/([^/\s]+\.service)", cgroup_text)
    return found[-1].removesuffix(".service") if found else None


def port_checks(sockets: list[dict], unit_of_pid: dict[int, str | None], expected: list[dict]) -> list[dict]:
    checks = []
    open_ports = {s["port"] for s in sockets}
    for item in expected:
        port, unit = int(item["port"]), item["unit"]
        checks.append(check(f"port_{port}", port in open_ports, f"{unit} listens on port {port}"
                            if port in open_ports else f"nothing listens on port {port} ({unit})",
                            hint=f"See why {unit} is not listening: journalctl -u {unit} -n 50"))
    ours = {item["unit"] for item in expected}
    allowed = {int(item["port"]) for item in expected}
    extra = sorted({(s["port"], unit_of_pid.get(pid)) for s in sockets for pid in s["pids"]
                    if not s["address"].startswith(LOOPBACK) and s["port"] not in allowed
                    and unit_of_pid.get(pid) in ours})
    checks.append(check(
        "ports_only_expected", not extra,
        "sparkfleet's services listen beyond loopback only on " + ", ".join(str(p) for p in sorted(allowed))
        if not extra else "unexpected ports open beyond loopback: "
        + ", ".join(f"{port} ({unit})" for port, unit in extra),
        hint="A flag or setting opened a port the services should not expose; see `ss -ltnp` on the host."))
    return checks


def vllm_exposure_check(sockets: list[dict], port: int, status_without_key: int | None) -> dict:
    """vLLM beyond loopback is allowed only when it refuses a request without its key (401).

    status_without_key: what /v1/models answers without a key (None when vLLM listens on loopback only).
    """
    exposed = sorted({s["address"] for s in sockets if s["port"] == port and not s["address"].startswith(LOOPBACK)})
    if not exposed:
        return check("vllm_local_only", True, f"vLLM listens on loopback only (port {port}): only the host reaches it")
    where = ", ".join(f"{address}:{port}" for address in exposed)
    ok = status_without_key == 401
    return check("vllm_local_only", ok,
                 f"vLLM listens on {where} and refuses requests without its API key" if ok else
                 f"vLLM listens on {where} without an API key (/v1/models answers {status_without_key or 'nothing'} "
                 "without one): anyone on the network can use the GPU",
                 hint="Set vllm_host: 127.0.0.1 (the endpoint is vLLM's only client), or set vault_vllm_api_key "
                 "and run `sparkfleet up` again.")


def manifest_check(manifest: dict, sizes: dict[str, int | None]) -> dict:
    """sizes: path -> size on disk (None when missing)."""
    files = manifest.get("files") or {}
    missing = sorted(path for path in files if sizes.get(path) is None)
    wrong = sorted(path for path, entry in files.items()
                   if sizes.get(path) is not None and sizes[path] != entry.get("size"))
    total = sum(entry.get("size", 0) for entry in files.values())
    ok = bool(files) and not missing and not wrong
    if ok:
        message = f"the model's {len(files)} files are present with their expected sizes ({total / 2**20:.1f} MiB)"
    elif not files:
        message = "the model's manifest lists no files"
    else:
        message = "model files " + "; ".join(
            part for part in (f"missing: {', '.join(missing[:5])}" if missing else "",
                              f"with the wrong size: {', '.join(wrong[:5])}" if wrong else "") if part)
    return check("model_files", ok, message,
                 hint="Run `sparkfleet up` again: the model is copied again and checked against its manifest.")


def world_readable(paths_modes: dict[str, int]) -> list[str]:
    return sorted(path for path, mode in paths_modes.items() if mode & stat.S_IROTH)


def sshd_t_argv(sshd: str, login: str | None, address: str) -> list[str]:
    """sshd's effective settings; for a login, as a connection of it from address gets them (Match blocks applied:
    plain -T ignores them)."""
    if not login:
        return [sshd, "-T"]
    return [sshd, "-T", "-C", f"user={login},host={address},addr={address}"]


def sshd_password_check(dropin_present: bool, sshd_t: str | None) -> dict:
    settings = dict(line.split(None, 1) for line in (sshd_t or "").splitlines() if " " in line)
    password = settings.get("passwordauthentication", "unknown")
    if dropin_present:
        return check("ssh_password_login", password == "no",
                     "ssh password login is off, as configured" if password == "no"
                     else f"ssh password login should be off but sshd says passwordauthentication {password}",
                     hint="Another sshd_config drop-in or a Match block may override it: "
                     "`sshd -T -C user=LOGIN,host=ADDR,addr=ADDR | grep -i password` and "
                     "`grep -riE 'passwordauthentication|match' /etc/ssh/sshd_config /etc/ssh/sshd_config.d`.")
    return check("ssh_password_login", True,
                 f"ssh password login is {'on' if password == 'yes' else password} (not turned off by sparkfleet: "
                 "`sparkfleet bootstrap --disable-password-login` does)", severity="warning")


# probes ----------------------------------------------------------------------------------------------------
# The video endpoint's pinned certificate (HTTPS with a self-signed one), set by main(). None with HTTPS: a given
# certificate, which need not name 127.0.0.1; loopback has nothing in between, so it is not checked there.
VIDEO_CA: dict[str, str | None] = {"file": None}


def http(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None,
         timeout: float = 10) -> tuple[int, bytes, str]:
    try:
        tls = url.startswith("https:")
        with open_url(url, data=data, headers=headers or {}, method=method, timeout=timeout,
                      ca_path=VIDEO_CA["file"] if tls else None,
                      validate_certs=not tls or VIDEO_CA["file"] is not None) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")
    except (OSError, UrlsConnectionError) as error:
        return 0, str(error).encode(), ""


def run(module: AnsibleModule, argv: list[str]) -> tuple[int, str]:
    """A command's status and its stdout and stderr together (1 and the reason when it could not start)."""
    try:
        rc, out, err = module.run_command(with_timeout(module, argv, 60), handle_exceptions=False)
    except OSError as error:
        return 1, str(error)
    return rc, out + err


def unit_checks(module: AnsibleModule, units: list[str], lines: int) -> list[dict]:
    checks = []
    for unit in units:
        props = unit_properties(module, unit, ["ActiveState", "UnitFileState", "NRestarts", "Result"])
        active, enabled = props.get("ActiveState"), props.get("UnitFileState")
        ok = active == "active" and enabled == "enabled"
        why = ""
        # systemd stopped restarting it: say so, it is the cause. systemd 252 (Debian 12) keeps the last exit's
        # result (exit-code) after "Start request repeated too quickly"; a failed unit that was restarted says it.
        if props.get("Result") == "start-limit-hit" or (active == "failed" and props.get("NRestarts", "0") != "0"):
            why = "; systemd gave up restarting it (it crashed at every start: a crash loop)"
        elif not ok and props.get("Result") not in (None, "", "success"):
            why = f"; it ended with {props['Result']}"
        checks.append(check(
            f"unit_{unit}", ok, f"{unit} is {active} and {enabled} (restarts: {props.get('NRestarts', '?')}){why}",
            hint=f"Read the journal: journalctl -u {unit} -n 100; restart it with `systemctl restart {unit}` "
            "or run `sparkfleet up` again.", journal=None if ok else journal_tail(module, unit, lines)))
    return checks


def listening_sockets(module: AnsibleModule) -> tuple[list[dict], dict[int, str | None]]:
    _, out = run(module, ["ss", "-ltnpH"])
    sockets = parse_ss(out)
    units = {}
    for pid in {pid for s in sockets for pid in s["pids"]}:
        try:
            with open(f"/proc/{pid}/cgroup") as fh:
                units[pid] = unit_of_cgroup(fh.read())
        except OSError:
            units[pid] = None
    return sockets, units


def vllm_checks(module: AnsibleModule, url: str, model: str, unit: str, lines: int,
                headers: dict | None = None) -> list[dict]:
    """lines: journal lines for a failed /health (0 when the unit check already carries them)."""
    status, _, _ = http(f"{url}/health")
    health = check("vllm_health", status == 200, f"vLLM /health answers {status or 'nothing'}",
                   hint=f"vLLM is down or still loading: journalctl -u {unit} -n 100",
                   journal=journal_tail(module, unit, lines) if status != 200 and lines else None)
    status, body, _ = http(f"{url}/v1/models", headers=headers)
    try:
        names = [m.get("id") for m in json.loads(body).get("data", [])]
    except (ValueError, AttributeError):
        names = []
    listed = check("vllm_models", model in names, f"/v1/models lists {', '.join(names) or 'nothing'}",
                   hint=f"vLLM serves another model than {model}: check the unit's command line "
                   f"(systemctl cat {unit}).")
    return [health, listed]


def endpoint_checks(module: AnsibleModule, url: str, headers: dict, unit: str, lines: int) -> list[dict]:
    """lines: journal lines for a failed /health (0 when the unit check already carries them)."""
    status, body, _ = http(f"{url}/health")
    checks = [check("endpoint_health", status == 200, f"the video endpoint's /health answers {status or 'nothing'}",
                    hint=f"journalctl -u {unit} -n 100",
                    journal=journal_tail(module, unit, lines) if status != 200 and lines else None)]
    status, body, kind = http(f"{url}/")
    page = status == 200 and "text/html" in kind and b"sparkfleet" in body
    checks.append(check("dashboard", page, "the dashboard page is served" if page
                        else f"the dashboard page answers {status or 'nothing'} ({kind or 'no content type'})",
                        hint=f"journalctl -u {unit} -n 100"))
    status, _, _ = http(f"{url}/api/system", headers=headers)
    checks.append(check("endpoint_api", status == 200, f"/api/system answers {status or 'nothing'}",
                        hint="With an API key set, check that the key file is readable by the service."))
    return checks


def multipart(fields: dict[str, str], file_field: str, file_path: str, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    with open(file_path, "rb") as fh:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                     f'filename="{os.path.basename(file_path)}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
                     + fh.read() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def round_trip_check(module: AnsibleModule, url: str, headers: dict, timeout: int, unit: str, vllm_unit: str,
                     lines: int) -> dict:
    """A 4 s generated clip through POST /v1/jobs (wait), then the job is deleted."""
    ffmpeg = module.get_bin_path("ffmpeg")
    if not ffmpeg:
        return check("video_round_trip", False, "ffmpeg is missing, so no test video could be made",
                     hint="Run `sparkfleet up` again (the endpoint's role installs ffmpeg).")
    with tempfile.TemporaryDirectory(prefix="sparkfleet-verify-") as tmp:
        clip = os.path.join(tmp, "verify.mp4")
        code, out = run(module, [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=duration=4:size=160x120:rate=8",
                         "-pix_fmt", "yuv420p", "-c:v", "libx264", clip])
        if code != 0:
            return check("video_round_trip", False, f"ffmpeg could not make a test clip: {out[-300:]}",
                         hint="Check ffmpeg on the host: ffmpeg -version")
        body, kind = multipart({"prompt": "What moves in this video? One sentence.", "wait": "true"},
                               "file", clip, "video/mp4")
        started = time.monotonic()
        status, answer, _ = http(f"{url}/v1/jobs", data=body, headers={**headers, "Content-Type": kind},
                                 method="POST", timeout=timeout)
        seconds = time.monotonic() - started
    try:
        job = json.loads(answer)
    except ValueError:
        job = {}
    if job.get("id"):
        http(f"{url}/v1/jobs/{job['id']}", headers=headers, method="DELETE")
    tokens = (job.get("usage") or {}).get("completion_tokens", 0)
    ok = status == 200 and job.get("status") == "done" and tokens > 0
    if ok:
        message = f"a 4 s video was analysed through the endpoint in {seconds:.1f} s ({tokens} tokens)"
    else:
        error = job.get("error") or answer[:300].decode("utf-8", "replace")
        message = f"the video round trip failed: HTTP {status or 'no answer'}, status {job.get('status')}: {error}"
    return check("video_round_trip", ok, message,
                 hint=f"See both services' journals: journalctl -u {unit} -u {vllm_unit} -n 100",
                 journal=None if ok else (journal_tail(module, unit, lines // 2)
                                          + journal_tail(module, vllm_unit, lines // 2)))


def file_sizes(root: str, manifest: dict) -> dict[str, int | None]:
    sizes = {}
    for path in manifest.get("files") or {}:
        try:
            sizes[path] = os.stat(os.path.join(root, path)).st_size
        except OSError:
            sizes[path] = None
    return sizes


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "units": {"type": "list", "elements": "str", "required": True},
            "ports": {"type": "list", "elements": "dict", "required": True},
            "vllm_url": {"type": "str", "required": True},
            "vllm_env_file": {"type": "path"},
            "served_model_name": {"type": "str", "required": True},
            "model_manifest": {"type": "path", "required": True},
            "video_url": {"type": "str", "required": True},
            "api_key_file": {"type": "path", "required": True, "no_log": False},
            "video_ca_file": {"type": "path", "default": ""},
            "round_trip": {"type": "bool", "default": True},
            "round_trip_timeout": {"type": "int", "default": 300},
            "secret_paths": {"type": "list", "elements": "str", "default": []},
            "password_login_dropin": {"type": "path", "required": True},
            "ssh_login": {"type": "str"},
            "ssh_client_address": {"type": "str", "default": "127.0.0.1"},
            "journal_lines": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    p = module.params
    lines = p["journal_lines"]
    units = p["units"]
    vllm_unit, video_unit = units[0], units[-1]
    checks = unit_checks(module, units, lines)
    # a unit that is down already carries its journal; a running one that fails a probe gets it with the probe
    lines_if_up = {unit: 0 if any(c["id"] == f"unit_{unit}" and not c["ok"] for c in checks) else lines
                   for unit in units}

    sockets, unit_of_pid = listening_sockets(module)
    checks += port_checks(sockets, unit_of_pid, p["ports"])
    vllm_url = p["vllm_url"].rstrip("/")
    checks += vllm_checks(module, vllm_url, p["served_model_name"], vllm_unit, lines_if_up[vllm_unit],
                          vllm_auth_headers(p["vllm_env_file"]))
    vllm_port = int(p["ports"][0]["port"])
    beyond = any(s["port"] == vllm_port and not s["address"].startswith(LOOPBACK) for s in sockets)
    checks.append(vllm_exposure_check(sockets, vllm_port, http(f"{vllm_url}/v1/models")[0] if beyond else None))

    try:
        with open(p["model_manifest"]) as fh:
            manifest = json.load(fh)
        checks.append(manifest_check(manifest, file_sizes(os.path.dirname(p["model_manifest"]), manifest)))
    except (OSError, ValueError) as error:
        checks.append(check("model_files", False, f"the model's manifest cannot be read: {error}",
                            hint="Run `sparkfleet up` again to fetch the model."))

    headers = {}
    if os.path.exists(p["api_key_file"]):
        with open(p["api_key_file"]) as fh:
            headers["X-API-Key"] = fh.read().strip()
    video_url = p["video_url"].rstrip("/")
    VIDEO_CA["file"] = p["video_ca_file"] or None
    checks += endpoint_checks(module, video_url, headers, video_unit, lines_if_up[video_unit])
    if p["round_trip"]:
        checks.append(round_trip_check(module, video_url, headers, p["round_trip_timeout"], video_unit, vllm_unit,
                                       lines))

    dropin = os.path.exists(p["password_login_dropin"])
    code, out = run(module, sshd_t_argv(module.get_bin_path("sshd", opt_dirs=["/usr/sbin"]) or "/usr/sbin/sshd",
                                        p["ssh_login"], p["ssh_client_address"]))
    checks.append(sshd_password_check(dropin, out if code == 0 else None))

    modes = {}
    for pattern in p["secret_paths"]:
        for path in glob.glob(pattern):
            modes[path] = os.stat(path).st_mode
    exposed = world_readable(modes)
    checks.append(check("secrets_private", not exposed,
                        f"none of {len(modes)} secret files is readable by other users" if not exposed
                        else "secret files readable by every user: " + ", ".join(exposed),
                        hint="Remove the read bit for others: chmod o-r " + " ".join(exposed)))

    ok = all(c["ok"] for c in checks if c["severity"] == "error")
    module.exit_json(changed=False, ok=ok, checks=checks)


if __name__ == "__main__":
    main()
