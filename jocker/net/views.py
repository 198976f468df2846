"""How Docker shows networks: a container's NetworkSettings, ps's PORTS
column, `jocker port`, and the `network ls` rows. Pure."""

from __future__ import annotations

from . import hosts, naming, ports
from . import store as S


def _endpoint_view(name: str, ep: dict, cid: str) -> dict:
    """An endpoint as inspect shows it. On a user network the container's
    short ID is one of its names (hosts.py writes it), and API 1.44 lists it
    in Aliases as dockerd does (docker-compose looks for it there)."""
    out = {k: v for k, v in ep.items() if k != "Jocker"}
    if name != S.DEFAULT:
        out["Aliases"] = list(dict.fromkeys(list(ep.get("Aliases") or []) + [cid[:12]]))
    return out


def port_map(c) -> dict:
    """NetworkSettings.Ports: published ports with their host side, exposed
    ones with null (only while it runs, as Docker shows them)."""
    if not c.running:
        return {}
    out: dict = {}
    for p in ports.flatten(c.host.get("PortBindings")):
        out.setdefault(f"{p['port']}/{p['proto']}", []).append(
            {"HostIp": p["host_ip"] or "0.0.0.0", "HostPort": str(p["host_port"])})
    for key in c.config.get("ExposedPorts") or {}:
        out.setdefault(key, None)
    return out


def network_settings(engine, c) -> dict:
    mode = c.host.get("NetworkMode") or "host"
    nets = {name: _endpoint_view(name, ep, c.id) for name, ep in hosts.networks_of(c).items()}
    if mode in S.BUILTIN:
        nets = {mode: {"IPAMConfig": None, "Links": None, "Aliases": None,
                       "NetworkID": S.builtin_record(mode)["Id"], "EndpointID": "", "Gateway": "",
                       "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                       "GlobalIPv6PrefixLen": 0, "MacAddress": ""}}
    primary = nets.get(mode) or next(iter(nets.values()), {})
    running = c.running
    sandbox = ""
    if running and mode != "host" and engine.config.runtime_name() == "linux":
        # none: an unnamed stack (linux_ns._netns), reached through its PID 1.
        pid = int((c.runtime or {}).get("main_pid") or 0) if mode == "none" else 0
        sandbox = f"/proc/{pid}/ns/net" if pid else \
            "/run/netns/" + naming.netns_name(engine.config.network_prefix, c.id)
    return {"Bridge": "", "SandboxID": c.id if running else "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": port_map(c),
            "SandboxKey": sandbox, "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": primary.get("EndpointID", "") if mode == S.DEFAULT else "",
            "Gateway": primary.get("Gateway", "") if mode == S.DEFAULT else "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": primary.get("IPAddress", "") if mode == S.DEFAULT else "",
            "IPPrefixLen": primary.get("IPPrefixLen", 0) if mode == S.DEFAULT else 0,
            "IPv6Gateway": "", "MacAddress": primary.get("MacAddress", "") if mode == S.DEFAULT else "",
            "Networks": nets}


def api_ports(c) -> list[dict]:
    """`GET /containers/json` Ports: published ones with their host side,
    exposed ones alone (only while it runs)."""
    if not c.running:
        return []
    out = [{"IP": p["host_ip"] or "0.0.0.0", "PrivatePort": p["port"], "PublicPort": p["host_port"],
            "Type": p["proto"]} for p in ports.flatten(c.host.get("PortBindings"))]
    published = {(p["PrivatePort"], p["Type"]) for p in out}
    for key in sorted(c.config.get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        if port.isdigit() and (int(port), proto or "tcp") not in published:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    return out
