"""`sparkfleet notes` on the served lab host: notes written on the host, kept by later runs, read back here."""

from __future__ import annotations

import urllib.request

import pytest
from helpers import on_host, run_sparkfleet

pytestmark = pytest.mark.lab


def test_a_note_is_written_on_the_host_and_kept_by_the_next_run(served):
    project = served["project"]
    added = run_sparkfleet("--json", "notes", "add", "lab1", "Fan replaced on 2026-11-20; watch the GPU clocks.",
                           cwd=project, timeout=300)
    assert added.code == 0, added.stdout[-2000:]
    written = on_host(served, "cat", "/var/lib/sparkfleet/NOTES.md").stdout
    assert "Fan replaced" in written
    assert written.startswith("# lab1: notes for whoever runs this host next\n")  # no raw "Ansible managed" comment
    again = run_sparkfleet("--json", "verify", cwd=project, timeout=600)
    assert again.code == 0
    shown = run_sparkfleet("--json", "notes", "show", "lab1", cwd=project)
    assert shown.code == 0
    state = shown.summary["result"]["hosts"]["lab1"]
    assert [n["text"] for n in state["notes"]].count("Fan replaced on 2026-11-20; watch the GPU clocks.") == 1
    assert state["last_run"]["command"] == "verify"
    human = run_sparkfleet("notes", "show", cwd=project)
    assert human.code == 0 and "Fan replaced on 2026-11-20" in human.stdout


def test_bad_notes_are_refused_before_anything_runs(served):
    project = served["project"]
    before = on_host(served, "cat", "/var/lib/sparkfleet/state.json").stdout
    for args, expected in ((["notes", "add", "lab1", "token: hf_abcdefghijklmnopqrstuvwxyz"], "secret"),
                           (["notes", "add", "lab1", "   "], "empty"),
                           (["notes", "add", "nosuchhost", "hello"], "No host named"),
                           (["notes", "show", "nosuchhost"], "No host named")):
        result = run_sparkfleet("--json", *args, cwd=project)
        assert result.code == 2, (args, result.stdout)
        assert expected in result.summary["error"]["message"]
    assert on_host(served, "cat", "/var/lib/sparkfleet/state.json").stdout == before


def test_urls_use_how_the_host_says_it_is_reached(served):
    """A host behind a tunnel or a DNS name declares its address for clients (`host add --url-address`, or
    sparkfleet_url_address in host_vars): every URL the notes give uses it, and here it answers."""
    project = served["project"]
    port = int(served["endpoint"].rsplit(":", 1)[1])
    host_vars = project / "inventory" / "host_vars" / "lab1.yml"
    host_vars.parent.mkdir(exist_ok=True)
    host_vars.write_text(f"sparkfleet_url_address: localhost\nsparkfleet_published_ports: {{'8080': {port}}}\n")
    try:
        added = run_sparkfleet("--json", "notes", "add", "lab1", "Reached as localhost from the controller.",
                               cwd=project, timeout=300)
        assert added.code == 0, added.stdout[-2000:]
        urls = added.summary["result"]["state"]["urls"]
        assert urls["endpoint"] == f"http://localhost:{port}" and urls["dashboard"] == f"http://localhost:{port}/"
        with urllib.request.urlopen(urls["endpoint"] + "/health", timeout=30) as response:
            assert response.status == 200
        notes = (project / ".sparkfleet" / "hosts" / "lab1" / "NOTES.md").read_text()
        assert f"dashboard http://localhost:{port}/" in notes
    finally:
        host_vars.unlink()
