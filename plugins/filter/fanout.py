"""Who copies the model from whom, and in which pieces, so that hosts holding it feed the others in a pipeline.

The receivers form chains behind the sources (the controller, and every host already holding the model): the
first host of a chain copies from the source, every later host from the one before it. The model is cut into a
few batches of files of about equal size, and the chains work in steps: at step t the host at position p (1 = the
first) copies batch t - (p - 1) from its predecessor, which received that batch one step earlier. A chain of n
hosts thus takes (batches + n - 1) steps of one batch each: 4 hosts and 8 batches take 11/8 of one copy, where one
host copying after another would take 4.
"""

from __future__ import annotations

CONTROLLER = "controller"


def fanout_plan(need: list[str], have: list[str] | None = None, hosts_send: bool = True) -> dict:
    """{receiver: {"source": a host or "controller", "position": p}} for every host in `need` not in `have`.

    Receivers are split into one chain per source, as evenly as possible, keeping their order. With `hosts_send`
    false the controller feeds every receiver itself (all at position 1).
    """
    holders = list(dict.fromkeys(have or []))
    need = [host for host in dict.fromkeys(need) if host not in set(holders)]
    if not hosts_send:
        return {host: {"source": CONTROLLER, "position": 1} for host in need}
    sources = [CONTROLLER, *holders]
    chains = min(len(sources), len(need))
    plan: dict[str, dict] = {}
    start = 0
    for index in range(chains):
        size = len(need) // chains + (1 if index < len(need) % chains else 0)
        previous = sources[index]
        for position, host in enumerate(need[start:start + size], start=1):
            plan[host] = {"source": previous, "position": position}
            previous = host
        start += size
    return plan


def fanout_batches(files: dict, count: int = 8) -> list[list[str]]:
    """A manifest's files ({path: {"size": ...}}) in path order, cut into at most `count` batches of about equal
    size (a file larger than a batch's share makes a batch of its own)."""
    paths = sorted(files)
    total = sum(int((files[p] or {}).get("size") or 0) for p in paths)
    share = total / max(int(count), 1)
    batches: list[list[str]] = []
    current: list[str] = []
    done = 0  # bytes so far; a batch ends where they pass the next multiple of the share
    for path in paths:
        current.append(path)
        done += int((files[path] or {}).get("size") or 0)
        if done >= share * (len(batches) + 1) and len(batches) < int(count) - 1:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


def fanout_step(plan: dict, host: str, step: int, batches: int) -> int:
    """The batch `host` copies at `step` (0-based), or -1 for none."""
    entry = plan.get(host)
    if not entry:
        return -1
    batch = int(step) - (int(entry["position"]) - 1)
    return batch if 0 <= batch < int(batches) else -1


class FilterModule:
    def filters(self):
        return {"fanout_plan": fanout_plan, "fanout_batches": fanout_batches, "fanout_step": fanout_step}
