"""Every engine call the API server makes, in one module, so that moving to
the engine facade (`jocker/engine_api/`, issue 8) touches this file only.

Each request gets its own Engine over the server's configuration and
runner: the engine lock is a per-object flock, so separate objects make it
safe across threads. Nothing here formats HTTP; it returns Docker-shaped
data and raises the errors of jocker/errors.py."""

from __future__ import annotations

import os
import threading

from ..errors import Conflict, JockerError, NotFound, UsageError
from ..images.imageconfig import parse_time

_config = None
_runner = None


def configure(cfg, runner) -> None:
    global _config, _runner
    _config, _runner = cfg, runner


def engine():
    from ..engine import Engine
    return Engine(_config, _runner)


# -- containers -----------------------------------------------------------------
def _containers(eng, st=None):
    from ..containers.model import load_containers
    return load_containers(eng.layout, (st or eng.load_state()).datasets)


def get_container(eng, ref: str):
    from ..containers.lifecycle import get
    return get(eng, ref)


def load_one(eng, cid: str):
    """One container by full ID with a single `zfs get` (for polling waits);
    None once it is gone."""
    from ..containers.model import Container, read_runtime
    from ..storage import props as P
    try:
        ds = eng.zfs.get(eng.layout.container(cid))
    except JockerError:
        return None
    spec = P.decode_json(ds, "container.config")
    if not isinstance(spec, dict):
        return None
    return Container(id=cid, name=ds.get("jocker:container.name", ""), dataset=ds.name, spec=spec,
                     state=P.decode_json(ds, "container.state", {}) or {},
                     runtime=read_runtime(eng.layout, cid))


PS_FILTER_KEYS = ("id", "name", "label", "status", "ancestor", "exited", "volume", "before", "since")


def list_containers(*, all_: bool, filters: dict[str, list[str]], limit: int, size: bool) -> list[dict]:
    from ..containers.lifecycle import reconcile_orphans
    from ..containers.views import ps_rows
    eng = engine()
    st = eng.load_state()
    containers = _containers(eng, st)
    if reconcile_orphans(eng, containers):
        st = eng.load_state()
        containers = _containers(eng, st)
    flt = []
    for key, values in filters.items():
        if key not in PS_FILTER_KEYS:
            raise UsageError(f"invalid filter '{key}'")
        if key in ("before", "since"):
            continue
        flt += [(key, v) for v in values]
    rows = ps_rows(eng, st, all_=all_ or bool(filters.get("before") or filters.get("since")),
                   filters=flt)
    rows = _before_since(containers, rows, filters)
    if limit and limit > 0:
        rows = rows[:limit]
    return [container_summary(containers[r["FullID"]], st, size) for r in rows]


def _before_since(containers, rows, filters):
    from ..containers.model import resolve
    for key in ("before", "since"):
        for ref in filters.get(key, []):
            pivot = parse_time(resolve(containers, ref).spec.get("Created", ""))
            rows = [r for r in rows if (parse_time(r["CreatedAt"]) < pivot) == (key == "before")
                    and r["FullID"] != resolve(containers, ref).id]
    return rows


def container_summary(c, st, size: bool = False) -> dict:
    from ..containers.views import command_text, status_text
    img = st.images.get(c.image_id[7:])
    out = {
        "Id": c.id, "Names": ["/" + c.name],
        "Image": c.config.get("Image") or (img.short if img else c.image_id),
        "ImageID": c.image_id, "Command": command_text(c),
        "Created": int(parse_time(c.spec.get("Created", ""))), "Ports": [],
        "Labels": dict(c.labels), "State": c.status, "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host.get("NetworkMode", "host")},
        "NetworkSettings": {"Networks": {c.host.get("NetworkMode", "host"): _endpoint()}},
        "Mounts": [_mount_point(m) for m in c.spec.get("Mounts", [])],
    }
    if size:
        out["SizeRw"], out["SizeRootFs"] = c.rw_size, c.size
    return out


def _endpoint() -> dict:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "", "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None}


def _mount_point(m: dict) -> dict:
    out = {"Type": m.get("Type", "volume"), "Source": m.get("Source", ""),
           "Destination": m.get("Destination", ""), "Mode": m.get("Mode", ""),
           "RW": bool(m.get("RW", True)), "Propagation": m.get("Propagation", "")}
    if m.get("Type") == "volume":
        out.update(Name=m.get("Name", ""), Driver=m.get("Driver", "zfs"))
    return out


