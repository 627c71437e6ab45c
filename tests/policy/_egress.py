"""A small evaluator of NetworkPolicy egress rules, as an enforcing CNI reads them.

Used to assert what a pod can reach (an IP and port, or a pod in a namespace) instead of
comparing rule dicts only. Semantics (networking.k8s.io/v1): a rule allows a connection
when one of its `to` peers matches (no `to`: any destination) and one of its `ports`
matches (no `ports`: any port); an ipBlock matches inside `cidr` and outside each
`except`; a peer with a namespaceSelector and a podSelector needs both to match (a
peer without namespaceSelector is taken to match every namespace: ours always carry one).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from k8sclaw_controllers.netpol import selects

Body = dict[str, Any]


def _port_ok(rule: Body, port: int | str, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p.get("port") == port for p in ports)


def _in_block(block: Body, address: str) -> bool:
    ip = ipaddress.ip_address(address)
    network = ipaddress.ip_network(block["cidr"])
    if ip.version != network.version or ip not in network:
        return False
    return not any(ip in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])


def allows_ip(egress: list[Body], address: str, port: int, protocol: str = "TCP") -> bool:
    """Whether any rule lets traffic to `address`:`port` out."""
    for rule in egress:
        peers = rule.get("to")
        to_ok = not peers or any(
            "ipBlock" in peer and _in_block(peer["ipBlock"], address) for peer in peers
        )
        if to_ok and _port_ok(rule, port, protocol):
            return True
    return False


def allows_pod(
    egress: list[Body],
    namespace_labels: dict[str, str],
    pod_labels: dict[str, str],
    port: int | str,
) -> bool:
    """Whether any rule lets TCP traffic to a pod with these labels out (by selector)."""
    for rule in egress:
        peers = rule.get("to")
        to_ok = not peers or any(
            ("namespaceSelector" in peer or "podSelector" in peer)
            and selects(peer.get("namespaceSelector") or {}, namespace_labels)
            and selects(peer.get("podSelector") or {}, pod_labels)
            for peer in peers
        )
        if to_ok and _port_ok(rule, port, "TCP"):
            return True
    return False
