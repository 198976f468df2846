"""Network operations of the engine: create/ls/inspect/rm/prune/connect/
disconnect, the attachment of a new container (addresses allocated under the
engine lock from what its network's members already hold), and the
/etc/hosts of members as they come and go."""

from __future__ import annotations

import os

from ..errors import Conflict, JockerError, NotFound, UsageError
from ..storage import props as P
from . import attachment, hosts, ipam, naming, ports
from . import store as S


def driver(engine):
    return engine.network_driver


def load(engine, st=None) -> dict[str, dict]:
    st = st or engine.load_state()
    return S.load(engine.layout, st.datasets)


def _own_bridges(networks: dict[str, dict]) -> set[str]:
    return {S.bridge_of(n) for n in networks.values()}


def owner(engine) -> str:
    """The marker on this store's bridges and tables."""
    return naming.store_marker(engine.layout.root)


def _add(engine, networks: dict[str, dict], name: str, **kw) -> dict:
    """Under the lock: validate, store, create the bridge on the host. A
    bridge name the host already uses is skipped unless what holds it is
    this store's own leftover (a network jocker lost), which is replaced."""
    routes = driver(engine).host_routes(_own_bridges(networks))
    avoid: set[str] = set()
    while True:
        rec = S.new_record(engine, networks, name, host_routes=routes, avoid=avoid, **kw)
        held = driver(engine).bridge_owner(S.bridge_of(rec), owner(engine))
        if held != "foreign":
            break
        avoid.add(S.bridge_of(rec))
    S.save(engine, rec)
    try:
        if held == "ours":
            driver(engine).remove_network(S.endpoint_base(rec))
        driver(engine).ensure_network(S.endpoint_base(rec), engine.config.network_prefix, owner(engine))
    except JockerError:
        S.delete(engine, rec)
        raise
    networks[name] = rec
    return rec


def ensure_default(engine, networks: dict[str, dict]) -> dict:
    """The default `bridge` network, stored the first time it is needed
    (networks is updated in place)."""
    if S.DEFAULT not in networks:
        with engine.lock.held():
            networks.update(load(engine))         # another command may have made it meanwhile
            if S.DEFAULT not in networks:
                _add(engine, networks, S.DEFAULT)
    return networks[S.DEFAULT]


def create(engine, name: str, *, subnet: str | None = None, gateway: str | None = None,
           internal: bool = False, labels: dict | None = None, driver_name: str = "bridge") -> dict:
    if driver_name not in ("bridge",):
        raise UsageError(f"network driver {driver_name!r} is not supported", hint="use -d bridge")
    if gateway and not subnet:
        raise UsageError("--gateway needs --subnet")
    with engine.lock.held():
        networks = load(engine)
        return _add(engine, networks, name, subnet=subnet, gateway=gateway, internal=internal,
                    labels=labels)


def members(containers, rec: dict) -> list:
    return [c for c in containers.values()
            if any(ep.get("NetworkID") == rec["Id"] for ep in hosts.networks_of(c).values())]


def _containers(engine, st):
    from ..containers.model import load_containers
    return load_containers(engine.layout, st.datasets)


def listing(engine) -> list[dict]:
    networks = load(engine)
    ensure_default(engine, networks)
    out = [networks[n] for n in sorted(networks)]
    return out + [S.builtin_record(n) for n in S.BUILTIN]


def inspect(engine, ref: str) -> dict:
    st = engine.load_state()
    networks = S.load(engine.layout, st.datasets)
    if ref == S.DEFAULT:
        ensure_default(engine, networks)
    rec = dict(S.resolve(networks, ref))
    conts = {}
    for c in members(_containers(engine, st), rec):
        ep = hosts.networks_of(c)[rec["Name"]]
        conts[c.id] = {"Name": c.name, "EndpointID": ep.get("EndpointID", ""),
                       "MacAddress": ep.get("MacAddress", ""),
                       "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}", "IPv6Address": ""}
    rec["Containers"] = conts
    return rec


def remove(engine, ref: str) -> str:
    with engine.lock.held():
        st = engine.load_state()
        networks = S.load(engine.layout, st.datasets)
        rec = S.resolve(networks, ref)
        if rec["Name"] in S.BUILTIN:
            raise Conflict(f"{rec['Name']} is a pre-defined network and cannot be removed")
        users = members(_containers(engine, st), rec)
        if users:
            raise Conflict(f"error while removing network: network {rec['Name']} id {rec['Id']} has "
                           f"active endpoints ({', '.join(sorted(c.name for c in users))})",
                           hint="remove or disconnect those containers first")
        driver(engine).remove_network(S.endpoint_base(rec))
        S.delete(engine, rec)
        return rec["Name"]