def inspect_container(ref: str, size: bool = False) -> dict:
    from ..containers.views import inspect_container as view
    eng = engine()
    st = eng.load_state()
    from ..containers.model import resolve
    c = resolve(_containers(eng, st), ref)
    out = view(eng, st, c)
    out["Mounts"] = [_mount_point(m) for m in c.spec.get("Mounts", [])]
    out["NetworkSettings"] = {"Bridge": "", "SandboxID": "", "Ports": {}, "SandboxKey": "",
                              "Networks": {c.host.get("NetworkMode", "host"): _endpoint()}}
    host = dict(out["HostConfig"])
    host.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    host.setdefault("PortBindings", {})
    out["HostConfig"] = host
    cfg = dict(out["Config"])
    for k, v in (("AttachStdin", False), ("AttachStdout", False), ("AttachStderr", False),
                 ("StdinOnce", False), ("Domainname", "")):
        cfg.setdefault(k, v)
    out["Config"] = cfg
    if not size:
        out.pop("SizeRw", None)
        out.pop("SizeRootFs", None)
    return out


def create_container(name: str | None, body: dict) -> tuple[str, list[str]]:
    """POST /containers/create: Docker's Config + HostConfig JSON to a container."""
    from ..containers.create import create_container as create
    from .translate import run_options
    eng = engine()
    opts, warnings = run_options(name, body)
    try:
        c = create(eng, opts)
    except NotFound as e:
        if "Unable to find image" in str(e):
            raise NotFound(f"No such image: {_full_ref(opts.image)}") from None
        raise
    return c.id, warnings


def _full_ref(ref: str) -> str:
    from ..images.state import default_tag
    return default_tag(ref) if "@" not in ref else ref


# The server reaps the supervisors it starts (a zombie would look alive to
# kill(pid, 0)), and remembers exit codes its attach streams saw.
_starts: dict[str, int] = {}
_exit_codes: dict[str, int] = {}
_guard = threading.Lock()


def _reap(proc) -> None:
    threading.Thread(target=proc.wait, daemon=True, name="reaper").start()


def start_container(ref: str, *, attach: bool = False):
    """Start; None when it was already running. With attach, the supervisor
    waits for us and the returned socket carries the container's frames."""
    from ..containers import lifecycle
    eng = engine()
    c = get_container(eng, ref)
    if c.running:
        return None
    started = lifecycle.start(eng, c, attach=attach)
    if started is None:
        return None
    with _guard:
        _starts[c.id] = _starts.get(c.id, 0) + 1
    _reap(started.supervisor)
    return started.conn if attach else True


def start_count(cid: str) -> int:
    with _guard:
        return _starts.get(cid, 0)


def note_exit(cid: str, code: int) -> None:
    with _guard:
        _exit_codes[cid] = code


def stop_container(ref: str, timeout: int | None, sig: str | None) -> bool:
    from ..containers import lifecycle
    eng = engine()
    c = get_container(eng, ref)
    if not c.runtime:
        return False
    lifecycle.stop(eng, c, timeout, sig=sig)
    return True


def restart_container(ref: str, timeout: int | None) -> None:
    from ..containers import lifecycle
    eng = engine()
    c = get_container(eng, ref)
    lifecycle.stop(eng, c, timeout)
    start_container(c.id)


def kill_container(ref: str, sig: str) -> None:
    from ..containers import lifecycle
    eng = engine()
    lifecycle.kill(eng, get_container(eng, ref), sig or "SIGKILL")


def remove_container(ref: str, *, force: bool, volumes: bool) -> None:
    from ..containers import lifecycle
    eng = engine()
    lifecycle.remove(eng, get_container(eng, ref), force=force, volumes=volumes)


def rename_container(ref: str, new: str) -> None:
    from ..containers import lifecycle
    eng = engine()
    lifecycle.rename(eng, get_container(eng, ref), new)


def top(ref: str, ps_args: str) -> dict:
    from ..containers.inside import top as top_
    eng = engine()
    c = get_container(eng, ref)
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    titles, rows = top_(eng, c)
    return {"Titles": titles, "Processes": rows}


def container_is_tty(ref: str) -> tuple[str, bool, bool]:
    """(full id, Tty, running)."""
    eng = engine()
    c = get_container(eng, ref)
    return c.id, bool(c.config.get("Tty")), c.running


