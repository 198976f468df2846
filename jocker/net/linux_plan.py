"""Linux (workbench) network plans, pure: a bridge per network, a named netns
per container with a veth pair (eth<i> inside), and nftables rules in tables
of jocker's own (one per network for NAT and isolation, one per container for
published ports), never touching the host's tables.

A step is {"argv": [...], "input": text or None, "check": bool}; a
container's stack is a dict the driver builds over netlink (container_stack)."""

from __future__ import annotations

from . import naming


def _step(argv: list[str], input: str | None = None, check: bool = True) -> dict:
    return {"argv": argv, "input": input, "check": check}


def bridge_setup(net: dict, prefix: str, owner: str = "") -> list[dict]:
    """net: {"bridge", "subnet", "gateway", "internal"}; owner marks the
    bridge (its ifalias) and the table (its comment) as this store's."""
    br = net["bridge"]
    plen = net["subnet"].split("/")[1]
    alias = f'link set dev {br} alias "{owner}"\n' if owner else ""
    return [
        _step(["ip", "-b", "-"], f"link add {br} type bridge\n{alias}addr add {net['gateway']}/{plen} dev {br}\n"
                                 f"link set {br} up\n"),
        # Published ports on 127.0.0.1: DNAT'ed loopback packets may leave
        # through this bridge only with route_localnet on it (jocker's own
        # interface; the host's settings are left alone).
        _step(["sysctl", "-q", "-w", f"net.ipv4.conf.{br}.route_localnet=1"]),
        _step(["nft", "-f", "-"], network_nft(net, prefix, owner)),
    ]


def table_show_command(table: str) -> list[str]:
    return ["nft", "list", "table", "ip", table]


def parse_table_comment(text: str) -> str:
    """The comment of a table as `nft list table` prints it ("" if none)."""
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if words[:1] == ["comment"] and len(words) == 2:
            return words[1].strip().strip('"')
    return ""


def bridge_teardown(bridge: str) -> list[dict]:
    return [_step(["nft", "delete", "table", "ip", naming.network_table(bridge)], check=False),
            _step(["ip", "link", "del", "dev", bridge], check=False)]


def network_nft(net: dict, prefix: str, owner: str = "") -> str:
    br, subnet = net["bridge"], net["subnet"]
    others = f'{naming.check_prefix(prefix)}br*'
    if net.get("internal"):
        fwd = f'\t\tiifname "{br}" oifname != "{br}" drop\n\t\toifname "{br}" iifname != "{br}" drop\n'
        post = ""
    else:
        fwd = f'\t\tiifname "{br}" oifname != "{br}" oifname "{others}" drop\n'
        post = f'\t\tip saddr {subnet} ip daddr != {subnet} oifname != "{br}" masquerade\n'
    comment = f'\tcomment "{owner}"\n' if owner else ""
    return (f"table ip {naming.network_table(br)} {{\n{comment}"
            "\tchain postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n"
            f"{post}\t}}\n"
            "\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n"
            f"{fwd}\t}}\n}}\n")


def _veth(e: dict) -> dict:
    """One endpoint's veth pair: the host end on the bridge, the inside end
    (eth<i>, its MAC) made directly in the netns, so it never meets the
    host's interfaces."""
    return {"host": e["host_if"], "inside": e["ifname"], "mac": e["mac"], "bridge": e["bridge"]}


def _inside(e: dict) -> dict:
    return {"dev": e["ifname"], "ip": e["ip"], "prefixlen": e["prefixlen"]}


def container_stack(att: dict) -> dict:
    """A container's own stack (the driver builds it over netlink, rtnl.py):
    the named netns, a veth pair per endpoint, the inside addresses, the
    interfaces to bring up (lo first) and the default route through the
    first network; plus the nft table of its published ports (None: no
    table)."""
    eps = att["endpoints"]
    return {"netns": att["netns"], "veths": [_veth(e) for e in eps],
            "addresses": [_inside(e) for e in eps], "up": ["lo"] + [e["ifname"] for e in eps],
            "default_via": eps[0]["gateway"] if eps else None,
            "nft": container_nft(att) if att.get("ports") else None}