def prune(engine) -> list[str]:
    """User networks no container uses (the default `bridge` stays, as in Docker)."""
    st = engine.load_state()
    conts = _containers(engine, st)
    gone = []
    for name, rec in sorted(S.load(engine.layout, st.datasets).items()):
        if name != S.DEFAULT and not members(conts, rec):
            try:
                remove(engine, rec["Id"])
                gone.append(name)
            except (Conflict, NotFound):
                pass                    # taken or removed meanwhile
    return gone


# ---------------------------------------------------------------- containers

def _endpoint(rec: dict, ip: str, aliases: list[str], wanted: str | None, index: int = 0) -> dict:
    """Docker's EndpointSettings, plus what jocker's runtime needs under
    "Jocker" (the bridge, subnet and the interface index eth<index>)."""
    subnet, gateway = S.subnet_of(rec)
    return {"IPAMConfig": {"IPv4Address": wanted} if wanted else None, "Links": None,
            "Aliases": list(aliases) or None, "NetworkID": rec["Id"], "EndpointID": os.urandom(32).hex(),
            "Gateway": gateway, "IPAddress": ip, "IPPrefixLen": ipam.prefixlen(subnet),
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": naming.mac_for(ip), "Jocker": dict(S.endpoint_base(rec), index=index)}


def _taken(containers, rec: dict, engine=None) -> set[str]:
    """Addresses of the network's members, and (with engine) those leased to
    running build steps."""
    out = {ep["IPAddress"] for c in containers.values() for ep in hosts.networks_of(c).values()
           if ep.get("NetworkID") == rec["Id"] and ep.get("IPAddress")}
    return out | (_leases(engine, rec) if engine is not None else set())


def _lease_dir(engine) -> str:
    return os.path.join(engine.layout.rundir, "net-leases")


def _leases(engine, rec: dict) -> set[str]:
    """Addresses leased to build steps whose process is alive."""
    out = set()
    try:
        names = os.listdir(_lease_dir(engine))
    except FileNotFoundError:
        return out
    for name in names:
        net_id, _, rest = name.partition("_")
        ip, _, pid = rest.partition("_")
        if net_id != rec["Id"][:12] or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            out.add(ip)
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(_lease_dir(engine), name))
            except FileNotFoundError:
                pass
        except PermissionError:
            out.add(ip)
    return out


def build_attachment(engine, cid: str, network: str):
    """A RUN step's network: `none`, `host`, or an address leased on the
    default network (a file under <rundir>/net-leases, released by the
    returned function; a killed build's lease dies with its pid).
    Returns (mode, attachment, release)."""
    prefix = engine.config.network_prefix
    if network in ("host", "none"):
        return network, attachment.build(cid, prefix, network, [], []), lambda: None
    with engine.lock.held():
        st = engine.load_state()
        networks = S.load(engine.layout, st.datasets)
        rec = ensure_default(engine, networks) if network in ("default", S.DEFAULT) \
            else S.resolve(networks, network)
        if rec["Name"] in S.BUILTIN:
            return rec["Name"], attachment.build(cid, prefix, rec["Name"], [], []), lambda: None
        addr = ipam.allocate(*S.subnet_of(rec), _taken(_containers(engine, st), rec, engine))
        os.makedirs(_lease_dir(engine), exist_ok=True)
        lease = os.path.join(_lease_dir(engine), f"{rec['Id'][:12]}_{addr}_{os.getpid()}")
        open(lease, "w").close()
    driver(engine).ensure_network(S.endpoint_base(rec), prefix, owner(engine))
    att = attachment.build(cid, prefix, "bridge", [dict(S.endpoint_base(rec), ip=addr)], [])

    def release() -> None:
        try:
            os.unlink(lease)
        except FileNotFoundError:
            pass
    return "bridge", att, release


def _published(containers) -> dict[str, list[dict]]:
    return {c.name: ports.flatten(c.host.get("PortBindings")) for c in containers.values()}