def attach_socket_path(cid: str) -> str:
    return os.path.join(engine().layout.container_rundir(cid), "attach.sock")


def is_running(cid: str) -> bool:
    from ..containers.model import read_runtime
    rt = read_runtime(engine().layout, cid)
    return bool(rt) and rt.get("status") in ("running", "restarting")


def has_runtime(cid: str) -> bool:
    from ..containers.model import read_runtime
    return bool(read_runtime(engine().layout, cid))


def exists(cid: str) -> bool:
    return os.path.isdir(engine().layout.container_dir(cid))


def exit_code(cid: str) -> int | None:
    """The last recorded exit code; the one an attach stream saw if the
    container is gone (--rm)."""
    c = load_one(engine(), cid)
    if c is not None:
        return c.exit_code
    with _guard:
        return _exit_codes.get(cid)


def finished_at(cid: str) -> str:
    c = load_one(engine(), cid)
    return c.state.get("FinishedAt", "") if c is not None else ""


def log_source(ref: str):
    """(log path, Tty, alive callable) for GET /logs."""
    from ..containers import lifecycle
    from ..containers.model import read_runtime
    eng = engine()
    c = get_container(eng, ref)
    return lifecycle.log_path(eng, c), bool(c.config.get("Tty")), \
        (lambda: bool(read_runtime(eng.layout, c.id)))


def prune_containers(label_filters) -> tuple[list[str], int]:
    from ..containers.prune import prune_containers as prune
    return prune(engine(), label_filters)


def changes(ref: str) -> list[dict]:
    from ..containers.inside import diff
    eng = engine()
    c = get_container(eng, ref)
    kinds = {"C": 0, "A": 1, "D": 2}
    return [{"Path": ch.path, "Kind": kinds.get(ch.kind, 0)} for ch in diff(eng, c)]


def container_root(ref: str) -> tuple[str, str]:
    eng = engine()
    c = get_container(eng, ref)
    return c.id, eng.layout.container_rootfs(c.id)


def copy_into(ref: str, src: str, cpath: str) -> None:
    from ..containers.inside import _copy_in
    _, root = container_root(ref)
    _copy_in(root, src, cpath)


def exec_command(ref: str, argv: list[str], *, user: str, workdir: str, env: list[str], tty: bool):
    """(container id, host argv, env) that runs argv inside the running container."""
    from ..containers.lifecycle import runtime_spec
    eng = engine()
    c = get_container(eng, ref)
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    spec = runtime_spec(eng, c)
    cmd = eng.runtime.exec_command(spec, list(argv), user=user, workdir=workdir, env=list(env),
                                   tty=tty, main_pid=c.runtime.get("main_pid"))
    return c.id, cmd.argv, cmd.env or None, eng.runner


# -- images -------------------------------------------------------------------
def list_images(*, all_: bool, filters: dict[str, list[str]]) -> list[dict]:
    from ..images.views import image_matches
    st = engine().load_state()
    allowed = ("dangling", "label", "reference", "before", "since")
    flt = []
    for key, values in filters.items():
        if key not in allowed:
            raise UsageError(f"invalid filter '{key}'")
        flt += [(key, v) for v in values]
    out = []
    for img in sorted(st.images.values(), key=lambda i: (-i.created, i.hex)):
        tags = st.live_tags(img)
        if not tags and not all_ and st.children_of(img):
            continue
        if not any(image_matches(st, img, flt, t) for t in (tags or [None])):
            continue
        out.append({"Id": img.id, "ParentId": img.parent or "", "RepoTags": tags,
                    "RepoDigests": [], "Created": int(img.created), "Size": img.size,
                    "SharedSize": -1, "VirtualSize": img.size, "Labels": dict(img.labels),
                    "Containers": len(img.containers)})
    return out


def inspect_image(ref: str) -> dict:
    from ..images.views import inspect_image as view
    st = engine().load_state()
    try:
        img = st.resolve(ref)
    except NotFound:
        raise NotFound(f"No such image: {ref}") from None
    out = view(st, img)
    out["VirtualSize"] = out["Size"]
    out.setdefault("ContainerConfig", {})
    return out


