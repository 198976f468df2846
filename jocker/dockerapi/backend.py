"""Every engine call the API server makes, in one module, so that moving to
the engine facade (`jocker/engine_api/`, issue 8) touches this file only.

Each request gets its own Engine over the server's configuration and
runner: the engine lock is a per-object flock, so separate objects make it
safe across threads. Nothing here formats HTTP; it returns Docker-shaped
data and raises the errors of jocker/errors.py."""

from __future__ import annotations

import os
import threading

from ..errors import Conflict, JockerError, NotFound

_config = None
_runner = None


def configure(cfg, runner) -> None:
    global _config, _runner
    _config, _runner = cfg, runner


def engine():
    from ..engine import Engine
    return Engine(_config, _runner)


def api():
    """The engine facade (jocker/engine_api) over a fresh Engine."""
    from ..engine_api import JockerAPI
    return JockerAPI(engine())


# -- containers -----------------------------------------------------------------
def get_container(eng, ref: str):
    from ..containers.lifecycle import get
    return get(eng, ref)


def load_one(eng, cid: str):
    """One container by full ID with a single `zfs get` (for polling waits);
    None once it is gone. (The facade has no single-container read.)"""
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


def list_containers(*, all_: bool, filters: dict[str, list[str]], limit: int, size: bool) -> list[dict]:
    rows = api().containers.list(all=all_, filters=filters, limit=limit if limit and limit > 0 else -1)
    for r in rows:
        r.pop("CreatedAt", None)
        if not size:
            r.pop("SizeRw", None)
            r.pop("SizeRootFs", None)
    return rows


def inspect_container(ref: str, size: bool = False) -> dict:
    out = api().containers.inspect(ref)
    host = out.setdefault("HostConfig", {})
    host.setdefault("LogConfig", {"Type": "json-file", "Config": {}})     # docker-py reads it
    host.setdefault("PortBindings", {})
    cfg = out.setdefault("Config", {})
    for k, v in (("AttachStdin", False), ("AttachStdout", False), ("AttachStderr", False),
                 ("StdinOnce", False), ("Domainname", "")):
        cfg.setdefault(k, v)
    if not size:
        out.pop("SizeRw", None)
        out.pop("SizeRootFs", None)
    return out


def create_container(name: str | None, body: dict) -> tuple[str, list[str]]:
    """POST /containers/create: Docker's Config + HostConfig JSON to a container."""
    from ..engine_api import CreateRequest
    req = CreateRequest.from_api(body, name=name or None)
    try:
        return api().containers.create(req), []
    except NotFound as e:
        if "No such image" in str(e) or "Unable to find image" in str(e):
            raise NotFound(f"No such image: {_full_ref(req.image)}") from None
        raise


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
    """False when it was not running (Docker's 304)."""
    facade = api()
    if not facade.containers.get(ref).runtime:
        return False
    facade.containers.stop(ref, timeout, sig)
    return True


def restart_container(ref: str, timeout: int | None) -> None:
    facade = api()
    cid = facade.containers.get(ref).id
    facade.containers.stop(cid, timeout)
    start_container(cid)          # through this server, so it reaps the supervisor
    from ..containers.lifecycle import restarted
    restarted(facade.engine, facade.containers.get(cid))


def pause_container(ref: str, pause: bool) -> None:
    facade = api().containers
    (facade.pause if pause else facade.unpause)(ref)


def kill_container(ref: str, sig: str) -> None:
    api().containers.kill(ref, sig or "SIGKILL")


def remove_container(ref: str, *, force: bool, volumes: bool) -> None:
    api().containers.remove(ref, force=force, volumes=volumes)


def rename_container(ref: str, new: str) -> None:
    api().containers.rename(ref, new)


def update_container(ref: str, body) -> list[str]:
    from ..engine_api import UpdateRequest
    return api().containers.update(ref, UpdateRequest.from_api(body))


def top(ref: str, ps_args: str) -> dict:
    facade = api()
    c = facade.containers.get(ref)
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    return facade.containers.top(c.id)


def stats(ref: str, previous: dict | None = None) -> dict:
    """Docker's stats object; "raw" is the sample to pass back next time."""
    return api().containers.stats(ref, previous)


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


def prune_containers(filters: dict) -> dict:
    out = api().containers.prune(filters)
    out["ContainersDeleted"] = out["ContainersDeleted"] or None
    return out


def changes(ref: str) -> list[dict]:
    return api().containers.changes(ref)


def container_id(ref: str) -> str:
    return api().containers.get(ref).id


def export_container(cid: str, out) -> None:
    api().containers.export(cid, out)


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


