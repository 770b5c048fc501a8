"""Two (or more) Sparks as one vLLM server: the layout, the doctor's checks of the ConnectX-7 link from each node's
facts, and the environment NCCL, Gloo, UCX, Ray and vLLM need to use that link.

Facts per node (roles/cluster/tasks/facts.yml): {"addr": `ip -j addr show` (a list), "machine_id": str,
"jumbo_ping_rc": exit status of a don't-fragment ping of MTU size to the head over the link (None: not tried)}.
Checks have the doctor's shape: {id, severity: error | warning | ok, message, hint}.
"""

from __future__ import annotations

import ipaddress

JUMBO_HINT = ("Give the ConnectX-7 interface MTU 9000 on every node (netplan, e.g. /etc/netplan/40-cx7.yaml:"
              " `mtu: 9000`), then `sudo netplan apply`.")


def cluster_nodes(hostvars: dict, hosts: list[str], head: str) -> list[str]:
    """The hosts of `hosts` that name `head` as their cluster head, head first, then in inventory order."""
    members = [h for h in hosts if (hostvars.get(h) or {}).get("cluster_head") == head]
    return sorted(members, key=lambda h: (h != head, hosts.index(h)))


def interface_facts(addr: list, interface: str) -> dict | None:
    """{name, up, mtu, ipv4: [ipaddress.IPv4Interface]} of one interface from `ip -j addr show`, else None."""
    for link in addr or []:
        if isinstance(link, dict) and link.get("ifname") == interface:
            ipv4 = [ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}") for a in link.get("addr_info") or []
                    if isinstance(a, dict) and a.get("family") == "inet" and "local" in a and "prefixlen" in a]
            return {"name": interface, "up": link.get("operstate") == "UP" or "LOWER_UP" in (link.get("flags") or []),
                    "mtu": link.get("mtu"), "ipv4": ipv4}
    return None


def cluster_address(addr: list, interface: str) -> str:
    """The node's IPv4 address on the link ("" when it has none)."""
    link = interface_facts(addr, interface)
    return str(link["ipv4"][0].ip) if link and link["ipv4"] else ""


def _check(check_id: str, problem: str | None, ok: str, hint: str = "", severity: str = "error") -> dict:
    if problem:
        return {"id": check_id, "severity": severity, "message": problem, "hint": hint}
    return {"id": check_id, "severity": "ok", "message": ok, "hint": ""}