def attach_new(engine, st, containers, *, network: str, bindings: dict, publish_all: bool,
               exposed: dict | None, ip: str | None, aliases: list[str]) -> dict:
    """Under the engine lock, at create: HostConfig's NetworkMode and
    PortBindings (as given by -p or the API, checked here) and the
    container's NetworkSettings."""
    bindings = ports.check_bindings(bindings or {})
    if publish_all:
        for key in exposed or {}:
            if key.endswith(("/tcp", "/udp")) and key not in bindings:
                bindings[key] = [{"HostIp": "", "HostPort": ""}]
    mode = network or S.DEFAULT
    if mode in ("default",):
        mode = S.DEFAULT
    if mode in S.BUILTIN or mode.startswith("container:"):
        if mode.startswith("container:"):
            raise UsageError("--network container:NAME is not supported", hint="use a user network")
        if bindings:
            raise UsageError(f"-p cannot be used with --network {mode}: published ports need a "
                             "network of its own", hint="drop -p, or use the default bridge network")
        if ip or aliases:
            raise UsageError(f"--ip and --network-alias need a user-defined network, not {mode}")
        return {"NetworkMode": mode, "PortBindings": {}, "Networks": {}}
    networks = S.load(engine.layout, st.datasets)
    if mode == S.DEFAULT:
        ensure_default(engine, networks)
        if ip or aliases:
            raise UsageError("--ip and --network-alias need a user-defined network, not the default bridge",
                             hint="jocker network create NAME, then --network NAME")
    rec = S.resolve(networks, mode)
    for a in aliases:
        from ..names import check_object_name
        check_object_name(a, "network alias")
    addr = ipam.allocate(*S.subnet_of(rec), _taken(containers, rec, engine), ip)
    bindings = ports.resolve_bindings(bindings, _published(containers))
    return {"NetworkMode": rec["Name"], "PortBindings": bindings,
            "Networks": {rec["Name"]: _endpoint(rec, addr, aliases, ip)}}


def attachment_for(engine, c) -> dict:
    """The runtime's view (spec.net) of a container's networks."""
    mode = c.host.get("NetworkMode") or "host"
    if mode in S.BUILTIN:
        return attachment.build(c.id, engine.config.network_prefix, mode, [], [])
    eps = []
    for name, ep in hosts.networks_of(c).items():
        base = dict(ep.get("Jocker") or {})
        base["ip"] = ep["IPAddress"]
        eps.append(base)
    return attachment.build(c.id, engine.config.network_prefix, "bridge", eps,
                            ports.flatten(c.host.get("PortBindings")))


def ensure_bridges(engine, c) -> None:
    """Before a start: the bridges of the container's networks exist (after
    a reboot they are created again from the stored networks)."""
    for ep in hosts.networks_of(c).values():
        base = ep.get("Jocker")
        if base:
            driver(engine).ensure_network(base, engine.config.network_prefix, owner(engine))


def write_hosts(engine, c, containers) -> None:
    from ..containers import etcfiles, readonly
    if (c.host.get("NetworkMode") or "host") == "host":
        return
    if readonly.is_readonly(c) and not c.running:
        return              # sealed until its next start, which writes the file
    peers = [p for p in containers.values() if p.id != c.id]
    rootfs = engine.layout.container_rootfs(c.id)
    if os.path.isdir(rootfs):
        text = hosts.hosts_text(c, peers, c.host.get("ExtraHosts") or [])
        with readonly.writable_for_jocker(engine, c):
            etcfiles.write_file(rootfs, "hosts", text)


def refresh_members(engine, containers, network_names: set[str]) -> None:
    """Rewrite /etc/hosts of every container on those networks. One that
    cannot be rewritten is reported (a warning on stderr), never silently
    left stale; one being removed meanwhile has no root left and is skipped."""
    import logging
    for c in containers.values():
        if set(hosts.networks_of(c)) & network_names:
            try:
                write_hosts(engine, c, containers)
            except (OSError, JockerError) as e:
                if os.path.isdir(engine.layout.container_rootfs(c.id)):
                    logging.getLogger("jocker").warning(
                        "could not refresh /etc/hosts of container %s: %s", c.name, e)


def _save_spec(engine, c) -> None:
    engine.zfs.set_props(c.dataset, P.encode_json("container.config", c.spec))