def attach_event(cid: str) -> None:
    """An attach to a container already running (one started by an attached
    start reports its attach itself, in containers.lifecycle)."""
    from ..events.produce import container
    eng = engine()
    try:
        container(eng, get_container(eng, cid), "attach")
    except JockerError:
        pass


def exec_event(cid: str, action: str, exec_id: str, argv: list[str] | None = None, **extra) -> None:
    """The server keeps the API's exec instances (create, then start): their
    exec_create / exec_start / exec_die events go through the engine's producer."""
    from ..events.produce import exec_event as produce
    eng = engine()
    try:
        c = get_container(eng, cid)
    except JockerError:
        return
    produce(eng, c, action, exec_id, argv, **extra)


# -- images -------------------------------------------------------------------
def _image_ref(call, ref: str):
    try:
        return call()
    except NotFound as e:
        if "No such image" in str(e):
            raise
        raise NotFound(f"No such image: {ref}") from None


def list_images(*, all_: bool, filters: dict[str, list[str]]) -> list[dict]:
    return api().images.list(all=all_, filters=filters)


ZERO_TIME = "0001-01-01T00:00:00Z"      # Go clients cannot parse "" as a time


def inspect_image(ref: str) -> dict:
    out = _image_ref(lambda: api().images.inspect(ref), ref)
    meta = out.setdefault("Metadata", {})
    meta["LastTagTime"] = meta.get("LastTagTime") or ZERO_TIME
    out["Created"] = out.get("Created") or ZERO_TIME
    gd = out.get("GraphDriver") or {}
    # Docker's GraphDriver.Data is a map of strings (overlay2 joins its layer dirs with ':').
    gd["Data"] = {k: ":".join(v) if isinstance(v, list) else str(v) for k, v in (gd.get("Data") or {}).items()}
    return out


def image_history(ref: str) -> list[dict]:
    return _image_ref(lambda: api().images.history(ref), ref)


def familiar(repo: str) -> str:
    """docker.io/library/x -> x and docker.io/u/x -> u/x: the docker CLI sends
    full names, jocker keeps Docker Hub names short (as `docker images` shows)."""
    rest = repo.removeprefix("docker.io/")
    if rest != repo and rest.startswith("library/") and "/" not in rest[len("library/"):]:
        return rest[len("library/"):]
    return rest


def tag_image(ref: str, repo: str, tag: str) -> None:
    repo = familiar(repo)
    target = f"{repo}:{tag}" if tag else repo
    _image_ref(lambda: api().images.tag(ref, target), ref)


def remove_image(ref: str, *, force: bool, noprune: bool) -> list[dict]:
    facade = api()
    _image_ref(lambda: facade.images.inspect(ref), ref)
    return facade.images.remove(ref, force=force, prune_parents=not noprune)


def prune_images(*, all_unused: bool, filters: dict) -> dict:
    out = api().images.prune(all=all_unused, filters=filters)
    out["ImagesDeleted"] = out["ImagesDeleted"] or None
    return out


def build_image(opts, out, err):
    return api().images.build(opts, stdout=out, stderr=err)


def images_facade():
    """pull/push/save/load with progress callbacks (jocker/distribution)."""
    return api().images


# -- volumes --------------------------------------------------------------------
def list_volumes(filters: dict[str, list[str]]) -> list[dict]:
    return [_volume(v) for v in api().volumes.list(filters=filters)]


def _volume(v: dict) -> dict:
    out = {k: val for k, val in v.items() if k not in ("Size", "Anonymous", "UsedBy", "Dataset")}
    out.setdefault("Options", {})
    out["Labels"] = out.get("Labels") or {}
    return out


def create_volume(name: str | None, labels: dict) -> dict:
    facade = api()
    return _volume(facade.volumes.inspect(facade.volumes.create(name or None, labels)))


def inspect_volume(name: str) -> dict:
    return _volume(api().volumes.inspect(name))


def remove_volume(name: str, force: bool) -> None:
    api().volumes.remove(name)


def prune_volumes(filters: dict, all_: bool) -> dict:
    out = api().volumes.prune(all=all_, filters=filters)
    out["VolumesDeleted"] = out["VolumesDeleted"] or None
    return out


# -- networks -------------------------------------------------------------------
def networks():
    return api().networks


# -- system ---------------------------------------------------------------------
def events(*, since: str | None, until: str | None, filters: dict, should_stop):
    return api().system.events(since=since, until=until, filters=filters, should_stop=should_stop)


def info() -> dict:
    return api().system.info()


def info_layers_size() -> int:
    return sum(layer.own for layer in engine().load_state().layers.values())
