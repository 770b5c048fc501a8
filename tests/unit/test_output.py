import io
import json

from sparkfleet.cli.output import Output, format_table
from sparkfleet.core.errors import ExitCode, InventoryError
from sparkfleet.core.events import HostResult, Progress, RunStarted


def test_json_mode_writes_one_object_per_line_with_version_and_type():
    out, err = io.StringIO(), io.StringIO()
    render = Output(True, "ping", out, err)
    render.event(RunStarted(run_id="r1", playbook="ping", limit=None, check=False))
    render.event(HostResult(host="lab1", task="Ping", status="ok"))
    render.success({"x": 1}, "human text that must not appear")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["type"] for line in lines] == ["run_start", "host_result", "summary"]
    assert all(line["v"] == 1 and isinstance(line["ts"], float) for line in lines[:2])
    assert lines[1] == {**lines[1], "host": "lab1", "task": "Ping", "status": "ok", "message": None}
    assert lines[2] == {"v": 1, "type": "summary", "command": "ping", "ok": True, "exit_code": 0,
                        "result": {"x": 1}, "error": None}
    assert err.getvalue() == ""


def test_json_summary_of_a_failed_run_is_not_ok():
    out = io.StringIO()
    Output(True, "ping", out, io.StringIO()).success({}, exit_code=ExitCode.HOST_UNREACHABLE)
    summary = json.loads(out.getvalue())
    assert summary["ok"] is False and summary["exit_code"] == 4


def test_human_mode_sends_progress_to_stderr_and_the_result_to_stdout():
    out, err = io.StringIO(), io.StringIO()
    render = Output(False, "ping", out, err)
    render.event(Progress(message="Creating lab1"))
    render.event(HostResult(host="lab1", task="Ping", status="unreachable", message="timed out"))
    render.success({}, "RESULT")
    assert out.getvalue() == "RESULT\n"
    assert "Creating lab1" in err.getvalue() and "unreachable" in err.getvalue() and "timed out" in err.getvalue()


def test_errors_carry_message_and_hint_in_both_modes():
    error = InventoryError("Invalid port 0: must be 1-65535.", hint="The ssh port is usually 22.")
    out, err = io.StringIO(), io.StringIO()
    Output(False, "host add", out, err).failure(error)
    assert out.getvalue() == "" and "Invalid port 0" in err.getvalue() and "usually 22" in err.getvalue()
    out = io.StringIO()
    Output(True, "host add", out, io.StringIO()).failure(error)
    summary = json.loads(out.getvalue())
    assert summary["exit_code"] == 2 and summary["error"]["code"] == "inventory"


def test_format_table_aligns_columns():
    text = format_table(["A", "LONGER"], [["x", 1], ["yyyy", None]])
    assert text.splitlines() == ["A     LONGER", "x     1", "yyyy  -"]
