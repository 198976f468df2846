"""A container's network attachment: what the runtime driver needs, as plain
JSON-able data carried in the ContainerSpec (`spec.net`), so the supervisor
and the crash-recovery path can set up and tear down with no store read.

    {"mode": "bridge" | "none" | "host", "prefix": "jk", "cid": ...,
     "netns": "jkns-<id12>", "table": "jkc<id12>", "anchor": "jocker/jkc<id12>",
     "endpoints": [{"network", "bridge", "subnet", "gateway", "ip", "prefixlen",
                    "mac", "host_if", "ctr_if", "ifname", "internal"}],
     "ports": [{"host_ip", "host_port", "port", "proto"}]}
"""

from __future__ import annotations

from . import naming
from .ipam import prefixlen


def build(cid: str, prefix: str, mode: str, endpoints: list[dict], ports: list[dict]) -> dict:
    att = {"mode": mode, "prefix": prefix, "cid": cid, "endpoints": [], "ports": []}
    if mode == "host":
        return att
    att["netns"] = naming.netns_name(prefix, cid)
    if mode == "none":
        return att
    for e in endpoints:
        i = int(e.get("index", 0))
        host_if, ctr_if = naming.endpoint_ifnames(prefix, i, cid)
        att["endpoints"].append({
            "network": e["network"], "bridge": e["bridge"], "subnet": e["subnet"],
            "gateway": e["gateway"], "ip": e["ip"], "prefixlen": prefixlen(e["subnet"]),
            "mac": naming.mac_for(e["ip"]), "host_if": host_if, "ctr_if": ctr_if,
            "ifname": f"eth{i}", "index": i, "internal": bool(e.get("internal"))})
    if ports and att["endpoints"]:
        att["ports"] = list(ports)
        att["table"] = naming.container_table(prefix, cid)
        att["anchor"] = naming.container_anchor(prefix, cid)
    return att
