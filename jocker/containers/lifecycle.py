"""Container lifecycle: start (through a supervisor), stop, kill, restart,
rm, wait, rename. The supervisor owns the running container; these functions
talk to it with signals and a small job file, and never block on it longer
than the user asked for. How a supervisor process is made (forked, exec'd,
asked for ahead) is launch.py's."""

from __future__ import annotations

import os
import signal
import time

from .. import rundir as RD
from ..events import produce as events
from ..errors import Conflict, JockerError, NotFound, start_failure
from ..lock import EngineLock
from ..runtime.spec import ContainerSpec, JailOptions, Limits, Mount
from ..runtime.security import plan_from_host_config
from ..storage import props as P
from . import etcfiles, health, readonly
from ..net import networks as netops
from .job import ALREADY_RUNNING, Job
# prespawn_supervisor is the engine API's door to launch (tests replace it here)
from .launch import Prespawned, Started, prespawn_supervisor, supervise, supervisor_error  # noqa: F401
from .model import PAUSED, Container, load_containers, read_runtime
from .remove import check_removable, destroy_storage, storage_job



def runtime_spec(engine, c: Container) -> ContainerSpec:
    cfg, host = c.config, c.host
    params = {}
    for item in host.get("JailParams") or []:
        k, _, v = item.partition("=")
        params[k] = v
    return ContainerSpec(
        id=c.id, name=c.name, rootfs=engine.layout.container_rootfs(c.id),
        rundir=engine.layout.container_rundir(c.id), argv=[c.spec["Path"], *c.spec.get("Args", [])],
        hostname=cfg.get("Hostname", c.short), env=list(cfg.get("Env") or []),
        user=cfg.get("User") or "", group_add=list(host.get("GroupAdd") or []),
        workdir=cfg.get("WorkingDir") or "/", tty=bool(cfg.get("Tty")),
        stdin_open=bool(cfg.get("OpenStdin")),
        mounts=[Mount(m["Source"], m["Destination"], not m.get("RW", True),
                      "bind" if m["Type"] == "bind" else "volume") for m in c.spec.get("Mounts", [])]
        + [Mount("tmpfs", path, False, "tmpfs", opts) for path, opts in (host.get("Tmpfs") or {}).items()],
        limits=Limits(memory=host.get("Memory") or None, cpus=_cpus(host), pids=host.get("PidsLimit") or None),
        network=_runtime_network(host.get("NetworkMode", "host")),
        net=netops.attachment_for(engine, c),
        jail=JailOptions(devices=list(host.get("Devices") or []), allow=list(host.get("JailAllow") or []),
                         params=params, securelevel=host.get("JailSecurelevel")),
        security=plan_from_host_config(host),
        stop_signal=cfg.get("StopSignal") or "SIGTERM",
        stop_timeout=int(cfg.get("StopTimeout") if cfg.get("StopTimeout") is not None
                         else engine.config.int("stop_timeout")))


def _cpus(host: dict) -> float | None:
    """--cpus, or Docker's CFS pair (--cpu-quota over --cpu-period, whose
    default is 100 ms), as a number of CPUs."""
    if host.get("NanoCpus"):
        return host["NanoCpus"] / 1e9
    if (host.get("CpuQuota") or 0) > 0:
        return host["CpuQuota"] / (host.get("CpuPeriod") or 100000)
    return None


def _runtime_network(mode: str) -> str:
    return mode if mode in ("host", "none") else "bridge"


def get(engine, ref: str) -> Container:
    from .model import resolve
    return resolve(load_containers(engine.layout, engine.load_state().datasets), ref)


def start(engine, c: Container, *, attach: bool = False,
          prespawned: Prespawned | None = None) -> Started | None:
    """Start c under a new supervisor; None if it is already running. A
    supervisor started ahead is handed its job or cancelled, whatever fails
    (the spec, the start lock): a long-lived caller must not leave it waiting."""
    try:
        started = _start(engine, c, attach, prespawned)
    except BaseException:
        if prespawned:
            prespawned.cancel()         # a no-op once it has its job
        raise
    if started is None and prespawned:
        prespawned.cancel()
    return started