def cluster_checks(me: str, nodes: dict, head: str, interface: str, mtu: int = 9000) -> list[dict]:
    """The doctor's checks for node `me` of the cluster whose nodes' facts are `nodes` ({host: facts})."""
    checks = []
    count = len(nodes)
    layout_problem = None
    if head not in nodes:
        layout_problem = f"the head {head!r} is not one of the cluster's hosts ({', '.join(nodes) or 'none'})"
    elif count < 2:
        layout_problem = f"only {count} host names {head} as its cluster head"
    elif count & (count - 1):
        layout_problem = f"{count} nodes: tensor parallelism splits a model over 2, 4 or 8 nodes"
    checks.append(_check(
        "cluster_layout", layout_problem,
        f"{me} is the {'head' if me == head else 'worker'} of {count} nodes ({', '.join(nodes)}), head {head}",
        "Set cluster_head to the same host (the head) on 2, 4 or 8 Sparks linked by ConnectX-7, e.g. in the"
        " group_vars of an inventory group that holds them."))

    mine = interface_facts((nodes.get(me) or {}).get("addr"), interface)
    checks.append(_check(
        "cluster_interface",
        None if mine and mine["up"] else f"{interface} is {'down' if mine else 'missing'} on {me}",
        f"{interface} is up",
        "Name the ConnectX-7 interface whose link is up in cluster_interface (`ibdev2netdev` lists them, e.g."
        " enp1s0f1np1 for the outer port), and check the QSFP cable."))
    checks.append(_check(
        "cluster_mtu",
        None if mine and mine["mtu"] == mtu else f"{interface} has MTU {mine['mtu'] if mine else '?'}, not {mtu}",
        f"{interface} has MTU {mtu}", JUMBO_HINT))

    addresses = {host: interface_facts((facts or {}).get("addr"), interface) for host, facts in nodes.items()}
    own = mine["ipv4"][0] if mine and mine["ipv4"] else None
    head_link = addresses.get(head)
    head_ip = head_link["ipv4"][0] if head_link and head_link["ipv4"] else None
    twins = sorted(h for h, link in addresses.items()
                   if h != me and own and link and link["ipv4"] and link["ipv4"][0].ip == own.ip)
    problem = (f"{interface} has no IPv4 address on {me}" if own is None
               else f"{own.ip} is also the address of {', '.join(twins)}" if twins
               else f"{own} is not in the head's network {head_ip.network}" if head_ip and own.ip not in head_ip.network
               else None)
    checks.append(_check(
        "cluster_address", problem, f"{own} on {interface}" + (f", head at {head_ip.ip}" if me != head and head_ip
                                                                else ""),
        "Give each node its own address in one subnet on the link (NVIDIA's connect-two-Sparks netplan gives"
        " link-local 169.254.x.x; static addresses such as 192.168.177.11/24 and .12/24 work too)."))

    machine_id = (nodes.get(me) or {}).get("machine_id")
    same = sorted(h for h, facts in nodes.items() if h != me and machine_id and (facts or {}).get("machine_id") ==
                  machine_id)
    checks.append(_check(
        "cluster_machine_id", f"{me} has the same /etc/machine-id as {', '.join(same)}" if same else None,
        "the machine id differs from the other nodes'",
        "Sparks have shipped with the same machine id: on the copy, `sudo rm /etc/machine-id &&"
        " sudo systemd-machine-id-setup`, then reboot.", severity="warning"))

    ping = (nodes.get(me) or {}).get("jumbo_ping_rc")
    checks.append(_check(
        "cluster_path", None if me == head or ping == 0 else
        f"a {mtu}-byte packet that may not be fragmented does not reach the head {head} from {me}" if ping is not None
        else f"the path to the head {head} was not tried (no address on the link)",
        "the head itself" if me == head else f"{mtu}-byte packets reach {head} unfragmented",
        "Both ends and anything between them need MTU " + str(mtu) + ". " + JUMBO_HINT))
    return checks


def cluster_environment(interface: str, address: str, rdma_devices: list[str] | None = None) -> dict:
    """What NCCL, Gloo, UCX, Ray and vLLM read to use the link rather than the management network."""
    env = {
        "NCCL_SOCKET_IFNAME": interface,  # NCCL's bootstrap and socket transport
        "GLOO_SOCKET_IFNAME": interface,  # torch.distributed's CPU-side collectives
        "UCX_NET_DEVICES": interface,
        "VLLM_HOST_IP": address,  # the address this node announces to the others
        "RAY_memory_monitor_refresh_ms": "0",  # Ray's OOM killer misreads unified memory (SPARK_FACTS.md)
    }
    if rdma_devices:
        env["NCCL_IB_HCA"] = ",".join(rdma_devices)  # both RoCE twins of the port: the full 200 Gbit/s
    return env


def cluster_size_needed(memory_gib: float, reserve_gib: float, node_memory_mib: float) -> int:
    """The fewest Sparks (1, 2, 4 or 8: tensor parallelism) whose memory holds a model that needs `memory_gib`, each
    keeping `reserve_gib` for its OS; 0 when not even 8 do."""
    for nodes in (1, 2, 4, 8):
        if (float(memory_gib) + float(reserve_gib) * nodes) * 1024 <= nodes * float(node_memory_mib):
            return nodes
    return 0


class FilterModule:
    def filters(self):
        return {"cluster_nodes": cluster_nodes, "cluster_checks": cluster_checks,
                "cluster_environment": cluster_environment, "cluster_address": cluster_address,
                "cluster_size_needed": cluster_size_needed}
