import math

import pytest
from ansible_collections.sparkfleet.spark.plugins.filter.fanout import fanout_plan


def test_holders_double_each_round_with_the_controller_as_the_first_source():
    plan = fanout_plan(["a", "b", "c", "d"])
    assert plan == {"a": {"round": 0, "source": "controller"},
                    "b": {"round": 1, "source": "controller"}, "c": {"round": 1, "source": "a"},
                    "d": {"round": 2, "source": "controller"}}


@pytest.mark.parametrize("hosts", [1, 2, 3, 4, 7, 8, 15, 100])
def test_n_hosts_take_log2_rounds_and_nobody_sends_twice_in_a_round_or_before_holding(hosts):
    names = [f"h{i}" for i in range(hosts)]
    plan = fanout_plan(names)
    assert set(plan) == set(names)
    assert max(step["round"] for step in plan.values()) + 1 == math.ceil(math.log2(hosts + 1))
    for round_ in range(max(step["round"] for step in plan.values()) + 1):
        sources = [step["source"] for step in plan.values() if step["round"] == round_]
        assert len(sources) == len(set(sources))  # one receiver per source and round
        for source in sources:  # a host sends only after the round in which it received
            assert source == "controller" or plan[source]["round"] < round_


def test_hosts_that_already_hold_it_feed_the_others_and_are_not_copied_again():
    plan = fanout_plan(["a", "b", "c"], have=["b"])
    assert plan == {"a": {"round": 0, "source": "controller"}, "c": {"round": 0, "source": "b"}}


def test_without_host_to_host_copies_the_controller_sends_to_every_host_at_once():
    assert fanout_plan(["a", "b", "c"], have=["b"], hosts_send=False) == {
        "a": {"round": 0, "source": "controller"}, "c": {"round": 0, "source": "controller"}}
    assert fanout_plan([]) == {}
