"""`jocker create` (and the first half of `run`): from an image and the run
flags to a container: a ZFS clone of the image snapshot, created in one
`zfs clone -o ...` together with its name and configuration, under the lock
so that two `run --name X` racing cannot both win."""

from __future__ import annotations

import os
import signal as signal_mod
from dataclasses import dataclass, field

from ..ids import below, new_id, pick
from ..errors import Conflict, JockerError, NotFound, UsageError
from ..images.imageconfig import DEFAULT_PATH, now_rfc3339
from ..names import check_object_name
from ..runtime.security import plan_security
from ..storage import props as P
from .model import Container, load_containers
from .volumes import check_volume_target, copy_up, create_volume

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
_SIZE = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass
class RunOptions:
    image: str
    command: list[str] = field(default_factory=list)
    name: str | None = None
    env: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    volumes: list[str] = field(default_factory=list)
    entrypoint: str | None = None
    restart: str = "no"
    memory: str | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    tty: bool = False
    interactive: bool = False
    autoremove: bool = False
    labels: list[str] = field(default_factory=list)
    network: str = "host"
    publish: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    jail_params: list[str] = field(default_factory=list)
    stop_signal: str | None = None
    stop_timeout: int | None = None
    depends_on: list[str] = field(default_factory=list)
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    securelevel: int | None = None


def parse_restart(value: str) -> dict:
    name, _, count = value.partition(":")
    if name not in RESTART_POLICIES or (count and name != "on-failure"):
        raise UsageError(f"invalid restart policy {value!r}",
                         hint="use no, on-failure[:max-retries], always or unless-stopped")
    if count and not count.isdigit():
        raise UsageError(f"invalid restart policy {value!r}: max-retries must be a number")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def parse_memory(value: str | None) -> int:
    if not value:
        return 0
    v = value.strip().lower()
    unit = v[-1] if v[-1] in _SIZE else "b"
    num = v[:-1] if v[-1] in _SIZE else v
    try:
        n = int(float(num) * _SIZE[unit])
    except ValueError:
        raise UsageError(f"invalid --memory {value!r}: use a size like 512m or 2g") from None
    if n < 6 << 20:
        raise UsageError(f"invalid --memory {value!r}: the minimum is 6m")
    return n


def parse_env(items: list[str], files: list[str]) -> list[str]:
    out: list[str] = []
    for path in files:
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except OSError as e:
            raise UsageError(f"--env-file {path}: {e.strerror}") from None
        items = [l.strip() for l in lines if l.strip() and not l.lstrip().startswith("#")] + list(items)
    for item in items:
        key, sep, value = item.partition("=")
        if not key or any(c in key for c in " \t\n\0"):
            raise UsageError(f"invalid environment variable {item!r}")
        if not sep:                 # `-e NAME` passes the caller's value, if any
            if key in os.environ:
                out.append(f"{key}={os.environ[key]}")
            continue
        out.append(f"{key}={value}")
    return out


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    env = dict(e.split("=", 1) for e in base if "=" in e)
    for e in extra:
        k, _, v = e.partition("=")
        env[k] = v
    return [f"{k}={v}" for k, v in env.items()]


