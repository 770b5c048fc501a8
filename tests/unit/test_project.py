from sparkfleet.core.project import Project


def test_init_creates_a_complete_project(project):
    for rel in ("ansible.cfg", "inventory/hosts.yml", "inventory/group_vars/all/main.yml",
                "inventory/group_vars/all/vault.yml", "inventory/group_vars/lab.yml", ".gitignore"):
        assert (project / rel).is_file(), rel
    cfg = (project / "ansible.cfg").read_text()
    for setting in ("pipelining = True", "ControlPersist", "forks = 50", "fact_caching = jsonfile"):
        assert setting in cfg
    assert "sparkfleet_profile: spark" in (project / "inventory/group_vars/all/main.yml").read_text()
    assert (project / ".sparkfleet").stat().st_mode & 0o077 == 0  # keys and artifacts: owner only


def test_init_twice_changes_nothing_and_keeps_user_edits(project, cli):
    cfg = project / "ansible.cfg"
    cfg.write_text(cfg.read_text() + "\n# my own tuning\n")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = cli("--json", "init", str(project))
    assert result.code == 0
    summary = result.summary["result"]
    assert summary["created"] == [] and summary["changed"] is False
    assert "ansible.cfg" in summary["kept"]
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_commands_find_the_project_from_a_subfolder(project, cli):
    sub = project / "inventory" / "group_vars"
    assert Project.find(start=sub).root == project
    assert cli("host", "list", cwd=sub).code == 0


def test_outside_a_project_the_error_says_how_to_make_one(tmp_path, cli):
    result = cli("--json", "host", "list", cwd=tmp_path)
    assert result.code == 2
    error = result.summary["error"]
    assert "No sparkfleet project" in error["message"] and "sparkfleet init" in error["hint"]


def test_project_option_must_name_a_project(tmp_path, cli):
    result = cli("host", "list", "--project", str(tmp_path))
    assert result.code == 2
    assert "not a sparkfleet project" in result.stderr and "sparkfleet init" in result.stderr


def test_init_refuses_a_path_that_is_a_file(tmp_path, cli):
    target = tmp_path / "file"
    target.write_text("x")
    result = cli("init", str(target))
    assert result.code == 2 and "is a file" in result.stderr