def connect(engine, net_ref: str, ref: str, *, ip: str | None = None, aliases: list[str] = ()) -> None:
    from ..containers.model import resolve
    with engine.lock.held():
        st = engine.load_state()
        containers = _containers(engine, st)
        c = resolve(containers, ref)
        networks = S.load(engine.layout, st.datasets)
        if net_ref == S.DEFAULT:
            ensure_default(engine, networks)
        rec = S.resolve(networks, net_ref)
        mode = c.host.get("NetworkMode") or "host"
        if rec["Name"] in S.BUILTIN or mode in S.BUILTIN:
            raise Conflict(f"container {c.name} cannot be connected to {rec['Name']}: a container on "
                           f"network {mode} has no network stack of its own to add to",
                           hint="create it on a bridge network")
        nets = hosts.networks_of(c)
        if rec["Name"] in nets:
            raise Conflict(f"endpoint with name {c.name} already exists in network {rec['Name']}")
        addr = ipam.allocate(*S.subnet_of(rec), _taken(containers, rec, engine), ip)
        used = {(ep.get("Jocker") or {}).get("index", 0) for ep in nets.values()}
        index = min(set(range(len(used) + 1)) - used)
        c.spec.setdefault("NetworkSettings", {}).setdefault("Networks", {})[rec["Name"]] = \
            _endpoint(rec, addr, list(aliases), ip, index)
        _save_spec(engine, c)
        if c.running:
            driver(engine).ensure_network(S.endpoint_base(rec), engine.config.network_prefix,
                                          owner(engine))
            try:
                driver(engine).connect_live(attachment_for(engine, c), index)
            except JockerError:
                # Not connected: the container must not be listed on the
                # network (nor hold the address) after a refused connect.
                del c.spec["NetworkSettings"]["Networks"][rec["Name"]]
                _save_spec(engine, c)
                raise
        refresh_members(engine, containers, set(hosts.networks_of(c)))


def disconnect(engine, net_ref: str, ref: str, *, force: bool = False) -> None:
    from ..containers.model import resolve
    with engine.lock.held():
        st = engine.load_state()
        containers = _containers(engine, st)
        c = resolve(containers, ref)
        rec = S.resolve(S.load(engine.layout, st.datasets), net_ref)
        nets = hosts.networks_of(c)
        if rec["Name"] not in nets:
            raise Conflict(f"container {c.name} is not connected to network {rec['Name']}")
        if c.running:
            driver(engine).disconnect_live(attachment_for(engine, c),
                                           (nets[rec["Name"]].get("Jocker") or {}).get("index", 0))
        del nets[rec["Name"]]
        # A stopped container keeps its mode and published ports, as with
        # dockerd: without its last network it starts with only loopback,
        # until a connect gives it one again (docker-compose disconnects and
        # connects every container it creates).
        if c.host.get("NetworkMode") == rec["Name"] and c.running:
            c.spec["HostConfig"]["NetworkMode"] = next(iter(nets), "none")
            if not nets:
                c.spec["HostConfig"]["PortBindings"] = {}
        _save_spec(engine, c)
        refresh_members(engine, containers, set(nets) | {rec["Name"]})


def etc_files(engine, c) -> dict:
    """prepare()'s hosts/resolv.conf for a start: host-network containers
    keep the defaults; others get their network's /etc/hosts (kept by the
    membership code, computed here only if missing) and resolv.conf with
    --dns/--dns-search/--dns-option."""
    mode = c.host.get("NetworkMode") or "host"
    try:
        host_resolv = open("/etc/resolv.conf").read()
    except OSError:
        host_resolv = ""
    resolv = hosts.resolv_text(host_resolv, c.host.get("Dns") or [], c.host.get("DnsSearch") or [],
                               c.host.get("DnsOptions") or [], own_stack=mode != "host")
    if mode == "host":
        return {"resolv": resolv}
    from ..containers import etcfiles
    current = etcfiles.read_file(engine.layout.container_rootfs(c.id), "hosts")
    if current.startswith(hosts.MARK):
        return {"hosts": current, "resolv": resolv}
    peers = []
    if hosts.networks_of(c):        # --network none has no peers: no store read
        peers = [p for p in _containers(engine, engine.load_state()).values() if p.id != c.id]
    return {"hosts": hosts.hosts_text(c, peers, c.host.get("ExtraHosts") or []), "resolv": resolv}


def member_gone(engine, c) -> None:
    """After rm: the other members' /etc/hosts forget it."""
    nets = set(hosts.networks_of(c))
    if nets:
        containers = _containers(engine, engine.load_state())
        containers.pop(c.id, None)
        refresh_members(engine, containers, nets)
