"""FreeBSD network plans, pure (shared/reference/freebsd.md §3 and §4): a
bridge(4) per network with the gateway address, an epair(4) per container
endpoint (A side on the bridge, B side moved into the VNET jail), and pf rules
in anchors under `jocker/` that the admin's pf.conf hooks once:

    nat-anchor "jocker/*"
    rdr-anchor "jocker/*"
    anchor "jocker/*"

Every anchor text is checked with `pfctl -n` before it is loaded; removal is
an anchor flush. jocker never edits pf.conf."""

from __future__ import annotations

from . import naming

HOOK_LINES = ('nat-anchor "jocker/*"', 'rdr-anchor "jocker/*"', 'anchor "jocker/*"')


# ---------------------------------------------------------------- bridges

def bridge_create_command() -> list[str]:
    return ["ifconfig", "bridge", "create"]          # prints the new name, e.g. bridge0


def rename_command(created: str, name: str) -> list[str]:
    return ["ifconfig", created, "name", name]


def bridge_address_command(net: dict) -> list[str]:
    plen = net["subnet"].split("/")[1]
    return ["ifconfig", net["bridge"], "inet", f"{net['gateway']}/{plen}", "up"]


def bridge_exists_command(bridge: str) -> list[str]:
    return ["ifconfig", bridge]


def describe_command(ifname: str, owner: str) -> list[str]:
    """Marks a bridge as this store's (ifconfig(8) `description`)."""
    return ["ifconfig", ifname, "description", owner]


def parse_description(text: str) -> str:
    """The `description: ...` line of `ifconfig <if>` ("" if none)."""
    for line in text.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "description":
            return value.strip()
    return ""


def destroy_command(ifname: str) -> list[str]:
    """For a bridge, or either end of an epair (destroys both, wherever the
    B side is) [I if_epair.c]."""
    return ["ifconfig", ifname, "destroy"]


def egress_command() -> list[str]:
    return ["route", "-n", "get", "-inet", "default"]