def endpoint_stack(att: dict, index: int) -> dict:
    """`network connect` to a running container: one more veth into its
    netns (which exists), its address, no new default route."""
    e = next(e for e in att["endpoints"] if e["index"] == index)
    return {"netns": att["netns"], "veths": [_veth(e)], "addresses": [_inside(e)], "up": [e["ifname"]],
            "default_via": None, "nft": None}


def endpoint_remove(att: dict, index: int) -> list[dict]:
    e = next(e for e in att["endpoints"] if e["index"] == index)
    return [_step(["ip", "link", "del", "dev", e["host_if"]], check=False)]


def container_teardown(att: dict) -> dict:
    """Idempotent: {"steps": runner steps (the port table's nft delete,
    never checked), "netns": the namespace to delete (None: none), "links":
    host ends of veths to delete}; the driver does the last two over
    netlink. The port-forwarding table is deleted by the name the container
    id gives it, whatever the current mode: after `network disconnect` of
    its network a running container is rebuilt as "none", but the table it
    started with still DNATs until it is removed. Only the attachment a
    container started with (its supervisor's, marked `as_started`) knows
    there is no table: then there is no nft command."""
    if att.get("mode") not in ("bridge", "none"):
        return {"steps": [], "netns": None, "links": []}   # host: no netns, so never a table of its own
    table = att.get("table") or naming.container_table(att["prefix"], att["cid"])
    steps = []
    if att.get("ports") or not att.get("as_started"):
        steps.append(_step(["nft", "delete", "table", "ip", table], check=False))
    return {"steps": steps, "netns": att["netns"], "links": [e["host_if"] for e in att.get("endpoints", [])]}


def _match(p: dict) -> str:
    dst = f"ip daddr {p['host_ip']}" if p["host_ip"] and p["host_ip"] != "0.0.0.0" else "fib daddr type local"
    return f"{dst} {p['proto']} dport {p['host_port']}"


def container_nft(att: dict) -> str:
    """DNAT from the host's addresses (and 127.0.0.1, from the host itself)
    to the container; masquerade loopback-sourced and same-network (hairpin)
    connections so the replies come back through the host."""
    e = att["endpoints"][0]
    ip = e["ip"]
    dnat = [f"\t\t{_match(p)} dnat to {ip}:{p['port']}\n" for p in att["ports"]]
    snat = []
    for p in att["ports"]:
        snat.append(f"\t\tip saddr 127.0.0.0/8 ip daddr {ip} {p['proto']} dport {p['port']} masquerade\n")
        snat.append(f"\t\tip saddr {e['subnet']} ip daddr {ip} {p['proto']} dport {p['port']} masquerade\n")
    # Numeric priorities (-100 dstnat, 100 srcnat): older nft knows no names for the output hook.
    chain = "\t\ttype nat hook {hook} priority {prio}; policy accept;\n"
    return (f"table ip {att['table']} {{\n"
            "\tchain prerouting {\n" + chain.format(hook="prerouting", prio="-100") + "".join(dnat) + "\t}\n"
            "\tchain output {\n" + chain.format(hook="output", prio="-100") + "".join(dnat) + "\t}\n"
            "\tchain postrouting {\n" + chain.format(hook="postrouting", prio="100") + "".join(snat)
            + "\t}\n}\n")


def routes_command() -> list[str]:
    return ["ip", "-4", "route", "show"]


def parse_routes(text: str, own_bridges: set[str]) -> list[str]:
    """Destinations of the host's routes (not the default route, not routes
    of jocker's own bridges): subnets a network must not overlap."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] == "default":
            continue
        dev = words[words.index("dev") + 1] if "dev" in words else ""
        if dev in own_bridges:
            continue
        dst = words[0] if "/" in words[0] else words[0] + "/32"
        if dst[0].isdigit():
            out.append(dst)
    return out
