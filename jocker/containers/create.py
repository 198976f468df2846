"""`jocker create` (and the first half of `run`): from an image and the run
flags to a container: a ZFS clone of the image snapshot, created in one
`zfs clone -o ...` together with its name and configuration, under the lock
so that two `run --name X` racing cannot both win."""

from __future__ import annotations

import os

from ..envvars import merge_env
from ..ids import below, new_id, pick
from ..engine_api.requests import CreateRequest
from ..errors import Conflict, JockerError, NotFound, NotImplementedYet, UsageError
from ..events import produce as events
from ..images.imageconfig import DEFAULT_PATH
from ..runtime import tmpfs
from ..signals import check_signal
from ..times import now_rfc3339
from ..storage import props as P
from ..net import networks as netops
from ..net.hosts import check_dns, parse_add_host, parse_link
from .health import merge as merge_health
from .model import Container, load_containers
from ..volumes.store import check_volume_target, copy_up, create_volume


def _parse_volume(spec: str) -> tuple[str, str, bool]:
    """-v forms: /host:/ctr[:ro|rw], name:/ctr[:ro], /ctr (anonymous)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", check_volume_target(parts[0]), False
    if len(parts) == 3 and parts[2] not in ("ro", "rw"):
        raise UsageError(f"invalid volume {spec!r}: the mode must be ro or rw")
    if len(parts) > 3 or not parts[0]:
        raise UsageError(f"invalid volume specification {spec!r}",
                         hint="use /host/path:/container/path[:ro] or name:/container/path")
    return parts[0], check_volume_target(parts[1]), len(parts) == 3 and parts[2] == "ro"


def _parse_mount(m: dict) -> tuple[str, str, bool]:
    """One `HostConfig.Mounts` entry (`--mount`, compose's long syntax) as
    (source, target, read-only): bind and volume types."""
    kind = m.get("Type") or "volume"
    target = m.get("Target") or m.get("Destination") or ""
    if not isinstance(target, str) or not target:
        raise UsageError("invalid mount: Target is required")
    source = m.get("Source") or ""
    if kind == "bind":
        if not isinstance(source, str) or not source.startswith("/"):
            raise UsageError(f"invalid mount {target!r}: a bind mount needs an absolute Source")
        create = (m.get("BindOptions") or {}).get("CreateMountpoint") if isinstance(
            m.get("BindOptions"), dict) else False
        if not create and not os.path.exists(source):
            # dockerd's answer: unlike -v (Binds), --mount never creates the source
            raise UsageError(f'invalid mount config for type "bind": bind source path does not exist: {source}',
                             hint="create it first, or set BindOptions.CreateMountpoint")
    elif kind == "volume":
        if not isinstance(source, str) or source.startswith("/"):
            raise UsageError(f"invalid mount {target!r}: a volume mount's Source is a volume name")
    else:
        raise NotImplementedYet(f"mount type {kind!r} is not supported",
                                hint="use bind or volume mounts, or HostConfig.Tmpfs")
    return source, check_volume_target(target), bool(m.get("ReadOnly"))


def _devfs_pattern(dev: dict | str) -> str:
    """A Devices entry as the devfs rule pattern it unhides (bpf*, /dev/bpf0...)."""
    return dev if isinstance(dev, str) else dev.get("PathOnHost", "")


def build_spec(engine, req: CreateRequest, image) -> dict:
    """Everything the container is, Docker's field names where they exist."""
    icfg = image.config.get("config") or {}
    cfg, host, jail = req.config, req.host, req.jocker
    entrypoint = icfg.get("Entrypoint") or []
    if cfg.Entrypoint is not None:
        entrypoint = [w for w in cfg.Entrypoint] if cfg.Entrypoint != [""] else []
    cmd = list(cfg.Cmd) if cfg.Cmd else (icfg.get("Cmd") or [] if cfg.Entrypoint is None else [])
    if not entrypoint and not cmd:
        raise UsageError("no command specified: the image has no CMD or ENTRYPOINT",
                         hint="give a command after the image name")
    env = merge_env(icfg.get("Env") or [], cfg.Env)
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    cid = new_id()
    hostname = cfg.Hostname or cid[:12]
    if any(c in hostname for c in " \t\n/"):
        raise UsageError(f"invalid hostname {hostname!r}")
    labels = dict(icfg.get("Labels") or {})
    labels.update(cfg.Labels)
    workdir = cfg.WorkingDir or icfg.get("WorkingDir") or "/"
    if not workdir.startswith("/"):
        raise UsageError(f"invalid working directory {workdir!r}: it must be absolute")
    # Docker keeps the merged healthcheck, and the image's SHELL for CMD-SHELL probes.
    optional = {"Healthcheck": merge_health(icfg.get("Healthcheck"), cfg.Healthcheck),
                "Shell": icfg.get("Shell")}
    return {
        "Id": cid,
        "Created": now_rfc3339(),
        "Path": (entrypoint + cmd)[0],
        "Args": (entrypoint + cmd)[1:],
        "Image": image.id,
        "Config": {
            "Hostname": hostname, "User": cfg.User or icfg.get("User", ""),
            "Tty": cfg.Tty, "OpenStdin": cfg.OpenStdin, "Env": env, "Cmd": cmd,
            "Entrypoint": entrypoint or None, "Image": cfg.Image, "WorkingDir": workdir,
            "Labels": labels, "Volumes": icfg.get("Volumes") or None,
            "StopSignal": check_signal(cfg.StopSignal or icfg.get("StopSignal") or "SIGTERM"),
            "StopTimeout": cfg.StopTimeout, "ExposedPorts": icfg.get("ExposedPorts"),
            **{k: v for k, v in optional.items() if v},
        },
        "HostConfig": {
            "Binds": list(host.Binds), "GroupAdd": list(host.GroupAdd),
            "RestartPolicy": dict(host.RestartPolicy),
            "AutoRemove": host.AutoRemove, "Memory": host.Memory,
            "NanoCpus": host.NanoCpus, "PidsLimit": host.PidsLimit or 0,
            "NetworkMode": host.NetworkMode or "bridge", "PortBindings": {},
            "Dns": check_dns(host.Dns), "DnsSearch": list(host.DnsSearch),
            "DnsOptions": list(host.DnsOptions),
            "ExtraHosts": [f"{n}:{ip}" for n, ip in map(parse_add_host, host.ExtraHosts)],
            "Devices": [_devfs_pattern(d) for d in host.Devices], "JailAllow": list(jail.JailAllow),
            "JailParams": list(jail.JailParams), "JailSecurelevel": jail.JailSecurelevel,
            "DependsOn": list(jail.DependsOn),
            "ReadonlyRootfs": host.ReadonlyRootfs, "Tmpfs": dict(host.Tmpfs),
            "CapAdd": list(host.CapAdd), "CapDrop": list(host.CapDrop),
            "Privileged": host.Privileged, "SecurityOpt": list(host.SecurityOpt),
        },
        "Mounts": [],
        "NetworkSettings": {"Networks": {}},
    }


def create_container(engine, req: CreateRequest) -> Container:
    req.validate()
    host = req.host
    if (host.CapAdd or host.CapDrop or host.Privileged) and engine.config.runtime_name() == "jail":
        raise UsageError("--cap-add, --cap-drop and --privileged are Linux capabilities; "
                         "a jail's root has none", hint="use --allow PERMISSION (jail allow.*)")
    if (host.Memory or host.NanoCpus or host.PidsLimit) and engine.config.runtime_name() != "jail":
        import logging
        logging.getLogger("jocker").warning(
            "resource limits are rctl rules on FreeBSD jails; the Linux development runtime "
            "records them but does not enforce them")
    with engine.lock.held():        # one read of the store, under the lock
        st = engine.load_state()
        try:
            image = st.resolve(req.image)
        except NotFound:
            raise NotFound(f"Unable to find image '{req.image}' locally",
                           hint="import or build it first (pull comes with the registry capability)")
        spec = build_spec(engine, req, image)
        cid = spec["Id"]
        containers = load_containers(engine.layout, st.datasets)
        name = req.name or _generate_name(containers)
        clash = next((c for c in containers.values() if c.name == name), None)
        if clash:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                           f'"{clash.id}". You have to remove (or rename) that container to be able '
                           "to reuse that name.")
        ep = req.endpoints.get(host.NetworkMode or "bridge") or next(iter(req.endpoints.values()), None)
        net = netops.attach_new(engine, st, containers, network=host.NetworkMode,
                                bindings=host.PortBindings, publish_all=host.PublishAllPorts,
                                exposed=spec["Config"]["ExposedPorts"], ip=ep.IPv4Address if ep else None,
                                aliases=ep.Aliases if ep else [])
        spec["HostConfig"]["NetworkMode"] = net["NetworkMode"]
        spec["HostConfig"]["PortBindings"] = net["PortBindings"]
        spec["NetworkSettings"]["Networks"] = net["Networks"]
        if host.Links and net["NetworkMode"] in net["Networks"]:
            # As dockerd on a user network: the links live on the endpoint,
            # and a linked container may come later (hosts.py skips it till then).
            net["Networks"][net["NetworkMode"]]["Links"] = \
                [f"{n}:{a}" for n, a in map(parse_link, host.Links)]
        spec["Mounts"] = _prepare_mounts(engine, req, image, spec)
        props = {"mountpoint": engine.layout.container_rootfs(cid), "jocker:container.name": name}
        props.update(P.encode_json("container.config", spec))
        os.makedirs(engine.layout.container_dir(cid), exist_ok=True)
        try:
            engine.zfs.clone(image.snapshot, engine.layout.container(cid), props)
        except JockerError:
            os.rmdir(engine.layout.container_dir(cid))
            raise
        c = Container(id=cid, name=name, dataset=engine.layout.container(cid), spec=spec, state={})
        if net["Networks"]:
            netops.refresh_members(engine, dict(containers, **{cid: c}), set(net["Networks"]))
    _copy_up_volumes(engine, c, image)
    events.container(engine, c, "create")
    return c