def _start(engine, c: Container, attach: bool, prespawned: Prespawned | None) -> Started | None:
    if c.running:
        return None
    spec = runtime_spec(engine, c)
    os.makedirs(spec.rundir, exist_ok=True)
    with EngineLock(RD.path(spec.rundir, RD.START_LOCK)).held():
        # Under this container's start lock: a racing start waits here, then
        # finds the supervisor the first one started and leaves it alone
        # (it must not "reconcile" a container that is starting).
        if read_runtime(engine.layout, c.id):
            return None
        return _start_locked(engine, c, spec, attach, prespawned)


def _start_locked(engine, c: Container, spec: ContainerSpec, attach: bool,
                  prespawned: Prespawned | None) -> Started | None:
    if c.supervisor_lost and still_lost(engine, c):
        record_lost_end(engine, c)
    if not c.spec.get("HostConfig", {}).get("AutoRemove"):
        cleanup(engine, spec)
    readonly.open_for_start(engine, c)
    if spec.network == "bridge":
        netops.ensure_bridges(engine, c)
    try:
        os.unlink(os.path.join(spec.rundir, PAUSED))      # left by a supervisor that was killed
    except FileNotFoundError:
        pass
    etcfiles.prepare(spec, engine.layout.container_dir(c.id), **netops.etc_files(engine, c))
    readonly.seal(engine, c, spec)
    os.makedirs(spec.rundir, exist_ok=True)
    if attach:                      # Docker's order: attach, (the supervisor's) mounts, networks, start
        events.container(engine, c, "attach")
    job_path = RD.path(spec.rundir, RD.JOB_JSON)
    _job(engine, c, spec, attach).save(job_path)
    if prespawned is not None and prespawned.hand_over(job_path):
        proc, ready = prespawned.proc, prespawned.ready
    else:
        proc, ready = supervise(engine, spec.rundir, job_path)
    conn = None
    first = ready.readline().split()
    if first[:1] == ["listening"] and attach:
        from .attach import connect
        conn = connect(RD.path(spec.rundir, RD.ATTACH_SOCK))
    words = ready.readline().split(maxsplit=2) if first[:1] == ["listening"] else \
        " ".join(first).split(maxsplit=2)
    if words[:1] == ["error"] and len(words) > 2 and words[2].strip() == ALREADY_RUNNING:
        proc.wait()
        return None          # another start won the race: it is running, as asked
    if words[:1] != ["started"]:
        code = int(words[1]) if len(words) > 1 and words[1].isdigit() else 125
        msg = words[2] if len(words) > 2 else supervisor_error(spec)
        if conn:
            conn.close()
        proc.wait()
        # As Docker: the networks and volumes are joined and left again; no start, no die.
        events.emit_all(engine, events.start_events(c) + events.stop_events(c))
        raise start_failure(code, f"failed to start container {c.short}: {msg}")
    if not attach:
        ready.close()
    return Started(int(words[1]), proc, conn)


def _job(engine, c: Container, spec: ContainerSpec, attach: bool) -> Job:
    from ..runtime.base import spec_to_dict
    spec_json = spec_to_dict(spec)
    if spec_json.get("net"):        # what the supervisor tears down is what it set up
        spec_json["net"] = dict(spec_json["net"], as_started=True)
    storage = storage_job(engine, c)
    return Job(id=c.id, name=c.name, rundir=spec.rundir, runtime=engine.config.runtime_name(),
               spec=spec_json, devfs_ruleset=engine.config.int("devfs_ruleset"),
               store_dirs=engine.layout.clone_mount_dirs(),
               restart=c.host.get("RestartPolicy") or {"Name": "no"},
               autoremove=bool(c.host.get("AutoRemove")), attach=attach, log_path=log_path(engine, c),
               stop_signal=spec.stop_signal, stop_timeout=spec.stop_timeout, state=c.state,
               storage=storage,
               healthcheck=health.schedule(c.config.get("Healthcheck"), c.config.get("Shell")),
               events=events.supervisor_events(engine, c, storage))


