from helpers import loaded_in_a_fresh_interpreter


def test_help_imports_neither_ansible_nor_ansible_runner():
    code = ("import sys\n"
            "sys.argv = ['sparkfleet', '--help']\n"
            "from sparkfleet.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n")
    assert loaded_in_a_fresh_interpreter(code, {"ansible", "ansible_runner", "yaml", "jinja2", "matplotlib"}) == set()


def test_every_command_has_help_that_mentions_json(cli):
    for args in (["init"], ["host", "add"], ["host", "list"], ["host", "remove"], ["ping"], ["lab", "up"],
                 ["lab", "status"], ["lab", "down"], ["up"], ["upgrade"], ["down"], ["verify"], ["bench"],
                 ["notes", "show"], ["notes", "add"], ["report"]):
        result = cli(*args, "--help")
        assert result.code == 0, args
        assert "--json" in result.stdout and "--project" in result.stdout, args


def test_json_flag_works_before_and_after_the_command(project, cli):
    before = cli("--json", "host", "list", "--project", str(project))
    after = cli("host", "list", "--json", "--project", str(project))
    for result in (before, after):
        assert result.code == 0
        assert [line["type"] for line in result.json_lines()] == ["summary"]
        assert result.summary["command"] == "host list" and result.summary["ok"] is True


def test_usage_errors_under_json_are_a_json_summary_with_exit_2(project, cli):
    result = cli("--json", "host", "add", "spark1", "--project", str(project))  # --address missing
    assert result.code == 2
    summary = result.summary
    assert summary["ok"] is False and summary["exit_code"] == 2
    assert "--address" in summary["error"]["message"]
    assert result.stderr == ""


def test_usage_errors_for_people_go_to_stderr(cli):
    result = cli("lab", "up", "--os", "windows")
    assert result.code == 2 and result.stdout == "" and "windows" in result.stderr


def test_bad_lab_host_count_is_refused_before_anything_starts(project, cli):
    result = cli("--json", "lab", "up", "--hosts", "0", "--project", str(project))
    assert result.code == 2 and "--hosts must be between 1" in result.summary["error"]["message"]


def test_ping_with_an_empty_inventory_says_how_to_add_hosts(project, cli):
    result = cli("--json", "ping", "--project", str(project))
    assert result.code == 2
    assert "no hosts" in result.summary["error"]["message"]
    assert "sparkfleet host add" in result.summary["error"]["hint"]


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and "sparkfleet" in result.stdout


def test_notes_show_is_the_one_spelling(project, cli):
    # with nothing gathered yet `notes show [HOST]` says how to get notes; `notes HOST` is not a second spelling
    for args in (["notes", "show"], ["notes", "show", "spark1"]):
        result = cli("--json", *args, "--project", str(project))
        assert result.code == 2, args
        message = result.summary["error"]["message"]
        assert ("No notes gathered yet" in message) or ("No host named 'spark1'" in message), (args, message)
    result = cli("--project", str(project), "notes", "spark1")
    assert result.code == 2 and "No such command 'spark1'" in result.stdout + result.stderr


def test_verify_bench_and_up_refuse_an_empty_inventory(project, cli):
    for command in ("verify", "bench", "up"):
        result = cli("--json", command, "--project", str(project))
        assert result.code == 2 and "The inventory has no hosts." in result.summary["error"]["message"], command
