"""`-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]`, pure: Docker's PortBindings
({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}) and the flat list the
planners turn into pf rdr / nft dnat rules."""

from __future__ import annotations

import ipaddress
import socket

from ..errors import Conflict, UsageError

_HINT = "publish with -p [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp"


def _port(text: str, spec: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise UsageError(f"invalid {what} {text!r} in -p {spec}: ports are 1-65535", hint=_HINT)
    return int(text)


def parse_publish(specs: list[str]) -> dict[str, list[dict]]:
    if not specs:
        return {}
    from ..builder.values import parse_port_spec    # decimal, fractions: not for every importer
    bindings: dict[str, list[dict]] = {}
    seen: set[tuple] = set()
    for spec in specs:
        if spec.startswith("["):
            raise UsageError(f"invalid -p {spec}: IPv6 publishing is not supported", hint=_HINT)
        parts = spec.split(":")
        if len(parts) > 3 or not parts[-1]:
            raise UsageError(f"invalid -p {spec!r}", hint=_HINT)
        host_ip = parts[0] if len(parts) == 3 else ""
        host_port = parts[-2] if len(parts) >= 2 else ""
        if host_ip:
            try:
                ipaddress.IPv4Address(host_ip)
            except ValueError:
                raise UsageError(f"invalid host IP {host_ip!r} in -p {spec}", hint=_HINT) from None
        try:
            ports = parse_port_spec(parts[-1])
        except ValueError as e:
            raise UsageError(f"invalid -p {spec!r}: {e}", hint=_HINT) from None
        if len(ports) != 1:
            raise UsageError(f"invalid -p {spec!r}: port ranges are not supported; publish each port",
                             hint=_HINT)
        key = ports[0]
        if key.endswith("/sctp"):
            raise UsageError(f"invalid -p {spec!r}: only tcp and udp can be published", hint=_HINT)
        if host_port:
            _port(host_port, spec, "host port")
        proto = key.split("/")[1]
        ident = (host_ip or "0.0.0.0", host_port or key, proto)
        if ident in seen or (not host_port and key in bindings):
            raise UsageError(f"-p {spec} is given twice", hint="publish each port once")
        if host_port:
            clash = [s for s in seen if s[1] == host_port and s[2] == proto and
                     "0.0.0.0" in (s[0], ident[0])]
            if clash:
                raise UsageError(f"host port {host_port}/{proto} is published twice (-p {spec})",
                                 hint="give each published port its own host port")
        seen.add(ident)
        bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    return bindings


def check_bindings(bindings: dict) -> dict:
    """PortBindings from the API: the same rules as -p (ports 1-65535,
    tcp/udp, no port twice)."""
    specs = []
    for key, items in bindings.items():
        if items is not None and not isinstance(items, list):
            raise UsageError(f"invalid PortBindings[{key!r}]: expected a list")
        for b in items or [{}]:
            ip, port = (b or {}).get("HostIp") or "", str((b or {}).get("HostPort") or "")
            specs.append(f"{ip}:{port}:{key}" if ip else f"{port}:{key}" if port else key)
    return parse_publish(specs)


def flatten(bindings: dict | None) -> list[dict]:
    """[{"host_ip", "host_port", "port", "proto"}] sorted, host ports resolved."""
    out = []
    for key, items in (bindings or {}).items():
        port, _, proto = key.partition("/")
        for b in items or []:
            if b.get("HostPort"):
                out.append({"host_ip": b.get("HostIp") or "", "host_port": int(b["HostPort"]),
                            "port": int(port), "proto": proto or "tcp"})
    return sorted(out, key=lambda p: (p["proto"], p["host_port"], p["host_ip"]))


def _free_port(proto: str) -> int:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def host_port_in_use(host_ip: str, port: int, proto: str) -> bool:
    """Is a host process bound to it? (A redirect would silently hide it.)"""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError as e:
            return e.errno == 98 or e.errno == 48      # EADDRINUSE on Linux / FreeBSD
    return False


def resolve_bindings(bindings: dict, others: dict[str, list[dict]]) -> dict:
    """Give `-p 80` a free host port, and refuse host ports another container
    (others: name -> its flattened ports) publishes or a host process holds."""
    out: dict[str, list[dict]] = {}
    for key, items in bindings.items():
        proto = key.split("/")[1]
        for b in items:
            b = dict(b)
            if not b["HostPort"]:
                b["HostPort"] = str(_free_port(proto))
            port = int(b["HostPort"])
            for name, ports in others.items():
                for p in ports:
                    if p["host_port"] == port and p["proto"] == proto and \
                            (not p["host_ip"] or not b["HostIp"] or p["host_ip"] == b["HostIp"]):
                        raise Conflict(f"Bind for {b['HostIp'] or '0.0.0.0'}:{port}/{proto} failed: port is "
                                       f"already allocated by container {name!r}",
                                       hint="publish on another host port, or remove that container")
            if host_port_in_use(b["HostIp"], port, proto):
                raise Conflict(f"Bind for {b['HostIp'] or '0.0.0.0'}:{port}/{proto} failed: a host process "
                               "is already using that port", hint="publish on another host port")
            out.setdefault(key, []).append(b)
    return out
