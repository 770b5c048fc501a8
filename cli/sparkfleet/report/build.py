"""`sparkfleet report`: a markdown report of a run, from the files a run leaves behind (docs/run-data.md).

It reads one history record (and the previous record of the same command), the hosts' state files, their
bench results and the verify results in the record, and writes reports/<id>/report.md with PNG charts
beside it. Every input may be missing or partial: a report after a failed `up` says which phase failed,
why, and what was not reached. Only a project that cannot be read (or written) raises.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sparkfleet import __version__
from sparkfleet.core.atomic import write_atomically
from sparkfleet.core.errors import ProjectError, UsageError
from sparkfleet.core.project import Project
from sparkfleet.core.records import BOOKKEEPING, COMMAND_PHASES
from sparkfleet.report import published_figures as published
from sparkfleet.report.inputs import (
    NO_RUN_ID,
    SAFE_NAME,
    STATE_DIRNAME,
    TRAFFIC_ORDER,
    Inputs,
    as_list,
    dig,
    load,
    number,
    parse_time,
    read_json,
    record_id_of,
    relative,
)

REPORTS_DIRNAME = "reports"
_LATENCIES = (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("itl_ms", "ITL"), ("e2el_ms", "E2EL"))


# formatting ---------------------------------------------------------------------------------------------
def fmt_time(iso, with_date: bool = True) -> str:
    moment = parse_time(iso)
    if moment is None:
        return str(iso) if iso else "unknown time"
    zone = "UTC" if moment.utcoffset() is not None and not moment.utcoffset() else moment.strftime("%z")
    return (moment.strftime("%Y-%m-%d %H:%M") if with_date else moment.strftime("%H:%M")) + (f" {zone}" if zone
                                                                                               else "")


def fmt_duration(seconds) -> str:
    value = number(seconds)
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        minutes, rest = divmod(round(value), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(round(value / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def fmt_value(value, unit: str = "") -> str:
    amount = number(value)
    if amount is None:
        return "—"
    if abs(amount) >= 100:
        text = f"{amount:,.0f}"
    elif abs(amount) >= 10:
        text = f"{amount:.1f}"
    else:
        text = f"{amount:.2f}"
    return f"{text} {unit}".rstrip()


def delta_pct(now, before) -> float | None:
    """(now - before) / before in percent; None when either is missing or before is 0."""
    now, before = number(now), number(before)
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before * 100


def fmt_delta(now, before, higher_is_better: bool) -> str:
    delta = delta_pct(now, before)
    if delta is None:
        return "—"
    if abs(delta) < 0.05:
        return "±0.0 %"
    better = (delta > 0) == higher_is_better
    verdict = "" if abs(delta) < 1 else (" better" if better else " worse")
    return f"{delta:+.1f} %{verdict}"


def _gib(mib) -> str:
    value = number(mib)
    return "—" if value is None else f"{value / 1024:.1f} GiB"


def text(value) -> str:
    """Free text from the inputs, safe inside markdown: no HTML, no table breaks."""
    if value is None or value == "":
        return "—"
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(value) -> str:
    return text(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def code(value) -> str:
    raw = str(value).replace("\n", " ")
    ticks = "``" if "`" in raw else "`"
    return f"{ticks}{raw}{ticks}" if raw else "—"


def link(url, label: str | None = None) -> str:
    if not isinstance(url, str) or not re.match(r"^https?://[^\s()<>]+$", url):
        return cell(url)
    shown = label or re.sub(r"^https?://", "", url).rstrip("/")
    return f"[{cell(shown)}]({url})"


def file_link(root: Path, report_dir: Path, target: Path, label: str | None = None) -> str:
    """A link from the report to a file of the project, relative, so the folder can move."""
    href = os.path.relpath(target, report_dir)
    return f"[{label or relative(target, root)}]({href.replace(' ', '%20')})"


def table(headers: list[str], rows: Iterable[list[str]], align: str = "") -> str:
    """A markdown table; align is one letter per column (l, r, c), default left."""
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join(marks.get(align[i] if i < len(align) else "l", ":---")
                               for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fence(lines: Iterable[str], lang: str = "text") -> str:
    body = "\n".join(str(line).rstrip("\n") for line in lines)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _onoff(value, yes: str, no: str) -> str:
    if value is True:
        return yes
    if value is False:
        return no
    return str(value) if value else "?"


def _short_rev(revision) -> str | None:
    if not isinstance(revision, str) or not revision:
        return None
    return revision[:7] if re.fullmatch(r"[0-9a-f]{8,64}", revision) else revision


def _role(task: str) -> tuple[str, str]:
    role, sep, name = str(task).partition(" : ")
    return (role.strip(), name.strip()) if sep else ("", role.strip())


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# the report ---------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What the run came to, derived once and used by the verdict, the timeline and the next steps."""

    ok: bool | None  # None: no run recorded
    failed_phase: dict | None
    reached: list[dict]
    not_reached: list[str]  # in the order they would have run
    skipped: list[dict]
    error: str | None
    failed_hosts: list[str]


def outcome(inputs: Inputs) -> Outcome:
    record = inputs.record
    if record is None:
        return Outcome(None, None, [], [], [], None, [])
    phases = inputs.phases()
    failed = next((p for p in phases if p.get("ok") is False and not p.get("skipped")), None)
    ok = bool(record.get("ok")) if "ok" in record else failed is None
    expected = COMMAND_PHASES.get(inputs.command, ())
    seen = [p.get("phase") for p in phases]
    skipped = [p for p in phases if p.get("skipped")]
    not_reached = [name for name in expected if name not in seen or
                   any(p.get("phase") == name and p.get("skipped") for p in phases)]
    error = None
    hosts: list[str] = []
    if failed is not None:
        failures = [f for f in as_list(failed.get("failures")) if isinstance(f, dict)]
        hosts = sorted({str(f.get("host")) for f in failures if f.get("host")})
        first = failures[0] if failures else {}
        error = failed.get("error") or first.get("message") or record.get("error")
    elif not ok:
        error = record.get("error")
    reached = [p for p in phases if not p.get("skipped")]
    return Outcome(ok, failed, reached, not_reached, skipped, error, hosts)


