"""The JSON Schemas shipped for agents are valid draft 2020-12 schemas, and what the commands print conforms (the
integration tests check real runs: tests/integration/test_agent.py)."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from sparkfleet.agent import schemas
from sparkfleet.core import events


@pytest.mark.parametrize("name", schemas.NAMES)
def test_each_schema_is_a_valid_2020_12_schema_with_a_versioned_id(name):
    schema = schemas.load(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert f"/v{schemas.VERSION}/{name}.json" in schema["$id"]


def test_every_event_type_conforms_and_a_wrong_one_does_not():
    samples = [events.Progress(message="x"), events.RunStarted(run_id="r", playbook="ping", limit=None, check=False),
               events.PlayStarted(play="p"), events.TaskStarted(task="t", role=None),
               events.HostResult(host="h", task="t", status="changed"),
               events.RunFinished(run_id="r", status="successful", duration_s=1.0)]
    for event in samples:
        assert schemas.errors("event", json.loads(json.dumps(event.to_dict()))) == [], event
    wrong = {**samples[4].to_dict(), "status": "exploded"}
    assert schemas.errors("event", wrong)


def test_summaries_of_offline_commands_conform(cli, project, tmp_path):
    for args in (["host", "list"], ["describe"], ["models"], ["generate", "--spec", str(tmp_path / "missing.yml")],
                 ["up"]):
        result = cli("--json", *args, "--project", str(project))
        for line in result.json_lines():
            name = "summary" if line["type"] == "summary" else "event"
            assert schemas.errors(name, line) == [], (args, line)


def test_recorded_records_and_bench_results_conform():
    """Recorded real outputs (tests/fixtures: a lab host's bench result, the report fixtures' records and bench
    files); the integration tests check live ones."""
    from helpers import FIXTURES

    records = sorted(FIXTURES.glob("report/*/state/history/*.json"))
    benches = sorted(FIXTURES.glob("report/*/state/bench/*/*.json")) + sorted(FIXTURES.glob("bench-result-lab/*.json"))
    assert records and benches
    for path in records:
        assert schemas.errors("record", json.loads(path.read_text())) == [], path
    for path in benches:
        assert schemas.errors("bench-result", json.loads(path.read_text())) == [], path
    broken = {**json.loads(benches[0].read_text()), "scenarios": [{"name": "x"}]}
    assert schemas.errors("bench-result", broken)

