"""IP address management, pure: subnets for networks, addresses for
containers. Callers hold the engine lock and pass in everything already in use
(other networks' subnets, the host's routes, the addresses of a network's
members), so two concurrent commands can never hand out the same thing."""

from __future__ import annotations

import ipaddress

from ..errors import Conflict, UsageError

DEFAULT_SUBNET = "10.88.0.0/16"


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ipaddress.NetmaskValueError:
        raise UsageError(f"invalid subnet {text!r}: bad prefix length", hint="use a CIDR like 10.89.0.0/16") from None
    except ValueError as e:
        raise UsageError(f"invalid subnet {text!r}: {e}", hint="use a CIDR like 10.89.0.0/16") from None
    if net.prefixlen > 30 or net.prefixlen < 8:
        raise UsageError(f"invalid subnet {text!r}: the prefix length must be between /8 and /30")
    return net


def gateway_of(subnet: str) -> str:
    return str(next(parse_subnet(subnet).hosts()))


def check_gateway(subnet: str, gateway: str) -> str:
    net = parse_subnet(subnet)
    try:
        gw = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise UsageError(f"invalid gateway {gateway!r}: not an IPv4 address") from None
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise UsageError(f"invalid gateway {gateway}: it is not a host address of {subnet}")
    return str(gw)


def _overlap(a: str, b: str) -> bool:
    return ipaddress.IPv4Network(a).overlaps(ipaddress.IPv4Network(b))


def check_subnet_free(subnet: str, networks: dict[str, str], host_routes: list[str]) -> None:
    """Refuse a subnet that overlaps another network's (name -> subnet) or a
    route of the host (it would make the host or the container unreachable)."""
    for name, other in sorted(networks.items()):
        if _overlap(subnet, other):
            raise Conflict(f"subnet {subnet} overlaps network {name!r} ({other})",
                           hint="choose another --subnet, or leave it out to get a free one")
    for route in host_routes:
        if _overlap(subnet, route):
            raise Conflict(f"subnet {subnet} collides with the host route {route}",
                           hint="choose another --subnet that no host interface uses")


def choose_subnet(pool: str, size: int, networks: dict[str, str], host_routes: list[str],
                  preferred: str = DEFAULT_SUBNET) -> str:
    """The preferred subnet if it is free (and the right size), else the first
    free /size in the pool."""
    taken = list(networks.values()) + list(host_routes)
    pool_net = parse_subnet(pool)
    if not pool_net.prefixlen <= size <= 30:
        raise UsageError(f"network_size {size} does not fit the pool {pool}",
                         hint="set network_size between the pool's prefix length and 30")
    candidates = [ipaddress.IPv4Network(preferred)] if preferred else []
    if candidates and (candidates[0].prefixlen != size or not candidates[0].subnet_of(pool_net)):
        candidates = []
    for cand in candidates + list(pool_net.subnets(new_prefix=size)):
        if not any(cand.overlaps(ipaddress.IPv4Network(t)) for t in taken):
            return str(cand)
    raise Conflict(f"no free /{size} subnet is left in the address pool {pool}",
                   hint="remove unused networks (jocker network prune) or widen network_pool")


def allocate(subnet: str, gateway: str, taken: set[str], wanted: str | None = None) -> str:
    """A free host address of subnet: `wanted` (--ip) if it is valid and free,
    else the lowest free one."""
    net = parse_subnet(subnet)
    used = set(taken) | {gateway}
    if wanted:
        try:
            addr = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise UsageError(f"invalid --ip {wanted!r}: not an IPv4 address") from None
        if addr not in net or addr in (net.network_address, net.broadcast_address):
            raise UsageError(f"invalid --ip {wanted}: it is not a host address of the subnet {subnet}",
                             hint=f"pick an address inside {subnet}")
        if str(addr) in used:
            what = "the gateway" if str(addr) == gateway else "in use by another container"
            raise Conflict(f"address {wanted} is already {what} on this network",
                           hint="pick another --ip, or leave it out to get a free one")
        return str(addr)
    for host in net.hosts():
        if str(host) not in used:
            return str(host)
    raise Conflict(f"no free address is left in the subnet {subnet}",
                   hint="remove containers from this network or create a larger one")


def prefixlen(subnet: str) -> int:
    return ipaddress.IPv4Network(subnet).prefixlen