class Report:
    def __init__(self, inputs: Inputs, report_dir: Path, charts: dict[str, str], chart_errors: list[str]):
        self.inputs = inputs
        self.dir = report_dir
        self.charts = charts  # chart name -> file name beside the report
        self.chart_errors = chart_errors
        self.outcome = outcome(inputs)

    # helpers
    def link_file(self, relpath: str | Path, label: str | None = None) -> str:
        target = self.inputs.root / relpath
        return file_link(self.inputs.root, self.dir, target, label)

    def render(self) -> str:
        sections = [self.header(), self.fleet(), self.verify(), self.bench(), self.timeline(), self.problems(),
                    self.next_steps(), self.where()]
        if self.inputs.notices or self.chart_errors:
            sections.append(self.data_notes())
        sections.append(f"---\n\n*Written by sparkfleet {__version__} from the files under `{STATE_DIRNAME}/` "
                        "(see docs/run-data.md); nothing in it was typed in by hand.*")
        return "\n\n".join(s.strip("\n") for s in sections if s) + "\n"

    # 1. title and verdict
    def header(self) -> str:
        inputs, record = self.inputs, self.inputs.record
        if record is None:
            lines = ["# sparkfleet report: no run recorded", "",
                     "> **No run is recorded in this project yet** (`.sparkfleet/history/` holds no record). "
                     "This report shows only what the host state and bench files say. Run `sparkfleet up` to "
                     "provision the hosts; its report will then show every phase."]
            if not inputs.hosts:
                lines.append("> No host has state or bench files either: there is nothing to report yet.")
            return "\n".join(lines)
        command = inputs.command
        lines = [f"# sparkfleet report: `{command}` of {fmt_time(record.get('started_at'))}", ""]
        lines.append("> " + self.verdict())
        lines.append("")
        meta = [f"**Run** {code(inputs.report_id)} (`sparkfleet {command}`, exit code "
                f"{record.get('exit_code', '?')})",
                f"**Started** {fmt_time(record.get('started_at'))}, finished "
                f"{fmt_time(record.get('finished_at'), with_date=False)}; took "
                f"**{fmt_duration(record.get('duration_s'))}**",
                f"**Hosts** {', '.join(inputs.hosts) or 'none'}; model {code(record.get('model') or '?')}; "
                f"profile {self.profile_words()}"]
        if inputs.previous:
            meta.append(f"**Previous `{command}`** {code(record_id_of(inputs.previous, None))} of "
                        f"{fmt_time(inputs.previous.get('started_at'))} "
                        f"({'succeeded' if inputs.previous.get('ok') else 'failed'})")
        lines += [f"- {m}" for m in meta]
        return "\n".join(lines)

    def profile_words(self) -> str:
        kinds = {h: ("spark" if self.inputs.is_spark(h) else "lab") for h in self.inputs.hosts}
        if not kinds:
            return "unknown"
        if set(kinds.values()) == {"lab"}:
            return "**lab** (CPU stand-ins, no GPU)"
        if set(kinds.values()) == {"spark"}:
            return "**spark**"
        return "mixed: " + ", ".join(f"{h} {k}" for h, k in kinds.items())

    def verdict(self) -> str:
        inputs, done = self.inputs, self.outcome
        hosts = inputs.hosts
        command = inputs.command
        count = _plural(len(hosts), "host")
        if not done.ok:
            phase = done.failed_phase
            where = f" on {_join(done.failed_hosts)}" if done.failed_hosts else ""
            words = (f"**`{command}` failed in the {phase.get('phase')} phase{where}.** " if phase
                     else f"**`{command}` did not finish.** ")
            words += f"Error: {text(done.error)}" if done.error else "No error message was recorded."
            index = inputs.phases().index(phase) if phase else len(inputs.phases())
            before = [str(p.get("phase")) for p in done.reached if inputs.phases().index(p) < index]
            after = [p for p in done.reached if inputs.phases().index(p) > index]
            if before:
                words += f" Done before it: {_join(before)}."
            if done.not_reached:
                words += f" Not reached: {_join(done.not_reached)}."
            if any(p.get("phase") == "notes" and p.get("ok") for p in after):
                words += " The notes phase still recorded the run on the hosts."
            words += " See [Problems](#problems-met) and [Next steps](#next-steps)."
            return words
        parts = []
        serve = inputs.phase("serve")
        if serve is not None or command == "up":
            model = inputs.record.get("model") or next((inputs.model(h) for h in hosts if inputs.model(h)), None)
            parts.append(f"are serving {code(model) if model else 'their model'}")
        verified = [h for h in hosts if dig(inputs.verify.get(h), "ok") is True]
        unverified = [h for h in hosts if dig(inputs.verify.get(h), "ok") is False]
        if inputs.verify:
            if unverified:
                parts.append(f"{_join(verified) or 'none'} passed verify but {_join(unverified)} did not")
            else:
                parts.append("passed verify")
        benched = [h for h in hosts if inputs.benches[h].from_this_run]
        skipped = [h for h in hosts if inputs.benches[h].skipped]
        if inputs.phase("bench") is not None:
            if benched and len(benched) == len(hosts):
                parts.append("were benchmarked")
            elif benched:
                parts.append(f"{_join(benched)} benchmarked")
            if skipped:
                parts.append(f"the bench skipped {_join(skipped)}")
        subject = f"all {count}" if len(hosts) > 1 else (hosts[0] if hosts else "the run")
        if hosts and len(hosts) > 1:
            subject += f" ({_join(hosts)})"
        body = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else (parts[0] if parts else "")
        if len(hosts) == 1:
            body = body.replace("are serving", "is serving").replace("were benchmarked", "was benchmarked")
        words = f"**`{command}` succeeded: {subject} {body}.**" if body else f"**`{command}` succeeded.**"
        warnings = self.all_warnings()
        if warnings:
            words += f" {_plural(len(warnings), 'warning')} to read below."
        if not inputs.phase("bench") and not any(b.current for b in inputs.benches.values()):
            words += " No bench has been run yet."
        return words

    # 2. fleet
    def fleet(self) -> str:
        inputs = self.inputs
        if not inputs.hosts:
            return "## Fleet\n\nNo hosts."
        machines, serving = [], []
        notes: list[tuple[str, str]] = []
        started = parse_time((inputs.record or {}).get("started_at"))
        for host in inputs.hosts:
            state = inputs.states.get(host) or {}
            system = state.get("system") if isinstance(state.get("system"), dict) else {}
            facts = dig(inputs.doctor.get(host), "facts") or {}
            gpu = system.get("gpu") if "gpu" in system else None
            os_name = system.get("os")
            arch = system.get("arch") or facts.get("arch")
            memory = system.get("memory_total_mib") or dig(facts, "memory", "total_mib")
            driver = cuda = None
            gpu_name = None
            if isinstance(gpu, dict):
                gpu_name, driver, cuda = gpu.get("name"), gpu.get("driver"), gpu.get("cuda")
            elif not system and isinstance(facts.get("gpu"), dict):
                fgpu = facts["gpu"]
                first = (as_list(fgpu.get("gpus")) or [{}])[0]
                gpu_name = first.get("name") if fgpu.get("present") else None
                driver, cuda = fgpu.get("driver_version"), fgpu.get("cuda_version")
                gpu = fgpu if fgpu.get("present") else None
            if not os_name and isinstance(facts.get("os"), dict):
                os_name = " ".join(str(facts["os"].get(k)) for k in ("distribution", "version") if facts["os"].get(k))
            has_facts = bool(system or facts)
            gpu_cell = cell(gpu_name) if gpu_name else ("none (CPU only)" if has_facts and gpu is None else "—")
            model = state.get("model") if isinstance(state.get("model"), dict) else {}
            model_name = model.get("name") or inputs.model(host)
            rev = _short_rev(model.get("revision"))
            model_cell = code(model_name) if model_name else "—"
            if rev:
                model_cell += f" @ {code(rev)}"
            vllm = state.get("vllm") if isinstance(state.get("vllm"), dict) else {}
            endpoint = state.get("video_endpoint") if isinstance(state.get("video_endpoint"), dict) else {}
            urls = state.get("urls") if isinstance(state.get("urls"), dict) else {}
            services = []
            for label, unit in (("vLLM", vllm), ("endpoint", endpoint)):
                if unit:
                    active = _onoff(unit.get("active"), "active", "inactive")
                    enabled = _onoff(unit.get("enabled"), "enabled", "disabled")
                    shown = f"{active}, {enabled}"
                    services.append(f"{label}: " + (shown if (active, enabled) == ("active", "enabled")
                                                    else f"**{shown}**"))
            if endpoint and "api_key" in endpoint:
                services.append("API key: " + ("on" if endpoint.get("api_key") else "**off**"))
            machines.append([
                f"**{host}**",
                cell(" · ".join(str(v) for v in (os_name, arch) if v) or None),
                cell(_gib(memory) if memory else None),
                gpu_cell, cell(driver), cell(cuda),
            ])
            serving.append([
                f"**{host}**",
                cell(vllm.get("version")) + (f" ({cell(vllm.get('install_method'))})"
                                             if vllm.get("install_method") else ""),
                model_cell,
                link(urls.get("api")), link(urls.get("endpoint")), link(urls.get("dashboard")),
                "<br>".join(services) or "—",
            ])
            updated = parse_time(state.get("updated_at"))
            if not state:
                source = "the doctor's facts (no state file yet)" if facts else "nothing: no state file yet"
                notes.append((host, source))
            elif updated and started and updated < started:
                notes.append((host, f"state of {fmt_time(state.get('updated_at'))}, from **before** this run "
                                    "(the notes phase did not write it this time)"))
            elif inputs.after_run(state.get("updated_at")):
                notes.append((host, f"state of {fmt_time(state.get('updated_at'))}, written **after** this run "
                                    "by a later one: it shows the host as it is now, not as this run left it"))
        out = ["## Fleet", "",
               table(["Host", "OS · arch", "Memory", "GPU", "Driver", "CUDA"], machines, "llrlll"), "",
               table(["Host", "vLLM", "Model", "API", "Endpoint", "Dashboard", "Services"], serving, "lllllll")]
        if notes:
            grouped: dict[str, list[str]] = defaultdict(list)
            for host, note in notes:
                grouped[note].append(host)
            out += ["", "*Where the rows come from:* " + "; ".join(f"{_join(hosts)}: {note}"
                                                                  for note, hosts in grouped.items()) + "."]
        return "\n".join(out)

    # 3. verify
    def verify(self) -> str:
        inputs = self.inputs
        out = ["## Verify"]
        if not inputs.verify:
            lines = []
            for host in inputs.hosts:
                last = dig(inputs.states.get(host), "last_verify")
                if isinstance(last, dict) and "ok" in last and not inputs.after_run(last.get("at")):
                    failed = [str(i) for i in as_list(last.get("failed"))]
                    result = "passed" if last.get("ok") else f"**failed** ({', '.join(failed) or 'no ids'})"
                    lines.append(f"- {host}: {result} at {fmt_time(last.get('at'))} (from the host state)")
            reason = "This run did not verify the hosts" if inputs.record else "No verify results"
            if self.outcome.failed_phase is not None and "verify" in self.outcome.not_reached:
                reason = "Verify was not reached in this run"
            out.append(f"\n{reason}." + (" The last verify recorded on each host:" if lines else
                                         " Run `sparkfleet verify` to check the hosts."))
            out += lines
            return "\n".join(out)
        check_ids: list[str] = []
        for host in inputs.hosts:
            for check in as_list(dig(inputs.verify.get(host), "checks")):
                cid = dig(check, "id")
                if isinstance(cid, str) and cid not in check_ids:
                    check_ids.append(cid)
        summary = []
        for host in inputs.hosts:
            result = inputs.verify.get(host)
            if result is None:
                summary.append(f"{host} has no verify result")
                continue
            checks = [c for c in as_list(result.get("checks")) if isinstance(c, dict)]
            passed = sum(1 for c in checks if c.get("ok"))
            warned = sum(1 for c in checks if not c.get("ok") and c.get("severity") == "warning")
            word = "passed" if result.get("ok") else "**failed**"
            extra = f", {_plural(warned, 'warning')}" if warned else ""
            summary.append(f"{host} {word} ({passed} of {len(checks)} checks ok{extra})")
        out.append("\n" + "; ".join(summary) + ".\n")
        rows = []
        for cid in check_ids:
            row = [code(cid)]
            for host in inputs.hosts:
                check = next((c for c in as_list(dig(inputs.verify.get(host), "checks"))
                              if dig(c, "id") == cid), None)
                if check is None:
                    row.append("—")
                elif check.get("ok"):
                    row.append("pass")
                elif check.get("severity") == "warning":
                    row.append("warning")
                else:
                    row.append("**FAIL**")
            rows.append(row)
        out.append(table(["Check", *inputs.hosts], rows, "l" + "c" * len(inputs.hosts)))
        details = []
        for host in inputs.hosts:
            for check in as_list(dig(inputs.verify.get(host), "checks")):
                if not isinstance(check, dict) or check.get("ok"):
                    continue
                kind = "warning" if check.get("severity") == "warning" else "failed"
                details.append(f"**{host} · {code(check.get('id'))} {kind}:** {text(check.get('message'))}")
                if check.get("hint"):
                    details.append(f"\n*Fix:* {text(check.get('hint'))}")
                journal = [str(line) for line in as_list(check.get("journal"))]
                if journal:
                    details.append("\nLast journal lines:\n\n" + fence(journal))
                details.append("")
        if details:
            out += ["", "### Checks that did not pass", "", *details]
        passed_messages = []
        if len(inputs.hosts) == 1 and inputs.hosts[0] in inputs.verify:
            for check in as_list(dig(inputs.verify[inputs.hosts[0]], "checks")):
                if isinstance(check, dict) and check.get("ok") and check.get("message"):
                    passed_messages.append(f"- {code(check.get('id'))}: {text(check.get('message'))}")
        if passed_messages:
            out += ["", "What passed:", "", *passed_messages]
        return "\n".join(out)

    # 4. bench
    def bench(self) -> str:
        inputs = self.inputs
        out = ["## Bench"]
        any_bench = any(b.current for b in inputs.benches.values())
        phase = inputs.phase("bench")
        if not any_bench:
            if phase is not None:
                out.append("\nThe bench phase ran but left no results.")
            elif self.outcome.failed_phase is not None and "bench" in self.outcome.not_reached:
                out.append("\nThe bench was not reached in this run, and no host has an earlier bench result.")
            else:
                out.append("\nNo bench results yet. Run `sparkfleet bench` to measure the hosts.")
            for host in inputs.hosts:
                if inputs.benches[host].skipped:
                    out.append(f"\n- {host}: skipped ({text(inputs.benches[host].skipped)})")
            return "\n".join(out)
        lab_hosts = [h for h in inputs.hosts if inputs.benches[h].current and not inputs.is_spark(h)]
        if lab_hosts:
            out += ["", f"> **Lab numbers.** {_join(lab_hosts)} {'is a' if len(lab_hosts) == 1 else 'are'} CPU "
                    f"stand-in{'' if len(lab_hosts) == 1 else 's'} serving a tiny random-weight model through "
                    "vLLM's CPU build. These numbers show that the serving and bench pipeline works end to end and "
                    "let you compare one lab run with the next; they say nothing about a DGX Spark and **must not "
                    "be compared with a Spark's numbers or with published figures.**"]
        if "throughput" in self.charts:
            out += ["", f"![Output throughput against concurrency]({self.charts['throughput']})", "",
                    "*Output tokens per second against the number of requests in flight, per traffic type; "
                    "dashed lines: each host's previous bench.*"]
        for host in inputs.hosts:
            out += ["", self.host_bench(host)]
        spark_hosts = [h for h in inputs.hosts if inputs.benches[h].current and inputs.is_spark(h)]
        if spark_hosts:
            out += ["", self.published_comparison(spark_hosts)]
        return "\n".join(out)

    def host_bench(self, host: str) -> str:
        hb = self.inputs.benches[host]
        out = [f"### {host}"]
        if hb.current is None:
            reason = f"skipped: {text(hb.skipped)}" if hb.skipped else "no results"
            out.append(f"\nNo bench for {host} ({reason}).")
            return "\n".join(out)
        data = hb.current.data
        origin = "this run" if hb.from_this_run else "an earlier run" if self.inputs.record else "the newest"
        if not hb.from_this_run and self.inputs.record is not None:
            why = f"the bench skipped {host} this time: {text(hb.skipped)}" if hb.skipped else \
                "this run did not bench"
            origin += f"; {why}"
        rev = _short_rev(data.get("model_revision"))
        out.append(f"\nBench {code(hb.current.id)} of {fmt_time(data.get('started_at'))} ({origin}), "
                   f"{fmt_duration(data.get('duration_s'))}: model {code(data.get('model') or '?')}"
                   + (f" @ {code(rev)}" if rev else "") + f", vLLM {code(data.get('vllm_version') or '?')}, "
                   f"seed {data.get('seed', '—')}.")
        conditions = data.get("conditions") if isinstance(data.get("conditions"), dict) else {}
        if conditions:
            out.append("\n*Conditions:* " + self.conditions(conditions))
        for warning in as_list(data.get("warnings")):
            out.append(f"\n> **Warning:** {text(warning)}")
        rows = []
        for s in hb.current.scenarios():
            done, failed = s.get("completed"), s.get("failed")
            requests = f"{done if done is not None else '?'}" + (f" (**{failed} failed**)" if failed else "")
            rows.append([code(s.get("name") or "?"), cell(s.get("traffic")) + self.video_words(s),
                         cell(s.get("concurrency")), requests, fmt_value(s.get("request_throughput")),
                         fmt_value(s.get("output_throughput"))]
                        + [f"{fmt_value(dig(s, key, 'median'))} / {fmt_value(dig(s, key, 'p99'))}"
                           for key, _ in _LATENCIES])
        out += ["", table(["Scenario", "Traffic", "Conc.", "Requests", "req/s", "Output tok/s",
                           *(f"{label} ms<br>median / p99" for _, label in _LATENCIES)], rows, "llrrrrrrrr")]
        errors = [f"- {code(s.get('name') or '?')}: {text(s.get('error'))}" for s in hb.current.scenarios()
                  if s.get("error")]
        if errors:
            out += ["", "Scenarios with errors:", "", *errors]
        chart = self.charts.get(f"latency-{host}")
        if chart:
            out += ["", f"![Latency of {host} per scenario]({chart})"]
        out += ["", self.bench_comparison(host)]
        return "\n".join(out)

    @staticmethod
    def video_words(scenario: dict) -> str:
        video = scenario.get("video")
        if not isinstance(video, dict):
            return ""
        size = f"{video.get('width', '?')}x{video.get('height', '?')}"
        return f" ({size}, {video.get('frames', '?')} frames)"

    @staticmethod
    def conditions(conditions: dict) -> str:
        parts = []
        total, available = conditions.get("memory_total_mib"), conditions.get("memory_available_mib")
        if total or available:
            parts.append(f"memory {_gib(available)} available of {_gib(total)}")
        psi = number(conditions.get("memory_psi_some_avg10"))
        if psi is not None:
            parts.append(f"memory pressure (PSI some, avg10) {psi:g} %")
        gpu = conditions.get("gpu")
        if isinstance(gpu, dict):
            peak, top, idle = (gpu.get(k) for k in ("clock_sm_peak_mhz", "clock_sm_max_mhz", "clock_sm_idle_mhz"))
            parts.append(f"GPU {text(gpu.get('name') or '?')}: SM clock peaked at {peak or '?'} MHz of "
                         f"{top or '?'} MHz (idle {idle or '?'} MHz)")
        elif "gpu" in conditions:
            parts.append("no GPU")
        return "; ".join(parts) + "." if parts else "not recorded."

    def bench_comparison(self, host: str) -> str:
        hb = self.inputs.benches[host]
        if hb.previous is None:
            return f"No earlier bench of {host} to compare with."
        now, before = hb.current.data, hb.previous.data
        lines = [f"**Against the previous bench** {code(hb.previous.id)} of {fmt_time(before.get('started_at'))}:"]
        caveats = []
        for key, label in (("model", "model"), ("model_revision", "model revision"),
                           ("vllm_version", "vLLM version"), ("profile", "profile")):
            if before.get(key) != now.get(key) and (before.get(key) or now.get(key)):
                caveats.append(f"{label} {code(before.get(key) or '?')} → {code(now.get(key) or '?')}")
        if caveats:
            lines.append("what is served changed (" + "; ".join(caveats) + "), so differences are not only noise.")
        elif now.get("serving_key") and before.get("serving_key") == now.get("serving_key"):
            lines.append("the same model and vLLM unit were served, so the differences are run-to-run variation.")
        elif now.get("serving_key") and before.get("serving_key"):
            lines.append("the served unit or model files differ (another serving key).")
        previous = {s.get("name"): s for s in hb.previous.scenarios()}
        rows = []
        for s in hb.current.scenarios():
            p = previous.get(s.get("name"))
            if p is None:
                rows.append([code(s.get("name") or "?"), "new scenario", "", "", ""])
                continue
            row = [code(s.get("name") or "?")]
            for get, better in ((lambda x: x.get("output_throughput"), True),
                                (lambda x: dig(x, "ttft_ms", "median"), False),
                                (lambda x: dig(x, "tpot_ms", "median"), False),
                                (lambda x: dig(x, "e2el_ms", "median"), False)):
                row.append(f"{fmt_value(get(p))} → {fmt_value(get(s))} ({fmt_delta(get(s), get(p), better)})")
            rows.append(row)
        gone = [name for name in previous if name not in {s.get("name") for s in hb.current.scenarios()}]
        out = [" ".join(lines), "",
               table(["Scenario", "Output tok/s", "TTFT median ms", "TPOT median ms", "E2EL median ms"], rows,
                     "lrrrr")]
        if gone:
            out += ["", f"Not run this time: {', '.join(code(n) for n in gone)}."]
        return "\n".join(out)

    def published_comparison(self, hosts: list[str]) -> str:
        out = ["### Against published DGX Spark figures", "",
               "Figures other people published for DGX Sparks, each with its source. They were measured on other "
               "setups (model, precision, number of Sparks, vLLM build, prompt and output lengths, load), so they "
               "are a point of reference, not a pass mark. This run is shown by its text scenario at concurrency 1, "
               "one request at a time. A result in the same range as a similar model is plausible; one far below "
               "it is worth a look at the GPU clocks, the free memory and the vLLM flags."]
        marks = set()
        ours, notes = [], []
        for host in hosts:
            model = self.inputs.model(host)
            figure = published.closest(model)
            bench = self.inputs.benches[host].current
            single = next((s for s in bench.scenarios() if s.get("traffic") == "text"
                           and number(s.get("concurrency")) == 1), None)
            if single is None:
                continue
            ours.append([f"**{host}**, this run ({code(single.get('name'))})", code(model or "?"), "1",
                         fmt_value(single.get("output_throughput")), fmt_value(dig(single, "ttft_ms", "median")),
                         fmt_value(dig(single, "tpot_ms", "median")), "this report"])
            if figure is None:
                continue
            marks.add(figure)
            delta = delta_pct(single.get("output_throughput"), figure.output_tok_s)
            if delta is None:
                continue
            name = str(model).lower()
            same = (figure.family in name and published.model_size_b(name) == figure.params_b
                    and figure.precision in name)
            if same and figure.sparks == 1:
                kind = "The same model and precision on one Spark: a like-for-like reference."
            elif same:
                kind = (f"The same model and precision, but on {figure.sparks} Sparks: the network between them "
                        "costs time per token, so one Spark need not be slower.")
            else:
                kind = "Not the same model, so read the difference as an order of magnitude only"
                active = re.search(r"-a(\d+(?:\.\d+)?)b", name)
                kind += (f": this one is a mixture of experts that reads only about {active.group(1)}B parameters "
                         "per token, so it is expected to be faster than a dense model of its size." if active
                         else ".")
            notes.append(f"{host}: {fmt_value(single.get('output_throughput'))} output tok/s against "
                         f"{figure.output_tok_s:g} tok/s published for {figure.label} ({figure.setup}; "
                         f"{figure.source}): {delta:+.0f} %. {kind}")
        rows = []
        for figure in published.FIGURES:
            closest = " (closest to this run)" if figure in marks else ""
            rows.append([cell(figure.setup) + closest, cell(figure.label), str(figure.sparks),
                         f"{figure.output_tok_s:g}", f"{figure.ttft_ms:g}" if figure.ttft_ms else "—",
                         f"{figure.tpot_ms:g}" if figure.tpot_ms else "—", cell(figure.source)])
        out += ["", table(["Setup", "Model", "Sparks", "Output tok/s", "TTFT ms", "TPOT ms", "Source"], ours + rows,
                          "llrrrrl")]
        if not ours:
            out += ["", "This run has no text scenario at concurrency 1 to set beside these figures."]
        if notes:
            out += [""] + [f"- {n}" for n in notes]
        return "\n".join(out)

    # 5. timeline
    def timeline(self) -> str:
        inputs = self.inputs
        if inputs.record is None:
            return ""
        out = ["## Timeline"]
        phases = inputs.phases()
        previous = {str(p.get("phase")): p for p in as_list((inputs.previous or {}).get("phases"))
                    if isinstance(p, dict)}
        rows = []
        failed = self.outcome.failed_phase
        for phase in phases:
            name = str(phase.get("phase"))
            if phase.get("skipped"):
                result = "skipped"
            elif phase is failed or phase.get("ok") is False:
                result = "**FAILED**"
            else:
                result = "ok"
            changes = [c for c in as_list(phase.get("changes")) if isinstance(c, dict)]
            before = previous.get(name)
            rows.append([f"**{name}**", result, fmt_duration(phase.get("duration_s")),
                         fmt_duration(dig(before, "duration_s")) if before else "—",
                         self.change_summary(changes),
                         code(phase.get("run_id")) if phase.get("run_id") else "—"])
        expected = list(COMMAND_PHASES.get(inputs.command, ()))
        for name in self.outcome.not_reached:
            if any(p.get("phase") == name for p in phases):
                continue  # a skipped phase has its own row
            before = previous.get(name)
            missing = [f"**{name}**", "not reached", "—", fmt_duration(dig(before, "duration_s")) if before else "—",
                       "—", "—"]
            # before the first phase that would have run after it (notes runs after a failure too)
            later = [i for i, r in enumerate(rows) if r[0].strip("*") in expected
                     and expected.index(r[0].strip("*")) > expected.index(name)]
            rows.insert(later[0] if later else len(rows), missing)
        headers = ["Phase", "Result", "Took", "Previous run", "Changes", "Ansible run"]
        if inputs.previous is None:  # nothing to set beside it
            headers.pop(3)
            rows = [row[:3] + row[4:] for row in rows]
        out += ["", table(headers, rows, "llrrll" if inputs.previous else "llrll")]
        out += ["", self.run_comparison()]
        detail = self.change_details(phases)
        if detail:
            out += ["", "What changed:", "", detail]
        return "\n".join(out)

    @staticmethod
    def change_summary(changes: list[dict]) -> str:
        if not changes:
            return "none"
        hosts = sorted({str(c.get("host")) for c in changes})
        per = len(changes) / max(1, len(hosts))
        each = f" ({per:g} per host)" if len(hosts) > 1 and per == int(per) else ""
        return f"{len(changes)} on {_join(hosts)}{each}"

    @staticmethod
    def change_details(phases: list[dict]) -> str:
        lines = []
        for phase in phases:
            by_host: dict[str, list[str]] = defaultdict(list)
            for change in as_list(phase.get("changes")):
                if isinstance(change, dict):
                    by_host[str(change.get("host"))].append(str(change.get("task") or "?"))
            # hosts that changed the same tasks are one line
            groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
            for host, tasks in by_host.items():
                groups[tuple(tasks)].append(host)
            for tasks, hosts in groups.items():
                by_role: dict[str, list[str]] = defaultdict(list)
                for task in tasks:
                    role, name = _role(task)
                    by_role[role or "playbook"].append(name)
                parts = []
                for role, names in by_role.items():
                    unique = list(dict.fromkeys(names))
                    shown = "; ".join(text(n) for n in unique[:3])
                    more = f"; and {len(unique) - 3} more" if len(unique) > 3 else ""
                    parts.append(f"{code(role)} ({len(names)}): {shown}{more}")
                lines.append(f"- **{phase.get('phase')}** on {_join(sorted(hosts))}: " + " · ".join(parts))
        return "\n".join(lines)

    @staticmethod
    def setup_changes(record: dict | None) -> int:
        """Changes to how the hosts are set up (a bench result or the notes written are not such changes)."""
        return sum(len(as_list(p.get("changes"))) for p in as_list((record or {}).get("phases"))
                   if isinstance(p, dict) and p.get("phase") not in BOOKKEEPING)

    def run_comparison(self) -> str:
        inputs = self.inputs
        record, previous = inputs.record, inputs.previous
        total_changes = self.setup_changes(record)
        changed = "no change to the hosts' setup (everything was already in place)" if total_changes == 0 else \
            _plural(total_changes, "change") + " to the hosts' setup"
        if previous is None:
            return f"This is the first recorded `{inputs.command}` of this project: {changed}."
        now, then = number(record.get("duration_s")), number(previous.get("duration_s"))
        ordinal = "This run"
        if now and then:
            ratio = then / now
            if ratio >= 1.1:
                speed = f"{ratio:.1f}x faster than"
            elif ratio <= 1 / 1.1:
                speed = f"{1 / ratio:.1f}x slower than"
            else:
                speed = "about as long as"
            words = (f"{ordinal} took {fmt_duration(now)}, {speed} the previous `{inputs.command}` "
                     f"({fmt_duration(then)}), with {changed}")
        else:
            words = f"{ordinal} made {changed}"
        words += f"; the previous one made {_plural(self.setup_changes(previous), 'change')}"
        if previous.get("ok") is False:
            failed = next((p.get("phase") for p in as_list(previous.get("phases"))
                           if isinstance(p, dict) and p.get("ok") is False), None)
            words += f" and failed{f' in {failed}' if failed else ''}"
        return words + "."

    # 6. problems
    def all_warnings(self) -> list[str]:
        """The run's warnings and those of this run's bench (failed verify checks of severity warning are shown
        under Verify)."""
        inputs = self.inputs
        warnings = [str(w) for w in as_list((inputs.record or {}).get("warnings"))]
        for host in inputs.hosts:
            bench = inputs.benches[host].current
            if bench is not None and inputs.benches[host].from_this_run:
                warnings += [str(w) if str(w).startswith(f"{host}:") else f"{host}: {w}"
                             for w in as_list(bench.data.get("warnings"))]
        return list(dict.fromkeys(warnings))

    def verify_warnings(self) -> list[tuple[str, dict]]:
        return [(host, check) for host in self.inputs.hosts
                for check in as_list(dig(self.inputs.verify.get(host), "checks"))
                if isinstance(check, dict) and not check.get("ok") and check.get("severity") == "warning"]

    def problems(self) -> str:
        inputs = self.inputs
        out = ["## Problems met"]
        failures = []
        for phase in inputs.phases():
            for failure in as_list(phase.get("failures")):
                if not isinstance(failure, dict):
                    continue
                status = failure.get("status") or "failed"
                line = (f"- **{phase.get('phase')}** · {failure.get('host') or '?'} · "
                        f"{code(failure.get('task') or '?')} {status}: {text(failure.get('message'))}")
                if failure.get("hint"):
                    line += f"  \n  *Fix:* {text(failure.get('hint'))}"
                failures.append(line)
            if phase.get("error") and not as_list(phase.get("failures")):
                failures.append(f"- **{phase.get('phase')}**: {text(phase.get('error'))}")
        error = (inputs.record or {}).get("error")
        if error and not any(text(error) in f for f in failures):
            failures.append(f"- **run**: {text(error)}")
        if failures:
            out += ["", "In this run:", "", *failures]
        rows = []
        for host in inputs.hosts:
            for problem in as_list((inputs.states.get(host) or {}).get("problems")):
                if not isinstance(problem, dict):
                    continue
                if problem.get("resolved_at"):
                    status = f"fixed {fmt_time(problem.get('resolved_at'))}"
                    if problem.get("resolved_by"):
                        status += f" by {code(problem.get('resolved_by'))}"
                else:
                    status = "**open**"
                rows.append([fmt_time(problem.get("at")), host, cell(problem.get("phase")),
                             cell(problem.get("message")), status, cell(problem.get("fix"))])
        if rows:
            out += ["", "Recorded on the hosts (state files), with how each was fixed:", "",
                    table(["When", "Host", "Phase", "Problem", "Status", "Fix"], rows)]
        warnings = self.all_warnings()
        if warnings:
            out += ["", "Warnings:", "", *(f"- {text(w)}" for w in warnings)]
        if len(out) == 1:
            out.append("\nNone: no failure in this run, no problem recorded on the hosts, no warning.")
        return "\n".join(out)

    # 7. next steps
    def next_steps(self) -> str:
        inputs, done = self.inputs, self.outcome
        steps: list[str] = []
        limit = f" --limit {','.join(done.failed_hosts)}" if done.failed_hosts else ""
        if inputs.record is None:
            steps.append("Provision the hosts and record a run: `sparkfleet up`.")
        elif done.failed_phase is not None:
            name = done.failed_phase.get("phase")
            unreachable = any(dig(f, "status") == "unreachable" for f in as_list(done.failed_phase.get("failures")))
            if unreachable:
                steps.append("A host could not be reached: check it is on and its address in "
                             "`inventory/hosts.yml`, then `sparkfleet ping`.")
            hints = [str(f.get("hint")) for f in as_list(done.failed_phase.get("failures"))
                     if isinstance(f, dict) and f.get("hint")]
            where = f" on {_join(done.failed_hosts)}" if done.failed_hosts else ""
            step = f"Fix the {name} failure{where}: " + (text(hints[0]).rstrip(".") + "." if hints
                                                         else "see [Problems met](#problems-met).")
            if name == "doctor":
                step += f" Check with `sparkfleet doctor{limit}`."
            elif name == "serve":
                host = done.failed_hosts[0] if done.failed_hosts else None
                unit = dig(inputs.states.get(host) or {}, "vllm", "unit") if host else None
                step += (f" The service's journal tells more: `journalctl -u {unit or 'sparkfleet-vllm-*'} -n 100`"
                         + (f" on {host}." if host else "."))
            elif name == "verify":
                step += f" Check again with `sparkfleet verify{limit}`."
            elif name == "bench":
                step += f" Measure again with `sparkfleet bench{limit}`."
            steps.append(step)
            if inputs.command == "up":
                rest = f", and it goes on with {_join(done.not_reached)}" if done.not_reached else ""
                steps.append(f"Run `sparkfleet up` again: what is already in place is not redone{rest}.")
            else:
                steps.append(f"Run `sparkfleet {inputs.command}{limit}` again.")
        elif done.ok is False:
            why = f" ({text(done.error)})" if done.error else ""
            steps.append(f"The run did not finish{why}: run `sparkfleet {inputs.command}` again.")
        failing_verify = [h for h in inputs.hosts if dig(inputs.verify.get(h), "ok") is False]
        if failing_verify and not (done.failed_phase and done.failed_phase.get("phase") == "verify"):
            steps.append(f"{_join(failing_verify)} failed verify: fix the checks above, then `sparkfleet verify`.")
        clocks: list[str] = []
        open_endpoint: list[str] = []
        others = 0
        for warning in self.all_warnings():
            host = warning.partition(":")[0] if warning.partition(":")[0] in inputs.hosts else None
            lowered = warning.lower()
            if "clock" in lowered:
                clocks.append(host or "a host")
            elif "api key" in lowered:
                open_endpoint.append(host or "a host")
            else:
                others += 1
        for host, check in self.verify_warnings():
            if "api key" in f"{check.get('message')} {check.get('id')}".lower().replace("_", " "):
                open_endpoint.append(host)
        if clocks:
            steps.append(f"The GPU clocks of {_join(sorted(set(clocks)))} stayed low under load: check the power "
                         "supply and cable (a degraded USB-PD state caps the GPU at 500-850 MHz instead of about "
                         "2400 MHz), then run `sparkfleet bench` again.")
        if open_endpoint:
            steps.append(f"The video endpoint of {_join(sorted(set(open_endpoint)))} takes requests without an API "
                         "key: set `vault_video_api_key` in the vault (or `video_endpoint_host: 127.0.0.1`) and run "
                         "`sparkfleet up` again, unless the network is trusted.")
        if others:
            steps.append(f"Read the {'other ' if clocks or open_endpoint else ''}"
                         f"{_plural(others, 'warning')} under [Problems met](#problems-met) and act on "
                         f"{'it' if others == 1 else 'them'}.")
        open_problems = [(h, p) for h in inputs.hosts for p in as_list((inputs.states.get(h) or {}).get("problems"))
                         if isinstance(p, dict) and not p.get("resolved_at")]
        if open_problems:
            steps.append(f"{_plural(len(open_problems), 'problem')} recorded on the hosts "
                         f"{'is' if len(open_problems) == 1 else 'are'} still open (see above).")
        if not any(b.current for b in inputs.benches.values()) and (done.failed_phase is None):
            steps.append("Measure the hosts: `sparkfleet bench`.")
        elif inputs.record and not inputs.phase("bench") and done.failed_phase is None:
            steps.append("The bench results above are from an earlier run; `sparkfleet bench` measures again.")
        if inputs.hosts and not any(inputs.is_spark(h) for h in inputs.hosts):
            steps.append("To go to a real DGX Spark: `sparkfleet host add spark1 --address IP --user USER`, "
                         "`sparkfleet bootstrap` (pins its host key and installs the controller key; asks for the "
                         "password once), `sparkfleet doctor`, then `sparkfleet up` (the spark profile and a real "
                         "Qwen3-VL; the first start takes 10-15 minutes).")
        if not steps:
            steps.append("Nothing to do: the fleet is serving. Open the dashboard to analyse a video, or re-run "
                         "`sparkfleet bench` after a change.")
        return "## Next steps\n\n" + "\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1))

    # 8. where things are
    def where(self) -> str:
        inputs = self.inputs
        out = ["## Where things are"]
        for host in inputs.hosts:
            state = inputs.states.get(host) or {}
            items = []
            host_dir = Project(inputs.root).hosts_dir / host
            for name in ("NOTES.md", "state.json"):
                if (host_dir / name).is_file():
                    items.append(self.link_file(host_dir.relative_to(inputs.root) / name))
            paths = state.get("paths") if isinstance(state.get("paths"), dict) else {}
            on_host = paths.get("notes") or paths.get("state_dir") or "/var/lib/sparkfleet"
            items.append(f"on the host: {code(on_host)}")
            dashboard = dig(state, "urls", "dashboard")
            if dashboard:
                items.append(f"dashboard {link(dashboard)}")
            hb = inputs.benches[host]
            if hb.current is not None:
                items.append("bench " + self.link_file(hb.current.path.relative_to(inputs.root)
                                                       if hb.current.path.is_relative_to(inputs.root)
                                                       else hb.current.path, hb.current.path.name))
            unit = dig(state, "vllm", "unit")
            if unit:
                items.append(f"logs: `journalctl -u {unit}`")
            out.append(f"- **{host}**: " + " · ".join(items))
        if inputs.record is not None:
            if inputs.record_path is not None:
                out.append("- Run record: " + self.link_file(inputs.record_path.relative_to(inputs.root)))
            artifacts_links = []
            for phase in inputs.phases():
                run_id = phase.get("run_id")
                artifacts = phase.get("artifacts_dir")
                folder = None
                if isinstance(artifacts, str) and artifacts:
                    path = (inputs.root / artifacts).resolve()  # absolute, unless the project moved
                    if path.is_relative_to(inputs.root / STATE_DIRNAME):
                        folder = path.relative_to(inputs.root)
                if folder is None and isinstance(run_id, str) and SAFE_NAME.match(run_id):
                    folder = Path(STATE_DIRNAME) / "runs" / run_id
                if folder is not None:
                    name = str(phase.get("phase"))
                    artifacts_links.append(self.link_file(folder, name) if (inputs.root / folder).is_dir()
                                           else f"{name} (no longer there)")
            if artifacts_links:
                out.append(f"- Ansible's artifacts of each phase (events, output, stats) under "
                           f"`{STATE_DIRNAME}/runs/`: " + " · ".join(artifacts_links))
        return "\n".join(out)

    def data_notes(self) -> str:
        out = ["## Data notes", ""]
        out += [f"- {n}" for n in self.inputs.notices]
        out += [f"- {text(n)}" for n in self.chart_errors]
        return "\n".join(out)


