import pytest
from ansible_collections.sparkfleet.spark.plugins.filter.fanout import fanout_batches, fanout_plan, fanout_step


def test_one_chain_behind_the_controller_when_no_host_holds_the_model():
    assert fanout_plan(["a", "b", "c"]) == {"a": {"source": "controller", "position": 1},
                                            "b": {"source": "a", "position": 2},
                                            "c": {"source": "b", "position": 3}}


def test_hosts_that_hold_it_head_chains_of_their_own_and_are_not_copied_again():
    plan = fanout_plan(["a", "b", "c", "d", "e"], have=["b", "x"])
    assert plan == {"a": {"source": "controller", "position": 1}, "c": {"source": "a", "position": 2},
                    "d": {"source": "b", "position": 1}, "e": {"source": "x", "position": 1}}


def test_without_host_to_host_copies_the_controller_feeds_every_host():
    assert fanout_plan(["a", "b", "c"], have=["b"], hosts_send=False) == {
        "a": {"source": "controller", "position": 1}, "c": {"source": "controller", "position": 1}}
    assert fanout_plan([]) == {}


def test_batches_are_in_path_order_of_about_equal_size_and_at_most_count():
    files = {f"model-{i:05d}.safetensors": {"size": 100} for i in range(1, 9)}
    files["config.json"] = {"size": 1}
    batches = fanout_batches(files, 4)
    assert len(batches) == 4 and sorted(path for batch in batches for path in batch) == sorted(files)
    assert batches[0] == ["config.json", "model-00001.safetensors", "model-00002.safetensors"]
    assert fanout_batches({"big": {"size": 10}, "small": {"size": 1}}, 8) == [["big"], ["small"]]
    assert fanout_batches({}, 8) == []


@pytest.mark.parametrize(("hosts", "batches"), [(1, 1), (1, 8), (2, 8), (4, 8), (7, 3)])
def test_each_host_gets_every_batch_once_after_its_predecessor_in_batches_plus_hosts_minus_one_steps(hosts, batches):
    names = [f"h{i}" for i in range(hosts)]
    plan = fanout_plan(names)
    steps = max(e["position"] for e in plan.values()) + batches - 1
    assert steps == hosts + batches - 1  # 4 hosts, 8 batches: 11 steps of one eighth of the model each
    got: dict[str, dict[int, int]] = {name: {} for name in names}
    for step in range(steps):
        for name in names:
            batch = fanout_step(plan, name, step, batches)
            if batch >= 0:
                source = plan[name]["source"]
                assert batch not in got[name]
                assert source == "controller" or got[source].get(batch, steps) < step  # the source had it
                got[name][batch] = step
    assert all(sorted(done) == list(range(batches)) for done in got.values())
    assert fanout_step(plan, "not-planned", 0, batches) == -1