def parse_labels(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid label {item!r}")
        out[k] = v
    return out


def check_signal(name: str) -> str:
    n = name.upper()
    if not n.startswith("SIG") and not n.isdigit():
        n = "SIG" + n
    if n.isdigit() or hasattr(signal_mod, n):
        return n
    raise UsageError(f"invalid signal {name!r}")


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


def build_spec(engine, opts: RunOptions, image) -> dict:
    """Everything the container is, Docker's field names where they exist."""
    icfg = image.config.get("config") or {}
    if opts.publish:
        raise UsageError("port publishing (-p) is not available yet: it comes with the "
                         "networking capability", hint="use --network host and bind the port directly")
    if opts.network not in ("host", "none", "default", "bridge"):
        raise UsageError(f"network {opts.network!r} is not available yet",
                         hint="use --network host or --network none")
    entrypoint = icfg.get("Entrypoint") or []
    if opts.entrypoint is not None:
        entrypoint = [opts.entrypoint] if opts.entrypoint else []
    cmd = list(opts.command) if opts.command else (icfg.get("Cmd") or [] if opts.entrypoint is None else [])
    if not entrypoint and not cmd:
        raise UsageError("no command specified: the image has no CMD or ENTRYPOINT",
                         hint="give a command after the image name")
    env = merge_env(icfg.get("Env") or [], parse_env(opts.env, opts.env_files))
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    cid = new_id()
    hostname = opts.hostname or cid[:12]
    if any(c in hostname for c in " \t\n/"):
        raise UsageError(f"invalid hostname {hostname!r}")
    labels = dict(icfg.get("Labels") or {})
    labels.update(parse_labels(opts.labels))
    workdir = opts.workdir or icfg.get("WorkingDir") or "/"
    if not workdir.startswith("/"):
        raise UsageError(f"invalid working directory {workdir!r}: it must be absolute")
    return {
        "Id": cid,
        "Created": now_rfc3339(),
        "Path": (entrypoint + cmd)[0],
        "Args": (entrypoint + cmd)[1:],
        "Image": image.id,
        "Config": {
            "Hostname": hostname, "User": opts.user if opts.user is not None else icfg.get("User", ""),
            "Tty": opts.tty, "OpenStdin": opts.interactive, "Env": env, "Cmd": cmd,
            "Entrypoint": entrypoint or None, "Image": opts.image, "WorkingDir": workdir,
            "Labels": labels, "Volumes": icfg.get("Volumes") or None,
            "StopSignal": check_signal(opts.stop_signal or icfg.get("StopSignal") or "SIGTERM"),
            "StopTimeout": opts.stop_timeout, "ExposedPorts": icfg.get("ExposedPorts"),
        },
        "HostConfig": {
            "Binds": list(opts.volumes), "RestartPolicy": parse_restart(opts.restart),
            "AutoRemove": opts.autoremove, "Memory": parse_memory(opts.memory),
            "NanoCpus": int((opts.cpus or 0) * 1e9), "PidsLimit": opts.pids_limit or 0,
            "NetworkMode": "none" if opts.network == "none" else "host",
            "Devices": list(opts.devices), "JailAllow": list(opts.allow),
            "JailParams": list(opts.jail_params), "JailSecurelevel": opts.securelevel,
            "DependsOn": list(opts.depends_on),
            "ReadonlyRootfs": opts.read_only,
            "CapAdd": list(opts.cap_add), "CapDrop": list(opts.cap_drop),
            "Privileged": opts.privileged, "SecurityOpt": list(opts.security_opt),
        },
        "Mounts": [],
    }


def _validate_limits(opts: RunOptions) -> None:
    if opts.securelevel is not None and not -1 <= opts.securelevel <= 3:
        raise UsageError(f"invalid --securelevel {opts.securelevel}: use -1, 0, 1, 2 or 3")
    if opts.cpus is not None and opts.cpus <= 0:
        raise UsageError(f"invalid --cpus {opts.cpus}: it must be greater than 0")
    if opts.restart != "no" and opts.autoremove:
        raise UsageError("conflicting options: --restart and --rm")
    for dep in opts.depends_on:
        check_object_name(dep)
    plan_security(privileged=opts.privileged, cap_add=opts.cap_add, cap_drop=opts.cap_drop,
                  security_opt=opts.security_opt)      # refuses unknown capabilities and options


def create_container(engine, opts: RunOptions) -> Container:
    if opts.name is not None:
        check_object_name(opts.name)
    _validate_limits(opts)
    if (opts.cap_add or opts.cap_drop or opts.privileged) and engine.config.runtime_name() == "jail":
        raise UsageError("--cap-add, --cap-drop and --privileged are Linux capabilities; "
                         "a jail's root has none", hint="use --allow PERMISSION (jail allow.*)")
    if (opts.memory or opts.cpus or opts.pids_limit) and engine.config.runtime_name() != "jail":
        import logging
        logging.getLogger("jocker").warning(
            "resource limits are rctl rules on FreeBSD jails; the Linux development runtime "
            "records them but does not enforce them")
    with engine.lock.held():        # one read of the store, under the lock
        st = engine.load_state()
        try:
            image = st.resolve(opts.image)
        except NotFound:
            raise NotFound(f"Unable to find image '{opts.image}' locally",
                           hint="import or build it first (pull comes with the registry capability)")
        spec = build_spec(engine, opts, image)
        cid = spec["Id"]
        containers = load_containers(engine.layout, st.datasets)
        name = opts.name or _generate_name(containers)
        clash = next((c for c in containers.values() if c.name == name), None)
        if clash:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                           f'"{clash.id}". You have to remove (or rename) that container to be able '
                           "to reuse that name.")
        spec["Mounts"] = _prepare_mounts(engine, opts, image, spec)
        props = {"mountpoint": engine.layout.container_rootfs(cid), "jocker:container.name": name}
        props.update(P.encode_json("container.config", spec))
        os.makedirs(engine.layout.container_dir(cid), exist_ok=True)
        try:
            engine.zfs.clone(image.snapshot, engine.layout.container(cid), props)
        except JockerError:
            os.rmdir(engine.layout.container_dir(cid))
            raise
    c = Container(id=cid, name=name, dataset=engine.layout.container(cid), spec=spec, state={})
    _copy_up_volumes(engine, c, image)
    return c


def _prepare_mounts(engine, opts: RunOptions, image, spec: dict) -> list[dict]:
    mounts: list[dict] = []
    targets: set[str] = set()
    for item in opts.volumes:
        source, target, ro = _parse_volume(item)
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
            mounts.append({"Type": "volume", "Name": vname, "Source": engine.layout.volume_path(vname),
                           "Destination": target, "Driver": "zfs", "RW": not ro, "Mode": "",
                           "New": True})
    for target in (image.config.get("config") or {}).get("Volumes") or {}:
        target = check_volume_target(target)
        if target in targets:
            continue
        vname = create_volume(engine, None, anonymous=True)
        mounts.append({"Type": "volume", "Name": vname, "Source": engine.layout.volume_path(vname),
                       "Destination": target, "Driver": "zfs", "RW": True, "Mode": "", "New": True})
    return mounts


def _copy_up_volumes(engine, c: Container, image) -> None:
    rootfs = engine.layout.container_rootfs(c.id)
    for m in c.spec["Mounts"]:
        if m["Type"] == "volume":
            src = os.path.join(rootfs, m["Destination"].lstrip("/"))
            if os.path.realpath(src).startswith(os.path.realpath(rootfs) + "/"):
                copy_up(src, m["Source"])


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