# charts -------------------------------------------------------------------------------------------------
def draw_charts(inputs: Inputs, report_dir: Path) -> tuple[dict[str, str], list[str]]:
    """The PNGs beside the report: {name: file name}, and why any chart could not be drawn."""
    drawn: dict[str, str] = {}
    errors: list[str] = []
    try:
        import matplotlib  # noqa: F401  (charts imports it where it draws; a missing one is found once, here)

        from sparkfleet.report import charts
    except Exception as error:  # matplotlib missing or broken: a report without charts is still a report
        return drawn, [f"Charts were not drawn ({type(error).__name__}: {error}); install matplotlib to get them."]
    panels: dict[str, list] = {}
    for host in inputs.hosts:
        hb = inputs.benches[host]
        for bench, dashed in ((hb.previous, True), (hb.current, False)):
            if bench is None:
                continue
            lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for s in bench.scenarios():
                x, y = number(s.get("concurrency")), number(s.get("output_throughput"))
                if x is not None and y is not None:
                    lines[str(s.get("traffic") or "?")].append((x, y))
            for traffic, points in lines.items():
                label = f"{host} (previous)" if dashed else host
                panels.setdefault(traffic, []).append(charts.Line(label, sorted(points), host, dashed))
    panels = dict(sorted(panels.items(), key=lambda item: TRAFFIC_ORDER.get(item[0], 9)))
    for traffic in panels:  # current lines first in the legend
        panels[traffic].sort(key=lambda line: (line.dashed, line.label))
    jobs = []
    if panels:
        jobs.append(("throughput", "throughput.png", lambda path: charts.throughput(path, panels)))
    for host in inputs.hosts:
        bench = inputs.benches[host].current
        scenarios = bench.scenarios() if bench else []
        if not scenarios:
            continue
        latency_panels = [charts.LatencyPanel(label, [number(dig(s, key, "median")) for s in scenarios],
                                              [number(dig(s, key, "p99")) for s in scenarios])
                          for key, label in _LATENCIES]
        names = [str(s.get("name") or "?") for s in scenarios]
        jobs.append((f"latency-{host}", f"latency-{host}.png",
                     lambda path, names=names, latency_panels=latency_panels, host=host:
                     charts.latency(path, f"{host}: latency per scenario", names, latency_panels)))
    for key, name, draw in jobs:
        try:
            draw(report_dir / name)
            drawn[key] = name
        except Exception as error:  # one bad chart must not cost the report
            errors.append(f"Chart {name} was not drawn: {type(error).__name__}: {error}")
    for stale in report_dir.glob("*.png"):  # charts of an earlier build of this report that are gone now
        if stale.name not in drawn.values() and stale.name.startswith(("latency-", "throughput")):
            stale.unlink(missing_ok=True)
    return drawn, errors


