"""Names of the host objects jocker creates for networks, pure. Interface
names fit the 15-character limit of both FreeBSD and Linux; every name starts
with the configured `network_prefix`, so an admin (or a test session's leak
check) can tell jocker's objects apart and jocker never touches others."""

from __future__ import annotations

import re

from ..errors import UsageError

IFNAMSIZ = 15
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,4}$")
ANCHOR_ROOT = "jocker"      # pf.conf hooks: nat-anchor/rdr-anchor/anchor "jocker/*"


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise UsageError(f"invalid network_prefix {prefix!r}: 1-5 of [a-z0-9], starting with a letter",
                         hint="set network_prefix = jk in jocker.conf")
    return prefix


def bridge_name(prefix: str, index: int) -> str:
    name = f"{check_prefix(prefix)}br{index}"
    if len(name) > IFNAMSIZ:
        raise UsageError(f"bridge name {name} is longer than {IFNAMSIZ} characters")
    return name


def endpoint_ifnames(prefix: str, index: int, cid: str) -> tuple[str, str]:
    """(host side, container side) of the epair/veth for the container's
    index-th network: jk0a<id> / jk0b<id>, cut to 15 characters."""
    head = f"{check_prefix(prefix)}{index}"
    return (head + "a" + cid)[:IFNAMSIZ], (head + "b" + cid)[:IFNAMSIZ]


def netns_name(prefix: str, cid: str) -> str:
    return f"{check_prefix(prefix)}ns-{cid[:12]}"


def container_table(prefix: str, cid: str) -> str:
    """nft table (Linux) holding one container's port redirects."""
    return f"{check_prefix(prefix)}c{cid[:12]}"


def network_table(bridge: str) -> str:
    """nft table (Linux) of a network: its NAT and isolation rules."""
    return bridge


def container_anchor(prefix: str, cid: str) -> str:
    """pf anchor (FreeBSD) holding one container's rdr/nat rules."""
    return f"{ANCHOR_ROOT}/{check_prefix(prefix)}c{cid[:12]}"


def network_anchor(bridge: str) -> str:
    return f"{ANCHOR_ROOT}/{bridge}"


def store_marker(root_dataset: str) -> str:
    """What jocker writes on the host objects of its networks (the bridge's
    ifalias / FreeBSD description, the nft table's comment) so it removes a
    leftover only when it is this store's own: another store with the same
    prefix, or an admin's bridge, is left alone."""
    return f"jocker:{root_dataset}"


def mac_for(ip: str) -> str:
    """Docker's scheme: 02:42 followed by the four bytes of the address."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