def parse_egress(text: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "interface" and value.strip():
            return value.strip()
    return None


def network_anchor_text(net: dict, egress: str | None) -> str:
    """Outbound NAT for the network's subnet through the host's egress
    interface; an internal network gets none."""
    if net.get("internal") or not egress:
        return ""
    s = net["subnet"]
    return f"nat on {egress} inet from {s} to ! {s} -> ({egress})\n"


# ---------------------------------------------------------------- containers

def epair_create_command() -> list[str]:
    return ["ifconfig", "epair", "create"]           # prints the A side, e.g. epair3a


def epair_setup_commands(created_a: str, e: dict) -> list[list[str]]:
    """Rename both ends (traceable names, 15 characters at most), A side up
    and on the bridge, B side with a stable MAC (still on the host: it moves
    into the jail through vnet.interface at `jail -c`)."""
    created_b = created_a[:-1] + "b"
    return [rename_command(created_a, e["host_if"]), rename_command(created_b, e["ctr_if"]),
            ["ifconfig", e["ctr_if"], "ether", e["mac"]],
            ["ifconfig", e["host_if"], "up"],
            ["ifconfig", e["bridge"], "addm", e["host_if"]]]


def jail_params(att: dict) -> list[tuple[str, str]]:
    """jail.conf parameters: `host` shares the host's stack; `none` and
    bridge networks are VNET jails (which refuse ip4/ip6 restrictions)."""
    mode = att.get("mode", "host")
    if mode == "host":
        return [("ip4", "inherit"), ("ip6", "inherit")]
    params: list[tuple[str, str]] = [("vnet", "new")]
    for e in att.get("endpoints", []):
        params.append(("vnet.interface", e["ctr_if"]))
    return params


def inside_commands(jail: str, att: dict) -> list[list[str]]:
    """After `jail -c`: lo0 up (a fresh vnet's lo0 is unconfigured [U]), the
    address on each endpoint, the default route. `ifconfig -j` runs the host's
    ifconfig against the jail's stack, so the image needs none [U: first
    release with -j, check on 14.x]; route(8) has no -j [U], so it runs
    through jexec with the image's /sbin/route."""
    if att.get("mode") not in ("bridge", "none"):
        return []
    cmds = [["ifconfig", "-j", jail, "lo0", "inet", "127.0.0.1/8", "up"]]
    for e in att.get("endpoints", []):
        cmds.append(["ifconfig", "-j", jail, e["ctr_if"], "inet", f"{e['ip']}/{e['prefixlen']}", "up"])
    if att.get("endpoints"):
        cmds.append(["jexec", jail, "/sbin/route", "-n", "add", "-inet", "default",
                     att["endpoints"][0]["gateway"]])
    return cmds


def endpoint_move_commands(jail: str, e: dict) -> list[list[str]]:
    """`network connect` to a running jail: move the B side in, address it."""
    return [["ifconfig", e["ctr_if"], "vnet", jail],
            ["ifconfig", "-j", jail, e["ctr_if"], "inet", f"{e['ip']}/{e['prefixlen']}", "up"]]


def container_anchor_text(att: dict) -> str:
    """rdr for each -p to the container, from anywhere `to self` (every host
    address; with net.pf.filter_local=1 also connections the host makes to
    itself, §4.5), plus nat on the bridge for loopback-sourced connections and
    for hairpin from the same network, so replies return through the host.
    pf.conf(5)'s grammar has no `label` on nat/rdr rules, so states are
    killed by the container's address on teardown."""
    e = att["endpoints"][0]
    ip, br = e["ip"], e["bridge"]
    rdr, nat = [], []
    for p in att["ports"]:
        to = p["host_ip"] if p["host_ip"] and p["host_ip"] != "0.0.0.0" else "self"
        proto = p["proto"]
        rdr.append(f"rdr pass inet proto {proto} from any to {to} port {p['host_port']} -> "
                   f"{ip} port {p['port']}")
        nat.append(f"nat on {br} inet proto {proto} from (lo0) to {ip} port {p['port']} -> ({br})")
        nat.append(f"nat on {br} inet proto {proto} from {e['subnet']} to {ip} port {p['port']} -> ({br})")
    return "\n".join(nat + rdr) + "\n"        # translation rules: nat before rdr (pf.conf(5) order)


def pf_check_command(anchor: str) -> list[str]:
    return ["pfctl", "-a", anchor, "-n", "-f", "-"]


def pf_load_command(anchor: str) -> list[str]:
    return ["pfctl", "-a", anchor, "-f", "-"]


def pf_flush_command(anchor: str) -> list[str]:
    return ["pfctl", "-a", anchor, "-F", "all"]


def pf_kill_states_commands(ip: str) -> list[list[str]]:
    """States to the container (rdr'ed connections) and from it [§4.2; U:
    whether an address kill matches rdr states by the translated address]."""
    return [["pfctl", "-k", "0.0.0.0/0", "-k", ip], ["pfctl", "-k", ip]]


def container_teardown(att: dict) -> list[list[str]]:
    """After `jail -r`: flush the anchor, kill its states, destroy each epair.
    The anchor is flushed by the name the container id gives it, whatever
    the current mode: a container disconnected from its network while
    running is rebuilt as "none", but the rdr rules it started with stay
    loaded until flushed (flushing a missing anchor is harmless)."""
    cmds = []
    anchor = att.get("anchor")
    if not anchor and att.get("mode") in ("bridge", "none") and att.get("cid"):
        anchor = naming.container_anchor(att["prefix"], att["cid"])
    if anchor:
        cmds.append(pf_flush_command(anchor))
    if att.get("anchor") and att.get("endpoints"):
        cmds += pf_kill_states_commands(att["endpoints"][0]["ip"])
    cmds += [destroy_command(e["host_if"]) for e in att.get("endpoints", [])]
    return cmds


def routes_command() -> list[str]:
    return ["netstat", "-rn", "-f", "inet", "--libxo", "json"]


def parse_routes(text: str, own_bridges: set[str]) -> list[str]:
    import json
    out = []
    try:
        families = json.loads(text)["statistics"]["route-information"]["route-table"]["rt-family"]
    except (ValueError, KeyError, TypeError):
        return out
    for fam in families:
        for r in fam.get("rt-entry", []):
            dst, dev = r.get("destination", ""), r.get("interface-name", "")
            if dst == "default" or dev in own_bridges or not dst[:1].isdigit():
                continue
            out.append(dst if "/" in dst else dst + "/32")
    return out