# the entry point ----------------------------------------------------------------------------------------
def build_report(project_root: Path, record_id: str | None = None) -> Path:
    """Write reports/<id>/report.md (+ PNG charts) for a run, point reports/latest.md at the newest report,
    and return the report's path. Raises ProjectError only when the project cannot be read or written."""
    if record_id is not None and not SAFE_NAME.match(record_id):
        raise UsageError(f"{record_id!r} is not a run id.", hint="Run ids look like 20261126T061500-up-ab12.")
    inputs = load(Path(project_root), record_id)
    report_dir = inputs.root / REPORTS_DIRNAME / inputs.report_id
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        chart_files, chart_errors = draw_charts(inputs, report_dir)
        path = report_dir / "report.md"
        write_atomically(path, Report(inputs, report_dir, chart_files, chart_errors).render())
        _point_latest(inputs)
    except OSError as error:
        raise ProjectError(f"Cannot write the report under {inputs.root / REPORTS_DIRNAME}: "
                           f"{error.strerror or error}.",
                           hint="Check the folder's owner, permissions and free space.") from error
    return path


def _point_latest(inputs: Inputs) -> None:
    """reports/latest.md -> the report of the newest recorded run that has one (relative link)."""
    reports = inputs.root / REPORTS_DIRNAME
    history = Project(inputs.root).history_dir
    best: tuple[tuple[str, str], str] | None = None
    for folder in reports.iterdir():
        if not (folder / "report.md").is_file() or folder.name == NO_RUN_ID:
            continue
        record = read_json(history / f"{folder.name}.json", inputs.root, []) or {}
        key = (str(record.get("started_at") or ""), folder.name)
        if best is None or key > best[0]:
            best = (key, folder.name)
    target_name = best[1] if best else (NO_RUN_ID if (reports / NO_RUN_ID / "report.md").is_file() else None)
    if target_name is None:
        return
    latest = reports / "latest.md"
    target = f"{target_name}/report.md"
    if latest.is_symlink() and os.readlink(latest) == target:
        return
    tmp = reports / f".latest.md.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, latest)