def log_path(engine, c: Container) -> str:
    return os.path.join(engine.layout.container_dir(c.id), f"{c.id}-json.log")


def cleanup(engine, spec: ContainerSpec) -> None:
    """The cleanup entry point for after a supervisor died (SIGKILL, power
    loss): what it would have torn down on its way out. The runtime's remains
    (a jail survives its supervisor on FreeBSD), then its run-dir files, unless
    a supervisor is alive there after all."""
    try:
        engine.runtime.destroy(spec)
    except JockerError:
        pass
    if not read_runtime(engine.layout, spec.id):
        RD.remove_running_files(spec.rundir)


def _wait_gone(engine, c: Container, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not read_runtime(engine.layout, c.id):
            return True
        time.sleep(0.02)
    return False


def stop(engine, c: Container, timeout: int | None = None, *, by_user: bool = True,
         sig: str | None = None, event: bool = True) -> None:
    """Stop signal, grace period, then SIGKILL of everything (by the supervisor).
    A stop by the system (shutdown) does not count as the user's for
    `unless-stopped`."""
    rt = read_runtime(engine.layout, c.id)
    if not rt:
        return
    if rt.get("status") == "paused":
        unpause(engine, c)          # so the stop signal is delivered, not queued
    from ..signals import check_signal
    from ..signals import signum as _signum
    spec = runtime_spec(engine, c) if timeout is None or not sig else None
    t = timeout if timeout is not None else spec.stop_timeout
    msg = {"op": "stop", "timeout": t, "signal": check_signal(sig) if sig else None,
           "by": "user" if by_user else "system"}
    # Docker reports the stop signal as a kill (SIGKILL when there is no grace).
    events.container(engine, c, "kill", signal=_signum(msg["signal"] or spec.stop_signal) if t
                     else int(signal.SIGKILL))
    if not tell(engine, c, rt, msg):
        return
    if not _wait_gone(engine, c, float(t) + 15):
        raise JockerError(f"container {c.short} did not stop within {t}s + 15s",
                          hint="its supervisor may be stuck; see supervisor.err in its run directory")
    if event:                       # `rm -f` reports kill, die and destroy only, as Docker
        events.container(engine, c, "stop")


def restarted(engine, c: Container) -> None:
    """`restart` is stop + start; Docker reports it after the start."""
    events.container(engine, c, "restart")


def pause(engine, c: Container) -> None:
    """Stop every process of the container (SIGSTOP), as Docker's freezer."""
    rt = read_runtime(engine.layout, c.id)
    if not rt or rt.get("status") not in ("running", "paused"):
        raise Conflict(f"Container {c.id} is not running")
    if rt.get("status") == "paused":
        raise Conflict(f"Container {c.id} is already paused")
    rundir = engine.layout.container_rundir(c.id)
    open(os.path.join(rundir, PAUSED), "w").close()
    engine.runtime.signal_all(runtime_spec(engine, c), signal.SIGSTOP, rt.get("main_pid"))
    events.container(engine, c, "pause")


def unpause(engine, c: Container) -> None:
    rt = read_runtime(engine.layout, c.id)
    if not rt or rt.get("status") != "paused":
        raise Conflict(f"Container {c.id} is not paused")
    engine.runtime.signal_all(runtime_spec(engine, c), signal.SIGCONT, rt.get("main_pid"))
    os.unlink(os.path.join(engine.layout.container_rundir(c.id), PAUSED))
    events.container(engine, c, "unpause")


def kill(engine, c: Container, sig: str = "SIGKILL") -> None:
    from ..signals import check_signal, signum as _signum
    rt = read_runtime(engine.layout, c.id)
    if not rt or rt.get("status") not in ("running", "paused"):
        raise Conflict(f"Cannot kill container: {c.name}: Container {c.id} is not running")
    signum = _signum(check_signal(sig))
    events.container(engine, c, "kill", signal=signum)
    if not tell(engine, c, rt, {"op": "kill", "signal": signum}):
        return
    if signum == signal.SIGKILL:          # the supervisor kills it all, no restart
        _wait_gone(engine, c, 15)


def resize(engine, c: Container, rows: int, cols: int) -> None:
    """The container's terminal size (-t)."""
    rt = read_runtime(engine.layout, c.id)
    if not rt:
        raise Conflict(f"Container {c.id} is not running")
    tell(engine, c, rt, {"op": "resize", "rows": int(rows), "cols": int(cols)})


def probe_health(engine, c: Container) -> dict | None:
    """Run c's healthcheck probe now (the `health` control message); its
    State.Health as the supervisor holds it, None without a healthcheck."""
    rt = read_runtime(engine.layout, c.id)
    if not rt or rt.get("status") not in ("running", "paused"):
        raise Conflict(f"Container {c.id} is not running")
    from . import control
    try:
        answer = control.send(engine.layout.container_rundir(c.id), {"op": "health", "probe": True})
    except control.NotListening:
        raise Conflict(f"Container {c.id} is not running") from None
    return (answer or {}).get("Health")


def tell(engine, c: Container, rt: dict, msg: dict) -> bool:
    """A control message to c's supervisor; False when it is already gone.
    A supervisor still starting (no socket yet) is stopped by SIGTERM, which
    it treats as a stop with the container's own signal and timeout."""
    from . import control
    try:
        control.send(engine.layout.container_rundir(c.id), msg)
        return True
    except control.NotListening:
        if not read_runtime(engine.layout, c.id):
            return False
        if not (msg["op"] == "stop" or (msg["op"] == "kill" and msg["signal"] == signal.SIGKILL)):
            raise JockerError(f"container {c.short} is not ready for {msg['op']} yet")
        try:
            os.kill(int(rt["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True


def remove(engine, c: Container, *, force: bool = False, volumes: bool = False) -> None:
    if c.runtime:            # running, restarting (in back-off) or starting
        if not force:
            raise Conflict(f"You cannot remove a {c.status} container {c.id}. Stop the container "
                           "before attempting removal or force remove")
        _check_removable(engine, c, volumes)    # before stopping it: rm -f must not stop, then refuse
        stop(engine, c, 0, event=False)   # the supervisor kills everything at once, no restart
    with engine.lock.held():
        job = _check_removable(engine, c, volumes)     # again under the lock; also "is it still there"
        if c.supervisor_lost and still_lost(engine, c):
            _report_lost_end(engine, c, c.exit_code)       # its supervisor never could
        cleanup(engine, runtime_spec(engine, c))
        destroy_storage(engine.runner, job, volumes=volumes, checked=True)
        netops.member_gone(engine, c)
    events.container(engine, c, "destroy")
    if volumes:
        events.emit_all(engine, events.volumes_destroyed(job["anon_volumes"]))


def _check_removable(engine, c: Container, volumes: bool) -> dict:
    """c's storage job, once nothing an admin made is in the way."""
    job = storage_job(engine, c)
    try:
        check_removable(engine.zfs, job, volumes=volumes)
    except NotFound:            # a racing rm won: one success, as in Docker
        raise NotFound(f"No such container: {c.name}") from None
    return job


def wait(engine, c: Container, poll: float = 0.05) -> int:
    while read_runtime(engine.layout, c.id):
        time.sleep(poll)
    try:
        return get(engine, c.id).exit_code
    except NotFound:
        return 0        # removed on exit (--rm)


def wait_healthy(engine, c: Container, timeout: float | None = None, poll: float = 0.1) -> dict:
    """Until c's healthcheck says healthy (compose's `service_healthy`):
    its State.Health then. Conflict when it has no healthcheck, JockerError
    when it turns unhealthy, stops running, or timeout seconds pass."""
    if health.schedule(c.config.get("Healthcheck")) is None:
        raise Conflict(f"container {c.name} has no healthcheck configured",
                       hint="create it with --health-cmd, or build its image with HEALTHCHECK")
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        rt = read_runtime(engine.layout, c.id)         # c may be a snapshot from before its start
        # Only a running container's health is its current one (starting and
        # restarting still show the last run's).
        h = health.read(engine.layout.container_rundir(c.id)) if rt.get("status") == "running" else None
        if h and h["Status"] == health.HEALTHY:
            return h
        if h and h["Status"] == health.UNHEALTHY:
            raise JockerError(f"container {c.name} is unhealthy",
                              hint=f"jocker inspect --format '{{{{json .State.Health}}}}' {c.name}")
        if not rt:
            raise JockerError(f"container {c.name} is not running, so it cannot become healthy",
                              hint=f"start it first: jocker start {c.name}")
        if end is not None and time.monotonic() >= end:
            raise JockerError(f"container {c.name} was not healthy within {timeout:g}s")
        time.sleep(poll)


def rename(engine, c: Container, new: str) -> None:
    from ..names import check_object_name
    check_object_name(new)
    with engine.lock.held():
        containers = load_containers(engine.layout, engine.load_state().datasets)
        clash = next((o for o in containers.values() if o.name == new), None)
        if clash and clash.id != c.id:
            raise Conflict(f'Conflict. The container name "/{new}" is already in use by container '
                           f'"{clash.id}". You have to remove (or rename) that container to be able '
                           "to reuse that name.")
        engine.zfs.set_props(c.dataset, {"jocker:container.name": new})
        old, c.name = c.name, new
        events.container(engine, c, "rename", oldName="/" + old)
        me = containers.get(c.id)
        if me is not None:          # the members of its networks learn the new name
            me.name = new
            netops.refresh_members(engine, containers, set(me.spec.get("NetworkSettings", {}).get("Networks") or {}))


def record_user_stop(engine, c: Container) -> None:
    state = dict(c.state, UserStopped=True)
    engine.zfs.set_props(c.dataset, P.encode_json("container.state", state))


def reconcile_orphans(engine, containers: dict[str, Container]) -> list[str]:
    """Containers whose supervisor died without recording the end of the run
    (SIGKILL, power loss): make the world match what `ps` will say. Linux
    containers died with their supervisor; a FreeBSD jail survives it, so it is
    removed here. Records exit status 255 (unknown) and the time we noticed."""
    fixed = []
    for c in containers.values():
        if c.runtime or not c.state.get("StartedAt") or c.finished_cleanly:
            continue
        with engine.lock.held():
            try:
                if not still_lost(engine, c):
                    continue
            except NotFound:
                continue
            cleanup(engine, runtime_spec(engine, c))
            record_lost_end(engine, c)
        fixed.append(c.id)
    return fixed


def still_lost(engine, c: Container) -> bool:
    """c looked lost (started, no supervisor, no recorded end), but it was
    read in two steps (datasets, then supervisor.json), so a run that ended
    between them looks lost too: read its state again (under the lock, so it
    no longer changes) and say whether it still is. NotFound when c is gone."""
    c.state = P.decode_json(engine.zfs.get(c.dataset), "container.state", {}) or {}
    return c.supervisor_lost and not read_runtime(engine.layout, c.id)


def record_lost_end(engine, c: Container) -> None:
    """Write down the end of a run whose supervisor died (exit 255, noticed
    now) and report what that supervisor would have: die and what follows
    it, once (events readers otherwise see a start and never an end).
    Called under the engine lock, by the boot and by the next start."""
    from ..times import now_rfc3339
    code = c.exit_code
    c.state = dict(c.state, ExitCode=code, FinishedAt=now_rfc3339(), Error=c.error)
    engine.zfs.set_props(c.dataset, P.encode_json("container.state", c.state))
    _report_lost_end(engine, c, code)


def _report_lost_end(engine, c: Container, code: int) -> None:
    events.container(engine, c, "die", exitCode=code)
    events.emit_all(engine, events.stop_events(c))
