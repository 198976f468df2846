"""Networks as jocker stores them: one dataset per network,
`<root>/networks/<id>` (canmount=off), with its name and Docker-shaped record
in ZFS user properties, like containers: durable, read in the same batched
`zfs get` as everything else, and travelling with `zfs send -p`.

`host` and `none` are built in and never stored; the default `bridge`
network is stored the first time something needs it."""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..ids import new_id
from ..times import now_rfc3339
from ..names import check_object_name
from ..storage import props as P
from . import ipam, naming

BUILTIN = ("host", "none")
DEFAULT = "bridge"
BRIDGE_OPT = "com.docker.network.bridge.name"


def builtin_record(name: str) -> dict:
    import hashlib              # not at the top: `run` imports this module and rarely needs it
    return {"Name": name, "Id": hashlib.sha256(f"jocker-network-{name}".encode()).hexdigest(),
            "Created": "", "Scope": "local",
            "Driver": "null" if name == "none" else name, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False,
            "Attachable": False, "Ingress": False, "Options": {}, "Labels": {}}


def bridge_of(net: dict) -> str:
    return (net.get("Options") or {}).get(BRIDGE_OPT, "")


def subnet_of(net: dict) -> tuple[str, str]:
    cfg = (net.get("IPAM") or {}).get("Config") or [{}]
    return cfg[0].get("Subnet", ""), cfg[0].get("Gateway", "")


def endpoint_base(net: dict) -> dict:
    """What a container endpoint needs to know of its network (kept in the
    container's own record so start and teardown need no store read)."""
    subnet, gateway = subnet_of(net)
    return {"network": net["Name"], "bridge": bridge_of(net), "subnet": subnet, "gateway": gateway,
            "internal": bool(net.get("Internal"))}


def load(layout, datasets) -> dict[str, dict]:
    """name -> record, stored networks only."""
    prefix = layout.networks + "/"
    out = {}
    for name, ds in datasets.items():
        if name.startswith(prefix) and not ds.is_snapshot and "/" not in name[len(prefix):]:
            rec = P.decode_json(ds, "network.config")
            if isinstance(rec, dict) and rec.get("Name"):
                out[rec["Name"]] = rec
    return out


def resolve(networks: dict[str, dict], ref: str) -> dict:
    """By name, full ID or unique ID prefix; host/none built in."""
    if ref in BUILTIN:
        return builtin_record(ref)
    if ref in networks:
        return networks[ref]
    matches = [n for n in networks.values() if n["Id"].startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFound(f"network ID prefix {ref!r} is ambiguous; give more characters")
    raise NotFound(f"network {ref} not found", hint="see `jocker network ls`, or create it with "
                   f"`jocker network create {ref}`")


def new_record(engine, networks: dict[str, dict], name: str, *, subnet: str | None = None,
               gateway: str | None = None, internal: bool = False, labels: dict | None = None,
               host_routes: list[str] | None = None, avoid: set[str] = frozenset()) -> dict:
    """A validated record for a new network (pure apart from new_id); its
    bridge name is none of the stored networks' and none in `avoid` (names
    the host uses for something that is not this store's)."""
    check_object_name(name, "network name")
    if name in networks or name in BUILTIN:
        raise Conflict(f"network with name {name} already exists",
                       hint="choose another name, or remove that network first")
    cfg = engine.config
    used = {n: subnet_of(r)[0] for n, r in networks.items()}
    routes = host_routes or []
    if subnet:
        subnet = str(ipam.parse_subnet(subnet))
        ipam.check_subnet_free(subnet, used, routes)
    else:
        subnet = ipam.choose_subnet(cfg.network_pool, cfg.int("network_size"), used, routes)
    gateway = ipam.check_gateway(subnet, gateway) if gateway else ipam.gateway_of(subnet)
    taken = {bridge_of(r) for r in networks.values()} | set(avoid)
    index = 0 if name == DEFAULT else 1
    while naming.bridge_name(cfg.network_prefix, index) in taken:
        index += 1
    return {"Name": name, "Id": new_id(), "Created": now_rfc3339(), "Scope": "local",
            "Driver": "bridge", "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": subnet, "Gateway": gateway}]},
            "Internal": internal, "Attachable": False, "Ingress": False,
            "Options": {BRIDGE_OPT: naming.bridge_name(cfg.network_prefix, index)},
            "Labels": dict(labels or {})}


def save(engine, rec: dict) -> None:
    props = {"canmount": "off", "mountpoint": "none"}
    props.update(P.encode_json("network.config", rec))
    engine.zfs.create(engine.layout.network(rec["Id"]), props)


def delete(engine, rec: dict) -> None:
    engine.zfs.destroy(engine.layout.network(rec["Id"]))