def image_history(ref: str) -> list[dict]:
    st = engine().load_state()
    try:
        img = st.resolve(ref)
    except NotFound:
        raise NotFound(f"No such image: {ref}") from None
    from ..images.views import history_rows
    out = []
    for r in history_rows(st, img):
        out.append({"Id": "sha256:" + r["ID"] if r["ID"] != "<missing>" else "<missing>",
                    "Created": int(parse_time(r["CreatedAt"])), "CreatedBy": r["CreatedBy"],
                    "Tags": None, "Size": int(r["SizeBytes"]), "Comment": r["Comment"]})
    if out:
        out[0]["Id"] = img.id
        out[0]["Tags"] = st.live_tags(img) or None
    return out


def tag_image(ref: str, repo: str, tag: str) -> None:
    from ..images.state import default_tag
    target = default_tag(f"{repo}:{tag}" if tag else repo)     # validate before reading anything
    eng = engine()
    try:
        img = eng.load_state().resolve(ref)
    except NotFound:
        raise NotFound(f"No such image: {ref}") from None
    eng.store.tag(img, [target])


def remove_image(ref: str, *, force: bool, noprune: bool) -> list[dict]:
    from ..images.remove import remove_image as rmi
    eng = engine()
    try:
        eng.load_state().resolve(ref)
    except NotFound:
        raise NotFound(f"No such image: {ref}") from None
    from ..containers.status import running_ids
    lines = rmi(eng.store, ref, force=force, running=running_ids(eng), prune_parents=not noprune)
    out = []
    for line in lines:
        what, _, name = line.partition(": ")
        out.append({"Untagged" if what == "Untagged" else "Deleted": name})
    return out


def prune_images(*, all_unused: bool, label_filters) -> dict:
    from ..images.remove import prune_images as prune
    eng = engine()
    removed, space = prune(eng.store, all_unused=all_unused, label_filters=label_filters)
    return {"ImagesDeleted": [{"Deleted": r} for r in removed] or None, "SpaceReclaimed": space}


def build_image(opts, out, err):
    from ..build.builder import build
    return build(engine(), opts, stdout=out, stderr=err)


# -- volumes --------------------------------------------------------------------
def _volume_view(eng, name: str, info: dict) -> dict:
    return {"Name": name, "Driver": "zfs", "Mountpoint": eng.layout.volume_path(name),
            "CreatedAt": info.get("CreatedAt", ""), "Labels": info.get("Labels") or {},
            "Scope": "local", "Options": {}}


def list_volumes(filters: dict[str, list[str]]) -> list[dict]:
    from ..containers.volumes import list_volumes as lv
    eng = engine()
    st = eng.load_state()
    vols = lv(eng, st.datasets)
    out = []
    for name, info in sorted(vols.items()):
        v = _volume_view(eng, name, info)
        if not _volume_matches(eng, st, name, v, filters):
            continue
        out.append(v)
    return out


def _volume_matches(eng, st, name, v, filters) -> bool:
    for key, values in filters.items():
        if key == "name":
            if not any(x in name for x in values):
                return False
        elif key == "label":
            for x in values:
                k, sep, val = x.partition("=")
                if k not in v["Labels"] or (sep and v["Labels"][k] != val):
                    return False
        elif key == "dangling":
            from ..containers.volumes import users_of
            used = bool(users_of(_containers(eng, st), name))
            if any(x in ("true", "1") for x in values) == used:
                return False
        elif key != "driver":
            raise UsageError(f"invalid filter '{key}'")
    return True


def create_volume(name: str | None, labels: dict) -> dict:
    from ..containers.volumes import create_volume as cv, list_volumes as lv
    eng = engine()
    vname = cv(eng, name or None, labels)
    info = lv(eng, eng.load_state().datasets).get(vname, {})
    return _volume_view(eng, vname, info)


def inspect_volume(name: str) -> dict:
    from ..containers.volumes import list_volumes as lv
    eng = engine()
    vols = lv(eng, eng.load_state().datasets)
    if name not in vols:
        raise NotFound(f"get {name}: no such volume")
    return _volume_view(eng, name, vols[name])


def remove_volume(name: str, force: bool) -> None:
    from ..containers.volumes import remove_volume as rv
    rv(engine(), name, force=force)


def prune_volumes(label_filters, anonymous_only: bool) -> tuple[list[str], int]:
    from ..containers.volumes import prune_volumes as pv
    return pv(engine(), label_filters, anonymous_only=anonymous_only)


# -- system ---------------------------------------------------------------------
def info() -> dict:
    from ..system_info import engine_info
    eng = engine()
    return engine_info(eng, eng.load_state())


def info_layers_size() -> int:
    return sum(layer.own for layer in engine().load_state().layers.values())
