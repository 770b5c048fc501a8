"""Which host copies the model from where, round by round, so that hosts that have it feed the others."""

from __future__ import annotations

CONTROLLER = "controller"


def fanout_plan(need: list[str], have: list[str] | None = None, hosts_send: bool = True) -> dict:
    """{receiver: {"round": k, "source": a host, or "controller"}} for every host in `need`.

    In each round every source sends to at most one receiver, and every receiver of a round is a source in the
    next, so the number of holders doubles each round: n hosts take about log2(n + 1) rounds of one copy each.
    The controller (which holds the download) is one source, and so is every host in `have`. With `hosts_send`
    false the controller sends to every host itself, all in round 0. Hosts keep their order: a plan is
    reproducible.
    """
    need = [host for host in dict.fromkeys(need) if host not in set(have or [])]
    if not hosts_send:
        return {host: {"round": 0, "source": CONTROLLER} for host in need}
    sources = [CONTROLLER] + [host for host in dict.fromkeys(have or [])]
    plan: dict[str, dict] = {}
    pending, round_ = list(need), 0
    while pending:
        receivers = []
        for source in sources:
            if not pending:
                break
            receiver = pending.pop(0)
            plan[receiver] = {"round": round_, "source": source}
            receivers.append(receiver)
        sources += receivers
        round_ += 1
    return plan


class FilterModule:
    def filters(self):
        return {"fanout_plan": fanout_plan}