def _prepare_mounts(engine, req: CreateRequest, image, spec: dict) -> list[dict]:
    mounts: list[dict] = []
    targets: set[str] = set()
    for path, options in req.host.Tmpfs.items():
        tmpfs.parse(f"{path}:{options}" if options else path)
        targets.add(path)
    wanted = [_parse_volume(b) for b in req.host.Binds] + [_parse_mount(m) for m in req.host.Mounts]
    # Config.Volumes names anonymous volumes; a target that Binds or Mounts
    # already cover is not one (docker-compose sends both for a named volume).
    covered = {t for _, t, _ in wanted}
    wanted += [_parse_volume(t) for t in req.config.Volumes if check_volume_target(t) not in covered]
    for source, target, ro in wanted:
        if target in targets:
            raise UsageError(f"duplicate mount point: {target}")
        targets.add(target)
        if source.startswith("/"):
            if ".." in source.split("/"):
                raise UsageError(f"invalid host path {source!r}: '..' is not allowed")
            if not os.path.exists(source):
                os.makedirs(source, exist_ok=True)      # Docker creates a missing bind source
            mounts.append({"Type": "bind", "Source": os.path.realpath(source), "Destination": target,
                           "RW": not ro, "Mode": "ro" if ro else "", "Propagation": "rprivate"})
        else:
            vname = create_volume(engine, source or None, anonymous=not source)
            if not source:
                events.volume(engine, vname, "create")
            mounts.append({"Type": "volume", "Name": vname, "Source": engine.layout.volume_path(vname),
                           "Destination": target, "Driver": "zfs", "RW": not ro, "Mode": "",
                           "New": True})
    for target in (image.config.get("config") or {}).get("Volumes") or {}:
        target = check_volume_target(target)
        if target in targets:
            continue
        vname = create_volume(engine, None, anonymous=True)
        events.volume(engine, vname, "create")
        mounts.append({"Type": "volume", "Name": vname, "Source": engine.layout.volume_path(vname),
                       "Destination": target, "Driver": "zfs", "RW": True, "Mode": "", "New": True})
    return mounts


def _copy_up_volumes(engine, c: Container, image) -> None:
    rootfs = engine.layout.container_rootfs(c.id)
    for m in c.spec["Mounts"]:
        if m["Type"] == "volume":
            from ..rootfs import resolve_in_root          # tarfile and friends: only when needed
            copy_up(resolve_in_root(rootfs, m["Destination"]), m["Source"])


_ADJ = ("brave", "calm", "eager", "fond", "jolly", "keen", "lucid", "merry", "proud", "quiet",
        "sharp", "stoic", "tender", "vivid", "wise", "zen")
_NOUN = ("bsd", "daemon", "beastie", "jail", "pool", "snapshot", "clone", "anchor", "bridge",
         "epair", "devfs", "rctl", "dataset", "vnode", "kqueue", "mbuf")


def _generate_name(containers) -> str:
    used = {c.name for c in containers.values()}
    while True:
        name = f"{pick(_ADJ)}_{pick(_NOUN)}"
        if name not in used:
            return name
        name += f"{below(100)}"
        if name not in used:
            return name
